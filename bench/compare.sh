#!/usr/bin/env bash
# vserver side by side with crun, runc, LXC and systemd-nspawn, on one busybox root.
#
#   bench/compare.sh [--quick] [--rounds N] [--guests N] [--parallel P] [--figures LIST]
#                    [--out FILE] [BUILD_DIR]
#
# LIST is a comma-separated choice of oneshot,startstop,exec,density,work (default: all).
# --quick: 10 rounds, 50 guests, 3 repetitions of the work figure (about 1 minute); the default is
# 60 rounds, 200 guests, 9 repetitions (under 3 minutes on 2 CPUs). OUT (default
# BUILD_DIR/compare.json) receives every sample; the tables go to standard output.
#
# Figures (see bench/README.md for what each tool does and why the work is equal):
#   oneshot    a fresh guest runs /bin/true: create, start, wait, clean up
#   startstop  a detached guest whose init is `sleep`: start (until it runs), then stop (SIGKILL,
#              cleanup), each timed
#   exec       /bin/true run in a running guest
#   density    N idle guests started one after the other, memory per guest, all stopped; then
#              the same N started and stopped P at a time (--parallel, default 4)
#   work       CPU-bound and system-call-heavy loops in a guest and on the host
#
# Every tool gets the same root (built once with `vserver NAME build -m busybox`), new PID, mount,
# UTS, IPC, cgroup and network namespaces (loopback only, up), pivot_root, a private tmpfs /dev,
# /proc with the same paths masked, a read-only /sys, the same capability set and a seccomp
# deny-list like vserver's, and one cgroup created and removed. The timed runs of the tools
# alternate (harness.py). The whole script runs in a private mount namespace in which
# /sys/fs/cgroup is the host's cgroup v2 hierarchy (a pure cgroup v2 view): every tool makes its one
# cgroup in the same hierarchy, and crun, which refuses the hybrid layout, runs without a wrapper.
# One extra one-shot row, "crun-hybrid", runs crun as the host offers it: in a mount namespace
# whose only change is that /sys/fs/cgroup/unified is unmounted, entered with nsenter; crun then
# makes its cgroup in each of the nine cgroup v1 hierarchies.
#
# Everything lives in a temporary directory; guests and containers are stopped and removed on
# exit, also after a failure or an interrupt. No link is made on the host: loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage() {
  echo "usage: $0 [--quick] [--rounds N] [--guests N] [--parallel P] [--figures LIST] [--out FILE] [BUILD_DIR]" >&2
  exit 2
}
quick=0 rounds='' guests='' parallel=4 figures=oneshot,startstop,exec,density,work out='' build=''
all_args=("$@")
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --rounds) rounds=${2:-} && shift ;;
    --guests) guests=${2:-} && shift ;;
    --parallel) parallel=${2:-} && shift ;;
    --figures) figures=${2:-} && shift ;;
    --out) out=${2:-} && shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) [[ -z $build ]] || usage; build=$1 ;;
  esac
  shift
