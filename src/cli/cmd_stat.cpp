// The tools that show guests: vserver-stat, vps, vkill, vtop and `vserver list`
// (util-vserver.md §2.2). They read the guests' cgroups and /proc from the host, where every
// process of every guest is visible, so util-vserver's spectator context is not needed.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "config/config.hpp"
#include "hostproc/format.hpp"
#include "hostproc/proc.hpp"
#include "runtime/runtime.hpp"
#include "state/state.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"

namespace vs::cli {

namespace {

void write_stdout(std::string_view text) {
  write_all(STDOUT_FILENO, text, "standard output");
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// How long a guest has been running, from the start time in its state record.
std::uint64_t guest_uptime_ms(const state::GuestState& st) {
  std::int64_t up = now_ms() - st.started_at_ms;
  return up > 0 ? static_cast<std::uint64_t>(up) : 0;
}

std::vector<pid_t> guest_procs(const state::GuestState& st) {
  if (st.cgroup.empty()) return {};
  return cgroup::GuestCgroup(st.cgroup).procs();
}

// ---------------------------------------------------------------------------------------------
// vserver-stat

// Sums of /proc/PID/stat over a set of processes, in the kernel's units.
struct Usage {
  std::uint64_t processes = 0;
  std::uint64_t vsize = 0;      // bytes
  std::uint64_t rss_pages = 0;  // pages
  std::uint64_t user_ticks = 0;
  std::uint64_t sys_ticks = 0;

  // As util-vserver: a process's times include those of its reaped children.
  void add(const hostproc::ProcessStat& st) {
    ++processes;
    vsize += st.vsize;
    rss_pages += st.rss;
    user_ticks += st.utime + st.cutime;
    sys_ticks += st.stime + st.cstime;
  }
};

hostproc::StatRow make_row(long context, std::string name, const Usage& u,
                           std::uint64_t uptime_ms) {
  static const std::uint64_t hz = static_cast<std::uint64_t>(hostproc::clock_ticks_per_second());
  static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  hostproc::StatRow row;
  row.context = context;
  row.processes = u.processes;
  row.vsz_bytes = u.vsize;
  row.rss_bytes = u.rss_pages * page;
  row.user_ms = u.user_ticks * 1000 / hz;
  row.sys_ms = u.sys_ticks * 1000 / hz;
  row.uptime_ms = uptime_ms;
  row.name = std::move(name);
  return row;
}

// Row 0 is the host ("root server"): every process that is in no guest, with the system's
// uptime. Then one row per running guest in context order: the processes of its cgroup and the
// time since it started.
std::vector<hostproc::StatRow> collect_stat(const config::Roots& roots) {
  std::vector<state::GuestState> guests = state::running_guests(roots);
  std::sort(guests.begin(), guests.end(), [](const auto& a, const auto& b) {
    return a.context != b.context ? a.context < b.context : a.name < b.name;
  });

  std::vector<hostproc::StatRow> guest_rows;
  std::set<pid_t> in_guests;
  for (const state::GuestState& st : guests) {
    std::vector<pid_t> pids = guest_procs(st);
    Usage u;
    for (pid_t pid : pids) {
      in_guests.insert(pid);
      if (auto s = hostproc::read_stat(pid)) u.add(*s);
    }
    // PROC counts the cgroup's members, including one that exited while being read.
    u.processes = pids.size();
    hostproc::StatRow row = make_row(st.context, st.name, u, guest_uptime_ms(st));
    // The guest's accounting, where its cgroup keeps it (both versions): resident memory and
    // CPU time of every process it ever ran, not only of those alive now.
    auto acct = runtime::guest_cgroup(st).usage();
    if (acct.memory_rss) row.rss_bytes = *acct.memory_rss;
    if (acct.cpu_user_us && acct.cpu_system_us) {
      row.user_ms = *acct.cpu_user_us / 1000;
      row.sys_ms = *acct.cpu_system_us / 1000;
    }
    guest_rows.push_back(std::move(row));
  }

  Usage host;
  const pid_t self = ::getpid();
  for (pid_t pid : hostproc::list_pids()) {
    // vserver-stat itself is not counted, as in util-vserver.
    if (pid == self || in_guests.contains(pid)) continue;
    // A process in a guest's cgroup whose state record is missing is still not a host process.
    try {
      if (cgroup::guest_of_pid(pid)) continue;
    } catch (const Error& e) {
      if (e.code() == ESRCH) continue;  // exited while being read
      throw;
    }
    if (auto s = hostproc::read_stat(pid)) host.add(*s);
  }
  auto uptime = static_cast<std::uint64_t>(hostproc::uptime_seconds() * 1000.0);

  std::vector<hostproc::StatRow> rows;
  rows.push_back(make_row(0, "root server", host, uptime));
  rows.insert(rows.end(), guest_rows.begin(), guest_rows.end());
  return rows;
}

// ---------------------------------------------------------------------------------------------
// vps

// Runs ps with args, stdin from /dev/null and stdout into a pipe; returns what it printed and
// its exit status. ps is looked up in PATH, then as /bin/ps.
std::pair<std::string, int> run_ps(const Args& args) {
  // An inherited SIG_IGN for SIGCHLD would make the kernel reap ps before we can wait for it.
  ::signal(SIGCHLD, SIG_DFL);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("create", "pipe");
  UniqueFd rd(p[0]);
  UniqueFd wr(p[1]);

  posix_spawn_file_actions_t actions;
  if (int err = posix_spawn_file_actions_init(&actions); err != 0)
    throw_errno("initialise", "spawn actions", err);
  struct ActionsGuard {
    posix_spawn_file_actions_t* a;
    ~ActionsGuard() { posix_spawn_file_actions_destroy(a); }
  } guard{&actions};
  if (int err = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
      err != 0)
    throw_errno("prepare", "stdin of ps", err);
  if (int err = posix_spawn_file_actions_adddup2(&actions, wr.get(), STDOUT_FILENO); err != 0)
    throw_errno("prepare", "stdout of ps", err);

  std::vector<std::string> argv_s{"ps"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  int err = posix_spawnp(&pid, "ps", &actions, nullptr, argv.data(), environ);
  if (err == ENOENT) err = posix_spawn(&pid, "/bin/ps", &actions, nullptr, argv.data(), environ);
  if (err != 0) throw_errno("execute", "ps", err);
  ChildProcess child(pid);
  wr.reset();

  std::string output = read_fd(rd.get());
  int status = child.wait("ps");
  return {std::move(output), status};
}

// The CONTEXT field for a host pid: MAIN for host processes (context 0), the guest's context and
// name for a guest's, ERR when the process cannot be resolved (it is gone, or its guest has no
// known context).
class ContextResolver {
 public:
  explicit ContextResolver(const config::Roots& roots) : roots_(roots) {
    for (const state::GuestState& st : state::running_guests(roots)) {
      if (st.context > 0) contexts_[st.name] = st.context;
      // The guest's PID namespace is the one its init is pid 1 in.
      if (auto pids = hostproc::ns_pids(st.init_pid)) levels_[st.name] = pids->size() - 1;
    }
  }

  // CONTEXT and GPID of a host pid.
  std::string label(pid_t pid) {
    std::optional<std::string> guest;
    try {
      guest = cgroup::guest_of_pid(pid);
    } catch (const Error&) {
      return unknown();
    }
    if (guest) {
      std::optional<pid_t> gpid;
      if (auto it = levels_.find(*guest); it != levels_.end()) {
        auto pids = hostproc::ns_pids(pid);
        if (pids && pids->size() > it->second) gpid = (*pids)[it->second];
      }
      return hostproc::context_label(context_of(*guest), *guest) + hostproc::guest_pid_field(gpid);
    }
    // No guest: a host process, unless it is simply gone.
    std::string dir = "/proc/" + std::to_string(pid);
    if (::access(dir.c_str(), F_OK) != 0) return unknown();
    return hostproc::context_label(0, "MAIN") + hostproc::guest_pid_field(std::nullopt);
  }
  static std::string unknown() {
    return hostproc::context_label(std::nullopt, "") + hostproc::guest_pid_field(std::nullopt);
  }

 private:
  std::optional<long> context_of(const std::string& name) {
    if (auto it = contexts_.find(name); it != contexts_.end()) return it->second;
    // A guest process without a state record: the context from its configuration.
    auto [it, inserted] = configured_.try_emplace(name);
    if (inserted) {
      try {
        config::GuestConfig cfg;
        config::check_guest(roots_, name, cfg);
        if (cfg.context) it->second = *cfg.context;
      } catch (const Error&) {
      }
    }
    return it->second;
  }

  const config::Roots& roots_;
  std::map<std::string, long> contexts_;
  std::map<std::string, std::size_t> levels_;  // guest → depth of its PID namespace
  std::map<std::string, std::optional<long>> configured_;
};

// ---------------------------------------------------------------------------------------------
// vkill

// Signals host pid `pid` if still_ours() confirms, once a pidfd pins the process, that it is
// the process that was meant: the pid cannot be reused between the check and the signal.
// Returns false if the process is gone or no longer matches.
bool signal_checked(pid_t pid, int sig, const std::function<bool()>& still_ours) {
  const std::string what = "pid " + std::to_string(pid);
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) {
    if (errno == ESRCH) return false;
    if (errno != ENOSYS) throw_errno("pidfd_open", what);
    // Kernels before 5.3: a plain kill after the check.
    if (!still_ours()) return false;
    if (::kill(pid, sig) != 0) {
      if (errno == ESRCH) return false;
      throw_errno("kill", what);
    }
    return true;
  }
  UniqueFd pidfd(static_cast<int>(fd));
  if (!still_ours()) return false;
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return false;
    throw_errno("send signal " + std::to_string(sig) + " to", what);
  }
  return true;
}

// The pid of a process in the guest's PID namespace, which is `level` namespaces below the one
// of /proc.
std::optional<pid_t> pid_at_level(pid_t host_pid, std::size_t level) {
  std::optional<std::vector<pid_t>> pids = hostproc::ns_pids(host_pid);
  if (!pids || pids->size() <= level) return std::nullopt;
  return (*pids)[level];
}

int vkill_guest(const config::Roots& roots, const std::string& spec, int sig,
                const std::vector<pid_t>& pids) {
  const std::string name = config::resolve_guest(roots, spec);
  std::optional<state::GuestState> st = state::read_state(roots, name);
  if (!st || !state::init_alive(*st)) {
    print_error("guest " + name + " is not running");
    return 1;
  }
  cgroup::GuestCgroup cg(st->cgroup);

  if (pids.empty()) {
    // util-vserver sends to the whole context: every process of the guest's cgroup, each
    // checked to be still in the guest once its pidfd is held.
    int signalled = 0;
    int rc = 0;
    for (pid_t h : cg.procs()) {
      try {
        if (signal_checked(h, sig, [&] { return cgroup::guest_of_pid(h) == name; })) ++signalled;
      } catch (const Error& e) {
        print_error(e.what());
        rc = 1;
      }
    }
    if (signalled == 0 && rc == 0) {
      print_error("guest " + name + " has no processes");
      return 1;
    }
    return rc;
  }

  // The guest's PID namespace is the one its init is pid 1 in.
  std::optional<std::vector<pid_t>> init_pids = hostproc::ns_pids(st->init_pid);
  if (!init_pids) {
    print_error("guest " + name + " is not running");
    return 1;
  }
  const std::size_t level = init_pids->size() - 1;
  const std::vector<pid_t> members = cg.procs();

  int rc = 0;
  for (pid_t given : pids) {
    pid_t guest_pid = given;
    std::optional<pid_t> host_pid;
    if (guest_pid == 1) {
      host_pid = st->init_pid;
    } else {
      for (pid_t h : members) {
        if (pid_at_level(h, level) == guest_pid) {
          host_pid = h;
          break;
        }
      }
    }
    // Not a pid of the guest's: the host's pid of one of its processes (what ps and top on the
    // host show) is taken too, and said so.
    if (!host_pid && std::find(members.begin(), members.end(), given) != members.end()) {
      if (auto inside = pid_at_level(given, level)) {
        host_pid = given;
        guest_pid = *inside;
        std::fprintf(stderr, "vkill: %d is the host's pid of process %d of guest %s\n", given,
                     guest_pid, name.c_str());
      }
    }
    auto still_ours = [&]() {
      if (guest_pid == 1) return state::init_alive(*st);
      return pid_at_level(*host_pid, level) == guest_pid && cgroup::guest_of_pid(*host_pid) == name;
    };
    try {
      if (!host_pid || !signal_checked(*host_pid, sig, still_ours)) {
        print_error("no process " + std::to_string(given) + " in guest " + name +
                    " (neither its pid in the guest nor on the host)");
        rc = 1;
      }
    } catch (const Error& e) {
      print_error(e.what());
      rc = 1;
    }
  }
  return rc;
}

// ---------------------------------------------------------------------------------------------
// vserver list

struct GuestInfo {
  std::string name;
  std::optional<int> context;
  bool running = false;
  std::size_t processes = 0;
  std::optional<std::uint64_t> uptime_ms;
  std::optional<pid_t> init_pid;
  std::string init_style;
  std::string vdir;
  std::string cfgdir;
  std::string network;
  // Running: the addresses applied ("ADDRESS/PREFIX on LINK (KIND DEV)"); stopped: the
  // configured ones ("ADDRESS/PREFIX dev DEV").
  std::vector<std::string> addresses;
  std::vector<std::string> problems;
};

GuestInfo describe(const config::Roots& roots, const std::string& name,
                   const state::GuestState* st) {
  GuestInfo info;
  info.name = name;
  config::GuestConfig cfg;
  try {
    for (const config::Problem& p : config::check_guest(roots, name, cfg))
      info.problems.push_back(p.to_string());
  } catch (const Error& e) {
    info.problems.emplace_back(e.what());
  }
  info.context = cfg.context;
  info.init_style = config::to_string(cfg.init.style);
  info.vdir = (cfg.vdir.empty() ? roots.default_vdir(name) : cfg.vdir).string();
  info.cfgdir = (cfg.cfgdir.empty() ? roots.guest_config_dir(name) : cfg.cfgdir).string();
  info.network = config::to_string(cfg.network);
  for (const auto& i : cfg.interfaces) {
    if (i.disabled) continue;
    info.addresses.push_back(i.ip + "/" + std::to_string(i.prefix) + " dev " +
                             (i.nodev || !i.dev ? std::string("lo") : *i.dev));
  }

  if (st != nullptr) {
    // What is running wins over what the configuration says now.
    info.running = true;
    if (st->context > 0) info.context = st->context;
    if (!st->init_style.empty()) info.init_style = st->init_style;
    if (!st->vdir.empty()) info.vdir = st->vdir;
    if (!st->cfgdir.empty()) info.cfgdir = st->cfgdir;
    info.init_pid = st->init_pid;
    info.uptime_ms = guest_uptime_ms(*st);
    info.processes = guest_procs(*st).size();
    if (!st->network.empty()) info.network = st->network;
    info.addresses = st->addresses;
  }
  return info;
}

// Keys in the documented order.
nlohmann::ordered_json to_json(const GuestInfo& g) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["name"] = g.name;
  j["context"] = g.context ? ordered_json(*g.context) : ordered_json(nullptr);
  j["running"] = g.running;
  j["processes"] = g.processes;
  j["uptime_seconds"] = g.uptime_ms ? ordered_json(*g.uptime_ms / 1000) : ordered_json(nullptr);
  j["init_pid"] = g.init_pid ? ordered_json(*g.init_pid) : ordered_json(nullptr);
  j["init_style"] = g.init_style;
  j["vdir"] = g.vdir;
  j["cfgdir"] = g.cfgdir;
  j["network"] = g.network;
  j["addresses"] = g.addresses;
  j["config_ok"] = g.problems.empty();
  j["problems"] = g.problems;
  return j;
}

}  // namespace

