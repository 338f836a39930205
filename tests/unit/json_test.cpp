// Numbers read from JSON (state records, export manifests): range-checked, never converted with
// undefined behaviour or wrapped; a bad one is an error naming the field.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "config/model.hpp"
#include "provision/build.hpp"
#include "state/state.hpp"
#include "sys/error.hpp"
#include "sys/json.hpp"

namespace {

using vs::json::Json;

// The message of the vs::Error that f throws; fails the test when it throws none.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const vs::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no vs::Error thrown";
  return {};
}

TEST(JsonInteger, InRangeValues) {
  Json j = Json::parse(R"({"a": 5, "b": -7, "c": 18446744073709551615, "d": 0})");
  EXPECT_EQ(vs::json::integer<int>(j, "a"), 5);
  EXPECT_EQ(vs::json::integer<int>(j, "b"), -7);
  EXPECT_EQ(vs::json::integer<std::uint64_t>(j, "c"), UINT64_MAX);
  EXPECT_EQ(vs::json::integer<std::uint64_t>(j, "d"), 0U);
  EXPECT_EQ(vs::json::integer<int>(j, "a", 5, 5), 5);
  // A value built in memory (number_integer, not number_unsigned) reads the same.
  Json built = {{"a", 5}};
  EXPECT_EQ(vs::json::integer<std::uint32_t>(built, "a"), 5U);
}

TEST(JsonInteger, OutOfRangeIsAnErrorNamingTheField) {
  // The shape a fuzzer found in a state record: a float far outside long's range.
  Json j = Json::parse(R"({"big": 5.7e+21, "huge": 18446744073709551615, "neg": -1,
                          "wide": 4294967296, "frac": 2.5, "whole": 3.0, "s": "12", "n": null})");
  EXPECT_EQ(error_of([&] { vs::json::integer<long>(j, "big"); }),
            "field 'big' 5.7e+21 is not an integer between -9223372036854775808 and "
            "9223372036854775807");
  EXPECT_NE(error_of([&] { vs::json::integer<std::int64_t>(j, "huge"); }).find("field 'huge'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { vs::json::integer<std::uint64_t>(j, "neg"); }).find("field 'neg' -1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { vs::json::integer<int>(j, "wide"); }).find("field 'wide' 4294967296"),
            std::string::npos);
  EXPECT_NE(error_of([&] { vs::json::integer<int>(j, "frac"); }).find("field 'frac'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { vs::json::integer<int>(j, "whole"); }).find("field 'whole'"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { vs::json::integer<int>(j, "s"); }), "field 's' is string, not a number");
  EXPECT_EQ(error_of([&] { vs::json::integer<int>(j, "n"); }), "field 'n' is null, not a number");
  EXPECT_EQ(error_of([&] { vs::json::integer<int>(j, "absent"); }), "field 'absent' is missing");
  EXPECT_EQ(error_of([&] { vs::json::integer<int>(j, "neg", 1); }),
            "field 'neg' -1 is not an integer between 1 and 2147483647");
  EXPECT_FALSE(vs::json::optional_integer<int>(j, "n").has_value());
  EXPECT_FALSE(vs::json::optional_integer<int>(j, "absent").has_value());
}

constexpr const char* kRecord = R"({
  "name": "web", "context": 40001, "supervisor_pid": 1200, "init_pid": 1234,
  "init_start_ticks": 5678, "started_at_ms": 1700000000000, "cgroup": "/sys/fs/cgroup/x"})";

std::string record_with(const std::string& field, const std::string& value) {
  std::string r = kRecord;
  auto at = r.find("\"" + field + "\": ");
  EXPECT_NE(at, std::string::npos) << field;
  auto from = at + field.size() + 4;
  r.replace(from, r.find_first_of(",}", from) - from, value);
  return r;
}

TEST(StateRecord, ReadsAGoodRecord) {
  auto st = vs::state::parse_state(kRecord);
  EXPECT_EQ(st.name, "web");
  EXPECT_EQ(st.context, 40001);
  EXPECT_EQ(st.supervisor_pid, 1200);
  EXPECT_EQ(st.init_pid, 1234);
  EXPECT_EQ(st.init_start_ticks, 5678U);
  EXPECT_EQ(st.started_at_ms, 1700000000000);
}

TEST(StateRecord, ReadsTheDynamicContextsOfGuestsWithoutAContextFile) {
  for (int id : {vs::config::kFirstDynamicContext, vs::config::kLastDynamicContext}) {
    EXPECT_EQ(vs::state::parse_state(record_with("context", std::to_string(id))).context, id);
  }
}

TEST(StateRecord, BadNumbersAreErrorsNamingTheField) {
  EXPECT_EQ(error_of([&] { vs::state::parse_state(record_with("context", "5.7e+21")); }),
            "corrupt state record (field 'context' 5.7e+21 is not an integer between 0 and 65535)");
  EXPECT_EQ(error_of([&] { vs::state::parse_state(record_with("context", "65536")); }),
            "corrupt state record (field 'context' 65536 is not an integer between 0 and 65535)");
  // pid 0 and -1 would make kill() reach the caller's process group or every process.
  for (const char* pid : {"0", "-1", "4294967297", "1e9"}) {
    EXPECT_NE(error_of([&] {
                vs::state::parse_state(record_with("init_pid", pid));
              }).find("field 'init_pid' "),
              std::string::npos)
        << pid;
    EXPECT_NE(error_of([&] {
                vs::state::parse_state(record_with("supervisor_pid", pid));
              }).find("field 'supervisor_pid' "),
              std::string::npos)
        << pid;
  }
  EXPECT_NE(error_of([&] {
              vs::state::parse_state(record_with("init_start_ticks", "-5"));
            }).find("field 'init_start_ticks' -5"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              vs::state::parse_state(record_with("started_at_ms", "1e300"));
            }).find("field 'started_at_ms'"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { vs::state::parse_state("[1]"); }),
            "corrupt state record (the record is array, not an object)");
}

TEST(ExportManifest, BadNumbersAreErrorsNamingTheField) {
  const std::string good =
      R"({"format": "vserver-export", "version": 1, "name": "web", "context": 40001})";
  auto m = vs::provision::parse_export_manifest(good);
  EXPECT_EQ(m.name, "web");
  EXPECT_EQ(m.context, 40001);
  EXPECT_FALSE(vs::provision::parse_export_manifest(
                   R"({"format": "vserver-export", "version": 1, "name": "w", "context": null})")
                   .context.has_value());
  EXPECT_EQ(error_of([] {
              vs::provision::parse_export_manifest(
                  R"({"format": "vserver-export", "version": 1e30, "name": "web"})");
            }),
            "not a manifest: field 'version' 1e+30 is not an integer between -2147483648 and "
            "2147483647");
  EXPECT_EQ(error_of([] {
              vs::provision::parse_export_manifest(
                  R"({"format": "vserver-export", "version": 1, "name": "w", "context": 70000})");
            }),
            "not a manifest: field 'context' 70000 is not an integer between 2 and 49151");
  EXPECT_EQ(error_of([] {
              vs::provision::parse_export_manifest(
                  R"({"format": "vserver-export", "version": 2, "name": "w"})");
            }),
            "export format version 2 is not known to this vserver (1)");
}

}  // namespace
