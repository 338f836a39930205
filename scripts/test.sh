#!/usr/bin/env bash
# Runs the whole test suite, as root (the integration tests start guests):
#   1. Debug build with AddressSanitizer and UBSan (build-asan): the unit tests and a replay of
#      every fuzzer's corpus and past failures;
#   2. Release build (build-test): unit, integration and security tests and the corpus replays;
#   3. a ThreadSanitizer build (build-tsan): the tests that drive the library from many threads;
#   4. the parser fuzzers under libFuzzer, deterministic (fuzz/run.sh);
#   5. the integration tests again on a pure cgroup v2 host, in a VM (tests/vm/ci-v2.sh), unless
#      this host is pure cgroup v2 itself.
# Every build directory is the script's own and every option is set here, so what was configured
# before (scripts/demo.sh's build/, a developer's cache) changes nothing. A stage whose suite has
# no test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the integration tests start guests)" >&2; exit 1; }
t0=$SECONDS
stage_start=$SECONDS
stage() {
  if [ -n "${stage_name:-}" ]; then
    printf '== %s: done in %d s\n' "$stage_name" "$((SECONDS - stage_start))"
  fi
  stage_name=$1
  stage_start=$SECONDS
  [ -z "$stage_name" ] || printf '\n== %s (at %d s)\n' "$stage_name" "$((SECONDS - t0))"
}
# configure DIR OPTION... : a build directory with the project's own options.
configure() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DVSERVER_WERROR=ON -DVSERVER_TESTS=ON "$@" >/dev/null
}
# require_tests DIR REGEX...: fails unless ctest in DIR knows at least one test for each REGEX.
require_tests() {
  local dir=$1 re n
  shift
  for re in "$@"; do
    n=$(ctest --test-dir "$dir" -N -R "$re" | sed -n 's/^Total Tests: *//p')
    if [ "${n:-0}" -lt 1 ]; then
      echo "test.sh: $dir has no test matching '$re': the suite would not run" >&2
      exit 1
    fi
    printf '%s: %s tests\n' "$re" "$n"
  done
}

stage "dependencies"
scripts/install-deps.sh
jobs=$(nproc)

stage "Debug build under ASan + UBSan: unit tests, fuzz corpus replays"
configure build-asan -DCMAKE_BUILD_TYPE=Debug -DVSERVER_SANITIZE=ON -DVSERVER_FUZZ=OFF
cmake --build build-asan
require_tests build-asan '^unit\.' '^fuzz\.replay\.'
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/unit_tests --gtest_brief=1
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --no-tests=error -j "$jobs" -R '^fuzz\.replay\.'

stage "Release build: unit, integration and security tests"
configure build-test -DCMAKE_BUILD_TYPE=Release -DVSERVER_SANITIZE=OFF -DVSERVER_FUZZ=OFF
cmake --build build-test
require_tests build-test '^unit\.' '^integration\.' '^security\.' '^fuzz\.replay\.'
ctest --test-dir build-test --output-on-failure --no-tests=error -j "$jobs" --timeout 300

# The library driven from 8 threads at once (tests/integration/threads_test.cpp) with the calling
# process under ThreadSanitizer; the helper processes it runs are the Release build's vserver
# (TSan's own thread would make the instrumented binary multi-threaded, and a multi-threaded
# process cannot join a guest's time namespace).
stage "ThreadSanitizer build: the library from many threads"
configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSERVER_TSAN=ON -DVSERVER_FUZZ=OFF
cmake --build build-tsan --target integration_tests
TSAN_OPTIONS=halt_on_error=1 VSERVER_TEST_HELPER_BINARY="$PWD/build-test/vserver" \
  build-tsan/integration_tests --gtest_filter='Threads.*' --gtest_brief=1

stage "parser fuzzers (deterministic: corpora, past failures, fixed-seed runs)"
fuzz/run.sh

# The same integration tests on a pure cgroup v2 host (most users' hosts), in a VM booted with
# Debian's kernel. A host that is pure v2 itself has just run them on v2.
if [ "${VSERVER_SKIP_V2_VM:-0}" = 1 ]; then
  stage ""
  echo "== cgroup v2 VM: skipped (VSERVER_SKIP_V2_VM=1)"
elif [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  stage ""
  echo "== cgroup v2 VM: not needed, this host is pure cgroup v2"
else
  stage "integration tests on pure cgroup v2, in a VM"
  tests/vm/ci-v2.sh build-test
  stage ""
fi
printf '== test.sh: every stage passed in %d s\n' "$((SECONDS - t0))"