int stat_main(const Globals& g, const Args& args) {
  CLI::App app{"Show the host and every running guest: processes, memory, CPU time, uptime."};
  app.name("vserver-stat");
  app.footer(
      "Columns:\n"
      "  CTX       context id; 0 is the host\n"
      "  PROC      number of processes\n"
      "  VSZ, RSS  virtual memory summed over the processes; resident memory: a guest's\n"
      "            from its cgroup (memory.stat), the host's summed over its processes\n"
      "  userTIME  user-mode CPU time: a guest's from its cgroup (cpu.stat, cpuacct.stat on\n"
      "            cgroup v1), the host's of its processes including reaped children\n"
      "  sysTIME   kernel-mode CPU time, the same way\n"
      "  UPTIME    time since the guest started (the host: since boot)\n"
      "  NAME      guest name; the host is \"root server\"\n"
      "The first row is the host (every process that is in no guest); then one row per running\n"
      "guest, sorted by context id. Times read 1m02s50 (< 1 hour), 1h02m03, 4d05h06, 3y10d00.");
  if (auto rc = parse_args(app, args)) return *rc;
  try {
    std::string out(hostproc::kStatHeader);
    out += '\n';
    for (const hostproc::StatRow& row : collect_stat(g.roots)) {
      out += hostproc::format_stat_row(row);
      out += '\n';
    }
    write_stdout(out);
    return 0;
  } catch (const Error& e) {
    print_error(e.what());
    return 1;
  }
}

