// The --interface argument: util-vserver's forms and what is refused.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "config/interface_arg.hpp"
#include "sys/error.hpp"

TEST(ParseInterface, UtilVserverForms) {
  auto p = vs::config::parse_interface("192.0.2.1", "0");
  EXPECT_EQ(p.iface.id, "0");
  EXPECT_EQ(p.iface.ip, "192.0.2.1");
  EXPECT_EQ(p.iface.family, AF_INET);
  EXPECT_EQ(p.iface.prefix, 32);
  EXPECT_TRUE(p.iface.nodev);
  EXPECT_TRUE(p.nodev_defaulted);
  EXPECT_FALSE(p.iface.dev);

  p = vs::config::parse_interface("web=eth0:192.0.2.1/255.255.255.0", "1");
  EXPECT_EQ(p.iface.name, "web");
  EXPECT_EQ(p.iface.dev, "eth0");
  EXPECT_EQ(p.iface.prefix, 24);
  EXPECT_FALSE(p.iface.nodev);
  EXPECT_FALSE(p.nodev_defaulted);

  p = vs::config::parse_interface("nodev:192.0.2.12/32", "2");
  EXPECT_TRUE(p.iface.nodev);
  EXPECT_FALSE(p.nodev_defaulted);
  EXPECT_FALSE(p.iface.dev);

  p = vs::config::parse_interface("2001:db8::1/64", "3");
  EXPECT_EQ(p.iface.family, AF_INET6);
  EXPECT_EQ(p.iface.ip, "2001:db8::1");
  EXPECT_EQ(p.iface.prefix, 64);
  EXPECT_TRUE(p.nodev_defaulted);

  p = vs::config::parse_interface("eth0:2001:db8::1/64", "4");
  EXPECT_EQ(p.iface.dev, "eth0");
  EXPECT_EQ(p.iface.ip, "2001:db8::1");

  p = vs::config::parse_interface("abcd:[1::2]", "5");  // brackets: abcd is the device
  EXPECT_EQ(p.iface.dev, "abcd");
  EXPECT_EQ(p.iface.ip, "1::2");
  EXPECT_EQ(p.iface.prefix, 128);

  p = vs::config::parse_interface("[fe80::1]/10", "6");
  EXPECT_FALSE(p.iface.dev);
  EXPECT_EQ(p.iface.ip, "fe80::1");
  EXPECT_EQ(p.iface.prefix, 10);

  for (const char* bad : {"", "eth0:", "eth0:300.1.1.1", "192.0.2.1/33", "2001:db8::1/129",
                          "192.0.2.1/255.0.255.0", "a/b:192.0.2.1", "waytoolongdevicename:1.2.3.4",
                          "bad:label=eth0:1.2.3.4", "host.example.org", ":192.0.2.1"}) {
    EXPECT_THROW(vs::config::parse_interface(bad, "0"), vs::Error) << bad;
  }
}
