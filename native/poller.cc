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
// Linger: a wake-up costs an event-loop iteration, and every iteration costs
// Node an allocation (an empty object in its check phase, 56 bytes: a
// scavenge every few seconds at 8,000 wake-ups a second) and the loop's
// phases a footprint in the caches. So after its callback, a poller waits on
// libuv's own epoll set for up to lingerMs and runs the callbacks of the
// pollers whose fds become ready there, directly. It returns to libuv as soon
// as libuv has anything of its own to do: a foreign fd ready (a socket, the
// async wake-up of threads and platform tasks, a signal), a timer due, a
// handle started, stopped or closing, a pending callback, setImmediate work
// (uv_backend_timeout is 0 for all but the fds and the timers). Reading
// libuv's epoll set leaves it as it was: libuv registers every fd
// level-triggered, so what we do not drain it sees again. Once per loop
// iteration (a prepare handle counts them): the events libuv still holds from
// its own epoll_wait are dispatched by libuv as usual after we return.
//
// monoClock(cell): the monotonic clock in milliseconds, written into a
// Float64Array: cell[0] = uv_hrtime() / 1e6 - cell[1]. The dataplane reads it
// once per batch; performance.now() and Date.now() return a heap number at
// every call (16 bytes of garbage a batch), a typed array store does not.
#include <sys/epoll.h>
#include <uv.h>

#include <unordered_map>
#include <unordered_set>

#include "common.h"

namespace vtep {
namespace {

class Poller;

// Linger counters (pollStats' layout, mirrored by LOOP_STAT in src/io/native.ts).
namespace lstat {
constexpr int kLingers = 0;       // lingers entered
constexpr int kCallbacks = 1;     // callbacks run from a linger (a wake-up without a loop iteration)
constexpr int kExitLoop = 2;      // lingers ended because libuv had work (pending, timer due, handles)
constexpr int kExitForeign = 3;   // ended by an fd that is not a started poller's, or an error/hang-up
constexpr int kExitTime = 4;      // ended by lingerMs
constexpr int kIterations = 5;    // event-loop iterations (read from the prepare handle's count)
constexpr int kCount = 6;
}  // namespace lstat

// Pollers alive in one env, closed by the env's cleanup hook.
struct PollerRegistry {
  std::unordered_set<Poller*> live;
  // Started pollers by fd: who gets an event read during a linger.
  std::unordered_map<int, Poller*> started;
  uv_loop_t* loop = nullptr;
  uv_prepare_t* prepare = nullptr;  // on the heap: freed by its close callback
  uint64_t iteration = 0;
  uint64_t lingeredIn = UINT64_MAX;
  bool lingering = false;
  int lingerMs = 100;  // 0: off
  double stats[lstat::kCount] = {};
};

void Linger(PollerRegistry* reg);

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
    SetStopped();
  }

  // The registry is going away with the env: forget it.
  void Detach() { registry_ = nullptr; }

  // Runs the callback for readiness `mask` (from a linger: the same as from libuv).
  void Dispatch(int status, int mask) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      cb_.MakeCallback(Value(), {Napi::Number::New(env, status), Napi::Number::New(env, mask)}, *ctx_);
    } catch (const Napi::Error& e) {
      // A throwing JavaScript callback: report it like any event-loop callback
      // ('uncaughtException'), never unwind through libuv.
      napi_fatal_exception(env, e.Value());
    }
    // The callback may have closed or restarted us.
    if (!started_) Hold(false);
  }

  // What a linger may deliver: an fd event of this started poller, as uv_poll's mask (0: not ours to run).
  int Accepts(uint32_t ev) const {
    if (!started_ || (ev & (EPOLLERR | EPOLLHUP)) != 0) return 0;
    return ((ev & EPOLLIN) != 0 && (events_ & UV_READABLE) != 0 ? 1 : 0) |
           ((ev & EPOLLOUT) != 0 && (events_ & UV_WRITABLE) != 0 ? 2 : 0);
  }

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
    // The same mask again: nothing to do (uv_poll_start would re-register the fd with epoll).
    if (started_ && events == events_) return env.Undefined();
    int r = uv_poll_start(handle_, events, OnPoll);
    if (r != 0) throw ErrnoError(env, -r, "uv_poll_start");
    started_ = true;
    events_ = events;
    if (registry_ != nullptr) registry_->started[fd_] = this;
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
    SetStopped();
    Hold(false);
  }

  // No longer started: out of the linger's table.
  void SetStopped() {
    started_ = false;
    events_ = 0;
    if (registry_ != nullptr) {
      auto it = registry_->started.find(fd_);
      if (it != registry_->started.end() && it->second == this) registry_->started.erase(it);
    }
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
    // On error libuv has stopped the handle already.
    if (status < 0) self->SetStopped();
    int mask = ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0);
    PollerRegistry* reg = self->registry_;
    // The callback may close us; the registry (the env's) outlives it, so the linger takes that.
    self->Dispatch(status, mask);
    if (reg != nullptr && status >= 0) Linger(reg);
  }

  int fd_ = -1;
  uv_poll_t* handle_ = nullptr;
  bool started_ = false;
  int events_ = 0;  // UV_READABLE | UV_WRITABLE while started
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
  reg->started.clear();
  if (reg->prepare != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(reg->prepare), [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
    reg->prepare = nullptr;
  }
}

