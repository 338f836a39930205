#include "storage/layout.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>

#include "sys/error.hpp"

namespace vs::storage {

fs::path bases_dir(const config::Roots& roots) {
  return roots.vdir / ".bases";
}

fs::path base_dir(const config::Roots& roots, std::string_view base) {
  return bases_dir(roots) / base;
}

fs::path layers_root(const config::Roots& roots) {
  return roots.vdir / ".layers";
}

fs::path layers_dir(const config::Roots& roots, std::string_view id) {
  return layers_root(roots) / id;
}

bool valid_base_name(std::string_view name) {
  return config::valid_guest_name(name);
}

std::filesystem::path guest_data_dir(const config::Roots& roots, const config::GuestConfig& cfg) {
  if (cfg.base) return layers_dir(roots, cfg.id());
  return cfg.vdir.empty() ? roots.default_vdir(cfg.id()) : cfg.vdir;
}

std::optional<Overlay> guest_overlay(const config::Roots& roots, const config::GuestConfig& cfg) {
  if (!cfg.base) return std::nullopt;
  fs::path layers = layers_dir(roots, cfg.id());
  return Overlay{base_dir(roots, *cfg.base), layers / "upper", layers / "work"};
}

std::filesystem::path guest_image(const config::Roots& roots, std::string_view id) {
  return roots.vdir / ".images" / (std::string(id) + ".ext4");
}

bool exists_in_root(const config::Roots& roots, const config::GuestConfig& cfg,
                    std::string_view path) {
  std::string rel(path);
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  struct stat st {};
  auto ov = guest_overlay(roots, cfg);
  if (!ov) return ::lstat((cfg.vdir / rel).c_str(), &st) == 0;
  if (::lstat((ov->upper / rel).c_str(), &st) == 0) {
    return !(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
  }
  return ::lstat((ov->lower / rel).c_str(), &st) == 0;
}

void check_overlay(const config::GuestConfig& cfg, const Overlay& o) {
  auto need_dir = [&](const fs::path& p, const std::string& what) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) throw_errno(what, p.string());
    if (!S_ISDIR(st.st_mode)) throw Error(what + " " + p.string() + " is not a directory");
  };
  need_dir(o.lower, "base '" + cfg.base.value_or("") + "'");
  need_dir(o.upper, "upper layer");
  need_dir(o.work, "work directory");
}

}  // namespace vs::storage
