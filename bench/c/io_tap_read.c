/*
 * C reference for `npm run bench -- io`: TAP batch read.
 * Run inside the benchmark's namespace (ip netns exec NS ...).
 *
 *   io_tap_read TAPNAME FRAMES ROUNDS FRAMELEN
 *
 * Creates its own TAP (IFF_TAP | IFF_NO_PI, non-blocking, up, tx queue of
 * FRAMES + 1024), then per round: fills the device queue with FRAMES frames
 * through an AF_PACKET socket (PACKET_QDISC_BYPASS, sendmmsg of 256), and
 * times draining it with a read() loop into 256 rotating 2048-byte slots at
 * the pool's headroom offset (130), as readBatch does. Prints one line per
 * round: frames, wall ns, process CPU ns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define SLOT 2048
#define HEADROOM 130

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
/* CPU time of the process: what the loop costs, whatever else runs on the machine. */
static uint64_t cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s TAPNAME FRAMES ROUNDS FRAMELEN\n", argv[0]);
    return 2;
  }
  const char *name = argv[1];
  int frames = atoi(argv[2]), rounds = atoi(argv[3]), flen = atoi(argv[4]);

  int tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (tap < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(tap, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  int ctl = socket(AF_INET, SOCK_DGRAM, 0);
  ifr.ifr_qlen = frames + 1024;
  if (ioctl(ctl, SIOCSIFTXQLEN, &ifr) < 0) die("SIOCSIFTXQLEN");
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS");

  int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (ps < 0) die("socket AF_PACKET");
  int one = 1;
  setsockopt(ps, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0;  /* send only */
  sll.sll_ifindex = (int)if_nametoindex(name);
  if (bind(ps, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind AF_PACKET");

  static uint8_t frame[SLOT];
  memset(frame, 0xab, sizeof frame);
  memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5", 14);
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = frame;
    iov[i].iov_len = (size_t)flen;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  static uint8_t slots[BATCH][SLOT];

  for (int r = 0; r < rounds; r++) {
    for (int sent = 0; sent < frames;) {
      int k = frames - sent < BATCH ? frames - sent : BATCH;
      int n = sendmmsg(ps, msgs, (unsigned)k, 0);
      if (n < 0) die("sendmmsg");
      sent += n;
    }
    uint64_t t0 = now_ns(), c0 = cpu_ns();
    long got = 0;
    unsigned s = 0;
    for (;;) {
      ssize_t n = read(tap, slots[s] + HEADROOM, SLOT - HEADROOM);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        die("read");
      }
      got++;
      s = (s + 1) % BATCH;
    }
    uint64_t t1 = now_ns(), c1 = cpu_ns();
    printf("%ld %llu %llu\n", got, (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0));
    fflush(stdout);
  }
  close(ps);
  close(ctl);
  close(tap);
  return 0;
}
