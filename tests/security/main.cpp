// The security tests' main: runs them and, at the end, counts the escape battery (the tests of the
// suites named Escape*, parameterised ones included): every one that ran is a technique tried, every one that failed a technique
// that escaped.
#include <gtest/gtest.h>

#include <cstdio>
#include <string_view>

namespace {

class BatteryCount : public ::testing::EmptyTestEventListener {
 public:
  void OnTestEnd(const ::testing::TestInfo& t) override {
    std::string_view suite = t.test_suite_name();  // "Escape...", or "Prefix/Escape..."
    if (suite.rfind("Escape", 0) != 0 && suite.find("/Escape") == std::string_view::npos) return;
    if (t.result()->Skipped()) return;
    ++tried_;
    if (t.result()->Failed()) {
      ++escaped_;
      std::printf("escaped: %s.%s\n", t.test_suite_name(), t.name());
    }
  }
  void OnTestProgramEnd(const ::testing::UnitTest& /*unit*/) override {
    if (tried_ > 0) std::printf("escape battery: %d tried, %d escaped\n", tried_, escaped_);
    std::fflush(stdout);
  }

 private:
  int tried_ = 0;
  int escaped_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new BatteryCount);
  return RUN_ALL_TESTS();
}
