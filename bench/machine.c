// What the basic operations every runtime depends on cost on this machine: a page fault on fresh
// anonymous memory, a trivial system call, fork + exit + wait of a small process, fork + exec of
// /bin/true. Printed by compare.sh with its figures: on a virtual machine whose page tables are
// kept by the hypervisor a page fault can cost a hundred times what it costs on bare metal, and
// every runtime's start is then mostly page faults.
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(void) {
  const size_t pages = 20000;
  char* p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  double a = now_us();
  for (size_t i = 0; i < pages; i++) p[i * 4096] = 1;
  double fault = (now_us() - a) / pages;
  munmap(p, pages * 4096);
  a = now_us();
  for (int i = 0; i < 2000; i++) getppid();
  double sys = (now_us() - a) / 2000;
  const int n = 50;
  a = now_us();
  for (int i = 0; i < n; i++) {
    pid_t c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
  }
  double fork_us = (now_us() - a) / n;
  a = now_us();
  for (int i = 0; i < n; i++) {
    pid_t c = fork();
    if (c == 0) {
      execl("/bin/true", "true", (char*)NULL);
      _exit(127);
    }
    waitpid(c, NULL, 0);
  }
  double exec_us = (now_us() - a) / n;
  printf("page fault %.2f us, getppid %.2f us, fork+exit %.2f ms, fork+exec /bin/true %.2f ms\n",
         fault, sys, fork_us / 1000, exec_us / 1000);
  return 0;
}
