// The hot path: one N-API call per batch. Frames live in the pool's one
// ArrayBuffer; a batch gives absolute offsets (start) and lengths (len) into
// it, so the kernel reads into and writes from pool memory directly.
//
//   fdReadBatch / fdWriteBatch   read()/write() loops on a TAP queue
//   mmsgRecv / mmsgSend          recvmmsg()/sendmmsg() on UDP, AF_PACKET, raw IP
//
// Send policy (all four): EINTR is retried; EAGAIN and ENOBUFS stop the call
// (counted; the unsent entries stay with the caller); an error that belongs
// to one packet (EMSGSIZE, EINVAL, EHOSTUNREACH, ...) drops that packet
// (counted, errno kept) and goes on; anything else (EBADF, ENXIO, EBADFD,
// ENODEV, EIO, ENETDOWN, ...) stops the call and is reported in
// st[kStopErrno] for TypeScript to turn into an 'error' event (or, for EIO
// on a TAP write, a link that is down).
// Calls return the number of entries consumed (sent or dropped) or read.
//
// UDP GSO (mode flag kSendGso): a run of consecutive entries to the same
// destination, all of one length (the last may be shorter), goes as one
// message: an iovec over the slots plus a UDP_SEGMENT cmsg. The kernel
// builds the datagrams that per-packet sends would have built, at a fraction
// of the per-datagram cost. A GSO message the kernel refuses (other than
// EAGAIN/ENOBUFS) is resent one datagram at a time, so per-packet error
// semantics hold.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace vtep {
namespace {

constexpr unsigned kChunk = 256;  // messages per sendmmsg/recvmmsg (UIO_MAXIOV is 1024)
constexpr unsigned kMaxSegs = 64;  // datagrams per GSO message (UDP_MAX_SEGMENTS on older kernels)
constexpr unsigned kIovs = 1024;   // iovec entries per sendmmsg chunk
constexpr uint64_t kMaxGsoBytes = 65000;  // payload of one GSO message (below 64 KiB with headers)
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

// Address modes of mmsgSend/mmsgRecv; mirrors ADDR_MODE in src/io/native.ts.
constexpr int kModeNone = 0;    // bound or connected: no per-packet address (AF_PACKET)
constexpr int kModeUdp4 = 4;    // sockaddr_in from addr[4i] and port[i]
constexpr int kModeUdp6 = 6;    // sockaddr_in6 from addr[4i..4i+3] and port[i]
constexpr int kModeRaw4 = 40;   // IPv4 header included: send to its destination field
constexpr int kModeRaw6 = 60;   // IPv6 header included: send to its destination field
constexpr int kSendGso = 0x100; // flag on kModeUdp4/kModeUdp6: coalesce runs with UDP GSO

// fdReadBatch(fd, u8, start, len, n, cap, hdr, st) -> frames read into entries 0..count-1.
// Entry i receives at u8[start[i] - hdr]: the hdr bytes of a virtio-net
// header (IFF_VNET_HDR) land in the headroom, the frame at start[i].
napi_value FdReadBatch(napi_env env, napi_callback_info info) {
  Args a(env, info, 8);
  int fd = a.Int(0);
  size_t u8len, slen, llen, stlen;
  uint8_t* u8 = a.Bytes(1, &u8len);
  uint32_t* start = a.U32(2, &slen);
  uint32_t* len = a.U32(3, &llen);
  int32_t n = a.Int(4);
  int32_t cap = a.Int(5);
  int32_t hdr = a.Int(6);
  double* st = a.F64(7, &stlen);
  if (a.Failed()) return nullptr;
  if (stlen < stat::kCount || n < 0 || static_cast<size_t>(n) > slen || static_cast<size_t>(n) > llen || cap <= 0 ||
      hdr < 0) {
    return RangeError(env, "fdReadBatch: bad count, capacity or arrays");
  }
  st[stat::kStopErrno] = 0;
  st[stat::kRxCalls] += 1;
  uint32_t got = 0;
  double bytes = 0;
  // Oversized frames are read and dropped; bound the extra reads they cost.
  int32_t budget = 2 * n + 1;
  while (got < static_cast<uint32_t>(n) && budget-- > 0) {
    uint64_t s = start[got];
    if (s < static_cast<uint64_t>(hdr) || s + static_cast<uint64_t>(cap) > u8len) {
      st[stat::kStopErrno] = EFAULT;
      break;
    }
    // The tun driver truncates silently to the buffer, so a read that fills
    // the whole room may have lost bytes: it counts as truncated. A frame
    // must be shorter than the room (pool.dataRoom), which costs nothing; a
    // spill iovec to tell the two apart costs 10% of the read rate.
    ssize_t r = read(fd, u8 + s - hdr, static_cast<size_t>(cap) + hdr);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) st[stat::kStopErrno] = errno;
      break;
    }
    if (r < hdr || r - hdr >= cap) {
      st[stat::kRxTruncated] += 1;
      continue;
    }
    len[got] = static_cast<uint32_t>(r - hdr);
    bytes += static_cast<double>(r - hdr);
    got++;
  }
  st[stat::kRxPackets] += got;
  st[stat::kRxBytes] += bytes;
  if (got > 0) st[stat::kRxTime] = MonoMs();
  return Count(env, got);
}

