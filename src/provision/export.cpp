// vserver NAME export FILE: a stopped guest's configuration and root filesystem in one archive,
// which `vserver NEW import FILE` restores (here or on another host) and `build -m template`
// recognises.
//
// The archive is a POSIX (pax) tar, compressed by the file's suffix:
//   vserver-export.json   the manifest, always the first entry
//   config/...            the configuration directory, without its vdir, run and cache links
//   root/...              the root filesystem
// Owners are numeric; extended attributes (so file capabilities and SELinux labels), POSIX ACLs,
// hard links, device nodes, fifos and symbolic links are kept. Sockets are left out, and the walk
// does not enter another filesystem mounted in the root (like the clone method).
//
// The root of a unified guest is exported as its merged view (the overlay mounted in a helper's
// private mount namespace), that of a guest kept in a disk image as the image's files (the image
// mounted read-only there); the configuration leaves out unify/base, so an import of either is a
// guest with a plain root of its own.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <ctime>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "provision/build.hpp"
#include "provision/internal.hpp"
#include "provision/libarchive.hpp"
#include "provision/method.hpp"
#include "state/state.hpp"
#include "storage/image.hpp"
#include "storage/layout.hpp"
#include "storage/overlay.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/json.hpp"

namespace vs::provision {

namespace {

using detail::LibArchive;

struct WriteDeleter {
  const LibArchive* la;
  void operator()(struct archive* a) const { la->write_free(a); }
};
struct ReadDeleter {
  const LibArchive* la;
  void operator()(struct archive* a) const { la->read_free(a); }
};
struct EntryDeleter {
  const LibArchive* la;
  void operator()(struct archive_entry* e) const { la->entry_free(e); }
};

enum class Filter { none, gzip, xz, zstd };

Filter filter_for(const fs::path& file) {
  std::string n = file.filename().string();
  auto ends = [&](std::string_view s) {
    return n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".tar")) return Filter::none;
  if (ends(".tar.gz") || ends(".tgz")) return Filter::gzip;
  if (ends(".tar.xz") || ends(".txz")) return Filter::xz;
  if (ends(".tar.zst") || ends(".tzst")) return Filter::zstd;
  throw Error(file.string() + ": unknown archive type; name it .tar, .tar.gz, .tar.xz or .tar.zst");
}

std::vector<std::string> sorted_names(int dirfd, const std::string& where) {
  int d = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) throw_errno("duplicate fd of", where);
  DIR* dir = ::fdopendir(d);
  if (dir == nullptr) {
    int err = errno;
    ::close(d);
    throw_errno("open directory", where, err);
  }
  ::rewinddir(dir);
  std::vector<std::string> out;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      int err = errno;
      ::closedir(dir);
      if (err != 0) throw_errno("read directory", where, err);
      break;
    }
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class Writer {
 public:
  Writer(const fs::path& file, int fd, Filter filter, const detail::Report& warning)
      : la_(LibArchive::get()),
        file_(file),
        out_(la_.write_new(), WriteDeleter{&la_}),
        disk_(la_.read_disk_new(), ReadDeleter{&la_}),
        warning_(warning) {
    if (!out_ || !disk_) throw Error("export to " + file.string() + ": out of memory");
    check(la_.write_set_format_pax_restricted(out_.get()), "set the archive format");
    switch (filter) {
      case Filter::none:
        break;
      case Filter::gzip:
        check(la_.write_add_filter_gzip(out_.get()), "add gzip compression");
        break;
      case Filter::xz:
        check(la_.write_add_filter_xz(out_.get()), "add xz compression");
        break;
      case Filter::zstd:
        check(la_.write_add_filter_zstd(out_.get()), "add zstd compression");
        break;
    }
    check(la_.write_open_fd(out_.get(), fd), "open");
  }

  void add_file(const std::string& path, const std::string& content, mode_t mode) {
    std::unique_ptr<struct archive_entry, EntryDeleter> e(la_.entry_new(), EntryDeleter{&la_});
    la_.entry_set_pathname(e.get(), path.c_str());
    la_.entry_set_filetype(e.get(), AE_IFREG);
    la_.entry_set_perm(e.get(), mode);
    la_.entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    la_.entry_set_mtime(e.get(), std::time(nullptr), 0);
    check(la_.write_header(out_.get(), e.get()), "write " + path + " into");
    if (la_.write_data(out_.get(), content.data(), content.size()) < 0) {
      check(ARCHIVE_FATAL, "write " + path + " into");
    }
  }

  // The tree at dir under the archive name prefix; top-level names in skip_top are left out.
  std::size_t add_tree(const fs::path& dir, const std::string& prefix,
                       const std::vector<std::string>& skip_top = {}) {
    UniqueFd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno("stat", dir.string());
    dev_ = st.st_dev;
    count_ = 0;
    top_ = prefix;
    add_entry(-1, dir, prefix, st);  // the directory itself: its owner and mode
    add_dir(fd.get(), dir, prefix, skip_top);
    return count_;
  }

  void close() { check(la_.write_close(out_.get()), "finish"); }

 private:
  void check(int r, const std::string& what) {
    if (r == ARCHIVE_WARN && warning_) {
      warning_(what + " " + file_.string() + ": " + message());
      return;
    }
    if (r < ARCHIVE_WARN) {
      throw Error(what + " " + file_.string() + ": " + message(), la_.error_number(out_.get()));
    }
  }
  std::string message() {
    const char* s = la_.error_string(out_.get());
    return s != nullptr ? s : "unknown error";
  }

  void add_dir(int dirfd, const fs::path& where, const std::string& prefix,
               const std::vector<std::string>& skip) {
    for (const auto& name : sorted_names(dirfd, where.string())) {
      check_interrupted();
      fs::path path = where / name;
      std::string arch = prefix + "/" + name;
      // skip holds paths relative to the tree's top.
      if (std::find(skip.begin(), skip.end(), arch.substr(top_.size() + 1)) != skip.end()) continue;
      struct stat st {};
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        throw_errno("stat", path.string());
      }
      if (S_ISSOCK(st.st_mode)) {
        if (warning_) warning_("left out socket " + path.string());
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        add_entry(-1, path, arch, st);
        if (st.st_dev != dev_) {
          if (warning_) warning_("not exporting " + path.string() + ": another filesystem");
          continue;
        }
        int sub = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) throw_errno("open directory", path.string());
        UniqueFd subfd(sub);
        add_dir(subfd.get(), path, arch, skip);
        continue;
      }
      if (S_ISREG(st.st_mode)) {
        int f = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f < 0) throw_errno("open", path.string());
        UniqueFd file(f);
        add_entry(file.get(), path, arch, st);
        continue;
      }
      add_entry(-1, path, arch, st);  // symlinks, devices, fifos
    }
  }

  void add_entry(int fd, const fs::path& path, const std::string& arch, const struct stat& st) {
    std::unique_ptr<struct archive_entry, EntryDeleter> e(la_.entry_new(), EntryDeleter{&la_});
    la_.entry_copy_sourcepath(e.get(), path.c_str());
    la_.entry_set_pathname(e.get(), arch.c_str());
    // Owners, mode, times, the symlink target, extended attributes and ACLs; no name lookup,
    // so owners stay numeric.
    struct stat copy = st;
    int r = la_.read_disk_entry_from_file(disk_.get(), e.get(), fd, &copy);
    if (r < ARCHIVE_WARN) {
      const char* s = la_.error_string(disk_.get());
      throw Error("read " + path.string() + ": " + (s != nullptr ? s : "unknown error"));
    }
    la_.entry_set_pathname(e.get(), arch.c_str());
    bool data = S_ISREG(st.st_mode);
    if (data && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = links_.find(key);
      if (it != links_.end()) {
        la_.entry_set_hardlink(e.get(), it->second.c_str());
        la_.entry_set_size(e.get(), 0);
        data = false;
      } else {
        links_.emplace(key, arch);
      }
    }
    check(la_.write_header(out_.get(), e.get()), "write " + arch + " into");
    if (data) copy_data(fd, path, arch, st.st_size);
    ++count_;
  }

  void copy_data(int fd, const fs::path& path, const std::string& arch, off_t size) {
    std::vector<char> buf(std::size_t{1} << 20);
    off_t done = 0;
    while (done < size) {
      check_interrupted();
      ssize_t n = ::pread(fd, buf.data(), buf.size(), done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("read", path.string());
      }
      if (n == 0) break;  // shrank meanwhile: libarchive pads the entry
      if (la_.write_data(out_.get(), buf.data(), static_cast<std::size_t>(n)) < 0) {
        check(ARCHIVE_FATAL, "write " + arch + " into");
      }
      done += n;
    }
  }

  const LibArchive& la_;
  fs::path file_;
  std::unique_ptr<struct archive, WriteDeleter> out_;
  std::unique_ptr<struct archive, ReadDeleter> disk_;
  const detail::Report& warning_;
  dev_t dev_ = 0;
  std::size_t count_ = 0;
  std::string top_;  // the archive prefix of the tree being added
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

