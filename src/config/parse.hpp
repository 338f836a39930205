// Value parsers and formatters for the configuration tree. Internal to src/config (and its tests):
// each parser checks one kind of value and says nothing about files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace vs::config {

// ASCII lower case.
std::string to_lower(std::string_view s);

// A decimal integer, optionally negative, nothing else (no spaces, no '+', no suffix); nullopt if
// it is not one or does not fit.
std::optional<long long> parse_integer(std::string_view s);

// A resource-limit value as lib/parselimit.c reads it: decimal or 0x-hex, optionally followed by
// K/M (×1024) or k/m (×1000), or "inf" (kUnlimited). G (×1024³) and g (×1000³) are our extension.
// nullopt if malformed or too large.
std::optional<std::uint64_t> parse_limit(std::string_view s);
// The inverse: "inf" for kUnlimited, else the decimal value.
std::string format_limit(std::uint64_t v);
// A size for people to read: "512 B", "1.5 KiB", "3.2 GiB" (binary units, one decimal).
std::string format_size(std::uint64_t bytes);

// AF_INET or AF_INET6 when s is a textual address of that family (inet_pton), else 0.
int address_family(std::string_view s);
// The prefix length of a contiguous netmask of the given family ("255.255.255.0" → 24); nullopt
// if the mask is not an address of that family or its one-bits are not contiguous.
std::optional<int> mask_to_prefix(std::string_view mask, int family);
// xx:xx:xx:xx:xx:xx with hex digits.
bool valid_mac(std::string_view s);
// A network device name: 1..15 characters, no '/', ':' or whitespace.
bool valid_device_name(std::string_view s);
// An environment entry VAR=VAL with VAR of [A-Za-z_][A-Za-z0-9_]*.
bool valid_environment_entry(std::string_view s);

// fstab(5) syntax: whitespace-separated fields, 4 to 6 of them, '#' lines and blank lines skipped,
// octal escapes (\040 for a space) decoded. Mount points must be absolute. Every bad line is
// reported as "line N: ..." and skipped.
struct FstabParse {
  std::vector<FstabEntry> entries;
  std::vector<std::string> errors;
};
FstabParse parse_fstab(std::string_view text);
// One line per entry, fields escaped so that parse_fstab returns the same entries.
std::string format_fstab(const std::vector<FstabEntry>& entries);

// dlimits/N/space_total and inodes_total: a decimal count from 1 to max, or "-1" / "inf" for no
// limit (kUnlimited), as vdlimit prints infinity. nullopt otherwise (0 included: it would leave
// the guest nothing).
inline constexpr std::uint64_t kMaxDiskSpaceKiB = std::uint64_t{1} << 53;  // 8 EiB in bytes
inline constexpr std::uint64_t kMaxDiskInodes = std::uint64_t{1} << 53;
std::optional<std::uint64_t> parse_disk_limit(std::string_view s, std::uint64_t max);

// Mount options split at commas, empty items dropped.
std::vector<std::string> split_options(std::string_view options);
// A tmpfs size= value: a number of bytes with an optional k, m, g, t, p or e suffix (either case),
// or a percentage of RAM ("50%").
bool valid_tmpfs_size(std::string_view s);

// Whether inner is outer or below it, component by component (both normalised by the caller).
bool is_within(const fs::path& inner, const fs::path& outer);

// apps/init/killseq: "signal [wait signal]*" spread over any number of lines (whitespace or
// newlines separate fields). Signals 1..64, waits in seconds ≥ 0. On error returns nullopt and
// sets error.
std::optional<std::vector<int>> parse_killseq(const std::vector<std::string>& lines,
                                              std::string& error);

// Legacy context capability aliases resolved ("ping" → "raw_icmp"), any case; nullopt when the
// name is not a context capability. Defined in capabilities.cpp next to the table.
std::optional<std::string_view> canonical_context_capability(std::string_view name);

// Parses a byte quantity: "1048576", "512K", "64M", "2G", "1T", "64MiB", "64MB" (x1024 each), or
// inf/max/unlimited (kUnlimited). nullopt when malformed or overflowing.
std::optional<std::uint64_t> parse_bytes(std::string_view text);
// Parses limits/cpu: "0.25", "1.5" (CPUs) or "25%" (of one CPU). nullopt when malformed or <= 0.
std::optional<double> parse_cpus(std::string_view text);

// Human byte formatting for limit show: "20.0 MiB", "512 KiB", "max".
std::string format_bytes(std::uint64_t bytes);

}  // namespace vs::config
