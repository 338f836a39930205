#include "storage/image.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "config/parse.hpp"
#include "storage/overlay.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "sys/reverter.hpp"

namespace vs::storage {

namespace {

// The mke2fs program: Debian's tool is the way to make an ext4 filesystem.
std::string find_mke2fs() {
  for (const char* p : {"/usr/sbin/mke2fs", "/sbin/mke2fs", "/usr/bin/mke2fs"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  throw Error("create a disk image: mke2fs not found (Debian package e2fsprogs)");
}

// Runs argv, its output captured; throws with that output when it fails.
void run_tool(const std::vector<std::string>& argv, const std::string& what) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw_errno("pipe", what);
  UniqueFd rd(pipefd[0]);
  UniqueFd wr(pipefd[1]);
  // Made before the fork: the child calls async-signal-safe functions only (the caller may have
  // threads).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char empty_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* env[] = {empty_path, nullptr};
  ::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", what);
  if (pid == 0) {
    ::dup2(wr.get(), 1);
    ::dup2(wr.get(), 2);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, 0);
    ::execve(args[0], args.data(), env);
    ::_exit(127);
  }
  ChildProcess child(pid);
  wr.reset();
  std::string out = read_fd(rd.get());
  int rc = child.wait(what);
  if (rc != 0) {
    while (!out.empty() && out.back() == '\n') out.pop_back();
    throw Error(what + ": " + argv[0] + " exited with status " + std::to_string(rc) +
                (out.empty() ? "" : ": " + out));
  }
}

std::string decode_octal(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 3 < raw.size()) {
      out +=
          static_cast<char>((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 + (raw[i + 3] - '0'));
      i += 3;
    } else {
      out += raw[i];
    }
  }
  return out;
}

std::string canonical_string(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return (ec ? p : c).string();
}

}  // namespace

