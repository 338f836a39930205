// A whole guest configuration tree read by config::check_guest and config::load_guest. The input
// is a list of files: "PATH\nCONTENT" records separated by NUL bytes, each PATH taken from the
// tree's own names (the first byte picks one of kFiles, so that the fuzzer reaches every reader),
// written into a fresh tree under a temporary directory. Reading never crashes and never throws
// anything but vs::Error.
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "sys/error.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 40> kFiles = {
    "context",
    "name",
    "nice",
    "fstab",
    "bcapabilities",
    "ccapabilities",
    "cflags",
    "flags",
    "uts/nodename",
    "uts/domainname",
    "apps/init/style",
    "apps/init/cmd.start",
    "apps/init/killseq",
    "apps/init/environment",
    "apps/init/mark",
    "apps/init/depends",
    "apps/init/runlevel.start",
    "interfaces/0/ip",
    "interfaces/0/dev",
    "interfaces/0/prefix",
    "interfaces/0/mask",
    "interfaces/0/name",
    "interfaces/0/mac",
    "interfaces/1/ip",
    "interfaces/dev",
    "network/mode",
    "rlimits/rss",
    "rlimits/nproc.hard",
    "rlimits/as.soft",
    "ulimits/nofile",
    "sched/fill-rate",
    "sched/interval",
    "sched/tokens-max",
    "cpuset/cpus",
    "cgroup/base",
    "cgroup/cpu.shares",
    "limits/memory",
    "limits/swap",
    "limits/cpus",
    ".defaults/apps/init/killseq",
};

const fs::path& base() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "vserver-fuzz.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return fs::path(tmpl);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vs::config::Roots roots;
  roots.config = base() / "etc";
  roots.vdir = base() / "vdir";
  roots.run = base() / "run";
  roots.log = base() / "log";
  std::error_code ec;
  fs::remove_all(roots.config, ec);
  fs::create_directories(roots.config / "g", ec);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    std::size_t end = in.find('\0');
    std::string_view rec = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view() : in.substr(end + 1);
    if (rec.empty()) continue;
    const char* rel = kFiles[static_cast<unsigned char>(rec.front()) % kFiles.size()];
    fs::path p = rel[0] == '.' ? roots.config / rel : roots.config / "g" / rel;
    fs::create_directories(p.parent_path(), ec);
    std::ofstream(p, std::ios::binary | std::ios::app) << rec.substr(1);
  }
  try {
    vs::config::GuestConfig cfg;
    (void)vs::config::check_guest(roots, "g", cfg);
    (void)vs::config::load_guest(roots, "g");
  } catch (const vs::Error&) {
  }
  return 0;
}
