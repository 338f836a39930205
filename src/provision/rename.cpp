// vserver NAME rename NEW: every place that names a stopped guest changes together, or none does.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <sstream>
#include <utility>

#include "config/config.hpp"
#include "provision/build.hpp"
#include "provision/internal.hpp"
#include "state/state.hpp"
#include "storage/image.hpp"
#include "storage/layout.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/report.hpp"
#include "sys/tree.hpp"

namespace vs::provision {

namespace {

void rename_noreplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    throw_errno("rename " + from.string() + " to", to.string());
  }
}

// std::filesystem's calls, with their exceptions turned into vs::Error naming the operation, the
// path and the errno text: a failed rename must say what it could not do, like every other error.
fs::path read_link(const fs::path& link) {
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) throw_errno("read link", link.string(), ec.value());
  return target;
}

void replace_symlink(const fs::path& target, const fs::path& link) {
  if (::unlink(link.c_str()) != 0 && errno != ENOENT) throw_errno("remove", link.string());
  if (::symlink(target.c_str(), link.c_str()) != 0) throw_errno("symlink", link.string());
}

// Steps done so far, undone in reverse order when a later one fails.
class Undo {
 public:
  Undo() = default;
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;
  ~Undo() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      try {
        (*it)();
      } catch (const std::exception& e) {
        report_warning(std::string("vserver: rename: undo: ") + e.what());
      }
    }
  }
  void add(std::function<void()> f) { steps_.push_back(std::move(f)); }
  void dismiss() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

// A regular file in a guest root (never through a symlink), its content and mode; nullopt when
// it is absent, a symlink or too large to be a hostname or hosts file.
struct GuestFile {
  std::string content;
  mode_t mode = 0644;
};
std::optional<GuestFile> read_guest_file(const detail::Root& root, const char* rel) {
  UniqueFd etc = detail::open_dir_in(root, "etc", false, 0755, true);
  if (!etc) return std::nullopt;
  int fd = ::openat(etc.get(), rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  UniqueFd f(fd);
  struct stat st {};
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > off_t{1024} * 1024) {
    return std::nullopt;
  }
  return GuestFile{read_fd(f.get()), static_cast<mode_t>(st.st_mode & 07777)};
}

// Writes a one-value file of the configuration (value + newline), remembering how to undo it.
void rewrite_config_file(Undo& undo, const fs::path& file, const std::string& value) {
  std::string old = read_file(file);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) throw_errno("stat", file.string());
  write_file_atomic(file, value + "\n", st.st_mode & 07777);
  undo.add([file, old, mode = st.st_mode & 07777] { write_file_atomic(file, old, mode); });
}

}  // namespace

std::string rename_hosts_entries(std::string_view hosts, std::string_view from,
                                 std::string_view to) {
  std::string out;
  for (const auto& line : split_lines(hosts)) {
    std::string_view l = line;
    std::size_t hash = l.find('#');
    std::string_view body = l.substr(0, hash);
    std::string_view comment = hash == std::string_view::npos ? "" : l.substr(hash);
    // Fields after the address: names; the whitespace between them is kept as it was.
    std::string rebuilt;
    std::size_t pos = 0;
    int field = 0;
    while (pos < body.size()) {
      std::size_t ws = body.find_first_not_of(" \t", pos);
      rebuilt.append(body.substr(pos, (ws == std::string_view::npos ? body.size() : ws) - pos));
      if (ws == std::string_view::npos) break;
      std::size_t end = body.find_first_of(" \t", ws);
      if (end == std::string_view::npos) end = body.size();
      std::string_view word = body.substr(ws, end - ws);
      if (field > 0 && word == from) {
        rebuilt.append(to);
      } else if (field > 0 && word.size() > from.size() && word.substr(0, from.size()) == from &&
                 word[from.size()] == '.') {
        rebuilt.append(std::string(to) + std::string(word.substr(from.size())));  // from.domain
      } else {
        rebuilt.append(word);
      }
      ++field;
      pos = end;
    }
    out += rebuilt + std::string(comment) + "\n";
  }
  return out;
}

