#include "agent/link/transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/serial_port.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <fstream>
#include <iterator>
#include <random>

#include "link/tn_link.h"
#include "ota/tn_ota.h"
#include "secure/tn_secure.h"
#include "sim/tn_sim.h"

namespace tinyfleet::agent {
namespace asio = boost::asio;

namespace {

// ---- In-process virtual node ---------------------------------------------

class VirtualNodeTransport final : public ByteTransport {
 public:
  VirtualNodeTransport(Strand strand, VirtualNodeOptions options)
      : strand_(strand), options_(std::move(options)), poll_timer_(strand) {}

  void Open(std::function<void(const Status&)> on_open, OnBytes on_bytes,
            OnClosed on_closed) override {
    on_bytes_ = std::move(on_bytes);
    on_closed_ = std::move(on_closed);
    Status s = Boot();
    asio::post(strand_, [on_open = std::move(on_open), s] { on_open(s); });
  }

  void Write(std::vector<uint8_t> bytes) override {
    if (!open_) return;
    // The node answers synchronously; deliver its bytes asynchronously, as a
    // wire would.
    std::vector<uint8_t> reply;
    UseThisThreadsOtaBuffers();
    tn_status st = tn_sim_node_receive(
        &node_, &decoder_, bytes.data(), bytes.size(),
        [](void* ctx, const uint8_t* data, size_t len) -> tn_status {
          auto* out = static_cast<std::vector<uint8_t>*>(ctx);
          out->insert(out->end(), data, data + len);
          return TN_OK;
        },
        &reply);
    if (st != TN_OK) {
      open_ = false;
      auto cb = on_closed_;
      asio::post(strand_, [cb, st] {
        cb(InternalError(std::string("virtual node failed: ") +
                         tn_status_str(st)));
      });
      return;
    }
    if (!reply.empty()) {
      asio::post(strand_, [this, reply = std::move(reply)] {
        if (open_) on_bytes_(reply.data(), reply.size());
      });
    }
  }

  void Close() override {
    open_ = false;
    poll_timer_.cancel();
  }
  const char* kind() const override { return "virtual"; }
  NodeResources resources() const override {
    NodeResources r;
    r.train_samples = options_.train_samples != 0 ? options_.train_samples
                                                  : shard_data_.train_count;
    r.train_energy_budget_mj = options_.train_energy_budget_mj;
    return r;
  }

 private:
  Status Boot() {
    if (booted_) {
      tn_sim_node_link_reset(&node_);
      tn_link_decoder_init(&decoder_);
      open_ = true;
      SchedulePoll();
      return Status::Ok();
    }
    tn_sim_config cfg;
    tn_sim_config_init(&cfg);
    cfg.target = options_.target;
    cfg.firmware_version = options_.firmware_version.c_str();
    if (options_.telemetry_interval.count() > 0 &&
        tn_secure_crypto_available()) {
      cfg.capabilities |= TN_LINK_CAP_TELEMETRY;
      cfg.telemetry_interval_ms =
          static_cast<uint32_t>(options_.telemetry_interval.count());
      cfg.telemetry_retry_ms = static_cast<uint32_t>(
          std::max<int64_t>(500, options_.telemetry_interval.count() / 4));
    }
    if (!options_.state_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(options_.state_dir, ec);
      if (ec)
        return UnavailableError("cannot create " + options_.state_dir.string());
      if (tn_sim_file_storage_init(&file_, options_.state_dir.c_str()) !=
          TN_OK) {
        return InvalidArgumentError("node state path too long");
      }
      cfg.storage = tn_sim_file_storage_interface(&file_);
    } else {
      tn_sim_mem_storage_init(&mem_);
      cfg.storage = tn_sim_mem_storage_interface(&mem_);
    }
    // Model updates need the node's state on disk (slot files and the
    // update records); in-memory nodes take none.
    if (options_.slot_size > 0 && !options_.state_dir.empty()) {
      if (options_.slot_size > kMaxSlot ||
          tn_ota_file_flash_init(&file_flash_, options_.state_dir.c_str(), 2,
                                 options_.slot_size) != TN_OK) {
        return InvalidArgumentError("bad model slot configuration");
      }
      tn_ota_config_init(&cfg.ota);
      cfg.ota.flash = tn_ota_file_flash_interface(&file_flash_);
      // Verification and the self-test use a blob buffer and a model arena
      // only inside one call; the nodes served by one thread share them.
      cfg.ota.blob_buffer = ThreadOtaBuffers().blob.data();
      cfg.ota.blob_buffer_size = options_.slot_size;
      cfg.ota.arena = ThreadOtaBuffers().arena.data();
      cfg.ota.arena_size = kArenaBytes;
      cfg.ota.accept_unsigned = options_.accept_unsigned_models ? 1 : 0;
      if (!options_.shard.empty()) {
        Status s = SetUpTraining(&cfg.train);
        if (!s.ok()) return s;
      }
    } else if (!options_.shard.empty()) {
      return InvalidArgumentError(
          "a training shard needs model slots and a state directory");
    }
    cfg.entropy = [](void*, uint8_t* out, size_t len) -> tn_status {
      std::random_device rd;
      for (size_t i = 0; i < len; ++i) out[i] = static_cast<uint8_t>(rd());
      return TN_OK;
    };
    tn_status st = tn_sim_node_open(&node_, &cfg);
    if (st != TN_OK) {
      return UnavailableError(std::string("virtual node did not boot: ") +
                              tn_status_str(st));
    }
    tn_link_decoder_init(&decoder_);
    booted_ = true;
    open_ = true;
    start_ = std::chrono::steady_clock::now();
    SchedulePoll();
    return Status::Ok();
  }

