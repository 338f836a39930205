// The vserver helper's request (runtime/helper.hpp): what the library asks the helper process is
// what the helper reads back, and what it cannot read is an error.
#include <gtest/gtest.h>

#include "runtime/helper.hpp"
#include "sys/error.hpp"

namespace vs::runtime::detail {
namespace {

HelperRequest round_trip(const HelperRequest& r) {
  return parse_helper_args(helper_args(r));
}

TEST(HelperArgs, StartStopExecRoundTrip) {
  HelperRequest s;
  s.action = HelperRequest::Action::start;
  s.guest = "web";
  s.start.foreground = true;
  HelperRequest back = round_trip(s);
  EXPECT_EQ(back.action, HelperRequest::Action::start);
  EXPECT_EQ(back.guest, "web");
  EXPECT_TRUE(back.start.foreground);

  HelperRequest t;
  t.action = HelperRequest::Action::stop;
  t.guest = "db";
  t.stop.timeout = 7;
  back = round_trip(t);
  EXPECT_EQ(back.action, HelperRequest::Action::stop);
  EXPECT_EQ(back.stop.timeout, 7);
  t.stop.timeout.reset();
  EXPECT_FALSE(round_trip(t).stop.timeout.has_value());

  HelperRequest e;
  e.action = HelperRequest::Action::exec;
  e.guest = "mail";
  e.exec.user = "nobody";
  e.exec.tty = Tty::always;
  e.exec.login = true;
  e.exec.environment = {"A=1", "B=--"};
  // Arguments that look like the helper's own options stay the command's.
  e.exec.argv = {"sh", "-c", "echo --user -- --tty", "--login"};
  back = round_trip(e);
  EXPECT_EQ(back.action, HelperRequest::Action::exec);
  EXPECT_EQ(back.exec.user, "nobody");
  EXPECT_EQ(back.exec.tty, Tty::always);
  EXPECT_TRUE(back.exec.login);
  EXPECT_EQ(back.exec.environment, e.exec.environment);
  EXPECT_EQ(back.exec.argv, e.exec.argv);
}

TEST(HelperArgs, RefusesWhatItCannotRead) {
  EXPECT_THROW(parse_helper_args({}), Error);
  EXPECT_THROW(parse_helper_args({"start"}), Error);
  EXPECT_THROW(parse_helper_args({"reboot", "web"}), Error);
  EXPECT_THROW(parse_helper_args({"start", "../etc"}), Error);
  EXPECT_THROW(parse_helper_args({"start", "web", "--force"}), Error);
  EXPECT_THROW(parse_helper_args({"stop", "web", "--timeout"}), Error);
  EXPECT_THROW(parse_helper_args({"stop", "web", "--timeout", "-1"}), Error);
  EXPECT_THROW(parse_helper_args({"stop", "web", "--timeout", "5s"}), Error);
  EXPECT_THROW(parse_helper_args({"exec", "web", "ls"}), Error);
  EXPECT_THROW(parse_helper_args({"exec", "web", "--"}), Error);
  EXPECT_THROW(parse_helper_args({"exec", "web", "--tty", "sometimes", "--", "ls"}), Error);
}

}  // namespace
}  // namespace vs::runtime::detail
