#!/usr/bin/env bash
# Start-to-running latency of a busybox guest and the resident memory of its supervisor.
#
#   bench/start-latency.sh [BUILD_DIR] [RUNS]
#
# Each run: `vserver NAME start` (returns once the guest's init runs), then `vserver NAME exec true`
# (the first command inside), then `vserver NAME stop`. Times are wall clock, measured here with
# date +%s%N around each command; the summary gives min / median / max over RUNS runs.
# Memory: VmRSS and Pss (from /proc/PID/smaps_rollup) of the supervisor of a running guest.
# Uses temporary roots; touches no guest of the host.
set -euo pipefail
build=${1:-build}
runs=${2:-20}
bin=$(realpath "$build/vserver")
tmp=$(mktemp -d /tmp/vs-bench-XXXXXX)
export VSERVER_CONFIG_ROOT=$tmp/etc VSERVER_VDIR_ROOT=$tmp/vdir VSERVER_RUN_ROOT=$tmp/run VSERVER_LOG_ROOT=$tmp/log
name=bench$$
cleanup() { "$bin" "$name" stop --timeout 2 >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$bin" "$name" build -m busybox >/dev/null
echo command > "$VSERVER_CONFIG_ROOT/$name/apps/init/style"
printf '/bin/sleep\n1000000\n' > "$VSERVER_CONFIG_ROOT/$name/apps/init/cmd.start"
echo 9 > "$VSERVER_CONFIG_ROOT/$name/apps/init/killseq"   # sleep as PID 1 ignores SIGTERM
ms() { echo $(( ($2 - $1) / 1000 )); }   # ns → µs
start_us=(); exec_us=(); stop_us=()
for _ in $(seq "$runs"); do
  t0=$(date +%s%N); "$bin" "$name" start; t1=$(date +%s%N)
  "$bin" "$name" exec true; t2=$(date +%s%N)
  "$bin" "$name" stop --timeout 0 >/dev/null 2>&1; t3=$(date +%s%N)
  start_us+=("$(ms "$t0" "$t1")"); exec_us+=("$(ms "$t1" "$t2")"); stop_us+=("$(ms "$t2" "$t3")")
done
summary() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "min %.1f ms  median %.1f ms  max %.1f ms\n", a[1]/1000, a[int((NR+1)/2)]/1000, a[NR]/1000}'; }
echo "runs: $runs (kernel $(uname -r), $(nproc) CPUs)"
echo "start (until init runs):  $(summary "${start_us[@]}")"
echo "exec true:                $(summary "${exec_us[@]}")"
echo "stop (SIGTERM, then kill): $(summary "${stop_us[@]}")"
"$bin" "$name" start
sup=$(sed -n 's/.*"supervisor_pid": \([0-9]*\).*/\1/p' "$VSERVER_RUN_ROOT/$name/state")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$sup/status")
pss=$(awk '/^Pss:/ {print $2}' "/proc/$sup/smaps_rollup")
echo "supervisor memory: VmRSS ${rss} KiB, Pss ${pss} KiB (pid $sup)"
