#include "server/catalog/model_catalog.h"

#include <google/protobuf/util/time_util.h>

#include <mutex>

#include "common/encoding.h"
#include "common/log.h"
#include "common/pki.h"
#include "runtime/tn_runtime.h"
#include "server/models/dataset.h"
#include "server/models/models.h"
#include "server/ota/delta.h"

namespace tinyfleet::catalog {
namespace {

using google::protobuf::util::TimeUtil;

std::mutex g_upload_mu;  // serializes version assignment with compilation

v1::TargetProfile ToProto(models::Target t) {
  switch (t) {
    case models::Target::kHost:
      return v1::TARGET_PROFILE_HOST;
    case models::Target::kGap8:
      return v1::TARGET_PROFILE_GAP8;
    case models::Target::kGap9:
      return v1::TARGET_PROFILE_GAP9;
  }
  return v1::TARGET_PROFILE_UNSPECIFIED;
}

void FillFromReport(const models::ModelReport& r, v1::Model* m) {
  m->set_target(ToProto(r.target));
  m->set_blob_bytes(r.blob_bytes);
  m->set_flash_bytes(r.flash_bytes);
  m->set_ram_bytes(r.ram_bytes);
  m->set_macs(r.macs);
  m->set_estimated_latency_ms(r.latency_ms);
  m->set_estimated_energy_uj(r.energy_uj);
  if (r.float_accuracy) m->set_float_accuracy(*r.float_accuracy);
  if (r.final_accuracy) m->set_int8_accuracy(*r.final_accuracy);
  m->set_frozen_sha256(r.frozen_sha256);
  for (const auto& l : r.layers) {
    auto* o = m->add_layers();
    o->set_name(l.name);
    o->set_op(l.op);
    o->set_macs(l.macs);
    o->set_weight_bits(l.weight_bits);
    o->set_cycles(l.cycles);
    o->set_energy_uj(l.energy_uj);
    o->set_trainable(l.trainable);
  }
}

Result<std::pair<std::string, uint32_t>> SplitRef(const std::string& ref) {
  size_t colon = ref.rfind(':');
  if (colon == std::string::npos) return std::make_pair(ref, uint32_t{0});
  char* end = nullptr;
  unsigned long v = std::strtoul(ref.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || v == 0)
    return InvalidArgumentError("model ref must be name[:version]");
  return std::make_pair(ref.substr(0, colon), static_cast<uint32_t>(v));
}

std::string HexId(const std::array<uint8_t, 16>& id) {
  return HexEncode(std::span<const uint8_t>(id.data(), id.size()));
}

// Earlier versions a new version gets deltas from: the most recent ones of
// the name that share its frozen part and target.
constexpr int kMaxDeltaBases = 3;

// Builds the deltas to `model` (blob `blob`) from earlier versions of
// `name` sharing its frozen part, stores them as "delta" artifacts and lists
// them in the model. Deltas are an optimization: one that cannot be built
// or is too large is skipped (with a log line), never an upload error.
void AddDeltas(store::Store* store, ota::ArtifactStore* artifacts,
               const std::string& name, std::string_view blob,
               v1::Model* model) {
  if (model->frozen_sha256().empty()) return;
  auto earlier = store->models().List(name, "", 100'000);
  if (!earlier.ok()) return;
  int made = 0;
  for (auto it = earlier->rbegin(); it != earlier->rend(); ++it) {
    if (made == kMaxDeltaBases) break;
    const v1::Model& base = it->model;
    if (base.frozen_sha256() != model->frozen_sha256() ||
        base.target() != model->target() ||
        base.model_id() != model->model_id()) {
      continue;
    }
    auto base_blob = artifacts->ReadAll(it->artifact_id);
    if (!base_blob.ok()) continue;
    auto delta = ota::BuildDelta(*base_blob, blob);
    if (!delta.ok()) {
      TF_LOG(kWarning, "catalog") << "no delta from " << base.ref() << ": "
                                  << delta.status().ToString();
      continue;
    }
    if (delta->size() > ota::kMaxDeltaShare * blob.size()) continue;
    auto stored = artifacts->Put(*delta, "delta");
    if (!stored.ok()) continue;
    auto* d = model->add_deltas();
    d->set_base_version(base.version());
    d->set_base_model_id(base.model_id());
    d->set_base_blob_version(base.blob_version());
    d->set_base_blob_sha256(it->artifact_id);
    d->set_artifact_id(stored->artifact_id);
    d->set_bytes(stored->size);
    ++made;
  }
}

}  // namespace

Status ValidateModelName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return InvalidArgumentError("model name must be 1..64 characters");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return InvalidArgumentError("model name may hold only [a-z0-9_-]");
    }
  }
  return Status::Ok();
}

