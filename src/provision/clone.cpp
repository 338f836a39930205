// The clone method's copy: a tree copied with everything a root filesystem depends on
// (util-vserver.md §2.1, "clone"; util-vserver used vclone or rsync -Hazx --numeric-ids).
//
// Preserved: numeric ownership, modes (set after the owner, which clears set-id bits), extended
// attributes including POSIX ACLs and security.capability (set last, as chown clears it), access
// and modification times (directories after their contents), hard links (the first copy of an
// inode is linked for the others), symbolic links, device nodes and fifos. Sockets are skipped.
// Data goes by reflink where the filesystem can share extents, else copy_file_range, else
// read/write; holes of sparse files stay holes.
//
// The copy stays on the source's filesystem, like rsync -x: a directory that is a mount point
// is created empty. The destination is skipped if it lies inside the source.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "config/config.hpp"
#include "provision/internal.hpp"
#include "provision/method.hpp"
#include "state/state.hpp"
#include "storage/layout.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::provision::detail {

namespace {

constexpr std::size_t kChunk = std::size_t{16} * 1024 * 1024;

// A file whose extended attributes are read or written: by fd when there is one, else by path
// without following a final symlink.
struct XattrHandle {
  int fd = -1;
  std::string path;
};

ssize_t list_xattrs(const XattrHandle& h, char* buf, std::size_t size) {
  return h.fd >= 0 ? ::flistxattr(h.fd, buf, size) : ::llistxattr(h.path.c_str(), buf, size);
}
ssize_t get_xattr(const XattrHandle& h, const char* name, void* buf, std::size_t size) {
  return h.fd >= 0 ? ::fgetxattr(h.fd, name, buf, size)
                   : ::lgetxattr(h.path.c_str(), name, buf, size);
}
int set_xattr(const XattrHandle& h, const char* name, const void* value, std::size_t size) {
  return h.fd >= 0 ? ::fsetxattr(h.fd, name, value, size, 0)
                   : ::lsetxattr(h.path.c_str(), name, value, size, 0);
}
int remove_xattr(const XattrHandle& h, const char* name) {
  return h.fd >= 0 ? ::fremovexattr(h.fd, name) : ::lremovexattr(h.path.c_str(), name);
}

std::vector<std::string> xattr_names(const XattrHandle& h, const std::string& where) {
  std::vector<char> buf;
  for (;;) {
    ssize_t n = list_xattrs(h, nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP) return {};
      throw_errno("list extended attributes of", where);
    }
    if (n == 0) return {};
    buf.resize(static_cast<std::size_t>(n));
    n = list_xattrs(h, buf.data(), buf.size());
    if (n < 0) {
      if (errno == ERANGE) continue;  // grew meanwhile
      throw_errno("list extended attributes of", where);
    }
    buf.resize(static_cast<std::size_t>(n));
    break;
  }
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos < buf.size()) {
    std::string name(buf.data() + pos);
    pos += name.size() + 1;
    if (!name.empty()) names.push_back(std::move(name));
  }
  return names;
}

std::optional<std::vector<char>> xattr_value(const XattrHandle& h, const std::string& name,
                                             const std::string& where) {
  std::vector<char> value;
  for (;;) {
    ssize_t n = get_xattr(h, name.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENODATA) return std::nullopt;  // removed meanwhile
      throw_errno("read extended attribute " + name + " of", where);
    }
    value.resize(static_cast<std::size_t>(n));
    n = get_xattr(h, name.c_str(), value.data(), value.size());
    if (n < 0) {
      if (errno == ERANGE) continue;
      if (errno == ENODATA) return std::nullopt;
      throw_errno("read extended attribute " + name + " of", where);
    }
    value.resize(static_cast<std::size_t>(n));
    return value;
  }
}

