/*
 * What the C prototypes of bench/c (tunnel_gso.c, sock_fwd.c) share: a stop
 * flag for SIGTERM/SIGINT, clocks, a fatal error, and the virtio-net header's
 * little-endian 16-bit fields.
 */
#ifndef VTEP_BENCH_PROTO_H
#define VTEP_BENCH_PROTO_H
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }
static uint64_t ns_of(clockid_t c) { struct timespec t; clock_gettime(c, &t); return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec; }
static void die(const char *w) { fprintf(stderr, "%s: %s\n", w, strerror(errno)); exit(1); }
static uint16_t g16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); } /* virtio LE */
static void p16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

#endif
