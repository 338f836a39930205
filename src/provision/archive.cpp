// The template method: unpacking root-filesystem archives (util-vserver.md §2.1, "template").
//
// An archive is untrusted input that root unpacks. libarchive's secure extraction flags refuse
// absolute paths, ".." and writing through symbolic links; every entry is also checked here
// first, so that the whole build is refused with a message naming the entry, before anything of
// it is written:
//   - absolute paths and ".." components, in names and in hard-link targets;
//   - writing below a symbolic link (the link may point out of the guest root), including
//     hard-link targets reached through one;
//   - replacing a directory by something else (a later entry could otherwise turn a directory
//     whose metadata is still to be restored into a link to the host);
//   - block devices, and character devices other than the harmless ones a root filesystem needs.
// Owners stay numeric (no user database lookup): the guest's uids are not the host's.
//
// libarchive is loaded here, on first use (provision/libarchive.hpp): no other command needs it.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <memory>
#include <set>
#include <utility>

#include "provision/internal.hpp"
#include "provision/libarchive.hpp"
#include "provision/method.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::provision::detail {

namespace {

constexpr int kExtractFlags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                              ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_XATTR |
                              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

// Character devices a guest may have on disk: null, zero, full, random, urandom, tty, console,
// ptmx.
constexpr std::array<std::pair<unsigned, unsigned>, 8> kSafeCharDevices = {{
    {1, 3},
    {1, 5},
    {1, 7},
    {1, 8},
    {1, 9},
    {5, 0},
    {5, 1},
    {5, 2},
}};

struct ReadDeleter {
  const LibArchive* la;
  void operator()(struct archive* a) const { la->read_free(a); }
};
struct WriteDeleter {
  const LibArchive* la;
  void operator()(struct archive* a) const { la->write_free(a); }
};
using ArchiveReader = std::unique_ptr<struct archive, ReadDeleter>;
using ArchiveWriter = std::unique_ptr<struct archive, WriteDeleter>;

// The working directory of the process, moved into the guest root while libarchive writes
// relative paths, and restored afterwards.
class CwdGuard {
 public:
  explicit CwdGuard(const Root& root) {
    int fd = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno("open", "the current directory");
    saved_.reset(fd);
    if (::fchdir(root.fd.get()) != 0) throw_errno("change directory to", root.path.string());
  }
  CwdGuard(const CwdGuard&) = delete;
  CwdGuard& operator=(const CwdGuard&) = delete;
  ~CwdGuard() {
    if (::fchdir(saved_.get()) != 0) {
      // Nothing sensible is left to do; later relative paths would be wrong, so say so.
      std::perror("vserver: restore working directory");
    }
  }

 private:
  UniqueFd saved_;
};

std::string quote(std::string_view s) {
  return fmt::format("\"{}\"", s);
}

class Unpacker {
 public:
  Unpacker(const Root& root, fs::path archive, std::string_view under, bool stop_after)
      : la_(LibArchive::get()),
        root_(root),
        archive_(std::move(archive)),
        under_(under),
        stop_after_(stop_after) {}

  std::string message(struct archive* a) const {
    const char* s = la_.error_string(a);
    return s != nullptr ? s : "unknown error";
  }

  [[noreturn]] void refuse(std::string_view entry, const std::string& why) const {
    throw Error(archive_.string() + ": refusing entry " + quote(entry) + ": " + why);
  }

  // The entry's path relative to the root, "./" and empty components dropped; refuses absolute
  // paths and "..".
  std::vector<std::string> clean(std::string_view entry, std::string_view path,
                                 std::string_view what) const {
    auto comps = clean_entry_name(path);
    if (comps) return *comps;
    if (!path.empty() && path.front() == '/') refuse(entry, std::string(what) + " is absolute");
    refuse(entry, std::string(what) + " contains \"..\"");
  }

  // Refuses when one of the first n components of comps, as it exists now under the root, is a
  // symbolic link. Components found to be real directories are remembered.
  void check_no_symlink(std::string_view entry, const std::vector<std::string>& comps,
                        std::size_t n, std::string_view what) {
    std::string p;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) p += '/';
      p += comps[i];
      if (dirs_.count(p) != 0) continue;
      struct stat st {};
      if (::fstatat(root_.fd.get(), p.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return;
        throw_errno("stat", (root_.path / p).string());
      }
      if (S_ISLNK(st.st_mode)) {
        refuse(entry, std::string(what) + " goes through the symbolic link " + quote(p) +
                          "; refusing to write through it");
      }
      if (!S_ISDIR(st.st_mode)) return;  // libarchive reports "not a directory"
      dirs_.insert(p);
    }
  }

