#!/usr/bin/env bash
# The parser fuzzers, under libFuzzer with ASan and UBSan (builds build-fuzz with clang first).
#
#   fuzz/run.sh            deterministic (what scripts/test.sh and CI run): for every target, the
#                          seed corpus (fuzz/corpus/TARGET/) and every input a fuzzer ever failed
#                          on (fuzz/regressions/TARGET/) are replayed, then a fixed-seed
#                          exploration of a fixed number of runs starts from them. The same
#                          inputs in every run of the same build; a build in a checkout at
#                          another path differs in the source paths it embeds, and its
#                          exploration may take other (as many) inputs.
#   fuzz/run.sh SECONDS    random exploration for SECONDS in all, shared among the targets: what a
#                          developer runs before submitting (docs/security.md, "Fuzzing"). A
#                          failure leaves its input in build-fuzz/crashes/TARGET-*; fix it, then
#                          add the input to fuzz/regressions/TARGET/.
#   fuzz/run.sh SECONDS TARGET...   the same for some targets only.
#
# New inputs go to a temporary directory, never into the repository. Exits non-zero if any target
# failed.
set -euo pipefail
cd "$(dirname "$0")/.."
all=(config_tree fstab values interface state proc tar_name manifest)
# Runs of the deterministic exploration per target, chosen for a few seconds each on a 2-core
# machine (config_tree writes and reads a whole tree per input).
declare -A ci_runs=([config_tree]=600 [fstab]=100000 [values]=150000 [interface]=100000
                    [state]=60000 [proc]=200000 [tar_name]=150000 [manifest]=50000)
ci_seed=20261207

mode=ci
total=0
if (($# >= 1)); then
  [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [SECONDS [TARGET...]]" >&2; exit 2; }
  mode=random
  total=$1
  shift
fi
targets=("${all[@]}")
if (($# >= 1)); then
  targets=("$@")
  for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz/run.sh: no target '$t' (${all[*]})" >&2; exit 2; }
  done
fi

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVSERVER_SANITIZE=ON -DVSERVER_TESTS=OFF -DVSERVER_FUZZ=ON -DVSERVER_WERROR=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p build-fuzz/crashes
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
per=$((total / ${#targets[@]}))
((per >= 1)) || per=1
common=(-print_final_stats=1 -rss_limit_mb=2048 -timeout=25)
for t in "${targets[@]}"; do
  log="$work/$t.log"
  start=$SECONDS
  seeds=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && seeds+=("fuzz/regressions/$t")
  if [ "$mode" = ci ]; then
    # 1. Replay: every seed and every past failure, each run once, nothing mutated.
    if ! build-fuzz/fuzz/fuzz_"$t" "${common[@]}" -runs=0 "${seeds[@]}" >"$log" 2>&1; then
      failed=1
      echo "fuzz $t: replay FAILED"
      tail -40 "$log"
      continue
    fi
    replayed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # 2. Exploration from the seeds with a fixed seed and a fixed number of runs: the same inputs
    #    every time. Its new inputs go to a new empty directory, so none carries over; no reload of
    #    the corpus (a timer), and no address randomisation (setarch -R): compared pointers feed
    #    libFuzzer's table of compared values, which steers the mutations.
    mkdir -p "$work/$t"
    args=("${common[@]}" -seed="$ci_seed" -runs="${ci_runs[$t]}" -reload=0
          -artifact_prefix="$work/$t-")
    run=(setarch "$(uname -m)" -R)
  else
    replayed=-
    mkdir -p "$work/$t"
    args=("${common[@]}" -max_total_time="$per" -artifact_prefix="build-fuzz/crashes/$t-")
    run=()
  fi
  if ! "${run[@]}" build-fuzz/fuzz/fuzz_"$t" "${args[@]}" "$work/$t" "${seeds[@]}" >"$log" 2>&1; then
    failed=1
    echo "fuzz $t: FAILED"
    tail -40 "$log"
    if [ "$mode" = ci ]; then
      # Kept for a look: the input that failed, beside the random runs' crashes.
      for f in "$work/$t"-*; do [ -e "$f" ] && cp "$f" build-fuzz/crashes/; done
    fi
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # A digest of the inputs the run added: the same in every deterministic run.
  added=$(find "$work/$t" -type f -printf '%f\n' | sort | md5sum | cut -c1-12)
  printf "fuzz %-12s replayed %6s, %10s executions in %3d s, new inputs %5d (%s)\n" "$t" \
    "${replayed:-?}" "${execs:-?}" "$((SECONDS - start))" "$(find "$work/$t" -type f | wc -l)" \
    "$added"
done
[ "$failed" = 0 ] || echo "fuzz: FAILED; the failing inputs are in build-fuzz/crashes/"
exit "$failed"
