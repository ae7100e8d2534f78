#include "agent/update/updater.h"

#include <boost/asio/post.hpp>
#include <cstring>
#include <fstream>
#include <future>

#include "common/encoding.h"
#include "common/log.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::agent {
namespace {

// The node status name at the end of a NACK message ("... TN_ERR_SELFTEST").
std::string NodeCode(const Status& s) {
  const std::string& m = s.message();
  size_t at = m.rfind("TN_ERR_");
  return at == std::string::npos ? std::string(StatusCodeName(s.code()))
                                 : m.substr(at);
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
  if (stage == "confirmed" || stage == "failed" || stage == "rolled_back") {
    std::lock_guard<std::mutex> lock(mu_);
    finished_[order.order_id() + "/" + order.action()] = p;
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
  std::promise<Result<std::vector<uint8_t>>> p;
  auto f = p.get_future();
  link_->Call(type, std::move(payload), [&p](Result<std::vector<uint8_t>> r) {
    p.set_value(std::move(r));
  });
  return f.get();
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

Result<std::string> Updater::Fetch(const v1::UpdateOrder& order) {
  const std::string& id = order.artifact_id();
  if (id.size() != 64 ||
      id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgumentError("malformed artifact id");
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.cache_dir, ec);
  auto done_path = options_.cache_dir / (id + ".bin");
  auto part_path = options_.cache_dir / (id + ".part");
  auto cached = ReadFile(done_path);
  if (cached.ok() && Sha256Hex(*cached) == id) return *cached;

  uint64_t have = std::filesystem::exists(part_path)
                      ? std::filesystem::file_size(part_path)
                      : 0;
  if (have > order.artifact_bytes()) {
    std::filesystem::remove(part_path, ec);
    have = 0;
  }
  auto stub = v1::AgentService::NewStub(
      MakeChannel(options_.endpoint, &options_.credentials));
  grpc::ClientContext ctx;
  if (options_.endpoint.insecure) {
    ctx.AddMetadata("x-tinyfleet-device-id", options_.credentials.device_id);
  }
  ctx.set_deadline(std::chrono::system_clock::now() + options_.fetch_timeout);
  v1::FetchArtifactRequest req;
  req.set_artifact_id(id);
  req.set_offset(have);
  req.set_chunk_bytes(options_.fetch_chunk);
  auto reader = stub->FetchArtifact(&ctx, req);
  std::ofstream out(part_path, std::ios::binary | std::ios::app);
  v1::ArtifactChunk chunk;
  uint64_t next_report = 0;
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
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.fetched_bytes += chunk.data().size();
    }
    if (have >= next_report) {
      Report(order, "downloading", have, order.artifact_bytes());
      next_report = have + 256 * 1024;
    }
  }
  grpc::Status st = reader->Finish();
  out.close();
  if (!st.ok()) return FromGrpc(st).WithContext("fetch artifact");
  TF_ASSIGN_OR_RETURN(std::string bytes, ReadFile(part_path));
  if (bytes.size() != order.artifact_bytes() || Sha256Hex(bytes) != id) {
    std::filesystem::remove(part_path, ec);
    return DataLossError("artifact does not match its SHA-256");
  }
  std::filesystem::rename(part_path, done_path, ec);
  return bytes;
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
    Sha256Digest d = Sha256(artifact);
    std::memcpy(b.sha256, d.data(), TN_LINK_SHA256_SIZE);
    b.target_slot = slot;
    std::vector<uint8_t> p(64);
    if (tn_link_model_begin_encode(&b, p.data(), p.size(), &n) != TN_OK) {
      return InternalError("cannot encode MODEL_BEGIN");
    }
    p.resize(n);
    TF_RETURN_IF_ERROR(
        CallNode(TN_LINK_MSG_MODEL_BEGIN, std::move(p)).status());
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
  if (!artifact.ok()) {
    // The gateway orders again later; a partial download is kept.
    Report(order, "failed", 0, order.artifact_bytes(), artifact.status());
    return artifact.status();
  }
  (void)ProvisionModelKey();
  Status s = Relay(order, *artifact);
  if (!s.ok()) {
    Report(order, "failed", 0, artifact->size(), s);
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
      Report(order, "failed", 0, 0, s);
      return s;
    }
  }
  // Nothing newer runs (never installed, or already reverted): done.
  Report(order, "rolled_back", 0, 0);
  return Status::Ok();
}

}  // namespace tinyfleet::agent
