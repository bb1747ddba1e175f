// Argument views, errno errors and the network-namespace scope.
#include "common.h"

#include <fcntl.h>
#include <uv.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vtep {

Args::Args(napi_env env, napi_callback_info info, size_t expected) : env_(env) {
  if (napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr) != napi_ok || argc_ < expected) {
    bad_ = true;
    bad_index_ = argc_;
  }
}

int32_t Args::Int(size_t i) {
  int32_t v = 0;
  if (bad_) return 0;
  if (napi_get_value_int32(env_, argv_[i], &v) != napi_ok) {
    bad_ = true;
    bad_index_ = i;
  }
  return v;
}

void* Args::Typed(size_t i, napi_typedarray_type type, size_t* len) {
  *len = 0;
  if (bad_) return nullptr;
  napi_typedarray_type t;
  size_t length = 0;
  void* data = nullptr;
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env_, argv_[i], &t, &length, &data, &ab, &offset) != napi_ok || t != type) {
    bad_ = true;
    bad_index_ = i;
    return nullptr;
  }
  *len = length;
  // A detached buffer has no data; report it as empty so every bound check fails.
  if (data == nullptr) *len = 0;
  return data;
}

uint8_t* Args::Bytes(size_t i, size_t* len) {
  return static_cast<uint8_t*>(Typed(i, napi_uint8_array, len));
}
uint32_t* Args::U32(size_t i, size_t* len) {
  return static_cast<uint32_t*>(Typed(i, napi_uint32_array, len));
}
uint16_t* Args::U16(size_t i, size_t* len) {
  return static_cast<uint16_t*>(Typed(i, napi_uint16_array, len));
}
int32_t* Args::I32(size_t i, size_t* len) {
  return static_cast<int32_t*>(Typed(i, napi_int32_array, len));
}
double* Args::F64(size_t i, size_t* len) {
  return static_cast<double*>(Typed(i, napi_float64_array, len));
}

bool Args::Failed() {
  if (!bad_) return false;
  char msg[96];
  std::snprintf(msg, sizeof msg, "vtep native: argument %zu has the wrong type", bad_index_);
  napi_throw_type_error(env_, "ERR_INVALID_ARG_TYPE", msg);
  return true;
}

int IntOpt(const Napi::Object& o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) return fallback;
  return v.As<Napi::Number>().Int32Value();
}

std::string StrOpt(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
}

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#endif
  return "E" + std::to_string(err);
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall) {
  Napi::Error e = Napi::Error::New(env, syscall + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void CloseKeepErrno(int fd) {
  if (fd < 0) return;
  int saved = errno;
  close(fd);
  errno = saved;
}

NetnsScope::NetnsScope(const std::string& path) {
  if (path.empty()) return;
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    err_ = errno;
    what_ = "open(netns)";
    return;
  }
  Enter(target);
  CloseKeepErrno(target);
}

NetnsScope::NetnsScope(int ns_fd) {
  if (ns_fd >= 0) Enter(ns_fd);
}

void NetnsScope::Enter(int target) {
  self_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self_ < 0) {
    err_ = errno;
    what_ = "open(/proc/thread-self/ns/net)";
    return;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    err_ = errno;
    what_ = "setns";
    CloseKeepErrno(self_);
    self_ = -1;
  }
}

NetnsScope::~NetnsScope() {
  if (self_ < 0) return;
  if (setns(self_, CLONE_NEWNET) != 0) {
    // The thread would keep running JavaScript in a foreign namespace, where
    // every later socket would land: stopping is the only safe answer.
    std::fprintf(stderr, "vtep: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
  close(self_);
}

// Errors that belong to one packet: drop it, go on with the next.
bool PerPacketError(int e) {
  switch (e) {
    case EMSGSIZE:
    case EINVAL:
    case EPERM:
    case EACCES:
    case EFAULT:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ECONNREFUSED:
    case EDESTADDRREQ:
    case EAFNOSUPPORT:
    case EADDRNOTAVAIL:
      return true;
    default:
      return false;
  }
}

napi_value Count(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

napi_value RangeError(napi_env env, const char* msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return nullptr;
}

// Records a send stop and returns true when the loop must end.
bool SendFailed(int e, double* st, uint32_t* i) {
  if (e == EAGAIN || e == EWOULDBLOCK) {
    st[stat::kTxEagain] += 1;
    st[stat::kStopErrno] = e;
    return true;
  }
  if (e == ENOBUFS) {
    st[stat::kTxEnobufs] += 1;
    st[stat::kStopErrno] = e;
    return true;
  }
  if (PerPacketError(e)) {
    st[stat::kTxErrors] += 1;
    st[stat::kLastErrno] = e;
    (*i)++;
    return false;
  }
  st[stat::kStopErrno] = e;
  return true;
}

void Export(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

double MonoMs() { return static_cast<double>(uv_hrtime()) / 1e6; }

}  // namespace vtep
