#!/usr/bin/env bash
# Builds the addon with AddressSanitizer (and UBSan) into build/asan/ and runs
# the native I/O tests (dist/test/io) and the dataplane namespace tests
# (dist/test/e2e) against it, with the ASan runtime preloaded into node. Not
# part of `npm test` (a few minutes); run it by hand or in a nightly job:
#   scripts/asan.sh [uvu path pattern, default the io and e2e tests]
#
# The sanitized addon is loaded through VTEP_ADDON (src/io/native.ts). Leak
# detection is off: node itself does not free everything at exit, and
# LeakSanitizer cannot be told to report only the addon's allocations; the fd
# and poll-handle lifecycle tests cover what the addon holds.
set -euo pipefail
cd "$(dirname "$0")/.."

pattern="${1:-(io|e2e)/.*\\.test\\.js$}"
out=build/asan
mkdir -p "$out"

node_inc=""
for d in "$(dirname "$(dirname "$(command -v node)")")/include/node" \
         "${HOME}/.cache/node-gyp/$(node -p 'process.versions.node')/include/node" \
         "$(npm config get nodedir 2>/dev/null)/include/node"; do
  if [ -f "$d/node_api.h" ]; then node_inc="$d"; break; fi
done
if [ -z "$node_inc" ]; then
  echo "asan: node headers (node_api.h) not found; run npm install first" >&2
  exit 1
fi
napi_inc=$(node -p "require('node-addon-api').include_dir")
asan_rt=$(g++ -print-file-name=libasan.so)
if [ ! -e "$asan_rt" ]; then
  echo "asan: libasan.so not found (apt-get install libasan8 or the gcc that matches g++)" >&2
  exit 1
fi

start=$(date +%s)
echo "asan: building $out/vtep.node"
g++ -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -fPIC -shared -Wall -Wextra \
  -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -I"$node_inc" -I"$napi_inc" native/*.cc -o "$out/vtep.node"

echo "asan: compiling TypeScript"
npx tsc -p .

echo "asan: running dist/test '$pattern' with $asan_rt"
# halt_on_error: the first report fails the run; exitcode 86 tells it apart from a test failure.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
set +e
# Only this node gets the runtime and the sanitized addon: the tests' children
# (ip, tshark, and `vtep run`, a node that would load the addon without the
# runtime) must not. So the preload loads the addon first (the module cache
# keeps it for the tests), then takes both variables out of the environment.
preload="data:text/javascript,const m = await import('file://$PWD/dist/src/io/native.js'); m.native(); delete process.env.LD_PRELOAD; delete process.env.VTEP_ADDON;"
VTEP_ADDON="$out/vtep.node" LD_PRELOAD="$asan_rt" \
  node --import "$preload" node_modules/uvu/bin.js dist/test "$pattern"
rc=$?
set -e
echo "asan: done in $(( $(date +%s) - start )) s, exit $rc"
exit $rc
