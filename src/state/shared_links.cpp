#include "state/shared_links.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::state {

namespace fs = std::filesystem;

namespace {

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(errno_message("create directory", dir.string(), ec.value()), ec.value());
}

}  // namespace

SharedLinks::SharedLinks(const config::Roots& roots) : dir_(roots.run / ".links") {
  fs::path locks = roots.run / ".lock";
  if (::mkdir(locks.c_str(), 0755) != 0 && errno != EEXIST) make_dirs(locks);
  fs::path file = locks / ".links";
  lock_ = open_file(file, O_RDWR | O_CREAT, 0600);
  while (::flock(lock_.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw_errno("lock", file.string());
  }
}

bool SharedLinks::owned(std::string_view dev) const {
  struct stat st {};
  return ::stat((dir_ / dev).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void SharedLinks::add_user(std::string_view dev, std::string_view guest) {
  fs::path d = dir_ / dev;
  make_dirs(d);
  fs::path user = d / guest;
  (void)open_file(user, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
}

bool SharedLinks::drop_user(std::string_view dev, std::string_view guest) {
  fs::path d = dir_ / dev;
  fs::path user = d / guest;
  if (::unlink(user.c_str()) != 0 && errno != ENOENT) throw_errno("remove", user.string());
  if (::rmdir(d.c_str()) == 0) return true;
  if (errno == ENOTEMPTY || errno == EEXIST) return false;
  if (errno == ENOENT) return false;  // not owned: nothing to remove
  throw_errno("remove", d.string());
}

}  // namespace vs::state
