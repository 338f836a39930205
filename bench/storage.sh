#!/usr/bin/env bash
# Unified guests (one shared base, overlayfs) against full copies: disk, build and start time,
# and page-cache sharing of the binary every guest runs.
#
#   bench/storage.sh [BUILD_DIR] [GUESTS] [MEMORY_GUESTS]
#
# GUESTS (default 50) busybox guests of each kind are built and started one after the other:
#   unified: vserver-base create bb -m busybox, then vserver gN build -m base -- --base bb
#   full:    vserver fN build -m busybox (each a copy of busybox-static and its files)
# Disk: du -s --block-size=1 of the whole VDIR_ROOT (bases, layers and roots), each inode once.
# Time: wall clock of all the builds and of all the starts, measured with date +%s%N.
# Memory: the first MEMORY_GUESTS (default 20) guests of each kind, whose init is busybox. Before
# the starts, their busybox binaries are dropped from the page cache (posix_fadvise DONTNEED via
# dd iflag=nocache); after, fincore sums the resident pages of the distinct busybox files (the
# base's for unified guests, one per guest for full copies), and the guests' memory cgroups are
# summed ("cache" on cgroup v1, "file" on v2): the page cache the guests brought in.
# Uses temporary roots; touches no guest of the host. Needs root, busybox-static and fincore.
set -euo pipefail
build=${1:-build}
guests=${2:-50}
mem_guests=${3:-20}
bin=$(realpath "$build/vserver")
tmp=$(mktemp -d /tmp/vs-storage-bench-XXXXXX)
export VSERVER_CONFIG_ROOT=$tmp/etc VSERVER_VDIR_ROOT=$tmp/vdir VSERVER_RUN_ROOT=$tmp/run VSERVER_LOG_ROOT=$tmp/log
mkdir -p "$tmp/bin" "$VSERVER_VDIR_ROOT"
ln -s "$bin" "$tmp/bin/vserver-base"
base_cmd="$tmp/bin/vserver-base"
tag=sb$$
names=()
cleanup() {
  for n in "${names[@]}"; do "$bin" "$n" stop --timeout 0 >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
du_bytes() { du -s --block-size=1 "$VSERVER_VDIR_ROOT" | cut -f1; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }

# Page cache charged to the guests' memory cgroups, in bytes.
cgroup_file_bytes() {
  local total=0 n st cg v1 v
  for n in "$@"; do
    st=$VSERVER_RUN_ROOT/$n/state
    cg=$(sed -n 's/.*"cgroup": *"\([^"]*\)".*/\1/p' "$st")
    v1=$(sed -n 's/.*"memory": *"\([^"]*\)".*/\1/p' "$st")
    v=0
    if [ -n "$v1" ] && [ -f "$v1/memory.stat" ]; then
      v=$(awk '$1 == "cache" {print $2}' "$v1/memory.stat")
    elif [ -f "$cg/memory.stat" ]; then
      v=$(awk '$1 == "file" {print $2}' "$cg/memory.stat")
    fi
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# Resident bytes of distinct files (by inode).
resident_bytes() {
  local -A seen=()
  local total=0 f ino r
  for f in "$@"; do
    ino=$(stat -c %d:%i "$f")
    [ -n "${seen[$ino]:-}" ] && continue
    seen[$ino]=1
    r=$(fincore --bytes --noheadings --output RES "$f" | tr -d ' ')
    total=$((total + r))
  done
  echo "$total"
}

run_kind() {  # KIND PREFIX
  local kind=$1 prefix=$2 t0 t1 i n before after f
  local list=() files=()
  for i in $(seq "$guests"); do list+=("$prefix$i"); done
  names+=("${list[@]}")
  before=$(du_bytes)
  t0=$(now)
  for n in "${list[@]}"; do
    if [ "$kind" = unified ]; then
      "$bin" "$n" build -m base -- --base bb >/dev/null
    else
      "$bin" "$n" build -m busybox >/dev/null
    fi
  done
  t1=$(now)
  after=$(du_bytes)
  local build_ms disk start_ms cached0 cached1 resident cgfile
  build_ms=$(ms "$t0" "$t1")
  disk=$((after - before))
  for n in "${list[@]:0:$mem_guests}"; do
    if [ "$kind" = unified ]; then files+=("$VSERVER_VDIR_ROOT/.bases/bb/bin/busybox")
    else files+=("$VSERVER_VDIR_ROOT/$n/bin/busybox"); fi
  done
  sync
  for f in "${files[@]}"; do dd if="$f" iflag=nocache count=0 status=none; done
  cached0=$(awk '/^Cached:/ {printf "%d", $2 * 1024}' /proc/meminfo)
  t0=$(now)
  for n in "${list[@]:0:$mem_guests}"; do "$bin" "$n" start; done
  t1=$(now)
  sleep 1
  cached1=$(awk '/^Cached:/ {printf "%d", $2 * 1024}' /proc/meminfo)
  resident=$(resident_bytes "${files[@]}")
  cgfile=$(cgroup_file_bytes "${list[@]:0:$mem_guests}")
  local first_ms=$(ms "$t0" "$t1")
  t0=$(now)
  for n in "${list[@]:$mem_guests}"; do "$bin" "$n" start; done
  t1=$(now)
  start_ms=$((first_ms + $(ms "$t0" "$t1")))
  for n in "${list[@]}"; do "$bin" "$n" stop --timeout 0 >/dev/null 2>&1; done
  printf '| %s | %s | %d ms (%s ms each) | %d ms (%s ms each) | %s | %s | %s |\n' \
    "$kind" "$(mib "$disk")" "$build_ms" "$(awk -v t="$build_ms" -v n="$guests" 'BEGIN {printf "%.1f", t / n}')" \
    "$start_ms" "$(awk -v t="$start_ms" -v n="$guests" 'BEGIN {printf "%.1f", t / n}')" \
    "$(mib "$resident")" "$(mib "$cgfile")" "$(mib $((cached1 - cached0)))"
}

echo "$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, VDIR_ROOT on $(df --output=fstype "$tmp" | tail -1)"
echo "$guests guests of each kind; page cache measured with the first $mem_guests running (busybox init)"
base_before=$(du_bytes)
"$base_cmd" create bb -m busybox >/dev/null
echo "base bb: $(mib $(( $(du_bytes) - base_before )))"
echo
echo "| kind | disk (du) | build | start | busybox resident (fincore) | guests' cgroups: page cache | /proc/meminfo Cached growth |"
echo "|---|---|---|---|---|---|---|"
run_kind unified "${tag}u"
run_kind full "${tag}f"
