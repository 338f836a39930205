// vserver NAME limit [show [--json] | set KEY VALUE [--save] | unset KEY [--save] | apply]
//
// The Linux-VServer /proc/virtual/XID/limit view (current, peak, limit, hits per resource) read
// from the guest's cgroup, and live changes of its limits.
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <array>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cgroup/cgroup.hpp"
#include "cgroup/limits.hpp"
#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "config/config.hpp"
#include "runtime/runtime.hpp"
#include "state/state.hpp"
#include "storage/storage.hpp"

namespace vs::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kLimitHelp = R"(Show or change a guest's resource limits.

  vserver NAME limit [show] [--json]     use, peak, limit and hits per resource
  vserver NAME limit set KEY VALUE       change a limit of the running guest at once
  vserver NAME limit unset KEY           remove it (back to unlimited / the default)
  vserver NAME limit apply               re-apply the configuration to the running guest

set and unset change only the running guest unless --save is given, which also writes
the value into the guest's configuration (then the guest need not be running).

KEY is a file of the configuration, relative to /etc/vservers/NAME:
  rlimits/RES[.soft|.hard]  util-vserver limits (rss and as in pages; nproc, nofile, ...)
  limits/memory, limits/swap, limits/address-space (bytes: 512M, 2G), limits/processes,
  limits/cpu (CPUs: 0.5, or 50%)
  sched/fill-rate, sched/interval, sched/tokens-max, sched/priority-bias, ...
  cpuset/cpus, cpuset/mems, cgroup/FILE (written verbatim into the guest's cgroup)
  dlimits/N/space_total (KiB), dlimits/N/inodes_total, dlimits/N/reserved (percent): the disk
  limit, changed at once where a project quota keeps it (an image is not resized)
Short forms: rss.hard = rlimits/rss.hard, memory = limits/memory, fill-rate = sched/fill-rate,
cpus = cpuset/cpus. See docs/limits.md.
)";

constexpr std::array<std::string_view, 19> kRlimitNames = {
    "cpu",   "fsize",    "data",  "stack",  "core", "rss",   "nproc",  "nofile", "memlock", "as",
    "locks", "msgqueue", "nsock", "openfd", "anon", "shmem", "semary", "nsems",  "dentry"};
constexpr std::array<std::string_view, 5> kLimitNames = {"memory", "swap", "address-space",
                                                         "processes", "cpu"};
constexpr std::array<std::string_view, 10> kSchedNames = {
    "fill-rate", "interval",   "tokens",    "tokens-min", "tokens-max",
    "prio-bias", "fill-rate2", "interval2", "idle-time",  "priority-bias"};

template <size_t N>
bool one_of(const std::array<std::string_view, N>& table, std::string_view v) {
  for (auto t : table) {
    if (t == v) return true;
  }
  return false;
}

// The configuration file a KEY names.
fs::path key_path(const std::string& key) {
  if (key.find('/') != std::string::npos) return key;
  if (one_of(kLimitNames, key)) return fs::path("limits") / key;
  if (one_of(kSchedNames, key)) return fs::path("sched") / key;
  if (key == "cpus" || key == "mems") return fs::path("cpuset") / key;
  std::string res = key.substr(0, key.find('.'));
  if (one_of(kRlimitNames, res)) return fs::path("rlimits") / key;
  throw Error("limit: unknown key " + key +
              " (try rlimits/RES, limits/memory, sched/fill-rate, cpuset/cpus or cgroup/FILE; see "
              "vserver NAME limit --help)");
}

std::string num(const std::optional<std::uint64_t>& v) {
  if (!v) return "-";
  if (*v == cgroup::kMax) return "inf";
  return std::to_string(*v);
}

std::optional<std::uint64_t> pages(const std::optional<std::uint64_t>& bytes, std::uint64_t page) {
  if (!bytes || *bytes == cgroup::kMax) return bytes;
  return (*bytes + page - 1) / page;
}

nlohmann::json jnum(const std::optional<std::uint64_t>& v) {
  if (!v) return nullptr;
  if (*v == cgroup::kMax) return "max";
  return *v;
}

std::string cpus_text(const std::optional<cgroup::CpuMax>& m) {
  if (!m) return "-";
  if (m->quota_us == cgroup::kMax || m->period_us == 0) return "inf";
  return fmt::format("{:.3g}",
                     static_cast<double>(m->quota_us) / static_cast<double>(m->period_us));
}

