// A guest's disk limit (dlimits/) and disk usage (vdu): project quotas where the filesystem of its
// data enforces them, else an ext4 image of its own on a loop device. See docs/storage.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/roots.hpp"

namespace vs::storage {

namespace fs = std::filesystem;

enum class Method { none, quota, image };
const char* to_string(Method m);

struct Choice {
  Method method = Method::none;
  std::string reason;  // why, for the message at start
};
// Which mechanism keeps the guest's disk limit on this host. The image method is kept once the
// guest has an image (its data is in there); auto takes the project quota when the filesystem of
// the guest's data enforces one, else an image. Throws when the method asked for cannot be had.
Choice choose_method(const config::Roots& roots, const config::GuestConfig& cfg);

// The guest's storage for one run: the disk limit applied, the image mounted on the guest's data
// directory (in this mount namespace). The image is unmounted on destruction unless kept; then
// release() undoes it when the guest stops.
class Prepared {
 public:
  Prepared() = default;
  Prepared(Prepared&& o) noexcept;
  Prepared& operator=(Prepared&&) = delete;
  Prepared(const Prepared&) = delete;
  ~Prepared();
  void keep() { image_.clear(); }
  std::vector<std::string> notes;  // what was done (messages for the user)

 private:
  friend Prepared prepare(const config::Roots&, const config::GuestConfig&);
  fs::path image_;
};
// Applies cfg's disk limit before the guest starts: tags the tree with its project id and sets
// the quota, or creates (on first use, with the guest's files moved into it), attaches and mounts
// its image. Nothing is left behind on failure.
Prepared prepare(const config::Roots& roots, const config::GuestConfig& cfg);

// Undoes what prepare mounted for the guest id: every mount of its image. No error if none.
void release(const config::Roots& roots, std::string_view id);

// What keeps cfg's disk limit from being applied, checked before anything is made: the method
// cannot be had, or the limit is below what the guest's data already uses (both numbers given).
// Empty when the limit can be applied. prepare and apply_limit refuse the same.
std::vector<std::string> limit_problems(const config::Roots& roots, const config::GuestConfig& cfg);

// Sets the limit of a guest now (limit set / apply): the project quota's limits. Returns notes
// (an image is not resized: a note says so).
std::vector<std::string> apply_limit(const config::Roots& roots, const config::GuestConfig& cfg);

struct Usage {
  std::uint64_t space_kib = 0;  // 1 KiB blocks allocated
  std::uint64_t inodes = 0;
  std::optional<std::uint64_t> space_total_kib;  // the limits in force, when there are
  std::optional<std::uint64_t> inodes_total;
  std::string source;  // "project quota 40001", "image /var/lib/vservers/.images/web.ext4", "walk"
};
// The guest's disk usage: the quota counters or its image's filesystem when it has one (fast),
// else (or with walk) a walk over its data directory counting every inode once (hard links) by
// st_blocks, on its filesystem only.
Usage disk_usage(const config::Roots& roots, const config::GuestConfig& cfg, bool walk = false);

// The walk alone: 1 KiB blocks and inodes below dir (dir included), each inode once.
Usage walk_usage(const fs::path& dir);

}  // namespace vs::storage
