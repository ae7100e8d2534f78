// tinyfleet-agent: bridges one or more nodes to the gateway.
//
//   tinyfleet-agent --gateway 127.0.0.1:7443 --ca ca.crt --state-dir
//   ./var/agent
//       --token-file token --node kws1=tcp:192.168.1.20:7000
//       --node kws2=serial:/dev/ttyUSB0@921600 --node sim=virtual
//
// Each node gets its own credentials (and, when virtual, its own node state)
// under <state-dir>/<name>/. Ctrl-C stops cleanly.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/program_options.hpp>
#include <cmath>
#include <iostream>
#include <thread>

#include "agent/bridge/bridge.h"
#include "common/encoding.h"
#include "common/log.h"

namespace po = boost::program_options;
namespace asio = boost::asio;
using namespace tinyfleet;
using namespace tinyfleet::agent;

namespace {
struct NodeSpec {
  std::string name;
  std::string kind;  // virtual, tcp, serial
  std::string host_or_device;
  uint16_t port = 0;
  unsigned baud = 115200;
};

Result<NodeSpec> ParseNode(const std::string& text) {
  NodeSpec n;
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgumentError("--node must be NAME=SPEC: " + text);
  }
  n.name = text.substr(0, eq);
  for (char c : n.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return InvalidArgumentError("node names may hold only [A-Za-z0-9_-]: " +
                                  n.name);
    }
  }
  std::string spec = text.substr(eq + 1);
  if (spec == "virtual") {
    n.kind = "virtual";
  } else if (spec.rfind("tcp:", 0) == 0) {
    n.kind = "tcp";
    std::string hp = spec.substr(4);
    size_t colon = hp.rfind(':');
    if (colon == std::string::npos)
      return InvalidArgumentError("tcp:HOST:PORT expected");
    n.host_or_device = hp.substr(0, colon);
    int port = std::atoi(hp.substr(colon + 1).c_str());
    if (port <= 0 || port > 65535)
      return InvalidArgumentError("bad port in " + spec);
    n.port = static_cast<uint16_t>(port);
  } else if (spec.rfind("serial:", 0) == 0) {
    n.kind = "serial";
    std::string dev = spec.substr(7);
    size_t at = dev.find('@');
    if (at != std::string::npos) {
      int baud = std::atoi(dev.substr(at + 1).c_str());
      if (baud < 1200 || baud > 4'000'000)
        return InvalidArgumentError("bad baud rate");
      n.baud = static_cast<unsigned>(baud);
      dev = dev.substr(0, at);
    }
    if (dev.empty()) return InvalidArgumentError("serial:DEVICE expected");
    n.host_or_device = dev;
  } else {
    return InvalidArgumentError(
        "node spec must be virtual, tcp:HOST:PORT or "
        "serial:DEVICE[@BAUD]: " +
        spec);
  }
  return n;
}
}  // namespace

