// Trainer: carries out the gateway's training orders (adaptation rounds)
// for one node.
//
//   1. decline ("declined", with the reason) when the node cannot train
//      (no TRAIN capability), runs no model, the round's kind is not one
//      the node trains, or its hyperparameters are out of the node's range;
//      for few-shot and self-learning also when the node refuses the job
//      for lack of labelled examples (TN_ERR_NOT_FOUND at its start);
//   2. "accepted": fetch the round's global tail (TNTL) into the state
//      directory with FetchArtifact, resuming a cut download (the download
//      code is agent/update's FetchArtifactToCache);
//   3. give the node the job (link TRAIN) and relay the tail in TRAIN_TAIL
//      frames of at most the node's payload size; a node running another
//      frozen part refuses it (declined); "training" while it trains,
//      polled with TRAIN_STATUS without holding a pool thread;
//   4. read the update (UPDATE_READ), check it (SHA-256, TNUP decode, round
//      binding, attempt) and keep it in the state directory, so that an
//      agent restart does not lose it: a repeated order finds it and only
//      uploads;
//   5. upload it with UploadUpdate, resuming at the gateway's
//      committed_bytes; "uploaded" (with samples, loss and accuracies) or
//      "failed" with the gateway's reason.
// Transient errors (gateway or node link unreachable, node reset) end the
// attempt without a final report; the gateway's repeated order resumes it
// (the node's job and the files on disk make the repeat cheap). A
// TrainCancel for the running round stops the node's job.
//
// Threading: blocking steps (downloads, node requests, uploads) run on the
// `blocking` pool, one job at a time; waiting for the node is a timer on
// `io`. Handle() and Cancel() may be called from any thread.
#ifndef TINYFLEET_AGENT_ADAPT_TRAINER_H_
#define TINYFLEET_AGENT_ADAPT_TRAINER_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/link/node_link.h"
#include "agent/session/gateway_client.h"
#include "common/status.h"
#include "link/tn_link.h"
#include "tinyfleet/v1/agent.pb.h"

namespace tinyfleet::agent {

struct TrainerOptions {
  GatewayEndpoint endpoint;
  Credentials credentials;
  // Tails (tails/) and collected updates (updates/) are kept here.
  std::filesystem::path state_dir;
  // Download of the tail (see FetchArtifactToCache). Defaults: 64 KiB
  // chunks, 120 s per attempt, 6 attempts.
  uint32_t fetch_chunk = 64 * 1024;
  std::chrono::seconds fetch_timeout{120};
  int fetch_attempts = 6;
  // Upload: bytes per UpdateChunk (default 16 KiB), time per attempt
  // (default 60 s) and attempts, each resuming at the gateway's
  // committed_bytes (default 6).
  uint32_t upload_chunk = 16 * 1024;
  std::chrono::seconds upload_timeout{60};
  int upload_attempts = 6;
  // How often the node's job is polled while it trains. Default 50 ms.
  std::chrono::milliseconds poll_interval{50};
};

struct TrainerStats {
  uint64_t declined = 0;
  uint64_t jobs_started = 0;    // TRAIN accepted by the node
  uint64_t uploaded = 0;        // updates the gateway accepted
  uint64_t failed = 0;          // final failures
  uint64_t interrupted = 0;     // attempts ended by a transient error
  uint64_t cancelled = 0;       // jobs stopped by TrainCancel
  uint64_t tail_bytes = 0;      // relayed to the node
  uint64_t update_bytes = 0;    // read from the node
  uint64_t uploaded_bytes = 0;  // sent to the gateway
};

// The node's link job id of an order: the first four bytes (LE) of
// SHA-256(round_id "/" attempt), never 0.
uint32_t TrainJobId(const std::string& round_id, uint32_t attempt);

// The node's TRAIN parameters for an order: defaults for zero
// hyperparameters (1 epoch, batch 16, learning rate 0.01; latent replay: 8
// bits, 64 samples; few-shot and self-learning: 3 shots per class, carried
// in replay_samples; few-shot: target FAR 0.05). INVALID_ARGUMENT for a
// kind the node does not train, a frozen hash that is not 32 bytes, a tail
// size out of range, or values the link refuses.
Result<tn_link_train_params> TrainParamsFor(const v1::TrainOrder& order);

class Trainer : public std::enable_shared_from_this<Trainer> {
 public:
  using ProgressFn = std::function<void(const v1::TrainProgress&)>;
  // `io` and `blocking` outlive the trainer.
  static std::shared_ptr<Trainer> Create(TrainerOptions options,
                                         std::shared_ptr<NodeLink> link,
                                         boost::asio::io_context& io,
                                         boost::asio::thread_pool* blocking,
                                         ProgressFn progress);

  // Starts the order unless a job runs (an order for the running round is
  // ignored; one for another round waits for its next repeat). A repeated
  // order of a finished job gets its final report again.
  void Handle(const v1::TrainOrder& order);
  // Stops the running job if it is for `cancel.round_id()`.
  void Cancel(const v1::TrainCancel& cancel);
  TrainerStats stats() const;
  // True while a job runs (tests).
  bool busy() const;

 private:
  struct Job;
  Trainer(TrainerOptions options, std::shared_ptr<NodeLink> link,
          boost::asio::io_context& io, boost::asio::thread_pool* blocking,
          ProgressFn progress);
  void Start(std::shared_ptr<Job> job);
  Status Prepare(Job* job);
  void SchedulePoll(std::shared_ptr<Job> job);
  void Poll(std::shared_ptr<Job> job);
  Status Collect(Job* job, const tn_link_train_status_reply& st);
  Status Upload(Job* job);
  void Finish(std::shared_ptr<Job> job, const std::string& stage,
              const Status& why);
  Result<tn_link_train_status_reply> NodeStatus(uint32_t job_id);
  Result<std::vector<uint8_t>> CallNode(uint8_t type,
                                        std::vector<uint8_t> payload);
  void Report(const Job& job, const std::string& stage,
              const std::string& error = "");
  std::filesystem::path UpdatePath(const Job& job) const;

  TrainerOptions options_;
  std::shared_ptr<NodeLink> link_;
  boost::asio::io_context& io_;
  boost::asio::thread_pool* blocking_;
  ProgressFn progress_;
  boost::asio::steady_timer timer_;  // used by the one running job

  mutable std::mutex mu_;
  std::shared_ptr<Job> running_;                       // guarded by mu_
  std::map<std::string, v1::TrainProgress> finished_;  // guarded by mu_
  TrainerStats stats_;                                 // guarded by mu_
};

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_ADAPT_TRAINER_H_