// Makes dst's extended attributes those of src. ACLs a new file inherited from a default ACL of
// its directory are removed when the source has none.
void copy_xattrs(const XattrHandle& src, const std::string& src_where, const XattrHandle& dst,
                 const std::string& dst_where, bool symlink) {
  auto names = xattr_names(src, src_where);
  std::set<std::string> have(names.begin(), names.end());
  for (const char* acl : {"system.posix_acl_access", "system.posix_acl_default"}) {
    if (symlink || have.count(acl) != 0) continue;  // symbolic links have no ACLs
    if (remove_xattr(dst, acl) != 0 && errno != ENODATA && errno != ENOTSUP) {
      throw_errno(std::string("remove extended attribute ") + acl + " of", dst_where);
    }
  }
  for (const auto& name : names) {
    auto value = xattr_value(src, name, src_where);
    if (!value) continue;
    if (set_xattr(dst, name.c_str(), value->data(), value->size()) != 0) {
      throw_errno("set extended attribute " + name + " on", dst_where);
    }
  }
}

class DirReader {
 public:
  DirReader(int fd, const std::string& where) {
    int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) throw_errno("duplicate fd of", where);
    dir_ = ::fdopendir(d);
    if (dir_ == nullptr) {
      int err = errno;
      ::close(d);
      throw_errno("open directory", where, err);
    }
    ::rewinddir(dir_);
  }
  DirReader(const DirReader&) = delete;
  DirReader& operator=(const DirReader&) = delete;
  ~DirReader() { ::closedir(dir_); }

  // All names but . and .., sorted so that the copy is reproducible.
  std::vector<std::string> names(const std::string& where) {
    std::vector<std::string> out;
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(dir_);
      if (e == nullptr) {
        if (errno != 0) throw_errno("read directory", where);
        break;
      }
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(std::move(n));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  DIR* dir_ = nullptr;
};

class Copier {
 public:
  Copier(fs::path source, const Root& root, const Report& warning)
      : source_(std::move(source)), root_(root), warning_(warning) {}

  std::size_t run() {
    int sfd = ::open(source_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0) throw_errno("open directory", source_.string());
    UniqueFd src(sfd);
    struct stat st {};
    if (::fstat(src.get(), &st) != 0) throw_errno("stat", source_.string());
    source_dev_ = st.st_dev;
    struct stat dst {};
    if (::fstat(root_.fd.get(), &dst) != 0) throw_errno("stat", root_.path.string());
    dest_id_ = {dst.st_dev, dst.st_ino};
    // The root itself keeps the owner and mode of a new guest root.
    copy_contents(src.get(), root_.fd.get(), "");
    return count_;
  }

 private:
  [[nodiscard]] std::string src_path(const std::string& rel) const {
    return rel.empty() ? source_.string() : (source_ / rel).string();
  }
  [[nodiscard]] std::string dst_path(const std::string& rel) const {
    return rel.empty() ? root_.path.string() : (root_.path / rel).string();
  }

  void copy_contents(int sdir, int ddir, const std::string& rel) {
    std::vector<std::string> names;
    {
      DirReader reader(sdir, src_path(rel));
      names = reader.names(src_path(rel));
    }
    for (const auto& name : names) {
      check_interrupted();
      std::string child = rel;
      if (!child.empty()) child += '/';
      child += name;
      copy_entry(sdir, ddir, child, name);
    }
  }

  void copy_entry(int sdir, int ddir, const std::string& rel, const std::string& name) {
    struct stat st {};
    if (::fstatat(sdir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return;
      throw_errno("stat", src_path(rel));
    }
    if (S_ISSOCK(st.st_mode)) {
      if (warning_) warning_("skipped socket " + src_path(rel));
      return;
    }
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = links_.find(key);
      if (it != links_.end()) {
        if (::linkat(root_.fd.get(), it->second.c_str(), root_.fd.get(), rel.c_str(), 0) != 0) {
          throw_errno("link " + dst_path(it->second) + " to", dst_path(rel));
        }
        ++count_;
        return;
      }
      links_.emplace(key, rel);
    }
    switch (st.st_mode & S_IFMT) {
      case S_IFDIR:
        copy_dir(sdir, ddir, rel, name, st);
        break;
      case S_IFREG:
        copy_file(sdir, ddir, rel, name, st);
        break;
      case S_IFLNK:
        copy_symlink(sdir, ddir, rel, name, st);
        break;
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO:
        copy_node(ddir, rel, name, st);
        break;
      default:
        throw Error("copy " + src_path(rel) + ": unknown file type");
    }
    ++count_;
  }

