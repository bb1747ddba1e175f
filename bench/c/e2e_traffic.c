/*
 * Traffic programs for `npm run bench -- e2e`, run inside the benchmark's
 * namespaces (ip netns exec NS ...). Every mode prints "start" when it begins
 * its timed part and, at the end, one line: count wall_ns cpu_ns.
 *
 *   e2e_traffic packet IFNAME SECONDS FRAMELEN [BACKOFF_US]
 *     A VM sending: AF_PACKET (PACKET_QDISC_BYPASS) on IFNAME, sendmmsg of
 *     256 copies of one UDP frame vm1 -> vm2 (10.0.0.1 -> 10.0.0.99:9), as
 *     fast as the device takes them, for SECONDS; with BACKOFF_US, sleeps
 *     that long whenever the device took less than a batch (a full TAP
 *     queue). Count: frames the device took.
 *
 *   e2e_traffic tap TAPNAME SECONDS FRAMELEN
 *     A VM behind a kernel bridge, as qemu writes its frames: attaches to the
 *     existing (persistent) TAP TAPNAME and write()s the same frame to it,
 *     which runs the kernel's TAP -> bridge -> VXLAN -> UDP path in this
 *     process. Count: frames written.
 *
 *   e2e_traffic fwd TAPNETNS TAPNAME LOCAL PEER VNI SECONDS [gso]
 *     The C reference dataplane: attaches to TAP TAPNAME in namespace
 *     TAPNETNS (a path), returns to its own namespace for a UDP socket bound
 *     to LOCAL, then reads frames (read() until EAGAIN, up to 256, into slots
 *     with headroom), prepends an 8-byte VXLAN header in place and sends them
 *     to PEER:4789 with one sendmmsg per batch; poll() when idle. With "gso",
 *     runs of equal length go as one message with UDP_SEGMENT, as the addon
 *     sends them. Count: datagrams sent.
 *
 *   e2e_traffic tcp-sink PORT SECONDS
 *     Accepts one TCP connection and reads it to the end (at most SECONDS
 *     after the first byte). Count: bytes; wall: first to last byte.
 *
 *   e2e_traffic tcp-source HOST PORT SECONDS
 *     Connects and writes 256 KiB buffers for SECONDS. Count: bytes.
 *
 *   e2e_traffic udp-paced HOST PORT PPS SECONDS PAYLOAD
 *     A steady stream (the latency suite's load): one UDP datagram of PAYLOAD
 *     bytes every 1/PPS seconds for SECONDS, on an absolute schedule (a late
 *     wake-up sends what is due, at most 64 at once). Count: datagrams sent.
 *
 *   e2e_traffic udp-sink PORT SECONDS
 *     Binds PORT and reads datagrams for SECONDS. Count: datagrams.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define SLOT 2048
#define HEADROOM 128
#define VXLAN_LEN 8
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static uint64_t cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

static void die(const char *what) {
  perror(what);
  exit(1);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static uint64_t t_start, c_start;
static void started(void) {
  printf("start\n");
  fflush(stdout);
  t_start = now_ns();
  c_start = cpu_ns();
}
static void finish(unsigned long long count, uint64_t wall) {
  printf("%llu %llu %llu\n", count, (unsigned long long)wall, (unsigned long long)(cpu_ns() - c_start));
  fflush(stdout);
}

static uint16_t csum(const uint8_t *p, int len) {
  uint32_t s = 0;
  for (int i = 0; i + 1 < len; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) s += (uint32_t)(p[len - 1] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

/* Ethernet[IPv4[UDP]] vm1 02:00:0a:00:00:01 10.0.0.1:1234 -> vm2 02:00:0a:00:00:02 10.0.0.99:9, flen bytes. */
static void build_frame(uint8_t *f, int flen) {
  memset(f, 0, (size_t)flen);
  memcpy(f, "\x02\x00\x0a\x00\x00\x02\x02\x00\x0a\x00\x00\x01\x08\x00", 14);
  uint8_t *ip = f + 14;
  int iplen = flen - 14;
  ip[0] = 0x45;
  ip[2] = (uint8_t)(iplen >> 8);
  ip[3] = (uint8_t)iplen;
  ip[8] = 64;
  ip[9] = 17;
  memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x63", 8);
  uint16_t c = csum(ip, 20);
  ip[10] = (uint8_t)(c >> 8);
  ip[11] = (uint8_t)c;
  uint8_t *udp = ip + 20;
  int ulen = iplen - 20;
  udp[0] = 1234 >> 8;
  udp[1] = 1234 & 0xff;
  udp[3] = 9;
  udp[4] = (uint8_t)(ulen >> 8);
  udp[5] = (uint8_t)ulen;
  for (int i = 8; i < ulen; i++) udp[i] = (uint8_t)i;  /* UDP checksum 0: none */
}

