// The agent's link client against the firmware's virtual node, over an
// in-process transport, a lossy/garbling transport, and real TCP.
#include "agent/link/node_link.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "sim/tn_sim.h"

namespace tinyfleet::agent {
namespace {
namespace asio = boost::asio;

// A node behind a transport that can garble or drop what it sends back.
class FaultyNodeTransport final : public ByteTransport {
 public:
  explicit FaultyNodeTransport(Strand strand) : strand_(strand) {
    tn_sim_mem_storage_init(&mem_);
    tn_sim_config cfg;
    tn_sim_config_init(&cfg);
    cfg.target = TN_TARGET_GAP8;
    cfg.storage = tn_sim_mem_storage_interface(&mem_);
    cfg.entropy = [](void*, uint8_t* out, size_t n) -> tn_status {
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(0xA0 + i);
      return TN_OK;
    };
    EXPECT_EQ(tn_sim_node_open(&node_, &cfg), TN_OK);
    tn_link_decoder_init(&dec_);
  }
  void Open(std::function<void(const Status&)> on_open, OnBytes on_bytes,
            OnClosed on_closed) override {
    on_bytes_ = std::move(on_bytes);
    tn_sim_node_link_reset(&node_);
    asio::post(strand_, [on_open] { on_open(Status::Ok()); });
  }
  void Write(std::vector<uint8_t> bytes) override {
    if (silent) return;
    std::vector<uint8_t> reply;
    tn_sim_node_receive(
        &node_, &dec_, bytes.data(), bytes.size(),
        [](void* ctx, const uint8_t* d, size_t n) -> tn_status {
          auto* r = static_cast<std::vector<uint8_t>*>(ctx);
          r->insert(r->end(), d, d + n);
          return TN_OK;
        },
        &reply);
    if (drop_next_replies > 0) {
      --drop_next_replies;
      return;
    }
    std::vector<uint8_t> out;
    if (garbage_before) {
      // Line noise, a frame with a broken CRC, then the real answer.
      out = {0x13, 0x37, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x00};
    }
    out.insert(out.end(), reply.begin(), reply.end());
    // Deliver in two pieces, as a UART would.
    size_t half = out.size() / 2;
    asio::post(strand_, [this, out, half] {
      on_bytes_(out.data(), half);
      on_bytes_(out.data() + half, out.size() - half);
    });
  }
  void Close() override {}
  const char* kind() const override { return "virtual"; }

  bool silent = false;
  bool garbage_before = false;
  int drop_next_replies = 0;
  tn_sim_node node_{};

