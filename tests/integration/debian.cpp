#include "debian.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "provision/debian.hpp"

namespace it {

namespace fs = std::filesystem;

namespace {

fs::path cache_dir() {
  const char* env = std::getenv("VSERVER_TEST_CACHE");
  return env != nullptr && *env != '\0' ? fs::path(env) : fs::path("/var/tmp/vserver-tests");
}

std::string tarball_name(const std::string& suite, const std::vector<std::string>& include) {
  std::string name = "debian-" + suite + "-minbase";
  if (!include.empty()) {
    std::vector<std::string> sorted = include;
    std::sort(sorted.begin(), sorted.end());
    name += "+";
    for (size_t i = 0; i < sorted.size(); ++i) name += (i != 0U ? "," : "") + sorted[i];
  }
  return name + ".tar";
}

// A tarball is good when its stamp (written after the tarball was complete) records its size.
bool tarball_valid(const fs::path& tar) {
  std::error_code ec;
  auto size = fs::file_size(tar, ec);
  if (ec || size < 10240) return false;
  std::ifstream stamp(tar.string() + ".ok");
  std::uintmax_t recorded = 0;
  return static_cast<bool>(stamp >> recorded) && recorded == size;
}

// Connects to the mirror's host and port within a few seconds.
bool mirror_reachable(const std::string& uri, std::string* why) {
  if (uri.rfind("file:", 0) == 0) {
    std::string path = uri.substr(5);
    while (path.rfind("//", 0) == 0) path = path.substr(1);
    if (fs::is_directory(path)) return true;
    if (why != nullptr) *why = "the mirror directory " + path + " does not exist";
    return false;
  }
  auto scheme = uri.find("://");
  if (scheme == std::string::npos) {
    if (why != nullptr) *why = "cannot read the mirror address " + uri;
    return false;
  }
  std::string rest = uri.substr(scheme + 3);
  std::string hostport = rest.substr(0, rest.find('/'));
  if (auto at = hostport.rfind('@'); at != std::string::npos) hostport = hostport.substr(at + 1);
  std::string port = uri.compare(0, scheme, "https") == 0 ? "443" : "80";
  std::string host = hostport;
  if (!hostport.empty() && hostport[0] == '[') {
    auto close = hostport.find(']');
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':')
      port = hostport.substr(close + 2);
  } else if (auto colon = hostport.find(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    if (why != nullptr) *why = "cannot resolve the mirror's host: " + std::string(gai_strerror(rc));
    return false;
  }
  bool ok = false;
  for (addrinfo* ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::poll(&p, 1, 5000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
           err == 0;
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (!ok && why != nullptr) *why = "the mirror does not answer (no network?)";
  return ok;
}

// Runs ARGV with stdout and stderr appended to LOG, in a mount namespace of its own, so that
// whatever debootstrap mounts in the new root goes away with it, even when it fails. Returns the
// exit status.
int run_logged(const std::vector<std::string>& argv, const fs::path& log) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + log.string() + ": " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      ::_exit(126);
    }
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  ::close(fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string log_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string out;
  for (size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) {
    out += lines[i] + "\n";
  }
  return out;
}

class Flock {
 public:
  explicit Flock(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) throw std::runtime_error("flock " + path.string());
    }
  }
  Flock(const Flock&) = delete;
  Flock& operator=(const Flock&) = delete;
  ~Flock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

}  // namespace

std::vector<std::string> debian_default_packages() {
  return {"sysvinit-core", "cron"};
}

DebianSource host_debian_source() {
  DebianSource src;
  src.suite = vs::provision::host_codename();
  if (src.suite.empty()) return src;
  src.mirror =
      vs::provision::mirror_for_suite(vs::provision::host_apt_sources(), src.suite, src.suite)
          .value_or("");
  return src;
}

bool debian_available(const std::vector<std::string>& include, std::string* why) {
  DebianSource src = host_debian_source();
  if (src.suite.empty()) {
    if (why != nullptr) *why = "this host is not Debian (no VERSION_CODENAME in /etc/os-release)";
    return false;
  }
  if (tarball_valid(cache_dir() / tarball_name(src.suite, include))) return true;
  if (::access("/usr/sbin/debootstrap", X_OK) != 0) {
    if (why != nullptr) *why = "debootstrap is not installed";
    return false;
  }
  if (src.mirror.empty()) {
    if (why != nullptr) *why = "no apt source on this host names the suite " + src.suite;
    return false;
  }
  return mirror_reachable(src.mirror, why);
}

fs::path debian_tarball(const std::vector<std::string>& include) {
  DebianSource src = host_debian_source();
  if (src.suite.empty()) throw std::runtime_error("this host's Debian suite is unknown");
  fs::path dir = cache_dir();
  fs::create_directories(dir);
  fs::path tar = dir / tarball_name(src.suite, include);
  Flock lock(dir / ".lock");
  if (tarball_valid(tar)) return tar;
  if (src.mirror.empty()) {
    throw std::runtime_error("no apt source on this host names the suite " + src.suite);
  }
  // Leftovers of builds whose process died; nobody else builds while we hold the lock.
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("build-", 0) == 0) fs::remove_all(e.path());
  }
  fs::remove(tar.string() + ".ok");
  std::string tmpl = (dir / "build-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp in " + dir.string());
  fs::path work = tmpl;
  fs::path root = work / "root";
  fs::path debs = dir / ("debs-" + src.suite);
  fs::create_directories(debs);
  fs::path log = dir / (tar.filename().string() + ".log");
  fs::remove(log);

  std::vector<std::string> argv{"debootstrap", "--variant=minbase", "--cache-dir=" + debs.string()};
  if (!include.empty()) {
    std::string list = "--include=";
    for (size_t i = 0; i < include.size(); ++i) list += (i != 0U ? "," : "") + include[i];
    argv.push_back(list);
  }
  argv.insert(argv.end(), {src.suite, root.string(), src.mirror});
  if (int rc = run_logged(argv, log); rc != 0) {
    fs::remove_all(work);
    throw std::runtime_error("debootstrap " + src.suite + " from " + src.mirror + " failed (" +
                             std::to_string(rc) + "); end of " + log.string() + ":\n" +
                             log_tail(log));
  }
  fs::path part = tar.string() + ".part";
  int rc = run_logged({"tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C",
                       root.string(), "-cf", part.string(), "."},
                      log);
  fs::remove_all(work);
  if (rc != 0) {
    fs::remove(part);
    throw std::runtime_error("tar of the Debian root failed; see " + log.string());
  }
  fs::rename(part, tar);
  std::ofstream(tar.string() + ".ok") << fs::file_size(tar) << "\n";
  return tar;
}

}  // namespace it
