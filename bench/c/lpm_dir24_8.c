/*
 * The C reference for bench/lpm.ts: a DIR-24-8 longest-prefix match in the
 * style of DPDK rte_lpm (IPv4: a 2^24-entry table of 32-bit entries plus
 * 256-entry groups for longer prefixes; IPv6: the same 24-bit first level and
 * then one 256-entry group per further byte, as rte_lpm6). Entries keep the
 * prefix depth so that add and delete work in place; a rules hash finds the
 * parent prefix on delete.
 *
 * Input (binary, little endian), written by bench/lpm.ts:
 *   u32 magic 0x4c504d31, u32 width (32|128), u32 prefixes, u32 keys per set,
 *   u32 key sets, u32 updates
 *   prefixes x (W words), prefixes x u32 length, prefixes x i32 value
 *   key sets x keys x (W words)          W = width / 32
 *   updates x u32 prefix index           (delete all of them, then add back)
 * Output: one JSON line with the build time, the bytes and a checksum of the
 * results per key set (bench/lpm.ts compares them with its own), then one JSON
 * line per command read from stdin (see main).
 *
 * Entry: bit 31 valid, bit 30 group (extended), bits 22..29 depth, bits 0..21
 * value or group index (values must be < 2^22 here).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALID 0x80000000u
#define GROUP 0x40000000u
#define DEPTH_SHIFT 22
#define VALUE_MASK 0x3fffffu
#define ENTRY(v, d) (VALID | ((uint32_t)(d) << DEPTH_SHIFT) | (uint32_t)(v))
#define DEPTH(e) (((e) >> DEPTH_SHIFT) & 0xff)

static int W;             /* words per key */
static int WIDTH;         /* bits per key */
static uint32_t *tbl24;   /* 2^24 entries */
static uint32_t *tbl8;    /* groups of 256 */
static uint32_t n8, cap8;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Byte i (0 = first) of a key of W words. */
static inline uint32_t key_byte(const uint32_t *k, int i) { return (k[i >> 2] >> (24 - 8 * (i & 3))) & 255; }

/* ---- rules: (key, length) -> value, open addressing ---- */
static uint32_t *rkey; /* W words per slot */
static int32_t *rlen;  /* -1 empty, -2 deleted */
static int32_t *rval;
static uint32_t rcap;

static uint32_t rhash(const uint32_t *k, int len) {
  uint32_t h = 0x9e3779b9u ^ (uint32_t)len;
  for (int i = 0; i < W; i++) { h ^= k[i]; h *= 0x85ebca6bu; h ^= h >> 13; }
  return h;
}
static void masked(const uint32_t *k, int len, uint32_t *out) {
  for (int i = 0; i < W; i++) {
    int keep = len - 32 * i;
    out[i] = keep >= 32 ? k[i] : keep <= 0 ? 0 : k[i] & (0xffffffffu << (32 - keep));
  }
}
static int64_t rfind(const uint32_t *k, int len) {
  for (uint32_t i = rhash(k, len) & (rcap - 1);; i = (i + 1) & (rcap - 1)) {
    if (rlen[i] == -1) return -1;
    if (rlen[i] == len && memcmp(&rkey[i * W], k, 4 * W) == 0) return i;
  }
}
static void rput(const uint32_t *k, int len, int32_t v) {
  int64_t f = rfind(k, len);
  if (f >= 0) { rval[f] = v; return; }
  for (uint32_t i = rhash(k, len) & (rcap - 1);; i = (i + 1) & (rcap - 1)) {
    if (rlen[i] < 0) { memcpy(&rkey[i * W], k, 4 * W); rlen[i] = len; rval[i] = v; return; }
  }
}
static int32_t rdel(const uint32_t *k, int len) {
  int64_t f = rfind(k, len);
  if (f < 0) return -1;
  rlen[f] = -2;
  return rval[f];
}

/* ---- the table ---- */
static uint32_t new_group(uint32_t fill) {
  if (n8 == cap8) {
    cap8 = cap8 ? cap8 * 2 : 1024;
    tbl8 = realloc(tbl8, (size_t)cap8 * 256 * 4);
  }
  for (int i = 0; i < 256; i++) tbl8[(size_t)n8 * 256 + i] = fill;
  return n8++;
}

/* Sets entries [i, i + n) of table t to (v, len) where the current depth is <= len (add) or
   == len (delete: v/len are the parent's, match = len of the deleted prefix). */