static int tap_attach(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  return fd;
}

static int mode_packet(const char *ifname, double seconds, int flen, long backoff_us) {
  int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (ps < 0) die("socket AF_PACKET");
  int one = 1;
  setsockopt(ps, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0; /* send only */
  sll.sll_ifindex = (int)if_nametoindex(ifname);
  if (sll.sll_ifindex == 0) die("if_nametoindex");
  if (bind(ps, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind AF_PACKET");
  static uint8_t frame[SLOT];
  build_frame(frame, flen);
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = frame;
    iov[i].iov_len = (size_t)flen;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  started();
  uint64_t end = t_start + (uint64_t)(seconds * 1e9);
  unsigned long long sent = 0;
  uint64_t t;
  struct timespec pause = {0, backoff_us * 1000L};
  while ((t = now_ns()) < end && !stop) {
    int n = sendmmsg(ps, msgs, BATCH, 0);
    if (n < 0) {
      if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN) die("sendmmsg");
      n = 0;
    }
    sent += (unsigned)n;
    /* The device took fewer than a batch: its queue is full (the TAP's reader
     * is behind). Wait a little, as a guest waits for its ring, instead of
     * spinning on drops and taking the CPU from the reader. */
    if (n < BATCH && backoff_us > 0) nanosleep(&pause, NULL);
  }
  finish(sent, t - t_start);
  return 0;
}

static int mode_tap(const char *name, double seconds, int flen) {
  int fd = tap_attach(name);
  static uint8_t frame[SLOT];
  build_frame(frame, flen);
  started();
  uint64_t end = t_start + (uint64_t)(seconds * 1e9);
  unsigned long long sent = 0;
  uint64_t t = t_start;
  while (!stop) {
    /* The clock every 64 writes: it costs about as much as a write of a small frame. */
    if ((sent & 63) == 0 && (t = now_ns()) >= end) break;
    if (write(fd, frame, (size_t)flen) < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
      die("write tap");
    }
    sent++;
  }
  finish(sent, now_ns() - t_start);
  return 0;
}

static int mode_fwd(const char *tapns, const char *name, const char *local, const char *peer, int vni, double seconds, int gso) {
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int other = open(tapns, O_RDONLY | O_CLOEXEC);
  if (home < 0 || other < 0) die("open netns");
  if (setns(other, CLONE_NEWNET) < 0) die("setns tap");
  int tap = tap_attach(name);
  if (setns(home, CLONE_NEWNET) < 0) die("setns home");
  int fl = fcntl(tap, F_GETFL);
  fcntl(tap, F_SETFL, fl | O_NONBLOCK);
  int us = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  inet_pton(AF_INET, local, &src.sin_addr);
  if (bind(us, (struct sockaddr *)&src, sizeof src) < 0) die("bind udp");
  int sz = 4 << 20;
  setsockopt(us, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(4789)};
  inet_pton(AF_INET, peer, &dst.sin_addr);
  static uint8_t slots[BATCH][SLOT];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &dst;
    msgs[i].msg_hdr.msg_namelen = sizeof dst;
  }
  static struct mmsghdr gmsgs[BATCH];
  static int segs[BATCH];
  static char cbuf[BATCH][CMSG_SPACE(sizeof(uint16_t))];
  memset(gmsgs, 0, sizeof gmsgs);
  for (int i = 0; i < BATCH; i++) {
    gmsgs[i].msg_hdr.msg_name = &dst;
    gmsgs[i].msg_hdr.msg_namelen = sizeof dst;
  }
  started();
  uint64_t end = t_start + (uint64_t)(seconds * 1e9);
  unsigned long long sent = 0;
  struct pollfd pfd = {.fd = tap, .events = POLLIN};
  while (!stop && now_ns() < end) {
    int k = 0;
    while (k < BATCH) {
      uint8_t *p = slots[k] + HEADROOM;
      ssize_t n = read(tap, p, SLOT - HEADROOM);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        die("read tap");
      }
      /* VXLAN: flags I, VNI in bytes 4..6. */
      uint8_t *h = p - VXLAN_LEN;
      h[0] = 0x08;
      h[1] = h[2] = h[3] = 0;
      h[4] = (uint8_t)(vni >> 16);
      h[5] = (uint8_t)(vni >> 8);
      h[6] = (uint8_t)vni;
      h[7] = 0;
      iov[k].iov_base = h;
      iov[k].iov_len = (size_t)n + VXLAN_LEN;
      k++;
    }
    if (k == 0) {
      poll(&pfd, 1, 50);
      continue;
    }
    int nmsg = k;
    if (gso) {
      /* Runs of equal length (the last may be shorter), at most 64 datagrams
       * and 65000 bytes, become one message with a UDP_SEGMENT cmsg, as the
       * addon does: iov[] is already in order, the messages point into it. */
      nmsg = 0;
      for (int i = 0; i < k;) {
        size_t seg = iov[i].iov_len, bytes = seg;
        int j = i + 1;
        while (j < k && j - i < 64 && iov[j].iov_len <= seg && bytes + iov[j].iov_len <= 65000) {
          bytes += iov[j].iov_len;
          if (iov[j++].iov_len < seg) break;
        }
        struct msghdr *h = &gmsgs[nmsg].msg_hdr;
        h->msg_iov = &iov[i];
        h->msg_iovlen = (size_t)(j - i);
        segs[nmsg] = j - i;
        if (j - i > 1) {
          h->msg_control = cbuf[nmsg];
          h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
          struct cmsghdr *cm = CMSG_FIRSTHDR(h);
          cm->cmsg_level = SOL_UDP;
          cm->cmsg_type = UDP_SEGMENT;
          cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          uint16_t sz = (uint16_t)seg;
          memcpy(CMSG_DATA(cm), &sz, sizeof sz);
        } else {
          h->msg_control = NULL;
          h->msg_controllen = 0;
        }
        nmsg++;
        i = j;
      }
    }
    struct mmsghdr *mv = gso ? gmsgs : msgs;
    for (int off = 0; off < nmsg;) {
      int n = sendmmsg(us, mv + off, (unsigned)(nmsg - off), 0);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) break; /* drop the rest */
        die("sendmmsg");
      }
      for (int m = off; m < off + n; m++) sent += gso ? (unsigned)segs[m] : 1u;
      off += n;
    }
  }
  finish(sent, now_ns() - t_start);
  return 0;
}

