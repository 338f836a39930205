// The names in a guest's /etc/hosts follow a rename; nothing else in the file changes.
#include <gtest/gtest.h>

#include "provision/build.hpp"

namespace {

TEST(RenameHosts, NamesAndDomainsFollowAddressesAndCommentsStay) {
  std::string in =
      "127.0.0.1\tlocalhost\n"
      "127.0.1.1\tweb web.example.org  # web is here\n"
      "# web\n"
      "192.0.2.10 webmail web\n"
      "\n"
      "::1 localhost ip6-localhost\n";
  std::string out = vs::provision::rename_hosts_entries(in, "web", "www");
  EXPECT_EQ(out,
            "127.0.0.1\tlocalhost\n"
            "127.0.1.1\twww www.example.org  # web is here\n"
            "# web\n"
            "192.0.2.10 webmail www\n"
            "\n"
            "::1 localhost ip6-localhost\n");
}

TEST(RenameHosts, AnAddressEqualToTheNameIsNotAName) {
  EXPECT_EQ(vs::provision::rename_hosts_entries("web web\n", "web", "www"), "web www\n");
  EXPECT_EQ(vs::provision::rename_hosts_entries("10.0.0.1 other\n", "web", "www"),
            "10.0.0.1 other\n");
}

}  // namespace
