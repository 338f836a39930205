#!/bin/bash
# run-in-v2-vm.sh SHARED_DIR COMMAND [ARG...]
#
# Runs COMMAND as root inside a small QEMU virtual machine whose only cgroup hierarchy is cgroup v2
# (mounted at /sys/fs/cgroup with nsdelegate,memory_recursiveprot, like systemd does, and with
# +cpuset +cpu +io +memory +pids in the root's cgroup.subtree_control), and exits with its exit
# status. COMMAND's stdout and stderr are streamed back live; stdin is /dev/null.
#
# The guest boots Debian's stock kernel (the newest /boot/vmlinuz-*) from a small initramfs
# (busybox-static and the virtio, 9p and overlay modules). Its root filesystem is the host's /
# shared read-only over 9p with a tmpfs overlay on top: the guest sees every host file and its
# writes stay in guest memory. SHARED_DIR is shared read-write at the same path, so what COMMAND
# writes there is on the host afterwards. COMMAND runs with "sh" (argument quoting is preserved),
# in the caller's working directory, in the root cgroup, as a child of a busybox-sh PID 1. There
# is no network but lo and no systemd.
#
# Exit status: COMMAND's, or 125 when the VM did not boot, crashed or timed out (the QEMU and
# console logs are printed then).
#
# Knobs (environment):
#   VM_MEM=2048M          guest memory (the tmpfs overlay that holds the root's writes lives in it)
#   VM_SMP=2              virtual CPUs
#   VM_TIMEOUT=3600       seconds before the VM is killed (0: never)
#   VM_BOOT_TIMEOUT=300   seconds for the guest to reach its command; a VM that has not by then is
#                         killed and booted again (under TCG on a busy host a boot now and then
#                         hangs before the first console line; a boot takes 2-10 s)
#   VM_BOOT_TRIES=3       boots tried before giving up
#   VM_DEBUG=1            show the kernel console on stderr and boot without "quiet"
#   VM_MACHINE=pc         pc or microvm (boots 0.5 s faster, but its only reference for the
#                         TSC calibration is the PIT: on a busy host under TCG that calibration
#                         fails now and then and the kernel hangs in calibrate_delay)
#   VM_ACCEL=auto         auto, tcg or kvm; auto takes KVM only with kvm_intel or kvm_amd loaded
#                         (a PVM /dev/kvm cannot boot Debian's kernel)
#   VM_CGROUP_OPTS=nsdelegate,memory_recursiveprot   cgroup2 mount options
#   VM_APPEND="..."       more kernel command line parameters
#   VM_PASS_ENV="A B"     names of environment variables passed to COMMAND
#   VM_KERNEL=/boot/vmlinuz-VERSION   another installed kernel (its modules must be installed)
#   VM_CACHE=/var/tmp/v2vm-cache      where the vmlinux and initramfs are kept
#
# Needs qemu-system-x86, linux-image-amd64, busybox-static, kmod, cpio and xz-utils; run as root,
# it installs what is missing with apt-get.
set -euo pipefail

readonly ME=${0##*/}
readonly BOOT_FAILURE=125

die() {
  echo "$ME: $*" >&2
  exit "$BOOT_FAILURE"
}

usage() {
  echo "usage: $ME SHARED_DIR COMMAND [ARG...]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
SHARED_DIR=$(realpath -e -- "$1") || die "shared directory $1: no such directory"
[ -d "$SHARED_DIR" ] || die "shared directory $SHARED_DIR: not a directory"
[ "$SHARED_DIR" != / ] || die "shared directory: / is already the guest's (read-only) root"
shift

VM_MEM=${VM_MEM:-2048M}
VM_SMP=${VM_SMP:-2}
VM_TIMEOUT=${VM_TIMEOUT:-3600}
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-300}
VM_BOOT_TRIES=${VM_BOOT_TRIES:-3}
VM_DEBUG=${VM_DEBUG:-0}
VM_MACHINE=${VM_MACHINE:-pc}
VM_ACCEL=${VM_ACCEL:-auto}
VM_CGROUP_OPTS=${VM_CGROUP_OPTS:-nsdelegate,memory_recursiveprot}
VM_PASS_ENV=${VM_PASS_ENV:-}
case $VM_MACHINE in microvm | pc) ;; *) die "VM_MACHINE=$VM_MACHINE: use microvm or pc" ;; esac
case $VM_ACCEL in auto | tcg | kvm) ;; *) die "VM_ACCEL=$VM_ACCEL: use auto, tcg or kvm" ;; esac
case $VM_TIMEOUT in '' | *[!0-9]*) die "VM_TIMEOUT=$VM_TIMEOUT: not a number of seconds" ;; esac
case $VM_BOOT_TIMEOUT in '' | *[!0-9]* | 0) die "VM_BOOT_TIMEOUT=$VM_BOOT_TIMEOUT: not a number of seconds" ;; esac
case $VM_BOOT_TRIES in '' | *[!0-9]* | 0) die "VM_BOOT_TRIES=$VM_BOOT_TRIES: not a positive number" ;; esac

