// Shared pieces of the vtep addon: argument access for the hot batch calls
// (plain N-API, no allocation), errors carrying errno, the per-port counter
// layout, and the scoped network-namespace switch.
#pragma once

#include <napi.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace vtep {

// Per-port counters: a Float64Array owned by the TypeScript port and passed to
// every batch call, which adds to it. Mirrors STAT in src/io/native.ts.
namespace stat {
constexpr int kRxPackets = 0;
constexpr int kRxBytes = 1;
constexpr int kTxPackets = 2;
constexpr int kTxBytes = 3;
constexpr int kRxTruncated = 4;   // frames longer than the slot: dropped
constexpr int kTxEagain = 5;      // send calls stopped by EAGAIN (socket full)
constexpr int kTxEnobufs = 6;     // send calls stopped by ENOBUFS (queue full)
constexpr int kTxErrors = 7;      // packets dropped by a per-packet send error
constexpr int kLastErrno = 8;     // errno of the last per-packet drop
constexpr int kStopErrno = 9;     // errno that ended the last call, 0 when none
constexpr int kRxCalls = 10;      // batch receive calls
constexpr int kTxCalls = 11;      // batch send calls
constexpr int kTxGso = 12;        // datagrams sent inside UDP GSO messages
constexpr int kTxGsoFallback = 13;  // GSO messages refused and resent one by one
constexpr int kRxLarge = 14;      // frames received into a large slot (TAP offloads, UDP GRO)
constexpr int kRxGro = 15;        // coalesced UDP GRO buffers received
constexpr int kRxTime = 16;       // MonoMs() when the last receive call returned packets
constexpr int kCount = 17;
}  // namespace stat

// Views of the typed arrays of one hot call. Failing conversions set `bad`
// and the call throws a TypeError once: TypeScript validated already, so this
// only guards against misuse of the raw surface.
class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t expected);
  int32_t Int(size_t i);
  uint8_t* Bytes(size_t i, size_t* len);
  uint32_t* U32(size_t i, size_t* len);
  uint16_t* U16(size_t i, size_t* len);
  int32_t* I32(size_t i, size_t* len);
  double* F64(size_t i, size_t* len);
  // Throws a TypeError when a conversion failed; returns true if it did.
  bool Failed();

 private:
  void* Typed(size_t i, napi_typedarray_type type, size_t* len);
  napi_env env_;
  napi_value argv_[24];
  size_t argc_ = 24;
  bool bad_ = false;
  size_t bad_index_ = 0;
};

// Option readers for the setup calls (plain objects built by TypeScript):
// a boolean reads as 1/0, a missing or non-number key as `fallback`.
int IntOpt(const Napi::Object& o, const char* key, int fallback);
std::string StrOpt(const Napi::Object& o, const char* key);

// errno as its symbolic name ("ENXIO"); "E<number>" when glibc has none.
std::string ErrnoName(int err);

// A JavaScript Error with `errno` (number), `code` (errno name) and `syscall`.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall);

// Closes fd without losing errno, retrying nothing (close must not be retried on Linux).
void CloseKeepErrno(int fd);

// Moves the calling thread into a network namespace for its lifetime and
// back on destruction, on every path. A namespace is a path
// (/var/run/netns/NAME, /proc/PID/ns/net) or an open namespace fd.
class NetnsScope {
 public:
  // Empty path: stays where it is.
  explicit NetnsScope(const std::string& path);
  // fd >= 0: enters that namespace (the fd is not closed here).
  explicit NetnsScope(int ns_fd);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

  // 0 when the switch worked (or none was asked for), else the errno.
  int error() const { return err_; }
  const char* failed_call() const { return what_; }

 private:
  void Enter(int target);
  int self_ = -1;
  int err_ = 0;
  const char* what_ = "";
};

// A socket address of either family.
union Sockaddr {
  sockaddr sa;
  sockaddr_in in4;
  sockaddr_in6 in6;
};

// IPv6 address <-> four host-order words (batch.addr).
inline void WriteIn6(const uint32_t* w, in6_addr* a) {
  for (int k = 0; k < 4; k++) {
    uint32_t be = htonl(w[k]);
    std::memcpy(&a->s6_addr[4 * k], &be, 4);
  }
}

inline void ReadIn6(const in6_addr* a, uint32_t* w) {
  for (int k = 0; k < 4; k++) {
    uint32_t be;
    std::memcpy(&be, &a->s6_addr[4 * k], 4);
    w[k] = ntohl(be);
  }
}

// Hot-path helpers shared by the batch calls (batch_io.cc, offload_io.cc).

// recvmmsg filled entry j while entries before it were truncated (skipped):
// the good one moves down to `got` and the skipped slot goes behind it, so
// that the first `got` entries of the batch are the datagrams kept.
inline void KeepAt(uint32_t* slot, uint32_t* start, uint32_t got, uint32_t j) {
  if (j == got) return;
  uint32_t ts = slot[got], tst = start[got];
  slot[got] = slot[j];
  start[got] = start[j];
  slot[j] = ts;
  start[j] = tst;
}

// A received datagram's source: four host-order address words and the port
// (`with_port` false: raw IP, no port).
inline void ReadName(const Sockaddr& name, uint32_t* w, uint16_t* port, bool with_port) {
  if (name.sa.sa_family == AF_INET6) {
    ReadIn6(&name.in6.sin6_addr, w);
    *port = with_port ? ntohs(name.in6.sin6_port) : 0;
  } else {
    w[0] = ntohl(name.in4.sin_addr.s_addr);
    w[1] = w[2] = w[3] = 0;
    *port = with_port ? ntohs(name.in4.sin_port) : 0;
  }
}

// True for errnos that belong to one packet (EMSGSIZE, EINVAL, EHOSTUNREACH, ...).
bool PerPacketError(int e);
// Records a send stop (EAGAIN, ENOBUFS, fatal) and returns true when the loop
// must end; for a per-packet error it counts the drop, advances *i and returns false.
bool SendFailed(int e, double* st, uint32_t* i);
napi_value Count(napi_env env, int64_t n);
// The monotonic clock in milliseconds (uv_hrtime): monoClock's, and st[kRxTime]'s.
double MonoMs();
napi_value RangeError(napi_env env, const char* msg);
void Export(napi_env env, napi_value exports, const char* name, napi_callback cb);

void InitTap(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitBatchIo(Napi::Env env, Napi::Object exports);
void InitPoller(Napi::Env env, Napi::Object exports);
void InitOffloadIo(Napi::Env env, Napi::Object exports);

}  // namespace vtep
