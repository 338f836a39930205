#!/usr/bin/env bash
# How responsive the host stays while guests keep every CPU busy: the wake-up delay of a host
# process (bench/latency.c: sleep 1 ms, see how late it runs again) in four situations.
#
#   bench/host-latency.sh [BUILD_DIR] [GUESTS] [SECONDS]
#
#   idle          nothing else runs (the machine's floor)
#   guests        GUESTS (default 4) guests as `vserver NAME build -m busybox` makes them (default
#                 limits: 1024 tasks, sched/ 1/4 = cpu.weight 100), each running one busy loop
#                 per CPU of the host
#   guests-10000  the same, each guest's weight raised to the largest, 10000 (sched/fill-rate 100),
#                 live with `vserver NAME limit set`: what a guest's own weight does to the host
#   host-loops    the same number of busy loops run directly on the host, in this script's own
#                 cgroup, without guests: a host whose guests had no cgroup of their own
#
# Each situation runs `latency SECONDS 1000` (default 20 s) once the loops run, and says how busy
# the whole machine was meanwhile (/proc/stat) and how many CPUs' worth the guests used (their
# cgroups' CPU time). The loops are busybox `sh -c 'while :; do :; done'`. Uses temporary roots; touches no guest of the host.
# Needs root, busybox-static and a C compiler.
set -euo pipefail
build=${1:-build}
guests=${2:-4}
seconds=${3:-20}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$build/vserver")
tmp=$(mktemp -d /tmp/vs-latency-bench-XXXXXX)
export VSERVER_CONFIG_ROOT=$tmp/etc VSERVER_VDIR_ROOT=$tmp/vdir VSERVER_RUN_ROOT=$tmp/run VSERVER_LOG_ROOT=$tmp/log
cpus=$(nproc)
tag=lat$$
names=()
loops=()
cleanup() {
  for p in "${loops[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in "${names[@]}"; do "$bin" "$n" stop --timeout 0 >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
cc -O2 -o "$tmp/latency" "$here/latency.c"

layout=hybrid
[ -f /sys/fs/cgroup/cgroup.controllers ] && layout=unified
echo "kernel $(uname -r), $cpus CPUs, cgroup layout $layout, $guests guests, ${seconds} s each"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU time of the whole machine (all CPUs, jiffies): busy and total.
cpu_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# CPU time the guests used, in microseconds.
guests_usec() {
  local total=0 n u
  for n in "${names[@]}"; do
    u=$("$bin" "$n" limit show --json | sed -n 's/.*"usage_usec": \([0-9]*\).*/\1/p')
    total=$((total + ${u:-0}))
  done
  echo "$total"
}
measure() {  # LABEL
  sleep 2  # let the loops settle
  local b0 t0 b1 t1 g0 g1 out
  read -r b0 t0 < <(cpu_jiffies)
  g0=$(guests_usec)
  out=$("$tmp/latency" "$seconds" 1000)
  g1=$(guests_usec)
  read -r b1 t1 < <(cpu_jiffies)
  printf '%-13s %s  (machine busy %s%%, guests used %s CPUs)\n' "$1" "$out" \
    "$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", 100 * b / t}')" \
    "$(awk -v g=$((g1 - g0)) -v s="$seconds" 'BEGIN {printf "%.2f", g / 1e6 / s}')"
}

measure idle

for i in $(seq "$guests"); do
  n=$tag-$i
  "$bin" "$n" build -m busybox >/dev/null
  names+=("$n")
  "$bin" "$n" start
  # One busy loop per CPU, left running in the guest after exec returns.
  "$bin" "$n" exec sh -c "i=0; while [ \$i -lt $cpus ]; do
      sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 & i=\$((i + 1)); done"
done
echo "guests' weight: $("$bin" "${names[0]}" limit show --json | sed -n 's/.*"weight": \([0-9]*\).*/\1/p')"
measure guests

for n in "${names[@]}"; do "$bin" "$n" limit set fill-rate 100 >/dev/null; done
echo "guests' weight: $("$bin" "${names[0]}" limit show --json | sed -n 's/.*"weight": \([0-9]*\).*/\1/p')"
measure guests-10000

for n in "${names[@]}"; do "$bin" "$n" stop --timeout 0 >/dev/null 2>&1 || true; done
names=()
for _ in $(seq $((guests * cpus))); do
  busybox sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
  loops+=("$!")
done
measure host-loops
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
