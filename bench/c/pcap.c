/*
 * C reference loops for the pcap benchmark (test/pcap/bench.ts): what a plain
 * C program does with the same little-endian pcap file, so that the
 * TypeScript reader and writer can be read as a ratio to it.
 *
 *   bench-pcap mem FILE PASSES      parse the file held in memory PASSES times
 *   bench-pcap stream FILE          read it with 1 MiB freads, parsing as it goes
 *   bench-pcap write FILE N LEN     write N records of LEN bytes through a 1 MiB buffer
 *
 * Prints: seconds packets bytes (bytes: sum of captured lengths, plus a
 * checksum of first bytes so the compiler cannot drop the loop).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Parses whole records in p[0..n); returns bytes consumed. */
static size_t parse(const uint8_t *p, size_t n, uint64_t *pkts, uint64_t *bytes, uint64_t *check) {
  size_t off = 0;
  while (off + 16 <= n) {
    uint32_t caplen = rd32(p + off + 8);
    if (caplen > 262144) {
      fprintf(stderr, "bad caplen %u\n", caplen);
      exit(1);
    }
    if (off + 16 + caplen > n) break;
    *pkts += 1;
    *bytes += caplen;
    *check += rd32(p + off) + rd32(p + off + 4) + rd32(p + off + 12) + (caplen ? p[off + 16] : 0);
    off += 16 + caplen;
  }
  return off;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  uint64_t pkts = 0, bytes = 0, check = 0;
  if (strcmp(argv[1], "mem") == 0) {
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size);
    if (fread(buf, 1, size, f) != (size_t)size) return 1;
    fclose(f);
    int passes = argc > 3 ? atoi(argv[3]) : 1;
    double t0 = now();
    for (int i = 0; i < passes; i++) parse(buf + 24, size - 24, &pkts, &bytes, &check);
    double t = now() - t0;
    printf("%.6f %llu %llu %llu\n", t / passes, (unsigned long long)(pkts / passes), (unsigned long long)(bytes / passes),
           (unsigned long long)check);
    return 0;
  }
  if (strcmp(argv[1], "stream") == 0) {
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    double t0 = now();
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 1;
    setvbuf(f, NULL, _IONBF, 0);
    size_t have = fread(buf, 1, 24, f), got;
    have = 0;
    while ((got = fread(buf + have, 1, cap - have, f)) > 0) {
      have += got;
      size_t used = parse(buf, have, &pkts, &bytes, &check);
      memmove(buf, buf + used, have - used);
      have -= used;
    }
    fclose(f);
    double t = now() - t0;
    printf("%.6f %llu %llu %llu\n", t, (unsigned long long)pkts, (unsigned long long)bytes, (unsigned long long)check);
    return 0;
  }
  if (strcmp(argv[1], "write") == 0 && argc > 4) {
    long n = atol(argv[3]);
    uint32_t len = (uint32_t)atoi(argv[4]);
    uint8_t *frame = malloc(len);
    for (uint32_t i = 0; i < len; i++) frame[i] = (uint8_t)(i * 7);
    double t0 = now();
    FILE *f = fopen(argv[2], "wb");
    if (!f) return 1;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 262144, 1};
    fwrite(hdr, 4, 6, f);
    for (long i = 0; i < n; i++) {
      uint32_t rec[4] = {1700000000 + (uint32_t)(i >> 10), (uint32_t)(i % 1000000), len, len};
      fwrite(rec, 4, 4, f);
      fwrite(frame, 1, len, f);
      pkts++;
      bytes += len;
    }
    fclose(f);
    double t = now() - t0;
    printf("%.6f %llu %llu 0\n", t, (unsigned long long)pkts, (unsigned long long)bytes);
    return 0;
  }
  return 2;
}