Result<SigningKey> SigningKey::LoadOrCreate(const std::filesystem::path& dir) {
  auto path = dir / "model-signing.key";
  SigningKey k;
  auto pem = ReadFile(path);
  if (pem.ok()) {
    k.private_pem = *pem;
  } else if (pem.status().code() == StatusCode::kNotFound) {
    TF_ASSIGN_OR_RETURN(k.private_pem, pki::GenerateEcPrivateKey());
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    TF_RETURN_IF_ERROR(WriteFileAtomic(path, k.private_pem, 0600));
  } else {
    return pem.status();
  }
  auto point = pki::EcPublicPoint(k.private_pem);
  if (!point.ok()) return point.status().WithContext(path.string());
  k.public_point = *point;
  return k;
}

Result<std::unique_ptr<ModelCatalog>> ModelCatalog::Create(
    store::Store* store, ota::ArtifactStore* artifacts, const SigningKey* key,
    events::EventBus* events, const Clock* clock) {
  if (!store || !artifacts || !key || !clock) {
    return InvalidArgumentError(
        "catalog needs a store, artifacts, a key and a clock");
  }
  return std::unique_ptr<ModelCatalog>(
      new ModelCatalog(store, artifacts, key, events, clock));
}

Result<v1::Model> ModelCatalog::Store(const v1::UploadModelHeader& header,
                                      std::string signed_blob,
                                      v1::Model model) {
  TF_ASSIGN_OR_RETURN(auto artifact, artifacts_->Put(signed_blob, "blob"));
  AddDeltas(store_, artifacts_, header.name(), signed_blob, &model);
  model.set_name(header.name());
  model.set_description(header.description());
  model.set_blob_sha256(artifact.artifact_id);
  *model.mutable_created_at() =
      TimeUtil::MillisecondsToTimestamp(clock_->NowUnixMillis());
  store::ModelRecord rec{model, artifact.artifact_id};
  TF_ASSIGN_OR_RETURN(rec, store_->models().Create(std::move(rec)));
  TF_LOG(kInfo, "catalog") << "stored " << rec.model.ref() << " ("
                           << rec.model.blob_bytes() << " bytes, "
                           << rec.model.macs() << " MACs)";
  if (events_) {
    v1::Event e;
    *e.mutable_model() = rec.model;
    events_->Publish(std::move(e));
  }
  return rec.model;
}

Result<v1::Model> ModelCatalog::AddBlob(const v1::UploadModelHeader& header,
                                        std::string blob) {
  TF_RETURN_IF_ERROR(ValidateModelName(header.name()));
  std::lock_guard<std::mutex> lock(g_upload_mu);
  TF_ASSIGN_OR_RETURN(auto inspected, models::InspectBlob(blob));
  auto signed_blob =
      models::SignBlob(std::move(inspected.blob), key_->private_pem);
  if (!signed_blob.ok()) {
    return signed_blob.status().WithContext(
        "the blob must reserve a signature section for the gateway to sign");
  }
  TF_ASSIGN_OR_RETURN(auto report, models::InspectBlob(*signed_blob));
  v1::Model m;
  FillFromReport(report.report, &m);
  // The blob's own identity, as nodes will report it.
  tn_blob_parse_options popt{};
  tn_blob parsed;
  tn_status st =
      tn_blob_parse(reinterpret_cast<const uint8_t*>(signed_blob->data()),
                    signed_blob->size(), &popt, &parsed);
  if (st != TN_OK)
    return InternalError(std::string("signed blob: ") + tn_status_str(st));
  std::array<uint8_t, 16> id{};
  std::copy(parsed.model_id, parsed.model_id + 16, id.begin());
  m.set_model_id(HexId(id));
  m.set_blob_version(parsed.model_version);
  m.set_rollback_counter(parsed.rollback_counter);
  return Store(header, std::move(signed_blob).value(), std::move(m));
}