// fdWriteBatch(fd, u8, start, len, from, to, hdr, st) -> entries consumed from `from`.
// With hdr > 0 a zeroed virtio-net header (no offload) goes before each frame.
napi_value FdWriteBatch(napi_env env, napi_callback_info info) {
  Args a(env, info, 8);
  int fd = a.Int(0);
  size_t u8len, slen, llen, stlen;
  uint8_t* u8 = a.Bytes(1, &u8len);
  uint32_t* start = a.U32(2, &slen);
  uint32_t* len = a.U32(3, &llen);
  int32_t from = a.Int(4);
  int32_t to = a.Int(5);
  int32_t hdr = a.Int(6);
  double* st = a.F64(7, &stlen);
  if (a.Failed()) return nullptr;
  if (stlen < stat::kCount || from < 0 || to < from || static_cast<size_t>(to) > slen ||
      static_cast<size_t>(to) > llen || hdr < 0 || hdr > 64) {
    return RangeError(env, "fdWriteBatch: bad range or arrays");
  }
  static const uint8_t kZeroHdr[64] = {0};
  st[stat::kStopErrno] = 0;
  st[stat::kTxCalls] += 1;
  uint32_t i = static_cast<uint32_t>(from);
  double sent = 0, bytes = 0;
  while (i < static_cast<uint32_t>(to)) {
    uint64_t s = start[i], l = len[i];
    if (s + l > u8len) {
      st[stat::kTxErrors] += 1;
      st[stat::kLastErrno] = EFAULT;
      i++;
      continue;
    }
    ssize_t r;
    if (hdr > 0) {
      struct iovec iov[2] = {{const_cast<uint8_t*>(kZeroHdr), static_cast<size_t>(hdr)}, {u8 + s, l}};
      r = writev(fd, iov, 2);
    } else {
      r = write(fd, u8 + s, l);
    }
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (SendFailed(e, st, &i)) break;
      continue;
    }
    sent += 1;
    bytes += static_cast<double>(l);
    i++;
  }
  st[stat::kTxPackets] += sent;
  st[stat::kTxBytes] += bytes;
  return Count(env, i - static_cast<uint32_t>(from));
}

union GsoCmsg {
  char buf[CMSG_SPACE(sizeof(uint16_t))];
  cmsghdr align;
};

struct MmsgScratch {
  mmsghdr msgs[kChunk];
  iovec iov[kIovs];
  Sockaddr names[kChunk];
  GsoCmsg ctl[kChunk];
  uint32_t count[kChunk];  // entries in message m
  double bytes[kChunk];    // payload bytes of message m
};

// Only the JavaScript thread calls in; one scratch area per thread.
MmsgScratch& Scratch() {
  static thread_local MmsgScratch scratch;
  return scratch;
}

bool SameDest(const uint32_t* addr, const uint16_t* port, uint32_t a, uint32_t b, bool v6) {
  if (port[a] != port[b] || addr[4 * a] != addr[4 * b]) return false;
  return !v6 || (addr[4 * a + 1] == addr[4 * b + 1] && addr[4 * a + 2] == addr[4 * b + 2] &&
                 addr[4 * a + 3] == addr[4 * b + 3]);
}