int vps_main(const Globals& g, const Args& args) {
  if (!args.empty() && args[0] == "--help") {
    write_stdout(
        "Usage: vps [PS-OPTIONS...]\n"
        "Runs ps(1) with the given options and adds two columns after its PID column: CONTEXT,\n"
        "the context id and the guest a process belongs to (\"0 MAIN\" for the host, ERR when\n"
        "the process is gone or cannot be resolved), and GPID, the process's pid inside its\n"
        "guest (what vkill -c takes; \"-\" for the host's). Output without a PID column is\n"
        "shown unchanged.\n"
        "The exit status is that of ps.\n");
    return 0;
  }
  try {
    auto [output, status] = run_ps(args);
    std::vector<std::string> lines = split_lines(output);
    if (!lines.empty()) {
      ContextResolver resolver(g.roots);
      std::vector<std::string> rows(lines.begin() + 1, lines.end());
      std::string out;
      std::string header =
          std::string(hostproc::kContextHeader) + std::string(hostproc::kGuestPidHeader);
      for (const std::string& line : hostproc::insert_context_column(
               lines[0], rows, [&](pid_t pid) { return resolver.label(pid); }, header,
               &ContextResolver::unknown)) {
        out += line;
        out += '\n';
      }
      write_stdout(out);
    }
    return status;
  } catch (const Error& e) {
    print_error(e.what());
    return 1;
  }
}