Result<v1::Model> ModelCatalog::AddOnnx(const v1::UploadModelHeader& header,
                                        std::string onnx,
                                        std::string calibration) {
  TF_RETURN_IF_ERROR(ValidateModelName(header.name()));
  TF_ASSIGN_OR_RETURN(auto calib,
                      models::Dataset::FromFeatureFile(calibration));
  models::CompileOptions opt;
  const auto& o = header.options();
  switch (o.target()) {
    case v1::TARGET_PROFILE_HOST:
      opt.target = models::Target::kHost;
      break;
    case v1::TARGET_PROFILE_GAP8:
      opt.target = models::Target::kGap8;
      break;
    case v1::TARGET_PROFILE_UNSPECIFIED:
    case v1::TARGET_PROFILE_GAP9:
      opt.target = models::Target::kGap9;
      break;
    default:
      return InvalidArgumentError("unknown target profile");
  }
  opt.flash_budget_bytes = o.flash_budget_bytes();
  opt.ram_budget_bytes = o.ram_budget_bytes();
  opt.trainable_tail_layers = o.trainable_tail_layers();
  if (o.calibration() == "percentile") {
    opt.calibration = models::Calibration::kPercentile;
    if (o.percentile() != 0) opt.percentile = o.percentile();
  } else if (!o.calibration().empty() && o.calibration() != "minmax") {
    return InvalidArgumentError("calibration must be minmax or percentile");
  }
  opt.mixed_precision = o.mixed_precision();
  Sha256Digest id = Sha256("tinyfleet model " + header.name());
  std::copy(id.begin(), id.begin() + 16, opt.model_id.begin());
  std::lock_guard<std::mutex> lock(g_upload_mu);
  auto latest = store_->models().Get(header.name(), 0);
  uint32_t version = latest.ok() ? latest->model.version() + 1 : 1;
  opt.model_version = version;
  opt.rollback_counter = o.rollback_counter();
  TF_ASSIGN_OR_RETURN(auto compiled, models::CompileOnnx(onnx, calib, opt));
  TF_ASSIGN_OR_RETURN(
      auto signed_blob,
      models::SignBlob(std::move(compiled.blob), key_->private_pem));
  v1::Model m;
  FillFromReport(compiled.report, &m);
  m.set_model_id(HexId(opt.model_id));
  m.set_blob_version(version);
  m.set_rollback_counter(o.rollback_counter());
  // Kept so that evaluations compare with the float model.
  TF_ASSIGN_OR_RETURN(auto source, artifacts_->Put(onnx, "onnx"));
  m.set_source_artifact_id(source.artifact_id);
  return Store(header, std::move(signed_blob), std::move(m));
}

Result<store::ModelRecord> ModelCatalog::Get(const std::string& ref) {
  TF_ASSIGN_OR_RETURN(auto parts, SplitRef(ref));
  TF_RETURN_IF_ERROR(ValidateModelName(parts.first));
  return store_->models().Get(parts.first, parts.second);
}

Result<std::vector<v1::Model>> ModelCatalog::List(
    const std::string& name, const std::string& page_token, uint32_t page_size,
    std::string* next_page_token) {
  if (!name.empty()) TF_RETURN_IF_ERROR(ValidateModelName(name));
  uint32_t limit = page_size == 0 ? 100 : std::min<uint32_t>(page_size, 1000);
  TF_ASSIGN_OR_RETURN(auto recs,
                      store_->models().List(name, page_token, limit + 1));
  next_page_token->clear();
  std::vector<v1::Model> out;
  for (auto& r : recs) out.push_back(std::move(r.model));
  if (out.size() > limit) {
    out.pop_back();
    *next_page_token = out.back().ref();
  }
  return out;
}