# --- packages ----------------------------------------------------------------------------------

readonly PACKAGES="qemu-system-x86 linux-image-amd64 busybox-static kmod cpio xz-utils"

ensure_packages() {
  local missing=() p
  for p in $PACKAGES; do
    # A kernel given explicitly need not come from the metapackage.
    [ "$p" = linux-image-amd64 ] && [ -n "${VM_KERNEL:-}" ] && continue
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    die "missing packages: ${missing[*]} (as root: apt-get install --no-install-recommends ${missing[*]})"
  fi
  echo "$ME: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get -o DPkg::Lock::Timeout=600 update && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"; } >&2 ||
    die "apt-get install ${missing[*]} failed"
}
ensure_packages

# --- kernel ------------------------------------------------------------------------------------

if [ -n "${VM_KERNEL:-}" ]; then
  VMLINUZ=$VM_KERNEL
else
  VMLINUZ=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -print | sort -V | tail -n 1)
fi
{ [ -n "$VMLINUZ" ] && [ -r "$VMLINUZ" ]; } || die "no readable kernel /boot/vmlinuz-* (package linux-image-amd64)"
KVER=${VMLINUZ##*/vmlinuz-}
[ -f "/lib/modules/$KVER/modules.dep" ] || die "kernel $KVER: /lib/modules/$KVER/modules.dep missing"

CACHE=${VM_CACHE:-/var/tmp/v2vm-cache}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
  CACHE=/var/tmp/v2vm-cache-$(id -u)
  mkdir -p "$CACHE" || die "cannot create cache directory $CACHE"
fi

# Serialises cache updates between runs in parallel; released when the script ends.
exec 9>"$CACHE/.lock"
flock 9

# The bzImage's payload (compressed ELF vmlinux) starts at (setup_sects + 1) * 512 + payload_offset
# and its last 4 bytes are the uncompressed size (Documentation/arch/x86/boot.rst).
extract_vmlinux() {
  local src=$1 dst=$2 setup_sects payload_offset payload_length start magic
  setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$src" | tr -d ' ')
  [ "$setup_sects" = 0 ] && setup_sects=4
  read -r payload_offset payload_length < <(od -An -tu4 -j $((0x248)) -N8 "$src")
  [ -n "$payload_length" ] && [ "$payload_length" -gt 4 ] || return 1
  start=$(((setup_sects + 1) * 512 + payload_offset))
  magic=$(od -An -tx1 -j "$start" -N4 "$src" | tr -d ' \n')
  local decompress
  case $magic in
    fd377a58) decompress="xz -dc" ;;
    1f8b*) decompress="gzip -dc" ;;
    28b52ffd) decompress="zstd -dcq" ;;
    5d00*) decompress="xz -dc --format=lzma" ;;
    *) return 1 ;;
  esac
  dd if="$src" iflag=skip_bytes,count_bytes skip="$start" count=$((payload_length - 4)) bs=1M \
    status=none | $decompress >"$dst.tmp.$$" &&
    [ "$(od -An -tx1 -N4 "$dst.tmp.$$" | tr -d ' \n')" = 7f454c46 ] &&
    mv -f "$dst.tmp.$$" "$dst"
  local rc=$?
  rm -f "$dst.tmp.$$"
  return $rc
}