// See "Linger" at the top.
void Linger(PollerRegistry* reg) {
  if (reg->lingerMs <= 0 || reg->lingering || reg->lingeredIn == reg->iteration || reg->loop == nullptr) return;
  reg->lingering = true;
  reg->lingeredIn = reg->iteration;
  reg->stats[lstat::kLingers]++;
  uv_loop_t* loop = reg->loop;
  const int epfd = uv_backend_fd(loop);
  const uint64_t deadline = uv_hrtime() + static_cast<uint64_t>(reg->lingerMs) * 1000000u;
  epoll_event evs[64];
  for (;;) {
    uv_update_time(loop);
    int t = uv_backend_timeout(loop);
    if (t == 0) {
      reg->stats[lstat::kExitLoop]++;
      break;
    }
    const uint64_t now = uv_hrtime();
    if (now >= deadline || reg->lingerMs <= 0) {
      reg->stats[lstat::kExitTime]++;
      break;
    }
    const int left = static_cast<int>((deadline - now + 999999u) / 1000000u);
    if (t < 0 || t > left) t = left;
    const int n = epoll_wait(epfd, evs, 64, t);
    if (n < 0) {
      // EINTR: a signal, which libuv's own handler has queued for the loop.
      reg->stats[lstat::kExitForeign]++;
      break;
    }
    bool foreign = false;
    for (int i = 0; i < n; i++) {
      const int fd = evs[i].data.fd;
      if (fd == -1) continue;  // invalidated by libuv
      auto it = reg->started.find(fd);
      const int mask = it == reg->started.end() ? 0 : it->second->Accepts(evs[i].events);
      if (mask == 0) {
        foreign = true;  // libuv's to handle; ours that are ready still run first
        continue;
      }
      reg->stats[lstat::kCallbacks]++;
      it->second->Dispatch(0, mask);
    }
    if (foreign) {
      reg->stats[lstat::kExitForeign]++;
      break;
    }
  }
  reg->lingering = false;
}

// The env's registry (InitPoller), or null.
PollerRegistry* RegistryOf(napi_env env) {
  PollerRegistry* reg = nullptr;
  napi_get_instance_data(env, reinterpret_cast<void**>(&reg));
  return reg;
}

// setPollLinger(ms): how long a poller may wait on the loop's fds after its callback; 0 turns lingering off.
napi_value SetPollLinger(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  const int ms = a.Int(0);
  if (a.Failed()) return nullptr;
  PollerRegistry* reg = RegistryOf(env);
  if (reg != nullptr) reg->lingerMs = ms < 0 ? 0 : ms;
  return nullptr;
}

// pollStats(f64): the linger counters (lstat) copied into a Float64Array of at least kCount.
napi_value PollStats(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  size_t n = 0;
  double* out = a.F64(0, &n);
  if (a.Failed()) return nullptr;
  if (n < static_cast<size_t>(lstat::kCount)) return RangeError(env, "pollStats: a Float64Array of 6");
  PollerRegistry* reg = RegistryOf(env);
  if (reg == nullptr) return nullptr;
  for (int k = 0; k < lstat::kCount; k++) out[k] = reg->stats[k];
  out[lstat::kIterations] = static_cast<double>(reg->iteration);  // the prepare handle's count
  return nullptr;
}

napi_value MonoClock(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  size_t n = 0;
  double* cell = a.F64(0, &n);
  if (a.Failed()) return nullptr;
  if (n < 2) return RangeError(env, "monoClock: a Float64Array of 2");
  cell[0] = MonoMs() - cell[1];
  return nullptr;
}

}  // namespace

void InitPoller(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "monoClock", MonoClock);
  auto* reg = new PollerRegistry();
  if (napi_get_uv_event_loop(env, &reg->loop) == napi_ok && reg->loop != nullptr) {
    // Counts loop iterations (a linger runs once per iteration); unreferenced: it keeps no loop alive.
    reg->prepare = new uv_prepare_t;
    uv_prepare_init(reg->loop, reg->prepare);
    reg->prepare->data = reg;
    uv_prepare_start(reg->prepare, [](uv_prepare_t* h) { static_cast<PollerRegistry*>(h->data)->iteration++; });
    uv_unref(reinterpret_cast<uv_handle_t*>(reg->prepare));
  }
  env.SetInstanceData<PollerRegistry>(reg);
  Export(env, exports, "setPollLinger", SetPollLinger);
  Export(env, exports, "pollStats", PollStats);
  napi_add_env_cleanup_hook(env, CloseAll, reg);
  exports.Set("Poller", Poller::Define(env));
}

}  // namespace vtep
