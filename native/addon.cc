// vtep native addon: only what JavaScript cannot do well (TAP ioctls, batched
// socket I/O, readiness). One call per batch, never per packet. The surface is
// declared once in src/io/native.ts; the files here are split by concern:
//   tap.cc       TAP open and ioctls        socket.cc    UDP, AF_PACKET, raw IP setup
//   batch_io.cc  the batch read/write calls  poller.cc    uv_poll readiness
//   offload_io.cc  TAP batches with virtio-net headers, UDP GRO receive
//   common.cc    argument views, errno errors, the network-namespace scope
#include <napi.h>

#include "common.h"

namespace {

// Bumped whenever the native surface declared in src/io/native.ts changes.
constexpr int kAbiVersion = 6;

Napi::Value AbiVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kAbiVersion);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Function::New(env, AbiVersion, "abiVersion"));
  vtep::InitTap(env, exports);
  vtep::InitSocket(env, exports);
  vtep::InitBatchIo(env, exports);
  vtep::InitPoller(env, exports);
  vtep::InitOffloadIo(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vtep, Init)
