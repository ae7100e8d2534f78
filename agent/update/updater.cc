#include "agent/update/updater.h"

#include <boost/asio/post.hpp>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "common/encoding.h"
#include "common/log.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::agent {
namespace {

// Delta artifacts (docs/formats/ota.md, section 9): header size, and where
// the header holds the SHA-256 of the result blob.
constexpr size_t kDeltaHeaderSize = 192;
constexpr size_t kDeltaResultSha256Offset = 80;

// The node's status name for a refusal, else the status code's name.
std::string NodeCode(const Status& s) {
  std::string code = NodeRefusalCode(s);
  return code.empty() ? std::string(StatusCodeName(s.code())) : code;
}

}  // namespace

std::shared_ptr<Updater> Updater::Create(UpdaterOptions options,
                                         std::shared_ptr<NodeLink> link,
                                         boost::asio::thread_pool* pool,
                                         ProgressFn progress) {
  return std::shared_ptr<Updater>(new Updater(
      std::move(options), std::move(link), pool, std::move(progress)));
}

UpdaterStats Updater::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Updater::Handle(const v1::UpdateOrder& order) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ == order.order_id() + "/" + order.action())
      return;  // in progress
    auto done = finished_.find(order.order_id() + "/" + order.action());
    if (done != finished_.end()) {
      progress_(done->second);  // the report may have been lost
      return;
    }
  }
  boost::asio::post(*pool_,
                    [self = shared_from_this(), order] { self->Run(order); });
}

void Updater::Report(const v1::UpdateOrder& order, const std::string& stage,
                     uint64_t offset, uint64_t total, const Status& error) {
  v1::UpdateProgress p;
  p.set_order_id(order.order_id());
  p.set_stage(stage);
  p.set_offset(offset);
  p.set_total(total);
  if (!error.ok()) {
    p.set_error_code(NodeCode(error));
    p.set_error(error.message());
  }
  bool final =
      stage == "confirmed" || stage == "failed" || stage == "rolled_back";
  if (final) {
    std::lock_guard<std::mutex> lock(mu_);
    finished_[order.order_id() + "/" + order.action()] = p;
  }
  if ((final || stage == "interrupted") && slots_) {
    // Best effort: the gateway keeps the table it has when the node does
    // not answer now. HELLO is the request whose reply names each slot's
    // model; it changes nothing on the node.
    tn_link_hello hello{TN_LINK_VERSION, TN_LINK_MAX_PAYLOAD};
    std::vector<uint8_t> req(8);
    size_t n = 0;
    tn_link_hello_encode(&hello, req.data(), req.size(), &n);
    req.resize(n);
    auto reply = CallNode(TN_LINK_MSG_HELLO, std::move(req));
    tn_link_hello_reply st;
    if (reply.ok() && tn_link_hello_reply_decode(reply->data(), reply->size(),
                                                 &st) == TN_OK) {
      std::vector<v1::ModelSlot> slots;
      for (uint8_t i = 0; i < st.slot_count && i < TN_LINK_MAX_SLOTS; ++i) {
        slots.push_back(ToModelSlot(i, st.slots[i]));
      }
      slots_(std::move(slots));
    }
  }
  progress_(p);
}

void Updater::Run(v1::UpdateOrder order) {
  std::string key = order.order_id() + "/" + order.action();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_.empty() || finished_.count(key)) return;  // one job at a time
    running_ = key;
  }
  Status s = order.action() == "rollback" ? Rollback(order) : Install(order);
  if (!s.ok()) {
    TF_LOG(kWarning, "update") << order.order_id() << ": " << s.ToString();
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.failures;
  }
  std::lock_guard<std::mutex> lock(mu_);
  running_.clear();
}

Result<std::vector<uint8_t>> Updater::CallNode(uint8_t type,
                                               std::vector<uint8_t> payload) {
  return link_->CallAndWait(type, std::move(payload));
}

