// build -m rsync: an existing server (this host's directory or another host's, over ssh) copied
// into a new guest by Debian's rsync, util-vserver's way of moving a server into a guest.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <cstring>

#include "provision/internal.hpp"
#include "provision/method.hpp"
#include "sys/error.hpp"

namespace vs::provision::detail {

namespace {

// The last lines of a command's standard error, for an error message.
std::string tail_lines(std::string_view text, std::size_t max_lines) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::size_t start = text.size();
  for (std::size_t lines = 0; lines < max_lines && start > 0; ++lines) {
    std::size_t nl = text.rfind('\n', start - 1);
    start = nl == std::string_view::npos ? 0 : nl;
  }
  std::string_view kept = text.substr(start);
  if (!kept.empty() && kept.front() == '\n') kept.remove_prefix(1);
  return std::string(kept);
}

}  // namespace

const std::vector<std::string>& rsync_default_excludes() {
  // The contents of the kernel's and the run time's filesystems: the guest gets its own.
  static const std::vector<std::string> kExcludes = {"/proc/*", "/sys/*", "/dev/*", "/run/*",
                                                     "/tmp/*"};
  return kExcludes;
}

bool rsync_remote(std::string_view source) {
  // rsync's own rule: a colon before the first slash names a host (HOST:PATH, rsync://...).
  std::size_t colon = source.find(':');
  return colon != std::string_view::npos && colon < source.find('/');
}

std::vector<std::string> rsync_argv(const RsyncRun& run, const fs::path& target) {
  std::vector<std::string> argv = {"rsync", "-aHAX", "--numeric-ids"};
  if (run.one_file_system) argv.emplace_back("--one-file-system");
  for (const auto& e : rsync_default_excludes()) argv.push_back("--exclude=" + e);
  for (const auto& e : run.excludes) argv.push_back("--exclude=" + e);
  argv.insert(argv.end(), run.options.begin(), run.options.end());
  // The trailing slashes copy the contents of the source into the target, not the source itself.
  std::string source = run.source;
  if (source.empty() || source.back() != '/') source += '/';
  argv.push_back(std::move(source));
  argv.push_back(target.string() + "/");
  return argv;
}

void run_rsync(const RsyncRun& run, const fs::path& target, const Report& warning) {
  std::vector<std::string> argv = rsync_argv(run, target);
  CommandResult r = run_command_result(argv, "/");
  if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) return;
  std::string errors = tail_lines(r.errors, 20);
  std::string why = errors.empty() ? std::string() : ":\n" + errors;
  if (WIFSIGNALED(r.status)) {
    throw Error(fmt::format("rsync from {} was killed by signal {} ({}){}", run.source,
                            WTERMSIG(r.status), ::strsignal(WTERMSIG(r.status)), why));
  }
  int code = WEXITSTATUS(r.status);
  // 24: files vanished while rsync read them, which a running server's logs and spool files do;
  // everything else was copied.
  if (code == 24) {
    if (warning) {
      warning(fmt::format("rsync from {}: some files vanished during the copy (status 24){}",
                          run.source, why));
    }
    return;
  }
  throw Error(fmt::format("rsync from {} to {} exited with status {}{}", run.source,
                          target.string(), code, why));
}

namespace {

class Rsync final : public BuildMethod {
 public:
  void validate(const BuildOptions& o) const override {
    if (o.source.empty()) throw Error("method rsync needs a source (--source [HOST:]PATH)");
  }
  void check(Build& b) const override {
    const BuildOptions& o = b.o;
    if (!in_path("rsync")) {
      throw Error("method rsync needs rsync (Debian package rsync), which is not in PATH");
    }
    RsyncRun& rsync = b.rsync;
    rsync.source = o.source;
    rsync.excludes = o.rsync_excludes;
    rsync.options = o.rsync_options;
    rsync.one_file_system = o.one_file_system;
    if (!rsync_remote(o.source)) {
      rsync.source = fs::absolute(o.source).lexically_normal().string();
      struct stat st {};
      if (::stat(rsync.source.c_str(), &st) != 0) throw_errno("rsync source", rsync.source);
      if (!S_ISDIR(st.st_mode)) throw Error("rsync source " + rsync.source + ": not a directory");
      if (fs::path(rsync.source) == "/" || fs::path(rsync.source) == "/.") {
        // Copying the host into one of its own guests would copy VDIR_ROOT into itself.
        rsync.excludes.push_back(b.roots.vdir.string());
      }
    }
  }
  void populate(Build& b) const override {
    if (b.o.progress) {
      b.o.progress("Running " + fmt::format("{}", fmt::join(rsync_argv(b.rsync, b.vdir), " ")));
    }
    run_rsync(b.rsync, b.tmp_vdir, b.o.warning);
    make_standard_dirs(*b.root, true);
    if (b.o.progress) b.o.progress("Copied " + b.rsync.source + " into " + b.vdir.string());
  }
  [[nodiscard]] bool foreign_root(const Build& /*b*/) const override { return true; }
};

}  // namespace

const BuildMethod& rsync_method() {
  static const Rsync m;
  return m;
}

}  // namespace vs::provision::detail
