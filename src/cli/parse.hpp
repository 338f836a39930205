// Argument parsing shared by the command front ends.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string_view>

#include "cli/commands.hpp"

namespace vs::cli {

// Parses a command's arguments with app. Returns the exit status when the command is already
// done — 0 after --help, 2 after a usage error (reported as "PROG: WHAT: error (try --help)") —
// or nullopt to go on.
std::optional<int> parse_args(CLI::App& app, const Args& args, std::string_view what = {});

}  // namespace vs::cli
