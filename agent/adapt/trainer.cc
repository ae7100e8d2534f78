// The Trainer's job steps (see trainer.h): declines, tail download and
// relay, polling the node's job, collecting and keeping the update, and the
// resumable upload.
#include "agent/adapt/trainer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

#include "adapt/tn_adapt.h"
#include "agent/update/updater.h"
#include "common/encoding.h"
#include "common/log.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::agent {

struct Trainer::Job {
  v1::TrainOrder order;
  std::string key;  // round_id "/" attempt
  uint32_t job_id = 0;
  tn_link_train_params params{};
  std::string tail;
  std::string update;  // the collected TNUP
  std::atomic<bool> cancel{false};
};

namespace {

std::string NodeCode(const Status& s) { return NodeRefusalCode(s); }

// Few-shot and self-learning defaults for zero hyperparameters.
constexpr uint32_t kDefaultShots = 3;
constexpr uint32_t kMaxShots = 65535;
constexpr double kDefaultTargetFar = 0.05;

bool EnrollingKind(v1::RoundKind kind) {
  return kind == v1::ROUND_KIND_FEW_SHOT ||
         kind == v1::ROUND_KIND_SELF_LEARNING;
}

template <typename M>
std::vector<uint8_t> Encode(tn_status (*encode)(const M*, uint8_t*, size_t,
                                                size_t*),
                            const M& msg) {
  std::vector<uint8_t> out(TN_LINK_MAX_PAYLOAD);
  size_t n = 0;
  if (encode(&msg, out.data(), out.size(), &n) != TN_OK) return {};
  out.resize(n);
  return out;
}

std::string AsString(const uint8_t* p, size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n);
}

// Writes `bytes` to `path` through a temporary file and a rename, so that a
// crash leaves either the old file or the whole new one.
Status WriteAtomically(const std::filesystem::path& path,
                       const std::string& bytes) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out.good()) return UnavailableError("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return UnavailableError("cannot rename " + tmp.string());
  return Status::Ok();
}

}  // namespace

uint32_t TrainJobId(const std::string& round_id, uint32_t attempt) {
  Sha256Digest d = Sha256(round_id + "/" + std::to_string(attempt));
  uint32_t id = tn_load_u32le(d.data());
  return id == 0 ? 1 : id;
}