Status Updater::ProvisionModelKey() {
  if (options_.credentials.model_signing_public_key.size() !=
      TN_LINK_PUBLIC_KEY_SIZE) {
    return Status::Ok();  // nothing to give
  }
  std::vector<uint8_t> empty(4);
  size_t n = 0;
  tn_link_model_status_encode(empty.data(), empty.size(), &n);
  empty.resize(n);
  TF_ASSIGN_OR_RETURN(auto reply,
                      CallNode(TN_LINK_MSG_MODEL_STATUS, std::move(empty)));
  tn_link_model_status_reply st;
  if (tn_link_model_status_reply_decode(reply.data(), reply.size(), &st) !=
      TN_OK) {
    return DataLossError("node sent a malformed MODEL_STATUS reply");
  }
  Sha256Digest id = Sha256(options_.credentials.model_signing_public_key);
  if (st.key_state == TN_LINK_MODEL_KEY_SET &&
      std::memcmp(st.model_key_id, id.data(), TN_LINK_KEY_ID_SIZE) == 0) {
    return Status::Ok();
  }
  tn_link_set_model_key m;
  std::memcpy(m.public_key,
              options_.credentials.model_signing_public_key.data(),
              TN_LINK_PUBLIC_KEY_SIZE);
  std::vector<uint8_t> payload(TN_LINK_PUBLIC_KEY_SIZE + 8);
  if (tn_link_set_model_key_encode(&m, payload.data(), payload.size(), &n) !=
      TN_OK) {
    return InternalError("cannot encode SET_MODEL_KEY");
  }
  payload.resize(n);
  return CallNode(TN_LINK_MSG_SET_MODEL_KEY, std::move(payload)).status();
}

Result<std::string> FetchArtifactToCache(
    const ArtifactFetchOptions& options, const std::string& id, uint64_t bytes,
    const std::function<void(uint64_t chunk, uint64_t have)>& on_chunk) {
  if (id.size() != 64 ||
      id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgumentError("malformed artifact id");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.cache_dir, ec);
  auto done_path = options.cache_dir / (id + ".bin");
  auto part_path = options.cache_dir / (id + ".part");
  auto cached = ReadFile(done_path);
  if (cached.ok() && Sha256Hex(*cached) == id) return *cached;

  uint64_t have = std::filesystem::exists(part_path)
                      ? std::filesystem::file_size(part_path)
                      : 0;
  if (have > bytes) {
    std::filesystem::remove(part_path, ec);
    have = 0;
  }
  auto stub = v1::AgentService::NewStub(
      MakeChannel(options.endpoint, &options.credentials));
  grpc::ClientContext ctx;
  if (options.endpoint.insecure) {
    ctx.AddMetadata("x-tinyfleet-device-id", options.credentials.device_id);
  }
  ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  v1::FetchArtifactRequest req;
  req.set_artifact_id(id);
  req.set_offset(have);
  req.set_chunk_bytes(options.chunk_bytes);
  auto reader = stub->FetchArtifact(&ctx, req);
  std::ofstream out(part_path, std::ios::binary | std::ios::app);
  v1::ArtifactChunk chunk;
  while (reader->Read(&chunk)) {
    if (chunk.offset() != have) {
      ctx.TryCancel();
      return DataLossError("gateway sent a chunk at the wrong offset");
    }
    Sha256Digest d = Sha256(chunk.data());
    if (chunk.sha256() !=
        std::string(reinterpret_cast<const char*>(d.data()), d.size())) {
      ctx.TryCancel();
      return DataLossError(
          "artifact chunk failed its SHA-256");  // resume re-fetches it
    }
    out.write(chunk.data().data(),
              static_cast<std::streamsize>(chunk.data().size()));
    out.flush();
    have += chunk.data().size();
    if (on_chunk) on_chunk(chunk.data().size(), have);
  }
  grpc::Status st = reader->Finish();
  out.close();
  if (!st.ok()) return FromGrpc(st).WithContext("fetch artifact");
  TF_ASSIGN_OR_RETURN(std::string data, ReadFile(part_path));
  if (data.size() != bytes || Sha256Hex(data) != id) {
    std::filesystem::remove(part_path, ec);
    return DataLossError("artifact does not match its SHA-256");
  }
  std::filesystem::rename(part_path, done_path, ec);
  return data;
}

