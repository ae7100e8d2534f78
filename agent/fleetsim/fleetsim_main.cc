// tinyfleet-fleetsim: N agent + virtual-node pairs in one process, sharing
// one io_context, for the demo fleet and for load measurements.
//
// Node i keeps its credentials and node state in <state-dir>/node-<i>/, so a
// second run reuses every identity. Nodes without credentials take the next
// unused bootstrap token from --tokens-file.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/program_options.hpp>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <thread>

#include "agent/bridge/bridge.h"
#include "common/encoding.h"
#include "common/log.h"

namespace po = boost::program_options;
namespace asio = boost::asio;
using namespace tinyfleet;
using namespace tinyfleet::agent;

namespace {
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::string line;
  for (char c : text) {
    if (c == '\n') {
      if (!line.empty()) out.push_back(line);
      line.clear();
    } else if (c != '\r') {
      line.push_back(c);
    }
  }
  if (!line.empty()) out.push_back(line);
  return out;
}

long RssKib() {
  auto status = ReadFile("/proc/self/status");
  if (!status.ok()) return -1;
  size_t p = status->find("VmRSS:");
  if (p == std::string::npos) return -1;
  return std::atol(status->c_str() + p + 6);
}
}  // namespace

int main(int argc, char** argv) {
  int agents = 8, threads = 2, report_ms = 5000, enroll_threads = 4;
  int telemetry_ms = 10'000;
  double hold_s = 0;
  std::string gateway, ca_file, state_dir, tokens_file, target, log_level;
  std::string shard;
  int shard_users = 12;
  double train_energy_mj = 0;
  int64_t train_samples = 0;
  bool insecure = false, exit_when_online = false;
  po::options_description desc("tinyfleet-fleetsim options");
  desc.add_options()("help,h", "show this help")(
      "agents", po::value(&agents)->default_value(8),
      "number of agent + node pairs")(
      "gateway", po::value(&gateway)->default_value("127.0.0.1:7443"),
      "gateway gRPC address")("ca", po::value(&ca_file),
                              "the gateway's CA certificate")(
      "state-dir", po::value(&state_dir)->default_value("./var/fleet"),
      "per-node credentials and node state")(
      "tokens-file", po::value(&tokens_file),
      "bootstrap tokens (one per line) for nodes not yet enrolled")(
      "target", po::value(&target)->default_value("gap9"),
      "host, gap8 or gap9")("threads", po::value(&threads)->default_value(2),
                            "io threads")(
      "enroll-threads", po::value(&enroll_threads)->default_value(16),
      "threads for key generation and enrollment")(
      "telemetry-ms", po::value(&telemetry_ms)->default_value(10'000),
      "each node's sealed telemetry interval (0: none)")(
      "report-ms", po::value(&report_ms)->default_value(5000),
      "print fleet state this often (0: never)")(
      "exit-when-online", po::bool_switch(&exit_when_online),
      "exit once every node is online (after --hold-seconds)")(
      "hold-seconds", po::value(&hold_s)->default_value(0),
      "with --exit-when-online: stay online this long before exiting")(
      "insecure", po::bool_switch(&insecure),
      "gateway runs with --insecure-dev")(
      "shard", po::value(&shard),
      "feature data set (users split) whose users the nodes hold for "
      "adaptation rounds; node i holds user i mod --users + 1")(
      "users", po::value(&shard_users)->default_value(12),
      "number of users in --shard")(
      "train-energy-mj", po::value(&train_energy_mj)->default_value(0),
      "energy budget each node reports for one round's local training, mJ "
      "(0: none, no limit)")(
      "train-samples", po::value(&train_samples)->default_value(0),
      "local training samples each node reports (0: its user's train split "
      "of --shard)")("log-level",
                     po::value(&log_level)->default_value("warning"),
                     "log level");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "tinyfleet-fleetsim: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  LogLevel level;
  if (!ParseLogLevel(log_level, &level) || agents < 1 || agents > 100000 ||
      threads < 1 || threads > 64 || enroll_threads < 1 ||
      enroll_threads > 64 || report_ms < 0 || hold_s < 0 || shard_users < 1 ||
      shard_users > 65535 || !std::isfinite(train_energy_mj) ||
      train_energy_mj < 0 || train_samples < 0 ||
      train_samples > std::numeric_limits<uint32_t>::max()) {
    std::cerr << "tinyfleet-fleetsim: bad option value (see --help)\n";
    return 2;
  }
  SetMinLogLevel(level);
  tn_target tgt = target == "host"   ? TN_TARGET_HOST
                  : target == "gap8" ? TN_TARGET_GAP8
                  : target == "gap9" ? TN_TARGET_GAP9
                                     : TN_TARGET_UNSPECIFIED;
  if (tgt == TN_TARGET_UNSPECIFIED) {
    std::cerr << "tinyfleet-fleetsim: --target must be host, gap8 or gap9\n";
    return 2;
  }
  GatewayEndpoint ep{gateway, "", insecure};
  if (!insecure) {
    auto ca = ReadFile(ca_file);
    if (ca_file.empty() || !ca.ok()) {
      std::cerr
          << "tinyfleet-fleetsim: --ca FILE is required (or --insecure)\n";
      return 2;
    }
    ep.ca_pem = *ca;
  }
  std::vector<std::string> tokens;
  if (!tokens_file.empty()) {
    auto t = ReadFile(tokens_file);
    if (!t.ok()) {
      std::cerr << "tinyfleet-fleetsim: " << t.status().message() << "\n";
      return 2;
    }
    tokens = Lines(*t);
  }

  OutboxOptions oo;
  oo.path = std::filesystem::path(state_dir) / "outbox.db";
  auto outbox = Outbox::Open(oo);
  if (!outbox.ok()) {
    std::cerr << "tinyfleet-fleetsim: " << outbox.status().ToString() << "\n";
    return 1;
  }
  asio::io_context io;
  asio::thread_pool blocking(static_cast<size_t>(enroll_threads));
  std::vector<std::shared_ptr<Bridge>> bridges;
  size_t next_token = 0, need_tokens = 0;
  for (int i = 0; i < agents; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "node-%05d", i);
    std::filesystem::path dir = std::filesystem::path(state_dir) / name;
    BridgeOptions bo;
    bo.name = name;
    bo.credentials_dir = dir / "credentials";
    bo.endpoint = ep;
    bo.outbox = outbox->get();
    if (!LoadCredentials(bo.credentials_dir).ok()) {
      ++need_tokens;
      if (next_token < tokens.size()) bo.bootstrap_token = tokens[next_token++];
    }
    // Spread reconnections of a large fleet.
    bo.initial_backoff = std::chrono::milliseconds(agents > 1000 ? 2000 : 500);
    const uint32_t user = static_cast<uint32_t>(i % shard_users) + 1;
    Bridge::TransportFactory factory = [dir, tgt, telemetry_ms, shard, user,
                                        train_energy_mj,
                                        train_samples](Strand strand) {
      VirtualNodeOptions vo;
      vo.state_dir = dir / "node";
      vo.target = tgt;
      vo.telemetry_interval = std::chrono::milliseconds(telemetry_ms);
      vo.train_energy_budget_mj = train_energy_mj;
      vo.train_samples = static_cast<uint32_t>(train_samples);
      if (!shard.empty()) {
        vo.shard = shard;
        vo.user = user;
      }
      return std::move(MakeVirtualNodeTransport(strand, vo)).value();
    };
    bridges.push_back(Bridge::Create(io, bo, factory, &blocking));
  }
  if (need_tokens > tokens.size()) {
    std::cerr << "tinyfleet-fleetsim: " << need_tokens
              << " nodes need enrollment but only " << tokens.size()
              << " tokens were given; the rest wait for an operator\n";
  }
  auto start = std::chrono::steady_clock::now();
  for (auto& b : bridges) b->Start();
  std::cout << "fleetsim: " << agents << " nodes (" << need_tokens
            << " enrolling) against " << gateway << std::endl;

  bool stopping = false;
  auto stop_all = [&] {
    if (stopping) return;
    stopping = true;
    auto remaining = std::make_shared<size_t>(bridges.size());
    for (auto& b : bridges) {
      b->Stop([&io, remaining] {
        if (--*remaining == 0) io.stop();
      });
    }
  };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait(
      [&](boost::system::error_code, int) { asio::post(io, stop_all); });

  asio::steady_timer ticker(io);
  bool all_online_seen = false;
  auto last_report = start;
  std::function<void()> tick = [&] {
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([&](boost::system::error_code ec) {
      if (ec || stopping) return;
      size_t online = 0, refused = 0;
      for (auto& b : bridges) {
        online += b->state() == BridgeState::kOnline;
        refused += b->state() == BridgeState::kEnrollmentRefused;
      }
      auto now = std::chrono::steady_clock::now();
      double secs = std::chrono::duration<double>(now - start).count();
      if (!all_online_seen && online == bridges.size()) {
        all_online_seen = true;
        std::cout << "fleetsim: all " << online << " nodes online after "
                  << std::fixed << std::setprecision(2) << secs << " s (rss "
                  << RssKib() / 1024 << " MiB)" << std::endl;
        if (exit_when_online) {
          auto hold = std::make_shared<asio::steady_timer>(io);
          hold->expires_after(
              std::chrono::milliseconds(static_cast<int64_t>(hold_s * 1000)));
          hold->async_wait(
              [&, hold](boost::system::error_code) { stop_all(); });
        }
      }
      if (report_ms > 0 &&
          now - last_report >= std::chrono::milliseconds(report_ms)) {
        last_report = now;
        std::cout << "fleetsim: " << online << "/" << bridges.size()
                  << " online";
        if (refused) std::cout << ", " << refused << " without enrollment";
        std::cout << std::endl;
      }
      tick();
    });
  };
  tick();

  auto work = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  blocking.join();
  std::cout << "fleetsim: stopped" << std::endl;
  return 0;
}
