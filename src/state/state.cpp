#include "state/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>

#include "config/model.hpp"
#include "config/roots.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/json.hpp"

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

GuestState parse_state(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    json::require_object(j, "the record");
    GuestState st;
    st.name = json::string(j, "name");
    // Context 0: a guest started without one (the state of an older version may hold it); a
    // dynamic id (49152 and up) for a guest without a context file.
    st.context = json::integer<int>(j, "context", 0, config::kLastDynamicContext);
    // Never 0 or negative: kill(0, ...) and kill(-1, ...) would reach far more than the guest.
    st.supervisor_pid = json::integer<pid_t>(j, "supervisor_pid", 1);
    st.init_pid = json::integer<pid_t>(j, "init_pid", 1);
    st.init_start_ticks = json::integer<std::uint64_t>(j, "init_start_ticks");
    st.started_at_ms = json::integer<std::int64_t>(j, "started_at_ms", 0);
    st.cgroup = json::string(j, "cgroup");
    st.cgroup_v1 = j.value("cgroup_v1", std::map<std::string, std::string>{});
    st.init_style = j.value("init_style", "");
    st.network = j.value("network", "");
    st.cfgdir = j.value("cfgdir", "");
    st.vdir = j.value("vdir", "");
    st.host_links = j.value("host_links", std::vector<std::string>{});
    st.created_bridges = j.value("created_bridges", std::vector<std::string>{});
    st.shared_links = j.value("shared_links", std::vector<std::string>{});
    st.addresses = j.value("addresses", std::vector<std::string>{});
    return st;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("corrupt state record (") + e.what() + ")");
  } catch (const Error& e) {
    throw Error("corrupt state record (" + std::string(e.what()) + ")");
  }
}

std::optional<GuestState> read_state(const config::Roots& roots, std::string_view name) {
  auto text = read_file_if_exists(state_file(roots, name));
  if (!text) return std::nullopt;
  try {
    return parse_state(*text);
  } catch (const Error& e) {
    rethrow_with_context(e, "read " + state_file(roots, name).string());
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
      {"shared_links", st.shared_links},
      {"addresses", st.addresses},
  };
  // /run is a tmpfs: no fsync needed for durability.
  write_file_atomic(state_file(roots, st.name), j.dump(2) + "\n", 0644, false);
}

bool remove_state(const config::Roots& roots, std::string_view name) {
  fs::path record = roots.run_dir(name) / "state";
  bool removed = ::unlink(record.c_str()) == 0;
  if (!removed && errno != ENOENT && errno != ENOTDIR) throw_errno("remove", record.string());
  std::error_code ec;
  fs::remove_all(roots.run_dir(name), ec);
  if (ec)
    throw Error(errno_message("remove", roots.run_dir(name).string(), ec.value()), ec.value());
  return removed;
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

namespace {

// The lock under which context claims are made, judged and dropped.
class ContextLock {
 public:
  explicit ContextLock(const config::Roots& roots) {
    fs::path dir = roots.run / ".lock";
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) make_dirs(dir);
    fs::path file = dir / ".context";
    fd_ = open_file(file, O_RDWR | O_CREAT, 0600);
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw_errno("lock", file.string());
    }
  }

 private:
  UniqueFd fd_;
};

fs::path claim_file(const fs::path& dir, int id) {
  return dir / std::to_string(id);
}

// The guest that holds a claim; nullopt when there is none, "" when it is unreadable (a claim
// cut short by a crash).
std::optional<std::string> claim_holder(const fs::path& file) {
  auto text = read_file_if_exists(file);
  if (!text) return std::nullopt;
  std::string name(trim(*text));
  if (!config::valid_guest_name(name)) return std::string();
  return name;
}

void write_claim(const fs::path& file, std::string_view name, bool exclusive) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
  UniqueFd fd(::open(file.c_str(), flags, 0644));
  if (!fd) throw_errno("claim context", file.string());
  write_all(fd.get(), std::string(name) + "\n", file.string());
}

// The claims directory. Made on first use from the records of the running guests, so that guests
// started without claims keep their ids.
fs::path claims_dir(const config::Roots& roots) {
  fs::path dir = roots.run / ".context";
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return dir;
  if (errno != ENOENT) throw_errno("stat", dir.string());
  fs::path tmp = roots.run / ".context.new";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  make_dirs(tmp);
  for (const auto& g : running_guests(roots))
    write_claim(claim_file(tmp, g.context), g.name, false);
  if (::rename(tmp.c_str(), dir.c_str()) != 0)
    throw_errno("rename " + tmp.string() + " to", dir.string());
  return dir;
}

