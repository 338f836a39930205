// Pure renderers of the virtualised /proc files (reference §5.1: util-vserver's virt_mem, virt_load
// and virt_cpu semantics).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "procfs/procfs.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::procfs {

namespace {

// cgroup v2 "max" and v1's "unlimited" (LONG_MAX rounded down to a page) are both far above this.
constexpr std::uint64_t kUnlimitedFrom = std::uint64_t{1} << 60;

bool limited(const std::optional<std::uint64_t>& v) {
  return v && *v < kUnlimitedFrom;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  s = trim(s);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "Key:   1234 kB" -> ("Key", 1234). Lines without a kB value give nullopt.
struct MeminfoLine {
  std::string key;
  std::uint64_t kb = 0;
};
std::optional<MeminfoLine> parse_meminfo_line(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view rest = trim(line.substr(colon + 1));
  if (rest.size() < 2 || rest.substr(rest.size() - 2) != "kB") return std::nullopt;
  auto v = to_u64(rest.substr(0, rest.size() - 2));
  if (!v) return std::nullopt;
  return MeminfoLine{std::string(line.substr(0, colon)), *v};
}

// As the kernel prints them (fs/proc/meminfo.c): the label padded to 16, the value to 8.
std::string meminfo_line(std::string_view key, std::uint64_t kb) {
  return fmt::format("{:<16}{:>8} kB", std::string(key) + ":", kb);
}

// Replaces the values of the given keys, keeping every other line as it is.
std::string rewrite_meminfo(std::string_view host, const std::map<std::string, std::uint64_t>& kb) {
  std::string out;
  out.reserve(host.size() + 64);
  for (const auto& line : split_lines(host)) {
    auto parsed = parse_meminfo_line(line);
    auto it = parsed ? kb.find(parsed->key) : kb.end();
    out += it == kb.end() ? line : meminfo_line(it->first, it->second);
    out += '\n';
  }
  return out;
}

std::map<std::string, std::uint64_t> host_values(std::string_view host) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& line : split_lines(host)) {
    if (auto p = parse_meminfo_line(line)) m.emplace(p->key, p->kb);
  }
  return m;
}

struct SwapView {
  std::uint64_t total_kb = 0, free_kb = 0;
};

// The guest's swap: from its swap limit (capped by the host's swap, which is all there is), or,
// when only memory is limited, the host's swap less what the guest uses of it.
std::optional<SwapView> guest_swap(const MemFacts& f, std::uint64_t host_total_kb,
                                   std::optional<std::uint64_t> host_free_kb) {
  std::uint64_t used_kb = f.swap_current.value_or(0) / 1024;
  if (limited(f.swap_max)) {
    SwapView s;
    s.total_kb = std::min(host_total_kb, *f.swap_max / 1024);
    s.free_kb = s.total_kb - std::min(used_kb, s.total_kb);
    return s;
  }
  if (!limited(f.memory_max)) return std::nullopt;
  SwapView s;
  s.total_kb = host_total_kb;
  if (f.swap_current) {
    s.free_kb = s.total_kb - std::min(used_kb, s.total_kb);
  } else {
    s.free_kb = std::min(host_free_kb.value_or(host_total_kb), host_total_kb);
  }
  return s;
}

}  // namespace

std::vector<std::string> Views::files() const {
  std::vector<std::string> v;
  if (meminfo) v.emplace_back("meminfo");
  if (swaps) v.emplace_back("swaps");
  if (loadavg) v.emplace_back("loadavg");
  if (cpuinfo) v.emplace_back("cpuinfo");
  if (stat) v.emplace_back("stat");
  return v;
}

Views views_for(const config::GuestConfig& cfg) {
  Views v;
  v.meminfo = v.swaps = cfg.cflags.contains("virt_mem");
  v.loadavg = cfg.cflags.contains("virt_load");
  bool cpuset = cfg.cpuset.cpus && !trim(*cfg.cpuset.cpus).empty();
  v.cpuinfo = v.stat = cfg.cflags.contains("virt_cpu") || cpuset;
  return v;
}