  void forget(const std::string& p) {
    auto it = dirs_.lower_bound(p);
    while (it != dirs_.end() && (*it == p || it->rfind(p + "/", 0) == 0)) it = dirs_.erase(it);
  }

  // Checks one entry and rewrites its names to the cleaned relative forms. Returns false for
  // entries that are skipped (the root itself, sockets).
  bool prepare(struct archive_entry* e) {
    const char* raw = la_.entry_pathname(e);
    if (raw == nullptr) raw = la_.entry_pathname_utf8(e);
    if (raw == nullptr || *raw == '\0') refuse("", "the entry has no path");
    std::string entry = raw;
    auto comps = clean(entry, entry, "the path");
    if (!under_.empty()) {
      in_under_ = !comps.empty() && comps.front() == under_;
      if (!in_under_) return false;
      comps.erase(comps.begin());
    }
    if (comps.empty()) return false;  // "./": the guest root keeps its own owner and mode
    path_ = comps.front();
    for (std::size_t i = 1; i < comps.size(); ++i) path_ += "/" + comps[i];

    mode_t type = la_.entry_filetype(e);
    const char* hardlink = la_.entry_hardlink(e);
    if (hardlink != nullptr) {
      auto target = clean(entry, hardlink, "the hard-link target");
      if (!under_.empty()) {
        if (target.empty() || target.front() != under_) {
          refuse(entry, "the hard-link target is outside " + quote(under_));
        }
        target.erase(target.begin());
      }
      if (target.empty()) refuse(entry, "the hard-link target is the guest root");
      check_no_symlink(entry, target, target.size() - 1, "the hard-link target");
      link_ = target.front();
      for (std::size_t i = 1; i < target.size(); ++i) link_ += "/" + target[i];
      la_.entry_set_hardlink(e, link_.c_str());
    } else if (type == AE_IFBLK) {
      refuse(entry, "block devices are not allowed in a guest (" +
                        std::to_string(la_.entry_rdevmajor(e)) + ":" +
                        std::to_string(la_.entry_rdevminor(e)) + ")");
    } else if (type == AE_IFCHR) {
      std::pair<unsigned, unsigned> dev{static_cast<unsigned>(la_.entry_rdevmajor(e)),
                                        static_cast<unsigned>(la_.entry_rdevminor(e))};
      bool safe = false;
      for (const auto& s : kSafeCharDevices) safe = safe || s == dev;
      if (!safe) {
        refuse(entry, "character device " + std::to_string(dev.first) + ":" +
                          std::to_string(dev.second) +
                          " is not allowed in a guest (only null, zero, full, random, urandom, "
                          "tty, console and ptmx)");
      }
    } else if (type == AE_IFSOCK) {
      return false;  // sockets are made by their servers, never unpacked
    }

    check_no_symlink(entry, comps, comps.size() - 1, "the path");

    // What is at the path now: a symlink is replaced (never written through), a directory only
    // by a directory.
    struct stat st {};
    if (::fstatat(root_.fd.get(), path_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      bool entry_is_dir = hardlink == nullptr && type == AE_IFDIR;
      if (S_ISDIR(st.st_mode) && !entry_is_dir) {
        refuse(entry, "it would replace the directory " + quote(path_));
      }
      if (S_ISLNK(st.st_mode) && !(hardlink == nullptr && type == AE_IFLNK)) {
        if (::unlinkat(root_.fd.get(), path_.c_str(), 0) != 0) {
          throw_errno("remove", (root_.path / path_).string());
        }
      }
    } else if (errno != ENOENT) {
      throw_errno("stat", (root_.path / path_).string());
    }
    la_.entry_set_pathname(e, path_.c_str());
    is_dir_ = hardlink == nullptr && type == AE_IFDIR;
    return true;
  }

  std::size_t run(const Report& warning) {
    ArchiveReader in(la_.read_new(), ReadDeleter{&la_});
    ArchiveWriter out(la_.write_disk_new(), WriteDeleter{&la_});
    if (!in || !out) throw Error("unpack " + archive_.string() + ": out of memory");
    la_.read_support_filter_all(in.get());
    la_.read_support_format_all(in.get());
    if (la_.read_open_filename(in.get(), archive_.c_str(), std::size_t{64} * 1024) != ARCHIVE_OK) {
      throw Error("open " + archive_.string() + ": " + message(in.get()),
                  la_.error_number(in.get()));
    }
    // No archive_write_disk_set_standard_lookup: owners stay numeric.
    la_.write_disk_set_options(out.get(), kExtractFlags);

    auto warn = [&](const std::string& entry, struct archive* a) {
      if (warning) warning(archive_.string() + ": " + entry + ": " + message(a));
    };

    CwdGuard cwd(root_);
    std::size_t count = 0;
    for (;;) {
      check_interrupted();
      struct archive_entry* e = nullptr;
      int r = la_.read_next_header(in.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_WARN) warn("reading", in.get());
      if (r < ARCHIVE_WARN) {
        throw Error("read " + archive_.string() + ": " + message(in.get()),
                    la_.error_number(in.get()));
      }
      const char* raw = la_.entry_pathname(e);
      std::string entry = raw != nullptr ? raw : "";
      if (!prepare(e)) {
        if (stop_after_ && seen_under_ && !in_under_) break;
        la_.read_data_skip(in.get());
        continue;
      }
      seen_under_ = seen_under_ || in_under_;
      r = la_.write_header(out.get(), e);
      if (r == ARCHIVE_WARN) warn(quote(entry), out.get());
      if (r < ARCHIVE_WARN) {
        throw Error(archive_.string() + ": entry " + quote(entry) + ": " + message(out.get()),
                    la_.error_number(out.get()));
      }
      copy_data(in.get(), out.get(), entry);
      r = la_.write_finish_entry(out.get());
      if (r == ARCHIVE_WARN) warn(quote(entry), out.get());
      if (r < ARCHIVE_WARN) {
        throw Error(archive_.string() + ": entry " + quote(entry) + ": " + message(out.get()),
                    la_.error_number(out.get()));
      }
      if (is_dir_) {
        dirs_.insert(path_);
      } else {
        forget(path_);
      }
      ++count;
    }
    // Directory permissions and times are restored here, still inside the root.
    if (la_.write_close(out.get()) < ARCHIVE_WARN) {
      throw Error("unpack " + archive_.string() + ": " + message(out.get()),
                  la_.error_number(out.get()));
    }
    return count;
  }

 private:
  void copy_data(struct archive* in, struct archive* out, const std::string& entry) {
    for (;;) {
      check_interrupted();
      const void* buf = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      int r = la_.read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) return;
      if (r < ARCHIVE_WARN) {
        throw Error("read " + archive_.string() + ": entry " + quote(entry) + ": " + message(in),
                    la_.error_number(in));
      }
      if (la_.write_data_block(out, buf, size, offset) < ARCHIVE_WARN) {
        throw Error(archive_.string() + ": entry " + quote(entry) + ": " + message(out),
                    la_.error_number(out));
      }
    }
  }

