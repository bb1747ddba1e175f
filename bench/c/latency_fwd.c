/*
 * The latency floor for `npm run bench -- latency`: the smallest userspace
 * VXLAN VTEP that sleeps in epoll and moves one frame per system call, both
 * ways, as a wakeup-driven dataplane must at the least.
 *
 *   latency_fwd TAPNETNS TAPNAME LOCAL PEER VNI SECONDS
 *
 * Attaches to the persistent TAP TAPNAME in namespace TAPNETNS (a path),
 * returns to its own namespace for a UDP socket bound to LOCAL:4789, then
 * sleeps in epoll_wait on both. TAP readable: read() one frame, prepend an
 * 8-byte VXLAN header in place, sendto() PEER:4789, until EAGAIN. Socket
 * readable: recv() one datagram, check the VXLAN flags and VNI, write() the
 * inner frame to the TAP, until EAGAIN. Prints "start", and at the end one
 * line: frames_forwarded wall_ns cpu_ns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT 2048
#define HEADROOM 64
#define VXLAN_LEN 8
#define VXLAN_PORT 4789

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int tap_attach(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: latency_fwd TAPNETNS TAPNAME LOCAL PEER VNI SECONDS\n");
    return 2;
  }
  const int vni = atoi(argv[5]);
  const double seconds = atof(argv[6]);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int other = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (home < 0 || other < 0) die("open netns");
  if (setns(other, CLONE_NEWNET) < 0) die("setns tap");
  int tap = tap_attach(argv[2]);
  if (setns(home, CLONE_NEWNET) < 0) die("setns home");

  int us = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (us < 0) die("socket udp");
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(VXLAN_PORT)};
  if (inet_pton(AF_INET, argv[3], &src.sin_addr) != 1) die("LOCAL");
  if (bind(us, (struct sockaddr *)&src, sizeof src) < 0) die("bind udp");
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(VXLAN_PORT)};
  if (inet_pton(AF_INET, argv[4], &dst.sin_addr) != 1) die("PEER");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, tap, &ev) < 0) die("epoll tap");
  ev.data.u32 = 1;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, us, &ev) < 0) die("epoll udp");

  static uint8_t buf[HEADROOM + SLOT];
  printf("start\n");
  fflush(stdout);
  const uint64_t t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  const uint64_t end = t0 + (uint64_t)(seconds * 1e9);
  unsigned long long frames = 0;
  struct epoll_event got[2];
  for (;;) {
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (stop || now >= end) break;
    int left_ms = (int)((end - now) / 1000000u) + 1;
    int n = epoll_wait(ep, got, 2, left_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      if (got[i].data.u32 == 0) {
        /* Guest -> underlay: the frame lands after room for the VXLAN header. */
        for (;;) {
          ssize_t len = read(tap, buf + HEADROOM, SLOT);
          if (len < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            die("read tap");
          }
          uint8_t *h = buf + HEADROOM - VXLAN_LEN;
          h[0] = 0x08;
          h[1] = h[2] = h[3] = 0;
          h[4] = (uint8_t)(vni >> 16);
          h[5] = (uint8_t)(vni >> 8);
          h[6] = (uint8_t)vni;
          h[7] = 0;
          if (sendto(us, h, (size_t)len + VXLAN_LEN, 0, (struct sockaddr *)&dst, sizeof dst) >= 0) frames++;
        }
      } else {
        /* Underlay -> guest: a VXLAN datagram of our VNI, its inner frame written whole. */
        for (;;) {
          ssize_t len = recv(us, buf, sizeof buf, 0);
          if (len < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            die("recv udp");
          }
          if (len < VXLAN_LEN + 14 || (buf[0] & 0x08) == 0) continue;
          if ((((int)buf[4] << 16) | ((int)buf[5] << 8) | buf[6]) != vni) continue;
          if (write(tap, buf + VXLAN_LEN, (size_t)len - VXLAN_LEN) >= 0) frames++;
        }
      }
    }
  }
  const uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
  printf("%llu %llu %llu\n", frames, (unsigned long long)(t1 - t0), (unsigned long long)(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0));
  fflush(stdout);
  return 0;
}
