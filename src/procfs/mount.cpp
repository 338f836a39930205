// The connection (supervisor side) and the guest's mounts of the views.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "procfs/procfs.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/in_root.hpp"
#include "sys/reverter.hpp"

namespace vs::procfs {

namespace {

// The messages the kernel logged on an fs context ("e fuse: invalid fd"), for an error.
std::string context_log(int fsfd) {
  std::string log;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fsfd, buf, sizeof buf);
    if (n <= 0) break;
    if (!log.empty()) log += "; ";
    log.append(buf, static_cast<std::size_t>(n));
  }
  return log;
}

[[noreturn]] void throw_fsconfig(int fsfd, const std::string& what) {
  int err = errno;
  std::string log = context_log(fsfd);
  throw Error(errno_message(what, log.empty() ? "" : "(" + log + ")", err), err);
}

// The detached FUSE mount of the connection.
UniqueFd fuse_mount(int fuse_fd) {
  UniqueFd fs(::fsopen("fuse", FSOPEN_CLOEXEC));
  if (!fs) throw_errno("fsopen", "fuse");
  auto set = [&](const char* key, const std::string& value) {
    if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) < 0) {
      throw_fsconfig(fs.get(), "fsconfig fuse " + std::string(key) + "=" + value);
    }
  };
  auto flag = [&](const char* key) {
    if (::fsconfig(fs.get(), FSCONFIG_SET_FLAG, key, nullptr, 0) < 0) {
      throw_fsconfig(fs.get(), "fsconfig fuse " + std::string(key));
    }
  };
  set("source", "vserver-procfs");
  set("subtype", "vserver-procfs");
  set("fd", std::to_string(fuse_fd));
  set("rootmode", "40000");
  set("user_id", "0");
  set("group_id", "0");
  flag("allow_other");
  flag("default_permissions");
  if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
    throw_fsconfig(fs.get(), "create the fuse filesystem of fd " + std::to_string(fuse_fd));
  }
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC,
                         MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
  if (!mnt) throw_errno("fsmount", "fuse");
  return mnt;
}

// Unmounts the view mounted at target, resolved inside the guest's root again (best effort: on an
// error path, or for the staging mount that is no longer needed).
void unmount_view(int rootfd, const std::string& target) noexcept {
  try {
    UniqueFd fd = open_in_root(rootfd, target, false, "");
    std::string path = "/proc/self/fd/" + std::to_string(fd.get());
    ::umount2(path.c_str(), MNT_DETACH);
  } catch (const Error&) {  // NOLINT(bugprone-empty-catch): see above
  }
}

// Moves the mount tree onto path, resolved inside the guest's root (never by the host's rules: a
// symbolic link in the guest, "/proc" -> "/etc" say, must not lead to a directory of the host).
bool move_mount_in_root(int tree, int rootfd, const std::string& path) {
  UniqueFd target = open_in_root(rootfd, path, false, "");
  return ::move_mount(tree, "", target.get(), "",
                      MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0;
}

}  // namespace

Connection Connection::open() {
  UniqueFd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno("open", "/dev/fuse");
  return Connection(std::move(fd));
}

void mount_views(int fuse_fd, const std::string& root, const Views& views) {
  detail::mount_views(fuse_fd, root, views, detail::MountMethod::automatic);
}

namespace detail {

void mount_views(int fuse_fd, const std::string& root, const Views& views, MountMethod method) {
  auto files = views.files();
  if (files.empty()) return;
  UniqueFd rootfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootfd) throw_errno("open guest root", root);
  UniqueFd mnt = fuse_mount(fuse_fd);
  // The views mounted so far are unmounted again on an error, newest first.
  Reverter mounted;
  // Where the FUSE mount is attached while the views are cloned from it (staging method only);
  // it is unmounted in the end, whatever happens.
  std::string staging;
  Reverter staged;
  auto stage = [&] {
    if (!move_mount_in_root(mnt.get(), rootfd.get(), "/proc/driver")) {
      throw_errno("attach the /proc views for a moment on", root + "/proc/driver");
    }
    staging = "/proc/driver";
    staged.add([fd = rootfd.get()] { unmount_view(fd, "/proc/driver"); });
  };
  if (method == MountMethod::staging) stage();

  for (const auto& file : files) {
    std::string target = root + "/proc/" + file;
    UniqueFd tree;
    if (staging.empty()) {
      tree.reset(::open_tree(mnt.get(), file.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
      if (!tree && errno == EINVAL && method == MountMethod::automatic) {
        // This kernel does not clone from a detached mount.
        stage();
      } else if (!tree) {
        throw_errno("clone the /proc/" + file + " view for", target);
      }
    }
    if (!tree) {
      std::string from = "/proc/driver/" + file;
      UniqueFd at = open_in_root(rootfd.get(), from, false, root);
      tree.reset(::open_tree(at.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
      if (!tree) throw_errno("clone the /proc/" + file + " view at", root + from);
    }
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
      throw_errno("make the /proc/" + file + " view read-only for", target);
    }
    if (!move_mount_in_root(tree.get(), rootfd.get(), "/proc/" + file)) {
      throw_errno("mount the /proc/" + file + " view on", target);
    }
    mounted.add([fd = rootfd.get(), t = "/proc/" + file] { unmount_view(fd, t); });
  }
  // staged unmounts the staging mount now (the views hold the filesystem); the views stay.
  mounted.success();
}

}  // namespace detail

}  // namespace vs::procfs