  const LibArchive& la_;
  const Root& root_;
  fs::path archive_;
  std::set<std::string> dirs_;  // paths known to be real directories under the root
  std::string path_;            // the current entry, cleaned
  std::string link_;            // its hard-link target, cleaned
  bool is_dir_ = false;
  std::string under_;        // only entries below this top-level directory, stripped of it
  bool stop_after_ = false;  // stop at the first entry past them
  bool in_under_ = false;    // the current entry is below under_
  bool seen_under_ = false;
};

}  // namespace

void LibArchive::Closer::operator()(void* handle) const noexcept {
  ::dlclose(handle);
}

template <typename F>
void LibArchive::bind(F& slot, const char* name) {
  ::dlerror();
  void* sym = ::dlsym(handle_.get(), name);
  if (sym == nullptr) {
    const char* why = ::dlerror();
    throw Error(std::string("load libarchive: ") + name + " is missing in " + soname_ + ": " +
                (why != nullptr ? why : "no such symbol"));
  }
  slot = reinterpret_cast<F>(sym);
}

LibArchive::LibArchive(const char* soname) : soname_(soname) {
  // The handle stays open as long as the functions may be called: for the process, in get().
  handle_.reset(::dlopen(soname, RTLD_NOW | RTLD_LOCAL));
  if (!handle_) {
    const char* why = ::dlerror();
    throw Error(std::string("load ") + soname + " (needed to unpack template archives): " +
                (why != nullptr ? why : "unknown error") +
                "; install libarchive (Debian: libarchive13)");
  }
  bind(read_new, "archive_read_new");
  bind(read_free, "archive_read_free");
  bind(read_support_filter_all, "archive_read_support_filter_all");
  bind(read_support_format_all, "archive_read_support_format_all");
  bind(read_open_filename, "archive_read_open_filename");
  bind(read_next_header, "archive_read_next_header");
  bind(read_data_block, "archive_read_data_block");
  bind(read_data_skip, "archive_read_data_skip");
  bind(write_disk_new, "archive_write_disk_new");
  bind(write_disk_set_options, "archive_write_disk_set_options");
  bind(write_free, "archive_write_free");
  bind(write_header, "archive_write_header");
  bind(write_data_block, "archive_write_data_block");
  bind(write_finish_entry, "archive_write_finish_entry");
  bind(write_close, "archive_write_close");
  bind(error_string, "archive_error_string");
  bind(error_number, "archive_errno");
  bind(entry_pathname, "archive_entry_pathname");
  bind(entry_pathname_utf8, "archive_entry_pathname_utf8");
  bind(entry_set_pathname, "archive_entry_set_pathname");
  bind(entry_hardlink, "archive_entry_hardlink");
  bind(entry_set_hardlink, "archive_entry_set_hardlink");
  bind(entry_filetype, "archive_entry_filetype");
  bind(entry_rdevmajor, "archive_entry_rdevmajor");
  bind(entry_rdevminor, "archive_entry_rdevminor");
  bind(read_data, "archive_read_data");
  bind(write_new, "archive_write_new");
  bind(write_set_format_pax_restricted, "archive_write_set_format_pax_restricted");
  bind(write_add_filter_gzip, "archive_write_add_filter_gzip");
  bind(write_add_filter_xz, "archive_write_add_filter_xz");
  bind(write_add_filter_zstd, "archive_write_add_filter_zstd");
  bind(write_open_fd, "archive_write_open_fd");
  bind(write_data, "archive_write_data");
  bind(read_disk_new, "archive_read_disk_new");
  bind(read_disk_entry_from_file, "archive_read_disk_entry_from_file");
  bind(entry_new, "archive_entry_new");
  bind(entry_free, "archive_entry_free");
  bind(entry_copy_sourcepath, "archive_entry_copy_sourcepath");
  bind(entry_copy_stat, "archive_entry_copy_stat");
  bind(entry_set_size, "archive_entry_set_size");
  bind(entry_set_filetype, "archive_entry_set_filetype");
  bind(entry_set_perm, "archive_entry_set_perm");
  bind(entry_set_mtime, "archive_entry_set_mtime");
}

