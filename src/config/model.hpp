// The guest model: everything the launcher needs, parsed and validated from the configuration
// tree before any kernel object is touched. No I/O happens here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace vs::config {

namespace fs = std::filesystem;

inline constexpr int kMinContext = 2;
inline constexpr int kMaxContext = 49151;
inline constexpr int kFirstAllocatedContext = 40000;  // util-vserver's context.start
// A guest without a context file runs at a free id of these, claimed for the time it runs.
inline constexpr int kFirstDynamicContext = 49152;
inline constexpr int kLastDynamicContext = 65535;

// apps/init/style. sysv is util-vserver's default when the file is absent.
enum class InitStyle {
  sysv,     // /etc/init.d/rc RUNLEVEL under a minimal init of ours; stopped with rc 0
  plain,    // the guest's /sbin/init as PID 1; stopped with SIGINT (ctrl-alt-del)
  minit,    // /sbin/minit-start; stopped with /sbin/minit-stop
  systemd,  // systemd as PID 1; stopped with SIGRTMIN+3
  command,  // apps/init/cmd.start as PID 1; stopped with cmd.stop, else SIGTERM
};
const char* to_string(InitStyle s);
std::optional<InitStyle> init_style_from_string(std::string_view s);

// How the guest is networked (network/mode). Every mode but host gives the guest a network
// namespace of its own.
enum class NetworkMode {
  automatic,  // default: per interface, a dev that is a bridge gets a veth pair into it, any other
              // dev an ipvlan link; without interfaces, loopback only
  none,       // loopback only; interfaces/ is not applied
  host,       // the host's network namespace: util-vserver's unrestricted behaviour, weaker
              // isolation; interfaces/ is not applied
  bridge,     // every dev is a bridge: a veth pair, host end in it
  ipvlan,     // an ipvlan (L2) link on every dev: the guest's addresses live on the host's LAN
  macvlan,    // a macvlan link (own MAC) on every dev
};
const char* to_string(NetworkMode m);
std::optional<NetworkMode> network_mode_from_string(std::string_view s);

struct FstabEntry {
  std::string source;   // fs_spec: device, host path (bind) or "none"
  std::string target;   // fs_file: a path inside the guest
  std::string type;     // fs_vfstype
  std::string options;  // fs_mntops, comma-separated
  int dump = 0;
  int pass = 0;
  bool operator==(const FstabEntry&) const = default;
};

// util-vserver's default fstab for new guests.
std::vector<FstabEntry> default_fstab();

// interfaces/<id>/ — parsed and validated now, applied by the networking code.
enum class TunKind { none, tun, tap };

struct Interface {
  std::string id;                    // directory name under interfaces/
  std::string ip;                    // textual address as written
  int family = 0;                    // AF_INET or AF_INET6
  int prefix = -1;                   // from prefix or mask (or the interfaces/ default)
  std::optional<std::string> dev;    // host device
  std::optional<std::string> name;   // label / link name inside
  std::optional<std::string> bcast;  // broadcast address
  std::optional<std::string> scope;
  std::optional<std::string> peer;
  std::optional<std::string> mac;
  std::optional<std::string> gateway;
  bool nodev = false;
  bool disabled = false;
  bool down = false;
  // vlandev: dev is DEV.ID, and the VLAN device DEV.ID (id ID on DEV) is created on the host when
  // it does not exist. Resolved from the interface's vlandev / novlandev, else
  // interfaces/novlandev, interfaces/vlandev and .defaults/interfaces/vlandev.
  bool vlandev = false;
  // tun / tap: the guest's link is a persistent tun or tap device made in the guest, owned by
  // tun_uid / tun_gid, with the hardware type linktype (an ARPHRD_* number) when given.
  TunKind tun = TunKind::none;
  std::optional<std::uint32_t> tun_uid;
  std::optional<std::uint32_t> tun_gid;
  std::optional<std::uint16_t> linktype;
  bool nocsum = false;  // accepted without effect: the kernel ignores TUNSETNOCSUM
  bool operator==(const Interface&) const = default;
};

// "eth0.7" → {"eth0", 7}; nullopt unless the name is PARENT.ID with a VLAN id in 1..4094. The
// last dot counts: "eth0.7.8" is VLAN 8 on eth0.7.
std::optional<std::pair<std::string, int>> split_vlan_device(std::string_view dev);

// A resource limit as util-vserver's rlimits/<res>{,.min,.soft,.hard}. Values are in the unit of
// the resource (pages for rss, as, memlock, anon, shmem; counts otherwise). kUnlimited is "inf".
inline constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();
struct Rlimit {
  std::optional<std::uint64_t> min;
  std::optional<std::uint64_t> soft;
  std::optional<std::uint64_t> hard;
  bool operator==(const Rlimit&) const = default;
};

