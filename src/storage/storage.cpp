#include "storage/storage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <unordered_set>

#include <fmt/format.h>

#include "storage/image.hpp"
#include "storage/layout.hpp"
#include "storage/quota.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"

namespace vs::storage {

namespace {

bool present(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

bool empty_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::directory_iterator(dir, ec) == fs::directory_iterator() && !ec;
}

// dlimits/N/directory names the filesystem (util-vserver: only its superblock matters): it must
// be the one of the guest's data.
void check_directory(const config::GuestConfig& cfg, const fs::path& data) {
  const auto& l = *cfg.dlimits.limit;
  if (!l.directory) return;
  struct stat a {};
  struct stat b {};
  fs::path file = cfg.cfgdir / "dlimits" / l.id / "directory";
  if (::stat(l.directory->c_str(), &a) != 0)
    throw_errno(file.string() + ": stat", l.directory->string());
  if (::stat(data.c_str(), &b) != 0) throw_errno("stat", data.string());
  if (a.st_dev != b.st_dev) {
    throw Error(file.string() + ": " + l.directory->string() +
                " is not on the filesystem of the guest's data (" + data.string() +
                "); the limit applies there");
  }
}

std::uint32_t project_id(const config::GuestConfig& cfg) {
  if (!cfg.context) {
    throw Error("disk limit of guest " + cfg.name +
                " by project quota: it needs a static context (" +
                (cfg.cfgdir / "context").string() + ")");
  }
  return static_cast<std::uint32_t>(*cfg.context);
}

config::DiskLimit limit_or_empty(const config::GuestConfig& cfg) {
  return cfg.dlimits.limit.value_or(config::DiskLimit{});
}

ImageSpec image_spec(const config::DiskLimit& l) {
  ImageSpec s;
  s.size_kib = l.space_total;
  s.inodes = l.inodes_total == config::kUnlimited ? 0 : l.inodes_total;
  s.reserved = l.reserved;
  return s;
}

// Removes what is in dir (not dir itself), staying on its filesystem.
void empty_out(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code rec;
    fs::remove_all(it->path(), rec);
    if (rec) throw_errno("remove", it->path().string(), rec.value());
  }
  if (ec) throw_errno("read directory", dir.string(), ec.value());
}

void mount_image(const fs::path& image, const fs::path& data) {
  LoopDevice loop = LoopDevice::attach(image, false);
  MountGuard m(loop.path(), data, "ext4", 0, "");
  m.keep();
  // loop goes out of scope: the mount holds the device, which autoclear detaches with it.
}

Usage statfs_usage(const fs::path& dir) {
  struct statvfs sv {};
  if (::statvfs(dir.c_str(), &sv) != 0) throw_errno("statfs", dir.string());
  Usage u;
  u.space_kib = (sv.f_blocks - sv.f_bfree) * sv.f_frsize / 1024;
  u.inodes = sv.f_files - sv.f_ffree;
  return u;
}

// The usage inside an image that is not mounted: mounted read-only in a private mount namespace,
// which takes the mount and the loop device with it.
Usage unmounted_image_usage(const fs::path& image, const fs::path& data) {
  Usage u;
  run_in_image_root(image, data, [&] { u = statfs_usage(data); });
  return u;
}

void walk(int dirfd, dev_t dev, const std::string& name, Usage& u,
          std::unordered_set<ino_t>& seen) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) throw_errno("duplicate descriptor of", name);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    throw_errno("open directory", name);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> owner(d, ::closedir);
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) throw_errno("read directory", name);
      break;
    }
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      throw_errno("stat", name + "/" + std::string(n));
    }
    if (st.st_dev != dev) continue;
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert(st.st_ino).second) continue;
    u.space_kib += static_cast<std::uint64_t>(st.st_blocks) / 2;
    ++u.inodes;
    if (S_ISDIR(st.st_mode)) {
      UniqueFd fd(::openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) {
        if (errno == ENOENT) continue;
        throw_errno("open directory", name + "/" + std::string(n));
      }
      walk(fd.get(), dev, name + "/" + std::string(n), u, seen);
    }
  }
}

std::string mib(std::uint64_t kib) {
  return kib >= 10 * 1024 ? fmt::format("{} MiB", kib / 1024) : fmt::format("{} KiB", kib);
}

