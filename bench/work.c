/* Work for the "inside the guest against the host" figure of bench/compare.sh.
 *
 *   work cpu N       N rounds of integer arithmetic (xorshift64*), no system call
 *   work getppid N   N getppid() system calls: the cost of entering the kernel (and seccomp)
 *   work open N      N open/read/close of /etc/passwd: path lookup and file system calls
 *
 * Prints the elapsed time of the loop alone, in nanoseconds (CLOCK_MONOTONIC), so that starting
 * the program (exec, or joining a guest) is not counted. Built static so that the same binary
 * runs on the host and in a busybox guest. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s cpu|getppid|open N\n", argv[0]);
    return 2;
  }
  long n = strtol(argv[2], NULL, 10);
  if (n <= 0) {
    fprintf(stderr, "%s: bad count %s\n", argv[0], argv[2]);
    return 2;
  }
  uint64_t t0 = now_ns(), sink = 0;
  if (strcmp(argv[1], "cpu") == 0) {
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < n; i++) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      sink += x * 2685821657736338717ull;
    }
  } else if (strcmp(argv[1], "getppid") == 0) {
    for (long i = 0; i < n; i++) sink += (uint64_t)syscall(SYS_getppid);
  } else if (strcmp(argv[1], "open") == 0) {
    char buf[256];
    for (long i = 0; i < n; i++) {
      int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        perror("open /etc/passwd");
        return 1;
      }
      sink += (uint64_t)read(fd, buf, sizeof buf);
      close(fd);
    }
  } else {
    fprintf(stderr, "%s: unknown work %s\n", argv[0], argv[1]);
    return 2;
  }
  uint64_t t1 = now_ns();
  /* sink keeps the loops from being optimised away */
  printf("%llu %llu\n", (unsigned long long)(t1 - t0), (unsigned long long)(sink & 1));
  return 0;
}