// sched/ (util-vserver's CPU token bucket, reference §1.7 and §4): integers, intervals in jiffies.
// The legacy one-file `schedule` (6 lines) fills the same fields.
struct Sched {
  std::optional<std::int64_t> fill_rate;   // tokens added every interval
  std::optional<std::int64_t> interval;    // jiffies
  std::optional<std::int64_t> tokens;      // initial bucket content
  std::optional<std::int64_t> tokens_min;  // resume threshold after a hold
  std::optional<std::int64_t> tokens_max;  // bucket size
  std::optional<std::int64_t> prio_bias;   // priority-bias (or prio-bias), -20..20
  std::optional<std::int64_t> fill_rate2;  // idle-time refill
  std::optional<std::int64_t> interval2;
  bool idle_time = false;  // idle-time (boolean file)
  // Names of sched/<dir>/ per-CPU bucket directories found. CFS bandwidth is aggregate over CPUs,
  // so these cannot be expressed; they are reported, not applied.
  std::vector<std::string> per_cpu;
  // A legacy schedule file was found beside a sched/ directory: not read (as util-vserver does),
  // reported. Not written back.
  bool schedule_ignored = false;
  bool operator==(const Sched&) const = default;
  [[nodiscard]] bool empty() const { return *this == Sched{}; }
};

// cpuset/ (reference §1.7): the CPUs and memory nodes the guest may use.
struct Cpuset {
  std::optional<std::string> name;  // legacy /dev/cpuset name; informational
  std::optional<std::string> cpus;  // cpu list, e.g. "0-1,3"
  std::optional<std::string> mems;  // memory node list
  bool cpu_exclusive = false;
  bool mem_exclusive = false;
  bool virtualized = false;
  bool nocreate = false;
  bool operator==(const Cpuset&) const = default;
};

// cgroup/ (util-vserver 0.30.216, reference §1.7): files written verbatim into the guest's cgroup,
// for what the model does not cover. .defaults/cgroup/ applies when the guest has no cgroup/.
struct CgroupConfig {
  std::map<std::string, std::string> files;  // file name -> content (trimmed of the final newline)
  std::optional<std::string> base;  // cgroup/base: parent of the guest's cgroup, relative to the
                                    // hierarchy root (default "vservers")
  std::optional<std::string> name;  // cgroup/name: the cgroup's name (default the guest's id)
  bool disabled = false;            // nocgroup: the file exists
  // util-vserver's control files mnt, subsys, inherit and per-ss found (sorted): accepted and not
  // used, since the hierarchies are found automatically; reported as notes. Not written back.
  std::vector<std::string> ignored;
  bool operator==(const CgroupConfig&) const = default;
};

// limits/ (ours): byte-valued settings with readable names, for people who do not think in pages.
// Values accept K, M, G, T (x1024) with optional "iB"/"B", and inf/max/unlimited. Setting one of
// them together with the rlimits/ file that means the same thing is a configuration error.
struct ByteLimits {
  std::optional<std::uint64_t> memory;         // limits/memory: RAM (= rss.soft in bytes)
  std::optional<std::uint64_t> swap;           // limits/swap: swap beyond memory (rss.hard - soft)
  std::optional<std::uint64_t> address_space;  // limits/address-space: RLIMIT_AS per process
  std::optional<std::uint64_t> processes;      // limits/processes: pids.max (= rlimits/nproc)
  std::optional<double> cpus;  // limits/cpu: CPUs of hard cap, "0.25" or "25%" (= sched_hard R/T)
  bool operator==(const ByteLimits&) const = default;
};

// What `vserver NAME build` writes into a new guest's limits/ and sched/ when
// CONFIG_ROOT/.defaults/ has no file of the same name (docs/limits.md, "Defaults for new
// guests"): a process limit with room for a Debian guest's busy services, and the VServer kernel's
// default token bucket, 1 token every 4 jiffies, which is cpu.weight 100, the host's default.
inline constexpr std::uint64_t kNewGuestProcesses = 1024;
inline constexpr std::int64_t kNewGuestFillRate = 1;
inline constexpr std::int64_t kNewGuestInterval = 4;

// dlimits/ (util-vserver §1.8, §7): the guest's disk limit, kept by a project quota on the
// filesystem of its data or by an ext4 image of its own (docs/storage.md, "Disk limits").
enum class DiskLimitMethod {
  automatic,  // the project quota where the filesystem enforces one, else an image
  quota,      // ext4/XFS project quota, project id = the guest's context
  image,      // a loop-mounted ext4 image per guest, VDIR_ROOT/.images/NAME.ext4
};
const char* to_string(DiskLimitMethod m);
std::optional<DiskLimitMethod> disk_limit_method_from_string(std::string_view s);

