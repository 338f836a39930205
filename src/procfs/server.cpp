// The serving process of one guest's /proc views: libfuse's low-level protocol handling, driven by
// a loop of our own so that the process can be restarted on a connection that is already in use.
//
// Restarting: libfuse answers every request that comes before INIT with EIO, and the kernel sends
// INIT only once per connection. A server started on a connection whose INIT an earlier server
// already answered therefore feeds libfuse a synthetic INIT (with an id the kernel never uses)
// before the first real request, and drops libfuse's reply to it in the session's writev hook.
// The protocol state that matters lives in the kernel (what the first INIT negotiated), and every
// reply we send has the same layout for every protocol minor >= 9, so nothing else is needed.
//
// Each server reads from a clone of the connection's device (FUSE_DEV_IOC_CLONE), not from the
// supervisor's fd itself: requests a crashed server had read but not answered then fail at once
// (the kernel ends a closing device's requests) instead of hanging their readers for good.
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <linux/fuse.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hostproc/proc.hpp"
#include "procfs/procfs.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::procfs {

namespace {

using Clock = std::chrono::steady_clock;

enum class View { meminfo, swaps, loadavg, cpuinfo, stat };
struct ViewFile {
  View view;
  const char* name;
  fuse_ino_t ino;
};
constexpr ViewFile kFiles[] = {
    {View::meminfo, "meminfo", 2}, {View::swaps, "swaps", 3}, {View::loadavg, "loadavg", 4},
    {View::cpuinfo, "cpuinfo", 5}, {View::stat, "stat", 6},
};

// The id of the synthetic INIT: even (odd ids are the kernel's interrupt replies) and far beyond
// the kernel's request counter.
constexpr std::uint64_t kSyntheticUnique = ~std::uint64_t{1};
// Largest write the kernel may send us (writes are refused; this only sizes the read buffer,
// which the kernel wants to hold a whole write request) and so also the largest read (max_pages).
constexpr unsigned kMaxWrite = 128 * 1024;
constexpr std::size_t kBufferSize = kMaxWrite + 4096;
constexpr double kAttrTimeout = 0.0;  // sizes shrunk by a short read must not stick
constexpr double kEntryTimeout = 86400.0;

volatile sig_atomic_t g_terminate = 0;
void on_sigterm(int) {
  g_terminate = 1;
}

bool enabled(const Views& v, View w) {
  switch (w) {
    case View::meminfo:
      return v.meminfo;
    case View::swaps:
      return v.swaps;
    case View::loadavg:
      return v.loadavg;
    case View::cpuinfo:
      return v.cpuinfo;
    case View::stat:
      return v.stat;
  }
  return false;
}

// A reader's open file: what it read at offset 0, so that reads at later offsets continue the
// same text (as seq_file does) while every read from the start is fresh.
struct OpenFile {
  View view;
  std::string content;
  bool rendered = false;
};

class Server {
 public:
  Server(const Views& views, const Source& source)
      : views_(views), source_(source), next_sample_(Clock::now() + source.load_interval) {
    // Handle ids stay unique across restarts: a file opened under an earlier server may still
    // send its handle, which must not be mistaken for one of ours.
    std::uint32_t epoch = 0;
    if (::getrandom(&epoch, sizeof epoch, 0) != sizeof epoch) epoch = ::getpid();
    next_handle_ = (std::uint64_t{epoch} << 32) | 1;
  }

  const Views& views() const { return views_; }
  bool initialised = false;

  const ViewFile* file(fuse_ino_t ino) const {
    for (const auto& f : kFiles) {
      if (f.ino == ino && enabled(views_, f.view)) return &f;
    }
    return nullptr;
  }
  const ViewFile* file(std::string_view name) const {
    for (const auto& f : kFiles) {
      if (name == f.name && enabled(views_, f.view)) return &f;
    }
    return nullptr;
  }

  std::uint64_t open(View v) {
    std::uint64_t h = next_handle_++;
    open_.emplace(h, OpenFile{v, {}, false});
    return h;
  }
  // The open file of a handle; one of an earlier server is adopted.
  OpenFile& handle(std::uint64_t h, View v) {
    auto it = open_.find(h);
    if (it == open_.end() || it->second.view != v) {
      it = open_.insert_or_assign(h, OpenFile{v, {}, false}).first;
    }
    return it->second;
  }
  void release(std::uint64_t h) { open_.erase(h); }