LoopDevice LoopDevice::attach(const fs::path& file, bool read_only) {
  UniqueFd img = open_file(file, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  UniqueFd ctl = open_file("/dev/loop-control", O_RDWR | O_CLOEXEC);
  for (int attempt = 0; attempt < 20; ++attempt) {
    int n = ::ioctl(ctl.get(), LOOP_CTL_GET_FREE);
    if (n < 0) throw_errno("find a free loop device for", file.string());
    std::string dev = "/dev/loop" + std::to_string(n);
    UniqueFd fd(::open(dev.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) {
        // No node yet (no devtmpfs): make it.
        if (::mknod(dev.c_str(), S_IFBLK | 0660, makedev(7, static_cast<unsigned>(n))) != 0 &&
            errno != EEXIST) {
          throw_errno("create device node", dev);
        }
        fd.reset(::open(dev.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
      }
      if (!fd) throw_errno("open", dev);
    }
    loop_config cfg{};
    cfg.fd = static_cast<__u32>(img.get());
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    std::string name = file.string();
    std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), name.c_str(), LO_NAME_SIZE - 1);
    if (::ioctl(fd.get(), LOOP_CONFIGURE, &cfg) == 0) return LoopDevice(std::move(fd), dev);
    if (errno != EBUSY) throw_errno("attach " + file.string() + " to", dev);
    // Another process took this device between GET_FREE and CONFIGURE: try the next.
  }
  throw Error("attach " + file.string() + " to a loop device: every free device was taken");
}

LoopDevice::~LoopDevice() {
  if (!fd_) return;
  // Fails with EBUSY while a mount uses the device; autoclear detaches it when that mount goes.
  ::ioctl(fd_.get(), LOOP_CLR_FD, 0);
}

MountGuard::MountGuard(const std::string& source, fs::path target, const char* type,
                       unsigned long flags, const std::string& data)
    : target_(std::move(target)) {
  if (::mount(source.c_str(), target_.c_str(), type, flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    throw_errno(std::string("mount ") + type + " " + source + " on", target_.string());
  }
}

MountGuard::~MountGuard() {
  if (!active_) return;
  if (::umount2(target_.c_str(), 0) != 0) ::umount2(target_.c_str(), MNT_DETACH);
}

void create_image(const fs::path& image, const ImageSpec& spec, const fs::path* populate_from) {
  std::error_code ec;
  fs::create_directories(image.parent_path(), ec);
  if (ec) throw_errno("create directory", image.parent_path().string(), ec.value());
  if (::chmod(image.parent_path().c_str(), 0700) != 0) {
    throw_errno("chmod", image.parent_path().string());
  }
  // Owned until formatted: removed on any failure.
  Reverter remove;
  {
    UniqueFd fd(::open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) throw_errno("create disk image", image.string());  // not ours
    remove.add([&image] { ::unlink(image.c_str()); });
    if (::ftruncate(fd.get(), static_cast<off_t>(spec.size_kib * 1024)) != 0) {
      throw_errno("size disk image", image.string());
    }
  }
  std::string mke2fs = find_mke2fs();
  auto format = [&](std::uint64_t size_kib, bool populate) {
    std::vector<std::string> argv = {
        mke2fs, "-q", "-F", "-t", "ext4", "-m", std::to_string(spec.reserved)};
    if (spec.inodes != 0) {
      argv.emplace_back("-N");
      argv.push_back(std::to_string(spec.inodes));
    }
    if (populate) {
      argv.emplace_back("-d");
      argv.push_back(populate_from->string());
    }
    argv.push_back(image.string());
    argv.push_back(std::to_string(size_kib) + "k");
    run_tool(argv, "format disk image " + image.string());
  };
  // space_total is what the guest may use, df's total inside: the image is larger by ext4's own
  // metadata (journal, inode tables, bitmaps, group descriptors), which mke2fs records in the
  // superblock. Formatting an empty sparse file is quick: the size grows by what is missing until
  // the usable size is reached (the overhead grows a little with the size, so a few rounds).
  std::uint64_t size = spec.size_kib;
  for (int round = 0;; ++round) {
    format(size, false);
    std::uint64_t usable = image_usable_kib(image);
    if (usable >= spec.size_kib) break;
    if (round == 8) {
      throw Error(fmt::format("format disk image {}: {} KiB hold only {} KiB of usable space",
                              image.string(), size, usable));
    }
    size += spec.size_kib - usable;
    if (::truncate(image.c_str(), static_cast<off_t>(size * 1024)) != 0) {
      throw_errno("size disk image", image.string());
    }
  }
  if (populate_from != nullptr) format(size, true);
  remove.success();
}

std::uint64_t image_usable_kib(const fs::path& image) {
  // The ext4 superblock, 1024 bytes from the start (little-endian fields, linux/ext4.h).
  UniqueFd fd = open_file(image, O_RDONLY | O_CLOEXEC);
  std::array<unsigned char, 1024> sb{};
  if (::pread(fd.get(), sb.data(), sb.size(), 1024) != static_cast<ssize_t>(sb.size())) {
    throw_errno("read the superblock of", image.string());
  }
  auto le = [&](std::size_t off, int bytes) {
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | sb[off + static_cast<std::size_t>(i)];
    return v;
  };
  if (le(0x38, 2) != 0xEF53) throw Error("disk image " + image.string() + " is not ext4");
  std::uint64_t block = std::uint64_t{1024} << le(0x18, 4);
  bool is64 = (le(0x60, 4) & 0x80) != 0;  // INCOMPAT_64BIT
  std::uint64_t blocks = le(0x04, 4) | (is64 ? le(0x150, 4) << 32 : 0);
  std::uint64_t free_blocks = le(0x0C, 4) | (is64 ? le(0x158, 4) << 32 : 0);
  std::uint64_t overhead = le(0x248, 4);  // s_overhead_clusters, what statfs leaves out
  // Without a recorded overhead, the free blocks of a new filesystem are a lower bound.
  std::uint64_t usable = overhead != 0 && overhead < blocks ? blocks - overhead : free_blocks;
  return usable * block / 1024;
}

std::vector<std::string> image_loop_devices(const fs::path& image) {
  std::vector<std::string> out;
  std::string want = canonical_string(image);
  std::error_code ec;
  for (fs::directory_iterator it("/sys/block", ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.rfind("loop", 0) != 0) continue;
    auto backing = read_file_if_exists(it->path() / "loop" / "backing_file");
    if (!backing) continue;
    std::string b(trim(*backing));
    if (b == want || b == image.string()) out.push_back("/dev/" + n);
  }
  return out;
}

std::vector<fs::path> image_mounts(const fs::path& image) {
  std::vector<fs::path> out;
  auto devices = image_loop_devices(image);
  if (devices.empty()) return out;
  auto text = read_file_if_exists("/proc/self/mountinfo");
  if (!text) return out;
  for (const auto& line : split_lines(*text)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - TYPE SOURCE SUPEROPTS"
    std::vector<std::string_view> f;
    std::string_view rest = line;
    while (!rest.empty()) {
      auto sp = rest.find(' ');
      f.push_back(rest.substr(0, sp));
      if (sp == std::string_view::npos) break;
      rest.remove_prefix(sp + 1);
    }
    std::size_t dash = 0;
    for (std::size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || dash + 2 >= f.size() + 1 || f.size() < dash + 3) continue;
    std::string source = decode_octal(f[dash + 2]);
    for (const auto& d : devices) {
      if (source == d) out.emplace_back(decode_octal(f[4]));
    }
  }
  // Innermost (latest) first.
  std::reverse(out.begin(), out.end());
  return out;
}

void release_image(const fs::path& image) {
  // A loop device's backing_file names its image by path, "PATH (deleted)" once the file is gone,
  // which never matches: without the file there is nothing to find (and no /sys/block scan for
  // every guest's stop).
  struct stat st {};
  if (::stat(image.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) return;
  for (const auto& m : image_mounts(image)) {
    if (::umount2(m.c_str(), 0) != 0) {
      if (errno != EBUSY) throw_errno("unmount disk image " + image.string() + " from", m.string());
      // Still in use by a process that outlived the guest: detach now, the kernel finishes later.
      if (::umount2(m.c_str(), MNT_DETACH) != 0) {
        throw_errno("detach disk image " + image.string() + " from", m.string());
      }
    }
  }
}

void run_in_image_root(const fs::path& image, const fs::path& mountpoint,
                       const std::function<void()>& fn) {
  run_in_private_mounts("helper for the disk image " + image.string(), [&] {
    LoopDevice loop = LoopDevice::attach(image, true);
    // noload: a read-only mount replays no journal, so the image is not written at all.
    MountGuard m(loop.path(), mountpoint, "ext4", MS_RDONLY | MS_NODEV, "noload");
    fn();
  });
}

}  // namespace vs::storage
