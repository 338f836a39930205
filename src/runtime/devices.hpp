// Which device nodes a guest's processes may open: a cgroup device filter (a BPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the guest's cgroup v2 directory, also on hybrid hosts,
// whose unified hierarchy holds the guest's cgroup).
//
// The guest's root is bind-mounted nodev, but mounts of its fstab keep the options the
// administrator gave them (the default fstab's /tmp tmpfs has no nodev), and a guest given
// CAP_MKNOD can create nodes there. The filter is the second wall: whatever node exists, on
// whatever mount, the guest opens only the character devices of its /dev:
//   1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom, 5:0 tty, 5:1 console, 5:2 ptmx,
//   136-143:* the terminals of its devpts, and 10:200 net/tun for a guest with a tun or tap
//   interface (to attach to its own devices: making new ones needs CAP_NET_ADMIN).
// Creating a node (mknod, with CAP_MKNOD) is allowed; opening it for reading or writing is not.
// Block devices are never opened.
#pragma once

#include <linux/bpf.h>

#include <span>
#include <string>

#include "config/model.hpp"

namespace vs::runtime {

inline constexpr unsigned kTunMajor = 10;
inline constexpr unsigned kTunMinor = 200;

// Whether the guest gets /dev/net/tun: it has a tun or tap interface that is applied.
bool needs_tun_device(const config::GuestConfig& cfg);

// The filter's program, with or without /dev/net/tun (for the tests, which run it against
// device numbers).
std::span<const bpf_insn> device_filter_program(bool tun);

// Loads the filter and attaches it to the cgroup v2 directory open as cgroup_dir. Throws Error
// naming what when the kernel refuses (no cgroup BPF, BPF disabled).
void attach_device_filter(int cgroup_dir, const std::string& what, bool tun);

}  // namespace vs::runtime
