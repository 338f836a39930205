// A static probe copied into test guests: each subcommand attempts one thing a guest must not be
// able to do and prints "ok" if it succeeded, or the errno name if it failed. Exit 0 either way;
// the test reads the verdict.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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
        "open_by_handle|unshare_user|unshare_net|bpf|tiocsti|chroot_escape|ping ADDR\n",
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
  std::fprintf(stderr, "probe: unknown test %s\n", what);
  return 2;
}
