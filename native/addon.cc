// vtep native addon: only what JavaScript cannot do well (TAP ioctls, batched
// socket I/O, readiness). One call per batch, never per packet.
#include <napi.h>

namespace {

Napi::Value AbiVersion(const Napi::CallbackInfo& info) {
  // Bumped whenever the native surface declared in src/io/native.ts changes.
  return Napi::Number::New(info.Env(), 1);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Function::New(env, AbiVersion, "abiVersion"));
  return exports;
}

}  // namespace

NODE_API_MODULE(vtep, Init)