  std::string render(View v) const {
    const auto& cg = source_.cgroup;
    const auto& proc = source_.host_proc;
    switch (v) {
      case View::meminfo: {
        auto host = read_file(proc / "meminfo");
        auto stat = cg.read("memory.stat");
        return render_meminfo(host, mem_facts(cg.usage(), stat ? *stat : std::string()));
      }
      case View::swaps:
        return render_swaps(read_file(proc / "swaps"), mem_facts(cg.usage(), {}));
      case View::loadavg:
        return render_loadavg(load_, count_tasks(cg, proc));
      case View::cpuinfo:
        return render_cpuinfo(read_file(proc / "cpuinfo"), cpus());
      case View::stat:
        return render_stat(read_file(proc / "stat"), cpus());
    }
    return {};
  }

  // Samples the load average when due; returns the milliseconds until the next sample, or -1
  // when there is no load average to keep.
  int tick() {
    if (!views_.loadavg) return -1;
    auto now = Clock::now();
    if (now >= next_sample_) {
      unsigned long active = 0;
      try {
        active = count_tasks(source_.cgroup, source_.host_proc).active;
      } catch (const std::exception& e) {
        // The cgroup is going away with the guest: count nobody.
        std::fprintf(stderr, "vserver-procfs: load average: %s\n", e.what());
      }
      // Intervals missed while busy or stopped count with the same sample, as the kernel does
      // after a tickless idle period (calc_load_n); more than an hour of them decay to the same.
      int missed = 0;
      while (now >= next_sample_ && missed < 720) {
        load_.sample(active);
        next_sample_ += source_.load_interval;
        ++missed;
      }
      if (now >= next_sample_) next_sample_ = now + source_.load_interval;
    }
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next_sample_ - now).count();
    return static_cast<int>(std::max<std::int64_t>(ms, 0));
  }

 private:
  std::vector<unsigned> cpus() const {
    auto u = source_.cgroup.usage();
    if (!u.cpus_effective) return {};
    return parse_cpu_list(*u.cpus_effective);
  }

  Views views_;
  Source source_;
  LoadAverage load_;
  Clock::time_point next_sample_;
  std::uint64_t next_handle_ = 1;
  std::map<std::uint64_t, OpenFile> open_;
};

Server& server_of(fuse_req_t req) {
  return *static_cast<Server*>(fuse_req_userdata(req));
}

// The size reported for every view (see attributes).
constexpr off_t kReportedSize = 1 << 20;

struct stat attributes(fuse_ino_t ino) {
  struct stat st {};
  st.st_ino = ino;
  if (ino == FUSE_ROOT_ID) {
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2;
  } else {
    // read(2) ignores the size (the files are direct_io), but sendfile(2) and splice(2) -- what
    // busybox cat uses -- go through the page cache and stop at the size: a size 0, as /proc
    // files have, would read as empty there. A size above any view's length works for both; a
    // short read then tells the kernel the real end of the file.
    st.st_mode = S_IFREG | 0444;
    st.st_nlink = 1;
    st.st_size = kReportedSize;
  }
  st.st_blksize = 4096;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  st.st_atim = st.st_mtim = st.st_ctim = now;
  return st;
}

void op_init(void* userdata, struct fuse_conn_info* conn) {
  static_cast<Server*>(userdata)->initialised = true;
  conn->max_write = kMaxWrite;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const ViewFile* f =
      parent == FUSE_ROOT_ID ? server_of(req).file(std::string_view(name)) : nullptr;
  if (!f) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param e {};
  e.ino = f->ino;
  e.attr = attributes(f->ino);
  e.attr_timeout = kAttrTimeout;
  e.entry_timeout = kEntryTimeout;
  fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  if (ino != FUSE_ROOT_ID && !server_of(req).file(ino)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  auto st = attributes(ino);
  fuse_reply_attr(req, &st, kAttrTimeout);
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (ino == FUSE_ROOT_ID) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  auto& s = server_of(req);
  const ViewFile* f = s.file(ino);
  if (!f) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
    fuse_reply_err(req, EACCES);
    return;
  }
  fi->fh = s.open(f->view);
  fi->direct_io = 1;  // no page cache: every read reaches us
  fi->keep_cache = 0;
  fi->noflush = 1;
  if (fuse_reply_open(req, fi) == -ENOENT) s.release(fi->fh);  // the opener was interrupted
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  auto& s = server_of(req);
  const ViewFile* f = s.file(ino);
  if (!f) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  OpenFile& h = s.handle(fi->fh, f->view);
  if (off == 0 || !h.rendered) {
    try {
      h.content = s.render(f->view);
      h.rendered = true;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vserver-procfs: /proc/%s: %s\n", f->name, e.what());
      fuse_reply_err(req, EIO);
      return;
    }
  }
  if (off < 0 || static_cast<std::uint64_t>(off) >= h.content.size()) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  std::size_t n = std::min(size, h.content.size() - static_cast<std::size_t>(off));
  fuse_reply_buf(req, h.content.data() + off, n);
}