  // Owner, then mode, then extended attributes: chown clears set-id bits and capabilities.
  void finish_fd(int sfd, int dfd, const std::string& rel, const struct stat& st) {
    if (::fchown(dfd, st.st_uid, st.st_gid) != 0) throw_errno("chown", dst_path(rel));
    if (::fchmod(dfd, st.st_mode & 07777) != 0) throw_errno("chmod", dst_path(rel));
    copy_xattrs(XattrHandle{sfd, {}}, src_path(rel), XattrHandle{dfd, {}}, dst_path(rel), false);
    std::array<struct timespec, 2> times = {st.st_atim, st.st_mtim};
    if (::futimens(dfd, times.data()) != 0) throw_errno("set times of", dst_path(rel));
  }

  void copy_dir(int sdir, int ddir, const std::string& rel, const std::string& name,
                const struct stat& st) {
    if (std::make_pair(st.st_dev, st.st_ino) == dest_id_) return;  // the copy itself
    if (::mkdirat(ddir, name.c_str(), 0700) != 0) throw_errno("create directory", dst_path(rel));
    int s = ::openat(sdir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0) throw_errno("open directory", src_path(rel));
    UniqueFd sfd(s);
    int d = ::openat(ddir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0) throw_errno("open directory", dst_path(rel));
    UniqueFd dfd(d);
    if (st.st_dev == source_dev_) {
      copy_contents(sfd.get(), dfd.get(), rel);
    } else if (warning_) {
      warning_("not copying " + src_path(rel) + ": another filesystem is mounted there");
    }
    finish_fd(sfd.get(), dfd.get(), rel, st);
  }

  void copy_file(int sdir, int ddir, const std::string& rel, const std::string& name,
                 const struct stat& st) {
    int s = ::openat(sdir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0) throw_errno("open", src_path(rel));
    UniqueFd sfd(s);
    int d =
        ::openat(ddir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d < 0) throw_errno("create", dst_path(rel));
    UniqueFd dfd(d);
    copy_data(sfd.get(), dfd.get(), st.st_size, rel);
    finish_fd(sfd.get(), dfd.get(), rel, st);
  }