static int mode_tcp_sink(int port, double seconds) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind tcp");
  if (listen(ls, 1) < 0) die("listen");
  printf("ready\n");
  fflush(stdout);
  int c = accept(ls, NULL, NULL);
  if (c < 0) die("accept");
  static uint8_t buf[1 << 18];
  unsigned long long got = 0;
  uint64_t first = 0, last = 0;
  for (;;) {
    ssize_t n = read(c, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read tcp");
    }
    if (n == 0) break;
    last = now_ns();
    if (got == 0) {
      started();
      first = last;
    }
    got += (unsigned long long)n;
    if (last - first > (uint64_t)(seconds * 1e9)) break;
  }
  finish(got, last - first);
  return 0;
}

static int mode_tcp_source(const char *host, int port, double seconds) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  static uint8_t buf[1 << 18];
  memset(buf, 0x5a, sizeof buf);
  started();
  uint64_t end = t_start + (uint64_t)(seconds * 1e9);
  unsigned long long sent = 0;
  while (!stop && now_ns() < end) {
    ssize_t n = write(s, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write tcp");
    }
    sent += (unsigned long long)n;
  }
  shutdown(s, SHUT_WR);
  finish(sent, now_ns() - t_start);
  return 0;
}

static int mode_udp_paced(const char *host, int port, double pps, double seconds, int payload) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("HOST");
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect udp");
  if (payload < 0 || payload > SLOT) payload = SLOT;
  static uint8_t buf[SLOT];
  memset(buf, 0x5a, sizeof buf);
  /* Timers as exact as the kernel gives them: the default 50 µs slack is a whole period at 20k pps. */
  prctl(PR_SET_TIMERSLACK, 1UL);
  const uint64_t period = (uint64_t)(1e9 / pps);
  started();
  uint64_t end = t_start + (uint64_t)(seconds * 1e9);
  uint64_t next = t_start;
  unsigned long long sent = 0;
  while (!stop) {
    uint64_t t = now_ns();
    if (t >= end) break;
    for (int k = 0; next <= t && k < 64; k++, next += period) {
      if (send(s, buf, (size_t)payload, 0) >= 0) sent++;
    }
    if (next <= t) next = t + period; /* far behind: skip rather than burst */
    struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
  }
  finish(sent, now_ns() - t_start);
  return 0;
}

