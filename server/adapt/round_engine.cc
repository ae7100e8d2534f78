// RoundEngine: the persisted state machine of adaptation rounds
// (CREATED → SELECTING → TRAINING → AGGREGATING → EVALUATING → COMPLETED |
// FAILED | CANCELLED). Each transition is one store transaction together
// with the client rows it changes; updates are appended to the store chunk
// by chunk as they arrive. Tick() re-reads unfinished rounds, so a restarted
// gateway continues where the store says it was.
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>

#include "common/encoding.h"
#include "common/log.h"
#include "server/adapt/adapt.h"
#include "server/adapt/cost_model.h"
#include "server/fleet/labels.h"
#include "server/fleet/registry.h"
#include "server/ota/rollout_engine.h"

namespace tinyfleet::adapt {
namespace {

using google::protobuf::util::TimeUtil;
using store::RoundClient;
using store::RoundRecord;

bool Terminal(v1::RoundState s) {
  return s == v1::ROUND_STATE_COMPLETED || s == v1::ROUND_STATE_FAILED ||
         s == v1::ROUND_STATE_CANCELLED;
}

// A client that may still send its update.
bool Pending(const std::string& state) {
  return state == "selected" || state == "ordered" || state == "training";
}

// Adjusts the metrics for a client moving from `from` to `to`.
void Recount(v1::RoundMetrics* m, const std::string& from,
             const std::string& to) {
  auto apply = [m](const std::string& s, int d) {
    auto add = [d](uint32_t v) { return static_cast<uint32_t>(v + d); };
    if (s == "reported") m->set_reported(add(m->reported()));
    if (s == "refused") m->set_refused(add(m->refused()));
    if (s == "dropped" || s == "declined" || s == "failed" || s == "late")
      m->set_dropped(add(m->dropped()));
    if (s == "late") m->set_late(add(m->late()));
  };
  apply(from, -1);
  apply(to, +1);
}

std::string Hex(std::string_view bytes) { return HexEncode(bytes); }
std::string Hex(const Digest& d) {
  return HexEncode(std::span<const uint8_t>(d.data(), d.size()));
}

Status CheckFinite(double v, const char* name) {
  if (!std::isfinite(v) || v < 0) {
    return InvalidArgumentError(std::string(name) +
                                " must be a finite number >= 0");
  }
  return Status::Ok();
}

Status ValidateDatasetName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.find('/') != std::string::npos ||
      name.find("..") != std::string::npos) {
    return InvalidArgumentError(
        "validation_dataset names a file in the gateway's datasets directory "
        "(no paths)");
  }
  return Status::Ok();
}

// Largest accepted StartRoundRequest.min_samples.
constexpr uint32_t kMaxMinSamples = 10'000'000;

// The largest TNUP for a tail: header, sparse worst case per tensor, trailer.
uint64_t MaxUpdateBytes(const std::vector<uint32_t>& sizes) {
  uint64_t n = 132 + 32;
  for (uint32_t s : sizes) n += 12 + 5ull * s;
  return n;
}

// Why selection found too few devices: the eligible count and, per rule,
// how many devices matching the selector it excluded.
std::string SelectionFailure(const RoundRecord& r) {
  const auto& spec = r.round.spec();
  const auto& m = r.round.metrics();
  std::string s = std::to_string(m.eligible()) +
                  " eligible device(s) (online, running " + r.round.model_ref();
  if (!spec.label_selector().empty()) {
    s += ", matching " + spec.label_selector();
  }
  s += "); the round needs at least " + std::to_string(spec.min_clients());
  std::string why;
  auto add = [&why](uint32_t n, const std::string& reason) {
    if (n == 0) return;
    why += (why.empty() ? "" : ", ") + std::to_string(n) + " " + reason;
  };
  add(m.excluded_offline(), "offline");
  add(m.excluded_model(), "running another model");
  add(m.excluded_samples(),
      "with too few samples (< " + std::to_string(spec.min_samples()) + ")");
  add(m.excluded_energy(), "over their energy budget");
  add(m.excluded_deadline(), "too slow for the deadline");
  if (!why.empty()) s += "; excluded: " + why;
  return s;
}

}  // namespace

struct RoundEngine::Impl {
  store::Store* store;
  Dispatcher* dispatcher;
  ota::ArtifactStore* artifacts;
  catalog::ModelCatalog* catalog;
  events::EventBus* events;
  const Clock* clock;
  RoundEngineOptions options;
  ota::RolloutEngine* rollouts;
  std::mutex mu;

  int64_t Now() const { return clock->NowUnixMillis(); }

  // Commits the round (and clients) and publishes it. REQUIRES: mu held.
  // With `upload`, that client's whole upload is stored in the same
  // transaction.
  Status Save(RoundRecord* r, const std::vector<RoundClient>& clients = {},
              const RoundClient* upload = nullptr) {
    *r->round.mutable_updated_at() = TimeUtil::MillisecondsToTimestamp(Now());
    TF_RETURN_IF_ERROR(upload ? store->rounds().PutWithUpload(*r, *upload)
                              : store->rounds().Put(*r, clients));
    Publish(*r);
    return Status::Ok();
  }
  void Publish(const RoundRecord& r) {
    if (!events) return;
    v1::Event e;
    *e.mutable_round() = r.round;
    events->Publish(std::move(e));
  }
  Status Fail(RoundRecord* r, const std::string& reason) {
    r->round.set_state(v1::ROUND_STATE_FAILED);
    r->round.set_reason(reason);
    TF_LOG(kWarning, "round") << r->round.round_id() << ": " << reason;
    return Save(r);
  }