  void copy_data(int in, int out, off_t size, const std::string& rel) {
    if (size == 0) return;
    if (try_reflink_) {
      if (::ioctl(out, FICLONE, in) == 0) return;
      if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EXDEV || errno == ENOSYS ||
          errno == EINVAL) {
        try_reflink_ = false;  // this pair of filesystems cannot share extents
      }
    }
    // Data segments only: holes stay holes.
    off_t pos = 0;
    while (pos < size) {
      off_t data = ::lseek(in, pos, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // only a hole is left
        if (errno != EINVAL) throw_errno("seek in", src_path(rel));
        data = pos;  // no SEEK_DATA here: copy everything
      }
      off_t hole = ::lseek(in, data, SEEK_HOLE);
      if (hole < 0) hole = size;
      if (hole > size) hole = size;
      copy_range(in, out, data, hole - data, rel);
      pos = hole;
    }
    if (::ftruncate(out, size) != 0) throw_errno("truncate", dst_path(rel));
  }

  void copy_range(int in, int out, off_t offset, off_t length, const std::string& rel) {
    off_t in_off = offset;
    off_t out_off = offset;
    off_t end = offset + length;
    while (in_off < end && try_copy_range_) {
      check_interrupted();
      auto len = static_cast<std::size_t>(std::min<off_t>(end - in_off, kChunk));
      ssize_t n = ::copy_file_range(in, &in_off, out, &out_off, len, 0);
      if (n > 0) continue;
      if (n == 0) break;  // the source shrank
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL) {
        try_copy_range_ = false;
        break;
      }
      throw_errno("copy data to", dst_path(rel));
    }
    std::vector<char> buf;
    while (in_off < end) {
      check_interrupted();
      if (buf.empty()) buf.resize(std::size_t{1} << 20);
      auto want =
          static_cast<std::size_t>(std::min<off_t>(end - in_off, static_cast<off_t>(buf.size())));
      ssize_t n = ::pread(in, buf.data(), want, in_off);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("read", src_path(rel));
      }
      if (n == 0) break;
      std::size_t done = 0;
      while (done < static_cast<std::size_t>(n)) {
        ssize_t w = ::pwrite(out, buf.data() + done, static_cast<std::size_t>(n) - done,
                             out_off + static_cast<off_t>(done));
        if (w < 0) {
          if (errno == EINTR) continue;
          throw_errno("write", dst_path(rel));
        }
        done += static_cast<std::size_t>(w);
      }
      in_off += n;
      out_off += n;
    }
  }

  void finish_path(int ddir, const std::string& rel, const std::string& name, const struct stat& st,
                   bool symlink) {
    if (::fchownat(ddir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      throw_errno("chown", dst_path(rel));
    }
    if (!symlink && ::fchmodat(ddir, name.c_str(), st.st_mode & 07777, 0) != 0) {
      throw_errno("chmod", dst_path(rel));
    }
    copy_xattrs(XattrHandle{-1, src_path(rel)}, src_path(rel), XattrHandle{-1, dst_path(rel)},
                dst_path(rel), symlink);
    std::array<struct timespec, 2> times = {st.st_atim, st.st_mtim};
    if (::utimensat(ddir, name.c_str(), times.data(), AT_SYMLINK_NOFOLLOW) != 0) {
      throw_errno("set times of", dst_path(rel));
    }
  }

  void copy_symlink(int sdir, int ddir, const std::string& rel, const std::string& name,
                    const struct stat& st) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    for (;;) {
      ssize_t n = ::readlinkat(sdir, name.c_str(), target.data(), target.size());
      if (n < 0) throw_errno("read link", src_path(rel));
      if (static_cast<std::size_t>(n) < target.size()) {
        target.resize(static_cast<std::size_t>(n));
        break;
      }
      target.resize(target.size() * 2);
    }
    if (::symlinkat(target.c_str(), ddir, name.c_str()) != 0) {
      throw_errno("symlink " + target + " at", dst_path(rel));
    }
    finish_path(ddir, rel, name, st, true);
  }

  void copy_node(int ddir, const std::string& rel, const std::string& name, const struct stat& st) {
    if (::mknodat(ddir, name.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
      throw_errno("create node", dst_path(rel));
    }
    finish_path(ddir, rel, name, st, false);
  }

  fs::path source_;
  const Root& root_;
  const Report& warning_;
  dev_t source_dev_ = 0;
  std::pair<dev_t, ino_t> dest_id_{};
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // inode → its first copy
  std::size_t count_ = 0;
  bool try_reflink_ = true;
  bool try_copy_range_ = true;
};

}  // namespace

std::size_t copy_tree(const fs::path& source, const Root& root, const Report& warning) {
  Copier c(fs::absolute(source), root, warning);
  return c.run();
}

}  // namespace vs::provision::detail

// ---- per-host identity of a copy ------------------------------------------------------------

namespace vs::provision::detail {

namespace {

std::string random_machine_id() {
  std::array<unsigned char, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("getrandom", "a machine id");
    }
    got += static_cast<std::size_t>(n);
  }
  // A version 4 UUID, as systemd-machine-id-setup makes (machine-id(5)).
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 0x0f];
  }
  return out;
}

// A regular file at dir/name (not followed if a symlink): its size and mode.
std::optional<struct stat> regular_at(int dirfd, const char* name) {
  struct stat st {};
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  return st;
}

}  // namespace

std::vector<std::string> reset_identity(const Root& root, bool& host_keys) {
  std::vector<std::string> changed;
  host_keys = false;
  if (UniqueFd ssh = open_dir_in(root, "etc/ssh", false, 0755, true)) {
    DirReader reader(ssh.get(), (root.path / "etc/ssh").string());
    for (const auto& n : reader.names((root.path / "etc/ssh").string())) {
      if (n.rfind("ssh_host_", 0) != 0) continue;
      if (::unlinkat(ssh.get(), n.c_str(), 0) != 0) {
        throw_errno("remove", (root.path / "etc/ssh" / n).string());
      }
      changed.push_back("etc/ssh/" + n);
      host_keys = true;
    }
  }
  std::string id = random_machine_id() + "\n";
  if (UniqueFd etc = open_dir_in(root, "etc", false, 0755, true)) {
    if (auto st = regular_at(etc.get(), "machine-id"); st && st->st_size > 0) {
      write_file_in(root, "etc/machine-id", id, st->st_mode & 07777);
      changed.emplace_back("etc/machine-id");
    }
  }
  if (UniqueFd dbus = open_dir_in(root, "var/lib/dbus", false, 0755, true)) {
    if (auto st = regular_at(dbus.get(), "machine-id")) {
      write_file_in(root, "var/lib/dbus/machine-id", id, st->st_mode & 07777);
      changed.emplace_back("var/lib/dbus/machine-id");
    }
  }
  if (UniqueFd sd = open_dir_in(root, "var/lib/systemd", false, 0755, true)) {
    for (const char* n : {"random-seed", "credential.secret"}) {
      if (!regular_at(sd.get(), n)) continue;
      if (::unlinkat(sd.get(), n, 0) != 0) {
        throw_errno("remove", (root.path / "var/lib/systemd" / n).string());
      }
      changed.push_back(std::string("var/lib/systemd/") + n);
    }
  }
  return changed;
}