Result<v1::Evaluation> ModelCatalog::Evaluate(
    const std::string& ref, const std::string& dataset_bytes) {
  TF_ASSIGN_OR_RETURN(auto rec, Get(ref));
  TF_ASSIGN_OR_RETURN(std::string blob, artifacts_->ReadAll(rec.artifact_id));
  std::unique_ptr<models::FloatReference> reference;
  if (!rec.model.source_artifact_id().empty()) {
    TF_ASSIGN_OR_RETURN(std::string onnx,
                        artifacts_->ReadAll(rec.model.source_artifact_id()));
    TF_ASSIGN_OR_RETURN(reference, models::FloatReference::FromOnnx(onnx));
  }
  TF_ASSIGN_OR_RETURN(auto data,
                      models::Dataset::FromFeatureFile(dataset_bytes));
  TF_ASSIGN_OR_RETURN(auto ev, models::Evaluate(blob, data, reference.get()));
  v1::Evaluation out;
  out.set_samples(ev.samples);
  out.set_int8_accuracy(ev.int8_accuracy);
  if (ev.float_accuracy) out.set_float_accuracy(*ev.float_accuracy);
  if (ev.agreement) out.set_agreement(*ev.agreement);
  out.set_classes(ev.classes);
  for (uint32_t c : ev.confusion) out.add_confusion(c);
  out.set_ref(rec.model.ref());
  return out;
}

Result<v1::Model> ModelCatalog::AddDerived(
    const std::string& parent_ref, const std::string& description,
    const std::function<Result<std::string>(uint32_t version)>& build) {
  TF_ASSIGN_OR_RETURN(auto parent, Get(parent_ref));
  std::lock_guard<std::mutex> lock(g_upload_mu);
  auto latest = store_->models().Get(parent.model.name(), 0);
  uint32_t version = latest.ok() ? latest->model.version() + 1 : 1;
  TF_ASSIGN_OR_RETURN(std::string blob, build(version));
  TF_ASSIGN_OR_RETURN(auto inspected, models::InspectBlob(blob));
  TF_ASSIGN_OR_RETURN(
      auto signed_blob,
      models::SignBlob(std::move(inspected.blob), key_->private_pem));
  TF_ASSIGN_OR_RETURN(auto report, models::InspectBlob(signed_blob));
  v1::Model m;
  FillFromReport(report.report, &m);
  m.set_model_id(parent.model.model_id());
  m.set_blob_version(version);
  m.set_rollback_counter(parent.model.rollback_counter());
  m.set_parent_ref(parent.model.ref());
  v1::UploadModelHeader header;
  header.set_name(parent.model.name());
  header.set_description(description);
  return Store(header, std::move(signed_blob), std::move(m));
}

Result<v1::Evaluation> ModelCatalog::EvaluateBlob(
    std::string_view blob, const std::string& dataset_bytes,
    uint32_t max_samples) {
  TF_ASSIGN_OR_RETURN(auto data,
                      models::Dataset::FromFeatureFile(dataset_bytes));
  models::EvaluateOptions eopt;
  eopt.max_samples = max_samples;
  TF_ASSIGN_OR_RETURN(auto ev, models::Evaluate(blob, data, nullptr, eopt));
  v1::Evaluation out;
  out.set_samples(ev.samples);
  out.set_int8_accuracy(ev.int8_accuracy);
  if (ev.float_accuracy) out.set_float_accuracy(*ev.float_accuracy);
  if (ev.agreement) out.set_agreement(*ev.agreement);
  out.set_classes(ev.classes);
  for (uint32_t c : ev.confusion) out.add_confusion(c);
  return out;
}

}  // namespace tinyfleet::catalog