  // Loads the shard and gives the node its training memory (kept for the
  // node's lifetime).
  Status SetUpTraining(tn_sim_train_config* train) {
    std::ifstream in(options_.shard, std::ios::binary);
    shard_bytes_.assign(std::istreambuf_iterator<char>(in), {});
    if (!in.good() && !in.eof()) {
      return UnavailableError("cannot read " + options_.shard.string());
    }
    tn_status st =
        tn_fset_open(reinterpret_cast<const uint8_t*>(shard_bytes_.data()),
                     shard_bytes_.size(), &shard_set_);
    if (st == TN_OK) {
      shard_index_.resize(shard_set_.info.sample_count);
      st = tn_adapt_shard_init(&shard_, &shard_set_, options_.user, 4,
                               shard_index_.data(),
                               static_cast<uint32_t>(shard_index_.size()));
    }
    if (st != TN_OK) {
      return InvalidArgumentError("shard " + options_.shard.string() +
                                  " user " + std::to_string(options_.user) +
                                  ": " + tn_status_str(st));
    }
    shard_data_ = tn_adapt_shard_data(&shard_);
    train_blob_.resize(options_.slot_size);
    train_arena_.resize(kTrainArenaBytes / sizeof(uint64_t));
    train_workspace_.resize(kTrainWorkspaceBytes / sizeof(uint64_t));
    train_tail_.resize(kTrainTailBytes);
    train_residual_.resize(kTrainResidualFloats);
    train->data = &shard_data_;
    train->blob_buffer = train_blob_.data();
    train->blob_buffer_size = options_.slot_size;
    train->arena = train_arena_.data();
    train->arena_size = kTrainArenaBytes;
    train->workspace = train_workspace_.data();
    train->workspace_size = kTrainWorkspaceBytes;
    train->tail_buffer = train_tail_.data();
    train->tail_buffer_size = kTrainTailBytes;
    train->residual = train_residual_.data();
    train->residual_capacity = kTrainResidualFloats;
    return Status::Ok();
  }

