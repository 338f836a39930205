// Opening a path inside a directory tree as if that directory were "/": what every operation on a
// guest's root (mounts in it, files written into it, /proc views) must do, so that a symbolic link
// in the guest cannot lead it onto the host.
#pragma once

#include <string_view>

#include "sys/fd.hpp"

namespace vs {

// How open_in_root resolves a path: with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) where
// the kernel has it (Linux 5.6), else by a walk of one component at a time with O_NOFOLLOW that
// gives the same answers (automatic); or by the walk always (walk, for the tests). The
// environment variable VSERVER_TEST_NO_OPENAT2, set by the tests only, makes automatic walk too.
enum class Resolver { automatic, walk };

// Opens PATH (absolute, as seen inside the guest) below rootfd, O_PATH, resolved as if rootfd
// were "/": symbolic links, absolute or relative, and ".." never lead out of it, and links of
// /proc that name objects rather than paths (/proc/PID/root, cwd, exe, fd/N) are refused (ELOOP).
// With mkdir, missing directories are created (mode 0755) on the way.
UniqueFd open_in_root(int rootfd, std::string_view path, bool mkdir, std::string_view root_name,
                      Resolver how = Resolver::automatic);

// As open_in_root, opened with flags (O_CLOEXEC added), without creating anything and without
// throwing: an invalid fd with errno set on failure.
UniqueFd open_file_in_root(int rootfd, std::string_view path, int flags,
                           Resolver how = Resolver::automatic);

}  // namespace vs
