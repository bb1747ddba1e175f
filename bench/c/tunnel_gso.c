/*
 * A probe of the path that could let a userspace VTEP match the kernel's
 * VXLAN for TCP on a veth (bench/e2e.ts --tunnel-gso): VXLAN over IPv4
 * between a guest TAP and an *underlay TAP*, both with virtio-net headers,
 * each guest super-frame going out whole as one UDP-tunnel GSO packet
 * (Linux 6.17's TUN_F_UDP_TUNNEL_GSO, the virtio_net_hdr_v1_hash_tunnel
 * header), which the peer's VXLAN receives and bridges whole, as it does a
 * kernel VTEP's. The underlay TAP is bridged to the underlay veth; the peer
 * has a static neighbour entry for LOCAL_IP -> LOCAL_MAC.
 *
 *   tunnel_gso GUEST_NS GUEST_TAP UNDER_TAP LOCAL_IP PEER_IP LOCAL_MAC PEER_MAC VNI SECONDS
 *
 * Prints "start", then at the end "frames_out frames_in wall_ns cpu_ns".
 * A prototype for measurement, not part of vtep.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
#define TUN_F_UDP_TUNNEL_GSO_ 0x080
#define TUN_F_UDP_TUNNEL_GSO_CSUM_ 0x100
#define GSO_UDP_TUNNEL_IPV4 0x20
#define GSO_UDP_TUNNEL_IPV6 0x40
#define HDR_G 12 /* guest: virtio_net_hdr_mrg_rxbuf */
#define HDR_U 24 /* underlay: virtio_net_hdr_v1_hash_tunnel */
#define OUTER 50 /* Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 */
#define BUF (1 << 17)


static int tap_attach(const char *name, int hdr, unsigned offloads) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) die("open tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) die("TUNSETVNETHDRSZ");
  if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) die("TUNSETOFFLOAD");
  return fd;
}

static int parse_mac(const char *s, uint8_t *m) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