  Result<v1::Round> Start(const v1::StartRoundRequest& spec);
  // Makes transitions until the round waits or `budget` is spent.
  Status Advance(RoundRecord r);
  Result<bool> Step(RoundRecord* r);  // one transition; false: waiting
  Result<bool> Select(RoundRecord* r);
  Result<bool> Train(RoundRecord* r);
  Status AggregateRound(RoundRecord* r);
  Status EvaluateRound(RoundRecord* r);
  v1::GatewayMessage Order(const RoundRecord& r, const RoundClient& c,
                           const store::ArtifactRecord& tail);
  Result<UpdateFile> Validate(const RoundRecord& r, const RoundClient& c,
                              std::string_view bytes);
};

uint64_t RoundEngine::Rank(const std::string& round_id,
                           const std::string& device_id) {
  Sha256Digest d = Sha256(round_id + "/" + device_id);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | d[i];
  return v;
}

RoundEngine::RoundEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RoundEngine::~RoundEngine() = default;

Result<std::unique_ptr<RoundEngine>> RoundEngine::Create(
    store::Store* store, Dispatcher* dispatcher, ota::ArtifactStore* artifacts,
    catalog::ModelCatalog* catalog, events::EventBus* events,
    const Clock* clock, RoundEngineOptions options,
    ota::RolloutEngine* rollouts) {
  if (!store || !dispatcher || !artifacts || !catalog || !clock) {
    return InvalidArgumentError(
        "round engine needs a store, dispatcher, artifacts, catalog, clock");
  }
  if (options.max_clients == 0 || options.default_deadline.count() <= 0) {
    return InvalidArgumentError(
        "round engine: max_clients and default_deadline must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->store = store;
  impl->dispatcher = dispatcher;
  impl->artifacts = artifacts;
  impl->catalog = catalog;
  impl->events = events;
  impl->clock = clock;
  impl->options = options;
  impl->rollouts = rollouts;
  return std::unique_ptr<RoundEngine>(new RoundEngine(std::move(impl)));
}

Result<v1::Round> RoundEngine::StartRound(const v1::StartRoundRequest& spec) {
  return impl_->Start(spec);
}

Result<v1::Round> RoundEngine::Impl::Start(const v1::StartRoundRequest& req) {
  v1::StartRoundRequest spec = req;
  if (spec.kind() == v1::ROUND_KIND_UNSPECIFIED ||
      !v1::RoundKind_IsValid(spec.kind())) {
    return InvalidArgumentError(
        "kind must be federated, latent_replay, few_shot or self_learning");
  }
  if (spec.model_ref().empty()) {
    return InvalidArgumentError("model_ref is required (\"name:version\")");
  }
  if (!v1::AggregationStrategy_IsValid(spec.strategy())) {
    return InvalidArgumentError("unknown aggregation strategy");
  }
  if (spec.strategy() == v1::AGGREGATION_STRATEGY_UNSPECIFIED) {
    spec.set_strategy(spec.kind() == v1::ROUND_KIND_FEW_SHOT
                          ? v1::AGGREGATION_STRATEGY_NONE
                          : v1::AGGREGATION_STRATEGY_FEDAVG);
  }
  if (spec.target_clients() == 0 ||
      spec.target_clients() > options.max_clients) {
    return InvalidArgumentError("target_clients must be 1.." +
                                std::to_string(options.max_clients));
  }
  if (spec.min_clients() == 0) spec.set_min_clients(spec.target_clients());
  if (spec.min_clients() > spec.target_clients()) {
    return InvalidArgumentError("min_clients must not exceed target_clients");
  }
  if (!std::isfinite(spec.over_selection()) || spec.over_selection() < 0 ||
      spec.over_selection() > 4) {
    return InvalidArgumentError("over_selection must be in [0, 4]");
  }
  if (spec.has_deadline()) {
    int64_t ms = TimeUtil::DurationToMilliseconds(spec.deadline());
    if (ms <= 0 || ms > 7LL * 86'400'000) {
      return InvalidArgumentError("deadline must be in (0, 7 days]");
    }
  } else {
    *spec.mutable_deadline() =
        TimeUtil::SecondsToDuration(options.default_deadline.count());
  }
  TF_RETURN_IF_ERROR(CheckFinite(spec.min_improvement(), "min_improvement"));
  const auto& h = spec.hyperparameters();
  TF_RETURN_IF_ERROR(CheckFinite(h.learning_rate(), "learning_rate"));
  TF_RETURN_IF_ERROR(CheckFinite(h.momentum(), "momentum"));
  TF_RETURN_IF_ERROR(CheckFinite(h.weight_decay(), "weight_decay"));
  TF_RETURN_IF_ERROR(CheckFinite(h.prox_mu(), "prox_mu"));
  TF_RETURN_IF_ERROR(
      CheckFinite(h.server_learning_rate(), "server_learning_rate"));
  TF_RETURN_IF_ERROR(CheckFinite(h.epsilon(), "epsilon"));
  TF_RETURN_IF_ERROR(CheckFinite(h.clip_norm(), "clip_norm"));
  TF_RETURN_IF_ERROR(CheckFinite(h.target_far(), "target_far"));
  if (h.beta1() < 0 || h.beta1() >= 1 || h.beta2() < 0 || h.beta2() >= 1) {
    return InvalidArgumentError("beta1 and beta2 must be in [0, 1)");
  }
  if (!(h.trim_ratio() >= 0 && h.trim_ratio() < 0.5)) {
    return InvalidArgumentError("trim_ratio must be in [0, 0.5)");
  }
  if (!(h.top_k_ratio() >= 0 && h.top_k_ratio() <= 1)) {
    return InvalidArgumentError("top_k_ratio must be in [0, 1]");
  }
  if (h.replay_bits() != 0 && h.replay_bits() != 7 && h.replay_bits() != 8) {
    return InvalidArgumentError("replay_bits must be 7 or 8");
  }
  if (h.local_epochs() > 1000 || h.batch_size() > 65535) {
    return InvalidArgumentError(
        "local_epochs must be at most 1000 and batch_size at most 65535");
  }
  if (spec.min_samples() > kMaxMinSamples) {
    return InvalidArgumentError("min_samples must be at most " +
                                std::to_string(kMaxMinSamples));
  }
  if (spec.strategy() == v1::AGGREGATION_STRATEGY_TRIMMED_MEAN &&
      h.trim_ratio() == 0) {
    spec.mutable_hyperparameters()->set_trim_ratio(0.1);
  }
  if (!spec.label_selector().empty()) {
    TF_RETURN_IF_ERROR(fleet::ParseSelector(spec.label_selector()).status());
  }
  if (!spec.rollout_label_selector().empty()) {
    TF_RETURN_IF_ERROR(
        fleet::ParseSelector(spec.rollout_label_selector()).status());
  }
  if (!spec.validation_dataset().empty()) {
    TF_RETURN_IF_ERROR(ValidateDatasetName(spec.validation_dataset()));
    if (!std::filesystem::exists(options.datasets_dir /
                                 (spec.validation_dataset() + ".tnfs"))) {
      return NotFoundError("no data set \"" + spec.validation_dataset() +
                           "\" in the gateway's datasets directory");
    }
  }

  TF_ASSIGN_OR_RETURN(auto model, catalog->Get(spec.model_ref()));
  spec.set_model_ref(model.model.ref());
  TF_ASSIGN_OR_RETURN(std::string blob, artifacts->ReadAll(model.artifact_id));
  TF_ASSIGN_OR_RETURN(BlobTail tail, ReadBlobTail(blob));
  uint32_t tail_layers = 0;
  for (const auto& l : model.model.layers()) tail_layers += l.trainable();
  if (spec.trainable_layers() != 0 && spec.trainable_layers() != tail_layers) {
    return InvalidArgumentError(
        "trainable_layers must be 0 or the model's trainable tail (" +
        std::to_string(tail_layers) + " layers)");
  }

  RoundRecord r;
  TF_ASSIGN_OR_RETURN(std::string raw, RandomBytes(8));
  r.round.set_round_id("rd-" + HexEncode(raw));
  r.round.set_kind(spec.kind());
  r.round.set_state(v1::ROUND_STATE_CREATED);
  r.round.set_model_ref(spec.model_ref());
  r.round.set_strategy(spec.strategy());
  *r.round.mutable_spec() = spec;
  *r.round.mutable_created_at() = TimeUtil::MillisecondsToTimestamp(Now());
  r.frozen_sha256.assign(
      reinterpret_cast<const char*>(tail.frozen_sha256.data()),
      tail.frozen_sha256.size());
  r.lineage = model.model.name() + "/" + Hex(tail.frozen_sha256);
  r.tensor_sizes = tail.tensor_sizes;
  Sha256Digest seed = Sha256("seed/" + r.round.round_id());
  for (int i = 0; i < 8; ++i) r.seed = r.seed << 8 | seed[i];

  std::lock_guard<std::mutex> lock(mu);
  // The lineage's last result, else the model's own tail.
  auto prev = store->rounds().LatestCompleted(r.lineage);
  if (prev.ok() && !prev->result_tail_id.empty()) {
    r.start_tail_id = prev->result_tail_id;
    r.start_round_id = prev->round.round_id();
  } else if (!prev.ok() && prev.status().code() != StatusCode::kNotFound) {
    return prev.status();
  } else {
    TailFile t{tail.frozen_sha256, tail.params};
    TF_ASSIGN_OR_RETURN(auto a, artifacts->Put(EncodeTail(t), "tail"));
    r.start_tail_id = a.artifact_id;
  }
  r.round.set_start_tail_artifact_id(r.start_tail_id);
  TF_RETURN_IF_ERROR(Save(&r));
  TF_LOG(kInfo, "round") << r.round.round_id() << ": "
                         << v1::RoundKind_Name(spec.kind()) << " on "
                         << spec.model_ref() << ", " << spec.target_clients()
                         << " client(s), "
                         << v1::AggregationStrategy_Name(spec.strategy());
  Status s = Advance(r);
  if (!s.ok()) {
    TF_LOG(kWarning, "round") << r.round.round_id() << ": " << s.ToString();
  }
  TF_ASSIGN_OR_RETURN(auto saved, store->rounds().Get(r.round.round_id()));
  return saved.round;
}

Status RoundEngine::Impl::Advance(RoundRecord r) {
  uint32_t budget = options.max_transitions_per_tick;
  for (uint32_t n = 0; budget == 0 || n < budget; ++n) {
    if (Terminal(r.round.state())) return Status::Ok();
    TF_ASSIGN_OR_RETURN(bool moved, Step(&r));
    if (!moved) return Status::Ok();
  }
  return Status::Ok();
}

Result<bool> RoundEngine::Impl::Step(RoundRecord* r) {
  switch (r->round.state()) {
    case v1::ROUND_STATE_CREATED:
      r->round.set_state(v1::ROUND_STATE_SELECTING);
      TF_RETURN_IF_ERROR(Save(r));
      return true;
    case v1::ROUND_STATE_SELECTING:
      return Select(r);
    case v1::ROUND_STATE_TRAINING:
      return Train(r);
    case v1::ROUND_STATE_AGGREGATING: {
      Status s = AggregateRound(r);
      if (!s.ok() && s.code() != StatusCode::kUnavailable) {
        TF_RETURN_IF_ERROR(Fail(r, "aggregation failed: " + s.message()));
      } else if (!s.ok()) {
        return s;
      }
      return true;
    }
    case v1::ROUND_STATE_EVALUATING: {
      Status s = EvaluateRound(r);
      if (!s.ok() && s.code() != StatusCode::kUnavailable) {
        TF_RETURN_IF_ERROR(Fail(r, "evaluation failed: " + s.message()));
      } else if (!s.ok()) {
        return s;
      }
      return true;
    }
    default:
      return false;
  }
}

Result<bool> RoundEngine::Impl::Select(RoundRecord* r) {
  const auto& spec = r->round.spec();
  TF_ASSIGN_OR_RETURN(auto model, catalog->Get(r->round.model_ref()));
  std::vector<std::string> online_list = dispatcher->OnlineDevices();
  std::set<std::string> online(online_list.begin(), online_list.end());
  store::DeviceQuery q;
  if (!spec.label_selector().empty()) {
    TF_ASSIGN_OR_RETURN(q.selector,
                        fleet::ParseSelector(spec.label_selector()));
  }
  q.limit = 1000;
  // The cost model's per-sample figures; a model without them is selected
  // by the other rules only.
  Result<ModelCost> cost = ModelCostOf(model.model);
  if (!cost.ok()) {
    TF_LOG(kWarning, "round") << r->round.round_id() << ": no training "
                              << "estimates (" << cost.status().message()
                              << "); energy budgets and the deadline are "
                              << "not checked";
  }
  const double deadline_ms =
      static_cast<double>(TimeUtil::DurationToMilliseconds(spec.deadline()));
  struct Candidate {
    uint64_t rank;
    std::string device_id;
    std::optional<TrainingEstimate> estimate;
  };
  std::vector<Candidate> eligible;
  v1::RoundMetrics* m = r->round.mutable_metrics();
  // Counted afresh: a selection retried after an error starts over.
  m->clear_eligible();
  m->clear_excluded_offline();
  m->clear_excluded_model();
  m->clear_excluded_samples();
  m->clear_excluded_energy();
  m->clear_excluded_deadline();
  m->clear_estimated_energy_mj();
  m->clear_estimated_time_ms();
  for (;;) {
    TF_ASSIGN_OR_RETURN(auto page, store->devices().List(q));
    for (const auto& d : page.devices) {
      if (!online.count(d.device_id)) {
        m->set_excluded_offline(m->excluded_offline() + 1);
        continue;
      }
      bool runs = false;
      for (const auto& s : d.node.slots()) {
        runs = runs || (s.state() == v1::SLOT_STATE_ACTIVE &&
                        s.model_id() == model.model.model_id() &&
                        s.model_version() == model.model.blob_version());
      }
      if (!runs) {
        m->set_excluded_model(m->excluded_model() + 1);
        continue;
      }
      const uint32_t samples = d.node.train_samples();
      if (samples < spec.min_samples()) {
        m->set_excluded_samples(m->excluded_samples() + 1);
        continue;
      }
      std::optional<TrainingEstimate> estimate;
      if (cost.ok() && samples > 0) {
        auto e = EstimateTraining(*cost, spec.kind(), spec.hyperparameters(),
                                  samples, d.node.target());
        if (e.ok()) estimate = *e;
      }
      const double budget = d.node.train_energy_budget_mj();
      if (estimate && budget > 0 && estimate->energy_mj > budget) {
        m->set_excluded_energy(m->excluded_energy() + 1);
        continue;
      }
      if (estimate && estimate->time_ms > deadline_ms) {
        m->set_excluded_deadline(m->excluded_deadline() + 1);
        continue;
      }
      eligible.push_back({RoundEngine::Rank(r->round.round_id(), d.device_id),
                          d.device_id, estimate});
    }
    if (!page.more || page.devices.empty()) break;
    q.after_id = page.devices.back().device_id;
  }
  m->set_eligible(static_cast<uint32_t>(eligible.size()));
  if (eligible.size() < spec.min_clients()) {
    TF_RETURN_IF_ERROR(Fail(r, SelectionFailure(*r)));
    return true;
  }
  std::sort(eligible.begin(), eligible.end(),
            [](const Candidate& a, const Candidate& b) {
              return std::tie(a.rank, a.device_id) <
                     std::tie(b.rank, b.device_id);
            });
  size_t want = static_cast<size_t>(
      std::ceil(spec.target_clients() * (1.0 + spec.over_selection()) - 1e-9));
  want = std::min<size_t>({want, eligible.size(), options.max_clients});
  std::vector<RoundClient> clients;
  int64_t now = Now();
  for (size_t i = 0; i < want; ++i) {
    RoundClient c;
    c.round_id = r->round.round_id();
    c.device_id = eligible[i].device_id;
    c.rank = eligible[i].rank;
    c.updated_at_ms = now;
    clients.push_back(std::move(c));
    if (const auto& e = eligible[i].estimate) {
      m->set_estimated_energy_mj(m->estimated_energy_mj() + e->energy_mj);
      m->set_estimated_time_ms(std::max(m->estimated_time_ms(), e->time_ms));
    }
  }
  r->deadline_ms = now + TimeUtil::DurationToMilliseconds(spec.deadline());
  *r->round.mutable_deadline() =
      TimeUtil::MillisecondsToTimestamp(r->deadline_ms);
  m->set_selected(static_cast<uint32_t>(want));
  r->round.set_state(v1::ROUND_STATE_TRAINING);
  TF_RETURN_IF_ERROR(Save(r, clients));
  return true;
}

v1::GatewayMessage RoundEngine::Impl::Order(const RoundRecord& r,
                                            const RoundClient& c,
                                            const store::ArtifactRecord& tail) {
  v1::GatewayMessage m;
  auto* o = m.mutable_train_order();
  const auto& spec = r.round.spec();
  o->set_round_id(r.round.round_id());
  o->set_tail_artifact_id(tail.artifact_id);
  o->set_tail_artifact_bytes(tail.size);
  o->set_tail_artifact_sha256(tail.artifact_id);
  *o->mutable_deadline() = TimeUtil::MillisecondsToTimestamp(r.deadline_ms);
  o->set_kind(spec.kind());
  *o->mutable_hyperparameters() = spec.hyperparameters();
  o->set_model_ref(r.round.model_ref());
  o->set_frozen_sha256(r.frozen_sha256);
  o->set_seed(r.seed ^ c.rank);
  o->set_attempt(c.attempt);
  return m;
}

Result<bool> RoundEngine::Impl::Train(RoundRecord* r) {
  const auto& spec = r->round.spec();
  TF_ASSIGN_OR_RETURN(auto clients,
                      store->rounds().Clients(r->round.round_id(), false));
  TF_ASSIGN_OR_RETURN(auto tail, artifacts->Get(r->start_tail_id));
  int64_t now = Now();
  int64_t retry_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(options.order_retry)
          .count();
  std::vector<RoundClient> changed;
  uint64_t bytes_down = r->round.metrics().bytes_down();
  uint32_t reported = 0, pending = 0;
  const bool open = now < r->deadline_ms;
  for (auto& c : clients) {
    bool resend = (c.state == "ordered" || c.state == "training") &&
                  c.committed_bytes == 0 && now - c.updated_at_ms > retry_ms;
    if (open && (c.state == "selected" || resend)) {
      RoundClient next = c;
      if (resend) next.attempt = c.attempt + 1;
      if (dispatcher->Send(c.device_id, Order(*r, next, tail)).ok()) {
        next.state = "ordered";
        next.ordered_at_ms = now;
        next.updated_at_ms = now;
        bytes_down += tail.size;
        c = next;
        changed.push_back(c);
      }
    }
    reported += c.state == "reported";
    pending += Pending(c.state);
  }
  r->round.mutable_metrics()->set_bytes_down(bytes_down);

  std::string why_close;
  if (reported >= spec.target_clients()) {
    why_close = "target reached";
  } else if (pending == 0) {
    why_close = "every client settled";
  } else if (!open) {
    why_close = "deadline";
  }
  if (why_close.empty()) {
    if (!changed.empty()) TF_RETURN_IF_ERROR(Save(r, changed));
    return false;
  }
  // Close: whoever is still pending is cancelled (target reached) or
  // dropped (deadline).
  for (auto& c : clients) {
    if (!Pending(c.state)) continue;
    std::string to = why_close == "deadline" ? "dropped" : "cancelled";
    if (c.state != "selected") {
      v1::GatewayMessage m;
      m.mutable_train_cancel()->set_round_id(r->round.round_id());
      (void)dispatcher->Send(c.device_id, m);
    }
    Recount(r->round.mutable_metrics(), c.state, to);
    c.state = to;
    c.error = to == "dropped" ? "missed the deadline" : "not needed";
    c.updated_at_ms = now;
    changed.push_back(c);
  }
  if (reported < spec.min_clients()) {
    r->round.set_state(v1::ROUND_STATE_FAILED);
    r->round.set_reason(std::to_string(reported) + " of " +
                        std::to_string(clients.size()) + " clients reported (" +
                        why_close + "); the round needs at least " +
                        std::to_string(spec.min_clients()));
    TF_LOG(kWarning, "round")
        << r->round.round_id() << ": " << r->round.reason();
  } else {
    r->round.set_state(v1::ROUND_STATE_AGGREGATING);
  }
  TF_RETURN_IF_ERROR(Save(r, changed));
  return true;
}

Status RoundEngine::Impl::AggregateRound(RoundRecord* r) {
  const auto& spec = r->round.spec();
  TF_ASSIGN_OR_RETURN(auto clients,
                      store->rounds().Clients(r->round.round_id(), true));
  double loss_sum = 0, samples = 0, acc_before = 0, acc_after = 0;
  std::vector<ClientDelta> deltas;
  for (const auto& c : clients) {
    if (c.state != "reported") continue;
    TF_ASSIGN_OR_RETURN(UpdateFile u, DecodeUpdate(c.upload));
    loss_sum += static_cast<double>(u.samples) * u.loss_after;
    samples += u.samples;
    acc_before += u.accuracy_before;
    acc_after += u.accuracy_after;
    deltas.push_back({c.device_id, u.samples, std::move(u.delta)});
  }
  if (samples > 0)
    r->round.mutable_metrics()->set_mean_loss(loss_sum / samples);
  if (spec.strategy() == v1::AGGREGATION_STRATEGY_NONE) {
    // Personal results stay on the nodes: no tail, no evaluation on the
    // gateway. The round's accuracies are the mean of the nodes' own
    // held-out accuracies (each node's metrics are on its client row).
    if (!deltas.empty()) {
      const double n = static_cast<double>(deltas.size());
      r->round.mutable_metrics()->set_accuracy_before(acc_before / n);
      r->round.mutable_metrics()->set_accuracy_after(acc_after / n);
    }
    r->round.set_state(v1::ROUND_STATE_COMPLETED);
    return Save(r);
  }
  TF_ASSIGN_OR_RETURN(std::string start_bytes,
                      artifacts->ReadAll(r->start_tail_id));
  TF_ASSIGN_OR_RETURN(TailFile start, DecodeTail(start_bytes));
  const auto& h = spec.hyperparameters();
  AggregationOptions o;
  o.strategy = spec.strategy();
  o.clip_norm = h.clip_norm();
  if (h.trim_ratio() > 0) o.trim_ratio = h.trim_ratio();
  if (h.server_learning_rate() > 0)
    o.server_learning_rate = h.server_learning_rate();
  if (h.beta1() > 0) o.beta1 = h.beta1();
  if (h.beta2() > 0) o.beta2 = h.beta2();
  if (h.epsilon() > 0) o.epsilon = h.epsilon();
  AdamState prev_state;
  if (o.strategy == v1::AGGREGATION_STRATEGY_FEDADAM &&
      !r->start_round_id.empty()) {
    TF_ASSIGN_OR_RETURN(auto prev, store->rounds().Get(r->start_round_id));
    if (!prev.optimizer_state.empty()) {
      TF_ASSIGN_OR_RETURN(prev_state, AdamState::Decode(prev.optimizer_state));
    }
  }
  TF_ASSIGN_OR_RETURN(
      auto agg, Aggregate(start.params, std::move(deltas), o, &prev_state));
  TailFile result{start.frozen_sha256, std::move(agg.tail)};
  TF_ASSIGN_OR_RETURN(auto a, artifacts->Put(EncodeTail(result), "tail"));
  r->result_tail_id = a.artifact_id;
  r->round.set_result_tail_artifact_id(a.artifact_id);
  if (o.strategy == v1::AGGREGATION_STRATEGY_FEDADAM) {
    r->optimizer_state = agg.adam.Encode();
  }
  r->round.set_state(v1::ROUND_STATE_EVALUATING);
  TF_LOG(kInfo, "round") << r->round.round_id() << ": aggregated "
                         << r->round.metrics().reported() << " update(s)"
                         << (agg.clipped ? ", " + std::to_string(agg.clipped) +
                                               " clipped"
                                         : "");
  return Save(r);
}

Status RoundEngine::Impl::EvaluateRound(RoundRecord* r) {
  const auto& spec = r->round.spec();
  TF_ASSIGN_OR_RETURN(auto model, catalog->Get(r->round.model_ref()));
  TF_ASSIGN_OR_RETURN(std::string base, artifacts->ReadAll(model.artifact_id));
  TF_ASSIGN_OR_RETURN(std::string tail_bytes,
                      artifacts->ReadAll(r->result_tail_id));
  TF_ASSIGN_OR_RETURN(TailFile tail, DecodeTail(tail_bytes));
  std::string name = spec.validation_dataset().empty()
                         ? "validation"
                         : spec.validation_dataset();
  auto data = ReadFile(options.datasets_dir / (name + ".tnfs"));
  bool promote = false;
  if (data.ok()) {
    TF_ASSIGN_OR_RETURN(std::string candidate,
                        ReplaceBlobTail(base, tail.params));
    TF_ASSIGN_OR_RETURN(
        auto before,
        catalog->EvaluateBlob(base, *data, options.max_eval_samples));
    TF_ASSIGN_OR_RETURN(
        auto after,
        catalog->EvaluateBlob(candidate, *data, options.max_eval_samples));
    auto* m = r->round.mutable_metrics();
    m->set_accuracy_before(before.int8_accuracy());
    m->set_accuracy_after(after.int8_accuracy());
    double gain = 100.0 * (after.int8_accuracy() - before.int8_accuracy());
    promote = spec.auto_promote() && gain >= spec.min_improvement();
    if (spec.auto_promote() && !promote) {
      char buf[128];
      std::snprintf(buf, sizeof buf,
                    "not promoted: accuracy %+.2f points (needs %+.2f)", gain,
                    spec.min_improvement());
      r->round.set_reason(buf);
    }
  } else if (!spec.validation_dataset().empty()) {
    return data.status();
  } else {
    r->round.set_reason("not evaluated: no \"validation\" data set");
  }
  if (promote) {
    // Idempotent across restarts: a version made by this round is reused.
    std::string description = "from round " + r->round.round_id();
    std::string found, token;
    for (;;) {
      std::string next;
      TF_ASSIGN_OR_RETURN(
          auto list, catalog->List(model.model.name(), token, 1000, &next));
      for (const auto& m : list) {
        if (m.description() == description) found = m.ref();
      }
      if (next.empty()) break;
      token = next;
    }
    if (found.empty()) {
      TF_ASSIGN_OR_RETURN(
          auto made, catalog->AddDerived(
                         model.model.ref(), description, [&](uint32_t version) {
                           return ReplaceBlobTail(base, tail.params, version);
                         }));
      found = made.ref();
      if (rollouts && !spec.rollout_label_selector().empty()) {
        v1::CreateRolloutRequest ro;
        ro.set_model_ref(found);
        ro.set_label_selector(spec.rollout_label_selector());
        ro.set_allow_delta(true);
        ro.set_description(description);
        auto started = rollouts->CreateRollout(ro);
        if (!started.ok()) {
          TF_LOG(kWarning, "round")
              << r->round.round_id() << ": rollout of " << found << ": "
              << started.status().ToString();
        }
      }
    }
    r->round.set_result_model_ref(found);
  }
  TF_ASSIGN_OR_RETURN(uint64_t seq, store->rounds().MaxCompletedSeq());
  r->completed_seq = seq + 1;
  r->round.set_state(v1::ROUND_STATE_COMPLETED);
  TF_LOG(kInfo, "round") << r->round.round_id() << ": completed"
                         << (promote ? " as " + r->round.result_model_ref()
                                     : "");
  return Save(r);
}

Result<UpdateFile> RoundEngine::Impl::Validate(const RoundRecord& r,
                                               const RoundClient& c,
                                               std::string_view bytes) {
  TF_ASSIGN_OR_RETURN(UpdateFile u, DecodeUpdate(bytes));
  if (u.round_binding != RoundBinding(r.round.round_id())) {
    return InvalidArgumentError("the update is bound to another round");
  }
  if (std::string_view(reinterpret_cast<const char*>(u.frozen_sha256.data()),
                       32) != r.frozen_sha256) {
    return InvalidArgumentError(
        "the update was trained against another frozen part (frozen_sha256 " +
        Hex(u.frozen_sha256).substr(0, 16) + "…, the round's " +
        Hex(r.frozen_sha256).substr(0, 16) + "…)");
  }
  if (Hex(u.start_sha256) != r.start_tail_id) {
    return InvalidArgumentError(
        "the update does not start from the round's tail");
  }
  if (u.attempt != c.attempt) {
    return InvalidArgumentError("the update answers attempt " +
                                std::to_string(u.attempt) + ", not " +
                                std::to_string(c.attempt));
  }
  if (u.tensor_sizes != r.tensor_sizes) {
    return InvalidArgumentError(
        "the update's tensors do not match the model's tail");
  }
  return u;
}

Result<UploadStatus> RoundEngine::ReceiveChunk(const std::string& device_id,
                                               const v1::UpdateChunk& chunk) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  TF_ASSIGN_OR_RETURN(RoundRecord r, d.store->rounds().Get(chunk.round_id()));
  TF_ASSIGN_OR_RETURN(RoundClient c, d.store->rounds().Client(
                                         chunk.round_id(), device_id, false));
  if (chunk.attempt() != c.attempt) {
    return FailedPreconditionError(
        "attempt " + std::to_string(chunk.attempt()) +
        " is stale; the order's attempt is " + std::to_string(c.attempt));
  }
  UploadStatus st;
  st.committed_bytes = c.committed_bytes;
  if (c.state == "reported" || c.state == "refused") {
    st.complete = true;
    st.accepted = c.state == "reported";
    st.reason = c.error;
    return st;
  }
  const int64_t now = d.Now();
  if (r.round.state() != v1::ROUND_STATE_TRAINING || now >= r.deadline_ms ||
      c.state == "dropped" || c.state == "cancelled" || c.state == "late") {
    if (c.state != "late") {
      Recount(r.round.mutable_metrics(), c.state, "late");
      c.state = "late";
      c.error = "arrived after the round stopped taking updates";
      c.updated_at_ms = now;
      TF_RETURN_IF_ERROR(d.Save(&r, {c}));
    }
    st.reason = "late: the round no longer takes updates";
    return st;
  }
  uint64_t max_bytes = MaxUpdateBytes(r.tensor_sizes);
  if (chunk.total_bytes() < 164 || chunk.total_bytes() > max_bytes) {
    return InvalidArgumentError("total_bytes must be 164.." +
                                std::to_string(max_bytes) + " for this round");
  }
  if (c.committed_bytes > 0 && chunk.total_bytes() != c.total_bytes) {
    return FailedPreconditionError("total_bytes changed during the upload");
  }
  if (chunk.offset() > c.committed_bytes) {
    st.reason = "resume from committed_bytes";
    return st;
  }
  std::string_view data = chunk.data();
  uint64_t skip = c.committed_bytes - chunk.offset();
  data = skip >= data.size() ? std::string_view() : data.substr(skip);
  if (c.committed_bytes + data.size() > chunk.total_bytes()) {
    return InvalidArgumentError("more bytes than total_bytes");
  }
  if (c.committed_bytes + data.size() < chunk.total_bytes()) {
    if (!data.empty()) {
      TF_ASSIGN_OR_RETURN(st.committed_bytes,
                          d.store->rounds().AppendUpload(
                              r.round.round_id(), device_id, c.attempt,
                              c.committed_bytes, data, chunk.total_bytes()));
    }
    return st;
  }

  // Complete: validate, count it in, and commit bytes and verdict at once.
  if (c.committed_bytes > 0) {
    TF_ASSIGN_OR_RETURN(
        c, d.store->rounds().Client(r.round.round_id(), device_id, true));
  }
  c.upload.append(data);
  c.total_bytes = chunk.total_bytes();
  st.committed_bytes = c.upload.size();
  st.complete = true;
  Result<UpdateFile> u = InvalidArgumentError("checksum of the whole update");
  if (chunk.sha256().empty() || chunk.sha256().size() == 32) {
    Sha256Digest sum = Sha256(c.upload);
    if (chunk.sha256().empty() ||
        std::memcmp(sum.data(), chunk.sha256().data(), 32) == 0) {
      u = d.Validate(r, c, c.upload);
    }
  }
  std::string to = u.ok() ? "reported" : "refused";
  Recount(r.round.mutable_metrics(), c.state, to);
  c.state = to;
  c.updated_at_ms = now;
  if (u.ok()) {
    c.samples = u->samples;
    c.loss_before = u->loss_before;
    c.loss_after = u->loss_after;
    c.accuracy_before = u->accuracy_before;
    c.accuracy_after = u->accuracy_after;
    c.error.clear();
  } else {
    c.error = u.status().message();
    TF_LOG(kWarning, "round")
        << r.round.round_id() << ": refused the update of " << device_id << ": "
        << c.error;
  }
  auto* m = r.round.mutable_metrics();
  m->set_bytes_up(m->bytes_up() + c.total_bytes);
  TF_RETURN_IF_ERROR(d.Save(&r, {c}, &c));
  st.accepted = u.ok();
  st.reason = c.error;
  // Close the round as soon as it can be; aggregation waits for Tick().
  uint32_t settled = m->reported() + m->refused() + m->dropped();
  if (m->reported() >= r.round.spec().target_clients() ||
      settled >= m->selected()) {
    auto closed = d.Train(&r);
    if (!closed.ok()) {
      TF_LOG(kWarning, "round")
          << r.round.round_id() << ": " << closed.status().ToString();
    }
  }
  return st;
}

void RoundEngine::OnTrainProgress(const std::string& device_id,
                                  const v1::TrainProgress& p) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  auto r = d.store->rounds().Get(p.round_id());
  if (!r.ok() || r->round.state() != v1::ROUND_STATE_TRAINING) return;
  auto c = d.store->rounds().Client(p.round_id(), device_id, false);
  if (!c.ok() || !Pending(c->state)) return;
  std::string to;
  const std::string& stage = p.stage();
  if (stage == "accepted" || stage == "training" || stage == "uploaded") {
    to = "training";
  } else if (stage == "declined" || stage == "failed") {
    to = stage;
  } else {
    return;
  }
  Recount(r->round.mutable_metrics(), c->state, to);
  c->state = to;
  c->updated_at_ms = d.Now();
  if (p.samples()) c->samples = p.samples();
  if (to == "training") {
    c->loss_after = p.loss();
    c->accuracy_before = p.accuracy_before();
    c->accuracy_after = p.accuracy_after();
  } else {
    c->error = p.error().empty() ? stage : p.error();
  }
  if (to == "training") {
    (void)d.store->rounds().PutClient(*c);
    return;
  }
  if (!d.Save(&*r, {*c}).ok()) return;
  auto closed = d.Train(&*r);  // closes when nobody is left
  if (!closed.ok()) {
    TF_LOG(kWarning, "round")
        << p.round_id() << ": " << closed.status().ToString();
  }
}

