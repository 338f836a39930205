// A static probe copied into test guests: each subcommand attempts one thing a guest must not be
// able to do and prints "ok" if it succeeded, or the errno name if it failed. Exit 0 either way;
// the test reads the verdict.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

namespace {

int report(long rc) {
  if (rc >= 0) {
    std::puts("ok");
  } else {
    std::puts(strerrorname_np(errno));
  }
  return 0;
}

// Reads FILE and writes the same bytes back: a write that succeeds changes nothing, so a
// protection that is missing does no harm to the host running the test.
int rewrite(const char* path) {
  char buf[4096] = {};
  ssize_t n = 0;
  int r = open(path, O_RDONLY);
  if (r >= 0) {
    n = read(r, buf, sizeof buf);
    close(r);
  }
  if (n < 0) n = 0;
  int w = open(path, O_WRONLY);
  if (w < 0) return report(-1);
  if (n == 0) {
    buf[0] = '\n';
    n = 1;
  }
  return report(write(w, buf, static_cast<size_t>(n)));
}

// What st describes: "chr MAJ:MIN", "blk MAJ:MIN", "file", "dir" or "other".
std::string kind(const struct stat& st) {
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    return std::string(S_ISCHR(st.st_mode) ? "chr " : "blk ") + std::to_string(major(st.st_rdev)) +
           ":" + std::to_string(minor(st.st_rdev));
  }
  return S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other";
}

// What PATH is (kind above), or the errno name.
int describe(const char* path) {
  struct stat st {};
  if (stat(path, &st) != 0) return report(-1);
  std::puts(kind(st).c_str());
  return 0;
}

// Opens PATH for writing and closes it again without writing a byte: for files where a write acts
// on the host (/proc/sysrq-trigger), opening is the whole check. Prints "ok " and what the open
// reached ("ok chr 1:3" for the null device a masked file is), or the errno name.
int open_write(const char* path) {
  int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return report(-1);
  struct stat st {};
  int rc = fstat(fd, &st);
  int err = errno;
  close(fd);
  errno = err;
  if (rc != 0) return report(-1);
  std::printf("ok %s\n", kind(st).c_str());
  return 0;
}

// Reads PATH, at most 64 KiB of it: prints "read N" (the bytes read) or the errno name.
int read_bytes(const char* path) {
  int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return report(-1);
  char buf[4096];
  size_t total = 0;
  while (total < 65536) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      int err = errno;
      close(fd);
      errno = err;
      return report(-1);
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  close(fd);
  std::printf("read %zu\n", total);
  return 0;
}

// Host processes a guest could try to reach: every open of /proc/PID/exe (PID not the probe's)
// that yields the file with device DEV and inode INO (the host's vserver binary), for SECONDS or
// until the file STOP exists; READY is created once /proc has been looked through once. Prints
// "seen N execs E tried T refused R opened O wrote W": processes looked at; processes named
// "vserver" (commands vserver exec started, seen while they still ran the host's binary) and the
// opens of their exe tried, and refused with EACCES or EPERM; host binaries opened, and successful
// reopenings of such a file for writing (the CVE-2019-5736 overwrite).
int exe_race(double seconds, unsigned long dev, unsigned long ino, const char* ready,
             const char* stop) {
  timespec start{};
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  long seen = 0;
  std::set<long> execs;
  long tried = 0;
  long refused = 0;
  long opened = 0;
  long wrote = 0;
  pid_t self = getpid();
  for (bool first = true;; first = false) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    double t = static_cast<double>(now.tv_sec - start.tv_sec) +
               static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
    if (t >= seconds) break;
    if (stop != nullptr && access(stop, F_OK) == 0) break;
    DIR* d = opendir("/proc");
    if (d == nullptr) break;
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 1 || pid == self) continue;
      ++seen;
      std::string dir = "/proc/" + std::string(e->d_name);
      char comm[32] = {};
      int c = open((dir + "/comm").c_str(), O_RDONLY | O_CLOEXEC);
      if (c >= 0) {
        ssize_t n = read(c, comm, sizeof comm - 1);
        close(c);
        if (n > 0 && comm[n - 1] == '\n') comm[n - 1] = '\0';
      }
      bool exec = std::strcmp(comm, "vserver") == 0;
      if (exec) {
        execs.insert(pid);
        ++tried;
      }
      int fd = open((dir + "/exe").c_str(), O_PATH | O_CLOEXEC);
      if (fd < 0) {
        if (exec && (errno == EACCES || errno == EPERM)) ++refused;
        continue;
      }
      struct stat st {};
      if (fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
        ++opened;
        std::string again = "/proc/self/fd/" + std::to_string(fd);
        int w = open(again.c_str(), O_WRONLY | O_CLOEXEC);
        if (w >= 0) {
          ++wrote;  // nothing is written: opening for writing is the escape
          close(w);
        }
      }
      close(fd);
    }
    closedir(d);
    if (first && ready != nullptr) close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  }
  std::printf("seen %ld execs %zu tried %ld refused %ld opened %ld wrote %ld\n", seen, execs.size(),
              tried, refused, opened, wrote);
  return 0;
}