Result<tn_link_train_params> TrainParamsFor(const v1::TrainOrder& order) {
  tn_link_train_params p;
  std::memset(&p, 0, sizeof(p));
  const auto& hp = order.hyperparameters();
  switch (order.kind()) {
    case v1::ROUND_KIND_FEDERATED:
      p.kind = TN_LINK_TRAIN_FEDERATED;
      break;
    case v1::ROUND_KIND_LATENT_REPLAY:
      p.kind = TN_LINK_TRAIN_LATENT_REPLAY;
      p.replay_bits =
          static_cast<uint8_t>(hp.replay_bits() == 0 ? 8 : hp.replay_bits());
      p.replay_samples = hp.replay_samples() == 0 ? 64 : hp.replay_samples();
      if (hp.replay_bits() > 8) {
        return InvalidArgumentError("replay_bits must be 7 or 8");
      }
      break;
    case v1::ROUND_KIND_FEW_SHOT:
    case v1::ROUND_KIND_SELF_LEARNING:
      p.kind = order.kind() == v1::ROUND_KIND_FEW_SHOT
                   ? TN_LINK_TRAIN_FEW_SHOT
                   : TN_LINK_TRAIN_SELF_LEARNING;
      if (hp.shots() > kMaxShots) {
        return InvalidArgumentError("shots must be at most " +
                                    std::to_string(kMaxShots));
      }
      p.replay_samples = hp.shots() == 0 ? kDefaultShots : hp.shots();
      if (order.kind() == v1::ROUND_KIND_FEW_SHOT) {
        if (!(hp.target_far() >= 0 && hp.target_far() <= 1)) {
          return InvalidArgumentError("target_far must be in [0, 1]");
        }
        p.target_far = static_cast<float>(
            hp.target_far() == 0 ? kDefaultTargetFar : hp.target_far());
      }
      break;
    default:
      return InvalidArgumentError(
          std::string("the node does not train rounds of kind ") +
          v1::RoundKind_Name(order.kind()));
  }
  if (order.frozen_sha256().size() != TN_LINK_SHA256_SIZE) {
    return InvalidArgumentError("frozen_sha256 must be 32 bytes");
  }
  auto tail_sha = HexDecode(order.tail_artifact_sha256());
  if (!tail_sha.ok() || tail_sha->size() != TN_LINK_SHA256_SIZE) {
    return InvalidArgumentError("tail_artifact_sha256 must be 64 hex digits");
  }
  if (order.tail_artifact_bytes() == 0 ||
      order.tail_artifact_bytes() > UINT32_MAX) {
    return InvalidArgumentError("tail artifact size out of range");
  }
  if (hp.local_epochs() > 0xFFFF || hp.batch_size() > 0xFFFF) {
    return InvalidArgumentError("local_epochs and batch_size must fit 16 bits");
  }
  Sha256Digest binding = Sha256(order.round_id());
  std::memcpy(p.round_binding, binding.data(), TN_LINK_SHA256_SIZE);
  std::memcpy(p.frozen_sha256, order.frozen_sha256().data(),
              TN_LINK_SHA256_SIZE);
  std::memcpy(p.tail_sha256, tail_sha->data(), TN_LINK_SHA256_SIZE);
  p.tail_size = static_cast<uint32_t>(order.tail_artifact_bytes());
  p.seed = order.seed();
  p.attempt = order.attempt();
  p.local_epochs =
      static_cast<uint16_t>(hp.local_epochs() == 0 ? 1 : hp.local_epochs());
  p.batch_size =
      static_cast<uint16_t>(hp.batch_size() == 0 ? 16 : hp.batch_size());
  p.learning_rate =
      static_cast<float>(hp.learning_rate() == 0 ? 0.01 : hp.learning_rate());
  p.momentum = static_cast<float>(hp.momentum());
  p.weight_decay = static_cast<float>(hp.weight_decay());
  p.prox_mu = static_cast<float>(hp.prox_mu());
  p.clip_norm = static_cast<float>(hp.clip_norm());
  p.top_k_ratio = static_cast<float>(hp.top_k_ratio());
  uint8_t buf[TN_LINK_TRAIN_PARAMS_SIZE];
  size_t n = 0;
  if (tn_link_train_params_encode(&p, buf, sizeof(buf), &n) != TN_OK) {
    return InvalidArgumentError(
        "hyperparameters out of the node's range (learning rate > 0, "
        "momentum in [0, 1), decay, prox_mu and clip >= 0, top-k in [0, 1])");
  }
  return p;
}

std::shared_ptr<Trainer> Trainer::Create(TrainerOptions options,
                                         std::shared_ptr<NodeLink> link,
                                         boost::asio::io_context& io,
                                         boost::asio::thread_pool* blocking,
                                         ProgressFn progress) {
  return std::shared_ptr<Trainer>(new Trainer(
      std::move(options), std::move(link), io, blocking, std::move(progress)));
}

Trainer::Trainer(TrainerOptions options, std::shared_ptr<NodeLink> link,
                 boost::asio::io_context& io,
                 boost::asio::thread_pool* blocking, ProgressFn progress)
    : options_(std::move(options)),
      link_(std::move(link)),
      io_(io),
      blocking_(blocking),
      progress_(std::move(progress)),
      timer_(io) {}

TrainerStats Trainer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool Trainer::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_ != nullptr;
}

void Trainer::Handle(const v1::TrainOrder& order) {
  auto job = std::make_shared<Job>();
  job->order = order;
  job->key = order.round_id() + "/" + std::to_string(order.attempt());
  job->job_id = TrainJobId(order.round_id(), order.attempt());
  std::optional<v1::TrainProgress> again;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_) return;  // this round in progress, or another one
    auto done = finished_.find(job->key);
    if (done != finished_.end()) {
      again = done->second;
    } else {
      running_ = job;
    }
  }
  if (again) {
    progress_(*again);  // the report may have been lost
    return;
  }
  boost::asio::post(*blocking_,
                    [self = shared_from_this(), job] { self->Start(job); });
}

