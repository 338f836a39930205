// The messages of a guest's launch (runtime/launch_sync.hpp): what the child sends the supervisor
// and the supervisor the caller must come back as it was sent, and anything else must be refused.
#include "runtime/launch_sync.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include "sys/error.hpp"

namespace {

using vs::runtime::detail::decode;
using vs::runtime::detail::encode;
using vs::runtime::detail::kMaxSyncMessage;
using vs::runtime::detail::kMaxSyncText;
using vs::runtime::detail::kPhaseCount;
using vs::runtime::detail::kSyncHeaderSize;
using vs::runtime::detail::Phase;
using vs::runtime::detail::SyncBuffer;
using vs::runtime::detail::SyncKind;
using vs::runtime::detail::SyncMessage;

std::string encoded(const SyncMessage& m) {
  SyncBuffer buf{};
  std::size_t n = encode(m, buf);
  return {buf.data(), n};
}

// The errno of the Error that decoding data throws, or -1 when it throws none.
int decode_error(const std::string& data) {
  try {
    (void)decode(data);
  } catch (const vs::Error& e) {
    return e.code();
  }
  return -1;
}

TEST(LaunchSync, ErrorRoundTripsWithPhaseErrnoAndText) {
  SyncMessage m{SyncKind::error, Phase::rootfs, ENOENT,
                "mount /dev/sdz on /var/lib/vservers/web/mnt: No such file or directory"};
  std::string wire = encoded(m);
  EXPECT_EQ(wire.size(), kSyncHeaderSize + m.text.size());
  SyncMessage back = decode(wire);
  EXPECT_EQ(back.kind, SyncKind::error);
  EXPECT_EQ(back.phase, Phase::rootfs);
  EXPECT_EQ(back.err, ENOENT);
  EXPECT_EQ(back.text, m.text);
}

TEST(LaunchSync, EveryKindAndPhaseRoundTrips) {
  for (SyncKind k : {SyncKind::go, SyncKind::ready, SyncKind::error}) {
    for (std::uint8_t p = 0; p < kPhaseCount; ++p) {
      SyncMessage m{k, static_cast<Phase>(p), p, {}};
      SyncMessage back = decode(encoded(m));
      EXPECT_EQ(back.kind, k);
      EXPECT_EQ(back.phase, m.phase);
      EXPECT_EQ(back.err, p);
      EXPECT_TRUE(back.text.empty());
    }
  }
}

TEST(LaunchSync, PhasesHaveDistinctNames) {
  std::set<std::string> names;
  for (std::uint8_t p = 0; p < kPhaseCount; ++p) {
    std::string name(to_string(static_cast<Phase>(p)));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(to_string(Phase::pre_start), "pre-start");
}

TEST(LaunchSync, TruncatedMessagesAreRefused) {
  std::string wire = encoded({SyncKind::error, Phase::exec, EACCES, "execute init /sbin/init"});
  for (std::size_t n = 0; n < wire.size(); ++n) {
    EXPECT_EQ(decode_error(wire.substr(0, n)), EBADMSG) << n << " bytes";
  }
  EXPECT_EQ(decode_error(wire + "x"), EBADMSG);
}

TEST(LaunchSync, OversizeTextIsCutWhenSentAndRefusedWhenReceived) {
  SyncMessage m{SyncKind::error, Phase::network, EEXIST, std::string(10000, 'x')};
  std::string wire = encoded(m);
  EXPECT_EQ(wire.size(), kMaxSyncMessage);
  SyncMessage back = decode(wire);
  EXPECT_EQ(back.text, std::string(kMaxSyncText, 'x'));
  EXPECT_EQ(back.err, EEXIST);
  // A header claiming more text than a message may hold.
  std::string big = encoded({SyncKind::error, Phase::network, 0, "abc"});
  std::uint16_t size = kMaxSyncText + 1;
  std::memcpy(big.data() + 6, &size, sizeof size);
  big.resize(kSyncHeaderSize + size, 'y');
  EXPECT_EQ(decode_error(big), EBADMSG);
  // A buffer too small for the header gets nothing; a small one gets the text cut to fit.
  std::array<char, 4> tiny{};
  EXPECT_EQ(encode(m, tiny), 0U);
  std::array<char, kSyncHeaderSize + 3> small{};
  ASSERT_EQ(encode(m, small), small.size());
  EXPECT_EQ(decode({small.data(), small.size()}).text, "xxx");
}

TEST(LaunchSync, GarbageKindPhaseOrMagicIsRefused) {
  std::string wire = encoded({SyncKind::ready, Phase::exec, 0, ""});
  std::string kind = wire;
  kind[4] = 0;
  EXPECT_EQ(decode_error(kind), EBADMSG);
  kind[4] = 99;
  EXPECT_EQ(decode_error(kind), EBADMSG);
  std::string phase = wire;
  phase[5] = static_cast<char>(kPhaseCount);
  EXPECT_EQ(decode_error(phase), EBADMSG);
  std::string magic = wire;
  magic[0] ^= 0x20;
  EXPECT_EQ(decode_error(magic), EBADMSG);
  // The old protocol's "go" byte and free text are not messages.
  EXPECT_EQ(decode_error("G"), EBADMSG);
  EXPECT_EQ(decode_error("mount /x: No such file or directory"), EBADMSG);
}

}  // namespace
