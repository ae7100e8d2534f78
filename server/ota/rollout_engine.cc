#include "server/ota/rollout_engine.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <map>

#include "common/encoding.h"
#include "common/log.h"
#include "server/fleet/labels.h"
#include "server/ota/delta.h"

namespace tinyfleet::ota {
namespace {

using google::protobuf::util::TimeUtil;

int64_t Ms(const google::protobuf::Timestamp& t) {
  return TimeUtil::TimestampToMilliseconds(t);
}
int64_t Ms(const google::protobuf::Duration& d) {
  return TimeUtil::DurationToMilliseconds(d);
}

bool Active(const std::string& state) {
  return state == "ordered" || state == "downloading" ||
         state == "transferring" || state == "verifying" ||
         state == "activated" || state == "interrupted";
}

Result<std::pair<std::string, uint32_t>> ParseRef(const std::string& ref) {
  size_t colon = ref.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == ref.size()) {
    return InvalidArgumentError("model_ref must be \"name:version\"");
  }
  char* end = nullptr;
  unsigned long v = std::strtoul(ref.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || v == 0 || v > 0xffffffffu) {
    return InvalidArgumentError("model_ref version must be a positive number");
  }
  return std::make_pair(ref.substr(0, colon), static_cast<uint32_t>(v));
}

// Marks (in RolloutTarget.error) a device that refused a delta of this
// rollout: it gets the full blob from then on.
constexpr std::string_view kDeltaRefused = "delta refused";
constexpr std::string_view kDeltaOrderSuffix = "/delta";

bool DeltaRefused(const store::RolloutTarget& t) {
  return t.error.starts_with(kDeltaRefused);
}

}  // namespace

uint32_t WaveOf(const std::string& device_id,
                const std::vector<double>& wave_percents) {
  Sha256Digest d = Sha256(device_id);
  uint32_t h = static_cast<uint32_t>(d[0]) << 24 |
               static_cast<uint32_t>(d[1]) << 16 |
               static_cast<uint32_t>(d[2]) << 8 | d[3];
  double p = (h % 1'000'000u) / 10'000.0;  // [0, 100)
  for (size_t i = 0; i < wave_percents.size(); ++i) {
    if (p < wave_percents[i]) return static_cast<uint32_t>(i);
  }
  return static_cast<uint32_t>(
      wave_percents.empty() ? 0 : wave_percents.size() - 1);
}

std::string RolloutEngine::OrderId(const std::string& rollout_id,
                                   const std::string& device_id) {
  return rollout_id + "/" + device_id;
}

std::string RolloutEngine::DeltaOrderId(const std::string& rollout_id,
                                        const std::string& device_id) {
  return OrderId(rollout_id, device_id) + std::string(kDeltaOrderSuffix);
}

Result<std::unique_ptr<RolloutEngine>> RolloutEngine::Create(
    store::Store* store, fleet::Registry* registry, ArtifactStore* artifacts,
    events::EventBus* events, const Clock* clock,
    RolloutEngineOptions options) {
  if (!store || !registry || !artifacts || !clock) {
    return InvalidArgumentError(
        "rollout engine needs a store, registry, artifacts, clock");
  }
  return std::unique_ptr<RolloutEngine>(
      new RolloutEngine(store, registry, artifacts, events, clock, options));
}