namespace {

class Clone final : public BuildMethod {
 public:
  void validate(const BuildOptions& o) const override {
    if (o.source.empty()) throw Error("method clone needs a source (--source GUEST|DIR)");
    if (o.source == o.name) throw Error("cannot clone vserver '" + o.name + "' from itself");
  }

  void check(Build& b) const override {
    const BuildOptions& o = b.o;
    std::error_code ec;
    if (config::valid_guest_name(o.source) &&
        fs::is_directory(b.roots.guest_config_dir(o.source), ec)) {
      b.source_lock.emplace(b.roots, o.source);  // it cannot start while being copied
      if (state::guest_running(b.roots, o.source)) {
        throw Error("vserver '" + o.source + "' is running; stop it before cloning it");
      }
      try {
        b.source_cfg = config::load_guest(b.roots, o.source);
      } catch (const Error& e) {
        rethrow_with_context(e, "clone source vserver '" + o.source + "'");
      }
      b.source_dir = b.source_cfg->vdir;
      if (b.source_cfg->base) {
        // A unified source: the clone shares its base and copies its upper layer.
        b.base = *b.source_cfg->base;
        b.source_dir = storage::guest_overlay(b.roots, *b.source_cfg)->upper;
      }
    } else {
      b.source_dir = fs::absolute(o.source);
    }
    struct stat st {};
    if (::stat(b.source_dir.c_str(), &st) != 0) {
      throw_errno("clone source", b.source_dir.string());
    }
    if (!S_ISDIR(st.st_mode)) {
      throw Error("clone source " + b.source_dir.string() + ": not a directory");
    }
  }

  void populate(Build& b) const override {
    const BuildOptions& o = b.o;
    const std::string old_hostname =
        b.source_cfg ? b.source_cfg->uts.nodename.value_or(b.source_cfg->name) : std::string();
    if (b.overlay) {
      Root upper{b.overlay->upper,
                 open_file(b.overlay->upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
      std::size_t n = copy_tree(b.source_dir, upper, o.warning);
      if (o.progress) {
        o.progress("Copied " + std::to_string(n) + " entries of the upper layer of vserver '" +
                   o.source + "' (base '" + b.base + "') into " + b.overlay->upper.string());
      }
      b.in_merged_root([&](const Root& merged) {
        rename_hostname(merged, old_hostname, b.hostname);
        write_network_files(b.roots, merged, b.hostname, b.cfg->interfaces, false);
      });
      return;
    }
    std::size_t n = copy_tree(b.source_dir, *b.root, o.warning);
    if (o.progress) {
      o.progress("Copied " + std::to_string(n) + " entries from " + b.source_dir.string() +
                 " into " + b.vdir.string());
    }
    make_standard_dirs(*b.root, true);
    if (b.source_cfg) rename_hostname(*b.root, old_hostname, b.hostname);
    auto reset = reset_identity(*b.root, b.regenerate_keys);
    if (!reset.empty() && o.progress) {
      std::string list;
      for (const auto& r : reset) list += " /" + r;
      o.progress("Reset the identity of the copy:" + list);
    }
  }

  [[nodiscard]] bool foreign_root(const Build& b) const override { return !b.overlay; }
};

}  // namespace

const BuildMethod& clone_method() {
  static const Clone m;
  return m;
}

}  // namespace vs::provision::detail
