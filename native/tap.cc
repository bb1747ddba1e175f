// TAP devices: create or attach by name (IFF_TAP | IFF_NO_PI, optional
// IFF_VNET_HDR and IFF_MULTI_QUEUE), and configure MTU, MAC, up/down, queue
// length and persistence by ioctl. Ioctls on the device run in the namespace
// where it lives now (TUNGETDEVNETNS), so a device moved after open stays
// configurable; at open they run in the namespace given by the caller.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"

// Offload bits of TUNSETOFFLOAD; the installed headers may predate USO (6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
// UDP-tunnel GSO (Linux 6.17): needs the 24-byte virtio_net_hdr_v1_hash_tunnel header.
#ifndef TUN_F_UDP_TUNNEL_GSO
#define TUN_F_UDP_TUNNEL_GSO 0x080
#endif

namespace vtep {
namespace {

// Asks for checksum offload, TSO (v4, v6, ECN) and USO, dropping USO and then
// everything but the checksum when the kernel refuses (EINVAL: unknown bits).
// Returns the bits granted, or -errno when even TUN_F_CSUM is refused.
// With `tunnel` (a 24-byte header), UDP-tunnel GSO is asked for first.
int ProbeOffloads(int fd, bool tunnel) {
  const unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  const unsigned tries[] = {base | TUN_F_USO4 | TUN_F_USO6 | TUN_F_UDP_TUNNEL_GSO, base | TUN_F_USO4 | TUN_F_USO6, base, TUN_F_CSUM};
  int err = 0;
  for (unsigned want : tries) {
    if (!tunnel && (want & TUN_F_UDP_TUNNEL_GSO) != 0) continue;
    if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(want)) == 0) return static_cast<int>(want);
    err = errno;
    if (err != EINVAL) break;
  }
  return -err;
}

struct TapConfig {
  int mtu = -1;          // -1: leave
  double mac = -1;       // 48-bit number, -1: leave
  int up = -1;           // 1 up, 0 down, -1 leave
  int tx_queue_len = -1; // -1: leave
  int persist = -1;      // 1 set, 0 clear, -1 leave
};

TapConfig ReadConfig(const Napi::Object& o) {
  TapConfig c;
  c.mtu = IntOpt(o, "mtu", -1);
  Napi::Value mac = o.Get("mac");
  if (mac.IsNumber()) c.mac = mac.As<Napi::Number>().DoubleValue();
  c.up = IntOpt(o, "up", -1);
  c.tx_queue_len = IntOpt(o, "txQueueLen", -1);
  c.persist = IntOpt(o, "persist", -1);
  return c;
}

// Device name of a tun fd, or errno.
int TapName(int fd, char name[IFNAMSIZ], unsigned* flags) {
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) != 0) return errno;
  std::memcpy(name, ifr.ifr_name, IFNAMSIZ);
  name[IFNAMSIZ - 1] = 0;
  if (flags != nullptr) *flags = static_cast<unsigned short>(ifr.ifr_flags);
  return 0;
}

