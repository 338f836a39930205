// What is running now: one record per running guest under RUN_ROOT/NAME/state. The record is
// written by the supervisor when the guest's init has started and removed when the guest is torn
// down. Every fact in it can be checked against the kernel (pid + start time, cgroup), so the
// truth about a guest survives the loss of its supervisor.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/roots.hpp"
#include "sys/file.hpp"

namespace vs::state {

struct GuestState {
  std::string name;
  int context = 0;
  pid_t supervisor_pid = 0;
  pid_t init_pid = 0;                  // host pid of the guest's PID 1
  std::uint64_t init_start_ticks = 0;  // field 22 of /proc/PID/stat: guards against pid reuse
  std::int64_t started_at_ms = 0;      // CLOCK_REALTIME in milliseconds
  std::string cgroup;                  // absolute path of the guest's cgroup v2 directory
  // Hybrid hosts: controller -> the guest's directory in that cgroup v1 hierarchy.
  std::map<std::string, std::string> cgroup_v1;
  std::string init_style;
  std::string network;
  std::string cfgdir;
  std::string vdir;
  // Networking: host-side links of the guest (removed at cleanup if they outlived its network
  // namespace), bridges created for it (removed when no port is left), and its addresses as
  // "ADDRESS/PREFIX on LINK (KIND DEV)" for status and list.
  std::vector<std::string> host_links;
  std::vector<std::string> created_bridges;
  std::vector<std::string> addresses;
  // VLAN devices vserver made on the host that this guest uses (see shared_links.hpp): the last
  // guest using one removes it.
  std::vector<std::string> shared_links;
};

// The record from its text (JSON); throws Error("corrupt state record (...)") when it is not one.
GuestState parse_state(std::string_view text);
// Reads RUN_ROOT/NAME/state; nullopt if there is none.
std::optional<GuestState> read_state(const config::Roots& roots, std::string_view name);
// Writes it atomically (creating RUN_ROOT/NAME).
void write_state(const config::Roots& roots, const GuestState& st);
// Removes RUN_ROOT/NAME and everything in it. No error if absent. Returns whether this call
// removed the record (of two callers at once, exactly one is told so).
bool remove_state(const config::Roots& roots, std::string_view name);

// Start time (field 22 of /proc/PID/stat, clock ticks since boot) of a pid, nullopt if gone.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);
// True if the recorded init still exists (same pid, same start time).
bool init_alive(const GuestState& st);
// True if the recorded supervisor still exists.
bool supervisor_alive(const GuestState& st);
// Whether the guest's init is alive according to its state record.
bool guest_running(const config::Roots& roots, std::string_view name);

// The running guests: state records whose init is alive, sorted by name.
std::vector<GuestState> running_guests(const config::Roots& roots);

// Context ids in use. RUN_ROOT/.context/N names the guest that holds id N, from its start until
// its cleanup; claims are made, judged and dropped under one lock (RUN_ROOT/.lock/.context). A
// claim whose guest neither runs at that id (its state record) nor is being started or stopped
// (its lock) is stale, left by a run that crashed, and is taken over.
//
// Claims id for the guest name (who holds its GuestLock). If another guest holds the id and runs
// or is being started or stopped, returns that guest's name and claims nothing.
std::optional<std::string> claim_context(const config::Roots& roots, int id, std::string_view name);
// Claims the lowest id in [first, last] that no claim holds; when every one is held, stale claims
// are dropped first. nullopt when every id is in use.
std::optional<int> claim_free_context(const config::Roots& roots, int first, int last,
                                      std::string_view name);
// Drops the claim on id if the guest name holds it. No error if there is none.
void release_context(const config::Roots& roots, int id, std::string_view name);

// An exclusive lock on one guest for start, stop and delete (flock on RUN_ROOT/.lock/NAME).
class GuestLock {
 public:
  // Blocks until the lock is held (or throws).
  GuestLock(const config::Roots& roots, std::string_view name);
  GuestLock(const GuestLock&) = delete;
  GuestLock& operator=(const GuestLock&) = delete;
  GuestLock(GuestLock&& o) noexcept = default;
  GuestLock& operator=(GuestLock&&) = delete;
  ~GuestLock() = default;
  // The lock fd, so that a forked supervisor can keep holding it until the start is done.
  [[nodiscard]] int fd() const noexcept { return lock_.fd(); }
  // Removes the lock's file (delete, rename), while it is held: whoever waits on it then finds
  // it gone and locks the file made anew, so two never hold the guest at once.
  void remove_file() const;

 private:
  FileLock lock_;
  std::filesystem::path file_;
};

}  // namespace vs::state