  // The node's own loop: lets it send telemetry when an interval is due and
  // advances a training job one slice at a time (at once while one runs, so
  // that link requests interleave with the slices).
  void SchedulePoll() {
    const bool telemetry = node_.info.capabilities & TN_LINK_CAP_TELEMETRY;
    const bool train = node_.info.capabilities & TN_LINK_CAP_TRAIN;
    if (!telemetry && !train) return;
    auto period = telemetry ? std::max<std::chrono::milliseconds>(
                                  std::chrono::milliseconds(200),
                                  options_.telemetry_interval / 4)
                            : std::chrono::milliseconds(50);
    if (tn_sim_node_busy(&node_)) period = std::chrono::milliseconds(0);
    poll_timer_.expires_after(period);
    poll_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || !open_) return;
      uint64_t now = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - start_)
              .count());
      const uint8_t* frame = nullptr;
      size_t len = 0;
      UseThisThreadsOtaBuffers();
      if (tn_sim_node_poll(&node_, now, &frame, &len) == TN_OK && len > 0) {
        on_bytes_(frame, len);
      }
      SchedulePoll();
    });
  }

  Strand strand_;
  VirtualNodeOptions options_;
  tn_sim_node node_{};
  tn_link_decoder decoder_{};
  tn_sim_file_storage file_{};
  tn_sim_mem_storage mem_{};
  bool booted_ = false;
  bool open_ = false;
  OnBytes on_bytes_;
  OnClosed on_closed_;
  asio::steady_timer poll_timer_;
  std::chrono::steady_clock::time_point start_;
  tn_ota_file_flash file_flash_{};
  static constexpr uint32_t kMaxSlot = 1024 * 1024;
  // Training memory (allocated only for a node with a shard).
  static constexpr uint32_t kTrainArenaBytes = 2 * 1024 * 1024;
  static constexpr size_t kTrainWorkspaceBytes = 2 * 1024 * 1024;
  static constexpr uint32_t kTrainTailBytes = 256 * 1024;
  static constexpr uint32_t kTrainResidualFloats = 64 * 1024;
  std::string shard_bytes_;
  tn_fset_view shard_set_{};
  tn_adapt_shard shard_{};
  std::vector<uint32_t> shard_index_;
  tn_adapt_data shard_data_{};
  std::vector<uint8_t> train_blob_;
  std::vector<uint64_t> train_arena_;
  std::vector<uint64_t> train_workspace_;
  std::vector<uint8_t> train_tail_;
  std::vector<float> train_residual_;
  static constexpr uint32_t kArenaBytes = 512 * 1024;

  // Verification and the self-test use a blob buffer and a model arena only
  // inside one node call (tn_ota_config), so the nodes served by one thread
  // share one set. A strand may run on any io thread, so every call points
  // the node at the set of the thread it runs on: a set captured at boot
  // could be in use by another node on its own thread at the same time.
  struct OtaBuffers {
    std::vector<uint8_t> blob = std::vector<uint8_t>(kMaxSlot);
    std::vector<uint64_t> arena =
        std::vector<uint64_t>(kArenaBytes / sizeof(uint64_t));
  };
  static OtaBuffers& ThreadOtaBuffers() {
    thread_local OtaBuffers buffers;
    return buffers;
  }
  void UseThisThreadsOtaBuffers() {
    if (!node_.ota_enabled) return;
    node_.ota.cfg.blob_buffer = ThreadOtaBuffers().blob.data();
    node_.ota.cfg.arena = ThreadOtaBuffers().arena.data();
  }
};

// ---- Stream transports (TCP, serial) ---------------------------------------

template <typename Stream>
class StreamTransport : public ByteTransport {
 public:
  explicit StreamTransport(Strand strand) : strand_(strand), stream_(strand) {}

  void Write(std::vector<uint8_t> bytes) override {
    if (!open_) return;
    queue_.push_back(std::move(bytes));
    if (!writing_) WriteNext();
  }

  void Close() override {
    open_ = false;
    boost::system::error_code ec;
    stream_.close(ec);
    queue_.clear();
  }

 protected:
  void Started() {
    open_ = true;
    ++generation_;
    ReadMore(generation_);
  }

  void Fail(const boost::system::error_code& ec, uint64_t gen) {
    if (!open_ || gen != generation_) return;
    Close();
    if (on_closed_) on_closed_(UnavailableError("node link: " + ec.message()));
  }

  void ReadMore(uint64_t gen) {
    stream_.async_read_some(
        asio::buffer(buf_),
        [this, gen](boost::system::error_code ec, size_t n) {
          if (ec) return Fail(ec, gen);
          if (gen != generation_) return;
          on_bytes_(buf_.data(), n);
          if (open_) ReadMore(gen);
        });
  }

  void WriteNext() {
    writing_ = true;
    uint64_t gen = generation_;
    asio::async_write(stream_, asio::buffer(queue_.front()),
                      [this, gen](boost::system::error_code ec, size_t) {
                        writing_ = false;
                        if (ec) return Fail(ec, gen);
                        if (!queue_.empty()) queue_.pop_front();
                        if (!queue_.empty() && open_) WriteNext();
                      });
  }