KERNEL=$CACHE/vmlinux-$KVER
if [ ! -s "$KERNEL" ] || [ "$KERNEL" -ot "$VMLINUZ" ]; then
  if ! extract_vmlinux "$VMLINUZ" "$KERNEL"; then
    # No PVH entry without the ELF: boot the bzImage through the PC BIOS (slower).
    echo "$ME: cannot extract vmlinux from $VMLINUZ; booting it as a bzImage on pc" >&2
    KERNEL=$VMLINUZ
    VM_MACHINE=pc
  fi
fi

# --- initramfs ---------------------------------------------------------------------------------

if [ "$VM_MACHINE" = microvm ]; then
  TRANSPORT=virtio_mmio
  DEV_SUFFIX=device
else
  TRANSPORT=virtio_pci
  DEV_SUFFIX=pci
fi

# Stage 1, PID 1 of the initramfs: builds the guest root and switches to it.
read -r -d '' STAGE1 <<'EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() {
  echo "v2vm init: $*" >&2
  poweroff -f
  sleep 60
}
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev ||
  fail "cannot mount proc, sysfs or devtmpfs"
while read -r m; do
  insmod "/modules/$m" || fail "insmod $m failed"
done </modules/order
O9P=trans=virtio,version=9p2000.L,msize=262144
# The virtio devices appear as their drivers load; give them a moment if needed.
mount9p() {
  i=0
  until mount -t 9p -o "$O9P,$3" "$1" "$2"; do
    i=$((i + 1))
    [ $i -lt 50 ] || fail "cannot mount 9p share $1 on $2"
    sleep 0.1
  done
}
mkdir -p /ctl /host /ovl /newroot
mount9p vmctl /ctl cache=none
mount9p hostroot /host ro,cache=loose
mount -t tmpfs -o mode=0755 ovl /ovl && mkdir /ovl/upper /ovl/work || fail "tmpfs for overlay"
mount -t overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work overlay /newroot ||
  fail "cannot mount overlay root"
R=/newroot
mount -t tmpfs -o mode=0755,nosuid,nodev run $R/run || fail "cannot mount /run"
mkdir -p $R/run/v2vm/ctl $R/run/lock
cp /bin/busybox /stage2 $R/run/v2vm/ || fail "cannot copy stage 2"
mount --move /ctl $R/run/v2vm/ctl || fail "cannot move control share"
mount --move /proc $R/proc && mount --move /sys $R/sys && mount --move /dev $R/dev ||
  fail "cannot move proc, sys, dev"
mount -t cgroup2 -o "$(cat $R/run/v2vm/ctl/cgroup_opts)" cgroup2 $R/sys/fs/cgroup ||
  fail "cannot mount cgroup2 with $(cat $R/run/v2vm/ctl/cgroup_opts)"
echo "+cpuset +cpu +io +memory +pids" >$R/sys/fs/cgroup/cgroup.subtree_control ||
  fail "cannot enable controllers: $(cat $R/sys/fs/cgroup/cgroup.controllers)"
mkdir -p $R/dev/pts $R/dev/shm $R/dev/mqueue
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts &&
  mount -t tmpfs -o mode=1777,nosuid,nodev shm $R/dev/shm &&
  mount -t mqueue -o nosuid,nodev,noexec mqueue $R/dev/mqueue || fail "cannot mount devpts, shm, mqueue"
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
SHARED=$(cat $R/run/v2vm/ctl/shared_dir)
mkdir -p "$R$SHARED"
mount9p shared "$R$SHARED" cache=mmap
hostname v2vm
ip link set lo up
exec switch_root $R /run/v2vm/busybox sh /run/v2vm/stage2
fail "switch_root failed"
EOF

# Stage 2, PID 1 in the guest root: runs the command and powers off. Being the shell waiting for
# the command, it also reaps orphans (vserver's supervisors end up its children).
read -r -d '' STAGE2 <<'EOF' || true
C=/run/v2vm/ctl
: >$C/booted
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
. $C/env
cd "$(cat $C/cwd)" 2>/dev/null || cd /
/bin/sh $C/cmd.sh </dev/null >$C/stdout 2>$C/stderr
echo $? >$C/rc.tmp
mv $C/rc.tmp $C/rc
sync
/run/v2vm/busybox poweroff -f
EOF

