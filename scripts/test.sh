#!/usr/bin/env bash
# Runs the whole test suite: unit tests (also under AddressSanitizer and UBSan) and the integration
# tests, which start real guests and need root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the integration tests start guests)" >&2; exit 1; }
scripts/install-deps.sh
jobs=$(nproc)

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVSERVER_SANITIZE=ON >/dev/null
cmake --build build-asan --target unit_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/unit_tests --gtest_brief=1

echo "== unit and integration tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

# The parsers under libFuzzer (clang, ASan, UBSan), from their seed corpus, for 105 s in all.
echo "== parser fuzzers"
fuzz/run.sh 105

# The same integration tests on a pure cgroup v2 host (most users' hosts), in a VM booted with
# Debian's kernel. A host that is pure v2 itself has just run them on v2.
if [ "${VSERVER_SKIP_V2_VM:-0}" = 1 ]; then
  echo "== cgroup v2 VM: skipped (VSERVER_SKIP_V2_VM=1)"
elif [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  echo "== cgroup v2 VM: not needed, this host is pure cgroup v2"
else
  echo "== integration tests on pure cgroup v2, in a VM"
  tests/vm/ci-v2.sh build
fi
