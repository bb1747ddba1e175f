/*
 * A C prototype of the path `vtep run` takes for TCP over UDP sockets
 * (bench/e2e.ts --sock-proto): VXLAN over IPv4 between a guest TAP with a
 * virtio-net header (TSO and checksum offload granted) and a UDP socket with
 * UDP_GRO, the same system calls as the addon and nothing else, to show what
 * any userspace VTEP on that path reaches on this machine.
 *
 *   Guest -> underlay: read() the TAP; a TSO super-frame is cut into MSS
 *   segments, each with its own VXLAN, Ethernet, IPv4 and TCP headers (id,
 *   length, sequence, flags, both checksums), all of them one sendmsg with
 *   UDP_SEGMENT whose iovecs point at the headers and at the payload where
 *   it lies (no payload copy); other frames get their partial checksum
 *   finished and go out in one sendmmsg per batch.
 *   Underlay -> guest: recvmmsg() into buffers laid out so that the VXLAN
 *   header is overwritten by the virtio-net header: no copy. A kernel VTEP's
 *   TCP super-frame (arriving whole, its checksum the pseudo-header sum) goes
 *   to the TAP whole as GSO TCPV4 with NEEDS_CSUM; a partial checksum on a
 *   small segment goes as NEEDS_CSUM; a UDP GRO train is written datagram by
 *   datagram.
 *
 *   sock_fwd GUEST_NS GUEST_TAP LOCAL_IP PEER_IP VNI MTU SECONDS [threads]
 *
 * With "threads", each direction runs on a thread of its own (the other way
 * a userspace VTEP could use two cores), else one loop polls both fds.
 * Inner IPv4 only. Prints "start", then at the end "frames_out frames_in
 * wall_ns cpu_ns". A prototype for measurement, not part of vtep.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#define HDR 12       /* virtio_net_hdr_mrg_rxbuf */
#define VX 8         /* VXLAN header */
#define BUF 65600    /* one super-frame and its headers */
#define RX 16        /* receive buffers per recvmmsg */
#define TXB 64       /* small frames per sendmmsg */
#define MAXSEG 64    /* segments of one super-frame */
#define SEGHDR 128   /* room for one segment's headers */

static uint16_t b16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void s16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Ones'-complement sum of n bytes, unfolded (n < 2^17: no overflow of the 64-bit accumulator). */
static uint64_t sum(const uint8_t *p, size_t n, uint64_t s) {
  while (n >= 2) { s += (uint64_t)(p[0] << 8 | p[1]); p += 2; n -= 2; }
  if (n) s += (uint64_t)(p[0] << 8);
  return s;
}
static uint16_t fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}
/* IPv4 pseudo-header sum for TCP of length l4len. */
static uint64_t pseudo4(const uint8_t *ip, size_t l4len) { return sum(ip + 12, 8, 0) + 6 + l4len; }

/* Set up by main, then read by both directions. */
static int g, u, mtu;
static struct sockaddr_in peer;
static uint8_t vx[VX];
/* Receive buffers: the datagram (VXLAN + frame) lands at HDR - VX, so the frame starts at HDR. */
static uint8_t rxb[RX][BUF];
static struct mmsghdr rmsg[RX];
static struct iovec riov[RX];
static char rctl[RX][CMSG_SPACE(sizeof(int))];
/* Guest frames (small ones wait here for one sendmmsg). */
static uint8_t txb[TXB][BUF];
static struct mmsghdr tmsg[TXB];
static struct iovec tiov[TXB];
static uint8_t seghdr[MAXSEG][SEGHDR];
static struct iovec siov[2 * MAXSEG];
static char sctl[CMSG_SPACE(sizeof(uint16_t))];
static unsigned long long out, in, gout, gin;