// One dlimits/N/ entry. Units as util-vserver's: space in KiB (1024-byte blocks), inodes as a
// count, reserved in percent. kUnlimited: no limit of that kind.
struct DiskLimit {
  std::string id;                           // the directory name N
  std::optional<fs::path> directory;        // dlimits/N/directory: a path on the limited filesystem
  std::uint64_t space_total = kUnlimited;   // dlimits/N/space_total, KiB
  std::uint64_t inodes_total = kUnlimited;  // dlimits/N/inodes_total
  int reserved = 0;                         // dlimits/N/reserved, 0..100
  bool operator==(const DiskLimit&) const = default;
};

struct DiskLimits {
  DiskLimitMethod method = DiskLimitMethod::automatic;  // dlimits/method
  std::optional<DiskLimit> limit;  // the one enabled entry (at most one per guest)
  // Entries with a disabled file: skipped, kept as they are by write_guest.
  std::vector<std::string> disabled;
  bool operator==(const DiskLimits&) const = default;
};

struct Uts {
  std::optional<std::string> nodename;
  std::optional<std::string> domainname;
  std::optional<std::string> sysname;
  std::optional<std::string> release;
  std::optional<std::string> version;
  std::optional<std::string> machine;
  bool operator==(const Uts&) const = default;
};

enum class VshelperAction { restart, halt };
const char* to_string(VshelperAction a);
std::optional<VshelperAction> vshelper_action_from_string(std::string_view s);

struct InitConfig {
  InitStyle style = InitStyle::sysv;
  std::optional<std::string> mark;       // apps/init/mark
  std::vector<std::string> cmd_start;    // apps/init/cmd.start, one argv element per line
  std::vector<std::string> cmd_stop;     // apps/init/cmd.stop
  std::string runlevel_start = "3";      // apps/init/runlevel{,.start}
  std::string runlevel_stop = "0";       // apps/init/runlevel.stop
  std::vector<std::string> environment;  // apps/init/environment: VAR=VAL lines
  std::vector<std::string> depends;      // apps/init/depends
  // apps/init/killseq: "signal [wait signal]*", default 15 5 9.
  std::vector<int> killseq = {15, 5, 9};
  // apps/vshelper/sync-timeout: seconds a graceful stop may take before the kill sequence.
  int stop_timeout = 30;
  // What a reboot(2) inside the guest does (util-vserver's vshelper). action: "restart" (the
  // default: a reboot starts the guest again, a halt or poweroff stops it) or "halt" (both stop
  // it). disabled: reboot and halt both just stop the guest. An executable apps/vshelper/restart,
  // halt or poweroff runs on the host, as "FILE CONTEXT EVENT", instead of the action.
  VshelperAction vshelper_action = VshelperAction::restart;
  bool vshelper_disabled = false;
  bool operator==(const InitConfig&) const = default;
};

struct GuestConfig {
  std::string name;            // name file, default the directory's name
  fs::path cfgdir;             // /etc/vservers/NAME
  fs::path vdir;               // target of the vdir link, default VDIR_ROOT/NAME
  std::optional<int> context;  // 2..49151
  Uts uts;
  std::vector<FstabEntry> fstab;        // fstab, default default_fstab() when the file is absent
  std::set<std::string> cflags;         // cflags (or legacy flags), lower-case known flag names
  std::uint64_t bcapabilities = 0;      // the resolved capability bounding set, bit per CAP_*
  std::set<std::string> ccapabilities;  // lower-case known context capability names
  // Context capabilities on by default that ccapabilities clears ("~raw_icmp" or "!raw_icmp").
  std::set<std::string> ccapabilities_cleared;
  std::optional<int> nice;  // -20..19
  InitConfig init;
  NetworkMode network = NetworkMode::automatic;
  bool create_bridge = false;  // network/create-bridge: create missing bridges named by dev
  std::vector<Interface> interfaces;
  std::map<std::string, Rlimit> rlimits;  // resource name (as the file name) → limit
  std::map<std::string, Rlimit> ulimits;
  Sched sched;
  Cpuset cpuset;
  CgroupConfig cgroup;
  ByteLimits limits;
  DiskLimits dlimits;
  std::optional<std::string> shell;  // shell for enter
  // unify/base (ours): the name of the read-only base the guest's root is layered on
  // (VDIR_ROOT/.bases/BASE, see storage/layout.hpp); absent for a guest with a full root of its
  // own.
  std::optional<std::string> base;
  bool operator==(const GuestConfig&) const = default;

  // The guest's identity on the host (state record, lock, cgroup, log): the name of its
  // configuration directory. The name file is a display name and may differ.
  [[nodiscard]] std::string id() const { return cfgdir.filename().string(); }
  // util-vserver's raw_icmp context capability, on unless ccapabilities clears it: raw ICMP and
  // ICMPv6 sockets, for ping (runtime/security.hpp).
  [[nodiscard]] bool raw_icmp() const { return ccapabilities_cleared.count("raw_icmp") == 0; }
};

}  // namespace vs::config
