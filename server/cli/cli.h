// The `tinyfleet` operator command over the gRPC FleetService. Human tables
// by default, --json for scripts. RunCli is the whole program minus process
// setup, so tests drive it in-process.
#ifndef TINYFLEET_SERVER_CLI_CLI_H_
#define TINYFLEET_SERVER_CLI_CLI_H_

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace tinyfleet::cli {

// Environment variables the CLI reads (TINYFLEET_ADDRESS, TINYFLEET_CA,
// TINYFLEET_TOKEN, TINYFLEET_TOKEN_FILE); main() passes the process
// environment, tests pass their own.
using Env = std::map<std::string, std::string>;

// `args` excludes the program name. Returns the exit code: 0 success,
// 1 the call failed, 2 bad usage.
int RunCli(const std::vector<std::string>& args, const Env& env,
           std::ostream& out, std::ostream& err);

}  // namespace tinyfleet::cli

#endif  // TINYFLEET_SERVER_CLI_CLI_H_
