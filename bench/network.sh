#!/usr/bin/env bash
# Network performance of guests against plain network namespaces, measured side by side.
#
#   bench/network.sh [BUILD_DIR] [REPS] [SECONDS]
#
# Two copies of one topology, each in network namespaces this script creates (never the host's
# namespace, never a device of the host):
#
#   vserver side                              baseline side (no vserver)
#   ns H: bridge br0 10.77.0.1/24             ns H': bridge br0 10.77.0.1/24
#     guest A 10.77.0.2 (network/mode bridge)   ns A': veth on br0, 10.77.0.2
#     guest B 10.77.0.3 (network/mode bridge)   ns B': veth on br0, 10.77.0.3
#   ns H: lan0, a veth to ns L (the LAN)      ns H': lan0, a veth to ns L'
#     guest M 10.78.0.10 (network/mode macvlan) ns M': macvlan (mode bridge) on lan0, 10.78.0.10
#   ns L: peer0 10.78.0.2/24                  ns L': peer0 10.78.0.2/24
#
# vserver runs inside ns H (nsenter --net), so the guests' host-side links are made there.
# Paths: A→B (guest to guest on a bridge), A→H (guest to the host namespace's bridge address),
# M→L (macvlan guest to a peer on the LAN). For each path:
#   - bulk TCP throughput: iperf3 -c ADDR -t SECONDS, the receiver's rate, REPS runs, median;
#   - round-trip latency: sockperf ping-pong --tcp (64-byte request, 64-byte reply, one at a
#     time) for 3 s; a run's figure is its median round trip; the result is the median over REPS.
#     The server is pinned to CPU 0, the client to CPU 0 (same CPU) and then to CPU 1 (across
#     CPUs): on a VM a wake-up on the other CPU costs tens of µs, and an unpinned run lands on
#     either, which would make its median depend on the scheduler more than on the network path.
# Inside the guests, iperf3 and sockperf are the host's Debian binaries, copied with the libraries
# ldd lists. vserver and baseline runs alternate (which goes first alternates too), so that a change
# in the machine's load falls on both. Everything made here is removed on exit, also on failure.
set -euo pipefail
build=${1:-build}
reps=${2:-3}
secs=${3:-5}
rr_secs=3
bin=$(realpath "$build/vserver")
probe=$(realpath "$build/vserver-probe")
[[ $reps =~ ^[1-9][0-9]?$ && $secs =~ ^[1-9][0-9]?$ ]] || {
  echo "usage: $0 [BUILD_DIR] [REPS 1-99] [SECONDS 1-99]" >&2
  exit 2
}
[[ $(id -u) == 0 ]] || { echo "$0: needs root (network namespaces, guests)" >&2; exit 2; }
if ! command -v iperf3 >/dev/null || ! command -v sockperf >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends iperf3 sockperf \
    >/dev/null || { echo "$0: needs iperf3 and sockperf (Debian packages)" >&2; exit 2; }
fi
iperf3=$(command -v iperf3)
sockperf=$(command -v sockperf)

