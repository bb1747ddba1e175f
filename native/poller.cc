// Readiness of a non-blocking fd through libuv's uv_poll: the JavaScript
// callback runs once per wake-up with (status, events); it then drains the fd
// with batch calls. One Poller per fd (epoll allows one registration).
//
// Teardown: the uv_poll_t lives on the heap apart from the wrapper and is
// freed in its close callback, so neither a garbage-collected wrapper nor a
// close() from inside the callback leaves libuv holding freed memory. While
// started, the wrapper holds a strong reference to itself (it must outlive the
// handle's callbacks). An env cleanup hook closes whatever is still open.
// libuv stops the handle itself on POLLERR and reports UV_EBADF: status < 0.
//
// monoClock(cell): the monotonic clock in milliseconds, written into a
// Float64Array: cell[0] = uv_hrtime() / 1e6 - cell[1]. The dataplane reads it
// once per batch; performance.now() and Date.now() return a heap number at
// every call (16 bytes of garbage a batch), a typed array store does not.
#include <uv.h>

#include <unordered_set>

#include "common.h"

namespace vtep {
namespace {

class Poller;

// Pollers alive in one env, closed by the env's cleanup hook.
struct PollerRegistry {
  std::unordered_set<Poller*> live;
};

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod<&Poller::Start>("start"), InstanceMethod<&Poller::Stop>("stop"),
                        InstanceMethod<&Poller::Close>("close")});
  }

  // new Poller(fd, callback(status, events))
  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "Poller(fd, callback)");
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    cb_ = Napi::Persistent(info[1].As<Napi::Function>());
    ctx_ = std::make_unique<Napi::AsyncContext>(env, "vtep:poll");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      throw Napi::Error::New(env, "Poller: no event loop");
    }
    handle_ = new uv_poll_t;
    int r = uv_poll_init(loop, handle_, fd_);
    if (r != 0) {
      delete handle_;
      handle_ = nullptr;
      throw ErrnoError(env, -r, "uv_poll_init");
    }
    handle_->data = this;
    registry_ = env.GetInstanceData<PollerRegistry>();
    if (registry_ != nullptr) registry_->live.insert(this);
  }

  ~Poller() override {
    CloseHandle();
    if (registry_ != nullptr) registry_->live.erase(this);
  }

  // Closes the uv handle (idempotent); memory goes back in the close callback.
  void CloseHandle() {
    if (handle_ == nullptr) return;
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
    started_ = false;
  }

  // The registry is going away with the env: forget it.
  void Detach() { registry_ = nullptr; }

 private:
  // start(events): 1 readable, 2 writable, 3 both. Replaces the previous mask.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (handle_ == nullptr) throw Napi::Error::New(env, "Poller: closed");
    int mask = info[0].As<Napi::Number>().Int32Value();
    int events = ((mask & 1) ? UV_READABLE : 0) | ((mask & 2) ? UV_WRITABLE : 0);
    if (events == 0) {
      StopHandle();
      return env.Undefined();
    }
    int r = uv_poll_start(handle_, events, OnPoll);
    if (r != 0) throw ErrnoError(env, -r, "uv_poll_start");
    started_ = true;
    Hold(true);
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopHandle();
    return info.Env().Undefined();
  }

  // close(): stops and releases the handle; call before closing the fd.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseHandle();
    Hold(false);
    return info.Env().Undefined();
  }

  void StopHandle() {
    if (handle_ != nullptr && started_) uv_poll_stop(handle_);
    started_ = false;
    Hold(false);
  }

  void Hold(bool on) {
    if (on && !held_) {
      Ref();
      held_ = true;
    } else if (!on && held_) {
      held_ = false;
      Unref();
    }
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<Poller*>(h->data);
    if (self == nullptr) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // On error libuv has stopped the handle already.
    if (status < 0) self->started_ = false;
    int mask = ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0);
    try {
      self->cb_.MakeCallback(self->Value(), {Napi::Number::New(env, status), Napi::Number::New(env, mask)},
                             *self->ctx_);
    } catch (const Napi::Error& e) {
      // A throwing JavaScript callback: report it like any event-loop callback
      // ('uncaughtException'), never unwind through libuv.
      napi_fatal_exception(env, e.Value());
    }
    // The callback may have closed or restarted us.
    if (!self->started_) self->Hold(false);
  }

  int fd_ = -1;
  uv_poll_t* handle_ = nullptr;
  bool started_ = false;
  bool held_ = false;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> ctx_;
  PollerRegistry* registry_ = nullptr;
};

void CloseAll(void* arg) {
  auto* reg = static_cast<PollerRegistry*>(arg);
  for (Poller* p : reg->live) {
    p->CloseHandle();
    p->Detach();
  }
  reg->live.clear();
}

napi_value MonoClock(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  size_t n = 0;
  double* cell = a.F64(0, &n);
  if (a.Failed()) return nullptr;
  if (n < 2) return RangeError(env, "monoClock: a Float64Array of 2");
  cell[0] = static_cast<double>(uv_hrtime()) / 1e6 - cell[1];
  return nullptr;
}

}  // namespace

void InitPoller(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "monoClock", MonoClock);
  auto* reg = new PollerRegistry();
  env.SetInstanceData<PollerRegistry>(reg);
  napi_add_env_cleanup_hook(env, CloseAll, reg);
  exports.Set("Poller", Poller::Define(env));
}

}  // namespace vtep