static void to_underlay(void) {
  /* Guest -> underlay. */
  int small = 0;
  for (int k = 0; k < TXB; k++) {
    /* [4 spare][virtio header 12][frame]: the VXLAN header then goes over the virtio header's last 8 bytes. */
    uint8_t *b = txb[small];
    ssize_t n = read(g, b + 4, BUF - 4);
    if (n < 0) break;
    if (n <= HDR + 34) continue;
    uint8_t *vh = b + 4, *f = vh + HDR;
    size_t flen = (size_t)n - HDR;
    uint8_t flags = vh[0], type = vh[1];
    uint16_t gsz = g16(vh + 4), cs = g16(vh + 6), co = g16(vh + 8);
    if (type == 0) {
      /* NEEDS_CSUM: the field holds the pseudo-header sum, so the sum from csum_start on is the checksum's complement. */
      if ((flags & 1) && (size_t)cs + co + 2 <= flen) s16(f + cs + co, (uint16_t)~fold(sum(f + cs, flen - cs, 0)));
      memcpy(f - VX, vx, VX);
      tiov[small] = (struct iovec){f - VX, VX + flen};
      tmsg[small].msg_hdr = (struct msghdr){.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &tiov[small], .msg_iovlen = 1};
      small++;
      continue;
    }
    /* A TSO super-frame (IPv4 TCP): MSS segments in one UDP GSO message. */
    uint8_t *ip = f + 14;
    if (f[12] != 0x08 || f[13] != 0 || (ip[0] >> 4) != 4 || ip[9] != 6) continue;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    uint8_t *tcp = ip + ihl;
    size_t thl = (size_t)(tcp[12] >> 4) * 4, hl = 14 + ihl + thl;
    if (hl > SEGHDR - VX || flen <= hl || gsz == 0) continue;
    size_t pay = flen - hl, nseg = (pay + gsz - 1) / gsz;
    if (nseg > MAXSEG) continue;
    uint16_t id = b16(ip + 4);
    uint32_t seq = (uint32_t)b16(tcp + 4) << 16 | b16(tcp + 6);
    uint8_t tflags = tcp[13];
    for (size_t s = 0; s < nseg; s++) {
      size_t off = hl + s * gsz, plen = flen - off < gsz ? flen - off : gsz;
      uint8_t *h = seghdr[s];
      memcpy(h, vx, VX);
      memcpy(h + VX, f, hl);
      uint8_t *sip = h + VX + 14, *st = sip + ihl;
      s16(sip + 2, (uint16_t)(ihl + thl + plen));
      s16(sip + 4, (uint16_t)(id + s));
      sip[10] = sip[11] = 0;
      s16(sip + 10, (uint16_t)~fold(sum(sip, ihl, 0)));
      uint32_t sq = seq + (uint32_t)(s * gsz);
      s16(st + 4, (uint16_t)(sq >> 16));
      s16(st + 6, (uint16_t)sq);
      uint8_t fl = tflags;
      if (s + 1 < nseg) fl &= (uint8_t)~0x09; /* FIN, PSH: the last segment's */
      if (s > 0) fl &= (uint8_t)~0x80;        /* CWR: the first segment's */
      st[13] = fl;
      st[16] = st[17] = 0;
      uint64_t c = pseudo4(sip, thl + plen);
      c = sum(st, thl, c);
      c = sum(f + off, plen, c);
      s16(st + 16, (uint16_t)~fold(c));
      siov[2 * s] = (struct iovec){h, VX + hl};
      siov[2 * s + 1] = (struct iovec){f + off, plen};
    }
    /* One UDP datagram holds at most 65,507 bytes: a 64 KB super-frame and its headers may need two messages. */
    size_t per = 65507 / (VX + hl + gsz);
    for (size_t s0 = 0; s0 < nseg; s0 += per) {
      size_t cnt = nseg - s0 < per ? nseg - s0 : per;
      struct msghdr m = {.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = siov + 2 * s0, .msg_iovlen = 2 * cnt};
      if (cnt > 1) {
        m.msg_control = sctl;
        m.msg_controllen = sizeof sctl;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gs = (uint16_t)(VX + hl + gsz);
        memcpy(CMSG_DATA(cm), &gs, sizeof gs);
      }
      /* A full socket buffer: wait for room (as the addon waits for writability) rather than drop. */
      while (sendmsg(u, &m, 0) < 0) {
        if (errno != EAGAIN) { fprintf(stderr, "sendmsg: %s\n", strerror(errno)); break; }
        struct pollfd w = {.fd = u, .events = POLLOUT};
        if (poll(&w, 1, 100) <= 0 || stop) break;
      }
    }
    out += nseg;
    gout++;
  }
  if (small > 0) {
    int sent = sendmmsg(u, tmsg, (unsigned)small, 0);
    if (sent > 0) out += (unsigned)sent;
  }
}