// What the guest's data already takes, where the limit will count it: the project's counters
// once its tree is tagged, else a walk of its data directory.
Usage current_usage(const config::GuestConfig& cfg, const fs::path& data, Method method) {
  if (method == Method::quota && cfg.context &&
      inherited_project(data) == static_cast<std::uint32_t>(*cfg.context)) {
    auto pu = project_usage(data, static_cast<std::uint32_t>(*cfg.context));
    Usage u;
    u.space_kib = (pu.space_bytes + 1023) / 1024;
    u.inodes = pu.inodes;
    return u;
  }
  return walk_usage(data);
}

// A limit below what the guest already uses: an image could not hold its files (mke2fs fails
// late, after a walk and a format), a project quota would leave it unable to write anything.
std::vector<std::string> fit_problems(const config::Roots& roots, const config::GuestConfig& cfg,
                                      const Choice& c) {
  if (!cfg.dlimits.limit || c.method == Method::none) return {};
  // An existing image is not resized: a new limit does not apply to it (a note at start).
  if (c.method == Method::image && present(guest_image(roots, cfg.id()))) return {};
  const auto& l = *cfg.dlimits.limit;
  if (l.space_total == config::kUnlimited && l.inodes_total == config::kUnlimited) return {};
  fs::path data = guest_data_dir(roots, cfg);
  Usage u = current_usage(cfg, data, c.method);
  fs::path dir = cfg.cfgdir / "dlimits" / l.id;
  std::vector<std::string> out;
  if (l.space_total != config::kUnlimited && u.space_kib > l.space_total) {
    out.push_back(fmt::format(
        "{}: {} KiB ({}) is less than the {} KiB ({}) the guest's data already uses in {}; "
        "raise the limit or free space first",
        (dir / "space_total").string(), l.space_total, mib(l.space_total), u.space_kib,
        mib(u.space_kib), data.string()));
  }
  if (l.inodes_total != config::kUnlimited && u.inodes > l.inodes_total) {
    out.push_back(fmt::format(
        "{}: {} inodes is less than the {} the guest's data already uses in {}; raise the "
        "limit or remove files first",
        (dir / "inodes_total").string(), l.inodes_total, u.inodes, data.string()));
  }
  return out;
}

void refuse_unfit(const config::Roots& roots, const config::GuestConfig& cfg, const Choice& c) {
  auto problems = fit_problems(roots, cfg, c);
  if (problems.empty()) return;
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
  throw Error("disk limit of guest " + cfg.name + " by " + to_string(c.method) + ": " + text);
}

}  // namespace

std::vector<std::string> limit_problems(const config::Roots& roots,
                                        const config::GuestConfig& cfg) {
  if (!cfg.dlimits.limit) return {};
  Choice c;
  try {
    c = choose_method(roots, cfg);
  } catch (const Error& e) {
    return {e.what()};
  }
  return fit_problems(roots, cfg, c);
}

const char* to_string(Method m) {
  switch (m) {
    case Method::none:
      return "none";
    case Method::quota:
      return "quota";
    case Method::image:
      return "image";
  }
  return "unknown";
}

Choice choose_method(const config::Roots& roots, const config::GuestConfig& cfg) {
  fs::path image = guest_image(roots, cfg.id());
  bool have_image = present(image);
  const auto& d = cfg.dlimits;
  if (!d.limit) {
    if (have_image) return {Method::image, "its data is in " + image.string()};
    return {Method::none, "no disk limit"};
  }
  using config::DiskLimitMethod;
  if (d.method == DiskLimitMethod::image) return {Method::image, "dlimits/method is image"};
  fs::path data = guest_data_dir(roots, cfg);
  if (have_image) {
    if (d.method == DiskLimitMethod::quota) {
      throw Error("disk limit of guest " + cfg.name +
                  ": dlimits/method is quota, but its data is in " + image.string() +
                  "; its data must be copied out first");
    }
    return {Method::image, "its data is in " + image.string()};
  }
  auto support = project_quota_support(data);
  if (support.enforced) {
    return {Method::quota, d.method == DiskLimitMethod::quota
                               ? "dlimits/method is quota"
                               : "the filesystem enforces project quotas"};
  }
  if (d.method == DiskLimitMethod::quota) {
    throw Error("disk limit of guest " + cfg.name + " by project quota: " + support.why_not +
                " (mount it with prjquota; ext4 needs mkfs.ext4 -O quota,project or tune2fs -O "
                "project,quota)");
  }
  if (d.limit->space_total == config::kUnlimited) {
    throw Error("disk limit of guest " + cfg.name + ": " + support.why_not +
                ", and the image method needs space_total (" +
                (cfg.cfgdir / "dlimits" / d.limit->id / "space_total").string() + ")");
  }
  return {Method::image, support.why_not};
}