ExportManifest parse_export_manifest(std::string_view text) {
  ExportManifest m;
  try {
    auto j = nlohmann::json::parse(text);
    json::require_object(j, "the manifest");
    if (json::string(j, "format") != "vserver-export") throw Error("not an export manifest");
    m.version = json::integer<int>(j, "version");
    m.name = json::string(j, "name");
    m.context = json::optional_integer<int>(j, "context", config::kMinContext, config::kMaxContext);
    if (j.contains("hostname")) m.hostname = json::string(j, "hostname");
    if (j.contains("created")) m.created = json::string(j, "created");
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("not a manifest: ") + e.what());
  } catch (const Error& e) {
    throw Error("not a manifest: " + std::string(e.what()));
  }
  if (m.version != 1) {
    throw Error("export format version " + std::to_string(m.version) +
                " is not known to this vserver (1)");
  }
  return m;
}

std::optional<ExportManifest> read_export_manifest(const fs::path& archive) {
  const LibArchive& la = LibArchive::get();
  std::unique_ptr<struct archive, ReadDeleter> in(la.read_new(), ReadDeleter{&la});
  if (!in) throw Error("read " + archive.string() + ": out of memory");
  la.read_support_filter_all(in.get());
  la.read_support_format_all(in.get());
  auto fail = [&](const std::string& what) {
    const char* s = la.error_string(in.get());
    return Error(what + " " + archive.string() + ": " + (s != nullptr ? s : "unknown error"),
                 la.error_number(in.get()));
  };
  if (la.read_open_filename(in.get(), archive.c_str(), std::size_t{64} * 1024) != ARCHIVE_OK) {
    throw fail("open");
  }
  struct archive_entry* e = nullptr;
  int r = la.read_next_header(in.get(), &e);
  if (r == ARCHIVE_EOF) return std::nullopt;
  if (r < ARCHIVE_WARN) throw fail("read");
  const char* p = la.entry_pathname(e);
  if (p == nullptr || std::string_view(p) != kExportManifest) return std::nullopt;
  std::string text;
  std::array<char, 4096> buf{};
  for (;;) {
    la_ssize_t n = la.read_data(in.get(), buf.data(), buf.size());
    if (n < 0) throw fail("read the manifest of");
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > std::size_t{1024} * 1024)
      throw Error(archive.string() + ": the manifest is too large");
  }
  try {
    return parse_export_manifest(text);
  } catch (const Error& e) {
    rethrow_with_context(e, archive.string() + ": " + std::string(kExportManifest));
  }
}

