#!/usr/bin/env bash
# Installs what vserver needs to build, run and test, from Debian's packages.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libseccomp-dev libcap-dev libmnl-dev libarchive-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libfuse3-dev fuse3
  busybox-static procps tar zstd xz-utils e2fsprogs xfsprogs
  clang libclang-rt-dev
  debootstrap debian-archive-keyring rsync
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