Result<v1::Round> RoundEngine::Get(const std::string& round_id) {
  TF_ASSIGN_OR_RETURN(auto r, impl_->store->rounds().Get(round_id));
  TF_ASSIGN_OR_RETURN(auto clients,
                      impl_->store->rounds().Clients(round_id, false));
  for (const auto& c : clients) {
    auto* o = r.round.add_clients();
    o->set_device_id(c.device_id);
    o->set_state(c.state);
    o->set_attempt(c.attempt);
    o->set_samples(c.samples);
    o->set_loss_before(c.loss_before);
    o->set_loss_after(c.loss_after);
    o->set_accuracy_before(c.accuracy_before);
    o->set_accuracy_after(c.accuracy_after);
    o->set_error(c.error);
    o->set_committed_bytes(c.committed_bytes);
    o->set_total_bytes(c.total_bytes);
  }
  return r.round;
}

Result<std::vector<v1::Round>> RoundEngine::List(const std::string& page_token,
                                                 uint32_t page_size,
                                                 std::string* next_page_token) {
  uint32_t limit = page_size == 0 ? 100 : std::min<uint32_t>(page_size, 1000);
  TF_ASSIGN_OR_RETURN(auto list,
                      impl_->store->rounds().List(page_token, limit + 1));
  next_page_token->clear();
  if (list.size() > limit) {
    list.pop_back();
    *next_page_token = list.back().round_id();
  }
  return list;
}