int vkill_main(const Globals& g, const Args& args) {
  CLI::App app{"Send a signal to processes of a guest, or to host processes."};
  app.name("vkill");
  std::string guest;
  std::string signal = "TERM";
  std::vector<std::string> pid_args;
  app.add_option("-c,--xid", guest, "The guest: its name, configuration directory or context id")
      ->option_text("GUEST");
  app.add_option("-s", signal, "Signal number or name (TERM, SIGTERM, KILL, HUP, INT, USR1, ...)")
      ->option_text("SIG");
  app.add_option("pid", pid_args, "Process ids");
  app.footer(
      "With -c, PIDs are pids as seen inside the guest (its PID namespace; vps shows them as\n"
      "GPID); 1 is the guest's init. A number that is no pid in the guest but the host's pid of\n"
      "one of its processes is taken as that, and vkill says so. Without PID, every process of\n"
      "the guest gets the signal. Without -c, PIDs are host pids. The default signal is TERM.");
  if (auto rc = parse_args(app, args)) return *rc;

  std::optional<int> sig = hostproc::parse_signal(signal);
  if (!sig) {
    print_error("unknown signal \"" + signal + "\" (try --help)");
    return 2;
  }
  std::vector<pid_t> pids;
  for (const std::string& a : pid_args) {
    std::optional<pid_t> pid = hostproc::parse_pid(a);
    if (!pid) {
      print_error("\"" + a + "\" is not a process id");
      return 2;
    }
    pids.push_back(*pid);
  }

  try {
    if (!guest.empty()) return vkill_guest(g.roots, guest, *sig, pids);
    if (pids.empty()) {
      print_error("no process id given (use -c GUEST to signal every process of a guest)");
      return 2;
    }
    int rc = 0;
    for (pid_t pid : pids) {
      if (::kill(pid, *sig) != 0) {
        print_error(errno_message("kill", std::to_string(pid), errno));
        rc = 1;
      }
    }
    return rc;
  } catch (const Error& e) {
    print_error(e.what());
    return 1;
  }
}