Result<v1::Rollout> RolloutEngine::CreateRollout(
    const v1::CreateRolloutRequest& req) {
  TF_ASSIGN_OR_RETURN(auto ref, ParseRef(req.model_ref()));
  TF_ASSIGN_OR_RETURN(auto model, store_->models().Get(ref.first, ref.second));
  if (req.label_selector().empty() == (req.device_ids_size() == 0)) {
    return InvalidArgumentError(
        "give exactly one of label_selector and device_ids");
  }
  if (!req.label_selector().empty()) {
    TF_RETURN_IF_ERROR(fleet::ParseSelector(req.label_selector()).status());
  }
  if (req.device_ids_size() > 100'000)
    return InvalidArgumentError("too many device_ids");
  std::vector<double> waves(req.wave_percents().begin(),
                            req.wave_percents().end());
  if (waves.empty()) waves.push_back(100);
  if (waves.size() > 20) return InvalidArgumentError("at most 20 waves");
  double prev = 0;
  for (double w : waves) {
    if (!(w > prev) || w > 100) {
      return InvalidArgumentError(
          "wave_percents must rise strictly within (0, 100], e.g. [5, 25, "
          "100]");
    }
    prev = w;
  }
  if (waves.back() != 100)
    return InvalidArgumentError("the last wave must be 100");
  v1::RolloutGate gate = req.gate();
  if (gate.max_failure_ratio() < 0 || gate.max_failure_ratio() > 1 ||
      gate.min_healthy_ratio() < 0 || gate.min_healthy_ratio() > 1 ||
      gate.max_accuracy_drop() < 0) {
    return InvalidArgumentError("gate ratios must be in [0, 1] and drops >= 0");
  }
  if (!req.has_gate() || gate.min_healthy_ratio() == 0) {
    gate.set_min_healthy_ratio(options_.default_min_healthy_ratio);
  }
  if (!gate.has_timeout()) {
    *gate.mutable_timeout() =
        TimeUtil::SecondsToDuration(options_.default_wave_timeout.count());
  }
  v1::Rollout r;
  TF_ASSIGN_OR_RETURN(std::string raw, RandomBytes(8));
  r.set_rollout_id("ro-" + HexEncode(raw));
  r.set_model_ref(model.model.ref());
  r.set_state(v1::ROLLOUT_STATE_RUNNING);
  r.set_label_selector(req.label_selector());
  *r.mutable_device_ids() = req.device_ids();
  *r.mutable_gate() = gate;
  for (size_t i = 0; i < waves.size(); ++i) {
    auto* w = r.add_waves();
    w->set_index(static_cast<uint32_t>(i));
    w->set_percent(waves[i]);
    w->set_state(i == 0 ? "running" : "pending");
    if (i == 0)
      *w->mutable_started_at() =
          TimeUtil::MillisecondsToTimestamp(clock_->NowUnixMillis());
  }
  *r.mutable_created_at() =
      TimeUtil::MillisecondsToTimestamp(clock_->NowUnixMillis());
  std::lock_guard<std::mutex> lock(mu_);
  TF_RETURN_IF_ERROR(SaveAndPublish(&r));
  TF_LOG(kInfo, "rollout") << r.rollout_id() << ": " << r.model_ref() << " in "
                           << waves.size() << " wave(s)";
  Status s = TickOne(r);
  if (!s.ok()) {
    TF_LOG(kWarning, "rollout") << r.rollout_id() << ": " << s.ToString();
  }
  return store_->rollouts().Get(r.rollout_id());
}

Result<v1::Rollout> RolloutEngine::Get(const std::string& id) {
  return store_->rollouts().Get(id);
}

Result<std::vector<v1::Rollout>> RolloutEngine::List(
    const std::string& page_token, uint32_t page_size,
    std::string* next_page_token) {
  uint32_t limit = page_size == 0 ? 100 : std::min<uint32_t>(page_size, 1000);
  TF_ASSIGN_OR_RETURN(auto list,
                      store_->rollouts().List(page_token, limit + 1));
  next_page_token->clear();
  if (list.size() > limit) {
    list.pop_back();
    *next_page_token = list.back().rollout_id();
  }
  return list;
}

Status RolloutEngine::SaveAndPublish(v1::Rollout* r) {
  *r->mutable_updated_at() =
      TimeUtil::MillisecondsToTimestamp(clock_->NowUnixMillis());
  TF_RETURN_IF_ERROR(store_->rollouts().Put(*r));
  if (events_) {
    v1::Event e;
    *e.mutable_rollout() = *r;
    events_->Publish(std::move(e));
  }
  return Status::Ok();
}

Result<v1::Rollout> RolloutEngine::Pause(const std::string& id,
                                         const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  TF_ASSIGN_OR_RETURN(auto r, store_->rollouts().Get(id));
  if (r.state() != v1::ROLLOUT_STATE_RUNNING) {
    return FailedPreconditionError("only a running rollout can be paused");
  }
  r.set_state(v1::ROLLOUT_STATE_PAUSED);
  r.set_reason(reason.empty() ? "paused by an operator" : reason);
  TF_RETURN_IF_ERROR(SaveAndPublish(&r));
  return r;
}

Result<v1::Rollout> RolloutEngine::Resume(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  TF_ASSIGN_OR_RETURN(auto r, store_->rollouts().Get(id));
  if (r.state() != v1::ROLLOUT_STATE_PAUSED) {
    return FailedPreconditionError("only a paused rollout can be resumed");
  }
  r.set_state(v1::ROLLOUT_STATE_RUNNING);
  r.clear_reason();
  TF_RETURN_IF_ERROR(SaveAndPublish(&r));
  (void)TickOne(r);
  return store_->rollouts().Get(id);
}

Result<v1::Rollout> RolloutEngine::Abort(const std::string& id,
                                         const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  TF_ASSIGN_OR_RETURN(auto r, store_->rollouts().Get(id));
  if (r.state() == v1::ROLLOUT_STATE_COMPLETED ||
      r.state() == v1::ROLLOUT_STATE_ABORTED) {
    return FailedPreconditionError("the rollout has already finished");
  }
  r.set_state(v1::ROLLOUT_STATE_ABORTED);
  r.set_reason(reason.empty() ? "aborted by an operator" : reason);
  TF_RETURN_IF_ERROR(SaveAndPublish(&r));
  TF_RETURN_IF_ERROR(OrderRollbacks(r));
  return r;
}

void RolloutEngine::OnProgress(const std::string& device_id,
                               const v1::UpdateProgress& p) {
  std::string_view order = p.order_id();
  bool delta_order = order.ends_with(kDeltaOrderSuffix);
  if (delta_order) order.remove_suffix(kDeltaOrderSuffix.size());
  size_t slash = order.find('/');
  if (slash == std::string::npos || order.substr(slash + 1) != device_id) {
    return;  // not an order of ours, or another device's
  }
  std::string rollout_id(order.substr(0, slash));
  std::unique_lock<std::mutex> lock(mu_);
  auto target = store_->rollouts().Target(rollout_id, device_id);
  if (!target.ok()) return;
  {
    store::RolloutTarget& t = *target;
    const std::string& stage = p.stage();
    if (delta_order && DeltaRefused(t)) return;  // superseded by the blob
    if (delta_order && stage == "failed" && t.state != "rollback_ordered" &&
        RetryWithFullBlob(p.error_code())) {
      // The node refused the delta (another base, no delta support, a
      // result that failed its checks): order the full blob at once.
      t.state = "pending";
      t.error = std::string(kDeltaRefused) + " (" + p.error_code() + ": " +
                p.error() + "); the full blob is sent";
      TF_LOG(kInfo, "rollout")
          << rollout_id << "/" << device_id << ": " << t.error;
    } else if (stage == "rolled_back") {
      t.state = "rolled_back";
    } else if (t.state == "rollback_ordered") {
      if (stage == "failed") t.error = p.error_code() + ": " + p.error();
      // Still rolling back; keep waiting for "rolled_back".
    } else if (stage == "failed") {
      t.state = "failed";
      t.error = p.error_code().empty() ? p.error()
                                       : p.error_code() + ": " + p.error();
    } else if (stage == "interrupted") {
      // A transient error (network, node link or reset): not a failure;
      // the order goes again after interrupted_retry and resumes.
      t.state = stage;
      t.error = p.error_code().empty() ? p.error()
                                       : p.error_code() + ": " + p.error();
    } else if (stage == "confirmed") {
      t.state = stage;
      t.bytes_sent = std::max<uint64_t>(t.bytes_sent, p.offset());
    } else if (stage == "downloading" || stage == "transferring" ||
               stage == "verifying" || stage == "activated") {
      // Intermediate stages change no gate: written when the stage changes
      // (a repeated report of the same stage is only progress within it),
      // and never over a final state (reports may arrive out of order).
      if (t.state == stage || t.state == "confirmed" || t.state == "failed" ||
          t.state == "rolled_back") {
        return;
      }
      t.state = stage;
      t.bytes_sent = std::max<uint64_t>(
          t.bytes_sent, stage == "downloading" ? p.offset() : 0);
      t.updated_at_ms = clock_->NowUnixMillis();
      (void)store_->rollouts().PutTarget(t);
      return;
    } else {
      return;
    }
    t.updated_at_ms = clock_->NowUnixMillis();
    if (!store_->rollouts().PutTarget(t).ok()) return;
    if (options_.defer) {
      lock.unlock();
      Defer(rollout_id);
      return;
    }
    auto r = store_->rollouts().Get(rollout_id);
    if (r.ok()) (void)TickOne(*r);
    return;
  }
}

void RolloutEngine::Defer(const std::string& rollout_id) {
  {
    std::lock_guard<std::mutex> lock(deferred_mu_);
    if (!deferred_.insert(rollout_id).second) return;  // one is queued
  }
  options_.defer([this, rollout_id] {
    {
      // Reports from now on queue another evaluation: this one reads the
      // store after every report committed so far.
      std::lock_guard<std::mutex> lock(deferred_mu_);
      deferred_.erase(rollout_id);
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto r = store_->rollouts().Get(rollout_id);
    if (!r.ok()) return;
    Status s = TickOne(*r);
    if (!s.ok()) {
      TF_LOG(kWarning, "rollout") << rollout_id << ": " << s.ToString();
    }
  });
}

void RolloutEngine::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  auto list = store_->rollouts().ListUnfinished();
  if (!list.ok()) {
    TF_LOG(kWarning, "rollout")
        << "cannot list rollouts: " << list.status().ToString();
    return;
  }
  for (auto& r : *list) {
    Status s = TickOne(r);
    if (!s.ok()) {
      TF_LOG(kWarning, "rollout") << r.rollout_id() << ": " << s.ToString();
    }
  }
  // Aborted rollouts may still owe rollbacks to devices that were offline.
  std::string after;
  for (;;) {
    auto page = store_->rollouts().List(after, 200);
    if (!page.ok() || page->empty()) break;
    for (auto& r : *page) {
      if (r.state() == v1::ROLLOUT_STATE_ABORTED) (void)OrderRollbacks(r);
    }
    after = page->back().rollout_id();
  }
}

Status RolloutEngine::OrderRollbacks(const v1::Rollout& r) {
  TF_ASSIGN_OR_RETURN(auto targets, store_->rollouts().Targets(r.rollout_id()));
  int64_t now = clock_->NowUnixMillis();
  int64_t retry = std::chrono::duration_cast<std::chrono::milliseconds>(
                      options_.order_retry)
                      .count();
  for (auto& t : targets) {
    bool owe = Active(t.state) || t.state == "confirmed" ||
               (t.state == "rollback_ordered" && now - t.updated_at_ms > retry);
    if (!owe) continue;
    v1::GatewayMessage m;
    auto* o = m.mutable_update_order();
    o->set_order_id(OrderId(r.rollout_id(), t.device_id));
    o->set_action("rollback");
    o->set_model_ref(t.previous_model_ref);
    if (!registry_->SendToDevice(t.device_id, m).ok()) continue;  // later
    t.state = "rollback_ordered";
    t.updated_at_ms = now;
    TF_RETURN_IF_ERROR(store_->rollouts().PutTarget(t));
  }
  return Status::Ok();
}

Status RolloutEngine::TickOne(v1::Rollout r) {
  if (r.state() != v1::ROLLOUT_STATE_RUNNING) return Status::Ok();
  TF_ASSIGN_OR_RETURN(auto ref, ParseRef(r.model_ref()));
  TF_ASSIGN_OR_RETURN(auto model, store_->models().Get(ref.first, ref.second));
  TF_ASSIGN_OR_RETURN(auto artifact, artifacts_->Get(model.artifact_id));
  std::vector<double> percents;
  for (const auto& w : r.waves()) percents.push_back(w.percent());
  int64_t now = clock_->NowUnixMillis();

  // 1. Membership: current matches join with their stable wave.
  TF_ASSIGN_OR_RETURN(auto list, store_->rollouts().Targets(r.rollout_id()));
  std::map<std::string, store::RolloutTarget> targets;
  for (auto& t : list) targets[t.device_id] = std::move(t);
  std::vector<store::DeviceRecord> devices;
  if (!r.label_selector().empty()) {
    store::DeviceQuery q;
    TF_ASSIGN_OR_RETURN(q.selector, fleet::ParseSelector(r.label_selector()));
    q.limit = 1000;
    for (;;) {
      TF_ASSIGN_OR_RETURN(auto page, store_->devices().List(q));
      for (auto& d : page.devices) devices.push_back(std::move(d));
      if (!page.more || devices.empty()) break;
      q.after_id = devices.back().device_id;
    }
  } else {
    for (const auto& id : r.device_ids()) {
      auto d = store_->devices().Get(id);
      if (d.ok() && d->lifecycle == store::Lifecycle::kActive)
        devices.push_back(*d);
    }
  }
  std::map<std::string, const store::DeviceRecord*> by_id;
  for (const auto& d : devices) {
    by_id[d.device_id] = &d;
    if (targets.count(d.device_id)) continue;
    store::RolloutTarget t;
    t.rollout_id = r.rollout_id();
    t.device_id = d.device_id;
    t.wave = WaveOf(d.device_id, percents);
    for (const auto& s : d.node.slots()) {
      if (s.state() == v1::SLOT_STATE_ACTIVE) {
        t.previous_model_id = s.model_id();
        t.previous_model_ref =
            s.model_id().empty() ? "" : std::to_string(s.model_version());
      }
    }
    t.updated_at_ms = now;
    targets[d.device_id] = t;
    TF_RETURN_IF_ERROR(store_->rollouts().PutTarget(t));
  }
  // The canary wave is never empty while the rollout has members.
  bool canary = false;
  for (auto& [id, t] : targets) canary = canary || t.wave == 0;
  if (!canary && !targets.empty()) {
    auto& first = targets.begin()->second;
    first.wave = 0;
    TF_RETURN_IF_ERROR(store_->rollouts().PutTarget(first));
  }

  // 2. Orders for devices in the waves reached so far.
  uint32_t current = r.current_wave();
  int64_t retry = std::chrono::duration_cast<std::chrono::milliseconds>(
                      options_.order_retry)
                      .count();
  int64_t interrupted_retry =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          options_.interrupted_retry)
          .count();
  uint64_t bytes = 0;
  for (auto& [id, t] : targets) {
    bytes += t.bytes_sent;
    if (t.wave > current) continue;
    // Orders from before this engine started (a gateway restart) may have
    // been lost with the old sessions: they are sent again at once.
    bool due =
        t.state == "pending" ||
        (Active(t.state) &&
         (now - t.updated_at_ms > retry || t.updated_at_ms < started_at_ms_)) ||
        (t.state == "interrupted" && now - t.updated_at_ms > interrupted_retry);
    if (!due) continue;
    auto d = by_id.find(id);
    if (d != by_id.end()) {
      bool runs_it = false;
      for (const auto& s : d->second->node.slots()) {
        // Nodes report the blob's own version, which the catalog keeps as
        // blob_version (its `version` counts uploads of the name).
        uint32_t blob_version = model.model.blob_version()
                                    ? model.model.blob_version()
                                    : model.model.version();
        runs_it = runs_it || (s.state() == v1::SLOT_STATE_ACTIVE &&
                              s.model_id() == model.model.model_id() &&
                              s.model_version() == blob_version);
      }
      if (runs_it) {
        t.state = "confirmed";
        t.updated_at_ms = now;
        TF_RETURN_IF_ERROR(store_->rollouts().PutTarget(t));
        continue;
      }
    }
    // A delta when the device runs its base, else the full blob.
    std::string running_id;
    uint32_t running_version = 0;
    if (d != by_id.end()) {
      for (const auto& s : d->second->node.slots()) {
        if (s.state() != v1::SLOT_STATE_ACTIVE) continue;
        running_id = s.model_id();
        running_version = s.model_version();
      }
    }
    ArtifactChoice choice =
        ChooseArtifact(model.model, artifact.artifact_id, running_id,
                       running_version, DeltaRefused(t));
    store::ArtifactRecord send = artifact;
    if (choice.is_delta) {
      auto delta = artifacts_->Get(choice.artifact_id);
      if (delta.ok()) {
        send = *delta;
      } else {
        choice.is_delta = false;  // the delta's file is gone: the blob
      }
    }
    v1::GatewayMessage m;
    auto* o = m.mutable_update_order();
    o->set_order_id(choice.is_delta ? DeltaOrderId(r.rollout_id(), id)
                                    : OrderId(r.rollout_id(), id));
    o->set_artifact_id(send.artifact_id);
    o->set_artifact_bytes(send.size);
    o->set_artifact_sha256(send.artifact_id);
    o->set_is_delta(choice.is_delta);
    o->set_model_ref(r.model_ref());
    o->set_action("install");
    if (!registry_->SendToDevice(id, m).ok()) continue;  // offline: later
    t.state = "ordered";
    t.updated_at_ms = now;
    TF_RETURN_IF_ERROR(store_->rollouts().PutTarget(t));
  }
  r.set_bytes_sent(bytes);

  // 3. Counts per wave, and the gate of the current one.
  bool changed = false;
  for (auto& w : *r.mutable_waves()) {
    uint32_t n = 0, ok = 0, bad = 0;
    for (const auto& [id, t] : targets) {
      if (t.wave != w.index()) continue;
      ++n;
      ok += t.state == "confirmed";
      bad += t.state == "failed";
    }
    if (w.targeted() != n || w.confirmed() != ok || w.failed() != bad)
      changed = true;
    w.set_targeted(n);
    w.set_confirmed(ok);
    w.set_failed(bad);
  }
  auto* wave = r.mutable_waves(static_cast<int>(current));
  std::vector<std::string> members;
  std::string first_error;
  for (const auto& [id, t] : targets) {
    if (t.wave != current) continue;
    members.push_back(id);
    if (t.state == "failed" && first_error.empty())
      first_error = id + ": " + t.error;
  }
  const v1::RolloutGate& gate = r.gate();
  uint32_t n = wave->targeted(), ok = wave->confirmed(), bad = wave->failed();
  auto abort = [&](const std::string& why) -> Status {
    wave->set_state("failed");
    wave->set_gate_reason(why);
    r.set_state(v1::ROLLOUT_STATE_ABORTED);
    r.set_reason("wave " + std::to_string(current) +
                 " failed its gate: " + why);
    TF_LOG(kWarning, "rollout") << r.rollout_id() << ": " << r.reason();
    TF_RETURN_IF_ERROR(SaveAndPublish(&r));
    return OrderRollbacks(r);
  };
  if (n > 0 && static_cast<double>(bad) / n > gate.max_failure_ratio()) {
    return abort(std::to_string(bad) + " of " + std::to_string(n) +
                 " failed (" + first_error + ")");
  }
  bool settled = n > 0 && ok + bad == n;
  if (n > 0 && !settled && now - Ms(wave->started_at()) > Ms(gate.timeout())) {
    return abort("timed out with " + std::to_string(n - ok - bad) + " of " +
                 std::to_string(n) + " not finished");
  }
  if (settled || n == 0) {
    if (!wave->has_settled_at()) {
      *wave->mutable_settled_at() = TimeUtil::MillisecondsToTimestamp(now);
      changed = true;
    }
    if (now - Ms(wave->settled_at()) < Ms(gate.soak())) {
      if (changed) TF_RETURN_IF_ERROR(SaveAndPublish(&r));
      return Status::Ok();
    }
    if (n > 0 && static_cast<double>(ok) / n < gate.min_healthy_ratio()) {
      return abort(std::to_string(ok) + " of " + std::to_string(n) +
                   " healthy, below the gate's minimum");
    }
    if (gate.max_accuracy_drop() > 0 && n > 0) {
      int64_t since = Ms(wave->started_at());
      TF_ASSIGN_OR_RETURN(auto now_fb,
                          store_->telemetry().FeedbackByModel(
                              members, model.model.version(), since));
      // The previous version's figure: the same devices over the day before.
      uint32_t prev_version = 0;
      for (const auto& id : members) {
        const auto& t = targets[id];
        if (!t.previous_model_ref.empty())
          prev_version =
              static_cast<uint32_t>(std::atoi(t.previous_model_ref.c_str()));
      }
      TF_ASSIGN_OR_RETURN(auto prev_fb,
                          store_->telemetry().FeedbackByModel(
                              members, prev_version, since - 86'400'000));
      if (now_fb.second > 0 && prev_fb.second > 0) {
        double acc_new = 100.0 * now_fb.first / now_fb.second;
        double acc_prev = 100.0 * prev_fb.first / prev_fb.second;
        wave->set_accuracy_new(acc_new);
        wave->set_accuracy_previous(acc_prev);
        if (acc_prev - acc_new > gate.max_accuracy_drop()) {
          char buf[160];
          std::snprintf(
              buf, sizeof(buf),
              "on-device accuracy %.1f%% vs %.1f%% before (allowed drop %.1f)",
              acc_new, acc_prev, gate.max_accuracy_drop());
          return abort(buf);
        }
      }
    }
    wave->set_state("passed");
    if (current + 1 < static_cast<uint32_t>(r.waves_size())) {
      r.set_current_wave(current + 1);
      auto* next = r.mutable_waves(static_cast<int>(current + 1));
      next->set_state("running");
      *next->mutable_started_at() = TimeUtil::MillisecondsToTimestamp(now);
      TF_RETURN_IF_ERROR(SaveAndPublish(&r));
      return TickOne(r);  // order the next wave now
    }
    r.set_state(v1::ROLLOUT_STATE_COMPLETED);
    TF_LOG(kInfo, "rollout") << r.rollout_id() << ": completed";
    return SaveAndPublish(&r);
  }
  if (changed) TF_RETURN_IF_ERROR(SaveAndPublish(&r));
  return Status::Ok();
}

}  // namespace tinyfleet::ota