static void to_guest(void) {
  /* Underlay -> guest. */
  for (int k = 0; k < 4; k++) {
    for (int i = 0; i < RX; i++) {
      riov[i] = (struct iovec){rxb[i] + HDR - VX, BUF - (HDR - VX)};
      rmsg[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1, .msg_control = rctl[i], .msg_controllen = sizeof rctl[i]};
    }
    int n = recvmmsg(u, rmsg, RX, 0, NULL);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      size_t len = rmsg[i].msg_len;
      int gro = 0;
      for (struct cmsghdr *cm = CMSG_FIRSTHDR(&rmsg[i].msg_hdr); cm != NULL; cm = CMSG_NXTHDR(&rmsg[i].msg_hdr, cm))
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) memcpy(&gro, CMSG_DATA(cm), sizeof gro);
      uint8_t *d = rxb[i] + HDR - VX;
      size_t seg = gro > 0 && (size_t)gro < len ? (size_t)gro : len;
      for (size_t o = 0; o < len; o += seg) {
        size_t dl = len - o < seg ? len - o : seg;
        uint8_t *v = d + o;
        if (dl < VX + 14 || v[0] != 0x08) continue;
        uint8_t *f = v + VX, *vh = v + VX - HDR;
        size_t flen = dl - VX;
        uint8_t h[HDR];
        memset(h, 0, HDR);
        uint8_t *ip = f + 14;
        if (f[12] == 0x08 && f[13] == 0 && flen >= 34 + 20 && (ip[0] >> 4) == 4 && ip[9] == 6) {
          size_t ihl = (size_t)(ip[0] & 15) * 4, l4 = 14 + ihl, tl = b16(ip + 2);
          uint8_t *tcp = f + l4;
          if (14 + tl == flen && flen >= l4 + 20 && b16(tcp + 16) == fold(pseudo4(ip, tl - ihl))) {
            size_t hl = l4 + (size_t)(tcp[12] >> 4) * 4;
            h[0] = 1; /* NEEDS_CSUM */
            p16(h + 6, (uint16_t)l4);
            p16(h + 8, 16);
            if (flen > (size_t)mtu + 14) { /* a super-frame: GSO TCPV4 with the guest's MSS */
              h[1] = 1;
              p16(h + 2, (uint16_t)hl);
              p16(h + 4, (uint16_t)(mtu + 14 - hl));
              gin++;
            }
          }
        }
        if (o == 0) { /* in place over the VXLAN header */
          memcpy(vh, h, HDR);
          if (write(g, vh, HDR + flen) >= 0) in++;
        } else {
          struct iovec w[2] = {{h, HDR}, {f, flen}};
          if (writev(g, w, 2) >= 0) in++;
        }
      }
    }
    if (n < RX) break;
  }
}

static volatile uint64_t end_ns;

/* With "threads": the underlay -> guest direction on a thread of its own. */
static void *guest_side(void *arg) {
  (void)arg;
  struct pollfd pf = {.fd = u, .events = POLLIN};
  while (!stop && ns_of(CLOCK_MONOTONIC) < end_ns)
    if (poll(&pf, 1, 100) > 0) to_guest();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 8 && !(argc == 9 && strcmp(argv[8], "threads") == 0)) { fprintf(stderr, "usage: sock_fwd GUEST_NS GUEST_TAP LOCAL_IP PEER_IP VNI MTU SECONDS [threads]\n"); return 2; }
  const int threads = argc == 9;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(4789)};
  peer = local;
  if (inet_pton(AF_INET, argv[3], &local.sin_addr) != 1 || inet_pton(AF_INET, argv[4], &peer.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
  int vni = atoi(argv[5]);
  mtu = atoi(argv[6]);
  double seconds = atof(argv[7]);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), other = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (home < 0 || other < 0) die("open netns");
  if (setns(other, CLONE_NEWNET) < 0) die("setns guest");
  g = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (g < 0) die("open tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, argv[2], IFNAMSIZ - 1);
  int hdr = HDR;
  if (ioctl(g, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (ioctl(g, TUNSETVNETHDRSZ, &hdr) < 0) die("TUNSETVNETHDRSZ");
  if (ioctl(g, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) die("TUNSETOFFLOAD");
  if (setns(home, CLONE_NEWNET) < 0) die("setns home");
  u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (u < 0 || setsockopt(u, SOL_UDP, UDP_GRO, &one, sizeof one) < 0 || bind(u, (struct sockaddr *)&local, sizeof local) < 0) die("udp socket");
  int big = 4 << 20;
  setsockopt(u, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(u, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const uint8_t v[VX] = {0x08, 0, 0, 0, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8), (uint8_t)vni, 0};
  memcpy(vx, v, VX);

  printf("start\n");
  fflush(stdout);
  uint64_t t0 = ns_of(CLOCK_MONOTONIC), c0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
  end_ns = t0 + (uint64_t)(seconds * 1e9);
  pthread_t rx;
  if (threads && pthread_create(&rx, NULL, guest_side, NULL) != 0) die("pthread_create");
  struct pollfd pf[2] = {{.fd = g, .events = POLLIN}, {.fd = u, .events = POLLIN}};
  while (!stop && ns_of(CLOCK_MONOTONIC) < end_ns) {
    if (poll(pf, threads ? 1 : 2, 100) <= 0) continue;
    to_underlay();
    if (!threads) to_guest();
  }
  if (threads) pthread_join(rx, NULL);
  fprintf(stderr, "gso out %llu of %llu, gso in %llu of %llu\n", gout, out, gin, in);
  printf("%llu %llu %llu %llu\n", out, in, (unsigned long long)(ns_of(CLOCK_MONOTONIC) - t0), (unsigned long long)(ns_of(CLOCK_PROCESS_CPUTIME_ID) - c0));
  return 0;
}
