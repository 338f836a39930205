// Debian helpers of the build: apt sources, debootstrap's status output, the progress line.
#include <gtest/gtest.h>

#include <fstream>

#include "provision/debian.hpp"

namespace {

using vs::provision::AptSource;
using vs::provision::DebootstrapStatus;

TEST(AptSources, OneLineFormat) {
  auto s = vs::provision::parse_sources_list(
      "# comment\n"
      "deb http://a.example/debian bookworm main contrib\n"
      "deb-src http://a.example/debian bookworm main\n"
      "deb [arch=amd64 signed-by=/k.gpg] https://b.example/debian trixie main # tail\n"
      "deb [ arch=amd64 ] http://c.example/debian sid main\n"
      "deb http://broken\n");
  ASSERT_EQ(s.size(), 3U);
  EXPECT_EQ(s[0].uri, "http://a.example/debian");
  EXPECT_EQ(s[0].suites, std::vector<std::string>{"bookworm"});
  EXPECT_EQ(s[0].components, (std::vector<std::string>{"main", "contrib"}));
  EXPECT_EQ(s[1].uri, "https://b.example/debian");
  EXPECT_EQ(s[1].suites, std::vector<std::string>{"trixie"});
  EXPECT_EQ(s[2].uri, "http://c.example/debian");
}

TEST(AptSources, Deb822Format) {
  auto s = vs::provision::parse_deb822_sources(
      "Types: deb deb-src\n"
      "# a comment\n"
      "URIs: http://a.example/debian http://mirror2.example/debian\n"
      "Suites: bookworm bookworm-updates\n"
      "Components: main\n"
      "\n"
      "Types: deb\n"
      "URIs: http://off.example/debian\n"
      "Suites: bookworm\n"
      "Enabled: no\n"
      "\n"
      "Types: deb-src\n"
      "URIs: http://src.example/debian\n"
      "Suites: bookworm\n"
      "\n"
      "Types: deb\n"
      "URIs: http://sec.example/debian-security\n"
      "Suites:\n"
      " bookworm-security\n");
  ASSERT_EQ(s.size(), 3U);
  EXPECT_EQ(s[0].uri, "http://a.example/debian");
  EXPECT_EQ(s[1].uri, "http://mirror2.example/debian");
  EXPECT_EQ(s[0].suites, (std::vector<std::string>{"bookworm", "bookworm-updates"}));
  EXPECT_EQ(s[2].suites, std::vector<std::string>{"bookworm-security"});
}

TEST(AptSources, MirrorForSuiteFallsBackToTheHostsSuite) {
  std::vector<AptSource> s{{"http://sec.example/ds", {"bookworm-security"}, {}},
                           {"http://a.example/debian", {"bookworm", "bookworm-updates"}, {}}};
  EXPECT_EQ(vs::provision::mirror_for_suite(s, "bookworm", "bookworm"), "http://a.example/debian");
  EXPECT_EQ(vs::provision::mirror_for_suite(s, "trixie", "bookworm"), "http://a.example/debian");
  EXPECT_EQ(vs::provision::mirror_for_suite(s, "trixie", "jammy"), std::nullopt);
  EXPECT_EQ(vs::provision::mirror_for_suite({}, "trixie", "bookworm"), std::nullopt);
}

TEST(AptSources, CodenameFromOsRelease) {
  std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/osr1")
      << "NAME=\"Debian\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\n";
  std::ofstream(dir + "/osr2") << "VERSION=\"11 (bullseye)\"\n";
  std::ofstream(dir + "/osr3") << "NAME=Other\n";
  EXPECT_EQ(vs::provision::host_codename(dir + "/osr1"), "bookworm");
  EXPECT_EQ(vs::provision::host_codename(dir + "/osr2"), "bullseye");
  EXPECT_EQ(vs::provision::host_codename(dir + "/osr3"), "");
  EXPECT_EQ(vs::provision::host_codename(dir + "/missing"), "");
}

TEST(DebootstrapStatus, StagesAndPackageCounts) {
  DebootstrapStatus st;
  EXPECT_FALSE(st.feed("P: 0 100 DOWNREL"));
  EXPECT_TRUE(st.feed("PF: Downloading Release file"));
  EXPECT_EQ(st.progress().stage, "Downloading Release file");
  // Validating the Release file is not a package.
  st.feed("I: VALIDATING");
  st.feed("IA: Release");
  st.feed("IF: Validating %s %s");
  st.feed("I: VALIDATING");
  st.feed("IA: Packages");
  st.feed("IF: Validating %s");
  EXPECT_EQ(st.progress().done, 0);
  EXPECT_EQ(st.progress().action, "");
  st.feed("P: 3 121 SIZEDEBS");
  st.feed("PF: Finding package sizes");
  EXPECT_EQ(st.progress().total, 121);
  for (const char* pkg : {"libc6", "bash"}) {
    st.feed("I: VALIDATING");
    st.feed(std::string("IA: ") + pkg);
    st.feed("IA: 1.0");
    EXPECT_TRUE(st.feed("IF: Validating %s %s"));
  }
  EXPECT_EQ(st.progress().action, "retrieve");
  EXPECT_EQ(st.progress().done, 2);
  st.feed("P: 10 121 UNPACKBASE");
  st.feed("PF: Unpacking the base system");
  st.feed("I: UNPACKING");
  st.feed("IA: bash");
  st.feed("IF: Unpacking %s...");
  EXPECT_EQ(st.progress().action, "unpack");
  EXPECT_EQ(st.progress().done, 1);
  EXPECT_EQ(vs::provision::render_progress(st.progress(), 65000),
            "[1:05] Unpacking the base system: unpack 1/121 packages");
  // Unrelated lines change nothing.
  EXPECT_FALSE(st.feed("dpkg: warning: something"));
  EXPECT_TRUE(st.take_messages().empty());
}

TEST(DebootstrapStatus, WarningsAndErrorsAreFormatted) {
  DebootstrapStatus st;
  st.feed("E: COULDNTDL");
  st.feed("EA: cron");
  st.feed("EF: Couldn't download package %s");
  st.feed("W: RETRYING");
  st.feed("WF: Retrying failed download of %s");
  auto m = st.take_messages();
  ASSERT_EQ(m.size(), 2U);
  EXPECT_EQ(m[0], "error: Couldn't download package cron");
  EXPECT_EQ(m[1], "warning: Retrying failed download of ");
  EXPECT_TRUE(st.take_messages().empty());
}

TEST(DebootstrapStatus, FormatSubstitutesInOrder) {
  EXPECT_EQ(vs::provision::format_debootstrap("%s-%s 100%%", {"a", "b"}), "a-b 100%");
  EXPECT_EQ(vs::provision::format_debootstrap("%s %d", {"x"}), "x ");
}

}  // namespace