// mmsgSend(fd, mode, u8, start, len, addr, port, from, to, st) -> entries consumed from `from`.
// Sends entries [from, to) on fd (arguments checked by the caller); returns
// the entries consumed. Stops on EAGAIN/ENOBUFS or a fatal errno (in st).
uint32_t SendRange(int fd, int mode, bool gso, uint8_t* u8, size_t u8len, const uint32_t* start, const uint32_t* len,
                   const uint32_t* addr, const uint16_t* port, uint32_t from, uint32_t to, double* st) {
  const bool v6 = mode == kModeUdp6;
  MmsgScratch& sc = Scratch();
  uint32_t i = from;
  const uint32_t end = to;
  // Entries before this index go one by one: their GSO message was refused.
  uint32_t no_gso_before = 0;
  double sent = 0, bytes = 0, gso_sent = 0;
  while (i < end) {
    // Build a chunk of messages from i; stop before an entry that cannot be sent as is.
    unsigned k = 0, q = 0;
    uint32_t j = i;
    while (k < kChunk && j < end && q < kIovs) {
      uint64_t s = start[j], l = len[j];
      int bad = 0;
      if (s + l > u8len) bad = EFAULT;
      else if (mode == kModeRaw4 && l < 20) bad = EINVAL;
      else if (mode == kModeRaw6 && l < 40) bad = EINVAL;
      if (bad != 0) {
        if (k == 0) {
          st[stat::kTxErrors] += 1;
          st[stat::kLastErrno] = bad;
          i++;
          j = i;
          continue;
        }
        break;
      }
      // The run of this message: entries j .. j+c-1.
      unsigned c = 1;
      double mbytes = static_cast<double>(l);
      if (gso && j >= no_gso_before && l > 0) {
        uint64_t total = l;
        while (c < kMaxSegs && j + c < end && q + c < kIovs) {
          uint32_t x = j + c;
          uint64_t lx = len[x];
          if (lx == 0 || lx > l || len[x - 1] != l || start[x] + lx > u8len || total + lx > kMaxGsoBytes ||
              !SameDest(addr, port, j, x, v6)) {
            break;
          }
          total += lx;
          mbytes += static_cast<double>(lx);
          c++;
        }
      }
      mmsghdr& m = sc.msgs[k];
      std::memset(&m, 0, sizeof m);
      for (unsigned t = 0; t < c; t++) {
        sc.iov[q + t].iov_base = u8 + start[j + t];
        sc.iov[q + t].iov_len = len[j + t];
      }
      m.msg_hdr.msg_iov = &sc.iov[q];
      m.msg_hdr.msg_iovlen = c;
      sc.count[k] = c;
      sc.bytes[k] = mbytes;
      if (c > 1) {
        m.msg_hdr.msg_control = sc.ctl[k].buf;
        m.msg_hdr.msg_controllen = sizeof sc.ctl[k].buf;
        cmsghdr* cm = CMSG_FIRSTHDR(&m.msg_hdr);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = static_cast<uint16_t>(l);
        std::memcpy(CMSG_DATA(cm), &seg, sizeof seg);
      }
      Sockaddr& name = sc.names[k];
      switch (mode) {
        case kModeUdp4:
          std::memset(&name.in4, 0, sizeof name.in4);
          name.in4.sin_family = AF_INET;
          name.in4.sin_port = htons(port[j]);
          name.in4.sin_addr.s_addr = htonl(addr[4 * j]);
          m.msg_hdr.msg_name = &name;
          m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
          break;
        case kModeUdp6:
          std::memset(&name.in6, 0, sizeof name.in6);
          name.in6.sin6_family = AF_INET6;
          name.in6.sin6_port = htons(port[j]);
          WriteIn6(&addr[4 * j], &name.in6.sin6_addr);
          m.msg_hdr.msg_name = &name;
          m.msg_hdr.msg_namelen = sizeof(sockaddr_in6);
          break;
        case kModeRaw4:
          std::memset(&name.in4, 0, sizeof name.in4);
          name.in4.sin_family = AF_INET;
          std::memcpy(&name.in4.sin_addr, u8 + s + 16, 4);
          m.msg_hdr.msg_name = &name;
          m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
          break;
        case kModeRaw6:
          std::memset(&name.in6, 0, sizeof name.in6);
          name.in6.sin6_family = AF_INET6;
          std::memcpy(&name.in6.sin6_addr, u8 + s + 24, 16);
          m.msg_hdr.msg_name = &name;
          m.msg_hdr.msg_namelen = sizeof(sockaddr_in6);
          break;
        default:
          break;
      }
      q += c;
      j += c;
      k++;
    }
    if (k == 0) continue;
    int r = sendmmsg(fd, sc.msgs, k, 0);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (sc.count[0] > 1 && e != EAGAIN && e != EWOULDBLOCK && e != ENOBUFS) {
        // The kernel refused the GSO message (path MTU, no offload, ...): resend its entries singly.
        st[stat::kTxGsoFallback] += 1;
        no_gso_before = i + sc.count[0];
        continue;
      }
      if (SendFailed(e, st, &i)) break;
      continue;
    }
    for (int m = 0; m < r; m++) {
      uint32_t c = sc.count[m];
      sent += c;
      bytes += sc.bytes[m];
      if (c > 1) gso_sent += c;
      i += c;
    }
    // A short count means the next message failed: the next call reports why.
  }
  st[stat::kTxPackets] += sent;
  st[stat::kTxBytes] += bytes;
  st[stat::kTxGso] += gso_sent;
  return i - static_cast<uint32_t>(from);
}


