/*
 * C reference for `npm run bench -- io`: UDP sendmmsg.
 * Run inside the benchmark's namespace (ip netns exec NS ...).
 *
 *   io_udp_send SRC_IP DST_IP DST_PORT PAYLOAD BATCHES ROUNDS [GSO]
 *
 * Per round: BATCHES calls of sendmmsg with 256 datagrams of PAYLOAD bytes,
 * each message with its own destination sockaddr (as the addon builds them),
 * from 256 rotating 2048-byte buffers. With GSO = k > 1, each message carries
 * k datagrams instead (an iovec of k buffers and a UDP_SEGMENT cmsg), as the
 * addon coalesces runs to one destination. Prints one line per round:
 * datagrams sent, wall ns, process CPU ns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define SLOT 2048

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
/* CPU time of the process: what the loop costs, whatever else runs on the machine. */
static uint64_t cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* The GSO variant: BATCH datagrams per sendmmsg call as BATCH/gso messages. */
static int send_gso(char **argv, int payload, int batches, int rounds, int gso) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  inet_pton(AF_INET, argv[1], &src.sin_addr);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
    perror("bind");
    return 1;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &dst.sin_addr);
  static uint8_t slots[BATCH][SLOT];
  memset(slots, 0xab, sizeof slots);
  int nmsg = BATCH / gso;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in names[BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctl[BATCH];
  for (int r = 0; r < rounds; r++) {
    long sent = 0;
    uint64_t t0 = now_ns(), c0 = cpu_ns();
    for (int b = 0; b < batches; b++) {
      memset(msgs, 0, sizeof msgs);
      for (int m = 0; m < nmsg; m++) {
        for (int k = 0; k < gso; k++) {
          iov[m * gso + k].iov_base = slots[m * gso + k] + 130;
          iov[m * gso + k].iov_len = (size_t)payload;
        }
        names[m] = dst;
        struct msghdr *h = &msgs[m].msg_hdr;
        h->msg_iov = &iov[m * gso];
        h->msg_iovlen = (size_t)gso;
        h->msg_name = &names[m];
        h->msg_namelen = sizeof names[m];
        h->msg_control = ctl[m].buf;
        h->msg_controllen = sizeof ctl[m].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = (uint16_t)payload;
        memcpy(CMSG_DATA(c), &seg, sizeof seg);
      }
      int done = 0;
      while (done < nmsg) {
        int n = sendmmsg(fd, msgs + done, (unsigned)(nmsg - done), 0);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (b == 0 && r == 0) perror("sendmmsg");
          break;
        }
        done += n;
      }
      sent += (long)done * gso;
    }
    uint64_t t1 = now_ns(), c1 = cpu_ns();
    printf("%ld %llu %llu\n", sent, (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0));
    fflush(stdout);
  }
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: %s SRC_IP DST_IP DST_PORT PAYLOAD BATCHES ROUNDS [GSO]\n", argv[0]);
    return 2;
  }
  int payload = atoi(argv[4]), batches = atoi(argv[5]), rounds = atoi(argv[6]);
  int gso = argc == 8 ? atoi(argv[7]) : 0;
  if (gso > 1) return send_gso(argv, payload, batches, rounds, gso);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  inet_pton(AF_INET, argv[1], &src.sin_addr);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
    perror("bind");
    return 1;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &dst.sin_addr);

  static uint8_t slots[BATCH][SLOT];
  memset(slots, 0xab, sizeof slots);
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in names[BATCH];
  for (int r = 0; r < rounds; r++) {
    long sent = 0;
    uint64_t t0 = now_ns(), c0 = cpu_ns();
    for (int b = 0; b < batches; b++) {
      memset(msgs, 0, sizeof msgs);
      for (int i = 0; i < BATCH; i++) {
        names[i] = dst;
        iov[i].iov_base = slots[i] + 130;
        iov[i].iov_len = (size_t)payload;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &names[i];
        msgs[i].msg_hdr.msg_namelen = sizeof names[i];
      }
      int done = 0;
      while (done < BATCH) {
        int n = sendmmsg(fd, msgs + done, (unsigned)(BATCH - done), 0);
        if (n < 0) {
          if (errno == EINTR) continue;
          break; /* EAGAIN/ENOBUFS: drop the rest, as the addon returns them */
        }
        done += n;
      }
      sent += done;
    }
    uint64_t t1 = now_ns(), c1 = cpu_ns();
    printf("%ld %llu %llu\n", sent, (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0));
    fflush(stdout);
  }
  close(fd);
  return 0;
}