Prepared::Prepared(Prepared&& o) noexcept : notes(std::move(o.notes)), image_(std::move(o.image_)) {
  o.image_.clear();
}

Prepared::~Prepared() {
  if (image_.empty()) return;
  try {
    release_image(image_);
  } catch (const Error& e) {
    report_warning(std::string("vserver: ") + e.what());
  }
}

Prepared prepare(const config::Roots& roots, const config::GuestConfig& cfg) {
  Prepared p;
  Choice c = choose_method(roots, cfg);
  fs::path data = guest_data_dir(roots, cfg);
  if (c.method == Method::none) {
    // A guest whose limit was removed: lift the quota its tree still carries.
    if (cfg.context) {
      try {
        if (project_quota_support(data).enforced &&
            inherited_project(data) == static_cast<std::uint32_t>(*cfg.context)) {
          set_project_limits(data, static_cast<std::uint32_t>(*cfg.context), QuotaLimits{});
        }
      } catch (const Error& e) {
        p.notes.push_back(std::string("disk limit not lifted: ") + e.what());
      }
    }
    return p;
  }
  if (cfg.dlimits.limit) check_directory(cfg, data);
  refuse_unfit(roots, cfg, c);
  if (c.method == Method::quota) {
    std::uint32_t projid = project_id(cfg);
    if (inherited_project(data) != projid) {
      std::uint64_t n = tag_tree(data, projid);
      p.notes.push_back(
          fmt::format("disk limit: {} inodes of {} given project id {}", n, data.string(), projid));
    }
    set_project_limits(data, projid, quota_limits(*cfg.dlimits.limit));
    p.notes.push_back(fmt::format("disk limit by project quota {} ({})", projid, c.reason));
    return p;
  }
  // The image method.
  fs::path image = guest_image(roots, cfg.id());
  release_image(image);  // a mount left by a run that crashed
  if (!present(image)) {
    struct stat st {};
    if (::stat(data.c_str(), &st) != 0) throw_errno("stat", data.string());
    bool populate = !empty_dir(data);
    create_image(image, image_spec(*cfg.dlimits.limit), populate ? &data : nullptr);
    // The image now holds the guest's files: they leave the host's filesystem.
    if (populate) empty_out(data);
    p.image_ = image;  // from here on, a failure unmounts
    mount_image(image, data);
    if (::chown(data.c_str(), st.st_uid, st.st_gid) != 0) throw_errno("chown", data.string());
    if (::chmod(data.c_str(), st.st_mode & 07777) != 0) throw_errno("chmod", data.string());
    p.notes.push_back("disk limit: created " + image.string() +
                      (populate ? " with the guest's files" : ""));
  } else {
    if (!empty_dir(data)) {
      // Mounting the image would hide them, and they would not count against the limit.
      throw Error("disk limit of guest " + cfg.name + ": " + data.string() +
                  " holds files while the guest's data is in " + image.string() +
                  "; move them into the guest while it runs, or away");
    }
    p.image_ = image;
    mount_image(image, data);
  }
  if (cfg.dlimits.limit && cfg.dlimits.limit->space_total != config::kUnlimited) {
    // The image was sized for its space_total when made (a few blocks more, as ext4's overhead
    // grows with the size): a space_total changed since is not applied.
    std::uint64_t want = cfg.dlimits.limit->space_total;
    std::uint64_t usable = image_usable_kib(image);
    if (usable < want || usable > want + want / 50 + 1024) {
      p.notes.push_back(fmt::format(
          "disk limit: the image {} offers {} KiB, dlimits says {} KiB; an image is not resized",
          image.string(), usable, want));
    }
  }
  if (!cfg.dlimits.limit) {
    // dlimits/ was removed, but the data is still in the image, whose size still limits it.
    p.notes.push_back(fmt::format(
        "note: {}/dlimits is gone, but the guest's data is in {}, whose size still limits it; "
        "to go back to a plain directory: vserver {} stop && vserver {} remove-image",
        cfg.cfgdir.string(), image.string(), cfg.name, cfg.name));
  }
  p.notes.push_back("disk limit by image " + image.string() + " (" + c.reason + ")");
  return p;
}