napi_value MmsgSend(napi_env env, napi_callback_info info) {
  Args a(env, info, 10);
  int fd = a.Int(0);
  int mode_arg = a.Int(1);
  size_t u8len, slen, llen, alen, plen, stlen;
  uint8_t* u8 = a.Bytes(2, &u8len);
  uint32_t* start = a.U32(3, &slen);
  uint32_t* len = a.U32(4, &llen);
  uint32_t* addr = a.U32(5, &alen);
  uint16_t* port = a.U16(6, &plen);
  int32_t from = a.Int(7);
  int32_t to = a.Int(8);
  double* st = a.F64(9, &stlen);
  if (a.Failed()) return nullptr;
  if (stlen < stat::kCount || from < 0 || to < from || static_cast<size_t>(to) > slen ||
      static_cast<size_t>(to) > llen || static_cast<size_t>(to) * 4 > alen || static_cast<size_t>(to) > plen) {
    return RangeError(env, "mmsgSend: bad range or arrays");
  }
  const int mode = mode_arg & 0xff;
  if (mode != kModeNone && mode != kModeUdp4 && mode != kModeUdp6 && mode != kModeRaw4 && mode != kModeRaw6) {
    return RangeError(env, "mmsgSend: bad address mode");
  }
  const bool gso = (mode_arg & kSendGso) != 0 && (mode == kModeUdp4 || mode == kModeUdp6);
  st[stat::kStopErrno] = 0;
  st[stat::kTxCalls] += 1;
  return Count(env, SendRange(fd, mode, gso, u8, u8len, start, len, addr, port, static_cast<uint32_t>(from),
                              static_cast<uint32_t>(to), st));
}

// mmsgSendPorts(fds, map, srcPort, mode, u8, start, len, addr, port, from, to, st)
//   -> entries consumed from `from`.
// Per-packet UDP source ports: entry i goes out on fds[map[srcPort[i]]], a
// socket bound to that port (fds[0], the main socket, for srcPort 0). Runs of
// consecutive entries on one socket go as one SendRange (sendmmsg, with GSO
// for same-destination runs); the call stops where a run stops, so the
// consumed entries are still a prefix of the range.
napi_value MmsgSendPorts(napi_env env, napi_callback_info info) {
  Args a(env, info, 12);
  size_t flen, mlen, splen, u8len, slen, llen, alen, plen, stlen;
  int32_t* fds = a.I32(0, &flen);
  uint16_t* map = a.U16(1, &mlen);
  uint16_t* src = a.U16(2, &splen);
  int mode_arg = a.Int(3);
  uint8_t* u8 = a.Bytes(4, &u8len);
  uint32_t* start = a.U32(5, &slen);
  uint32_t* len = a.U32(6, &llen);
  uint32_t* addr = a.U32(7, &alen);
  uint16_t* port = a.U16(8, &plen);
  int32_t from = a.Int(9);
  int32_t to = a.Int(10);
  double* st = a.F64(11, &stlen);
  if (a.Failed()) return nullptr;
  const int mode = mode_arg & 0xff;
  if (stlen < stat::kCount || from < 0 || to < from || static_cast<size_t>(to) > slen ||
      static_cast<size_t>(to) > llen || static_cast<size_t>(to) * 4 > alen || static_cast<size_t>(to) > plen ||
      static_cast<size_t>(to) > splen || mlen != 65536 || flen == 0 || (mode != kModeUdp4 && mode != kModeUdp6)) {
    return RangeError(env, "mmsgSendPorts: bad range, arrays or mode");
  }
  const bool gso = (mode_arg & kSendGso) != 0;
  st[stat::kStopErrno] = 0;
  st[stat::kTxCalls] += 1;
  auto fd_of = [&](uint32_t i) -> int {
    uint16_t k = map[src[i]];
    return k < flen ? fds[k] : fds[0];
  };
  uint32_t i = static_cast<uint32_t>(from);
  const uint32_t end = static_cast<uint32_t>(to);
  while (i < end) {
    const int fd = fd_of(i);
    uint32_t j = i + 1;
    while (j < end && fd_of(j) == fd) j++;
    uint32_t done = SendRange(fd, mode, gso, u8, u8len, start, len, addr, port, i, j, st);
    i += done;
    if (i < j) break;  // stopped (EAGAIN, ENOBUFS, fatal): the rest stays with the caller
  }
  return Count(env, i - static_cast<uint32_t>(from));
}

