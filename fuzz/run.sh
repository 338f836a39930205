#!/usr/bin/env bash
# Runs every parser fuzzer for a share of SECONDS (default 100) in all, starting from its seed
# corpus (fuzz/corpus/TARGET/), and prints the executions of each. New inputs go to a temporary
# directory, not into the repository; a crash leaves its input in build-fuzz/crashes/ and fails the
# run. Builds build-fuzz with clang, libFuzzer, ASan and UBSan first (-j2).
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-100}
targets=(config_tree fstab values interface state proc tar_name)
per=$(( total / ${#targets[@]} ))
(( per >= 1 )) || per=1

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVSERVER_SANITIZE=ON -DVSERVER_TESTS=OFF -DVSERVER_FUZZ=ON >/dev/null
cmake --build build-fuzz -j2 --target "${targets[@]/#/fuzz_}"

mkdir -p build-fuzz/crashes
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  log="$work/$t.log"
  start=$SECONDS
  if ! build-fuzz/fuzz/fuzz_"$t" -max_total_time="$per" -print_final_stats=1 -rss_limit_mb=2048 \
       -artifact_prefix="build-fuzz/crashes/$t-" "$work/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    failed=1
    echo "fuzz $t: FAILED"
    tail -40 "$log"
  fi

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf "fuzz %-12s %10s executions in %d s\n" "$t" "${execs:-?}" "$((SECONDS - start))"
done
exit "$failed"