// ---------------------------------------------------------------------------------------------
// meminfo and swaps

MemFacts mem_facts(const cgroup::Usage& usage, std::string_view memory_stat) {
  MemFacts f;
  f.memory_max = usage.memory_max;
  f.memory_current = usage.memory_current;
  f.memory_file = usage.memory_file;
  f.swap_max = usage.swap_max;
  f.swap_current = usage.swap_current;
  for (const auto& line : split_lines(memory_stat)) {
    auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    if (auto v = to_u64(std::string_view(line).substr(sp + 1))) f.stat[line.substr(0, sp)] = *v;
  }
  return f;
}

std::string render_meminfo(std::string_view host, const MemFacts& f) {
  bool mem = limited(f.memory_max);
  if (!mem && !limited(f.swap_max)) return std::string(host);
  auto hv = host_values(host);
  auto host_kb = [&](const char* key) -> std::optional<std::uint64_t> {
    auto it = hv.find(key);
    if (it == hv.end()) return std::nullopt;
    return it->second;
  };

  std::map<std::string, std::uint64_t> out;
  if (mem) {
    std::uint64_t total = *f.memory_max / 1024;
    if (auto h = host_kb("MemTotal")) total = std::min(total, *h);
    auto cap = [&](std::uint64_t kb) { return std::min(kb, total); };
    // The cgroup's usage may exceed a limit that was lowered below it: never below zero free.
    std::uint64_t used = cap(f.memory_current.value_or(0) / 1024);
    std::uint64_t free = total - used;
    // memory.stat under its v2 name, or the hierarchical v1 name ("total_" + v1).
    auto stat = [&](std::string_view v2, std::string_view v1) -> std::optional<std::uint64_t> {
      if (auto it = f.stat.find(v2); it != f.stat.end()) return it->second / 1024;
      if (!v1.empty()) {
        if (auto it = f.stat.find("total_" + std::string(v1)); it != f.stat.end()) {
          return it->second / 1024;
        }
      }
      return std::nullopt;
    };
    auto active_file = stat("active_file", "active_file");
    auto inactive_file = stat("inactive_file", "inactive_file");
    auto active_anon = stat("active_anon", "active_anon");
    auto inactive_anon = stat("inactive_anon", "inactive_anon");
    std::uint64_t cached = std::min(f.memory_file.value_or(0) / 1024, used);
    std::uint64_t reclaimable =
        active_file && inactive_file ? *active_file + *inactive_file : cached;
    reclaimable += stat("slab_reclaimable", "").value_or(0);

    out["MemTotal"] = total;
    out["MemFree"] = free;
    out["MemAvailable"] = std::clamp(free + std::min(reclaimable, used), free, total);
    out["Buffers"] = 0;
    out["Cached"] = cached;
    out["SwapCached"] = 0;
    if (active_anon && active_file) out["Active"] = cap(*active_anon + *active_file);
    if (inactive_anon && inactive_file) out["Inactive"] = cap(*inactive_anon + *inactive_file);
    auto put = [&](const char* key, std::optional<std::uint64_t> v) {
      if (v) out[key] = cap(*v);
    };
    put("Active(anon)", active_anon);
    put("Inactive(anon)", inactive_anon);
    put("Active(file)", active_file);
    put("Inactive(file)", inactive_file);
    put("Unevictable", stat("unevictable", "unevictable"));
    put("Dirty", stat("file_dirty", "dirty"));
    put("Writeback", stat("file_writeback", "writeback"));
    put("AnonPages", stat("anon", "rss"));
    put("Mapped", stat("file_mapped", "mapped_file"));
    put("Shmem", stat("shmem", "shmem"));
    put("Slab", stat("slab", ""));
    put("SReclaimable", stat("slab_reclaimable", ""));
    put("SUnreclaim", stat("slab_unreclaimable", ""));
    put("KernelStack", stat("kernel_stack", ""));
    put("PageTables", stat("pagetables", ""));
  }
  if (auto h = host_kb("SwapTotal")) {
    if (auto s = guest_swap(f, *h, host_kb("SwapFree"))) {
      out["SwapTotal"] = s->total_kb;
      out["SwapFree"] = s->free_kb;
    }
  }
  return rewrite_meminfo(host, out);
}