std::size_t export_guest(const config::Roots& roots, std::string_view name_in, const fs::path& file,
                         const std::function<void(const std::string&)>& warning) {
  std::string name(name_in);
  fs::path cfgdir = roots.guest_config_dir(name);
  struct stat st {};
  if (::stat(cfgdir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw GuestNotFound("Can not find a vserver-setup at '" + cfgdir.string() + "/'");
  }
  Filter filter = filter_for(file);
  state::GuestLock lock(roots, name);
  if (state::guest_running(roots, name)) {
    throw Error("vserver '" + name + "' is running; stop it before exporting it");
  }
  config::GuestConfig cfg;
  auto problems = config::check_guest(roots, name, cfg);
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems) fmt::format_to(std::back_inserter(text), "\n{}", p.to_string());
    throw Error("vserver '" + name +
                "' has configuration problems; fix them before exporting:" + text);
  }
  // Where the root's files are: the vdir, the merged view of a unified guest, or a disk image.
  std::optional<storage::Overlay> overlay = storage::guest_overlay(roots, cfg);
  fs::path image = storage::guest_image(roots, cfg.id());
  bool in_image = ::lstat(image.c_str(), &st) == 0;
  if (overlay && in_image) {
    throw Error("the layer of vserver '" + name + "' (on base '" + *cfg.base +
                "') is in the disk image " + image.string() +
                "; export does not take a unified guest kept by the image method");
  }
  if (overlay) storage::check_overlay(cfg, *overlay);
  if (in_image && !storage::image_mounts(image).empty()) {
    throw Error("the disk image of vserver '" + name + "', " + image.string() +
                ", is mounted; unmount it before exporting");
  }
  if (::stat(cfg.vdir.c_str(), &st) != 0)
    throw_errno("stat the root of vserver " + name, cfg.vdir.string());

  nlohmann::json m;
  m["format"] = "vserver-export";
  m["version"] = 1;
  m["name"] = name;
  m["context"] = cfg.context ? nlohmann::json(*cfg.context) : nlohmann::json(nullptr);
  m["hostname"] = cfg.uts.nodename.value_or(cfg.name);
  std::array<char, 32> when{};
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(when.data(), when.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  m["created"] = when.data();
  m["vserver"] = VSERVER_VERSION;

  // Written beside the target and renamed over it at the end: never half an archive under the
  // name.
  fs::path abs = fs::absolute(file);
  fs::path tmp =
      abs.parent_path() / ("." + abs.filename().string() + ".tmp-" + std::to_string(::getpid()));
  UniqueFd fd = open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
  TempDir guard(tmp);  // removes the file on failure
  clear_interrupt();
  std::size_t entries = 0;
  auto write_archive = [&] {
    Writer w(abs, fd.get(), filter, warning);
    w.add_file(std::string(kExportManifest), m.dump(2) + "\n", 0644);
    // unify/base: the root is exported whole, so the import stands on its own.
    entries += w.add_tree(cfgdir, "config", {"vdir", "run", "cache", "unify/base"});
    entries += w.add_tree(cfg.vdir, "root");
    w.close();
  };
  // A unified guest's or an image's root is mounted in a private mount namespace to be read.
  if (overlay) {
    storage::run_in_merged_root(*overlay, cfg.vdir, write_archive);
  } else if (in_image) {
    storage::run_in_image_root(image, cfg.vdir, write_archive);
  } else {
    write_archive();
  }
  if (::fsync(fd.get()) != 0) throw_errno("sync", tmp.string());
  if (::fchmod(fd.get(), 0600) != 0) throw_errno("chmod", tmp.string());
  fd.reset();
  if (::rename(tmp.c_str(), abs.c_str()) != 0)
    throw_errno("rename " + tmp.string() + " to", abs.string());
  guard.dismiss();
  return entries;
}