int vtop_main(const Globals& /*g*/, const Args& args) {
  if (!args.empty() && args[0] == "--help") {
    write_stdout(
        "Usage: vtop [TOP-OPTIONS...]\n"
        "Runs top(1) with the given options. util-vserver ran it in the spectator context 1 to\n"
        "see every guest; on a mainline kernel every guest process is already visible from the\n"
        "host, so this is plain top. Use vps or vserver-stat to see which guest a process\n"
        "belongs to.\n");
    return 0;
  }
  std::vector<std::string> argv_s{"top"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp("top", argv.data());
  int err = errno;
  print_error(errno_message("execute", "top", err));
  return err == ENOENT ? 127 : 126;
}

int cmd_list(const Globals& g, const Args& args) {
  CLI::App app{"List every guest of the configuration root, running or stopped."};
  app.name("vserver list");
  bool json = false;
  app.add_flag("--json", json, "Print a JSON array of objects instead of a table");
  app.footer(
      "Columns: NAME, CONTEXT (- if none), STATUS (running or stopped), PROCS (processes of a\n"
      "running guest), UPTIME (as vserver-stat), INIT (init style), VDIR (root filesystem).\n"
      "Problems in a guest's configuration are reported on standard error; the guest is still\n"
      "listed.");
  if (auto rc = parse_args(app, args)) return *rc;

  try {
    std::map<std::string, state::GuestState> running;
    for (state::GuestState& st : state::running_guests(g.roots)) running[st.name] = std::move(st);

    // Guests still running after their configuration was removed are listed too.
    std::vector<std::string> names = config::list_guests(g.roots);
    for (const auto& [name, st] : running)
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    std::sort(names.begin(), names.end());

    std::vector<GuestInfo> guests;
    for (const std::string& name : names) {
      auto it = running.find(name);
      guests.push_back(describe(g.roots, name, it == running.end() ? nullptr : &it->second));
    }

    if (json) {
      nlohmann::ordered_json arr = nlohmann::ordered_json::array();
      for (const GuestInfo& info : guests) arr.push_back(to_json(info));
      write_stdout(arr.dump(2) + "\n");
      return 0;
    }

    std::vector<std::vector<std::string>> table{
        {"NAME", "CONTEXT", "STATUS", "PROCS", "UPTIME", "INIT", "VDIR"}};
    for (const GuestInfo& info : guests) {
      table.push_back({info.name, info.context ? std::to_string(*info.context) : "-",
                       info.running ? "running" : "stopped",
                       info.running ? std::to_string(info.processes) : "-",
                       info.uptime_ms ? hostproc::shorten_time(*info.uptime_ms) : "-",
                       info.init_style, info.vdir});
    }
    std::string out;
    for (const std::string& line :
         hostproc::format_columns(table, {false, true, false, true, true, false, false})) {
      out += line;
      out += '\n';
    }
    write_stdout(out);
    for (const GuestInfo& info : guests)
      for (const std::string& p : info.problems) print_error("guest " + info.name + ": " + p);
    return 0;
  } catch (const Error& e) {
    print_error(e.what());
    return 1;
  }
}

}  // namespace vs::cli