Result<v1::Round> RoundEngine::Cancel(const std::string& round_id,
                                      const std::string& reason) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  TF_ASSIGN_OR_RETURN(auto r, d.store->rounds().Get(round_id));
  if (Terminal(r.round.state())) {
    return FailedPreconditionError("the round has already finished (" +
                                   v1::RoundState_Name(r.round.state()) + ")");
  }
  TF_ASSIGN_OR_RETURN(auto clients, d.store->rounds().Clients(round_id, false));
  std::vector<RoundClient> changed;
  for (auto& c : clients) {
    if (!Pending(c.state)) continue;
    if (c.state != "selected") {
      v1::GatewayMessage m;
      m.mutable_train_cancel()->set_round_id(round_id);
      (void)d.dispatcher->Send(c.device_id, m);
    }
    c.state = "cancelled";
    c.updated_at_ms = d.Now();
    changed.push_back(c);
  }
  r.round.set_state(v1::ROUND_STATE_CANCELLED);
  r.round.set_reason(reason.empty() ? "cancelled by an operator" : reason);
  TF_RETURN_IF_ERROR(d.Save(&r, changed));
  TF_LOG(kInfo, "round") << round_id << ": " << r.round.reason();
  return r.round;
}

void RoundEngine::Tick() {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  auto list = d.store->rounds().ListUnfinished();
  if (!list.ok()) {
    TF_LOG(kWarning, "round")
        << "cannot list rounds: " << list.status().ToString();
    return;
  }
  for (auto& r : *list) {
    std::string id = r.round.round_id();
    Status s = d.Advance(std::move(r));
    if (!s.ok()) TF_LOG(kWarning, "round") << id << ": " << s.ToString();
  }
}

Result<std::map<v1::RoundState, uint64_t>> RoundEngine::CountByState() {
  TF_ASSIGN_OR_RETURN(auto counts, impl_->store->rounds().CountByState());
  std::map<v1::RoundState, uint64_t> out;
  for (const auto& [k, v] : counts) out[static_cast<v1::RoundState>(k)] = v;
  return out;
}

namespace {

class OverRegistry final : public Dispatcher {
 public:
  explicit OverRegistry(fleet::Registry* registry) : registry_(registry) {}
  std::vector<std::string> OnlineDevices() override {
    return registry_->OnlineDevices();
  }
  Status Send(const std::string& device_id,
              const v1::GatewayMessage& message) override {
    return registry_->SendToDevice(device_id, message);
  }

 private:
  fleet::Registry* registry_;
};

}  // namespace

std::unique_ptr<Dispatcher> RegistryDispatcher(fleet::Registry* registry) {
  return std::make_unique<OverRegistry>(registry);
}

}  // namespace tinyfleet::adapt
