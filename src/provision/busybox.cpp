// build -m busybox: a small working guest built offline from a statically linked busybox
// (Debian's busybox-static).
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "provision/internal.hpp"
#include "provision/method.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::provision::detail {

namespace {

const char* const kBusyboxHint = "; install Debian's busybox-static";

void read_exact(int fd, void* buf, std::size_t size, off_t offset, const fs::path& path) {
  ssize_t n = ::pread(fd, buf, size, offset);
  if (n < 0) throw_errno("read", path.string());
  if (static_cast<std::size_t>(n) != size) {
    throw Error(path.string() + ": not an ELF executable (truncated)" + kBusyboxHint);
  }
}

template <typename Ehdr, typename Phdr>
bool has_interpreter(int fd, const fs::path& path) {
  Ehdr eh{};
  read_exact(fd, &eh, sizeof eh, 0, path);
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
    throw Error(path.string() + ": not an ELF executable" + kBusyboxHint);
  }
  if (eh.e_phnum == 0 || eh.e_phentsize < sizeof(Phdr)) {
    throw Error(path.string() + ": ELF file without usable program headers" + kBusyboxHint);
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Phdr ph{};
    read_exact(fd, &ph, sizeof ph,
               static_cast<off_t>(eh.e_phoff) + static_cast<off_t>(i) * eh.e_phentsize, path);
    if (ph.p_type == PT_INTERP) return true;
  }
  return false;
}

// The files of a minimal busybox system.
const char* const kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const char* const kGroup =
    "root:x:0:\n"
    "tty:x:5:\n"
    "nogroup:x:65534:\n";
const char* const kShadow =
    "root:*::0:99999:7:::\n"
    "nobody:*::0:99999:7:::\n";
const char* const kInittab =
    "# busybox init(8). A guest has no consoles, so nothing runs on a terminal.\n"
    "::sysinit:/etc/init.d/rcS\n"
    "::ctrlaltdel:/sbin/poweroff\n"
    "::shutdown:/bin/sync\n";
const char* const kRcS =
    "#!/bin/sh\n"
    "# Run once by busybox init at boot (::sysinit in /etc/inittab).\n"
    "PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
    "export PATH\n"
    "\n"
    "# The host name comes from the guest's configuration (uts/nodename); an /etc/hostname\n"
    "# changed inside the guest wins.\n"
    "if [ -s /etc/hostname ]; then\n"
    "\tname=$(cat /etc/hostname)\n"
    "\tif [ -n \"$name\" ] && [ \"$name\" != \"$(hostname)\" ]; then\n"
    "\t\thostname \"$name\" 2>/dev/null || true\n"
    "\tfi\n"
    "fi\n"
    "\n"
    "# System log in /var/log/messages.\n"
    "if [ -x /sbin/syslogd ]; then\n"
    "\tsyslogd 2>/dev/null || true\n"
    "fi\n"
    "\n"
    "exit 0\n";
const char* const kProfile =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    "export PATH\n"
    "if [ \"$(id -u)\" -eq 0 ]; then\n"
    "\tPS1='\\u@\\h:\\w# '\n"
    "else\n"
    "\tPS1='\\u@\\h:\\w$ '\n"
    "fi\n"
    "export PS1\n"
    "umask 022\n";
const char* const kShells =
    "/bin/sh\n"
    "/bin/ash\n";

bool exists_in(const Root& root, const char* rel) {
  struct stat st {};
  return ::fstatat(root.fd.get(), rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace

void check_static_executable(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw Error(errno_message("open", path.string(), err) + kBusyboxHint, err);
  }
  UniqueFd f(fd);
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) throw_errno("stat", path.string());
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
    throw Error(path.string() + ": not an executable file" + kBusyboxHint);
  }
  std::array<unsigned char, EI_NIDENT> ident{};
  read_exact(f.get(), ident.data(), ident.size(), 0, path);
  if (std::memcmp(ident.data(), ELFMAG, SELFMAG) != 0) {
    throw Error(path.string() + ": not an ELF executable" + kBusyboxHint);
  }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  constexpr unsigned char kNativeData = ELFDATA2LSB;
#else
  constexpr unsigned char kNativeData = ELFDATA2MSB;
#endif
  if (ident[EI_DATA] != kNativeData) {
    throw Error(path.string() + ": an ELF file for another byte order" + kBusyboxHint);
  }
  bool dynamic = false;
  if (ident[EI_CLASS] == ELFCLASS64) {
    dynamic = has_interpreter<Elf64_Ehdr, Elf64_Phdr>(f.get(), path);
  } else if (ident[EI_CLASS] == ELFCLASS32) {
    dynamic = has_interpreter<Elf32_Ehdr, Elf32_Phdr>(f.get(), path);
  } else {
    throw Error(path.string() + ": unknown ELF class" + kBusyboxHint);
  }
  if (dynamic) {
    throw Error(path.string() + ": not a statically linked executable" + kBusyboxHint);
  }
}

void install_busybox(const Root& root, const fs::path& busybox, const std::string& hostname) {
  populate_skeleton(root, hostname);
  open_dir_in(root, "etc/init.d", true);

  write_file_in(root, "bin/busybox", read_file(busybox), 0755);

  // One link per applet, where busybox says the applet lives ("usr/bin/awk", "sbin/init").
  std::string list = run_command({busybox.string(), "--list-full"}, "/", {}, true);
  for (const auto& line : split_lines(list)) {
    std::string_view applet = trim(line);
    if (applet.empty()) continue;
    bool sane = applet.front() != '/';
    for (char c : applet) sane = sane && c > ' ' && c != 0x7f;
    std::vector<std::string> comps;
    try {
      comps = components(applet);
    } catch (const Error&) {
      sane = false;
    }
    if (!sane || comps.empty()) {
      throw Error(busybox.string() + " --list-full: unexpected applet path \"" +
                  std::string(applet) + "\"");
    }
    if (applet == "bin/busybox") continue;
    symlink_in(root, applet, "/bin/busybox");  // false: listed twice, the first one stays
  }
  if (!exists_in(root, "bin/sh")) {
    throw Error(busybox.string() + " has no sh applet; a guest needs /bin/sh" + kBusyboxHint);
  }
  if (!exists_in(root, "sbin/init")) {
    throw Error(busybox.string() + " has no init applet; a guest needs /sbin/init" + kBusyboxHint);
  }

  write_file_in(root, "etc/passwd", kPasswd);
  write_file_in(root, "etc/group", kGroup);
  write_file_in(root, "etc/shadow", kShadow, 0640);
  write_file_in(root, "etc/shells", kShells);
  write_file_in(root, "etc/inittab", kInittab);
  write_file_in(root, "etc/init.d/rcS", kRcS, 0755);
  write_file_in(root, "etc/profile", kProfile);
}

namespace {

class Busybox final : public BuildMethod {
 public:
  void validate(const BuildOptions& /*o*/) const override {}
  void check(Build& b) const override {
    b.busybox = fs::absolute(b.o.busybox);
    check_static_executable(b.busybox);
  }
  void populate(Build& b) const override {
    install_busybox(*b.root, b.busybox, b.hostname);
    copy_default_files(b.roots, *b.root);
  }
  [[nodiscard]] std::optional<config::InitStyle> default_init_style(
      const Build& /*b*/) const override {
    return config::InitStyle::plain;  // busybox init as /sbin/init
  }
  [[nodiscard]] bool writes_own_hosts() const override { return true; }
};

}  // namespace

const BuildMethod& busybox_method() {
  static const Busybox m;
  return m;
}

}  // namespace vs::provision::detail