static int mode_udp_sink(int port, double seconds) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind udp");
  struct timeval tv = {0, 100000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  static uint8_t buf[1 << 16];
  started();
  uint64_t end = t_start + (uint64_t)(seconds * 1e9);
  unsigned long long got = 0;
  while (!stop && now_ns() < end) {
    if (recv(s, buf, sizeof buf, 0) >= 0) got++;
  }
  finish(got, now_ns() - t_start);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  const char *m = argc > 1 ? argv[1] : "";
  if (strcmp(m, "packet") == 0 && (argc == 5 || argc == 6)) return mode_packet(argv[2], atof(argv[3]), atoi(argv[4]), argc == 6 ? atol(argv[5]) : 0);
  if (strcmp(m, "tap") == 0 && argc == 5) return mode_tap(argv[2], atof(argv[3]), atoi(argv[4]));
  if (strcmp(m, "fwd") == 0 && (argc == 8 || argc == 9)) return mode_fwd(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]), atof(argv[7]), argc == 9 && strcmp(argv[8], "gso") == 0);
  if (strcmp(m, "tcp-sink") == 0 && argc == 4) return mode_tcp_sink(atoi(argv[2]), atof(argv[3]));
  if (strcmp(m, "tcp-source") == 0 && argc == 5) return mode_tcp_source(argv[2], atoi(argv[3]), atof(argv[4]));
  if (strcmp(m, "udp-paced") == 0 && argc == 7) return mode_udp_paced(argv[2], atoi(argv[3]), atof(argv[4]), atof(argv[5]), atoi(argv[6]));
  if (strcmp(m, "udp-sink") == 0 && argc == 4) return mode_udp_sink(atoi(argv[2]), atof(argv[3]));
  fprintf(stderr,
          "usage: %s packet IFNAME SECONDS FRAMELEN [BACKOFF_US] | tap TAPNAME SECONDS FRAMELEN |\n"
          "       fwd TAPNETNS TAPNAME LOCAL PEER VNI SECONDS [gso] | tcp-sink PORT SECONDS | tcp-source HOST PORT SECONDS |\n"
          "       udp-paced HOST PORT PPS SECONDS PAYLOAD | udp-sink PORT SECONDS\n",
          argv[0]);
  return 2;
}
