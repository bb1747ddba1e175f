// Socket setup: UDP (IPv4/IPv6), AF_PACKET bound to an interface, and raw IP
// sockets for one protocol (47 for GRE). Every socket is non-blocking and
// close-on-exec, and is created in the namespace the caller names: a socket
// belongs to the namespace it was created in, for its whole life.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace vtep {
namespace {

// Builds a sockaddr from { family, addr: Uint32Array(4) words, port }.
socklen_t ReadSockaddr(const Napi::Object& o, int family, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  uint32_t words[4] = {0, 0, 0, 0};
  Napi::Value a = o.Get("addr");
  if (a.IsTypedArray()) {
    Napi::Uint32Array w = a.As<Napi::Uint32Array>();
    for (size_t i = 0; i < 4 && i < w.ElementLength(); i++) words[i] = w[i];
  }
  uint16_t port = static_cast<uint16_t>(IntOpt(o, "port", 0));
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(words[0]);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  for (int i = 0; i < 4; i++) {
    uint32_t be = htonl(words[i]);
    std::memcpy(&sin6->sin6_addr.s6_addr[4 * i], &be, 4);
  }
  return sizeof(sockaddr_in6);
}

// SO_*BUFFORCE lifts the sysctl cap when we have CAP_NET_ADMIN; else the plain option.
int SetBuf(int fd, int force_opt, int opt, int size) {
  if (size <= 0) return 0;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof size) == 0) return 0;
  if (setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size) == 0) return 0;
  return errno;
}

// Runs `body` (which returns an errno and names the failing call) with a
// socket fd in the namespace named by opts.netns; closes the fd on failure.
template <typename Body>
int InNetns(Napi::Env env, const Napi::Object& o, int* fd_out, const char** failed, Body body) {
  std::string netns = StrOpt(o, "netns");
  NetnsScope scope(netns);
  if (scope.error() != 0) {
    *failed = scope.failed_call();
    return scope.error();
  }
  int err = body(fd_out, failed);
  if (err != 0 && *fd_out >= 0) {
    CloseKeepErrno(*fd_out);
    *fd_out = -1;
  }
  (void)env;
  return err;
}

int CommonSockopts(int fd, const Napi::Object& o, const char** failed) {
  int err = SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, IntOpt(o, "sndbuf", 0));
  if (err != 0) {
    *failed = "setsockopt(SO_SNDBUF)";
    return err;
  }
  err = SetBuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, IntOpt(o, "rcvbuf", 0));
  if (err != 0) {
    *failed = "setsockopt(SO_RCVBUF)";
    return err;
  }
  std::string dev = StrOpt(o, "device");
  if (!dev.empty() && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev.c_str(), static_cast<socklen_t>(dev.size())) != 0) {
    *failed = "setsockopt(SO_BINDTODEVICE)";
    return errno;
  }
  return 0;
}