int show(const Globals& g, const std::string& name, bool json) {
  auto cfg = config::load_guest(g.roots, name);
  auto st = state::read_state(g.roots, cfg.id());
  if (!st || !state::init_alive(*st)) {
    print_error("limit show: vserver '" + name + "' is not running");
    return 1;
  }
  auto u = runtime::guest_cgroup(*st).usage();
  auto host = runtime::host_facts();
  auto plan = cgroup::plan_limits(cfg, host);
  const std::uint64_t page = host.page_size;
  std::optional<std::uint64_t> as_limit;
  std::optional<std::uint64_t> nofile;
  for (const auto& l : plan.rlimits) {
    if (l.resource == RLIMIT_AS) as_limit = l.hard == RLIM_INFINITY ? cgroup::kMax : l.hard;
    if (l.resource == RLIMIT_NOFILE) nofile = l.hard == RLIM_INFINITY ? cgroup::kMax : l.hard;
  }
  // The disk limit, when the guest has one (its counters are instant; no walk here).
  std::optional<storage::Usage> disk;
  if (cfg.dlimits.limit) disk = storage::disk_usage(g.roots, cfg);
  if (json) {
    nlohmann::json j = {
        {"name", cfg.id()},
        {"context", st->context},
        {"page_size", page},
        {"memory",
         {{"current", jnum(u.memory_current)},
          {"peak", jnum(u.memory_peak)},
          {"limit", jnum(u.memory_max)},
          {"hits", jnum(u.memory_hits)},
          {"oom_kills", jnum(u.oom_kills)}}},
        {"swap", {{"current", jnum(u.swap_current)}, {"limit", jnum(u.swap_max)}}},
        {"processes",
         {{"current", jnum(u.pids_current)},
          {"peak", jnum(u.pids_peak)},
          {"limit", jnum(u.pids_max)},
          {"hits", jnum(u.pids_hits)}}},
        {"cpu",
         {{"usage_usec", jnum(u.cpu_usage_us)},
          {"user_usec", jnum(u.cpu_user_us)},
          {"system_usec", jnum(u.cpu_system_us)},
          {"quota_usec", u.cpu_max ? jnum(u.cpu_max->quota_us) : nullptr},
          {"period_usec", u.cpu_max ? jnum(u.cpu_max->period_us) : nullptr},
          {"weight", u.cpu_weight ? nlohmann::json(*u.cpu_weight) : nullptr},
          {"periods", jnum(u.cpu_periods)},
          {"throttled", jnum(u.cpu_throttled)},
          {"throttled_usec", jnum(u.cpu_throttled_us)}}},
        {"address_space_per_process", jnum(as_limit)},
        {"open_files_per_process", jnum(nofile)},
        {"cpuset",
         {{"cpus", u.cpus_effective.value_or("")}, {"mems", u.mems_effective.value_or("")}}},
        {"notes", plan.notes},
    };
    if (disk) {
      auto opt = [](const std::optional<std::uint64_t>& v) {
        return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
      };
      j["disk"] = {{"space_kib", disk->space_kib},
                   {"space_total_kib", opt(disk->space_total_kib)},
                   {"inodes", disk->inodes},
                   {"inodes_total", opt(disk->inodes_total)},
                   {"source", disk->source}};
    }
    std::cout << j.dump(2) << '\n';
    return 0;
  }
  // util-vserver's /proc/virtual/XID/limit: memory in pages.
  std::cout << fmt::format("{:<10} {:>12} {:>12} {:>12} {:>8}  {}\n", "Resource", "current", "peak",
                           "limit", "hits", "unit");
  auto row = [](std::string_view res, const std::string& cur, const std::string& peak,
                const std::string& lim, const std::string& hits, std::string_view unit) {
    std::cout << fmt::format("{:<10} {:>12} {:>12} {:>12} {:>8}  {}\n", res, cur, peak, lim, hits,
                             unit);
  };
  std::string page_unit = fmt::format("pages of {} bytes", page);
  row("RSS", num(pages(u.memory_current, page)), num(pages(u.memory_peak, page)),
      num(pages(u.memory_max, page)), num(u.memory_hits), page_unit);
  row("SWAP", num(pages(u.swap_current, page)), "-", num(pages(u.swap_max, page)), "-", page_unit);
  row("OOM", num(u.oom_kills), "-", "-", "-", "processes killed at the memory limit");
  row("NPROC", num(u.pids_current), num(u.pids_peak), num(u.pids_max), num(u.pids_hits), "tasks");
  row("CPU",
      u.cpu_usage_us ? fmt::format("{:.2f}", static_cast<double>(*u.cpu_usage_us) / 1e6) : "-", "-",
      cpus_text(u.cpu_max), num(u.cpu_throttled),
      "seconds used / CPUs allowed / periods throttled");
  row("SHARE", u.cpu_weight ? std::to_string(*u.cpu_weight) : "-", "-", "-", "-",
      "cpu weight (100 = default)");
  row("VM", "-", "-", num(pages(as_limit, page)), "-", "pages per process (RLIMIT_AS)");
  row("NOFILE", "-", "-", num(nofile), "-", "per process");
  if (u.cpus_effective) row("CPUSET", *u.cpus_effective, "-", "-", "-", "CPUs");
  if (disk) {
    row("DISK", std::to_string(disk->space_kib), "-", num(disk->space_total_kib), "-",
        "KiB (" + disk->source + ")");
    row("INODES", std::to_string(disk->inodes), "-", num(disk->inodes_total), "-", "inodes");
  }
  for (const auto& n : plan.notes) std::cout << "note: " << n << '\n';
  return 0;
}