static void paint(uint32_t *t, size_t i, size_t n, uint32_t entry, int match, int del) {
  for (size_t j = i; j < i + n; j++) {
    uint32_t e = t[j];
    if (e & GROUP) {
      paint(&tbl8[(size_t)(e & VALUE_MASK) * 256], 0, 256, entry, match, del);
    } else if (del ? ((e & VALID) && (int)DEPTH(e) == match) : (!(e & VALID) || (int)DEPTH(e) <= match)) {
      t[j] = entry;
    }
  }
}

/* Finds the table that holds the level of `len`: returns its group, or -1 for
   tbl24, or -2 when a group is missing and `make` is 0. Groups are created on
   the way (tbl8 may move, so tables are named by index, not pointer). */
static int64_t level_for(const uint32_t *k, int len, size_t *slot, int *cut, int make) {
  int64_t g = -1;
  size_t s = ((size_t)key_byte(k, 0) << 16) | (key_byte(k, 1) << 8) | key_byte(k, 2);
  int c = 24;
  while (len > c) {
    uint32_t e = (g < 0 ? tbl24 : &tbl8[(size_t)g * 256])[s];
    if (!(e & GROUP)) {
      if (!make) return -2;
      uint32_t ng = new_group(e);
      e = GROUP | ng;
      (g < 0 ? tbl24 : &tbl8[(size_t)g * 256])[s] = e;
    }
    g = e & VALUE_MASK;
    s = key_byte(k, c / 8);
    c += 8;
  }
  *slot = s;
  *cut = c;
  return g;
}

static uint32_t *table(int64_t g) { return g < 0 ? tbl24 : &tbl8[(size_t)g * 256]; }

static void add(const uint32_t *k, int len, int32_t v) {
  rput(k, len, v);
  size_t s;
  int cut;
  uint32_t *t = table(level_for(k, len, &s, &cut, 1));
  size_t n = (size_t)1 << (cut - len);
  s &= ~(n - 1);
  paint(t, s, n, ENTRY(v, len), len, 0);
}

static void del(const uint32_t *k, int len) {
  if (rdel(k, len) < 0) return;
  uint32_t parent = 0, m[4];
  for (int l = len - 1; l >= 0; l--) {
    masked(k, l, m);
    int64_t f = rfind(m, l);
    if (f >= 0) { parent = ENTRY(rval[f], l); break; }
  }
  size_t s;
  int cut;
  int64_t g = level_for(k, len, &s, &cut, 0);
  if (g == -2) return;
  uint32_t *t = table(g);
  size_t n = (size_t)1 << (cut - len);
  s &= ~(n - 1);
  paint(t, s, n, parent, len, 1);
}

static inline int32_t lookup4(uint32_t a) {
  uint32_t e = tbl24[a >> 8];
  if (e & GROUP) e = tbl8[(size_t)(e & VALUE_MASK) * 256 + (a & 255)];
  return (e & VALID) ? (int32_t)(e & VALUE_MASK) : -1;
}

static inline int32_t lookup6(const uint32_t *k) {
  uint32_t w = k[0];
  uint32_t e = tbl24[w >> 8];
  int i = 3;
  while (e & GROUP) {
    e = tbl8[(size_t)(e & VALUE_MASK) * 256 + key_byte(k, i)];
    i++;
  }
  return (e & VALID) ? (int32_t)(e & VALUE_MASK) : -1;
}

__attribute__((noinline)) static int32_t lookup_one(const uint32_t *k) { return W == 1 ? lookup4(k[0]) : lookup6(k); }

static void batch(const uint32_t *keys, int32_t *out, uint32_t n) {
  if (W == 1) {
    for (uint32_t i = 0; i < n; i++) out[i] = lookup4(keys[i]);
  } else {
    for (uint32_t i = 0; i < n; i++) out[i] = lookup6(&keys[(size_t)4 * i]);
  }
}