  Strand strand_;
  Stream stream_;
  std::array<uint8_t, 2048> buf_{};
  std::deque<std::vector<uint8_t>> queue_;
  bool writing_ = false;
  bool open_ = false;
  uint64_t generation_ = 0;
  OnBytes on_bytes_;
  OnClosed on_closed_;
};

class TcpTransport final : public StreamTransport<asio::ip::tcp::socket> {
 public:
  TcpTransport(Strand strand, std::string host, uint16_t port)
      : StreamTransport(strand),
        resolver_(strand),
        host_(std::move(host)),
        port_(port) {}

  void Open(std::function<void(const Status&)> on_open, OnBytes on_bytes,
            OnClosed on_closed) override {
    on_bytes_ = std::move(on_bytes);
    on_closed_ = std::move(on_closed);
    resolver_.async_resolve(
        host_, std::to_string(port_),
        [this, on_open](boost::system::error_code ec,
                        asio::ip::tcp::resolver::results_type results) {
          if (ec) {
            return on_open(
                UnavailableError("resolve " + host_ + ": " + ec.message()));
          }
          asio::async_connect(
              stream_, results,
              [this, on_open](boost::system::error_code cec,
                              const asio::ip::tcp::endpoint&) {
                if (cec) {
                  return on_open(UnavailableError("connect " + host_ + ":" +
                                                  std::to_string(port_) + ": " +
                                                  cec.message()));
                }
                stream_.set_option(asio::ip::tcp::no_delay(true));
                Started();
                on_open(Status::Ok());
              });
        });
  }
  const char* kind() const override { return "tcp"; }

 private:
  asio::ip::tcp::resolver resolver_;
  std::string host_;
  uint16_t port_;
};

class SerialTransport final : public StreamTransport<asio::serial_port> {
 public:
  SerialTransport(Strand strand, std::string device, unsigned baud)
      : StreamTransport(strand), device_(std::move(device)), baud_(baud) {}

  void Open(std::function<void(const Status&)> on_open, OnBytes on_bytes,
            OnClosed on_closed) override {
    on_bytes_ = std::move(on_bytes);
    on_closed_ = std::move(on_closed);
    boost::system::error_code ec;
    stream_.open(device_, ec);
    if (!ec) stream_.set_option(asio::serial_port::baud_rate(baud_), ec);
    if (!ec) stream_.set_option(asio::serial_port::character_size(8), ec);
    if (!ec) {
      stream_.set_option(
          asio::serial_port::parity(asio::serial_port::parity::none), ec);
    }
    if (!ec) {
      stream_.set_option(
          asio::serial_port::stop_bits(asio::serial_port::stop_bits::one), ec);
    }
    if (!ec) {
      stream_.set_option(asio::serial_port::flow_control(
                             asio::serial_port::flow_control::none),
                         ec);
    }
    Status s = Status::Ok();
    if (ec) {
      boost::system::error_code ignored;
      stream_.close(ignored);
      s = UnavailableError("serial " + device_ + ": " + ec.message());
    } else {
      Started();
    }
    asio::post(strand_, [on_open, s] { on_open(s); });
  }
  const char* kind() const override { return "serial"; }

 private:
  std::string device_;
  unsigned baud_;
};

}  // namespace

Result<std::unique_ptr<ByteTransport>> MakeVirtualNodeTransport(
    Strand strand, const VirtualNodeOptions& options) {
  if (options.target != TN_TARGET_HOST && options.target != TN_TARGET_GAP8 &&
      options.target != TN_TARGET_GAP9) {
    return InvalidArgumentError(
        "virtual node target must be host, gap8 or gap9");
  }
  if (options.firmware_version.empty() ||
      options.firmware_version.size() > 32) {
    return InvalidArgumentError("firmware version must be 1..32 characters");
  }
  return std::unique_ptr<ByteTransport>(
      new VirtualNodeTransport(strand, options));
}

std::unique_ptr<ByteTransport> MakeTcpTransport(Strand strand, std::string host,
                                                uint16_t port) {
  return std::make_unique<TcpTransport>(strand, std::move(host), port);
}

std::unique_ptr<ByteTransport> MakeSerialTransport(Strand strand,
                                                   std::string device,
                                                   unsigned baud) {
  return std::make_unique<SerialTransport>(strand, std::move(device), baud);
}

}  // namespace tinyfleet::agent