SCRIPT_SUM=$(sha256sum "$0" | cut -c1-16)
INITRD=$CACHE/initramfs-$KVER-$VM_MACHINE-$SCRIPT_SUM.cpio.gz
if [ ! -s "$INITRD" ]; then
  stage=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  mkdir -p "$stage/bin" "$stage/modules" "$stage/proc" "$stage/sys" "$stage/dev"
  busybox=$(dpkg-query -L busybox-static | grep -m1 '/busybox$') || die "busybox-static: no busybox binary"
  cp "$busybox" "$stage/bin/busybox"
  printf '%s\n' "$STAGE1" >"$stage/init"
  printf '%s\n' "$STAGE2" >"$stage/stage2"
  chmod 755 "$stage/init"
  : >"$stage/modules/order"
  for mod in $TRANSPORT 9pnet_virtio 9p overlay fuse; do
    deps=$(modprobe -S "$KVER" --show-depends "$mod") || die "modprobe -S $KVER --show-depends $mod failed"
    while read -r verb path _; do
      [ "$verb" = insmod ] || continue # "builtin NAME": nothing to load
      name=${path##*/}
      name=${name%%.ko*}.ko
      grep -qxF "$name" "$stage/modules/order" && continue
      case $path in
        *.ko) cp "$path" "$stage/modules/$name" ;;
        *.ko.xz) xz -dc "$path" >"$stage/modules/$name" ;;
        *.ko.zst) zstd -dcq "$path" >"$stage/modules/$name" ;;
        *.ko.gz) gzip -dc "$path" >"$stage/modules/$name" ;;
        *) die "module $path: unknown format" ;;
      esac
      echo "$name" >>"$stage/modules/order"
    done <<<"$deps"
  done
  (cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$INITRD.tmp.$$" ||
    die "cannot build initramfs"
  mv -f "$INITRD.tmp.$$" "$INITRD"
  rm -rf "$stage"
  # Initramfs images of older versions of this script for this kernel are stale.
  find "$CACHE" -maxdepth 1 -name "initramfs-$KVER-$VM_MACHINE-*" ! -name "${INITRD##*/}" \
    -mmin +60 -delete 2>/dev/null || true
fi
flock -u 9

# --- run ---------------------------------------------------------------------------------------

if [ "$VM_ACCEL" = auto ]; then
  VM_ACCEL=tcg
  if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
    VM_ACCEL=kvm
  fi
fi
if [ "$VM_ACCEL" = kvm ]; then
  ACCEL=(-accel kvm -cpu host)
else
  ACCEL=(-accel tcg -cpu max)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/v2vm.XXXXXX")
QEMU_PID=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

CTL=$WORK/ctl
mkdir "$CTL"
chmod 777 "$CTL" # written by guest root through 9p even when QEMU does not run as root
printf '%s\n' "$SHARED_DIR" >"$CTL/shared_dir"
printf '%s\n' "$VM_CGROUP_OPTS" >"$CTL/cgroup_opts"
printf '%s\n' "$PWD" >"$CTL/cwd"

# POSIX sh single quoting: 'it'\''s'.
shquote() {
  local s=${1//\'/\'\\\'\'}
  printf "'%s'" "$s"
}
{
  for v in $VM_PASS_ENV; do
    [[ $v =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "VM_PASS_ENV: bad variable name $v"
    [ -n "${!v+set}" ] && printf 'export %s=%s\n' "$v" "$(shquote "${!v}")"
  done
} >"$CTL/env"
{
  printf 'exec'
  for a in "$@"; do printf ' %s' "$(shquote "$a")"; done
  printf '\n'
} >"$CTL/cmd.sh"
: >"$CTL/stdout"
: >"$CTL/stderr"
: >"$WORK/console.log"

if [ "$(id -u)" = 0 ]; then SECURITY=passthrough; else SECURITY=none; fi
SHARES=()
share() { # TAG PATH EXTRA-OPTIONS (a comma in a QEMU option value is written twice)
  SHARES+=(-fsdev "local,id=$1,path=${2//,/,,},security_model=$SECURITY,multidevs=remap$3"
    -device "virtio-9p-$DEV_SUFFIX,fsdev=$1,mount_tag=$1")
}
share vmctl "$CTL" ""
share hostroot / ",readonly=on"
share shared "$SHARED_DIR" ""

# mitigations=off: no page-table isolation to emulate at every system call. tsc=reliable: under
# TCG the TSC follows the host's clock on every vCPU; without it the kernel finds the TSCs
# "unsynchronized" and takes the HPET, whose emulated reads make every exec twice as slow
# (VM_APPEND=tsc=unstable brings it back).
CMDLINE="console=ttyS0 rdinit=/init panic=-1 mitigations=off"
[ "$VM_ACCEL" = tcg ] && CMDLINE+=" tsc=reliable"
if [ "$VM_DEBUG" = 1 ]; then CMDLINE+=" loglevel=7"; else CMDLINE+=" quiet loglevel=3"; fi
CMDLINE+=${VM_APPEND:+ $VM_APPEND}
if [ "$VM_MACHINE" = microvm ]; then MACHINE=microvm,acpi=on; else MACHINE=pc; fi

QEMU=(qemu-system-x86_64 -M "$MACHINE" "${ACCEL[@]}" -m "$VM_MEM" -smp "$VM_SMP"
  -nodefaults -no-user-config -display none -no-reboot
  -serial "file:$WORK/console.log"
  -kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE"
  "${SHARES[@]}")
if [ "$VM_TIMEOUT" != 0 ]; then QEMU=(timeout -k 10 "$VM_TIMEOUT" "${QEMU[@]}"); fi

# A boot that has not reached the command within VM_BOOT_TIMEOUT is killed and tried again.
for try in $(seq 1 "$VM_BOOT_TRIES"); do
  rm -f "$CTL/booted" "$CTL/rc" "$CTL/rc.tmp"
  : >"$CTL/stdout"
  : >"$CTL/stderr"
  "${QEMU[@]}" </dev/null >"$WORK/qemu.log" 2>&1 &
  QEMU_PID=$!
  waited=0
  while [ ! -e "$CTL/booted" ] && kill -0 "$QEMU_PID" 2>/dev/null; do
    if [ $waited -ge $((VM_BOOT_TIMEOUT * 10)) ]; then
      echo "$ME: the VM did not reach its command within $VM_BOOT_TIMEOUT s (boot $try of" \
        "$VM_BOOT_TRIES); killing it" >&2
      kill "$QEMU_PID" 2>/dev/null || true
      wait "$QEMU_PID" 2>/dev/null || true
      QEMU_PID=
      tail -n 20 "$WORK/console.log" >&2 || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  [ -z "$QEMU_PID" ] || break
done
[ -n "$QEMU_PID" ] || die "the VM did not boot in $VM_BOOT_TRIES tries"

tail -q -s 0.1 -c +1 -f --pid="$QEMU_PID" "$CTL/stdout" &
tail_out=$!
tail -q -s 0.1 -c +1 -f --pid="$QEMU_PID" "$CTL/stderr" >&2 &
tail_err=$!
if [ "$VM_DEBUG" = 1 ]; then
  tail -q -s 0.1 -c +1 -f --pid="$QEMU_PID" "$WORK/console.log" >&2 &
fi

qemu_rc=0
wait "$QEMU_PID" || qemu_rc=$?
QEMU_PID=
wait "$tail_out" "$tail_err" 2>/dev/null || true

if [ -s "$CTL/rc" ]; then
  rc=$(cat "$CTL/rc")
  case $rc in '' | *[!0-9]*) die "bad exit status from the guest: $rc" ;; esac
  exit "$rc"
fi

{
  if [ "$VM_TIMEOUT" != 0 ] && { [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; }; then
    echo "$ME: the VM was killed after VM_TIMEOUT=$VM_TIMEOUT seconds"
  else
    echo "$ME: the VM ended (QEMU status $qemu_rc) before the command did"
  fi
  echo "--- QEMU log"
  cat "$WORK/qemu.log"
  echo "--- console log"
  cat "$WORK/console.log"
} >&2
exit "$BOOT_FAILURE"
