#include "runtime/devices.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace vs::runtime {

namespace {

constexpr bpf_insn op(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
                      std::int32_t imm) {
  return bpf_insn{code, dst, src, off, imm};
}

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }: access_type is
// (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*. The program returns 1 to allow, 0 to deny (EPERM).
// Jump offsets count instructions after the jump; the comments number each instruction.
constexpr std::uint8_t kLdxW = BPF_LDX | BPF_W | BPF_MEM;
constexpr std::uint8_t kAndK = BPF_ALU64 | BPF_AND | BPF_K;
constexpr std::uint8_t kRshK = BPF_ALU64 | BPF_RSH | BPF_K;
constexpr std::uint8_t kMovK = BPF_ALU64 | BPF_MOV | BPF_K;
constexpr std::uint8_t kMovX = BPF_ALU64 | BPF_MOV | BPF_X;
constexpr std::uint8_t kJeqK = BPF_JMP | BPF_JEQ | BPF_K;
constexpr std::uint8_t kJneK = BPF_JMP | BPF_JNE | BPF_K;
constexpr std::uint8_t kJltK = BPF_JMP | BPF_JLT | BPF_K;
constexpr std::uint8_t kJgtK = BPF_JMP | BPF_JGT | BPF_K;
constexpr std::uint8_t kJleK = BPF_JMP | BPF_JLE | BPF_K;
constexpr std::uint8_t kJa = BPF_JMP | BPF_JA;
constexpr std::uint8_t kExit = BPF_JMP | BPF_EXIT;
constexpr int kAllow = 24;
constexpr int kDeny = 26;
constexpr std::int16_t to(int from, int target) {
  return static_cast<std::int16_t>(target - from - 1);
}
// A minor number no device has (the register holds a zero-extended u32, the immediate is
// sign-extended to 64 bits): 10:TUN never matches in the program of a guest without tun/tap.
constexpr std::int32_t kNoMinor = -1;

constexpr std::array<bpf_insn, 28> program(std::int32_t tun_minor) {
  return {{
      op(kLdxW, 2, 1, 0, 0),                                // 0: r2 = access_type
      op(kMovX, 5, 2, 0, 0),                                // 1: r5 = r2
      op(kAndK, 2, 0, 0, 0xffff),                           // 2: r2 = device type
      op(kRshK, 5, 0, 0, 16),                               // 3: r5 = access
      op(kLdxW, 3, 1, 4, 0),                                // 4: r3 = major
      op(kLdxW, 4, 1, 8, 0),                                // 5: r4 = minor
      op(kJeqK, 5, 0, to(6, kAllow), BPF_DEVCG_ACC_MKNOD),  // 6: creating a node only
      op(kJneK, 2, 0, to(7, kDeny), BPF_DEVCG_DEV_CHAR),    // 7: block devices
      op(kJeqK, 3, 0, to(8, 14), 1),                        // 8: major 1: memory devices
      op(kJeqK, 3, 0, to(9, 20), 5),                        // 9: major 5: tty, console, ptmx
      op(kJeqK, 3, 0, to(10, 22), 10),                      // 10: major 10: misc
      op(kJltK, 3, 0, to(11, kDeny), 136),                  // 11: below the pty slaves
      op(kJgtK, 3, 0, to(12, kDeny), 143),                  // 12: above them
      op(kJa, 0, 0, to(13, kAllow), 0),                     // 13: a pty slave
      op(kJeqK, 4, 0, to(14, kAllow), 3),                   // 14: null
      op(kJeqK, 4, 0, to(15, kAllow), 5),                   // 15: zero
      op(kJeqK, 4, 0, to(16, kAllow), 7),                   // 16: full
      op(kJeqK, 4, 0, to(17, kAllow), 8),                   // 17: random
      op(kJeqK, 4, 0, to(18, kAllow), 9),                   // 18: urandom
      op(kJa, 0, 0, to(19, kDeny), 0),                      // 19: mem, kmem, port, kmsg, ...
      op(kJleK, 4, 0, to(20, kAllow), 2),                   // 20: tty, console, ptmx
      op(kJa, 0, 0, to(21, kDeny), 0),                      // 21
      op(kJeqK, 4, 0, to(22, kAllow), tun_minor),           // 22: net/tun, for tun/tap guests
      op(kJa, 0, 0, to(23, kDeny), 0),                      // 23: the other misc devices
      op(kMovK, 0, 0, 0, 1),                                // 24: allow
      op(kExit, 0, 0, 0, 0),                                // 25
      op(kMovK, 0, 0, 0, 0),                                // 26: deny
      op(kExit, 0, 0, 0, 0),                                // 27
  }};
}

constexpr auto kProgram = program(kNoMinor);
constexpr auto kProgramTun = program(kTunMinor);

long bpf(int cmd, bpf_attr& attr) {
  return ::syscall(SYS_bpf, cmd, &attr, sizeof attr);
}

}  // namespace

std::span<const bpf_insn> device_filter_program(bool tun) {
  if (tun) return kProgramTun;
  return kProgram;
}

bool needs_tun_device(const config::GuestConfig& cfg) {
  if (cfg.network == config::NetworkMode::none || cfg.network == config::NetworkMode::host) {
    return false;
  }
  return std::any_of(cfg.interfaces.begin(), cfg.interfaces.end(),
                     [](const auto& i) { return !i.disabled && i.tun != config::TunKind::none; });
}

void attach_device_filter(int cgroup_dir, const std::string& what, bool tun) {
  static const char kLicense[] = "GPL";
  bpf_attr load{};
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  auto insns = device_filter_program(tun);
  load.insns = reinterpret_cast<std::uint64_t>(insns.data());
  load.insn_cnt = insns.size();
  load.license = reinterpret_cast<std::uint64_t>(kLicense);
  long prog = bpf(BPF_PROG_LOAD, load);
  if (prog < 0) throw_errno("load device filter for", what);
  UniqueFd prog_fd(static_cast<int>(prog));
  bpf_attr attach{};
  attach.target_fd = static_cast<std::uint32_t>(cgroup_dir);
  attach.attach_bpf_fd = static_cast<std::uint32_t>(prog_fd.get());
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = 0;  // no program of a child cgroup may override it
  if (bpf(BPF_PROG_ATTACH, attach) != 0) throw_errno("attach device filter to", what);
}

}  // namespace vs::runtime