const LibArchive& LibArchive::get() {
  // Loaded once; a failed load throws here and is tried again by the next call.
  static const LibArchive la(kSoname);
  return la;
}

std::size_t unpack_archive(const Root& root, const fs::path& archive, const Report& warning,
                           std::string_view under, bool stop_after) {
  Unpacker u(root, fs::absolute(archive), under, stop_after);
  return u.run(warning);
}

namespace {

class Archive final : public BuildMethod {
 public:
  void validate(const BuildOptions& o) const override {
    if (o.archives.empty()) throw Error("method template needs at least one archive (-t FILE)");
  }
  void check(Build& b) const override {
    for (const auto& a : b.o.archives) {
      UniqueFd f = open_file(a, O_RDONLY);
      struct stat st {};
      if (::fstat(f.get(), &st) != 0) throw_errno("stat", a.string());
      if (!S_ISREG(st.st_mode)) throw Error(a.string() + ": not a regular file");
      b.exports.push_back(read_export_manifest(a));
    }
  }
  void populate(Build& b) const override {
    for (std::size_t i = 0; i < b.o.archives.size(); ++i) {
      const auto& a = b.o.archives[i];
      // An export: its root filesystem (its configuration only for an import).
      std::size_t n = unpack_archive(*b.root, a, b.o.warning, b.exports[i] ? "root" : "");
      if (b.o.progress) {
        b.o.progress("Unpacked " + std::to_string(n) + " entries from " + a.string() + " into " +
                     b.vdir.string());
      }
    }
    make_standard_dirs(*b.root, true);
  }
  [[nodiscard]] bool foreign_root(const Build& /*b*/) const override { return true; }
};

}  // namespace

const BuildMethod& archive_method() {
  static const Archive m;
  return m;
}

}  // namespace vs::provision::detail