void op_release(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  server_of(req).release(fi->fh);
  fuse_reply_err(req, 0);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<std::pair<std::string, fuse_ino_t>> entries = {{".", FUSE_ROOT_ID},
                                                             {"..", FUSE_ROOT_ID}};
  for (const auto& f : kFiles) {
    if (enabled(server_of(req).views(), f.view)) entries.emplace_back(f.name, f.ino);
  }
  std::string buf(size, '\0');
  std::size_t used = 0;
  for (std::size_t i = off < 0 ? 0 : static_cast<std::size_t>(off); i < entries.size(); ++i) {
    auto st = attributes(entries[i].second);
    std::size_t n = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first.c_str(),
                                      &st, static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

// Everything that would change the filesystem.
void deny_setattr(fuse_req_t req, fuse_ino_t, struct stat*, int, struct fuse_file_info*) {
  fuse_reply_err(req, EACCES);
}
void deny_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) {
  fuse_reply_err(req, EACCES);
}
void deny_mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) {
  fuse_reply_err(req, EACCES);
}
void deny_unlink(fuse_req_t req, fuse_ino_t, const char*) {
  fuse_reply_err(req, EACCES);
}
void deny_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) {
  fuse_reply_err(req, EACCES);
}
void deny_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
  fuse_reply_err(req, EACCES);
}
void deny_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) {
  fuse_reply_err(req, EACCES);
}
void deny_create(fuse_req_t req, fuse_ino_t, const char*, mode_t, struct fuse_file_info*) {
  fuse_reply_err(req, EACCES);
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.open = op_open;
  ops.read = op_read;
  ops.release = op_release;
  ops.readdir = op_readdir;
  ops.setattr = deny_setattr;
  ops.mknod = deny_mknod;
  ops.mkdir = deny_mkdir;
  ops.unlink = deny_unlink;
  ops.rmdir = deny_unlink;
  ops.symlink = deny_symlink;
  ops.rename = deny_rename;
  ops.link = deny_link;
  ops.create = deny_create;
  return ops;
}

// The session's I/O: plain read and writev, except that the reply to the synthetic INIT is
// dropped (the kernel has no such request).
ssize_t session_writev(int fd, struct iovec* iov, int count, void*) {
  if (count > 0 && iov[0].iov_len >= sizeof(fuse_out_header)) {
    fuse_out_header out{};
    std::memcpy(&out, iov[0].iov_base, sizeof out);
    if (out.unique == kSyntheticUnique) {
      ssize_t total = 0;
      for (int i = 0; i < count; ++i) total += static_cast<ssize_t>(iov[i].iov_len);
      return total;
    }
  }
  return ::writev(fd, iov, count);
}
ssize_t session_read(int fd, void* buf, size_t len, void*) {
  return ::read(fd, buf, len);
}

void process(fuse_session* se, char* data, std::size_t size) {
  fuse_buf buf{};
  buf.size = size;
  buf.mem = data;
  fuse_session_process_buf(se, &buf);
}

// libfuse answers nothing before INIT: a server taking over an initialised connection gives it
// one. The reply is dropped by session_writev.
void synthetic_init(fuse_session* se) {
  struct {
    fuse_in_header in;
    fuse_init_in init;
  } msg{};
  msg.in.len = sizeof msg;
  msg.in.opcode = FUSE_INIT;
  msg.in.unique = kSyntheticUnique;
  msg.init.major = FUSE_KERNEL_VERSION;
  msg.init.minor = FUSE_KERNEL_MINOR_VERSION;
  process(se, reinterpret_cast<char*>(&msg), sizeof msg);
}

