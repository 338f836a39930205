#include "cli/parse.hpp"

#include <iostream>
#include <string>

namespace vs::cli {

std::optional<int> parse_args(CLI::App& app, const Args& args, std::string_view what) {
  // CLI11 takes the arguments in reverse order.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::Success& e) {
    return app.exit(e, std::cout, std::cerr);
  } catch (const CLI::ParseError& e) {
    std::string prefix = what.empty() ? std::string() : std::string(what) + ": ";
    print_error(prefix + e.what() + " (try --help)");
    return 2;
  }
  return std::nullopt;
}

}  // namespace vs::cli
