// libarchive is loaded at run time by the template build method: a missing library or function
// is an error that says what to install.
#include <gtest/gtest.h>

#include <string>

#include "provision/libarchive.hpp"
#include "sys/error.hpp"

namespace {

using vs::provision::detail::LibArchive;

std::string load_error(const char* soname) {
  try {
    LibArchive la(soname);
  } catch (const vs::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(LibArchiveLoader, LoadsEveryFunction) {
  const LibArchive& la = LibArchive::get();
  EXPECT_EQ(&la, &LibArchive::get());
  ASSERT_NE(la.read_new, nullptr);
  ASSERT_NE(la.entry_rdevminor, nullptr);
  struct archive* a = la.read_new();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(la.read_support_format_all(a), ARCHIVE_OK);
  EXPECT_EQ(la.read_free(a), ARCHIVE_OK);
}

TEST(LibArchiveLoader, MissingLibraryIsNamed) {
  std::string msg = load_error("libvserver-test-absent.so.13");
  EXPECT_EQ(
      msg.rfind("load libvserver-test-absent.so.13 (needed to unpack template archives): ", 0), 0U)
      << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  EXPECT_NE(msg.find("install libarchive (Debian: libarchive13)"), std::string::npos) << msg;
}

TEST(LibArchiveLoader, MissingFunctionIsNamed) {
  // A library that loads but is not libarchive.
  std::string msg = load_error("libc.so.6");
  EXPECT_EQ(msg.rfind("load libarchive: archive_read_new is missing in libc.so.6: ", 0), 0U) << msg;
}

}  // namespace