// udpOpen({ family: 4|6, addr, port, reusePort, reuseAddr, v6Only, gso, gro, sndbuf, rcvbuf, device, netns })
//   -> { fd, port, gso, gro } where gso tells whether the kernel takes UDP_SEGMENT,
//   gro whether it took UDP_GRO.
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  int family = IntOpt(o, "family", 4) == 6 ? AF_INET6 : AF_INET;
  int fd = -1;
  const char* failed = "";
  int bound_port = 0;
  bool gso = false;
  bool gro = false;
  int err = InNetns(env, o, &fd, &failed, [&](int* out, const char** what) -> int {
    *out = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (*out < 0) {
      *what = "socket(udp)";
      return errno;
    }
    int one = 1;
    if (IntOpt(o, "reusePort", 0) == 1 && setsockopt(*out, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      *what = "setsockopt(SO_REUSEPORT)";
      return errno;
    }
    if (IntOpt(o, "reuseAddr", 0) == 1 && setsockopt(*out, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      *what = "setsockopt(SO_REUSEADDR)";
      return errno;
    }
    if (family == AF_INET6) {
      int v6only = IntOpt(o, "v6Only", 1);
      if (setsockopt(*out, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
        *what = "setsockopt(IPV6_V6ONLY)";
        return errno;
      }
    }
    int err2 = CommonSockopts(*out, o, what);
    if (err2 != 0) return err2;
    sockaddr_storage ss;
    socklen_t sl = ReadSockaddr(o, family, &ss);
    if (bind(*out, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
      *what = "bind";
      return errno;
    }
    sl = sizeof ss;
    if (getsockname(*out, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) {
      *what = "getsockname";
      return errno;
    }
    bound_port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);  // same offset in sockaddr_in6
    if (IntOpt(o, "gso", 0) == 1) {
      // Setting the socket's default segment size to 0 (none) is harmless and
      // fails with ENOPROTOOPT on kernels without UDP GSO (before 4.18).
      int zero = 0;
      gso = setsockopt(*out, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
    }
    if (IntOpt(o, "gro", 0) == 1) {
      // ENOPROTOOPT before Linux 5.0: the socket then gets single datagrams.
      int one_gro = 1;
      gro = setsockopt(*out, SOL_UDP, UDP_GRO, &one_gro, sizeof one_gro) == 0;
    }
    return 0;
  });
  if (err != 0) throw ErrnoError(env, err, failed);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("port", Napi::Number::New(env, bound_port));
  out.Set("gso", Napi::Boolean::New(env, gso));
  out.Set("gro", Napi::Boolean::New(env, gro));
  return out;
}

// packetOpen({ ifname, protocol, promiscuous, qdiscBypass, ignoreOutgoing, vnetHdr, sndbuf, rcvbuf, netns })
//   -> { fd, ifindex }
Napi::Value PacketOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  std::string ifname = StrOpt(o, "ifname");
  uint16_t proto = static_cast<uint16_t>(IntOpt(o, "protocol", ETH_P_ALL));
  int fd = -1;
  int ifindex = 0;
  const char* failed = "";
  int err = InNetns(env, o, &fd, &failed, [&](int* out, const char** what) -> int {
    ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (ifindex == 0) {
      *what = "if_nametoindex";
      return errno != 0 ? errno : ENODEV;
    }
    // Protocol 0 until bind: no frame of another interface is queued meanwhile.
    *out = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*out < 0) {
      *what = "socket(AF_PACKET)";
      return errno;
    }
    int one = 1;
    if (IntOpt(o, "ignoreOutgoing", 1) == 1 &&
        setsockopt(*out, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
      *what = "setsockopt(PACKET_IGNORE_OUTGOING)";
      return errno;
    }
    if (IntOpt(o, "qdiscBypass", 0) == 1 &&
        setsockopt(*out, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) {
      *what = "setsockopt(PACKET_QDISC_BYPASS)";
      return errno;
    }
    if (IntOpt(o, "vnetHdr", 0) == 1 && setsockopt(*out, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) {
      *what = "setsockopt(PACKET_VNET_HDR)";
      return errno;
    }
    int err2 = CommonSockopts(*out, o, what);
    if (err2 != 0) return err2;
    sockaddr_ll sll;
    std::memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(proto);
    sll.sll_ifindex = ifindex;
    if (bind(*out, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
      *what = "bind(AF_PACKET)";
      return errno;
    }
    if (IntOpt(o, "promiscuous", 0) == 1) {
      packet_mreq mr;
      std::memset(&mr, 0, sizeof mr);
      mr.mr_ifindex = ifindex;
      mr.mr_type = PACKET_MR_PROMISC;
      if (setsockopt(*out, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
        *what = "setsockopt(PACKET_ADD_MEMBERSHIP)";
        return errno;
      }
    }
    return 0;
  });
  if (err != 0) throw ErrnoError(env, err, failed);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("ifindex", Napi::Number::New(env, ifindex));
  return out;
}

// rawOpen({ family: 4|6, protocol, hdrincl, addr, sndbuf, rcvbuf, device, netns }) -> { fd }
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  int family = IntOpt(o, "family", 4) == 6 ? AF_INET6 : AF_INET;
  int proto = IntOpt(o, "protocol", 47);
  int fd = -1;
  const char* failed = "";
  int err = InNetns(env, o, &fd, &failed, [&](int* out, const char** what) -> int {
    *out = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (*out < 0) {
      *what = "socket(SOCK_RAW)";
      return errno;
    }
    int hdrincl = IntOpt(o, "hdrincl", 1);
    if (family == AF_INET && setsockopt(*out, IPPROTO_IP, IP_HDRINCL, &hdrincl, sizeof hdrincl) != 0) {
      *what = "setsockopt(IP_HDRINCL)";
      return errno;
    }
    if (family == AF_INET6 && setsockopt(*out, IPPROTO_IPV6, IPV6_HDRINCL, &hdrincl, sizeof hdrincl) != 0) {
      *what = "setsockopt(IPV6_HDRINCL)";
      return errno;
    }
    int err2 = CommonSockopts(*out, o, what);
    if (err2 != 0) return err2;
    if (o.Get("addr").IsTypedArray()) {
      sockaddr_storage ss;
      socklen_t sl = ReadSockaddr(o, family, &ss);
      reinterpret_cast<sockaddr_in*>(&ss)->sin_port = 0;
      if (bind(*out, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
        *what = "bind";
        return errno;
      }
    }
    return 0;
  });
  if (err != 0) throw ErrnoError(env, err, failed);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  return out;
}

// closeFd(fd) -> 0 or errno (EBADF when already closed).
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int r = close(fd) == 0 ? 0 : errno;
  return Napi::Number::New(info.Env(), r);
}

// socketError(fd) -> the pending SO_ERROR (clears it), or the getsockopt errno.
Napi::Value SocketError(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
  return Napi::Number::New(info.Env(), soerr);
}

// packetIfindex(fd) -> the interface an AF_PACKET socket is bound to; the
// kernel sets it to -1 once that interface is unregistered.
Napi::Value PacketIfindex(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  sockaddr_ll sll;
  std::memset(&sll, 0, sizeof sll);
  socklen_t sl = sizeof sll;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sll), &sl) != 0) return Napi::Number::New(info.Env(), -errno);
  return Napi::Number::New(info.Env(), sll.sll_ifindex);
}

// dupFd(fd) -> a close-on-exec duplicate (hand a socket to another owner, e.g. dgram).
// openInNetns({ path, netns }) -> fd: a read-only file opened from inside a
// namespace. For /proc/net/* (seq files bound to the opener's namespace at
// open): the kernel's neighbour table of the underlay's namespace, re-read
// with pread(fd, 0) without entering it again.
Napi::Value OpenInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  std::string path = StrOpt(o, "path");
  int fd = -1;
  const char* failed = "";
  int err = InNetns(env, o, &fd, &failed, [&](int* out, const char** what) -> int {
    *out = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (*out < 0) {
      *what = "open";
      return errno;
    }
    return 0;
  });
  if (err != 0) throw ErrnoError(env, err, failed);
  return Napi::Number::New(env, fd);
}

Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) throw ErrnoError(info.Env(), errno, "fcntl(F_DUPFD_CLOEXEC)");
  return Napi::Number::New(info.Env(), d);
}

Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  int err = info[0].As<Napi::Number>().Int32Value();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("name", Napi::String::New(info.Env(), ErrnoName(err)));
  out.Set("message", Napi::String::New(info.Env(), std::strerror(err)));
  return out;
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("packetOpen", Napi::Function::New(env, PacketOpen, "packetOpen"));
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen, "rawOpen"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("socketError", Napi::Function::New(env, SocketError, "socketError"));
  exports.Set("packetIfindex", Napi::Function::New(env, PacketIfindex, "packetIfindex"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("openInNetns", Napi::Function::New(env, OpenInNetns, "openInNetns"));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
}

}  // namespace vtep