Result<std::string> Updater::Fetch(const v1::UpdateOrder& order) {
  ArtifactFetchOptions fetch;
  fetch.endpoint = options_.endpoint;
  fetch.credentials = options_.credentials;
  fetch.cache_dir = options_.cache_dir;
  fetch.chunk_bytes = options_.fetch_chunk;
  fetch.timeout = options_.fetch_timeout;
  uint64_t next_report = 0;
  return FetchArtifactToCache(
      fetch, order.artifact_id(), order.artifact_bytes(),
      [&](uint64_t chunk, uint64_t have) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          stats_.fetched_bytes += chunk;
        }
        if (have >= next_report) {
          Report(order, "downloading", have, order.artifact_bytes());
          next_report = have + 256 * 1024;
        }
      });
}

Status Updater::Relay(const v1::UpdateOrder& order,
                      const std::string& artifact) {
  // Where does the node stand? A reset node resumes at its committed offset.
  std::vector<uint8_t> empty(4);
  size_t n = 0;
  tn_link_model_status_encode(empty.data(), empty.size(), &n);
  empty.resize(n);
  TF_ASSIGN_OR_RETURN(auto reply, CallNode(TN_LINK_MSG_MODEL_STATUS, empty));
  tn_link_model_status_reply st;
  if (tn_link_model_status_reply_decode(reply.data(), reply.size(), &st) !=
      TN_OK) {
    return DataLossError("node sent a malformed MODEL_STATUS reply");
  }
  uint8_t artifact_id[TN_LINK_ARTIFACT_ID_SIZE];
  auto raw_id = HexDecode(order.artifact_id());
  if (!raw_id.ok()) return InvalidArgumentError("malformed artifact id");
  std::memcpy(artifact_id, raw_id->data(), TN_LINK_ARTIFACT_ID_SIZE);
  uint8_t slot = st.running_slot == 0 ? 1 : 0;
  uint32_t offset = 0;
  bool resume =
      st.transfer != TN_LINK_TRANSFER_NONE &&
      std::memcmp(st.artifact_id, artifact_id, TN_LINK_ARTIFACT_ID_SIZE) == 0 &&
      st.total_size == artifact.size();
  if (resume) {
    slot = st.target_slot;
    offset = st.committed_offset;
  }
  if (!resume || st.transfer == TN_LINK_TRANSFER_NONE) {
    tn_link_model_begin b{};
    std::memcpy(b.artifact_id, artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
    b.total_size = static_cast<uint32_t>(artifact.size());
    if (order.is_delta()) {
      // A delta (docs/formats/ota.md, section 9): MODEL_BEGIN_DELTA names
      // the result blob by the SHA-256 in the delta's header.
      if (artifact.size() < kDeltaHeaderSize ||
          artifact.compare(0, 4, "TNDL") != 0) {
        return InvalidArgumentError("the delta artifact has no delta header");
      }
      std::memcpy(b.sha256, artifact.data() + kDeltaResultSha256Offset,
                  TN_LINK_SHA256_SIZE);
    } else {
      Sha256Digest d = Sha256(artifact);
      std::memcpy(b.sha256, d.data(), TN_LINK_SHA256_SIZE);
    }
    b.target_slot = slot;
    std::vector<uint8_t> p(64);
    if (tn_link_model_begin_encode(&b, p.data(), p.size(), &n) != TN_OK) {
      return InternalError("cannot encode MODEL_BEGIN");
    }
    p.resize(n);
    TF_RETURN_IF_ERROR(CallNode(order.is_delta() ? TN_LINK_MSG_MODEL_BEGIN_DELTA
                                                 : TN_LINK_MSG_MODEL_BEGIN,
                                std::move(p))
                           .status());
    offset = 0;
  }
  if (st.transfer != TN_LINK_TRANSFER_COMMITTED || !resume) {
    size_t max_data =
        std::min<size_t>(TN_LINK_MAX_PAYLOAD, link_->peer_max_payload()) - 6;
    uint64_t next_report = 0;
    while (offset < artifact.size()) {
      size_t len = std::min<size_t>(max_data, artifact.size() - offset);
      tn_link_model_chunk c{
          offset, static_cast<uint16_t>(len),
          reinterpret_cast<const uint8_t*>(artifact.data()) + offset};
      std::vector<uint8_t> p(len + 16);
      if (tn_link_model_chunk_encode(&c, p.data(), p.size(), &n) != TN_OK) {
        return InternalError("cannot encode MODEL_CHUNK");
      }
      p.resize(n);
      TF_RETURN_IF_ERROR(
          CallNode(TN_LINK_MSG_MODEL_CHUNK, std::move(p)).status());
      offset += static_cast<uint32_t>(len);
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.relayed_bytes += len;
      }
      if (offset >= next_report) {
        Report(order, "transferring", offset, artifact.size());
        next_report = offset + 16 * 1024;
      }
    }
    Report(order, "verifying", artifact.size(), artifact.size());
    tn_link_model_commit mc{};
    std::memcpy(mc.artifact_id, artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
    std::vector<uint8_t> p(32);
    tn_link_model_commit_encode(&mc, p.data(), p.size(), &n);
    p.resize(n);
    TF_RETURN_IF_ERROR(
        CallNode(TN_LINK_MSG_MODEL_COMMIT, std::move(p)).status());
  }
  tn_link_slot_command cmd{slot};
  std::vector<uint8_t> p(4);
  tn_link_slot_command_encode(&cmd, p.data(), p.size(), &n);
  p.resize(n);
  TF_RETURN_IF_ERROR(CallNode(TN_LINK_MSG_ACTIVATE, p).status());
  Report(order, "activated", artifact.size(), artifact.size());
  return CallNode(TN_LINK_MSG_CONFIRM, p).status();
}

Status Updater::Install(const v1::UpdateOrder& order) {
  Report(order, "downloading", 0, order.artifact_bytes());
  auto artifact = Fetch(order);
  auto backoff = std::chrono::milliseconds(100);
  for (int attempt = 1; !artifact.ok() && IsTransient(artifact.status()) &&
                        attempt < options_.fetch_attempts;
       ++attempt) {
    // Bytes already on disk are kept: the next fetch resumes after them.
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    artifact = Fetch(order);
  }
  if (!artifact.ok()) {
    Report(order, IsTransient(artifact.status()) ? "interrupted" : "failed", 0,
           order.artifact_bytes(), artifact.status());
    return artifact.status();
  }
  (void)ProvisionModelKey();
  Status s = Relay(order, *artifact);
  if (!s.ok()) {
    // A node that was reset or whose link dropped resumes at its committed
    // offset when the order comes again.
    Report(order, IsTransient(s) ? "interrupted" : "failed", 0,
           artifact->size(), s);
    return s;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.installs;
  }
  Report(order, "confirmed", artifact->size(), artifact->size());
  return Status::Ok();
}

Status Updater::Rollback(const v1::UpdateOrder& order) {
  std::vector<uint8_t> empty(4);
  size_t n = 0;
  tn_link_model_status_encode(empty.data(), empty.size(), &n);
  empty.resize(n);
  auto reply = CallNode(TN_LINK_MSG_MODEL_STATUS, empty);
  tn_link_model_status_reply st{};
  if (reply.ok() &&
      tn_link_model_status_reply_decode(reply->data(), reply->size(), &st) ==
          TN_OK &&
      st.previous_slot != TN_LINK_NO_SLOT) {
    tn_link_slot_command cmd{st.running_slot == TN_LINK_NO_SLOT
                                 ? st.previous_slot
                                 : st.running_slot};
    std::vector<uint8_t> p(4);
    tn_link_slot_command_encode(&cmd, p.data(), p.size(), &n);
    p.resize(n);
    Status s = CallNode(TN_LINK_MSG_ROLLBACK, std::move(p)).status();
    if (!s.ok()) {
      Report(order, IsTransient(s) ? "interrupted" : "failed", 0, 0, s);
      return s;
    }
  }
  // Nothing newer runs (never installed, or already reverted): done.
  Report(order, "rolled_back", 0, 0);
  return Status::Ok();
}

}  // namespace tinyfleet::agent
