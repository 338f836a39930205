// A real Debian root for integration tests: a `debootstrap --variant=minbase` tree of the host's
// own Debian suite, from the mirror the host's apt sources name, packed into a tarball once per
// machine under /var/tmp/vserver-tests/ and reused by every later test process. Tests make a
// Debian guest from it quickly with `vserver NAME build -m template -- -t TARBALL`.
//
// The cache is flock'ed, so parallel test processes build it once; a missing or damaged tarball
// (one whose size does not match the stamp written beside it) is built again.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace it {

// The packages added to minbase by default: an init system with /etc/init.d/rc, and cron (a
// daemon the tests watch run inside the guest only).
std::vector<std::string> debian_default_packages();

// The host's Debian suite (VERSION_CODENAME of /etc/os-release) and the mirror that the host's
// apt sources (one-line sources.list and deb822 *.sources) use for it. Empty when not found.
struct DebianSource {
  std::string suite;
  std::string mirror;
};
DebianSource host_debian_source();

// True when a tarball with these extra packages is cached, or can be built here: debootstrap is
// installed, the host names a Debian suite and a mirror, and the mirror answers. When false, WHY
// (if given) says what is missing, for GTEST_SKIP.
bool debian_available(const std::vector<std::string>& include, std::string* why);
inline bool debian_available() {
  return debian_available(debian_default_packages(), nullptr);
}

// The cached tarball of a minbase root plus INCLUDE (with their dependencies), built on first use.
// Throws std::runtime_error, with the end of debootstrap's log, when the build fails.
std::filesystem::path debian_tarball(
    const std::vector<std::string>& include = debian_default_packages());

}  // namespace it

// Skips the test when no Debian root can be had (no debootstrap, no mirror, no network).
#define REQUIRE_DEBIAN_WITH(packages)                                  \
  do {                                                                 \
    std::string debian_why_;                                           \
    if (!it::debian_available((packages), &debian_why_))               \
      GTEST_SKIP() << "no Debian root for this test: " << debian_why_; \
  } while (0)
#define REQUIRE_DEBIAN() REQUIRE_DEBIAN_WITH(it::debian_default_packages())