void release(const config::Roots& roots, std::string_view id) {
  release_image(guest_image(roots, id));
}

std::vector<std::string> apply_limit(const config::Roots& roots, const config::GuestConfig& cfg) {
  Choice c = choose_method(roots, cfg);
  refuse_unfit(roots, cfg, c);
  fs::path data = guest_data_dir(roots, cfg);
  if (c.method == Method::image) {
    return {"the disk limit of " + cfg.name + " is kept by its image " +
            guest_image(roots, cfg.id()).string() +
            ", which is not resized: the running guest keeps its size"};
  }
  if (c.method == Method::none) {
    if (cfg.context && inherited_project(data) == static_cast<std::uint32_t>(*cfg.context) &&
        project_quota_support(data).enforced) {
      set_project_limits(data, static_cast<std::uint32_t>(*cfg.context), QuotaLimits{});
      return {"disk limit lifted"};
    }
    return {};
  }
  std::uint32_t projid = project_id(cfg);
  std::vector<std::string> notes;
  if (inherited_project(data) != projid) {
    notes.push_back(
        fmt::format("disk limit: {} inodes given project id {}", tag_tree(data, projid), projid));
  }
  set_project_limits(data, projid, quota_limits(limit_or_empty(cfg)));
  return notes;
}

Usage walk_usage(const fs::path& dir) {
  UniqueFd fd = open_file(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("stat", dir.string());
  Usage u;
  u.space_kib = static_cast<std::uint64_t>(st.st_blocks) / 2;
  u.inodes = 1;
  std::unordered_set<ino_t> seen;
  walk(fd.get(), st.st_dev, dir.string(), u, seen);
  u.source = "walk";
  return u;
}

Usage disk_usage(const config::Roots& roots, const config::GuestConfig& cfg, bool walk) {
  fs::path data = guest_data_dir(roots, cfg);
  fs::path image = guest_image(roots, cfg.id());
  Usage u;
  std::optional<Choice> c;
  try {
    c = choose_method(roots, cfg);
  } catch (const Error&) {
    // No mechanism for the limit: the walk still tells the usage.
  }
  // The image is made at the next start: until then the files are in the directory.
  struct stat st {};
  bool have_image = ::lstat(image.c_str(), &st) == 0;
  if (c && c->method == Method::image && have_image) {
    auto mounts = image_mounts(image);
    std::error_code ec;
    fs::path real = fs::weakly_canonical(data, ec);
    bool mounted = std::find(mounts.begin(), mounts.end(), ec ? data : real) != mounts.end();
    if (mounted) {
      u = walk ? walk_usage(data) : statfs_usage(data);
    } else {
      u = unmounted_image_usage(image, data);
    }
    u.source = walk && mounted ? "walk of " + image.string() : "image " + image.string();
  } else if (!walk && c && c->method == Method::quota && cfg.context &&
             inherited_project(data) == static_cast<std::uint32_t>(*cfg.context)) {
    auto pu = project_usage(data, static_cast<std::uint32_t>(*cfg.context));
    u.space_kib = (pu.space_bytes + 1023) / 1024;
    u.inodes = pu.inodes;
    u.source = fmt::format("project quota {}", *cfg.context);
  } else {
    u = walk_usage(data);
  }
  if (cfg.dlimits.limit) {
    const auto& l = *cfg.dlimits.limit;
    if (l.space_total != config::kUnlimited) u.space_total_kib = l.space_total;
    if (l.inodes_total != config::kUnlimited) u.inodes_total = l.inodes_total;
  }
  return u;
}

}  // namespace vs::storage
