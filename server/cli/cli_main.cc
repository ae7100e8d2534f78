// tinyfleet: the operator CLI (see cli.h).
#include <iostream>

#include "server/cli/cli.h"

extern char** environ;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  tinyfleet::cli::Env env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("TINYFLEET_", 0) == 0) {
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  return tinyfleet::cli::RunCli(args, env, std::cout, std::cerr);
}
