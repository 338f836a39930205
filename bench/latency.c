// How late a host process wakes up: it sleeps PERIOD microseconds at a time (1 ms by default) for
// SECONDS seconds and records, for every wake-up, how much later than asked it ran again. That
// delay is the time the scheduler kept it waiting (plus the timer's own), which is what a host's
// services feel when guests keep every CPU busy. Timer slack is set to 1 ns so that the figures
// are the scheduler's, not the 50 µs a normal process is allowed to be late by.
//
//   latency [SECONDS [PERIOD_US]]
//
// Prints one line: the number of wake-ups and the median, 90th, 99th and 99.9th percentile and
// the maximum of the delay, in microseconds.
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_value(const void* a, const void* b) {
  long long x = *(const long long*)a;
  long long y = *(const long long*)b;
  return (x > y) - (x < y);
}

static double percentile_us(const long long* sorted, size_t n, double p) {
  size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
  return (double)sorted[i] / 1000.0;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? strtod(argv[1], NULL) : 10;
  long period_us = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
  if (seconds <= 0 || period_us <= 0) {
    fputs("usage: latency [SECONDS [PERIOD_US]]\n", stderr);
    return 2;
  }
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  size_t cap = (size_t)(seconds * 1e6 / (double)period_us) + 16;
  long long* delay = malloc(cap * sizeof *delay);
  if (delay == NULL) return 1;
  size_t n = 0;
  long long end = now_ns() + (long long)(seconds * 1e9);
  struct timespec req = {period_us / 1000000, (period_us % 1000000) * 1000};
  while (n < cap) {
    long long asked = now_ns() + period_us * 1000LL;
    clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
    long long woke = now_ns();
    delay[n++] = woke > asked ? woke - asked : 0;
    if (woke >= end) break;
  }
  qsort(delay, n, sizeof *delay, by_value);
  printf("wakeups %zu  p50 %.0f us  p90 %.0f us  p99 %.0f us  p99.9 %.0f us  max %.0f us\n", n,
         percentile_us(delay, n, 50), percentile_us(delay, n, 90), percentile_us(delay, n, 99),
         percentile_us(delay, n, 99.9), (double)delay[n - 1] / 1000.0);
  free(delay);
  return 0;
}
