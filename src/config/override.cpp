// One setting changed on a copy of the configuration tree: how `vserver NAME limit set` validates
// a value exactly as the tree would be validated, without touching the tree.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

#include "config/config.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::config {

namespace {

// A temporary directory removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "vserver-config.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw_errno("create temporary directory", tmpl);
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void check_rel(const fs::path& rel) {
  if (rel.empty() || rel.is_absolute()) {
    throw Error("setting " + rel.string() + ": not a path inside the guest's configuration");
  }
  for (const auto& part : rel) {
    if (part == ".." || part == ".") {
      throw Error("setting " + rel.string() + ": not a path inside the guest's configuration");
    }
  }
}

// Maps a problem found in the copy back to the real file.
fs::path real_path(const fs::path& file, const fs::path& copy_root, const fs::path& real_root) {
  std::error_code ec;
  fs::path rel = fs::relative(file, copy_root, ec);
  if (ec || rel.empty() || *rel.begin() == "..") return file;
  return real_root / rel;
}

}  // namespace

GuestConfig with_setting(const Roots& roots, std::string_view name, const fs::path& rel,
                         const std::optional<std::string>& value) {
  check_rel(rel);
  fs::path real_dir = roots.guest_config_dir(name);
  struct stat st {};
  if (::stat(real_dir.c_str(), &st) != 0) {
    throw Error("guest " + std::string(name) + " does not exist (no " + real_dir.string() + ")");
  }
  TempDir tmp;
  std::error_code ec;
  fs::copy(real_dir, tmp.path() / name,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) throw Error(errno_message("copy", real_dir.string(), ec.value()), ec.value());
  fs::path defaults = roots.config / ".defaults";
  if (fs::exists(defaults, ec)) fs::create_directory_symlink(defaults, tmp.path() / ".defaults");
  fs::path file = tmp.path() / name / rel;
  if (value) {
    fs::create_directories(file.parent_path(), ec);
    if (ec) throw Error(errno_message("create", file.parent_path().string(), ec.value()));
    write_file(file, *value + "\n");
  } else {
    fs::remove(file, ec);
  }
  Roots copy = roots;
  copy.config = tmp.path();
  GuestConfig cfg;
  auto problems = check_guest(copy, name, cfg);
  if (!problems.empty()) {
    for (auto& p : problems) p.file = real_path(p.file, tmp.path(), roots.config);
    throw ConfigError(std::move(problems));
  }
  cfg.cfgdir = real_dir;
  // A vdir not given by a link is the default below the real roots.
  if (!fs::is_symlink(real_dir / "vdir", ec)) cfg.vdir = roots.vdir / name;
  return cfg;
}

void save_setting(const GuestConfig& cfg, const fs::path& rel,
                  const std::optional<std::string>& value) {
  check_rel(rel);
  fs::path file = cfg.cfgdir / rel;
  if (!value) {
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw_errno("remove", file.string());
    return;
  }
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) {
    throw Error(errno_message("create", file.parent_path().string(), ec.value()), ec.value());
  }
  write_file_atomic(file, *value + "\n");
}

}  // namespace vs::config