// forkbomb ATTEMPTS [HOLD]: a bounded fork bomb. Makes ATTEMPTS fork attempts whatever their
// outcome, each child waiting until it is told to go, and prints
// "forked N eagain E other O" (successes, failures with EAGAIN, other failures). With HOLD, a
// path, it also writes that line into HOLD (atomically) and keeps its children until HOLD is
// removed, for at most two minutes, so that a test can look at the guest at its limit. Then it
// ends every child and reaps them; nothing of it is left.
int forkbomb(int argc, char** argv) {
  long attempts = std::strtol(argv[2], nullptr, 10);
  const char* hold = argc > 3 ? argv[3] : nullptr;
  setpgid(0, 0);  // a group of its own: the cleanup below must reach nothing else
  long forked = 0;
  long eagain = 0;
  long other = 0;
  for (long i = 0; i < attempts; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();  // until the SIGTERM below
      _exit(0);
    }
    if (pid > 0) {
      ++forked;
    } else if (errno == EAGAIN) {
      ++eagain;
    } else {
      ++other;
    }
  }
  char line[128];
  std::snprintf(line, sizeof line, "forked %ld eagain %ld other %ld\n", forked, eagain, other);
  std::fputs(line, stdout);
  std::fflush(stdout);
  if (hold != nullptr) {
    std::string tmp = std::string(hold) + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t n = write(fd, line, std::strlen(line));
      close(fd);
      if (n > 0) rename(tmp.c_str(), hold);
    }
    for (int i = 0; i < 120 * 50 && access(hold, F_OK) == 0; ++i) usleep(20000);
    unlink(hold);
  }
  signal(SIGTERM, SIG_IGN);
  kill(0, SIGTERM);  // the children
  while (wait(nullptr) > 0) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(
        "usage: probe init_module|finit_module|kexec|mknod|mount|settime|swapon|"
        "fssetxattr|open_by_handle|unshare_user|unshare_net|bpf|tiocsti|chroot_escape|ping ADDR|"
        "...\n(see the source for the escape battery's attempts)\n",
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
  // Escape battery (tests/security): one attempt each.
  if (!std::strcmp(what, "fsopen")) return report(syscall(SYS_fsopen, "tmpfs", 0));
  if (!std::strcmp(what, "open_tree")) return report(syscall(SYS_open_tree, AT_FDCWD, "/", 1));
  if (!std::strcmp(what, "umount")) return report(umount2("/proc", MNT_DETACH));
  if (!std::strcmp(what, "pivot_root")) return report(syscall(SYS_pivot_root, "/tmp", "/tmp"));
  if (!std::strcmp(what, "mknod_at") && argc > 4) {
    // mknod_at PATH MAJOR MINOR: a block device node.
    return report(
        mknod(argv[2], S_IFBLK | 0600,
              makedev(std::strtoul(argv[3], nullptr, 10), std::strtoul(argv[4], nullptr, 10))));
  }
  if (!std::strcmp(what, "tun_attach") && argc > 3) {
    // tun_attach NAME tun|tap: attach to the guest's persistent device NAME.
    int fd = open("/dev/net/tun", O_RDWR);
    if (fd < 0) return report(-1);
    struct ifreq ifr {};
    std::strncpy(ifr.ifr_name, argv[2], IFNAMSIZ - 1);
    ifr.ifr_flags =
        static_cast<short>((std::strcmp(argv[3], "tap") == 0 ? IFF_TAP : IFF_TUN) | IFF_NO_PI);
    return report(ioctl(fd, TUNSETIFF, &ifr));
  }
  if (!std::strcmp(what, "open_read") && argc > 2) {
    int fd = open(argv[2], O_RDONLY | O_NONBLOCK);
    if (fd < 0) return report(-1);
    char c = 0;
    return report(read(fd, &c, 1));
  }
  if (!std::strcmp(what, "name_to_handle")) {
    struct {
      unsigned int bytes;
      int type;
      unsigned char h[128];
    } fh{128, 0, {}};
    int mnt = 0;
    return report(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mnt, 0));
  }
  if (!std::strcmp(what, "rewrite") && argc > 2) return rewrite(argv[2]);
  if (!std::strcmp(what, "describe") && argc > 2) return describe(argv[2]);
  if (!std::strcmp(what, "open_write") && argc > 2) return open_write(argv[2]);
  if (!std::strcmp(what, "read_bytes") && argc > 2) return read_bytes(argv[2]);
  if (!std::strcmp(what, "delete_module")) return report(syscall(SYS_delete_module, "loop", 0));
  if (!std::strcmp(what, "kexec_file"))
    return report(syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
  if (!std::strcmp(what, "reboot_kexec")) return report(reboot(LINUX_REBOOT_CMD_KEXEC));
  if (!std::strcmp(what, "reboot_cad")) return report(reboot(LINUX_REBOOT_CMD_CAD_OFF));
  if (!std::strcmp(what, "halt")) return report(reboot(LINUX_REBOOT_CMD_POWER_OFF));
  if (!std::strcmp(what, "ptrace") && argc > 2) {
    return report(ptrace(PTRACE_ATTACH, std::atoi(argv[2]), nullptr, nullptr));
  }
  if (!std::strcmp(what, "pidfd_open") && argc > 2) {
    return report(syscall(SYS_pidfd_open, std::atoi(argv[2]), 0));
  }
  if (!std::strcmp(what, "kill") && argc > 2) return report(kill(std::atoi(argv[2]), SIGKILL));
  if (!std::strcmp(what, "kill_all")) {
    // Every process the guest can signal, host processes included if it could reach them.
    signal(SIGTERM, SIG_IGN);
    return report(kill(-1, SIGKILL));
  }
  if (!std::strcmp(what, "raw_socket")) return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  if (!std::strcmp(what, "packet_socket")) return report(socket(AF_PACKET, SOCK_RAW, 0));
  // socket FAMILY TYPE PROTOCOL, in numbers.
  if (!std::strcmp(what, "socket") && argc > 4) {
    return report(socket(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4])));
  }
  // A raw ICMP socket told to take the IP header from the caller (IP_HDRINCL), or to send from
  // any address (IP_TRANSPARENT); the IPv6 equivalents with "6".
  if (!std::strcmp(what, "hdrincl") || !std::strcmp(what, "transparent") ||
      !std::strcmp(what, "hdrincl6") || !std::strcmp(what, "transparent6")) {
    bool v6 = what[std::strlen(what) - 1] == '6';
    int s =
        v6 ? socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6) : socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (s < 0) return report(-1);
    int on = 1;
    int name = what[0] == 'h' ? (v6 ? 36 /* IPV6_HDRINCL */ : IP_HDRINCL)
                              : (v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT);
    return report(setsockopt(s, v6 ? SOL_IPV6 : SOL_IP, name, &on, sizeof on));
  }
  if (!std::strcmp(what, "io_uring")) {
    char params[120] = {};  // struct io_uring_params
    return report(syscall(SYS_io_uring_setup, 1, params));
  }
  if (!std::strcmp(what, "adjtime")) {
    timex tx{};
    tx.modes = ADJ_OFFSET_SINGLESHOT;
    tx.offset = 0;
    return report(adjtimex(&tx));
  }
  if (!std::strcmp(what, "settimeofday")) {
    timeval tv{};
    gettimeofday(&tv, nullptr);
    return report(settimeofday(&tv, nullptr));
  }
  if (!std::strcmp(what, "add_key")) {
    return report(syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_SESSION_KEYRING));
  }
  if (!std::strcmp(what, "keyctl")) {
    return report(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr));
  }
  if (!std::strcmp(what, "request_key")) {
    return report(syscall(SYS_request_key, "user", "probe", nullptr, KEY_SPEC_SESSION_KEYRING));
  }
  if (!std::strcmp(what, "clone_user")) {
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
    return report(pid);
  }
  if (!std::strcmp(what, "clone3")) {
    unsigned long long args[11] = {};
    args[0] = CLONE_NEWUSER;
    args[4] = SIGCHLD;  // exit_signal
    long pid = syscall(SYS_clone3, args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
    return report(pid);
  }
  if (!std::strcmp(what, "unshare_mnt")) return report(unshare(CLONE_NEWNS));
  if (!std::strcmp(what, "setns") && argc > 2) {
    // setns PATH: join the namespace a /proc/PID/ns/ file names.
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return report(-1);
    return report(setns(fd, 0));
  }
  if (!std::strcmp(what, "perf_event_open")) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    return report(syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0));
  }
  if (!std::strcmp(what, "userfaultfd")) return report(syscall(SYS_userfaultfd, 0));
  if (!std::strcmp(what, "iopl")) return report(syscall(SYS_iopl, 3));
  if (!std::strcmp(what, "syslog_clear")) return report(syscall(SYS_syslog, 5, nullptr, 0));
  if (!std::strcmp(what, "sethostname")) return report(sethostname("probe", 5));
  if (!std::strcmp(what, "fds")) {
    // The descriptors open in this process, but the one reading /proc/self/fd.
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return report(-1);
    std::string out;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.' || std::atoi(e->d_name) == dirfd(d)) continue;
      out += std::string(out.empty() ? "" : " ") + e->d_name;
    }
    closedir(d);
    std::puts(out.c_str());
    return 0;
  }
  if (!std::strcmp(what, "fd_escape")) {
    // From every inherited descriptor that is a directory, walk up with ".." and look for a marker
    // of the host (pivot_root escape through a leaked directory fd). Prints "found" or "none".
    const char* marker = argc > 2 ? argv[2] : "/nonexistent-marker";
    for (int fd = 0; fd < 1024; ++fd) {
      struct stat st {};
      if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      if (fchdir(fd) != 0) continue;
      for (int i = 0; i < 64; ++i) chdir("..");
      if (access(marker + 1, F_OK) == 0) {
        std::puts("found");
        return 0;
      }
    }
    std::puts("none");
    return 0;
  }
  if (!std::strcmp(what, "cwd")) {
    // The working directory and whether it is inside the guest's root: "/" and ".." of it are the
    // same directory as "/" and "/..".
    char buf[4096] = {};
    if (getcwd(buf, sizeof buf) == nullptr) return report(-1);
    struct stat root {};
    struct stat up {};
    stat("/", &root);
    for (int i = 0; i < 64; ++i) chdir("..");
    stat(".", &up);
    std::printf("%s %s\n", buf,
                root.st_dev == up.st_dev && root.st_ino == up.st_ino ? "inside" : "outside");
    return 0;
  }
  if (!std::strcmp(what, "exe_race") && argc > 4) {
    return exe_race(std::strtod(argv[2], nullptr), std::strtoul(argv[3], nullptr, 10),
                    std::strtoul(argv[4], nullptr, 10), argc > 5 ? argv[5] : nullptr,
                    argc > 6 ? argv[6] : nullptr);
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
  // spins for SECONDS of wall time and prints "cpu SECONDS_USED wall SECONDS"; forkbomb: see
  // forkbomb() above.
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
  if (!std::strcmp(what, "forkbomb") && argc > 2) return forkbomb(argc, argv);
  std::fprintf(stderr, "probe: unknown test %s\n", what);
  return 2;
}
