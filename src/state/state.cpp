#include "state/state.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>

#include "config/roots.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::state {

namespace {

fs::path state_file(const config::Roots& roots, std::string_view name) {
  return roots.run_dir(name) / "state";
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(errno_message("create directory", dir.string(), ec.value()), ec.value());
}

}  // namespace

std::optional<GuestState> read_state(const config::Roots& roots, std::string_view name) {
  auto text = read_file_if_exists(state_file(roots, name));
  if (!text) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(*text);
    GuestState st;
    st.name = j.at("name").get<std::string>();
    st.context = j.at("context").get<int>();
    st.supervisor_pid = j.at("supervisor_pid").get<pid_t>();
    st.init_pid = j.at("init_pid").get<pid_t>();
    st.init_start_ticks = j.at("init_start_ticks").get<std::uint64_t>();
    st.started_at_ms = j.at("started_at_ms").get<std::int64_t>();
    st.cgroup = j.at("cgroup").get<std::string>();
    st.cgroup_v1 = j.value("cgroup_v1", std::map<std::string, std::string>{});
    st.init_style = j.value("init_style", "");
    st.network = j.value("network", "");
    st.cfgdir = j.value("cfgdir", "");
    st.vdir = j.value("vdir", "");
    st.host_links = j.value("host_links", std::vector<std::string>{});
    st.created_bridges = j.value("created_bridges", std::vector<std::string>{});
    st.addresses = j.value("addresses", std::vector<std::string>{});
    return st;
  } catch (const nlohmann::json::exception& e) {
    throw Error("read " + state_file(roots, name).string() + ": corrupt state record (" + e.what() +
                ")");
  }
}

void write_state(const config::Roots& roots, const GuestState& st) {
  make_dirs(roots.run_dir(st.name));
  nlohmann::json j = {
      {"name", st.name},
      {"context", st.context},
      {"supervisor_pid", st.supervisor_pid},
      {"init_pid", st.init_pid},
      {"init_start_ticks", st.init_start_ticks},
      {"started_at_ms", st.started_at_ms},
      {"cgroup", st.cgroup},
      {"cgroup_v1", st.cgroup_v1},
      {"init_style", st.init_style},
      {"network", st.network},
      {"cfgdir", st.cfgdir},
      {"vdir", st.vdir},
      {"host_links", st.host_links},
      {"created_bridges", st.created_bridges},
      {"addresses", st.addresses},
  };
  // /run is a tmpfs: no fsync needed for durability.
  write_file_atomic(state_file(roots, st.name), j.dump(2) + "\n", 0644, false);
}

void remove_state(const config::Roots& roots, std::string_view name) {
  std::error_code ec;
  fs::remove_all(roots.run_dir(name), ec);
  if (ec)
    throw Error(errno_message("remove", roots.run_dir(name).string(), ec.value()), ec.value());
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  auto text = read_file_if_exists("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // Fields after the command name, which ends at the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::string_view rest(*text);
  rest.remove_prefix(close + 1);
  // rest starts with " S ppid ..."; starttime is field 22 overall, i.e. the 20th after comm.
  int field = 2;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    ++field;
    if (field == 22) return std::stoull(std::string(rest.substr(pos, end - pos)));
    pos = end;
  }
  return std::nullopt;
}

bool init_alive(const GuestState& st) {
  if (st.init_pid <= 0) return false;
  auto ticks = process_start_ticks(st.init_pid);
  if (!ticks || *ticks != st.init_start_ticks) return false;
  // An init that has exited but is not reaped yet (state Z or X) is no longer running.
  auto text = read_file_if_exists("/proc/" + std::to_string(st.init_pid) + "/stat");
  if (!text) return false;
  size_t close = text->rfind(')');
  if (close == std::string::npos || close + 2 >= text->size()) return false;
  char state = (*text)[close + 2];
  return state != 'Z' && state != 'X';
}

bool supervisor_alive(const GuestState& st) {
  return st.supervisor_pid > 0 && ::kill(st.supervisor_pid, 0) == 0;
}

std::vector<GuestState> running_guests(const config::Roots& roots) {
  std::vector<GuestState> out;
  std::error_code ec;
  fs::directory_iterator it(roots.run, ec);
  if (ec) return out;
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (!config::valid_guest_name(name) || !entry.is_directory()) continue;
    try {
      auto st = read_state(roots, name);
      if (st && init_alive(*st)) out.push_back(*st);
    } catch (const Error&) {
      // A corrupt record is reported by the commands that read one guest.
    }
  }
  std::sort(out.begin(), out.end(),
            [](const GuestState& a, const GuestState& b) { return a.name < b.name; });
  return out;
}

GuestLock::GuestLock(const config::Roots& roots, std::string_view name) {
  fs::path dir = roots.run / ".lock";
  make_dirs(dir);
  fs::path file = dir / name;
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw_errno("open lock", file.string());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd_);
    throw_errno("lock", file.string(), err);
  }
}

GuestLock::GuestLock(GuestLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

GuestLock::~GuestLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace vs::state