int main(int argc, char** argv) {
  std::string gateway, ca_file, state_dir, token, token_file, log_level, target;
  std::vector<std::string> nodes;
  bool insecure = false;
  int64_t train_samples = 0;
  double train_energy_mj = 0;
  po::options_description desc("tinyfleet-agent options");
  desc.add_options()("help,h", "show this help")(
      "gateway", po::value(&gateway)->default_value("127.0.0.1:7443"),
      "gateway gRPC address host:port")(
      "ca", po::value(&ca_file), "the gateway's CA certificate (pki/ca.crt)")(
      "state-dir", po::value(&state_dir)->default_value("./var/agent"),
      "credentials and virtual node state, one subdirectory per node")(
      "node", po::value(&nodes)->composing(),
      "NAME=virtual | NAME=tcp:HOST:PORT | NAME=serial:DEVICE[@BAUD] "
      "(repeatable)")("token", po::value(&token),
                      "bootstrap token for nodes not yet enrolled")(
      "token-file", po::value(&token_file),
      "file with bootstrap tokens, one per line, used in --node order")(
      "target", po::value(&target)->default_value("gap9"),
      "profile of virtual nodes: host, gap8 or gap9")(
      "insecure", po::bool_switch(&insecure),
      "gateway runs with --insecure-dev")(
      "train-samples", po::value(&train_samples)->default_value(0),
      "local training samples each node holds, reported to the gateway for "
      "round selection (0: not reported; virtual nodes with a shard report "
      "their own)")(
      "train-energy-mj", po::value(&train_energy_mj)->default_value(0),
      "energy each node may spend on one round's local training, mJ (0: no "
      "limit reported)")(
      "log-level", po::value(&log_level)->default_value("info"), "log level");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "tinyfleet-agent: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  LogLevel level;
  if (!ParseLogLevel(log_level, &level)) {
    std::cerr << "tinyfleet-agent: bad --log-level\n";
    return 2;
  }
  SetMinLogLevel(level);
  if (nodes.empty()) {
    std::cerr << "tinyfleet-agent: give at least one --node\n";
    return 2;
  }
  if (train_samples < 0 || train_samples > 0xffffffffLL ||
      !(train_energy_mj >= 0) || !std::isfinite(train_energy_mj)) {
    std::cerr << "tinyfleet-agent: --train-samples must be 0..4294967295 and "
                 "--train-energy-mj a finite value >= 0\n";
    return 2;
  }
  tn_target tgt = target == "host"   ? TN_TARGET_HOST
                  : target == "gap8" ? TN_TARGET_GAP8
                  : target == "gap9" ? TN_TARGET_GAP9
                                     : TN_TARGET_UNSPECIFIED;
  if (tgt == TN_TARGET_UNSPECIFIED) {
    std::cerr << "tinyfleet-agent: --target must be host, gap8 or gap9\n";
    return 2;
  }
  GatewayEndpoint ep{gateway, "", insecure};
  if (!insecure) {
    if (ca_file.empty()) {
      std::cerr << "tinyfleet-agent: --ca is required (or --insecure)\n";
      return 2;
    }
    auto ca = ReadFile(ca_file);
    if (!ca.ok()) {
      std::cerr << "tinyfleet-agent: " << ca.status().message() << "\n";
      return 2;
    }
    ep.ca_pem = *ca;
  }
  std::vector<std::string> tokens;
  if (!token_file.empty()) {
    auto t = ReadFile(token_file);
    if (!t.ok()) {
      std::cerr << "tinyfleet-agent: " << t.status().message() << "\n";
      return 2;
    }
    std::string line;
    for (char c : *t) {
      if (c == '\n') {
        if (!line.empty()) tokens.push_back(line);
        line.clear();
      } else if (c != '\r') {
        line.push_back(c);
      }
    }
    if (!line.empty()) tokens.push_back(line);
  }

  OutboxOptions oo;
  oo.path = std::filesystem::path(state_dir) / "outbox.db";
  auto outbox = Outbox::Open(oo);
  if (!outbox.ok()) {
    std::cerr << "tinyfleet-agent: " << outbox.status().ToString() << "\n";
    return 1;
  }
  asio::io_context io;
  asio::thread_pool blocking(2);
  std::vector<std::shared_ptr<Bridge>> bridges;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto spec = ParseNode(nodes[i]);
    if (!spec.ok()) {
      std::cerr << "tinyfleet-agent: " << spec.status().message() << "\n";
      return 2;
    }
    std::filesystem::path dir = std::filesystem::path(state_dir) / spec->name;
    BridgeOptions bo;
    bo.name = spec->name;
    bo.credentials_dir = dir / "credentials";
    bo.endpoint = ep;
    bo.bootstrap_token = i < tokens.size() ? tokens[i] : token;
    bo.outbox = outbox->get();
    bo.resources.train_samples = static_cast<uint32_t>(train_samples);
    bo.resources.train_energy_budget_mj = train_energy_mj;
    NodeSpec s = *spec;
    Bridge::TransportFactory factory =
        [s, dir, tgt](Strand strand) -> std::unique_ptr<ByteTransport> {
      if (s.kind == "tcp")
        return MakeTcpTransport(strand, s.host_or_device, s.port);
      if (s.kind == "serial")
        return MakeSerialTransport(strand, s.host_or_device, s.baud);
      VirtualNodeOptions vo;
      vo.state_dir = dir / "node";
      vo.target = tgt;
      auto t = MakeVirtualNodeTransport(strand, vo);
      return t.ok() ? std::move(t).value() : nullptr;
    };
    bridges.push_back(Bridge::Create(io, bo, factory, &blocking));
  }
  for (auto& b : bridges) b->Start();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    TF_LOG(kInfo, "agent") << "stopping";
    auto remaining = std::make_shared<size_t>(bridges.size());
    for (auto& b : bridges) {
      b->Stop([&io, remaining] {
        if (--*remaining == 0) io.stop();
      });
    }
  });
  auto work = asio::make_work_guard(io);
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  blocking.join();
  return 0;
}
