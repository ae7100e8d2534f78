// tinyfleet-gateway: parses flags, starts the Gateway, and shuts it down
// cleanly on SIGINT or SIGTERM.
#include <boost/program_options.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "common/log.h"
#include "server/main/gateway.h"

namespace po = boost::program_options;
using tinyfleet::gateway::Gateway;
using tinyfleet::gateway::GatewayOptions;

namespace {
bool SplitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  try {
    unsigned long p = std::stoul(text.substr(colon + 1));
    if (p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  GatewayOptions opt;
  std::string grpc_listen, http_listen, data_dir, pki_dir, admin_file,
      log_level;
  int heartbeat_ms = 0;
  std::vector<std::string> tls_hosts;
  po::options_description desc("tinyfleet-gateway options");
  desc.add_options()("help,h", "show this help")(
      "listen", po::value(&grpc_listen)->default_value("127.0.0.1:7443"),
      "gRPC address host:port (port 0: any free port)")(
      "http-listen", po::value(&http_listen)->default_value("127.0.0.1:7080"),
      "HTTP address for /metrics, /healthz and the dashboard")(
      "data-dir", po::value(&data_dir)->default_value("./var/gateway"),
      "directory for gateway.db, pki/ and admin.token")(
      "pki-dir", po::value(&pki_dir),
      "CA and server certificate (default <data-dir>/pki)")(
      "tls-host", po::value(&tls_hosts)->composing(),
      "name or IP the generated server certificate covers (repeatable; default "
      "localhost and 127.0.0.1)")("admin-token-file", po::value(&admin_file),
                                  "where the first admin token is written "
                                  "(default <data-dir>/admin.token)")(
      "heartbeat-ms", po::value(&heartbeat_ms)->default_value(5000),
      "heartbeat interval agents are given, in ms")(
      "missed-heartbeats",
      po::value(&opt.missed_heartbeats_offline)->default_value(3),
      "missed heartbeats after which a device is offline")(
      "max-message-bytes",
      po::value(&opt.max_message_bytes)->default_value(4 << 20),
      "largest gRPC message accepted")(
      "workers", po::value(&opt.worker_threads)->default_value(4),
      "threads for blocking work")("insecure-dev",
                                   po::bool_switch(&opt.insecure_dev),
                                   "serve gRPC without TLS (development only)")(
      "log-level", po::value(&log_level)->default_value("info"),
      "debug, info, warning or error");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "tinyfleet-gateway: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  tinyfleet::LogLevel level;
  if (!tinyfleet::ParseLogLevel(log_level, &level)) {
    std::cerr << "tinyfleet-gateway: bad --log-level " << log_level << "\n";
    return 2;
  }
  tinyfleet::SetMinLogLevel(level);
  if (!SplitHostPort(grpc_listen, &opt.grpc_host, &opt.grpc_port) ||
      !SplitHostPort(http_listen, &opt.http_host, &opt.http_port)) {
    std::cerr << "tinyfleet-gateway: addresses must be host:port\n";
    return 2;
  }
  if (heartbeat_ms < 100 || heartbeat_ms > 3'600'000) {
    std::cerr << "tinyfleet-gateway: --heartbeat-ms must be 100..3600000\n";
    return 2;
  }
  opt.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  opt.data_dir = data_dir;
  if (!pki_dir.empty()) opt.pki_dir = pki_dir;
  if (!admin_file.empty()) opt.admin_token_file = admin_file;
  if (!tls_hosts.empty()) opt.tls_hosts = tls_hosts;

  // Block the signals before any thread starts; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto gateway = Gateway::Start(opt, &tinyfleet::SystemClock::Instance());
  if (!gateway.ok()) {
    TF_LOG(kError, "gateway") << gateway.status().ToString();
    return 1;
  }
  std::cout << "grpc_port=" << (*gateway)->grpc_port()
            << " http_port=" << (*gateway)->http_port() << std::endl;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    TF_LOG(kInfo, "gateway") << "signal " << sig << ": shutting down";
    (*gateway)->Shutdown();
  });
  (*gateway)->Wait();
  (*gateway)->Shutdown();
  // The waiter may still be blocked in sigwait when Shutdown came from
  // elsewhere; wake it.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}