static uint16_t ip_csum(const uint8_t *p) {
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

int main(int argc, char **argv) {
  if (argc != 10) { fprintf(stderr, "usage: tunnel_gso GUEST_NS GUEST_TAP UNDER_TAP LOCAL_IP PEER_IP LOCAL_MAC PEER_MAC VNI SECONDS\n"); return 2; }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  uint8_t lmac[6], pmac[6];
  uint32_t lip, pip;
  if (parse_mac(argv[6], lmac) || parse_mac(argv[7], pmac) || inet_pton(AF_INET, argv[4], &lip) != 1 || inet_pton(AF_INET, argv[5], &pip) != 1) { fprintf(stderr, "bad address\n"); return 2; }
  int vni = atoi(argv[8]);
  double seconds = atof(argv[9]);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), other = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (home < 0 || other < 0) die("open netns");
  if (setns(other, CLONE_NEWNET) < 0) die("setns guest");
  int g = tap_attach(argv[2], HDR_G, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
  if (setns(home, CLONE_NEWNET) < 0) die("setns home");
  int u = tap_attach(argv[3], HDR_U, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UDP_TUNNEL_GSO_);

  /* Outer headers: the same for every packet but the lengths and the IPv4 checksum. */
  uint8_t tmpl[OUTER];
  memset(tmpl, 0, sizeof tmpl);
  memcpy(tmpl, pmac, 6);
  memcpy(tmpl + 6, lmac, 6);
  tmpl[12] = 0x08;
  tmpl[14] = 0x45;
  tmpl[20] = 0x40; /* DF */
  tmpl[22] = 64;
  tmpl[23] = 17;
  memcpy(tmpl + 26, &lip, 4);
  memcpy(tmpl + 30, &pip, 4);
  tmpl[34] = 0xc0; /* source port 49152 */
  tmpl[36] = 0x12;
  tmpl[37] = 0xb5; /* 4789 */
  tmpl[42] = 0x08;
  tmpl[46] = (uint8_t)(vni >> 16);
  tmpl[47] = (uint8_t)(vni >> 8);
  tmpl[48] = (uint8_t)vni;

  static uint8_t buf[BUF];
  unsigned long long out = 0, in = 0, gout = 0, gin = 0, bout = 0, bin = 0;
  printf("start\n");
  fflush(stdout);
  uint64_t t0 = ns_of(CLOCK_MONOTONIC), c0 = ns_of(CLOCK_PROCESS_CPUTIME_ID), end = t0 + (uint64_t)(seconds * 1e9);
  struct pollfd pf[2] = {{.fd = g, .events = POLLIN}, {.fd = u, .events = POLLIN}};
  while (!stop && ns_of(CLOCK_MONOTONIC) < end) {
    if (poll(pf, 2, 100) <= 0) continue;
    /* Guest -> underlay: [24 tunnel hdr][50 outer][frame], read so the frame lands at HDR_U + OUTER. */
    for (int k = 0; k < 64; k++) {
      uint8_t *gh = buf + HDR_U + OUTER - HDR_G;
      ssize_t n = read(g, gh, BUF - (HDR_U + OUTER - HDR_G));
      if (n < 0) break;
      if (n <= HDR_G) continue;
      uint8_t flags = gh[0], type = gh[1];
      uint16_t hlen = g16(gh + 2), gsz = g16(gh + 4), cs = g16(gh + 6), co = g16(gh + 8);
      size_t flen = (size_t)n - HDR_G;
      size_t total = OUTER + flen;
      if (total - 14 > 65535) continue; /* one IPv4 packet at most: the guest TAP's gso_max_size keeps it below */
      uint8_t *h = buf;
      memset(h, 0, HDR_U);
      memcpy(h + HDR_U, tmpl, OUTER);
      uint8_t *o = h + HDR_U;
      uint16_t iplen = (uint16_t)(total - 14), ulen = (uint16_t)(total - 34);
      o[16] = (uint8_t)(iplen >> 8); o[17] = (uint8_t)iplen;
      o[38] = (uint8_t)(ulen >> 8); o[39] = (uint8_t)ulen;
      uint16_t c = ip_csum(o + 14);
      o[24] = (uint8_t)(c >> 8); o[25] = (uint8_t)c;
      h[0] = flags & 1; /* NEEDS_CSUM: of the inner transport header */
      if (type != 0) {
        h[1] = (uint8_t)(type | GSO_UDP_TUNNEL_IPV4);
        p16(h + 2, (uint16_t)(hlen + OUTER));
        p16(h + 4, gsz);
      }
      if (flags & 1) { p16(h + 6, (uint16_t)(cs + OUTER)); p16(h + 8, co); }
      if (type != 0) { p16(h + 20, 34); p16(h + 22, OUTER + 14); } /* outer UDP, inner IP */
      if (write(u, buf, HDR_U + total) < 0) { if (errno == EAGAIN) break; fprintf(stderr, "write underlay: %s (type %u len %zu)\n", strerror(errno), type, total); continue; }
      out++;
      if (type != 0) gout++;
      bout += flen;
    }
    /* Underlay -> guest: strip the outer 50 bytes; the header loses its tunnel bits. */
    for (int k = 0; k < 64; k++) {
      ssize_t n = read(u, buf, BUF);
      if (n < 0) break;
      if (n < HDR_U + OUTER + 14) continue;
      uint8_t *o = buf + HDR_U;
      if (o[12] != 0x08 || o[13] != 0 || o[23] != 17 || o[36] != 0x12 || o[37] != 0xb5) continue;
      uint8_t flags = buf[0], type = buf[1];
      uint16_t hlen = g16(buf + 2), gsz = g16(buf + 4), cs = g16(buf + 6), co = g16(buf + 8);
      uint8_t *gh = o + OUTER - HDR_G;
      memset(gh, 0, HDR_G);
      if (type != 0) {
        gh[1] = (uint8_t)(type & ~(GSO_UDP_TUNNEL_IPV4 | GSO_UDP_TUNNEL_IPV6));
        p16(gh + 2, (uint16_t)(hlen > OUTER ? hlen - OUTER : 0));
        p16(gh + 4, gsz);
      }
      if ((flags & 1) && cs >= OUTER) { gh[0] = 1; p16(gh + 6, (uint16_t)(cs - OUTER)); p16(gh + 8, co); }
      else if (flags & 2) gh[0] = 2;
      if (write(g, gh, (size_t)n - HDR_U - OUTER + HDR_G) < 0) { if (errno == EAGAIN) break; continue; }
      in++;
      if (type != 0) gin++;
      bin += (size_t)n - HDR_U - OUTER;
    }
  }
  fprintf(stderr, "gso out %llu of %llu (%llu bytes), gso in %llu of %llu (%llu bytes)\n", gout, out, bout, gin, in, bin);
  printf("%llu %llu %llu %llu\n", out, in, (unsigned long long)(ns_of(CLOCK_MONOTONIC) - t0), (unsigned long long)(ns_of(CLOCK_PROCESS_CPUTIME_ID) - c0));
  return 0;
}