int change(const Globals& g, const std::string& name, const std::string& key,
           const std::optional<std::string>& value, bool save) {
  fs::path rel = key_path(key);
  auto cfg = config::with_setting(g.roots, name, rel, value);
  bool running = runtime::status(g.roots, cfg.id()).running;
  if (!running && !save) {
    print_error("limit: vserver '" + name +
                "' is not running; use --save to change its configuration only");
    return 1;
  }
  if (*rel.begin() == "dlimits") {
    // On the filesystem, running or not.
    for (const auto& n : storage::apply_limit(g.roots, cfg)) {
      std::cerr << "vserver " << name << ": note: " << n << '\n';
    }
  } else if (running) {
    auto notes = runtime::apply_limits(g.roots, cfg);
    for (const auto& n : notes) std::cerr << "vserver " << name << ": note: " << n << '\n';
  }
  if (save) config::save_setting(cfg, rel, value);
  std::cout << fmt::format(
      "{}: {} {}{}\n", name, rel.string(), value ? "= " + *value : "removed",
      running ? (save ? " (applied and saved)" : " (applied; not saved)") : " (saved)");
  return 0;
}

}  // namespace

int cmd_limit(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{kLimitHelp, "vserver NAME limit"};
  app.formatter(std::make_shared<CLI::Formatter>());
  app.require_subcommand(0, 1);
  bool json = false;
  auto* show_cmd = app.add_subcommand("show", "use, peak, limit and hits per resource");
  show_cmd->add_flag("--json", json, "machine-readable output (bytes)");
  app.add_flag("--json", json, "machine-readable output (bytes)");
  std::string key;
  std::string value;
  bool save = false;
  auto* set_cmd = app.add_subcommand("set", "change a limit of the running guest");
  set_cmd->add_option("KEY", key, "configuration file, e.g. rlimits/rss.hard or memory")
      ->required();
  set_cmd->add_option("VALUE", value, "the new value, as in the file")->required();
  set_cmd->add_flag("--save", save, "also write it into the guest's configuration");
  auto* unset_cmd = app.add_subcommand("unset", "remove a limit");
  unset_cmd->add_option("KEY", key, "configuration file, e.g. rlimits/rss.hard")->required();
  unset_cmd->add_flag("--save", save, "also remove it from the guest's configuration");
  auto* apply_cmd = app.add_subcommand("apply", "re-apply the configuration to the running guest");
  if (auto rc = parse_args(app, args)) return *rc;
  try {
    if (set_cmd->parsed()) return change(g, name, key, value, save);
    if (unset_cmd->parsed()) return change(g, name, key, std::nullopt, save);
    if (apply_cmd->parsed()) {
      auto cfg = config::load_guest(g.roots, name);
      for (const auto& n : runtime::apply_limits(g.roots, cfg)) {
        std::cerr << "vserver " << name << ": note: " << n << '\n';
      }
      return 0;
    }
    return show(g, name, json);
  } catch (const runtime::NotRunning& e) {
    print_error(e.what());
    return 1;
  }
}

}  // namespace vs::cli
