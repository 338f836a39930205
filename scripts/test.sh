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
