// Typed reads of fields from a parsed JSON object (nlohmann::json). Every number the library reads
// from JSON goes through integer(): nlohmann's own get<int>() converts a floating-point value with
// static_cast (undefined behaviour when it does not fit) and wraps an integer that does not fit,
// so a damaged record could name pid -1 or a context that never existed. Here a missing field, a
// value of another type and a number outside [min, max] are each a vs::Error naming the field;
// the caller adds the file.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "sys/error.hpp"

namespace vs::json {

using Json = nlohmann::json;

// Throws unless v is a JSON object; what names it ("the state record").
inline void require_object(const Json& v, std::string_view what) {
  if (!v.is_object()) throw Error(std::string(what) + " is " + v.type_name() + ", not an object");
}

namespace detail {

[[noreturn]] inline void bad_field(std::string_view key, const std::string& why) {
  throw Error("field '" + std::string(key) + "' " + why);
}

}  // namespace detail

// The integer field key of obj, which must lie in [min, max] (by default, T's range). Integral
// values only: 3.0 and 1e3 are refused like 3.5, since no writer of ours writes them.
template <std::integral T>
T integer(const Json& obj, std::string_view key, T min = std::numeric_limits<T>::min(),
          T max = std::numeric_limits<T>::max()) {
  auto it = obj.find(key);
  if (it == obj.end()) detail::bad_field(key, "is missing");
  const Json& v = *it;
  auto out_of_range = [&] {
    detail::bad_field(key, v.dump() + " is not an integer between " + std::to_string(min) +
                               " and " + std::to_string(max));
  };
  if (v.is_number_integer()) {  // number_integer or number_unsigned
    if (v.is_number_unsigned() || v.get<std::int64_t>() >= 0) {
      auto u = v.get<std::uint64_t>();
      if (min > 0 && u < static_cast<std::uint64_t>(min)) out_of_range();
      if (max < 0 || u > static_cast<std::uint64_t>(max)) out_of_range();
      return static_cast<T>(u);
    }
    auto s = v.get<std::int64_t>();  // negative: int64 holds every negative value of T
    if constexpr (std::is_unsigned_v<T>) {
      out_of_range();
    } else {
      if (s < static_cast<std::int64_t>(min) || s > static_cast<std::int64_t>(max)) out_of_range();
      return static_cast<T>(s);
    }
  }
  if (v.is_number()) out_of_range();  // a floating-point number
  detail::bad_field(key, "is " + std::string(v.type_name()) + ", not a number");
}

// As integer(), or nullopt when the field is absent or null.
template <std::integral T>
std::optional<T> optional_integer(const Json& obj, std::string_view key,
                                  T min = std::numeric_limits<T>::min(),
                                  T max = std::numeric_limits<T>::max()) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  return integer<T>(obj, key, min, max);
}

// The string field key of obj.
inline std::string string(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end()) detail::bad_field(key, "is missing");
  if (!it->is_string())
    detail::bad_field(key, "is " + std::string(it->type_name()) + ", not a string");
  return it->get<std::string>();
}

}  // namespace vs::json
