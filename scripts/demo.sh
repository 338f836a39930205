#!/usr/bin/env bash
# Installs vserver on this host, then builds, starts and shows a small guest made from Debian's
# busybox-static. Run as root. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (for example: su -c $0)" >&2; exit 1; }
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSERVER_TESTS=OFF >/dev/null
cmake --build build
cmake --install build --prefix /usr/local >/dev/null
export PATH=/usr/local/sbin:$PATH
name=${1:-demo}
if ! vserver "$name" running 2>/dev/null && [ ! -d "/etc/vservers/$name" ]; then
  echo "+ vserver $name build -m busybox --hostname $name"
  vserver "$name" build -m busybox --hostname "$name"
fi
echo "+ vserver $name start"
vserver "$name" start
echo "+ vserver $name status"
vserver "$name" status
echo "+ vserver-stat"
vserver-stat
echo "+ vserver $name exec ps"
vserver "$name" exec ps
echo
echo "The guest '$name' runs. Try: vserver $name enter   |   vserver $name stop"