 private:
  Strand strand_;
  tn_sim_mem_storage mem_{};
  tn_link_decoder dec_{};
  OnBytes on_bytes_;
};

class NodeLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::pair<std::shared_ptr<NodeLink>, FaultyNodeTransport*> MakeLink(
      NodeLinkOptions opt = {}) {
    auto strand = asio::make_strand(io_);
    auto t = std::make_unique<FaultyNodeTransport>(strand);
    auto* raw = t.get();
    return {NodeLink::Create(strand, std::move(t), opt), raw};
  }
  Result<v1::NodeInfo> Connect(NodeLink& link) {
    std::promise<Result<v1::NodeInfo>> p;
    link.Connect([&](Result<v1::NodeInfo> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  Status Ping(NodeLink& link) {
    std::promise<Status> p;
    link.Ping([&](const Status& s) { p.set_value(s); });
    return p.get_future().get();
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work_{asio::make_work_guard(io_)};
  std::thread thread_;
};

TEST_F(NodeLinkTest, HelloReportsTheNodeIdentity) {
  auto [link, t] = MakeLink();
  auto info = Connect(*link);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->hardware_id(), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  EXPECT_EQ(info->target(), v1::TARGET_PROFILE_GAP8);
  EXPECT_EQ(info->firmware_version(), TN_SIM_DEFAULT_FIRMWARE_VERSION);
  EXPECT_EQ(info->transport(), "virtual");
  ASSERT_EQ(info->slots_size(), 2);
  EXPECT_EQ(info->slots(0).name(), "A");
  EXPECT_EQ(info->slots(0).state(), v1::SLOT_STATE_EMPTY);
  EXPECT_TRUE(Ping(*link).ok());
}

TEST_F(NodeLinkTest, GarbageOnTheLinkIsDroppedAndCounted) {
  auto [link, t] = MakeLink();
  t->garbage_before = true;
  ASSERT_TRUE(Connect(*link).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Ping(*link).ok());
  EXPECT_GE(link->stats().frames_rejected, 6u);  // one per answer
  EXPECT_EQ(link->stats().retransmissions, 0u);
}

TEST_F(NodeLinkTest, LostAnswerIsRetriedAndTheNodeRunsTheRequestOnce) {
  NodeLinkOptions opt;
  opt.response_timeout = std::chrono::milliseconds(50);
  auto [link, t] = MakeLink(opt);
  ASSERT_TRUE(Connect(*link).ok());
  uint32_t executed = t->node_.stats.requests;
  t->drop_next_replies = 1;
  ASSERT_TRUE(Ping(*link).ok());
  EXPECT_EQ(link->stats().retransmissions, 1u);
  EXPECT_EQ(t->node_.stats.requests, executed + 1);  // executed once
  EXPECT_EQ(t->node_.stats.repeats, 1u);             // answered from cache
}

TEST_F(NodeLinkTest, SilentNodeFailsWithDeadlineExceeded) {
  NodeLinkOptions opt;
  opt.response_timeout = std::chrono::milliseconds(20);
  opt.retries = 2;
  auto [link, t] = MakeLink(opt);
  t->silent = true;
  auto info = Connect(*link);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(link->stats().retransmissions, 2u);
}

// A node served on 127.0.0.1 by the virtual node code, reached over TCP.
std::vector<uint8_t> PingPayload(uint32_t nonce) {
  tn_link_ping ping{nonce};
  std::vector<uint8_t> payload(4);
  size_t n = 0;
  EXPECT_EQ(tn_link_ping_encode(&ping, payload.data(), payload.size(), &n),
            TN_OK);
  payload.resize(n);
  return payload;
}

TEST_F(NodeLinkTest, CallAndWaitAnswersAndFailsAtOnceAfterClose) {
  auto [link, t] = MakeLink();
  ASSERT_TRUE(Connect(*link).ok());
  auto pong = link->CallAndWait(TN_LINK_MSG_PING, PingPayload(7));
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  tn_link_ping answer{};
  ASSERT_EQ(tn_link_ping_decode(pong->data(), pong->size(), &answer), TN_OK);
  EXPECT_EQ(answer.nonce, 7u);

  link->Close();
  auto after = link->CallAndWait(TN_LINK_MSG_PING, PingPayload(8));
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable)
      << after.status().ToString();
}

// At shutdown the io_context may stop before a worker thread's call is
// answered: the caller gets DEADLINE_EXCEEDED instead of waiting forever.
TEST_F(NodeLinkTest, CallAndWaitReturnsWhenTheStrandNoLongerRuns) {
  NodeLinkOptions opt;
  opt.response_timeout = std::chrono::milliseconds(10);
  opt.retries = 0;
  opt.call_wait_bound = std::chrono::milliseconds(200);
  auto [link, t] = MakeLink(opt);
  ASSERT_TRUE(Connect(*link).ok());
  work_.reset();
  io_.stop();
  thread_.join();
  auto r = link->CallAndWait(TN_LINK_MSG_PING, PingPayload(9));
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded)
      << r.status().ToString();
  thread_ = std::thread([] {});  // joined by TearDown
}

TEST_F(NodeLinkTest, TcpTransportSpeaksToANodeOnLoopback) {
  asio::io_context server_io;
  asio::ip::tcp::acceptor acceptor(server_io,
                                   {asio::ip::make_address("127.0.0.1"), 0});
  uint16_t port = acceptor.local_endpoint().port();
  std::thread server([&] {
    asio::ip::tcp::socket sock(server_io);
    acceptor.accept(sock);
    tn_sim_mem_storage mem;
    tn_sim_mem_storage_init(&mem);
    tn_sim_config cfg;
    tn_sim_config_init(&cfg);
    cfg.storage = tn_sim_mem_storage_interface(&mem);
    cfg.entropy = [](void*, uint8_t* out, size_t n) -> tn_status {
      for (size_t i = 0; i < n; ++i) out[i] = 0x42;
      return TN_OK;
    };
    static tn_sim_node node;
    static tn_link_decoder dec;
    ASSERT_EQ(tn_sim_node_open(&node, &cfg), TN_OK);
    tn_link_decoder_init(&dec);
    uint8_t buf[512];
    boost::system::error_code ec;
    for (;;) {
      size_t n = sock.read_some(asio::buffer(buf), ec);
      if (ec) break;
      tn_sim_node_receive(
          &node, &dec, buf, n,
          [](void* ctx, const uint8_t* d, size_t len) -> tn_status {
            auto* s = static_cast<asio::ip::tcp::socket*>(ctx);
            boost::system::error_code wec;
            asio::write(*s, asio::buffer(d, len), wec);
            return wec ? TN_ERR_STORAGE : TN_OK;
          },
          &sock);
    }
  });
  auto strand = asio::make_strand(io_);
  auto link =
      NodeLink::Create(strand, MakeTcpTransport(strand, "127.0.0.1", port));
  auto info = Connect(*link);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->hardware_id(), "42424242424242424242424242424242");
  EXPECT_EQ(info->transport(), "tcp");
  EXPECT_TRUE(Ping(*link).ok());
  link->Close();
  server.join();
}

}  // namespace
}  // namespace tinyfleet::agent
