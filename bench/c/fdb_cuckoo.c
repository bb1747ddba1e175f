/*
 * The C reference for bench/fdb.ts: the same table as src/table/fdb.ts (a
 * bucketized cuckoo hash, 4 slots of [bd << 16 | macHi, macLo, value, flags]
 * per 64-byte bucket, m * 2^k buckets indexed by the same 32-bit multiply-high,
 * the same hash functions and seed), filled with the same entries, asked the
 * same keys.
 *
 * Input (binary, little endian), written by bench/fdb.ts:
 *   u32 magic 0x46444231, u32 entries, u32 keys, u32 m, u32 k, u32 hash seed
 *   entries x (u32 bd, u32 macHi, u32 macLo, i32 value)
 *   keys x (u32 bd, u32 macHi, u32 macLo)
 * Output: one JSON line {"checksum":...,"bytes":...}, then one JSON line per
 * command on stdin: batch SECONDS | single SECONDS | quit.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int32_t *t;
static uint32_t nb, m, shift;
static uint32_t rnd = 0x2545f491u;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t seed;

static inline uint32_t hash1(uint32_t k1, uint32_t k2) { return ((k2 ^ seed) * 0x9e3779b1u) ^ (k1 * 0x85ebca6bu); }
static inline uint32_t hash2(uint32_t h) {
  h = (h ^ (h >> 13)) * 0x5bd1e995u;
  return h ^ (h >> 15);
}
static inline uint32_t fastrange(uint32_t h) { return ((h >> shift) * m) >> 4; }
static inline uint32_t other(uint32_t h, uint32_t b1) {
  uint32_t b2 = fastrange(hash2(h));
  return b2 != b1 ? b2 : (b1 + 1 == nb ? 0 : b1 + 1);
}

static inline int32_t lookup(uint32_t bd, uint32_t hi, uint32_t lo) {
  int32_t k1 = (int32_t)((bd << 16) | hi), k2 = (int32_t)lo;
  uint32_t h = hash1((uint32_t)k1, (uint32_t)k2);
  uint32_t b1 = fastrange(h);
  const int32_t *o = &t[(size_t)b1 * 16];
  for (int s = 0; s < 4; s++) if (o[4 * s] == k1 && o[4 * s + 1] == k2) return o[4 * s + 2];
  o = &t[(size_t)other(h, b1) * 16];
  for (int s = 0; s < 4; s++) if (o[4 * s] == k1 && o[4 * s + 1] == k2) return o[4 * s + 2];
  return -1;
}

__attribute__((noinline)) static int32_t lookup_one(uint32_t bd, uint32_t hi, uint32_t lo) { return lookup(bd, hi, lo); }

static int place_in(uint32_t b, int32_t *e) {
  int32_t *o = &t[(size_t)b * 16];
  for (int s = 0; s < 4; s++) {
    if (o[4 * s + 3] == 0) { memcpy(&o[4 * s], e, 16); return 1; }
  }
  return 0;
}

static int insert(int32_t *e) {
  uint32_t h = hash1((uint32_t)e[0], (uint32_t)e[1]);
  uint32_t b1 = fastrange(h);
  if (place_in(b1, e) || place_in(other(h, b1), e)) return 1;
  uint32_t b = b1;
  int32_t cur[4], victim[4];
  memcpy(cur, e, 16);
  for (int kick = 0; kick < 500; kick++) {
    rnd ^= rnd << 13; rnd ^= rnd >> 17; rnd ^= rnd << 5;
    int32_t *slot = &t[(size_t)b * 16 + 4 * (rnd & 3)];
    memcpy(victim, slot, 16);
    memcpy(slot, cur, 16);
    memcpy(cur, victim, 16);
    h = hash1((uint32_t)cur[0], (uint32_t)cur[1]);
    uint32_t vb1 = fastrange(h);
    b = vb1 == b ? other(h, vb1) : vb1;
    if (place_in(b, cur)) return 1;
  }
  return 0;
}

static uint32_t *rd(FILE *f, size_t words) {
  uint32_t *p = malloc(words * 4 + 4);
  if (fread(p, 4, words, f) != words) { fprintf(stderr, "fdb_cuckoo: short input\n"); exit(1); }
  return p;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: fdb_cuckoo INPUT < commands\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  uint32_t *h = rd(f, 6);
  if (h[0] != 0x46444231u) { fprintf(stderr, "fdb_cuckoo: bad magic\n"); return 1; }
  uint32_t ne = h[1], nk = h[2];
  m = h[3];
  shift = 28 - h[4];
  nb = m << h[4];
  seed = h[5];
  uint32_t *ent = rd(f, (size_t)ne * 4);
  uint32_t *keys = rd(f, (size_t)nk * 3);
  fclose(f);
  /* Three arrays like the JavaScript side's lookupBatch arguments. */
  uint32_t *kb = malloc(4 * (size_t)nk), *kh = malloc(4 * (size_t)nk), *kl = malloc(4 * (size_t)nk);
  for (uint32_t i = 0; i < nk; i++) { kb[i] = keys[3 * i]; kh[i] = keys[3 * i + 1]; kl[i] = keys[3 * i + 2]; }

  t = malloc((size_t)nb * 64);
  for (size_t i = 0; i < (size_t)nb * 4; i++) { t[4 * i] = -1; t[4 * i + 1] = 0; t[4 * i + 2] = -1; t[4 * i + 3] = 0; }
  for (uint32_t i = 0; i < ne; i++) {
    int32_t e[4] = {(int32_t)((ent[4 * i] << 16) | ent[4 * i + 1]), (int32_t)ent[4 * i + 2], (int32_t)ent[4 * i + 3], 1};
    if (!insert(e)) { fprintf(stderr, "fdb_cuckoo: table too full at entry %u\n", i); return 1; }
  }
  int32_t *out = malloc(4 * (size_t)nk);
  for (uint32_t i = 0; i < nk; i++) out[i] = lookup(kb[i], kh[i], kl[i]);
  uint32_t sum = 0;
  for (uint32_t i = 0; i < nk; i++) sum = sum * 31u + (uint32_t)out[i];
  printf("{\"checksum\":%u,\"bytes\":%zu}\n", sum, (size_t)nb * 64);
  fflush(stdout);

  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[16];
    double sec = 0.3;
    if (sscanf(line, "%15s %lf", cmd, &sec) < 1 || strcmp(cmd, "quit") == 0) break;
    double t0 = now(), el;
    uint64_t done = 0;
    if (strcmp(cmd, "batch") == 0) {
      do {
        for (uint32_t i = 0; i < nk; i++) out[i] = lookup(kb[i], kh[i], kl[i]);
        done += nk;
        el = now() - t0;
      } while (el < sec);
    } else if (strcmp(cmd, "single") == 0) {
      volatile int32_t sink = 0;
      do {
        int32_t x = 0;
        for (uint32_t i = 0; i < nk; i++) x ^= lookup_one(kb[i], kh[i], kl[i]);
        sink ^= x;
        done += nk;
        el = now() - t0;
      } while (el < sec);
      (void)sink;
    } else {
      printf("{\"error\":\"unknown command\"}\n");
      fflush(stdout);
      continue;
    }
    printf("{\"per_s\":%.0f}\n", done / el);
    fflush(stdout);
  }
  return 0;
}
