// Shared host links (VLAN devices made for vlandev): the last user, and only it, is told to
// remove the link; a link vserver did not make is never its to remove.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "config/roots.hpp"
#include "state/shared_links.hpp"

namespace {

namespace fs = std::filesystem;

TEST(SharedLinks, TheLastUserRemoves) {
  char tmpl[] = "/tmp/vs-links-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  vs::config::Roots roots;
  roots.run = tmpl;
  {
    vs::state::SharedLinks shared(roots);
    EXPECT_FALSE(shared.owned("eth0.7"));
    // Not vserver's: dropping a use of it never asks for its removal.
    EXPECT_FALSE(shared.drop_user("eth0.7", "a"));
    shared.add_user("eth0.7", "a");
    shared.add_user("eth0.7", "b");
    shared.add_user("eth0.7", "b");  // twice is once
    EXPECT_TRUE(shared.owned("eth0.7"));
  }
  {
    vs::state::SharedLinks shared(roots);
    EXPECT_FALSE(shared.drop_user("eth0.7", "a"));
    EXPECT_FALSE(shared.drop_user("eth0.7", "a"));  // a second drop by the same guest
    EXPECT_TRUE(shared.owned("eth0.7"));
    EXPECT_TRUE(shared.drop_user("eth0.7", "b"));
    EXPECT_FALSE(shared.owned("eth0.7"));
    EXPECT_FALSE(fs::exists(roots.run / ".links" / "eth0.7"));
  }
  fs::remove_all(tmpl);
}

}  // namespace