namespace detail {

StagedImport stage_import(const config::Roots& roots, const BuildOptions& o,
                          const ExportManifest* manifest) {
  const std::string& name = o.name;
  if (o.archives.size() != 1 || manifest == nullptr) {
    throw Error((o.archives.empty() ? std::string("import") : o.archives.front().string()) +
                ": not an archive made by vserver NAME export");
  }
  StagedImport out;
  fs::path stage = roots.config / ("." + name + ".import-" + std::to_string(::getpid()));
  remove_tree(stage);  // a leftover of an earlier import by a process of this pid
  if (::mkdir(stage.c_str(), 0700) != 0) throw_errno("create directory", stage.string());
  out.guard = std::make_unique<TempDir>(stage);
  out.config = stage / name;
  if (::mkdir(out.config.c_str(), 0755) != 0) {
    throw_errno("create directory", out.config.string());
  }
  Root croot{out.config, open_file(out.config, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
  unpack_archive(croot, o.archives.front(), o.warning, "config", true);
  // Where the guest's root and run-time state are is this host's business, never the archive's.
  for (const char* link : {"vdir", "run", "cache"}) {
    if (lexists(out.config / link)) {
      throw Error(o.archives.front().string() + ": refusing entry \"config/" + link +
                  "\": an export does not say where the guest's files are on this host");
    }
  }
  config::Roots staged = roots;
  staged.config = stage;
  config::GuestConfig imported;
  auto problems = config::check_guest(staged, name, imported);
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems) {
      fmt::format_to(std::back_inserter(text), "\n{}: {}",
                     p.file.lexically_relative(out.config).string(), p.message);
    }
    throw Error(o.archives.front().string() + ": the exported configuration has problems:" + text);
  }
  out.hostname = imported.uts.nodename.value_or(manifest->name);
  return out;
}

}  // namespace detail

}  // namespace vs::provision