void Trainer::Cancel(const v1::TrainCancel& cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_ && running_->order.round_id() == cancel.round_id()) {
    running_->cancel = true;
  }
}

std::filesystem::path Trainer::UpdatePath(const Job& job) const {
  return options_.state_dir / "updates" /
         (Sha256Hex(job.key).substr(0, 32) + ".tnup");
}

void Trainer::Report(const Job& job, const std::string& stage,
                     const std::string& error) {
  v1::TrainProgress p;
  p.set_round_id(job.order.round_id());
  p.set_stage(stage);
  if (!error.empty()) p.set_error(error);
  tn_tnup u;
  if (!job.update.empty() &&
      tn_tnup_decode(reinterpret_cast<const uint8_t*>(job.update.data()),
                     job.update.size(), &u) == TN_OK) {
    p.set_samples(u.meta.samples);
    p.set_loss(u.meta.loss_after);
    p.set_accuracy_before(u.meta.accuracy_before);
    p.set_accuracy_after(u.meta.accuracy_after);
  }
  if (stage == "uploaded" || stage == "failed" || stage == "declined") {
    std::lock_guard<std::mutex> lock(mu_);
    finished_[job.key] = p;
  }
  progress_(p);
}

void Trainer::Finish(std::shared_ptr<Job> job, const std::string& stage,
                     const Status& why) {
  if (!stage.empty()) {
    Report(*job, stage, why.ok() ? std::string() : why.message());
  } else if (job->cancel) {
    TF_LOG(kInfo, "train") << job->key << ": cancelled by the gateway";
  } else if (!why.ok()) {
    TF_LOG(kInfo, "train") << job->key << ": stopped (" << why.ToString()
                           << "); a repeated order resumes";
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (stage == "declined") ++stats_.declined;
  if (stage == "failed") ++stats_.failed;
  if (stage == "uploaded") ++stats_.uploaded;
  if (stage.empty() && !why.ok()) {
    if (why.code() == StatusCode::kCancelled && job->cancel) {
      ++stats_.cancelled;
    } else {
      ++stats_.interrupted;
    }
  }
  if (running_ == job) running_.reset();
}

Result<std::vector<uint8_t>> Trainer::CallNode(uint8_t type,
                                               std::vector<uint8_t> payload) {
  return link_->CallAndWait(type, std::move(payload));
}

Result<tn_link_train_status_reply> Trainer::NodeStatus(uint32_t job_id) {
  tn_link_train_status q{job_id};
  TF_ASSIGN_OR_RETURN(auto reply,
                      CallNode(TN_LINK_MSG_TRAIN_STATUS,
                               Encode(tn_link_train_status_encode, q)));
  tn_link_train_status_reply st;
  if (tn_link_train_status_reply_decode(reply.data(), reply.size(), &st) !=
      TN_OK) {
    return DataLossError("node sent a malformed TRAIN_STATUS reply");
  }
  return st;
}

void Trainer::Start(std::shared_ptr<Job> job) {
  // An update collected before a restart: only the upload is left.
  auto kept = ReadFile(UpdatePath(*job));
  tn_tnup u;
  if (kept.ok() &&
      tn_tnup_decode(reinterpret_cast<const uint8_t*>(kept->data()),
                     kept->size(), &u) == TN_OK &&
      u.meta.attempt == job->order.attempt()) {
    job->update = *kept;
    Status s = Upload(job.get());
    if (s.ok()) return Finish(job, "uploaded", s);
    return Finish(job, IsTransient(s) ? "" : "failed", s);
  }
  Status s = Prepare(job.get());
  if (s.ok()) return SchedulePoll(job);
  if (s.code() == StatusCode::kFailedPrecondition && NodeCode(s).empty()) {
    return Finish(job, "declined", s);  // Prepare's refusals
  }
  if (NodeCode(s) == "TN_ERR_FROZEN_MISMATCH") {
    return Finish(job, "declined",
                  FailedPreconditionError(
                      "the node runs another model (its frozen part is not "
                      "the round's)"));
  }
  if (NodeCode(s) == "TN_ERR_NOT_FOUND" && EnrollingKind(job->order.kind())) {
    // The node refused the job at its start: its local data lacks what
    // enrolment needs (docs/adaptation.md, "Few-shot and self-learning").
    return Finish(job, "declined",
                  FailedPreconditionError(
                      "the node does not hold " +
                      std::to_string(job->params.replay_samples) +
                      " labelled examples of every class to enrol" +
                      (job->order.kind() == v1::ROUND_KIND_FEW_SHOT
                           ? std::string(" and negatives to calibrate on")
                           : std::string()) +
                      " (TN_ERR_NOT_FOUND)"));
  }
  Finish(job, IsTransient(s) ? "" : "failed", s);
}

Status Trainer::Prepare(Job* job) {
  // What the node can do and runs (HELLO changes nothing on the node).
  tn_link_hello hello{TN_LINK_VERSION, TN_LINK_MAX_PAYLOAD};
  TF_ASSIGN_OR_RETURN(
      auto reply,
      CallNode(TN_LINK_MSG_HELLO, Encode(tn_link_hello_encode, hello)));
  tn_link_hello_reply info;
  if (tn_link_hello_reply_decode(reply.data(), reply.size(), &info) != TN_OK) {
    return DataLossError("node sent a malformed HELLO reply");
  }
  if (!(info.capabilities & TN_LINK_CAP_TRAIN)) {
    return FailedPreconditionError(
        "the node cannot train (no TRAIN capability)");
  }
  bool runs = false;
  for (uint8_t i = 0; i < info.slot_count && i < TN_LINK_MAX_SLOTS; ++i) {
    runs = runs || info.slots[i].state == TN_LINK_SLOT_ACTIVE ||
           info.slots[i].state == TN_LINK_SLOT_PENDING_CONFIRM;
  }
  if (!runs) return FailedPreconditionError("the node runs no model");
  auto params = TrainParamsFor(job->order);
  if (!params.ok()) {
    return FailedPreconditionError(params.status().message());
  }
  job->params = *params;

  // The node may already hold this job (the agent restarted).
  TF_ASSIGN_OR_RETURN(auto st, NodeStatus(job->job_id));
  const bool same = st.job_id == job->job_id;
  if (same &&
      (st.state == TN_LINK_TRAIN_RUNNING || st.state == TN_LINK_TRAIN_DONE)) {
    Report(*job, "training");
    return Status::Ok();
  }
  Report(*job, "accepted");

  ArtifactFetchOptions fetch;
  fetch.endpoint = options_.endpoint;
  fetch.credentials = options_.credentials;
  fetch.cache_dir = options_.state_dir / "tails";
  fetch.chunk_bytes = options_.fetch_chunk;
  fetch.timeout = options_.fetch_timeout;
  auto tail = FetchArtifactToCache(fetch, job->order.tail_artifact_id(),
                                   job->order.tail_artifact_bytes(), nullptr);
  auto backoff = std::chrono::milliseconds(100);
  for (int attempt = 1; !tail.ok() && IsTransient(tail.status()) &&
                        attempt < options_.fetch_attempts;
       ++attempt) {
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    tail = FetchArtifactToCache(fetch, job->order.tail_artifact_id(),
                                job->order.tail_artifact_bytes(), nullptr);
  }
  if (!tail.ok()) return tail.status();
  if (Sha256Hex(*tail) != job->order.tail_artifact_sha256()) {
    return DataLossError("tail artifact does not match tail_artifact_sha256");
  }
  job->tail = std::move(*tail);

  // The job, then the tail from where the node stands.
  uint8_t params_bytes[TN_LINK_TRAIN_PARAMS_SIZE];
  size_t n = 0;
  if (tn_link_train_params_encode(&job->params, params_bytes,
                                  sizeof(params_bytes), &n) != TN_OK) {
    return InternalError("cannot encode TRAIN parameters");
  }
  tn_link_train train{job->job_id, static_cast<uint16_t>(n), params_bytes};
  TF_RETURN_IF_ERROR(
      CallNode(TN_LINK_MSG_TRAIN, Encode(tn_link_train_encode, train))
          .status());
  uint32_t offset =
      (same && st.state == TN_LINK_TRAIN_RECEIVING) ? st.tail_received : 0;
  const size_t max_data =
      std::min<size_t>(TN_LINK_MAX_PAYLOAD, link_->peer_max_payload()) - 10;
  while (offset < job->tail.size()) {
    if (job->cancel) return CancelledError("cancelled by the gateway");
    size_t len = std::min<size_t>(max_data, job->tail.size() - offset);
    tn_link_train_tail c{
        job->job_id, offset, static_cast<uint16_t>(len),
        reinterpret_cast<const uint8_t*>(job->tail.data()) + offset};
    TF_RETURN_IF_ERROR(
        CallNode(TN_LINK_MSG_TRAIN_TAIL, Encode(tn_link_train_tail_encode, c))
            .status());
    offset += static_cast<uint32_t>(len);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.tail_bytes += len;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.jobs_started;
  }
  Report(*job, "training");
  return Status::Ok();
}

void Trainer::SchedulePoll(std::shared_ptr<Job> job) {
  timer_.expires_after(options_.poll_interval);
  timer_.async_wait(
      [self = shared_from_this(), job](boost::system::error_code ec) {
        if (ec) return;
        boost::asio::post(*self->blocking_, [self, job] { self->Poll(job); });
      });
}

void Trainer::Poll(std::shared_ptr<Job> job) {
  if (job->cancel) {
    tn_link_train_cancel c{job->job_id};
    (void)CallNode(TN_LINK_MSG_TRAIN_CANCEL,
                   Encode(tn_link_train_cancel_encode, c));
    return Finish(job, "", CancelledError("cancelled by the gateway"));
  }
  if (job->order.has_deadline() &&
      std::chrono::system_clock::now() >
          std::chrono::system_clock::time_point(
              std::chrono::seconds(job->order.deadline().seconds()))) {
    tn_link_train_cancel c{job->job_id};
    (void)CallNode(TN_LINK_MSG_TRAIN_CANCEL,
                   Encode(tn_link_train_cancel_encode, c));
    return Finish(job, "failed",
                  DeadlineExceededError("the round's deadline passed"));
  }
  auto st = NodeStatus(job->job_id);
  if (!st.ok()) return Finish(job, "", st.status());
  if (st->job_id != job->job_id || st->state == TN_LINK_TRAIN_IDLE ||
      st->state == TN_LINK_TRAIN_CANCELLED ||
      st->state == TN_LINK_TRAIN_RECEIVING) {
    // The node was reset or gave the job up: the repeated order restarts it.
    return Finish(job, "", AbortedError("the node no longer holds the job"));
  }
  if (st->state == TN_LINK_TRAIN_RUNNING) return SchedulePoll(job);
  if (st->state == TN_LINK_TRAIN_FAILED) {
    return Finish(job, "failed",
                  FailedPreconditionError(
                      std::string("node training failed: ") +
                      tn_status_str(static_cast<tn_status>(st->status))));
  }
  Status s = Collect(job.get(), *st);
  if (s.ok()) s = Upload(job.get());
  if (s.ok()) return Finish(job, "uploaded", s);
  Finish(job, IsTransient(s) ? "" : "failed", s);
}

Status Trainer::Collect(Job* job, const tn_link_train_status_reply& st) {
  std::string update;
  update.reserve(st.update_size);
  const uint16_t max_len = static_cast<uint16_t>(
      std::min<size_t>(TN_LINK_MAX_PAYLOAD, link_->peer_max_payload()) - 14);
  while (update.size() < st.update_size) {
    tn_link_update_read q{job->job_id, static_cast<uint32_t>(update.size()),
                          max_len};
    TF_ASSIGN_OR_RETURN(auto reply,
                        CallNode(TN_LINK_MSG_UPDATE_READ,
                                 Encode(tn_link_update_read_encode, q)));
    tn_link_update_chunk c;
    if (tn_link_update_chunk_decode(reply.data(), reply.size(), &c) != TN_OK ||
        c.offset != update.size() || c.total_size != st.update_size) {
      return DataLossError("node sent a malformed UPDATE_CHUNK");
    }
    update.append(reinterpret_cast<const char*>(c.data), c.data_len);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.update_bytes += c.data_len;
  }
  Sha256Digest d = Sha256(update);
  if (std::memcmp(d.data(), st.update_sha256, TN_LINK_SHA256_SIZE) != 0) {
    return DataLossError("update does not match the node's SHA-256");
  }
  tn_tnup u;
  tn_status ds = tn_tnup_decode(reinterpret_cast<const uint8_t*>(update.data()),
                                update.size(), &u);
  if (ds != TN_OK) {
    return DataLossError(std::string("node sent an invalid update: ") +
                         tn_status_str(ds));
  }
  if (std::memcmp(u.meta.round_binding, job->params.round_binding,
                  TN_LINK_SHA256_SIZE) != 0 ||
      u.meta.attempt != job->order.attempt()) {
    return DataLossError("the node's update answers another order");
  }
  job->update = std::move(update);
  return WriteAtomically(UpdatePath(*job), job->update);
}

Status Trainer::Upload(Job* job) {
  const std::string& data = job->update;
  const uint64_t total = data.size();
  Sha256Digest digest = Sha256(data);
  auto stub = v1::AgentService::NewStub(
      MakeChannel(options_.endpoint, &options_.credentials));
  uint64_t from = 0;
  auto backoff = std::chrono::milliseconds(100);
  Status last = UnavailableError("upload not attempted");
  for (int attempt = 0; attempt < options_.upload_attempts; ++attempt) {
    if (attempt > 0 && IsTransient(last)) {
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
    grpc::ClientContext ctx;
    if (options_.endpoint.insecure) {
      ctx.AddMetadata("x-tinyfleet-device-id", options_.credentials.device_id);
    }
    ctx.set_deadline(std::chrono::system_clock::now() +
                     options_.upload_timeout);
    v1::UploadUpdateResponse resp;
    auto writer = stub->UploadUpdate(&ctx, &resp);
    uint64_t off = from;
    bool sent_last = false;
    do {
      const uint64_t len = std::min<uint64_t>(options_.upload_chunk,
                                              total - std::min(off, total));
      v1::UpdateChunk c;
      c.set_round_id(job->order.round_id());
      c.set_offset(off);
      c.set_data(data.substr(off, len));
      c.set_total_bytes(total);
      c.set_attempt(job->order.attempt());
      if (off + len >= total) {
        c.set_sha256(AsString(digest.data(), digest.size()));
        sent_last = true;
      }
      if (!writer->Write(c)) break;
      off += len;
      std::lock_guard<std::mutex> lock(mu_);
      stats_.uploaded_bytes += len;
    } while (!sent_last);
    writer->WritesDone();
    grpc::Status gs = writer->Finish();
    if (!gs.ok()) {
      last = FromGrpc(gs).WithContext("upload update");
      if (!IsTransient(last)) return last;
      continue;
    }
    if (resp.accepted()) return Status::Ok();
    if (resp.committed_bytes() < total && resp.committed_bytes() != from) {
      from = resp.committed_bytes();  // resume where the gateway stands
      last = AbortedError("resume at committed_bytes");
      continue;
    }
    return FailedPreconditionError("the gateway refused the update: " +
                                   resp.reason());
  }
  return last;
}

}  // namespace tinyfleet::agent
