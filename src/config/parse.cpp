#include "config/parse.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>

#include "sys/file.hpp"

namespace vs::config {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// fstab(5): "\040" and friends stand for characters that would break the field syntax.
std::string unescape_field(std::string_view f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 3 < f.size()) {
      auto oct = [](char c) { return c >= '0' && c <= '7'; };
      if (oct(f[i + 1]) && oct(f[i + 2]) && oct(f[i + 3])) {
        int v = (f[i + 1] - '0') * 64 + (f[i + 2] - '0') * 8 + (f[i + 3] - '0');
        if (v <= 0xff) {
          out += static_cast<char>(v);
          i += 3;
          continue;
        }
      }
    }
    out += f[i];
  }
  return out;
}

std::string escape_field(std::string_view f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    // Every character parse_fstab splits fields or lines at (isspace: also \r, \v, \f).
    bool escape = is_space(c) || c == '\\' || (c == '#' && i == 0);
    if (escape) {
      auto u = static_cast<unsigned char>(c);
      out += '\\';
      out += static_cast<char>('0' + ((u >> 6) & 7));
      out += static_cast<char>('0' + ((u >> 3) & 7));
      out += static_cast<char>('0' + (u & 7));
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<int> parse_fstab_number(std::string_view s) {
  auto v = parse_integer(s);
  if (!v || *v < 0 || *v > 9999) return std::nullopt;
  return static_cast<int>(*v);
}

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<long long> parse_integer(std::string_view s) {
  if (s.empty()) return std::nullopt;
  size_t digits_at = s.front() == '-' ? 1 : 0;
  if (digits_at == s.size()) return std::nullopt;
  for (size_t i = digits_at; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  long long v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> parse_disk_limit(std::string_view s, std::uint64_t max) {
  std::string l = to_lower(s);
  if (l == "-1" || l == "inf") return kUnlimited;
  if (s.empty() || s.front() == '-') return std::nullopt;
  auto v = parse_integer(s);
  if (!v || *v < 1 || static_cast<std::uint64_t>(*v) > max) return std::nullopt;
  return static_cast<std::uint64_t>(*v);
}

std::vector<std::string> split_options(std::string_view options) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= options.size()) {
    size_t comma = options.find(',', pos);
    if (comma == std::string_view::npos) comma = options.size();
    if (comma > pos) out.emplace_back(options.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

bool valid_tmpfs_size(std::string_view s) {
  if (s.empty()) return false;
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0) return false;
  std::string_view rest = s.substr(digits);
  if (rest.empty() || rest == "%") return true;
  return rest.size() == 1 &&
         std::string_view("kKmMgGtTpPeE").find(rest[0]) != std::string_view::npos;
}

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin();
  auto i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // the empty last element of "/a/b/"
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

std::optional<std::uint64_t> parse_limit(std::string_view s) {
  if (s == "inf" || s == "INF" || s == "Inf") return kUnlimited;
  if (s.empty()) return std::nullopt;
  // lib/parselimit.c knows K, M, k and m; G and g are our extension.
  constexpr std::uint64_t kKibi = 1024;
  constexpr std::uint64_t kKilo = 1000;
  std::uint64_t factor = 1;
  switch (s.back()) {
    case 'K':
      factor = kKibi;
      break;
    case 'M':
      factor = kKibi * kKibi;
      break;
    case 'G':
      factor = kKibi * kKibi * kKibi;
      break;
    case 'k':
      factor = kKilo;
      break;
    case 'm':
      factor = kKilo * kKilo;
      break;
    case 'g':
      factor = kKilo * kKilo * kKilo;
      break;
    default:
      break;
  }
  if (factor != 1) s.remove_suffix(1);
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    bool ok =
        base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0 : (c >= '0' && c <= '9');
    if (!ok) return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (v > kUnlimited / factor) return std::nullopt;
  return v * factor;
}

std::string format_limit(std::uint64_t v) {
  if (v == kUnlimited) return "inf";
  return std::to_string(v);
}

std::string format_size(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", v, units[u]) : fmt::format("{:.1f} {}", v, units[u]);
}

int address_family(std::string_view s) {
  std::string str(s);
  std::array<unsigned char, 16> buf{};
  if (::inet_pton(AF_INET, str.c_str(), buf.data()) == 1) return AF_INET;
  if (::inet_pton(AF_INET6, str.c_str(), buf.data()) == 1) return AF_INET6;
  return 0;
}

std::optional<int> mask_to_prefix(std::string_view mask, int family) {
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  std::string str(mask);
  std::array<unsigned char, 16> buf{};
  if (::inet_pton(family, str.c_str(), buf.data()) != 1) return std::nullopt;
  size_t len = family == AF_INET ? 4 : 16;
  int prefix = 0;
  bool zero_seen = false;
  for (size_t i = 0; i < len; ++i) {
    unsigned char b = buf[i];
    if (zero_seen) {
      if (b != 0) return std::nullopt;
      continue;
    }
    int ones = std::countl_one(b);
    // The bits after the leading ones must all be zero.
    if (ones < 8 && static_cast<unsigned char>(b << ones) != 0) return std::nullopt;
    prefix += ones;
    if (ones < 8) zero_seen = true;
  }
  return prefix;
}

bool valid_mac(std::string_view s) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i % 3 == 2) {
      if (s[i] != ':') return false;
    } else if (std::isxdigit(static_cast<unsigned char>(s[i])) == 0) {
      return false;
    }
  }
  return true;
}

bool valid_device_name(std::string_view s) {
  if (s.empty() || s.size() > 15) return false;
  for (char c : s) {
    if (c == '/' || c == ':' || is_space(c) || c == '\0') return false;
  }
  return true;
}

bool valid_environment_entry(std::string_view s) {
  size_t eq = s.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  for (size_t i = 0; i < eq; ++i) {
    char c = s[i];
    bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

FstabParse parse_fstab(std::string_view text) {
  FstabParse out;
  auto lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string_view line = trim(lines[n]);
    if (line.empty() || line.front() == '#') continue;
    std::string where = "line " + std::to_string(n + 1) + ": ";
    auto fields = split_fields(line);
    if (fields.size() < 4 || fields.size() > 6) {
      out.errors.push_back(where + "expected 4 to 6 fields (source target type options [dump " +
                           "[pass]]), found " + std::to_string(fields.size()));
      continue;
    }
    FstabEntry e;
    e.source = unescape_field(fields[0]);
    e.target = unescape_field(fields[1]);
    e.type = unescape_field(fields[2]);
    e.options = unescape_field(fields[3]);
    bool ok = true;
    if (e.target.empty() || e.target.front() != '/') {
      out.errors.push_back(where + "mount point \"" + e.target + "\" is not an absolute path");
      ok = false;
    }
    if (fields.size() > 4) {
      auto dump = parse_fstab_number(fields[4]);
      if (!dump) {
        out.errors.push_back(where + "dump field \"" + std::string(fields[4]) +
                             "\" is not a number");
        ok = false;
      } else {
        e.dump = *dump;
      }
    }
    if (fields.size() > 5) {
      auto pass = parse_fstab_number(fields[5]);
      if (!pass) {
        out.errors.push_back(where + "pass field \"" + std::string(fields[5]) +
                             "\" is not a number");
        ok = false;
      } else {
        e.pass = *pass;
      }
    }
    if (ok) out.entries.push_back(std::move(e));
  }
  return out;
}

std::string format_fstab(const std::vector<FstabEntry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    out += escape_field(e.source) + ' ' + escape_field(e.target) + ' ' + escape_field(e.type) +
           ' ' + escape_field(e.options) + ' ' + std::to_string(e.dump) + ' ' +
           std::to_string(e.pass) + '\n';
  }
  return out;
}

std::optional<std::vector<int>> parse_killseq(const std::vector<std::string>& lines,
                                              std::string& error) {
  std::vector<std::string_view> fields;
  for (const auto& l : lines) {
    for (auto f : split_fields(l)) fields.push_back(f);
  }
  if (fields.empty()) {
    error = "empty kill sequence (expected \"signal [wait signal]*\", e.g. 15 5 9)";
    return std::nullopt;
  }
  if (fields.size() % 2 == 0) {
    error = "kill sequence has " + std::to_string(fields.size()) +
            " fields; expected \"signal [wait signal]*\" (an odd number)";
    return std::nullopt;
  }
  std::vector<int> seq;
  for (size_t i = 0; i < fields.size(); ++i) {
    auto v = parse_integer(fields[i]);
    if (i % 2 == 0) {
      if (!v || *v < 1 || *v > 64) {
        error = fmt::format("\"{}\" is not a signal number (1..64)", fields[i]);
        return std::nullopt;
      }
    } else if (!v || *v < 0 || *v > 86400) {
      error = fmt::format("\"{}\" is not a wait in seconds (0..86400)", fields[i]);
      return std::nullopt;
    }
    seq.push_back(static_cast<int>(*v));
  }
  return seq;
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  std::string_view s = trim(text);
  for (std::string_view word : {"inf", "max", "unlimited", "infinity"}) {
    if (iequals(s, word)) return kUnlimited;
  }
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  std::string_view whole = s.substr(0, i);
  if (whole.empty()) return std::nullopt;
  std::string_view fraction;
  if (i < s.size() && s[i] == '.') {
    std::size_t start = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    fraction = s.substr(start, i - start);
    if (fraction.empty()) return std::nullopt;
  }
  while (i < s.size() && s[i] == ' ') ++i;
  std::string_view unit = s.substr(i);

  std::uint64_t mult = 1;
  if (!unit.empty() && !iequals(unit, "b")) {
    constexpr std::string_view kPrefixes = "kmgt";
    auto p = kPrefixes.find(static_cast<char>(std::tolower(static_cast<unsigned char>(unit[0]))));
    std::string_view rest = unit.substr(1);
    if (p == std::string_view::npos ||
        !(rest.empty() || iequals(rest, "b") || iequals(rest, "ib"))) {
      return std::nullopt;
    }
    mult = std::uint64_t{1} << (10 * (p + 1));
  }
  // A fraction of a byte means nothing; of a KiB and up it is a whole number of bytes (rounded
  // down).
  if (!fraction.empty() && mult == 1) return std::nullopt;

  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), n);
  if (ec != std::errc() || end != whole.data() + whole.size()) return std::nullopt;
  std::uint64_t v = 0;
  if (__builtin_mul_overflow(n, mult, &v)) return std::nullopt;
  if (!fraction.empty()) {
    // Up to 18 digits are exact in 128 bits times a multiplier below 2^50.
    std::string_view digits = fraction.substr(0, 18);
    unsigned __int128 f = 0;
    unsigned __int128 scale = 1;
    for (char d : digits) {
      f = f * 10 + static_cast<unsigned>(d - '0');
      scale *= 10;
    }
    auto extra = static_cast<std::uint64_t>(f * mult / scale);
    if (__builtin_add_overflow(v, extra, &v)) return std::nullopt;
  }
  return v;
}