// Whether the guest holding a claim on id uses it: it is being started or stopped (its lock is
// held), or it runs at that id.
bool holder_active(const config::Roots& roots, const std::string& holder, int id) {
  if (holder.empty()) return false;
  {
    UniqueFd fd = open_file_if_exists(roots.run / ".lock" / holder, O_RDONLY);
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return true;
      throw_errno("test lock", (roots.run / ".lock" / holder).string());
    }
  }
  try {
    auto st = read_state(roots, holder);
    return st && st->context == id && init_alive(*st);
  } catch (const Error&) {
    return false;  // a corrupt record: not a running guest (as in running_guests)
  }
}

// The ids in [first, last] that have a claim, as offsets from first.
std::vector<bool> claimed_ids(const fs::path& dir, int first, int last) {
  std::vector<bool> used(static_cast<size_t>(last - first + 1));
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw_errno("open directory", dir.string());
  while (dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    int id = 0;
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), id);
    if (ec == std::errc() && p == n.data() + n.size() && id >= first && id <= last) {
      used[static_cast<size_t>(id - first)] = true;
    }
  }
  ::closedir(d);
  return used;
}

}  // namespace

std::optional<std::string> claim_context(const config::Roots& roots, int id,
                                         std::string_view name) {
  ContextLock lock(roots);
  fs::path file = claim_file(claims_dir(roots), id);
  auto holder = claim_holder(file);
  if (holder && *holder != name && holder_active(roots, *holder, id)) return holder;
  write_claim(file, name, false);
  return std::nullopt;
}

std::optional<int> claim_free_context(const config::Roots& roots, int first, int last,
                                      std::string_view name) {
  if (first > last) return std::nullopt;
  ContextLock lock(roots);
  fs::path dir = claims_dir(roots);
  for (int pass = 0; pass < 2; ++pass) {
    auto used = claimed_ids(dir, first, last);
    for (int id = first; id <= last; ++id) {
      if (used[static_cast<size_t>(id - first)]) continue;
      try {
        write_claim(claim_file(dir, id), name, true);
        return id;
      } catch (const Error& e) {
        if (e.code() != EEXIST) throw;
      }
    }
    if (pass > 0) break;
    // Every id is held: drop the claims of guests that are gone, then look again.
    for (int id = first; id <= last; ++id) {
      fs::path file = claim_file(dir, id);
      auto holder = claim_holder(file);
      if (holder && (*holder == name || !holder_active(roots, *holder, id))) {
        if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw_errno("remove", file.string());
      }
    }
  }
  return std::nullopt;
}

void release_context(const config::Roots& roots, int id, std::string_view name) {
  ContextLock lock(roots);
  fs::path file = claim_file(roots.run / ".context", id);
  auto holder = claim_holder(file);
  if (holder && *holder == name && ::unlink(file.c_str()) != 0 && errno != ENOENT) {
    throw_errno("remove", file.string());
  }
}

GuestLock::GuestLock(const config::Roots& roots, std::string_view name) {
  fs::path dir = roots.run / ".lock";
  make_dirs(dir);
  file_ = dir / name;
  for (;;) {
    FileLock lock = FileLock::exclusive(open_file(file_, O_RDWR | O_CREAT, 0600), file_.string());
    // The holder before us may have removed the file (remove_file): then lock the new one.
    struct stat held {};
    struct stat now {};
    if (::fstat(lock.fd(), &held) != 0) throw_errno("stat lock", file_.string());
    if (::stat(file_.c_str(), &now) != 0) {
      if (errno != ENOENT) throw_errno("stat lock", file_.string());
    } else if (now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
      lock_ = std::move(lock);
      return;
    }
  }
}

void GuestLock::remove_file() const {
  if (::unlink(file_.c_str()) != 0 && errno != ENOENT) throw_errno("remove lock", file_.string());
}

bool guest_running(const config::Roots& roots, std::string_view name) {
  auto st = read_state(roots, name);
  return st && init_alive(*st);
}

}  // namespace vs::state