// mmsgRecv(fd, mode, u8, slot, start, len, addr, port, n, cap, st) -> datagrams in entries 0..count-1.
// Oversized datagrams (MSG_TRUNC) are dropped and counted; their slots move
// behind the received ones so that entries 0..count-1 are all valid.
napi_value MmsgRecv(napi_env env, napi_callback_info info) {
  Args a(env, info, 11);
  int fd = a.Int(0);
  int mode = a.Int(1);
  size_t u8len, sllen, slen, llen, alen, plen, stlen;
  uint8_t* u8 = a.Bytes(2, &u8len);
  uint32_t* slot = a.U32(3, &sllen);
  uint32_t* start = a.U32(4, &slen);
  uint32_t* len = a.U32(5, &llen);
  uint32_t* addr = a.U32(6, &alen);
  uint16_t* port = a.U16(7, &plen);
  int32_t n = a.Int(8);
  int32_t cap = a.Int(9);
  double* st = a.F64(10, &stlen);
  if (a.Failed()) return nullptr;
  if (stlen < stat::kCount || n < 0 || cap <= 0 || static_cast<size_t>(n) > sllen || static_cast<size_t>(n) > slen ||
      static_cast<size_t>(n) > llen || static_cast<size_t>(n) * 4 > alen || static_cast<size_t>(n) > plen) {
    return RangeError(env, "mmsgRecv: bad count, capacity or arrays");
  }
  MmsgScratch& sc = Scratch();
  const bool named = mode != kModeNone;
  st[stat::kStopErrno] = 0;
  st[stat::kRxCalls] += 1;
  uint32_t got = 0;
  double bytes = 0;
  int32_t budget = 2 * n + 1;  // bounds the extra messages that truncation costs
  while (got < static_cast<uint32_t>(n) && budget > 0) {
    unsigned k = static_cast<unsigned>(n) - got;
    if (k > kChunk) k = kChunk;
    for (unsigned m = 0; m < k; m++) {
      uint64_t s = start[got + m];
      if (s + static_cast<uint64_t>(cap) > u8len) {
        k = m;
        break;
      }
      mmsghdr& h = sc.msgs[m];
      std::memset(&h, 0, sizeof h);
      sc.iov[m].iov_base = u8 + s;
      sc.iov[m].iov_len = static_cast<size_t>(cap);
      h.msg_hdr.msg_iov = &sc.iov[m];
      h.msg_hdr.msg_iovlen = 1;
      if (named) {
        h.msg_hdr.msg_name = &sc.names[m];
        h.msg_hdr.msg_namelen = sizeof(Sockaddr);
      }
    }
    if (k == 0) {
      st[stat::kStopErrno] = EFAULT;
      break;
    }
    int r = recvmmsg(fd, sc.msgs, k, MSG_DONTWAIT, nullptr);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) st[stat::kStopErrno] = errno;
      break;
    }
    budget -= r;
    const uint32_t base = got;
    for (int m = 0; m < r; m++) {
      const mmsghdr& h = sc.msgs[m];
      if ((h.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
        st[stat::kRxTruncated] += 1;
        continue;
      }
      KeepAt(slot, start, got, base + static_cast<uint32_t>(m));
      len[got] = h.msg_len;
      bytes += h.msg_len;
      if (named) ReadName(sc.names[m], &addr[4 * got], &port[got], mode == kModeUdp4 || mode == kModeUdp6);
      got++;
    }
    if (static_cast<unsigned>(r) < k) break;  // the queue is empty
  }
  st[stat::kRxPackets] += got;
  st[stat::kRxBytes] += bytes;
  if (got > 0) st[stat::kRxTime] = MonoMs();
  return Count(env, got);
}

}  // namespace

void InitBatchIo(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "fdReadBatch", FdReadBatch);
  Export(env, exports, "fdWriteBatch", FdWriteBatch);
  Export(env, exports, "mmsgSend", MmsgSend);
  Export(env, exports, "mmsgSendPorts", MmsgSendPorts);
  Export(env, exports, "mmsgRecv", MmsgRecv);
}

}  // namespace vtep