std::string render_swaps(std::string_view host, const MemFacts& f) {
  if (!limited(f.swap_max)) return std::string(host);
  auto lines = split_lines(host);
  // The size column (KiB) of every host swap area, after the "Filename Type Size ..." header.
  std::uint64_t host_total_kb = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string_view> cols;
    std::string_view rest = lines[i];
    while (!(rest = trim(rest)).empty()) {
      auto end = rest.find_first_of(" \t");
      cols.push_back(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
    if (cols.size() >= 3) host_total_kb += to_u64(cols[2]).value_or(0);
  }
  auto s = guest_swap(f, host_total_kb, std::nullopt);
  std::string out = lines.empty() ? "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority" : lines[0];
  out += '\n';
  if (s && s->total_kb > 0) {
    std::uint64_t used = s->total_kb - s->free_kb;
    // The kernel's layout (mm/swapfile.c swap_show): name padded to 40, tabs between columns.
    out += fmt::format("{:<40}{}\t{}\t{}{}\t{}0\n", "none", "virtual", s->total_kb,
                       s->total_kb < 10000000 ? "\t" : "", used, used < 10000000 ? "\t" : "");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// loadavg

void LoadAverage::sample(unsigned long active) {
  // kernel/sched/loadavg.c: EXP_1, EXP_5, EXP_15 = 1/exp(5s/1min), 1/exp(5s/5min), ... in
  // fixed point, and calc_load() with its rounding up while the load rises.
  static constexpr std::array<unsigned long, 3> kExp = {1884, 2014, 2037};
  unsigned long a = active * kFixed1;
  for (std::size_t i = 0; i < avenrun_.size(); ++i) {
    unsigned long load = avenrun_[i];
    unsigned long next = load * kExp[i] + a * (kFixed1 - kExp[i]);
    if (a >= load) next += kFixed1 - 1;
    avenrun_[i] = next / kFixed1;
  }
}

std::string render_loadavg(const LoadAverage& load, const TaskCount& tasks) {
  std::string out;
  for (unsigned long v : load.fixed()) {
    // As fs/proc/loadavg.c: rounded to two decimals (FIXED_1/200), then integer and fraction.
    unsigned long x = v + LoadAverage::kFixed1 / 200;
    out += fmt::format("{}.{:02} ", x >> LoadAverage::kFshift,
                       ((x & (LoadAverage::kFixed1 - 1)) * 100) >> LoadAverage::kFshift);
  }
  out += fmt::format("{}/{} 0\n", tasks.running, tasks.total);
  return out;
}

// ---------------------------------------------------------------------------------------------
// cpuinfo and stat

std::vector<unsigned> parse_cpu_list(std::string_view list) {
  constexpr unsigned kMaxCpu = 1u << 16;
  auto bad = [&](std::string_view why) -> Error {
    return Error(fmt::format("parse cpu list \"{}\": {}", trim(list), why));
  };
  auto number = [&](std::string_view s) {
    s = trim(s);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
      throw bad(fmt::format("\"{}\" is not a CPU number", s));
    }
    if (v >= kMaxCpu) throw bad(fmt::format("CPU {} is out of range", v));
    return v;
  };
  std::set<unsigned> cpus;
  std::string_view rest = trim(list);
  if (rest.empty()) return {};
  for (;;) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    auto dash = item.find('-');
    if (dash == std::string_view::npos) {
      cpus.insert(number(item));
    } else {
      unsigned lo = number(item.substr(0, dash));
      unsigned hi = number(item.substr(dash + 1));
      if (lo > hi) throw bad(fmt::format("range \"{}\" runs backwards", trim(item)));
      for (unsigned c = lo; c <= hi; ++c) cpus.insert(c);
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return {cpus.begin(), cpus.end()};
}

std::string render_cpuinfo(std::string_view host, const std::vector<unsigned>& cpus) {
  if (cpus.empty()) return std::string(host);
  std::set<unsigned> wanted(cpus.begin(), cpus.end());
  auto lines = split_lines(host);
  std::string out;
  unsigned next = 0;
  std::size_t i = 0;
  while (i < lines.size()) {
    // A block: non-empty lines, then the blank lines after it.
    std::size_t end = i;
    while (end < lines.size() && !lines[end].empty()) ++end;
    std::size_t blank_end = end;
    while (blank_end < lines.size() && lines[blank_end].empty()) ++blank_end;

    std::optional<std::size_t> proc_line;
    std::optional<unsigned> cpu;
    for (std::size_t j = i; j < end; ++j) {
      auto colon = lines[j].find(':');
      if (colon == std::string::npos) continue;
      if (trim(std::string_view(lines[j]).substr(0, colon)) != "processor") continue;
      proc_line = j;
      if (auto v = to_u64(std::string_view(lines[j]).substr(colon + 1)); v && *v < (1u << 16)) {
        cpu = static_cast<unsigned>(*v);
      }
      break;
    }
    bool keep = !proc_line || (cpu && wanted.contains(*cpu));
    if (keep) {
      for (std::size_t j = i; j < blank_end; ++j) {
        if (proc_line && j == *proc_line) {
          out += lines[j].substr(0, lines[j].find(':') + 1) + " " + std::to_string(next++);
        } else {
          out += lines[j];
        }
        out += '\n';
      }
    }
    i = blank_end;
  }
  if (next == 0) return std::string(host);
  return out;
}

std::string render_stat(std::string_view host, const std::vector<unsigned>& cpus) {
  if (cpus.empty()) return std::string(host);
  std::set<unsigned> wanted(cpus.begin(), cpus.end());
  auto lines = split_lines(host);
  std::vector<std::uint64_t> sum;
  unsigned kept = 0;  // cpuN lines kept, renamed cpu0, cpu1, ...
  std::optional<std::size_t> total_at;
  std::vector<std::string> out_lines;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.rfind("cpu", 0) != 0) {
      out_lines.push_back(line);
      continue;
    }
    auto sp = line.find(' ');
    std::string_view id = std::string_view(line).substr(3, sp == std::string::npos ? 0 : sp - 3);
    std::string_view fields =
        sp == std::string::npos ? std::string_view() : std::string_view(line).substr(sp);
    if (id.empty()) {
      total_at = out_lines.size();
      out_lines.emplace_back();  // filled in below
      continue;
    }
    auto n = to_u64(id);
    if (!n || !wanted.contains(static_cast<unsigned>(*n))) continue;
    std::size_t col = 0;
    std::string_view rest = fields;
    while (!(rest = trim(rest)).empty()) {
      auto end = rest.find(' ');
      auto v = to_u64(rest.substr(0, end)).value_or(0);
      if (sum.size() <= col) sum.resize(col + 1, 0);
      sum[col++] += v;
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
    out_lines.push_back(fmt::format("cpu{}{}", kept++, fields));
  }
  if (kept == 0) return std::string(host);
  if (total_at) {
    std::string total = "cpu ";
    for (auto v : sum) total += fmt::format(" {}", v);
    out_lines[*total_at] = total;
  }
  std::string out;
  for (const auto& l : out_lines) {
    out += l;
    out += '\n';
  }
  return out;
}

}  // namespace vs::procfs