// Applies the config to the device behind `fd`; the caller is already in the
// device's namespace. Persistence comes last so that a failure before it
// leaves no device behind when the caller closes the fds.
int ApplyConfig(int fd, const TapConfig& c, const char** failed) {
  char name[IFNAMSIZ];
  int err = TapName(fd, name, nullptr);
  if (err != 0) {
    *failed = "ioctl(TUNGETIFF)";
    return err;
  }
  if (c.mtu < 0 && c.mac < 0 && c.up < 0 && c.tx_queue_len < 0 && c.persist < 0) return 0;
  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) {
    *failed = "socket(control)";
    return errno;
  }
  struct ifreq ifr;
  auto reset = [&]() {
    std::memset(&ifr, 0, sizeof ifr);
    std::memcpy(ifr.ifr_name, name, IFNAMSIZ);
  };
  err = 0;
  if (err == 0 && c.mac >= 0) {
    reset();
    uint64_t m = static_cast<uint64_t>(c.mac);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    for (int i = 0; i < 6; i++) ifr.ifr_hwaddr.sa_data[i] = static_cast<char>((m >> (8 * (5 - i))) & 0xff);
    if (ioctl(ctl, SIOCSIFHWADDR, &ifr) != 0) {
      err = errno;
      *failed = "ioctl(SIOCSIFHWADDR)";
    }
  }
  if (err == 0 && c.mtu >= 0) {
    reset();
    ifr.ifr_mtu = c.mtu;
    if (ioctl(ctl, SIOCSIFMTU, &ifr) != 0) {
      err = errno;
      *failed = "ioctl(SIOCSIFMTU)";
    }
  }
  if (err == 0 && c.tx_queue_len >= 0) {
    reset();
    ifr.ifr_qlen = c.tx_queue_len;
    if (ioctl(ctl, SIOCSIFTXQLEN, &ifr) != 0) {
      err = errno;
      *failed = "ioctl(SIOCSIFTXQLEN)";
    }
  }
  if (err == 0 && c.up >= 0) {
    reset();
    if (ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) {
      err = errno;
      *failed = "ioctl(SIOCGIFFLAGS)";
    } else {
      short want = c.up ? static_cast<short>(ifr.ifr_flags | IFF_UP) : static_cast<short>(ifr.ifr_flags & ~IFF_UP);
      if (want != ifr.ifr_flags) {
        ifr.ifr_flags = want;
        if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) {
          err = errno;
          *failed = "ioctl(SIOCSIFFLAGS)";
        }
      }
    }
  }
  if (err == 0 && c.persist >= 0) {
    if (ioctl(fd, TUNSETPERSIST, static_cast<unsigned long>(c.persist)) != 0) {
      err = errno;
      *failed = "ioctl(TUNSETPERSIST)";
    }
  }
  CloseKeepErrno(ctl);
  return err;
}

// The namespace of the device behind a tun fd, as a new fd; -1 when the kernel
// cannot tell (then the caller's namespace is used).
int DeviceNetns(int fd) {
  int ns = ioctl(fd, TUNGETDEVNETNS);
  return ns;
}

// tapOpen({ name, netns, vnetHdr, vnetHdrSize, offloads, multiQueue, queues, exclusive,
//           mtu, mac, up, txQueueLen, persist }) -> { fds: number[], name, offloads }
// where offloads holds the TUN_F_* bits granted (0 when not asked for).
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  std::string name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "";
  std::string netns = o.Get("netns").IsString() ? o.Get("netns").As<Napi::String>().Utf8Value() : "";
  bool vnet = IntOpt(o, "vnetHdr", 0) == 1;
  int vnet_size = IntOpt(o, "vnetHdrSize", 0);
  bool mq = IntOpt(o, "multiQueue", 0) == 1;
  int queues = IntOpt(o, "queues", 1);
  bool exclusive = IntOpt(o, "exclusive", 0) == 1;
  bool offloads = IntOpt(o, "offloads", 0) == 1;
  int granted = 0;
  TapConfig config = ReadConfig(o);
  if (name.size() >= IFNAMSIZ || queues < 1 || (!mq && queues != 1)) {
    throw Napi::TypeError::New(env, "tapOpen: bad name or queue count");
  }

  std::vector<int> fds;
  auto close_all = [&]() {
    for (int fd : fds) CloseKeepErrno(fd);
    fds.clear();
  };
  int err = 0;
  const char* failed = "";
  char actual[IFNAMSIZ] = {0};
  {
    NetnsScope scope(netns);
    if (scope.error() != 0) throw ErrnoError(env, scope.error(), scope.failed_call());
    for (int q = 0; q < queues && err == 0; q++) {
      int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        err = errno;
        failed = "open(/dev/net/tun)";
        break;
      }
      fds.push_back(fd);
      struct ifreq ifr;
      std::memset(&ifr, 0, sizeof ifr);
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
      if (vnet) ifr.ifr_flags |= IFF_VNET_HDR;
      if (mq) ifr.ifr_flags |= IFF_MULTI_QUEUE;
      if (exclusive && q == 0) ifr.ifr_flags |= IFF_TUN_EXCL;
      // Queues after the first attach to the name the first one got.
      const std::string& n = q == 0 ? name : std::string(actual);
      std::memcpy(ifr.ifr_name, n.data(), n.size());
      if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        err = errno;
        failed = "ioctl(TUNSETIFF)";
        break;
      }
      if (q == 0) {
        std::memcpy(actual, ifr.ifr_name, IFNAMSIZ);
        actual[IFNAMSIZ - 1] = 0;
      }
      if (vnet && vnet_size > 0 && ioctl(fd, TUNSETVNETHDRSZ, &vnet_size) != 0) {
        err = errno;
        failed = "ioctl(TUNSETVNETHDRSZ)";
        break;
      }
    }
    // Offloads are a property of the device: setting them on one queue is enough.
    if (err == 0 && offloads) {
      granted = ProbeOffloads(fds[0], vnet_size == 24);
      if (granted < 0) {
        err = -granted;
        failed = "ioctl(TUNSETOFFLOAD)";
      }
    }
    if (err == 0) err = ApplyConfig(fds[0], config, &failed);
    if (err != 0) close_all();
  }
  if (err != 0) throw ErrnoError(env, err, failed);

  Napi::Object out = Napi::Object::New(env);
  Napi::Array arr = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
  out.Set("fds", arr);
  out.Set("name", Napi::String::New(env, actual));
  out.Set("offloads", Napi::Number::New(env, granted));
  return out;
}