// Waits (until SIGTERM) for the guest to mount the connection, then returns a device of our own
// on it. An fd that no filesystem uses yet cannot be read or cloned (EPERM).
UniqueFd clone_device(int fuse_fd, const sigset_t& unblocked) {
  UniqueFd dev(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!dev) throw_errno("open", "/dev/fuse");
  for (long delay_ms = 1;; delay_ms = std::min(delay_ms * 2, 50L)) {
    std::uint32_t source = static_cast<std::uint32_t>(fuse_fd);
    if (::ioctl(dev.get(), FUSE_DEV_IOC_CLONE, &source) == 0) return dev;
    if (errno != EPERM && errno != EINVAL) throw_errno("clone the FUSE connection of", "/dev/fuse");
    struct timespec ts {
      0, delay_ms * 1000000
    };
    ::ppoll(nullptr, 0, &ts, &unblocked);
    if (g_terminate) return {};
  }
}

// The command line of the process as ps shows it: "vserver-procfs NAME". PR_SET_MM points it at
// a string of ours where the process may (CAP_SYS_RESOURCE); otherwise the title is written over
// the inherited argv and environment strings, as setproctitle does (the server needs neither).
void set_command_line(std::string_view name) {
  // /proc/self/stat fields 48 to 51: where the argument and environment strings are.
  auto stat = read_file_if_exists("/proc/self/stat");
  if (!stat) return;
  std::vector<unsigned long> fields;
  std::string_view rest = std::string_view(*stat).substr(stat->rfind(')') + 1);
  while (!(rest = trim(rest)).empty()) {
    auto sp = rest.find(' ');
    unsigned long v = 0;
    std::from_chars(rest.data(), rest.data() + std::min(sp, rest.size()), v);
    fields.push_back(v);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp);
  }
  if (fields.size() < 49) return;  // fields[0] is field 3
  unsigned long arg_start = fields[45], arg_end = fields[46];
  unsigned long env_start = fields[47], env_end = fields[48];

  // One argument, as the fallback below gives: "vserver-procfs NAME" whichever path is taken. It
  // must live as long as the process.
  static std::string area;
  area = "vserver-procfs " + std::string(name);
  area += '\0';
  auto start = reinterpret_cast<unsigned long>(area.data());
  if (::prctl(PR_SET_MM, PR_SET_MM_ARG_START, start, 0, 0) == 0) {
    if (::prctl(PR_SET_MM, PR_SET_MM_ARG_END, start + area.size(), 0, 0) == 0) return;
    if (::prctl(PR_SET_MM, PR_SET_MM_ARG_START, arg_start, 0, 0) < 0) return;
  }

  constexpr unsigned long kSane = 1UL << 20;
  if (arg_end <= arg_start || arg_end - arg_start > kSane) return;
  // The kernel shows a title that runs on into the environment when the last byte of the
  // argument area is not a NUL.
  bool env_follows = env_start == arg_end && env_end > env_start && env_end - env_start < kSane;
  unsigned long limit = env_follows ? env_end : arg_end;
  std::string title = "vserver-procfs " + std::string(name);
  std::size_t n = std::min<std::size_t>(title.size(), limit - arg_start - 1);
  ::clearenv();
  // The kernel's address of this process's argument strings.
  char* p = reinterpret_cast<char*>(arg_start);  // NOLINT(performance-no-int-to-ptr)
  std::memset(p, ' ', arg_end - arg_start);
  std::memcpy(p, title.data(), n);
  p[n] = '\0';
}