done
build=${build:-build}
if ((quick)); then : "${rounds:=10}" "${guests:=50}"; reps=3; else : "${rounds:=60}" "${guests:=200}"; reps=9; fi
idle_rounds=$(((rounds + 2) / 3))
[[ $rounds =~ ^[1-9][0-9]{0,3}$ && $guests =~ ^[1-9][0-9]{0,3}$ && $parallel =~ ^[1-9][0-9]?$ ]] || usage
for f in ${figures//,/ }; do
  [[ $f =~ ^(oneshot|startstop|exec|density|work)$ ]] || { echo "$0: unknown figure $f" >&2; usage; }
done
has() { [[ ",$figures," == *",$1,"* ]]; }
[[ $(id -u) == 0 ]] || { echo "$0: needs root (namespaces, cgroups, guests)" >&2; exit 2; }
bin=$(realpath "$build/vserver")
[[ -x $bin ]] || { echo "$0: no vserver binary in $build" >&2; exit 2; }
out=$(realpath -m "${out:-$build/compare.json}")

if [[ ${VSB_IN_NS:-} != 1 ]]; then
  need=()
  for t in crun:crun runc:runc lxc-start:lxc systemd-nspawn:systemd-container hyperfine:hyperfine \
    gcc:gcc; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
  done
  if ((${#need[@]})); then
    echo "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" >/dev/null
  fi
  # The private mount namespace: what is mounted here vanishes with the last process using it.
  exec unshare --mount --propagation private env VSB_IN_NS=1 "$0" "${all_args[@]}"
fi

tmp=$(mktemp -d /tmp/vs-compare-XXXXXX)
# Runtime state on a tmpfs, as /run is: vserver's run root and log, crun's and runc's state.
mkdir -p "$tmp/run" "$tmp/oci" "$tmp/lxc" "$tmp/memcg"
mount -t tmpfs -o mode=755,size=64m vsbench-run "$tmp/run"
export VSERVER_CONFIG_ROOT=$tmp/etc VSERVER_VDIR_ROOT=$tmp/vdir VSERVER_RUN_ROOT=$tmp/run/vserver
export VSERVER_LOG_ROOT=$tmp/run/log
crun_=(crun --root "$tmp/run/crun")
runc_=(runc --root "$tmp/run/runc")
lxcp=$tmp/lxc
v2_before=" $(cd /sys/fs/cgroup/unified 2>/dev/null && echo */) "
memcg='' hybrid_pid=''
cleanup() {
  set +e
  trap - INT TERM
  local n d
  for d in "$VSERVER_RUN_ROOT"/*/; do
    n=$(basename "$d")
    [[ -f $d/state ]] && timeout 20 "$bin" "$n" stop --timeout 0 >/dev/null 2>&1
  done
  for n in $("${crun_[@]}" list -q 2>/dev/null); do "${crun_[@]}" delete -f "$n" >/dev/null 2>&1; done
  for n in $("${runc_[@]}" list -q 2>/dev/null); do "${runc_[@]}" delete -f "$n" >/dev/null 2>&1; done
  for n in $(lxc-ls -P "$lxcp" --running 2>/dev/null); do lxc-stop -k -P "$lxcp" -n "$n" >/dev/null 2>&1; done
  if [[ -n $memcg ]]; then
    # Back into the memory cgroup this script started in; then the density cgroups go, once the
    # killed guests' processes have left them.
    echo $$ >"$memcg/cgroup.procs"
    for d in "$memcg"/vsbench.*; do
      for _ in $(seq 50); do [[ ! -d $d ]] || rmdir "$d" 2>/dev/null && break; sleep 0.1; done
    done
  fi
  [[ -n $hybrid_pid ]] && kill "$hybrid_pid" 2>/dev/null && wait "$hybrid_pid" 2>/dev/null
  # Cgroups the tools leave behind in the v2 hierarchy (LXC's lxc.pivot, nspawn's payload and
  # supervisor in the cgroup it was started from), if they were not there before.
  for d in /sys/fs/cgroup/vsbench.* /sys/fs/cgroup/lxc.pivot /sys/fs/cgroup/payload \
    /sys/fs/cgroup/supervisor /sys/fs/cgroup/lxc.payload.* /sys/fs/cgroup/lxc.monitor.*; do
    [[ -d $d && $v2_before != *" $(basename "$d")/ "* ]] && rmdir "$d" 2>/dev/null
  done
  rm -rf "/run/systemd/nspawn/propagate/vsbench-$$"
  umount -l "$tmp/memcg" "$tmp/run" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the cgroup views ---
[[ -d /sys/fs/cgroup/unified && $(stat -fc %T /sys/fs/cgroup) != cgroup2fs ]] && hybrid=1 || hybrid=0
if [[ -d /sys/fs/cgroup/memory ]]; then
  mount --bind /sys/fs/cgroup/memory "$tmp/memcg"
  memcg=$tmp/memcg$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
fi
if ((hybrid)); then
  # A process that keeps the mount namespace of the crun-hybrid row: the host's layout less the
  # v2 mount. nsenter enters it through /proc/PID/ns/mnt.
  unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec sleep 100000' &
  hybrid_pid=$!
  sleep 0.2
  kill -0 "$hybrid_pid"
  mount -t cgroup2 none /sys/fs/cgroup
fi

# --- the root, and each tool's configuration ---
# Recorded before anything runs: where, when, what.
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:  $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r), $( ((hybrid)) && echo 'hybrid cgroup layout (run with a cgroup v2 view)' || echo 'cgroup v2')"
echo "vserver:  $("$bin" --version 2>&1 | head -1) ($bin)"
echo "peers:    crun $(crun --version | awk 'NR == 1 {print $3}'), runc $(runc --version | awk 'NR == 1 {print $3}'), lxc $(lxc-start --version), systemd-nspawn $(systemd-nspawn --version | awk 'NR == 1 {print $2}'), $(nsenter --version | awk '{print $4}') util-linux"
echo "rounds:   $rounds (+ 3 warm-up), guests: $guests"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (before)"

"$bin" vsb-one build -m busybox >/dev/null
root=$VSERVER_VDIR_ROOT/vsb-one
gcc -O2 -static -o "$root/vsbwork" "$here/work.c"
gcc -O2 -o "$tmp/machine" "$here/machine.c"
echo "costs:    $("$tmp/machine")"
# A guest configuration whose root is the shared one; $2 is its init, one argument per line.
vguest() {
  local g=$VSERVER_CONFIG_ROOT/$1
  if [[ $1 != vsb-one ]]; then
    mkdir -p "$g"
    cp -a "$VSERVER_CONFIG_ROOT/vsb-one/." "$g/"
    ln -sfn "$root" "$g/vdir"
  fi
  rm -f "$g/context"
  # No limits: the peers' containers get none (`"resources":{}`), and a new guest's process limit
  # and CPU weight need controllers the hybrid host's v2 view does not have.
  rm -rf "$g/limits" "$g/sched"
  echo "$1" >"$g/name"
  echo "$1" >"$g/uts/nodename"
  echo command >"$g/apps/init/style"
  printf '%s\n' "${@:2}" >"$g/apps/init/cmd.start"
  echo 9 >"$g/apps/init/killseq" # sleep as PID 1 ignores SIGTERM: stop sends SIGKILL at once
}

caps='"CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL",
"CAP_SETGID","CAP_SETUID","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_SYS_PTRACE",
"CAP_SYS_TTY_CONFIG","CAP_LEASE","CAP_SETFCAP","CAP_SYS_BOOT","CAP_AUDIT_WRITE"'
lxc_caps='chown dac_override dac_read_search fowner fsetid kill setgid setuid net_bind_service
sys_chroot sys_ptrace sys_tty_config lease setfcap sys_boot audit_write'
# nspawn's default set less vserver's: what --drop-capability takes away.
nspawn_drop=CAP_SETPCAP,CAP_LINUX_IMMUTABLE,CAP_NET_BROADCAST,CAP_NET_ADMIN,CAP_NET_RAW,CAP_IPC_OWNER,CAP_SYS_ADMIN,CAP_SYS_NICE,CAP_MKNOD,CAP_AUDIT_CONTROL
# vserver's seccomp deny-list (src/runtime/security.cpp), for the OCI runtimes and LXC.
denied=(init_module finit_module delete_module create_module query_module get_kernel_syms
  kexec_load kexec_file_load mount umount umount2 pivot_root fsopen fsconfig fsmount fspick
  move_mount open_tree mount_setattr settimeofday stime clock_settime clock_adjtime swapon swapoff
  quotactl quotactl_fd acct add_key request_key keyctl bpf perf_event_open lookup_dcookie
  name_to_handle_at open_by_handle_at ioperm iopl _sysctl sysfs ustat uselib nfsservctl vm86
  vm86old userfaultfd)
names=$(printf '"%s",' "${denied[@]}")
newuser='"args":[{"index":0,"value":268435456,"valueTwo":268435456,"op":"SCMP_CMP_MASKED_EQ"}]'
tiocsti='"args":[{"index":1,"value":4294967295,"valueTwo":21522,"op":"SCMP_CMP_MASKED_EQ"}]'

# An OCI bundle: oci_bundle DIR CGROUP ARG...
oci_bundle() {
  local dir=$1 cg=$2 a args=''
  shift 2
  for a in "$@"; do args+="${args:+,}\"$a\""; done
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{"ociVersion":"1.0.2","root":{"path":"$root","readonly":false},"hostname":"${dir##*/}",
 "process":{"terminal":false,"user":{"uid":0,"gid":0},"args":[$args],"cwd":"/",
  "env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","container=oci"],
  "capabilities":{"bounding":[$caps],"effective":[$caps],"permitted":[$caps],"inheritable":[],
   "ambient":[]},"noNewPrivileges":false},
 "mounts":[
  {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
  {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","noexec","mode=755","size=4m"]},
  {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
  {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
  {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
  {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
  {"destination":"/tmp","type":"tmpfs","source":"none","options":["size=16m","mode=1777"]}],
 "linux":{"cgroupsPath":"$cg","resources":{},
  "namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"cgroup"}],
  "maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats",
   "/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/kallsyms","/proc/sysrq-trigger",
   "/proc/scsi","/proc/driver","/sys/firmware","/sys/devices/virtual/powercap"],
  "readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys"],
  "seccomp":{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
   "syscalls":[{"names":[${names%,}],"action":"SCMP_ACT_ERRNO","errnoRet":1},
    {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
    {"names":["unshare"],"action":"SCMP_ACT_ERRNO","errnoRet":1,$newuser},
    {"names":["clone"],"action":"SCMP_ACT_ERRNO","errnoRet":1,$newuser},
    {"names":["ioctl"],"action":"SCMP_ACT_ERRNO","errnoRet":1,$tiocsti}]}}}
JSON
}

# LXC's seccomp policy: the same deny-list.
{
  echo 2
  echo denylist
  echo '[all]'
  printf '%s errno 1\n' "${denied[@]}"
  echo 'clone3 errno 38'
  echo 'unshare errno 1 [0,268435456,SCMP_CMP_MASKED_EQ,268435456]'
  echo 'clone errno 1 [0,268435456,SCMP_CMP_MASKED_EQ,268435456]'
  echo 'ioctl errno 1 [1,21522,SCMP_CMP_MASKED_EQ,4294967295]'
} >"$lxcp/seccomp"
# An LXC container: lxc_container NAME INIT...
lxc_container() {
  local n=$1 p
  shift
  mkdir -p "$lxcp/$n"
  {
    echo "lxc.uts.name = $n"
    echo "lxc.rootfs.path = dir:$root"
    echo 'lxc.net.0.type = empty'
    echo 'lxc.net.0.flags = up'
    echo 'lxc.autodev = 1'
    echo 'lxc.tty.max = 0'
    echo 'lxc.pty.max = 16'
    echo 'lxc.console.path = none'
    echo 'lxc.apparmor.profile = unconfined'
    echo 'lxc.mount.auto = proc:mixed sys:ro'
    echo 'lxc.mount.entry = none tmp tmpfs size=16m,mode=1777 0 0'
    echo 'lxc.mount.entry = none dev/shm tmpfs nosuid,nodev,noexec,mode=1777,size=65536k,create=dir 0 0'
    echo 'lxc.mount.entry = mqueue dev/mqueue mqueue nosuid,nodev,noexec,create=dir 0 0'
    for p in kcore keys timer_list timer_stats kallsyms sysrq-trigger sched_debug latency_stats; do
      echo "lxc.mount.entry = /dev/null proc/$p none bind,optional 0 0"
    done
    for p in proc/acpi proc/driver proc/scsi proc/asound sys/firmware sys/devices/virtual/powercap; do
      echo "lxc.mount.entry = tmpfs $p tmpfs ro,optional 0 0"
    done
    echo "lxc.cap.keep = ${lxc_caps//$'\n'/ }"
    echo "lxc.seccomp.profile = $lxcp/seccomp"
    echo "lxc.init.cmd = $*"
  } >"$lxcp/$n/config"
}

vguest vsb-one /bin/true
vguest vsb-run /bin/sleep 1000000
oci_bundle "$tmp/oci/one-crun" /vsbench.crun.one /bin/true
oci_bundle "$tmp/oci/one-crunh" /vsbench.crunh.one /bin/true
oci_bundle "$tmp/oci/one-runc" /vsbench.runc.one /bin/true
oci_bundle "$tmp/oci/run-crun" /vsbench.crun.run /bin/sleep 1000000
oci_bundle "$tmp/oci/run-runc" /vsbench.runc.run /bin/sleep 1000000
lxc_container one /bin/true
lxc_container run /bin/sleep 1000000
nspawn=(systemd-nspawn -q --register=no --keep-unit --machine="vsbench-$$" -D "$root"
  --private-network --resolv-conf=off --timezone=off --link-journal=no --console=pipe
  --drop-capability="$nspawn_drop")

json_argv() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"; }
# Runs one figure: figure NAME GAP_MS ROUNDS 'TOOL|LABEL|ARGV-JSON[|LABEL|ARGV-JSON]' ...
figure() {
  local name=$1 gap=$2 n=$3 t spec=$tmp/spec.json tools=''
  shift 3
  for t in "$@"; do
    IFS='|' read -r -a f <<<"$t"
    local steps='' i
    for ((i = 1; i < ${#f[@]}; i += 2)); do steps+="${steps:+,}[\"${f[i]}\",${f[i + 1]}]"; done
    tools+="${tools:+,}{\"tool\":\"${f[0]}\",\"steps\":[$steps]}"
  done
  echo "{\"rounds\":$n,\"warmup\":3,\"figures\":[{\"name\":\"$name\",\"gap_ms\":$gap,\"tools\":[$tools]}]}" >"$spec"
  python3 "$here/harness.py" run "$spec" "$out"
}
rm -f "$out"

if has oneshot; then
  tools=("vserver|oneshot|$(json_argv "$bin" vsb-one start --foreground)"
    "crun|oneshot|$(json_argv "${crun_[@]}" run --bundle "$tmp/oci/one-crun" vsb-one)"
    "runc|oneshot|$(json_argv "${runc_[@]}" run --bundle "$tmp/oci/one-runc" vsb-one)"
    "lxc|oneshot|$(json_argv lxc-start -F -P "$lxcp" -n one)"
    "nspawn|oneshot|$(json_argv "${nspawn[@]}" /bin/true)"
    "floor|oneshot|$(json_argv unshare -fmpinu chroot "$root" /bin/true)")
  ((hybrid)) && tools+=("crun-hybrid|oneshot|$(json_argv nsenter --mount="/proc/$hybrid_pid/ns/mnt" \
    "${crun_[@]}" run --bundle "$tmp/oci/one-crunh" vsb-oneh)")
  figure oneshot 0 "$rounds" "${tools[@]}"
  figure oneshot-idle 100 "$idle_rounds" "${tools[@]}"
fi

if has startstop; then
  figure startstop 0 "$rounds" \
    "vserver|start|$(json_argv "$bin" vsb-run start)|stop|$(json_argv "$bin" vsb-run stop --timeout 0)" \
    "crun|start|$(json_argv "${crun_[@]}" run -d --bundle "$tmp/oci/run-crun" vsb-run)|stop|$(json_argv "${crun_[@]}" delete -f vsb-run)" \
    "runc|start|$(json_argv "${runc_[@]}" run -d --bundle "$tmp/oci/run-runc" vsb-run)|stop|$(json_argv "${runc_[@]}" delete -f vsb-run)" \
    "lxc|start|$(json_argv lxc-start -d -P "$lxcp" -n run)|stop|$(json_argv lxc-stop -k -P "$lxcp" -n run)"
fi

if has exec || has work; then
  "$bin" vsb-run start
  "${crun_[@]}" run -d --bundle "$tmp/oci/run-crun" vsb-run >/dev/null
  "${runc_[@]}" run -d --bundle "$tmp/oci/run-runc" vsb-run >/dev/null
  lxc-start -d -P "$lxcp" -n run
  vinit=$(sed -n 's/.*"init_pid": \([0-9]*\).*/\1/p' "$VSERVER_RUN_ROOT/vsb-run/state")
fi
if has exec; then
  tools=("vserver|exec|$(json_argv "$bin" vsb-run exec /bin/true)"
    "crun|exec|$(json_argv "${crun_[@]}" exec vsb-run /bin/true)"
    "runc|exec|$(json_argv "${runc_[@]}" exec vsb-run /bin/true)"
    "lxc|exec|$(json_argv lxc-attach -P "$lxcp" -n run -- /bin/true)"
    "nsenter|exec|$(json_argv nsenter -t "$vinit" -a -r -w /bin/true)")
  figure exec 0 "$rounds" "${tools[@]}"
  figure exec-idle 100 "$idle_rounds" "${tools[@]}"
fi
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (after the timed figures)"
[[ -f $out ]] && python3 "$here/harness.py" table "$out"

if has exec || has work; then
  sup=$(sed -n 's/.*"supervisor_pid": \([0-9]*\).*/\1/p' "$VSERVER_RUN_ROOT/vsb-run/state")
  echo
  echo "vserver supervisor of a running guest (pid $sup): $(awk '/^VmHWM|^VmRSS/ {printf "%s %s KiB, ", $1, $2}' "/proc/$sup/status")$(awk '/^Pss:/ {printf "Pss %s KiB", $2}' "/proc/$sup/smaps_rollup")"
fi

# --- CPU and system calls inside a guest against the host ---
# The same static binary on the host, in the vserver guest (vserver exec) and, for context, in the
# crun container (crun exec): runs alternate, the order rotating. Each run reports its loop's own
# time. The median is the figure; the minimum, least disturbed by other jobs, is shown too.
if has work; then
  echo
  echo "Work inside a guest against the host: $reps runs each, alternating; the loop's own time."
  echo "Ratios are host / guest (1.00: as fast as on the host); in brackets the ratio of the minima."
  echo
  echo "| work | host | vserver guest | crun container | host / vserver | host / crun |"
  echo "|---|---|---|---|---|---|"
  for w in "cpu 200000000" "getppid 2000000" "open 200000"; do
    h=() g=() c=()
    for ((i = 0; i < reps; i++)); do
      for k in 0 1 2; do
        case $(((i + k) % 3)) in
          0) h+=("$("$root/vsbwork" $w | cut -d' ' -f1)") ;;
          1) g+=("$("$bin" vsb-run exec /vsbwork $w | cut -d' ' -f1)") ;;
          2) c+=("$("${crun_[@]}" exec vsb-run /vsbwork $w | cut -d' ' -f1)") ;;
        esac
      done
    done
    python3 - "${w%% *}" "${w##* }" "${h[*]}" "${g[*]}" "${c[*]}" <<'PY'
import statistics, sys
name, n = sys.argv[1], int(sys.argv[2])
h, g, c = ([int(x) for x in a.split()] for a in sys.argv[3:6])
unit = lambda ns: f"{ns / 1e6:.0f} ms" if name == "cpu" else f"{ns / n:.0f} ns"
med = statistics.median
print(f"| {name} ×{n} | {unit(med(h))} | {unit(med(g))} | {unit(med(c))} "
      f"| {med(h) / med(g):.3f} ({min(h) / min(g):.3f}) | {med(h) / med(c):.3f} ({min(h) / min(c):.3f}) |")
PY
  done
fi
# --- peak memory of the command-line processes ---
# GNU time's %M: the peak resident size of the command and of the children it waited for.
# (Not from the harness: after a vfork-style spawn the kernel counts the parent's resident size in
# the child's peak.) The median of 5 runs. GNU time itself is about 2 MiB: the floor of this column.
peak() { local i v=(); for i in 1 2 3 4 5; do v+=("$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1)"); done; printf '%s\n' "${v[@]}" | sort -n | sed -n 3p; }
if has oneshot || has exec || has work; then
  echo
  echo "Peak resident memory of the command (GNU time %M, median of 5), KiB:"
  echo
  echo "| command | KiB |"
  echo "|---|---|"
fi
if has oneshot; then
  echo "| vserver NAME start --foreground (one-shot) | $(peak "$bin" vsb-one start --foreground) |"
  echo "| crun run (one-shot) | $(peak "${crun_[@]}" run --bundle "$tmp/oci/one-crun" vsb-one) |"
  echo "| runc run (one-shot) | $(peak "${runc_[@]}" run --bundle "$tmp/oci/one-runc" vsb-one) |"
  echo "| lxc-start -F (one-shot) | $(peak lxc-start -F -P "$lxcp" -n one) |"
fi
if has exec || has work; then
  echo "| vserver NAME exec /bin/true | $(peak "$bin" vsb-run exec /bin/true) |"
  echo "| crun exec | $(peak "${crun_[@]}" exec vsb-run /bin/true) |"
  echo "| runc exec | $(peak "${runc_[@]}" exec vsb-run /bin/true) |"
  echo "| lxc-attach | $(peak lxc-attach -P "$lxcp" -n run -- /bin/true) |"
fi
if has exec || has work; then
  "$bin" vsb-run stop --timeout 0 >/dev/null 2>&1
  "${crun_[@]}" delete -f vsb-run
  "${runc_[@]}" delete -f vsb-run
  lxc-stop -k -P "$lxcp" -n run
fi

# --- density ---
# Memory of a tool's guests: the v1 memory cgroup this shell moves into before starting them
# holds every process it starts (runtime, supervisor, monitor, the guests' init) and what the
# kernel charges to them (namespaces, mounts, page tables, slab): usage_in_bytes and
# kmem.usage_in_bytes after the starts, less before, divided by the number of guests. Host-side
# processes' Pss: vserver's supervisors, LXC's monitors (crun and runc leave none).
pss_sum() { local p s=0; for p in "$@"; do s=$((s + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done; echo $s; }
if has density; then
  if [[ -z $memcg ]]; then
    echo "density: no cgroup v1 memory hierarchy; memory not measured" >&2
  fi
  echo
  echo "Density: $guests idle guests (init: sleep), started one after the other, then stopped."
  echo
  echo "| tool | start all | start: first 20 / last 20 (median ms) | stop all | memcg per guest | of which kernel | host-side processes' Pss per guest | Slab per guest (host-wide) |"
  echo "|---|---|---|---|---|---|---|---|"
  for i in $(seq -w 1 "$guests"); do
    vguest "vsb-d$i" /bin/sleep 1000000
    oci_bundle "$tmp/oci/d$i-crun" "/vsbench.crun.d$i" /bin/sleep 1000000
    oci_bundle "$tmp/oci/d$i-runc" "/vsbench.runc.d$i" /bin/sleep 1000000
    lxc_container "d$i" /bin/sleep 1000000
  done
  # Runs FUNCTION I for every guest I, $parallel at a time (the oldest is waited for first); fails
  # if one of them failed.
  par() {
    local i p pids=() rc=0
    for i in $(seq -w 1 "$guests"); do
      "$1" "$i" &
      pids+=($!)
      if ((${#pids[@]} >= parallel)); then
        wait "${pids[0]}" || rc=1
        pids=("${pids[@]:1}")
      fi
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
  }
  par_rows=()
  for tool in vserver crun runc lxc; do
    case $tool in
      vserver) up() { "$bin" "vsb-d$1" start; }; down() { "$bin" "vsb-d$1" stop --timeout 0 >/dev/null 2>&1; } ;;
      crun) up() { "${crun_[@]}" run -d --bundle "$tmp/oci/d$1-crun" "d$1" >/dev/null; }; down() { "${crun_[@]}" delete -f "d$1"; } ;;
      runc) up() { "${runc_[@]}" run -d --bundle "$tmp/oci/d$1-runc" "d$1" >/dev/null; }; down() { "${runc_[@]}" delete -f "d$1"; } ;;
      lxc) up() { lxc-start -d -P "$lxcp" -n "d$1"; }; down() { lxc-stop -k -P "$lxcp" -n "d$1"; } ;;
    esac
    u0=0 k0=0
    if [[ -n $memcg ]]; then
      memcg_self=$memcg/vsbench.$tool
      mkdir "$memcg_self"
      echo $$ >"$memcg_self/cgroup.procs"
      u0=$(<"$memcg_self/memory.usage_in_bytes") k0=$(<"$memcg_self/memory.kmem.usage_in_bytes")
    fi
    slab0=$(awk '/^Slab:/ {print $2}' /proc/meminfo)
    times=()
    t0=$EPOCHREALTIME
    for i in $(seq -w 1 "$guests"); do
      a=$EPOCHREALTIME
      up "$i"
      b=$EPOCHREALTIME
      times+=("$(((${b/./} - ${a/./}) / 10))")
    done
    t1=$EPOCHREALTIME
    sleep 2
    slab1=$(awk '/^Slab:/ {print $2}' /proc/meminfo)
    u1=0 k1=0
    if [[ -n $memcg ]]; then
      u1=$(<"$memcg_self/memory.usage_in_bytes") k1=$(<"$memcg_self/memory.kmem.usage_in_bytes")
    fi
    # shellcheck disable=SC2046 # one argument per pid
    case $tool in
      vserver) host=$(pss_sum $(sed -n 's/.*"supervisor_pid": \([0-9]*\).*/\1/p' "$VSERVER_RUN_ROOT"/vsb-d*/state)) ;;
      lxc) host=$(pss_sum $(ps -eo pid=,args= | awk -v p="$lxcp" '$2 == "[lxc" && $3 == "monitor]" && $4 == p {print $1}')) ;;
      *) host=0 ;;
    esac
    t2=$EPOCHREALTIME
    for i in $(seq -w 1 "$guests"); do down "$i"; done
    t3=$EPOCHREALTIME
    if [[ -n $memcg ]]; then
      echo $$ >"$memcg_self/../cgroup.procs"
      rmdir "$memcg_self" 2>/dev/null || true
      memcg_self=''
    fi
    # The same guests again, $parallel commands at a time (what a boot-time start can do).
    sleep 1
    p0=$EPOCHREALTIME
    up_ok=ok down_ok=ok
    par up || up_ok=failed
    p1=$EPOCHREALTIME
    par down || down_ok=failed
    p2=$EPOCHREALTIME
    par_rows+=("$(awk -v t="$tool" -v a="$p0" -v b="$p1" -v c="$p2" -v u="$up_ok" -v d="$down_ok" \
      'BEGIN { printf "| %s | %.2f s%s | %.2f s%s |", t, b - a, u == "ok" ? "" : " (a start failed)",
               c - b, d == "ok" ? "" : " (a stop failed)" }')")
    n=$guests
    python3 - "$tool" "$n" "$t0" "$t1" "$t2" "$t3" "$u0" "$u1" "$k0" "$k1" "$host" "$slab0" "$slab1" "${times[*]}" <<'PY'
import statistics, sys
tool, n = sys.argv[1], int(sys.argv[2])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
u0, u1, k0, k1, host, s0, s1 = map(int, sys.argv[7:14])
times = [int(x) / 100 for x in sys.argv[14].split()]  # 10 µs units → ms
k = min(20, n)
mem = lambda b: f"{b / n / 1024:.0f} KiB" if u1 else "–"
print(f"| {tool} | {t1 - t0:.2f} s | {statistics.median(times[:k]):.1f} / {statistics.median(times[-k:]):.1f} "
      f"| {t3 - t2:.2f} s | {mem(u1 - u0)} | {mem(k1 - k0)} | {host / n:.0f} KiB | {(s1 - s0) / n:.0f} KiB |")
PY
  done
  echo
  echo "The same $guests guests started, then stopped, $parallel commands at a time:"
  echo
  echo "| tool | start all | stop all |"
  echo "|---|---|---|"
  printf '%s\n' "${par_rows[@]}"
fi
echo
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (end)"
echo "samples:  $out"