// tapConfigure(fd, { mtu, mac, up, txQueueLen, persist }) in the device's namespace.
Napi::Value TapConfigure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  TapConfig config = ReadConfig(info[1].As<Napi::Object>());
  int ns = DeviceNetns(fd);
  int err;
  const char* failed = "";
  {
    NetnsScope scope(ns);
    err = scope.error();
    if (err != 0) failed = scope.failed_call();
    if (err == 0) err = ApplyConfig(fd, config, &failed);
  }
  CloseKeepErrno(ns);
  if (err != 0) throw ErrnoError(env, err, failed);
  return env.Undefined();
}

// tapInfo(fd) -> { name, ifindex, mtu, mac, up, flags } read in the device's namespace.
Napi::Value TapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  char name[IFNAMSIZ];
  unsigned tun_flags = 0;
  int err = TapName(fd, name, &tun_flags);
  if (err != 0) throw ErrnoError(env, err, "ioctl(TUNGETIFF)");
  int ns = DeviceNetns(fd);
  struct ifreq ifr;
  int ifindex = 0, mtu = 0, flags = 0;
  uint64_t mac = 0;
  const char* failed = "";
  {
    NetnsScope scope(ns);
    err = scope.error();
    failed = scope.failed_call();
    int ctl = err == 0 ? socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;
    if (err == 0 && ctl < 0) {
      err = errno;
      failed = "socket(control)";
    }
    auto get = [&](unsigned long req, const char* what) {
      if (err != 0) return;
      std::memset(&ifr, 0, sizeof ifr);
      std::memcpy(ifr.ifr_name, name, IFNAMSIZ);
      if (ioctl(ctl, req, &ifr) != 0) {
        err = errno;
        failed = what;
      }
    };
    get(SIOCGIFINDEX, "ioctl(SIOCGIFINDEX)");
    if (err == 0) ifindex = ifr.ifr_ifindex;
    get(SIOCGIFMTU, "ioctl(SIOCGIFMTU)");
    if (err == 0) mtu = ifr.ifr_mtu;
    get(SIOCGIFFLAGS, "ioctl(SIOCGIFFLAGS)");
    if (err == 0) flags = static_cast<unsigned short>(ifr.ifr_flags);
    get(SIOCGIFHWADDR, "ioctl(SIOCGIFHWADDR)");
    if (err == 0) {
      for (int i = 0; i < 6; i++) mac = (mac << 8) | static_cast<uint8_t>(ifr.ifr_hwaddr.sa_data[i]);
    }
    CloseKeepErrno(ctl);
  }
  CloseKeepErrno(ns);
  if (err != 0) throw ErrnoError(env, err, failed);
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", Napi::String::New(env, name));
  out.Set("ifindex", Napi::Number::New(env, ifindex));
  out.Set("mtu", Napi::Number::New(env, mtu));
  out.Set("mac", Napi::Number::New(env, static_cast<double>(mac)));
  out.Set("up", Napi::Boolean::New(env, (flags & IFF_UP) != 0));
  out.Set("running", Napi::Boolean::New(env, (flags & IFF_RUNNING) != 0));
  out.Set("tunFlags", Napi::Number::New(env, tun_flags));
  return out;
}

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) {
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen, "tapOpen"));
  exports.Set("tapConfigure", Napi::Function::New(env, TapConfigure, "tapConfigure"));
  exports.Set("tapInfo", Napi::Function::New(env, TapInfo, "tapInfo"));
}

}  // namespace vtep