static uint32_t *rd(FILE *f, size_t words) {
  uint32_t *p = malloc(words * 4 + 4);
  if (fread(p, 4, words, f) != words) { fprintf(stderr, "lpm_dir24_8: short input\n"); exit(1); }
  return p;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: lpm_dir24_8 INPUT [DEFAULT_SECONDS] < commands\n"); return 2; }
  double secs = argc > 2 ? atof(argv[2]) : 1.0;
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  uint32_t *h = rd(f, 6);
  if (h[0] != 0x4c504d31u) { fprintf(stderr, "lpm_dir24_8: bad magic\n"); return 1; }
  WIDTH = (int)h[1];
  W = WIDTH / 32;
  uint32_t np = h[2], nk = h[3], ns = h[4], nu = h[5];
  uint32_t *pk = rd(f, (size_t)np * W);
  uint32_t *pl = rd(f, np);
  int32_t *pv = (int32_t *)rd(f, np);
  uint32_t **keys = malloc(sizeof(uint32_t *) * (ns ? ns : 1));
  for (uint32_t s = 0; s < ns; s++) keys[s] = rd(f, (size_t)nk * W);
  uint32_t *upd = rd(f, nu);
  fclose(f);

  rcap = 1;
  while (rcap < 2 * np + 16) rcap *= 2;
  rkey = calloc((size_t)rcap * W, 4);
  rlen = malloc((size_t)rcap * 4);
  rval = malloc((size_t)rcap * 4);
  for (uint32_t i = 0; i < rcap; i++) rlen[i] = -1;

  /* Build: shortest prefixes first (a sort by length), as rte_lpm users do for bulk loads. */
  double t0 = now();
  tbl24 = calloc((size_t)1 << 24, 4);
  uint32_t cnt[130] = {0};
  for (uint32_t i = 0; i < np; i++) cnt[pl[i] + 1]++;
  for (int i = 1; i < 130; i++) cnt[i] += cnt[i - 1];
  uint32_t *order = malloc(4 * (size_t)np + 4);
  for (uint32_t i = 0; i < np; i++) order[cnt[pl[i]]++] = i;
  for (uint32_t j = 0; j < np; j++) {
    uint32_t i = order[j];
    add(&pk[(size_t)i * W], (int)pl[i], pv[i]);
  }
  double build = now() - t0;
  size_t bytes = ((size_t)1 << 24) * 4 + (size_t)n8 * 256 * 4;
  size_t rule_bytes = (size_t)rcap * (4 * W + 8);

  int32_t *out = malloc(4 * (size_t)nk + 4);
  printf("{\"width\":%d,\"build_s\":%.6f,\"bytes\":%zu,\"rule_bytes\":%zu,\"groups\":%u,\"checksums\":[", WIDTH, build, bytes, rule_bytes, n8);
  for (uint32_t s = 0; s < ns; s++) {
    batch(keys[s], out, nk);
    uint32_t sum = 0;
    for (uint32_t i = 0; i < nk; i++) sum = sum * 31u + (uint32_t)out[i];
    printf("%s%u", s ? "," : "", sum);
  }
  printf("]}\n");
  fflush(stdout);

  /* Commands on stdin, one JSON line each on stdout, so that the benchmark can
     interleave C and JavaScript measurements under the same machine load:
       batch SET SECONDS | single SET SECONDS | updates | quit */
  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[16];
    unsigned set = 0;
    double sec = secs;
    int got = sscanf(line, "%15s %u %lf", cmd, &set, &sec);
    if (got < 1 || strcmp(cmd, "quit") == 0) break;
    if (set >= ns && strcmp(cmd, "updates") != 0) { printf("{\"error\":\"no such key set\"}\n"); fflush(stdout); continue; }
    if (strcmp(cmd, "batch") == 0) {
      double t = now(), el;
      uint64_t done = 0;
      do { batch(keys[set], out, nk); done += nk; el = now() - t; } while (el < sec);
      printf("{\"per_s\":%.0f}\n", done / el);
    } else if (strcmp(cmd, "single") == 0) {
      /* one call per key through a non-inlined function */
      double t = now(), el;
      uint64_t done = 0;
      volatile int32_t sink = 0;
      do {
        int32_t x = 0;
        for (uint32_t i = 0; i < nk; i++) x ^= lookup_one(&keys[set][(size_t)i * W]);
        sink ^= x;
        done += nk;
        el = now() - t;
      } while (el < sec);
      (void)sink;
      printf("{\"per_s\":%.0f}\n", done / el);
    } else if (strcmp(cmd, "updates") == 0) {
      /* delete every listed prefix, then add them back; the table must answer as before */
      double t0u = now();
      for (uint32_t j = 0; j < nu; j++) del(&pk[(size_t)upd[j] * W], (int)pl[upd[j]]);
      for (uint32_t j = 0; j < nu; j++) add(&pk[(size_t)upd[j] * W], (int)pl[upd[j]], pv[upd[j]]);
      double ut = now() - t0u;
      uint32_t sum = 0;
      if (ns > 0) {
        batch(keys[0], out, nk);
        for (uint32_t i = 0; i < nk; i++) sum = sum * 31u + (uint32_t)out[i];
      }
      printf("{\"per_s\":%.0f,\"checksum\":%u}\n", nu ? 2.0 * nu / ut : 0.0, sum);
    } else {
      printf("{\"error\":\"unknown command\"}\n");
    }
    fflush(stdout);
  }
  return 0;
}
