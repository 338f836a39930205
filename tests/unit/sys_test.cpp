#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "sys/error.hpp"
#include "sys/file.hpp"

namespace {

TEST(Error, NamesOperationObjectAndErrno) {
  try {
    vs::throw_errno("mount tmpfs on", "/var/lib/vservers/web/tmp", ENOSPC);
    FAIL() << "no exception";
  } catch (const vs::Error& e) {
    EXPECT_STREQ(e.what(), "mount tmpfs on /var/lib/vservers/web/tmp: No space left on device");
    EXPECT_EQ(e.code(), ENOSPC);
  }
}

TEST(Error, ContextIsPrepended) {
  try {
    try {
      vs::throw_errno("open", "/x", ENOENT);
    } catch (const vs::Error& e) {
      vs::rethrow_with_context(e, "start guest web");
    }
    FAIL() << "nothing was thrown";
  } catch (const vs::Error& e) {
    EXPECT_STREQ(e.what(), "start guest web: open /x: No such file or directory");
    EXPECT_EQ(e.code(), ENOENT);
  }
}

TEST(File, SplitLinesAndTrim) {
  EXPECT_EQ(vs::split_lines("a\nb\n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(vs::split_lines("a\n\nb"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_TRUE(vs::split_lines("").empty());
  EXPECT_EQ(vs::trim("  x y \t\n"), "x y");
  EXPECT_EQ(vs::trim(" \n"), "");
}

TEST(File, AtomicWriteReplacesAndReadBack) {
  char tmpl[] = "/tmp/vs-sys-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::filesystem::path dir(tmpl);
  vs::write_file_atomic(dir / "f", "one\n");
  vs::write_file_atomic(dir / "f", "two\n", 0600);
  EXPECT_EQ(vs::read_file(dir / "f"), "two\n");
  EXPECT_EQ(std::filesystem::status(dir / "f").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_FALSE(vs::read_file_if_exists(dir / "missing").has_value());
  EXPECT_THROW(vs::read_file(dir / "missing"), vs::Error);
  // No temporary file stays behind.
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  EXPECT_EQ(n, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