id=$$
tmp=$(mktemp -d /tmp/vs-netbench-XXXXXX)
export VSERVER_CONFIG_ROOT=$tmp/etc VSERVER_VDIR_ROOT=$tmp/vdir VSERVER_RUN_ROOT=$tmp/run
export VSERVER_LOG_ROOT=$tmp/log
HV=vsbh$id LV=vsbl$id            # vserver side: host, LAN
HB=vsbbh$id LB=vsbbl$id          # baseline side: host, LAN
NA=vsbba$id NB=vsbbb$id NM=vsbbm$id
GA=neta$id GB=netb$id GM=netm$id # guests
made_ns=()
guests=()
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for g in "${guests[@]}"; do
    timeout 30 nsenter --net="/run/netns/$HV" "$bin" "$g" stop --timeout 2 >/dev/null 2>&1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkns() {
  ip netns add "$1"
  made_ns+=("$1")
  ip -n "$1" link set lo up
}
# Runs a command in one of this script's namespaces (refuses any other).
ns() {
  local n=$1
  shift
  [[ " ${made_ns[*]} " == *" $n "* ]] || { echo "not a namespace of this run: $n" >&2; return 1; }
  nsenter --net="/run/netns/$n" "$@"
}
# Starts a server in one of this script's namespaces, in the background; cleanup ends it.
ns_bg() {
  local n=$1
  shift
  [[ " ${made_ns[*]} " == *" $n "* ]] || { echo "not a namespace of this run: $n" >&2; return 1; }
  nsenter --net="/run/netns/$n" "$@" >/dev/null 2>&1 </dev/null &
  pids+=($!)
}
vs() { ns "$HV" timeout 60 "$bin" "$@"; }
# A host namespace with a bridge, and a veth to a LAN namespace with one peer.
topology() {
  local h=$1 l=$2
  mkns "$h"
  mkns "$l"
  ip -n "$h" link add br0 type bridge
  ip -n "$h" addr add 10.77.0.1/24 dev br0
  ip -n "$h" link set br0 up
  ip -n "$h" link add lan0 type veth peer name peer0 netns "$l"
  ip -n "$h" link set lan0 up
  ip -n "$l" addr add 10.78.0.2/24 dev peer0
  ip -n "$l" link set peer0 up
}
# Copies a host binary and the libraries it loads into a guest's root.
copy_tool() {
  local root=$1 exe=$2 lib
  install -D -m 755 "$exe" "$root$exe"
  for lib in $(ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    install -D -m 755 "$(realpath "$lib")" "$root$lib"
  done
}
guest() {
  local g=$1 spec=$2 mode=$3
  vs "$g" build -m busybox --interface "$spec" >/dev/null
  guests+=("$g")
  mkdir -p "$VSERVER_CONFIG_ROOT/$g/network"
  echo "$mode" >"$VSERVER_CONFIG_ROOT/$g/network/mode"
  echo command >"$VSERVER_CONFIG_ROOT/$g/apps/init/style"
  printf '/bin/sleep\n1000000\n' >"$VSERVER_CONFIG_ROOT/$g/apps/init/cmd.start"
  echo 9 >"$VSERVER_CONFIG_ROOT/$g/apps/init/killseq"
  copy_tool "$VSERVER_VDIR_ROOT/$g" "$iperf3"
  copy_tool "$VSERVER_VDIR_ROOT/$g" "$sockperf"
  install -m 755 "$probe" "$VSERVER_VDIR_ROOT/$g/bin/probe"
  vs "$g" start
}
# Waits until a guest gets an ICMP echo reply from ADDR (a fresh link may take a moment).
reachable() {
  local i
  for i in $(seq 20); do
    [[ $(vs "$1" exec /bin/probe ping "$2" 2>/dev/null) == ok ]] && return 0
    sleep 0.2
  done
  echo "$1 cannot reach $2" >&2
  return 1
}

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, kernel $(uname -r)"
echo "tools:   $(iperf3 --version | head -1 | awk '{print $1, $2}'), sockperf $(sockperf --version 2>&1 | awk '/version/ {print $3}')"
echo "load before: $(uptime)"

# --- vserver side ---
topology "$HV" "$LV"
guest "$GA" br0:10.77.0.2/24 bridge
guest "$GB" br0:10.77.0.3/24 bridge
guest "$GM" lan0:10.78.0.10/24 macvlan
reachable "$GA" 10.77.0.3
reachable "$GA" 10.77.0.1
reachable "$GM" 10.78.0.2
# --- baseline side ---
topology "$HB" "$LB"
for pair in "$NA 10.77.0.2 vba" "$NB 10.77.0.3 vbb"; do
  read -r n addr hl <<<"$pair"
  mkns "$n"
  ip -n "$HB" link add "$hl" type veth peer name eth0 netns "$n"
  ip -n "$HB" link set "$hl" master br0 up
  ip -n "$n" addr add "$addr/24" dev eth0
  ip -n "$n" link set eth0 up
done
mkns "$NM"
ip -n "$HB" link add link lan0 name mv0 type macvlan mode bridge
ip -n "$HB" link set mv0 netns "$NM"
ip -n "$NM" link set mv0 name eth0
ip -n "$NM" addr add 10.78.0.10/24 dev eth0
ip -n "$NM" link set eth0 up

# --- servers: iperf3 on 5201 (unpinned), sockperf on 11111 (on CPU 0), each bound to its address ---
quiet='>/dev/null 2>&1 </dev/null'
vs "$GB" exec sh -c "$iperf3 -s -D -B 10.77.0.3 -p 5201 $quiet"
taskset -c 0 nsenter --net="/run/netns/$HV" timeout 60 "$bin" "$GB" exec \
  sh -c "$sockperf server --tcp -i 10.77.0.3 -p 11111 --daemonize $quiet"
for srv in "$HV 10.77.0.1" "$LV 10.78.0.2" "$NB 10.77.0.3" "$HB 10.77.0.1" "$LB 10.78.0.2"; do
  read -r n addr <<<"$srv"
  ns_bg "$n" "$iperf3" -s -B "$addr" -p 5201
  ns_bg "$n" taskset -c 0 "$sockperf" server --tcp -i "$addr" -p 11111
done

# Runs a client on one side of a path: "vs GUEST" or "ns NAMESPACE", on CPU $pin if it is set.
pin=
client() {
  local how=$1 where=$2 cmd
  shift 2
  if [[ $how == ns && " ${made_ns[*]} " != *" $where "* ]]; then
    echo "not a namespace of this run: $where" >&2
    return 1
  fi
  if [[ $how == vs ]]; then
    cmd=(nsenter --net="/run/netns/$HV" timeout 60 "$bin" "$where" exec "$@")
  else
    cmd=(nsenter --net="/run/netns/$where" timeout 60 "$@")
  fi
  if [[ -n $pin ]]; then taskset -c "$pin" "${cmd[@]}"; else "${cmd[@]}"; fi
}
# Prints the receiver's rate in Mbit/s of one iperf3 run.
throughput() {
  local out
  out=$(client "$1" "$2" "$iperf3" -c "$3" -p 5201 -t "$4" -f m) || {
    echo "iperf3 $1 $2 → $3 failed: $out" >&2
    return 1
  }
  awk '/receiver/ {for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1)} END {print v}' \
    <<<"$out"
}
# Prints the median round trip in µs of one sockperf ping-pong run, and the number of round trips.
roundtrip() {
  local out
  out=$(client "$1" "$2" "$sockperf" ping-pong --tcp -i "$3" -p 11111 -t "$4" -m 64 --full-rtt \
    2>&1) || {
    echo "sockperf $1 $2 → $3 failed: $out" >&2
    return 1
  }
  # shellcheck disable=SC2001
  sed 's/\x1b\[[0-9;]*m//g' <<<"$out" | awk '
    /percentile 50.000 =/ {p = $NF}
    /Total [0-9]+ observations/ {for (i = 1; i <= NF; i++) if ($i == "Total") n = $(i + 1)}
    END {if (p == "") exit 1; print p, n}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v v="$1" -v b="$2" 'BEGIN {printf "%.2f", v / b}'; }
# The median of the ratios of runs made one after the other (run k of vserver / run k of the
# baseline): those two ran under the same load, so this ratio suffers less from a load that changes.
paired() {
  # shellcheck disable=SC2046
  median $(awk -v v="$1" -v b="$2" 'BEGIN {n = split(v, x); split(b, y)
    for (k = 1; k <= n; k++) printf "%.2f\n", x[k] / y[k]}')
}

# path label, vserver client, baseline client, server address
paths=("guest → guest, bridge|$GA|$NA|10.77.0.3"
  "guest → host namespace, bridge|$GA|$NA|10.77.0.1"
  "guest → LAN peer, macvlan|$GM|$NM|10.78.0.2")
# Round trips with the client on the server's CPU, and on the other one.
placements=("same CPU|0" "across CPUs|1")

# Warm-up (not counted): one short run per path and side; it also checks every path works.
for p in "${paths[@]}"; do
  IFS='|' read -r _ g n addr <<<"$p"
  throughput vs "$g" "$addr" 1 >/dev/null
  throughput ns "$n" "$addr" 1 >/dev/null
  roundtrip vs "$g" "$addr" 1 >/dev/null
  roundtrip ns "$n" "$addr" 1 >/dev/null
done

declare -A tp_vs tp_base rr_vs rr_base
rr_n=()
for rep in $(seq "$reps"); do
  if ((rep % 2)); then order="vs base"; else order="base vs"; fi
  for i in "${!paths[@]}"; do
    IFS='|' read -r _ g n addr <<<"${paths[$i]}"
    pin=
    for side in $order; do
      if [[ $side == vs ]]; then r=$(throughput vs "$g" "$addr" "$secs"); else
        r=$(throughput ns "$n" "$addr" "$secs"); fi
      [[ -n $r ]] || { echo "no rate in the output of iperf3" >&2; exit 1; }
      if [[ $side == vs ]]; then tp_vs[$i]+="$r "; else tp_base[$i]+="$r "; fi
    done
    for j in "${!placements[@]}"; do
      IFS='|' read -r _ pin <<<"${placements[$j]}"
      for side in $order; do
        if [[ $side == vs ]]; then r=$(roundtrip vs "$g" "$addr" "$rr_secs"); else
          r=$(roundtrip ns "$n" "$addr" "$rr_secs"); fi
        read -r v c <<<"$r"
        if [[ $side == vs ]]; then rr_vs[$i.$j]+="$v "; else rr_base[$i.$j]+="$v "; fi
        rr_n+=("$c")
      done
    done
  done
done

echo "load after:  $(uptime)"
echo
echo "Bulk TCP throughput, Mbit/s (iperf3, ${secs} s per run, median of $reps; runs in brackets)"
echo
echo "| path | vserver | baseline | ratio | paired ratio |"
echo "|---|---|---|---|---|"
for i in "${!paths[@]}"; do
  IFS='|' read -r label _ <<<"${paths[$i]}"
  # shellcheck disable=SC2086
  v=$(median ${tp_vs[$i]}) b=$(median ${tp_base[$i]})
  printf '| %s | %s (%s) | %s (%s) | %s | %s |\n' "$label" "$v" "${tp_vs[$i]% }" "$b" \
    "${tp_base[$i]% }" "$(ratio "$v" "$b")" "$(paired "${tp_vs[$i]}" "${tp_base[$i]}")"
done
echo
echo "TCP round trip, µs (sockperf ping-pong, 64 bytes, ${rr_secs} s per run: median round trip of each"
echo "run, then the median of $reps runs; runs in brackets; server on CPU 0, client on CPU 0 or 1)"
echo
echo "| path | client | vserver | baseline | ratio | paired ratio |"
echo "|---|---|---|---|---|---|"
for i in "${!paths[@]}"; do
  IFS='|' read -r label _ <<<"${paths[$i]}"
  for j in "${!placements[@]}"; do
    IFS='|' read -r where _ <<<"${placements[$j]}"
    # shellcheck disable=SC2086
    v=$(median ${rr_vs[$i.$j]}) b=$(median ${rr_base[$i.$j]})
    printf '| %s | %s | %s (%s) | %s (%s) | %s | %s |\n' "$label" "$where" "$v" \
      "${rr_vs[$i.$j]% }" "$b" "${rr_base[$i.$j]% }" "$(ratio "$v" "$b")" \
      "$(paired "${rr_vs[$i.$j]}" "${rr_base[$i.$j]}")"
  done
done
counts=$(printf '%s\n' "${rr_n[@]}" | sort -n)
echo "round trips per run: min $(head -1 <<<"$counts"), max $(tail -1 <<<"$counts")"