std::optional<double> parse_cpus(std::string_view text) {
  std::string_view s = trim(text);
  bool percent = !s.empty() && s.back() == '%';
  if (percent) s = trim(s.substr(0, s.size() - 1));
  // Plain decimal only: from_chars alone would also take "inf", "nan" and exponents.
  std::size_t dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (!is_digit(c)) {
      return std::nullopt;
    }
  }
  if (s.empty() || dots > 1 || !is_digit(s.front()) || !is_digit(s.back())) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (percent) v /= 100;
  if (!std::isfinite(v) || !(v > 0)) return std::nullopt;
  return v;
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes == kUnlimited) return "max";
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr std::array<const char*, 6> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t u = 0;
  while (u + 1 < kUnits.size() && bytes >> (10 * (u + 2)) != 0) ++u;
  std::uint64_t unit = std::uint64_t{1} << (10 * (u + 1));
  if (bytes % unit == 0) return std::to_string(bytes / unit) + " " + kUnits[u];
  double v = static_cast<double>(bytes) / static_cast<double>(unit);
  // 1023.96 KiB would print as "1024.0 KiB": say 1.0 MiB instead.
  if (std::round(v * 10) >= 10240 && u + 1 < kUnits.size()) {
    ++u;
    v /= 1024;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace vs::config
