#!/bin/bash
# ci-v2.sh [BUILD_DIR]
#
# The integration tests on a pure cgroup v2 host: boots a VM with run-in-v2-vm.sh (installing
# its packages if needed), builds the project in build-v2vm below the source tree unless
# BUILD_DIR (with a built integration_tests) is given, runs integration_tests in the VM and exits
# with their status (125: the VM itself failed). Must run as root.
#
# Environment: CI_GTEST_FILTER (a --gtest_filter; default: every test but the real Debian guests), CI_SHARDS (VMs that share
# out the tests; default: number of CPUs, at most 4), CI_JOBS (build jobs; default: number of
# CPUs), VM_TIMEOUT (default 1800 s) and the other knobs of run-in-v2-vm.sh. Each VM also writes
# its results as JUnit XML to BUILD_DIR/integration-v2-N.xml.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
RUN_VM=$HERE/run-in-v2-vm.sh
export VM_TIMEOUT=${VM_TIMEOUT:-1800}

[ "$(id -u)" = 0 ] || {
  echo "ci-v2.sh: must run as root (package installation, integration tests)" >&2
  exit 2
}
[ $# -le 1 ] || {
  echo "usage: ci-v2.sh [BUILD_DIR]" >&2
  exit 2
}

t0=$SECONDS
step() { echo "=== ci-v2: $* ($((SECONDS - t0)) s)" >&2; }

# First boot: installs the VM packages, prepares the kernel and initramfs cache and shows that the
# VM and its cgroup v2 hierarchy work before anything is built.
step "checking the VM"
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
"$RUN_VM" "$probe_dir" sh -c \
  'stat -fc %T /sys/fs/cgroup && cat /sys/fs/cgroup/cgroup.subtree_control' >&2

if [ $# -eq 1 ]; then
  BUILD=$(realpath -e -- "$1")
  [ -x "$BUILD/integration_tests" ] || {
    echo "ci-v2.sh: $BUILD/integration_tests: not built" >&2
    exit 2
  }
else
  BUILD=$SRC/build-v2vm
  step "building in $BUILD"
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSERVER_TESTS=ON \
    -DVSERVER_WERROR=ON >&2
  ninja -C "$BUILD" -j "${CI_JOBS:-$(nproc)}" integration_tests integration_serial_tests >&2
fi

# Real Debian guests (debootstrap, apt, sysv and systemd boots) run on the host only: the VM has
# no route to the archive, and booting a Debian userland under software emulation takes minutes.
args=(--gtest_brief=1 "--gtest_filter=${CI_GTEST_FILTER:--Debian*:DebianFixture*:OpsDebian*}")

# The tests mostly wait on processes in the guest; some VMs side by side, each with a share of the
# tests (GoogleTest sharding), use the host's CPUs best.
shards=${CI_SHARDS:-$(nproc)}
[ "$shards" -ge 1 ] 2>/dev/null || shards=1
[ "$shards" -le 4 ] || shards=4
rm -f "$BUILD"/integration-v2-*.xml
rcdir=$(mktemp -d)
trap 'rm -rf "$probe_dir" "$rcdir"' EXIT

step "running the integration tests in $shards VM(s)"
for ((i = 0; i < shards; i++)); do
  (
    export GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i
    export VM_PASS_ENV="${VM_PASS_ENV:-} GTEST_TOTAL_SHARDS GTEST_SHARD_INDEX"
    rc=0
    # The disk-limit tests need ext4 and XFS with project quotas and loop devices (modules of the
    # VM's kernel; this machine's own kernel has no quota support). The tests' roots go on a tmpfs
    # (TMPDIR): the VM's /tmp is an overlayfs, which cannot be a unified guest's upper layer.
    "$RUN_VM" "$BUILD" sh -c 'for m in loop ext4 xfs quota_v2; do modprobe "$m" 2>/dev/null; done
      mkdir -p /run/vs-it && mount -t tmpfs -o mode=0755 vs-it /run/vs-it && export TMPDIR=/run/vs-it
      exec "$@"' sh "$BUILD/integration_tests" "${args[@]}" \
      "--gtest_output=xml:$BUILD/integration-v2-$i.xml" 2>&1 || rc=$?
    echo "$rc" >"$rcdir/$i"
  ) | sed -u "s/^/[vm $i] /" &
done
wait

# The CPU-share tests need the machine to themselves: one VM, after the others.
step "running the serial integration tests in one VM"
# Software emulation charges a vCPU's time to the task it was running even while the host ran
# something else (there is no steal-time accounting under TCG), so a CPU share measured in the VM
# reads high when the host is busy: a failed test gets one more run, alone.
if [ -x "$BUILD/integration_serial_tests" ]; then
  set +e
  "$RUN_VM" "$BUILD" "$BUILD/integration_serial_tests" "${args[@]}" \
    "--gtest_output=xml:$BUILD/integration-v2-serial.xml" 2>&1 | sed -u "s/^/[vm serial] /"
  r=${PIPESTATUS[0]}
  failed=$(python3 -c '
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
print(":".join(c.get("classname") + "." + c.get("name") for c in cases if c.find("failure") is not None))
' "$BUILD/integration-v2-serial.xml" 2>/dev/null || true)
  if [ "$r" != 0 ] && [ "$r" != 125 ] && [ -n "$failed" ]; then
    step "serial VM: retrying $failed once"
    "$RUN_VM" "$BUILD" "$BUILD/integration_serial_tests" --gtest_brief=1 \
      "--gtest_filter=$failed" 2>&1 | sed -u "s/^/[vm serial retry] /"
    r=${PIPESTATUS[0]}
  fi
  echo "$r" >"$rcdir/serial"
  set -e
fi

# 125 (a VM failed) wins over test failures, which win over success.
rc=0
for ((i = 0; i < shards; i++)); do
  r=$(cat "$rcdir/$i" 2>/dev/null || echo 125)
  step "VM $i: integration tests exited with status $r"
  if [ "$r" = 125 ]; then
    rc=125
  elif [ "$r" != 0 ] && [ "$rc" = 0 ]; then
    rc=$r
  fi
done
if [ -f "$rcdir/serial" ]; then
  r=$(cat "$rcdir/serial")
  step "serial VM: tests exited with status $r"
  if [ "$r" = 125 ]; then
    rc=125
  elif [ "$r" != 0 ] && [ "$rc" = 0 ]; then
    rc=$r
  fi
fi
step "done, status $rc"
exit "$rc"