// The serving process's life; returns the exit code.
int serve(int fuse_fd, const Views& views, const Source& source, std::string_view name) {
  // A process of its own: no descriptor, handler or signal mask of the supervisor's.
  ::setsid();
  if (::chdir("/") < 0) throw_errno("chdir", "/");
  if (fuse_fd > 3) ::close_range(3, static_cast<unsigned>(fuse_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(std::max(fuse_fd, 2)) + 1, ~0U, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction term {};
  term.sa_handler = on_sigterm;  // no SA_RESTART: ppoll returns
  ::sigaction(SIGTERM, &term, nullptr);
  sigset_t blocked, unblocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigemptyset(&unblocked);
  // SIGTERM arrives only while waiting in ppoll, so it is never missed between check and wait.
  ::sigprocmask(SIG_SETMASK, &blocked, nullptr);
  ::prctl(PR_SET_NAME, "vserver-procfs", 0, 0, 0);
  set_command_line(name);

  UniqueFd dev = clone_device(fuse_fd, unblocked);
  if (!dev) return 0;  // SIGTERM before the guest mounted anything
  ::close(fuse_fd);    // the supervisor keeps the connection's first device
  if (::fcntl(dev.get(), F_SETFL, O_NONBLOCK) < 0) throw_errno("set O_NONBLOCK on", "/dev/fuse");

  Server server(views, source);
  static char arg0[] = "vserver-procfs";
  char* argv[] = {arg0, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  auto ops = make_ops();
  std::unique_ptr<fuse_session, void (*)(fuse_session*)> se(
      fuse_session_new(&args, &ops, sizeof ops, &server), fuse_session_destroy);
  if (!se) throw Error("create the FUSE session: libfuse refused it");
  static const fuse_custom_io io = {session_writev, session_read, nullptr, nullptr};
  int dev_fd = dev.get();
  if (int err = fuse_session_custom_io(se.get(), &io, dev.release()); err != 0) {
    ::close(dev_fd);
    throw_errno("attach the FUSE session to", "/dev/fuse", -err);
  }

  // Not value-initialised: pages are touched only as far as requests reach.
  std::size_t buffer_size = kBufferSize;
  std::unique_ptr<char[]> buffer(new char[buffer_size]);
  struct pollfd pfd {
    dev_fd, POLLIN, 0
  };
  while (!g_terminate && !fuse_session_exited(se.get())) {
    int timeout_ms = server.tick();
    struct timespec ts {
      timeout_ms / 1000, (timeout_ms % 1000) * 1000000L
    };
    int r = ::ppoll(&pfd, 1, timeout_ms < 0 ? nullptr : &ts, &unblocked);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", "/dev/fuse");
    }
    if (r == 0) continue;
    ssize_t n = ::read(dev_fd, buffer.get(), buffer_size);
    if (n < 0) {
      // EAGAIN: the request went to nobody (its reader gave up); ENOENT: it was interrupted.
      if (errno == EAGAIN || errno == EINTR || errno == ENOENT) continue;
      if (errno == ENODEV) break;  // the guest's mounts are gone
      if (errno == EINVAL && buffer_size < (std::size_t{16} << 20)) {
        // The connection was set up with a larger max_write than ours (by another version).
        buffer_size *= 2;
        buffer.reset(new char[buffer_size]);
        continue;
      }
      throw_errno("read", "/dev/fuse");
    }
    if (static_cast<std::size_t>(n) < sizeof(fuse_in_header)) continue;
    fuse_in_header in{};
    std::memcpy(&in, buffer.get(), sizeof in);
    if (!server.initialised && in.opcode != FUSE_INIT) synthetic_init(se.get());
    process(se.get(), buffer.get(), static_cast<std::size_t>(n));
  }
  return 0;
}

bool is_fuse_device(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && ::major(st.st_rdev) == 10 &&
         ::minor(st.st_rdev) == 229;
}

}  // namespace

TaskCount count_tasks(const cgroup::GuestCgroup& cgroup, const fs::path& proc) {
  std::vector<std::string> tids;
  if (auto threads = read_file_if_exists(cgroup.path() / "cgroup.threads")) {
    tids = split_lines(*threads);
  } else {
    for (pid_t pid : cgroup.procs()) {
      fs::path task = proc / std::to_string(pid) / "task";
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(task, ec)) {
        tids.push_back(e.path().filename().string());
      }
    }
  }
  TaskCount count;
  for (const auto& tid : tids) {
    if (tid.empty()) continue;
    std::optional<std::string> stat;
    try {
      stat = read_file_if_exists(proc / tid / "stat");
    } catch (const Error&) {
      continue;  // exited while being read
    }
    if (!stat) continue;
    auto parsed = hostproc::parse_stat(*stat);
    if (!parsed) continue;
    char state = parsed->state;
    ++count.total;
    if (state == 'R') ++count.running;
    if (state == 'R' || state == 'D') ++count.active;
  }
  return count;
}

pid_t spawn_server(int fuse_fd, const Views& views, const Source& source, std::string_view name) {
  std::string what = "the /proc server of " + std::string(name);
  if (!views.any()) throw Error("start " + what + ": no /proc file to serve");
  if (!is_fuse_device(fuse_fd)) {
    throw Error("start " + what + ": fd " + std::to_string(fuse_fd) + " is not /dev/fuse", EBADF);
  }
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", what);
  if (pid > 0) return pid;
  int code = 1;
  try {
    code = serve(fuse_fd, views, source, name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vserver-procfs %.*s: %s\n", static_cast<int>(name.size()), name.data(),
                 e.what());
  }
  ::_exit(code);
}

}  // namespace vs::procfs
