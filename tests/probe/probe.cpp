// A static probe copied into test guests: each subcommand attempts one thing a guest must not be
// able to do and prints "ok" if it succeeded, or the errno name if it failed. Exit 0 either way;
// the test reads the verdict.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int report(long rc) {
  if (rc >= 0) {
    std::puts("ok");
  } else {
    std::puts(strerrorname_np(errno));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(
        "usage: probe init_module|finit_module|kexec|mknod|mount|settime|swapon|"
        "fssetxattr|open_by_handle|unshare_user|unshare_net|bpf|tiocsti|chroot_escape|ping ADDR\n",
        stderr);
    return 2;
  }
  const char* what = argv[1];
  if (!std::strcmp(what, "init_module")) return report(syscall(SYS_init_module, nullptr, 0, ""));
  if (!std::strcmp(what, "finit_module")) return report(syscall(SYS_finit_module, 0, "", 0));
  if (!std::strcmp(what, "kexec")) return report(syscall(SYS_kexec_load, 0, 0, nullptr, 0));
  if (!std::strcmp(what, "mknod")) {
    return report(mknod("/tmp/probe-sda", S_IFBLK | 0600, makedev(8, 0)));
  }
  if (!std::strcmp(what, "mount")) return report(mount("none", "/mnt", "tmpfs", 0, nullptr));
  if (!std::strcmp(what, "settime")) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return report(clock_settime(CLOCK_REALTIME, &ts));
  }
  if (!std::strcmp(what, "swapon")) return report(swapon("/tmp/swap", 0));
  if (!std::strcmp(what, "fssetxattr")) {
    // Rewrites the root directory's attributes with project id 0 (linux/fs.h's struct fsxattr
    // and FS_IOC_FSGETXATTR/FSSETXATTR, spelled out: that header clashes with sys/mount.h).
    struct {
      unsigned int xflags, extsize, nextents, projid, cowextsize;
      unsigned char pad[8];
    } fa{};
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    if (fd < 0 || ioctl(fd, _IOR('X', 31, fa), &fa) != 0) return report(-1);
    fa.projid = 0;
    return report(ioctl(fd, _IOW('X', 32, fa), &fa));
  }
  if (!std::strcmp(what, "open_by_handle")) {
    struct {
      unsigned int bytes;
      int type;
      unsigned char h[8];
    } fh{8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
    return report(syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY));
  }
  if (!std::strcmp(what, "unshare_user")) return report(unshare(CLONE_NEWUSER));
  if (!std::strcmp(what, "unshare_net")) return report(unshare(CLONE_NEWNET));
  if (!std::strcmp(what, "bpf")) return report(syscall(SYS_bpf, 0, nullptr, 0));
  if (!std::strcmp(what, "tiocsti")) {
    char c = 'x';
    return report(ioctl(0, TIOCSTI, &c));
  }
  if (!std::strcmp(what, "chroot_escape")) {
    // The classic chroot escape: chroot into a subdirectory, then walk up with "..".
    mkdir("/tmp/esc", 0700);
    if (chroot("/tmp/esc") != 0) return report(-1);
    for (int i = 0; i < 64; ++i) {
      if (chdir("..") != 0) break;
    }
    chroot(".");
    // The host's filesystem would have /proc/1/root pointing elsewhere; look for a marker the test
    // created on the host.
    return report(access(argc > 2 ? argv[2] : "/nonexistent-marker", F_OK));
  }
  if (!std::strcmp(what, "ping") && argc > 2) {
    // An ICMP echo over an unprivileged ICMP socket (what iputils' ping uses without
    // CAP_NET_RAW); allowed by net.ipv4.ping_group_range. Prints "ok" on a reply.
    int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    if (s < 0) return report(-1);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) return 2;
    icmphdr echo{};
    echo.type = ICMP_ECHO;
    echo.un.echo.sequence = htons(1);
    timeval tv{5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (sendto(s, &echo, sizeof echo, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
      return report(-1);
    }
    char buf[256];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 0) return report(-1);
    auto* reply = reinterpret_cast<icmphdr*>(buf);
    if (reply->type != ICMP_ECHOREPLY) {
      std::puts("unexpected reply");
      return 0;
    }
    return report(0);
  }
  // Resource probes (limits): fill MIB touches MIB MiB of anonymous memory and prints "ok" if it
  // was not killed; alloc MIB maps MIB MiB at once and prints ok or the errno name; burn SECONDS
  // spins for SECONDS of wall time and prints "cpu SECONDS_USED wall SECONDS"; forkbomb forks
  // sleeping children until fork fails and prints "forked N ERRNO".
  if (!std::strcmp(what, "fill") && argc > 2) {
    size_t mib = std::strtoul(argv[2], nullptr, 10);
    for (size_t i = 0; i < mib; ++i) {
      void* p = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return report(-1);
      std::memset(p, 1, 1 << 20);
    }
    return report(0);
  }
  if (!std::strcmp(what, "alloc") && argc > 2) {
    size_t mib = std::strtoul(argv[2], nullptr, 10);
    void* p = mmap(nullptr, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return report(p == MAP_FAILED ? -1 : 0);
  }
  if (!std::strcmp(what, "burn") && argc > 2) {
    double seconds = std::strtod(argv[2], nullptr);
    timespec start{};
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile unsigned long x = 0;
    double wall = 0;
    do {
      for (int i = 0; i < 100000; ++i) x = x + i;
      clock_gettime(CLOCK_MONOTONIC, &now);
      wall = static_cast<double>(now.tv_sec - start.tv_sec) +
             static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
    } while (wall < seconds);
    timespec cpu{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    std::printf("cpu %.3f wall %.3f\n",
                static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9, wall);
    return 0;
  }
  if (!std::strcmp(what, "forkbomb")) {
    setpgid(0, 0);  // a group of its own: the cleanup below must reach nothing else
    int n = 0;
    int err = 0;
    for (int i = 0; i < 100000; ++i) {
      pid_t pid = fork();
      if (pid < 0) {
        err = errno;
        break;
      }
      if (pid == 0) {
        pause();
        _exit(0);
      }
      ++n;
    }
    std::printf("forked %d %s\n", n, err != 0 ? strerrorname_np(err) : "none");
    std::fflush(stdout);
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);  // the children
    while (wait(nullptr) > 0) {
    }
    return 0;
  }
  std::fprintf(stderr, "probe: unknown test %s\n", what);
  return 2;
}