void rename_guest(const config::Roots& roots_in, std::string_view from_in, std::string_view to_in) {
  const std::string from(from_in);
  const std::string to(to_in);
  config::Roots roots = roots_in;
  roots.config = absolute_path(roots.config);
  roots.vdir = absolute_path(roots.vdir);
  roots.run = absolute_path(roots.run);
  roots.log = absolute_path(roots.log);
  if (!config::valid_guest_name(to)) {
    throw Error("invalid vserver name \"" + to +
                "\" (1..64 characters of A-Z a-z 0-9 . _ -, not starting with . or -)");
  }
  if (from == to) throw Error("vserver '" + from + "' already has that name");
  fs::path old_cfg = roots.guest_config_dir(from);
  struct stat st {};
  if (::stat(old_cfg.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw GuestNotFound("Can not find a vserver-setup at '" + old_cfg.string() + "/'");
  }
  // Both names locked, in a fixed order so that two renames cannot wait for each other.
  std::optional<state::GuestLock> first;
  std::optional<state::GuestLock> second;
  first.emplace(roots, std::min(from, to));
  second.emplace(roots, std::max(from, to));
  if (state::guest_running(roots, from)) {
    throw Error("vserver '" + from + "' is running; stop it before renaming it");
  }
  fs::path new_cfg = roots.guest_config_dir(to);
  if (lexists(new_cfg) || lexists(roots.default_vdir(to))) {
    throw Error("vserver '" + to + "' already exists (" +
                (lexists(new_cfg) ? new_cfg : roots.default_vdir(to)).string() + ")");
  }
  // A unified guest's layers and the disk image of the image method are named after the guest.
  const fs::path old_layers = storage::layers_dir(roots, from);
  const fs::path new_layers = storage::layers_dir(roots, to);
  const fs::path old_image = storage::guest_image(roots, from);
  const fs::path new_image = storage::guest_image(roots, to);
  for (const auto& p : {new_layers, new_image}) {
    if (lexists(p)) throw Error("files of a vserver '" + to + "' exist: " + p.string());
  }
  if (auto mounts = storage::image_mounts(old_image); !mounts.empty()) {
    throw Error("the disk image " + old_image.string() + " of vserver '" + from +
                "' is mounted on " + mounts.front().string() + "; unmount it first");
  }
  fs::path new_log = roots.console_log(to);
  if (lexists(new_log)) throw Error("a console log of '" + to + "' exists: " + new_log.string());

  config::GuestConfig cfg;
  auto problems = config::check_guest(roots, from, cfg);
  (void)problems;  // a guest with configuration problems can be renamed; they stay as they were
  const std::string old_host = cfg.uts.nodename.value_or(cfg.name);
  const bool host_follows = !cfg.uts.nodename ? cfg.name == from : *cfg.uts.nodename == from;

  Undo undo;
  // 1. The configuration directory.
  rename_noreplace(old_cfg, new_cfg);
  undo.add([=] { rename_noreplace(new_cfg, old_cfg); });

  // 2. The root, when it is the default one (a root elsewhere keeps its place).
  fs::path old_vdir = roots.default_vdir(from);
  fs::path new_vdir = cfg.vdir;
  if (absolute_path(cfg.vdir) == old_vdir && lexists(old_vdir)) {
    new_vdir = roots.default_vdir(to);
    rename_noreplace(old_vdir, new_vdir);
    undo.add([=] { rename_noreplace(new_vdir, old_vdir); });
    fs::path link = new_cfg / "vdir";
    if (::lstat(link.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      fs::path target = read_link(link);
      fs::path tmp = new_cfg / ".vdir.rename";
      ::unlink(tmp.c_str());
      if (::symlink(new_vdir.c_str(), tmp.c_str()) != 0) throw_errno("symlink", tmp.string());
      if (::rename(tmp.c_str(), link.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw_errno("replace", link.string(), err);
      }
      undo.add([=] { replace_symlink(target, link); });
    }
  }

  // 2b. Its layers and its disk image.
  for (const auto& [a, b] : {std::pair{old_layers, new_layers}, std::pair{old_image, new_image}}) {
    if (!lexists(a)) continue;
    rename_noreplace(a, b);
    undo.add([a = a, b = b] { rename_noreplace(b, a); });
  }

  // 3. The name file and uts/nodename, when they held the old name.
  fs::path name_file = new_cfg / "name";
  if (auto n = read_file_if_exists(name_file); n && trim(*n) == from) {
    rewrite_config_file(undo, name_file, to);
  }
  fs::path nodename_file = new_cfg / "uts" / "nodename";
  if (auto n = read_file_if_exists(nodename_file); n && trim(*n) == from) {
    rewrite_config_file(undo, nodename_file, to);
  }

  // 4. /etc/hostname and /etc/hosts of the guest, when its hostname was the old name.
  // A unified guest has them in its upper layer (the build puts them there); the files of a guest
  // whose root is in a disk image are out of reach until it runs.
  const fs::path files_root = cfg.base ? new_layers / "upper" : new_vdir;
  if (host_follows && lexists(new_image)) {
    report_warning("vserver " + to + ": /etc/hostname and /etc/hosts are in the disk image " +
                   new_image.string() + " and were not changed; change them inside the guest");
  } else if (host_follows && lexists(files_root)) {
    detail::Root root{files_root, open_file(files_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
    auto restore = [files_root](const char* rel, const GuestFile& f) {
      detail::Root r{files_root, open_file(files_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
      detail::write_file_in(r, std::string("etc/") + rel, f.content, f.mode);
    };
    if (auto f = read_guest_file(root, "hostname"); f && trim(f->content) == old_host) {
      detail::write_file_in(root, "etc/hostname", to + "\n", f->mode);
      undo.add([=] { restore("hostname", *f); });
    }
    if (auto f = read_guest_file(root, "hosts")) {
      std::string renamed = rename_hosts_entries(f->content, old_host, to);
      if (renamed != f->content) {
        detail::write_file_in(root, "etc/hosts", renamed, f->mode);
        undo.add([=] { restore("hosts", *f); });
      }
    }
  }

  // 5. Other guests that depend on it.
  for (const auto& other : config::list_guests(roots)) {
    if (other == to) continue;
    fs::path file = roots.guest_config_dir(other) / "apps" / "init" / "depends";
    auto text = read_file_if_exists(file);
    if (!text) continue;
    std::string out;
    bool changed = false;
    for (const auto& line : split_lines(*text)) {
      if (trim(line) == from) {
        out += to + "\n";
        changed = true;
      } else {
        out += line + "\n";
      }
    }
    if (changed) {
      struct stat fst {};
      mode_t mode = ::stat(file.c_str(), &fst) == 0 ? (fst.st_mode & 07777) : 0644;
      write_file_atomic(file, out, mode);
      undo.add([file, old = *text, mode] { write_file_atomic(file, old, mode); });
    }
  }

  // 6. The console log.
  fs::path old_log = roots.console_log(from);
  if (lexists(old_log)) {
    rename_noreplace(old_log, new_log);
    undo.add([=] { rename_noreplace(new_log, old_log); });
  }

  undo.dismiss();
  // 7. What the old name left in the run-time root: a stale state record and its lock file (the
  // lock is held, so nobody acts on the old name meanwhile; a waiter finds no guest).
  state::remove_state(roots, from);
  ::unlink((roots.run / ".lock" / from).c_str());
}

}  // namespace vs::provision
