#include "server/cli/cli.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <optional>

#include "common/encoding.h"
#include "tinyfleet/v1/fleet.grpc.pb.h"

namespace tinyfleet::cli {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kUsage[] = R"(usage: tinyfleet [global flags] <command> [args]

Commands:
  whoami                                  show the token's name and role
  tokens create [--count N] [--ttl 1h] [--label k=v]... [--description S]
                [--out FILE]              create one-time enrollment tokens
  tokens list [--all]                     list enrollment tokens
  tokens revoke TOKEN_ID
  operators create NAME --role viewer|operator|admin
  operators list
  operators revoke TOKEN_ID
  devices list [--selector k=v,...] [--online|--offline] [--decommissioned]
               [--page-size N]
  devices show DEVICE_ID
  devices label DEVICE_ID k=v... [k-]...  set (k=v) or remove (k-) labels
  devices decommission DEVICE_ID [--reason TEXT]
  models push FILE [--name N] [--calib DATA.tnfs] [--target gap9|gap8|host]
              [--flash 2MB] [--ram 512kB] [--tail K] [--percentile P]
              [--no-mixed-precision]   compile (.onnx) or store (blob), sign
  models list [NAME]
  models show NAME[:VERSION]
  models evaluate NAME[:VERSION] [--dataset NAME]
              run the blob on the node kernels over a data set of the gateway
              (<data-dir>/datasets/NAME.tnfs; default "validation")
  rollouts create NAME:VERSION (--selector k=v | --device ID...) [--waves 5,25,100]
              [--max-failures R] [--min-healthy R] [--max-accuracy-drop P]
              [--soak 5m] [--wave-timeout 10m]
  rollouts list
  rollouts show|pause|resume|abort ROLLOUT_ID [--reason TEXT]
  rounds start --model NAME:VERSION --clients N [--kind federated|latent_replay|
              few_shot|self_learning] [--strategy fedavg|fedprox|fedadam|median|
              trimmed_mean|none] [--min-clients N] [--over-select R]
              [--min-samples N] [--deadline 10m] [--selector k=v,...] [--epochs N] [--batch N]
              [--lr X] [--prox-mu X] [--server-lr X] [--trim R] [--clip X]
              [--top-k R] [--replay N] [--replay-bits 7|8] [--shots N]
              [--far X] [--dataset NAME] [--promote MIN_POINTS]
              [--rollout-selector k=v,...]
  rounds list
  rounds get ROUND_ID                     metrics and per-client state
  rounds cancel ROUND_ID [--reason TEXT]
  telemetry query [--device ID] [--metric inferences|confidence|accuracy|energy_uj|
              cycles|errors|records] [--since 1h] [--agg mean|sum|...] [--step 5m]

Global flags (or environment):
  --address HOST:PORT   gateway gRPC address   (TINYFLEET_ADDRESS, default 127.0.0.1:7443)
  --ca FILE             gateway CA certificate (TINYFLEET_CA)
  --token SECRET        operator bearer token  (TINYFLEET_TOKEN)
  --token-file FILE     file holding the token (TINYFLEET_TOKEN_FILE)
  --insecure            plain-text gRPC (gateway in --insecure-dev)
  --json                machine-readable output
  --timeout SECONDS     per-call deadline (default 30)
)";

struct Global {
  std::string address = "127.0.0.1:7443";
  std::string ca_file;
  std::string token;
  std::string token_file;
  bool insecure = false;
  bool json = false;
  int timeout_s = 30;
};

class UsageError {
 public:
  explicit UsageError(std::string m) : message(std::move(m)) {}
  std::string message;
};

// A cursor over the arguments of one command.
class Args {
 public:
  explicit Args(std::vector<std::string> a) : a_(std::move(a)) {}
  bool empty() const { return i_ >= a_.size(); }
  std::string Next(const char* what) {
    if (empty()) throw UsageError(std::string("missing ") + what);
    return a_[i_++];
  }
  bool PeekFlag() const { return !empty() && a_[i_].rfind("--", 0) == 0; }
  const std::string& Peek() const { return a_[i_]; }
  void Skip() { ++i_; }

 private:
  std::vector<std::string> a_;
  size_t i_ = 0;
};

int ParseInt(const std::string& s, const char* what) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    throw UsageError(std::string("bad ") + what + ": " + s);
  }
  return v;
}

// "90", "90s", "15m", "2h", "7d".
int64_t ParseDurationSeconds(const std::string& s) {
  if (s.empty()) throw UsageError("empty duration");
  int64_t mult = 1;
  std::string num = s;
  switch (s.back()) {
    case 's':
      mult = 1;
      num.pop_back();
      break;
    case 'm':
      mult = 60;
      num.pop_back();
      break;
    case 'h':
      mult = 3600;
      num.pop_back();
      break;
    case 'd':
      mult = 86400;
      num.pop_back();
      break;
    default:
      break;
  }
  int64_t v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || p != num.data() + num.size() || v <= 0) {
    throw UsageError("bad duration: " + s + " (e.g. 90s, 15m, 2h, 7d)");
  }
  return v * mult;
}

std::pair<std::string, std::string> ParseLabel(const std::string& kv) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError("labels are key=value: " + kv);
  }
  return {kv.substr(0, eq), kv.substr(eq + 1)};
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  std::string s = TimeUtil::ToString(t);
  // Seconds precision reads better in tables.
  size_t dot = s.find('.');
  if (dot != std::string::npos) s = s.substr(0, dot) + "Z";
  return s;
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i)
      w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size(); ++i) {
      out << r[i];
      if (i + 1 < r.size()) out << std::string(w[i] - r[i].size() + 2, ' ');
    }
    out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string Json(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  return s;
}

std::string Labels(const google::protobuf::Map<std::string, std::string>& m) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : m) kv.push_back(k + "=" + v);
  std::sort(kv.begin(), kv.end());
  std::string s;
  for (const auto& x : kv) s += (s.empty() ? "" : ",") + x;
  return s.empty() ? "-" : s;
}

const char* RoleName(v1::Role r) {
  switch (r) {
    case v1::ROLE_VIEWER:
      return "viewer";
    case v1::ROLE_OPERATOR:
      return "operator";
    case v1::ROLE_ADMIN:
      return "admin";
    default:
      return "?";
  }
}

const char* TargetName(v1::TargetProfile t) {
  switch (t) {
    case v1::TARGET_PROFILE_HOST:
      return "host";
    case v1::TARGET_PROFILE_GAP8:
      return "gap8";
    case v1::TARGET_PROFILE_GAP9:
      return "gap9";
    default:
      return "-";
  }
}

const char* SlotStateName(v1::SlotState s) {
  switch (s) {
    case v1::SLOT_STATE_EMPTY:
      return "empty";
    case v1::SLOT_STATE_VALID:
      return "valid";
    case v1::SLOT_STATE_ACTIVE:
      return "active";
    case v1::SLOT_STATE_PENDING_CONFIRM:
      return "pending-confirm";
    case v1::SLOT_STATE_FAILED:
      return "failed";
    default:
      return "-";
  }
}

class Cli {
 public:
  Cli(Global g, std::ostream& out, std::ostream& err)
      : g_(std::move(g)), out_(out), err_(err) {}

  int Connect() {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (g_.insecure) {
      creds = grpc::InsecureChannelCredentials();
    } else {
      if (g_.ca_file.empty()) {
        err_ << "tinyfleet: --ca (or TINYFLEET_CA) is required for TLS; it is "
                "the gateway's pki/ca.crt\n";
        return 2;
      }
      auto ca = ReadFile(g_.ca_file);
      if (!ca.ok()) {
        err_ << "tinyfleet: " << ca.status().message() << "\n";
        return 2;
      }
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = *ca;
      creds = grpc::SslCredentials(ssl);
    }
    if (g_.token.empty() && !g_.token_file.empty()) {
      auto t = ReadFile(g_.token_file);
      if (!t.ok()) {
        err_ << "tinyfleet: " << t.status().message() << "\n";
        return 2;
      }
      g_.token = *t;
      while (!g_.token.empty() &&
             (g_.token.back() == '\n' || g_.token.back() == '\r')) {
        g_.token.pop_back();
      }
    }
    stub_ = v1::FleetService::NewStub(grpc::CreateChannel(g_.address, creds));
    return 0;
  }

  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!g_.token.empty())
      ctx->AddMetadata("authorization", "Bearer " + g_.token);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(g_.timeout_s));
    return ctx;
  }

  int Fail(const grpc::Status& st) {
    static const char* kNames[] = {"OK",
                                   "CANCELLED",
                                   "UNKNOWN",
                                   "INVALID_ARGUMENT",
                                   "DEADLINE_EXCEEDED",
                                   "NOT_FOUND",
                                   "ALREADY_EXISTS",
                                   "PERMISSION_DENIED",
                                   "RESOURCE_EXHAUSTED",
                                   "FAILED_PRECONDITION",
                                   "ABORTED",
                                   "OUT_OF_RANGE",
                                   "UNIMPLEMENTED",
                                   "INTERNAL",
                                   "UNAVAILABLE",
                                   "DATA_LOSS",
                                   "UNAUTHENTICATED"};
    int c = static_cast<int>(st.error_code());
    err_ << "tinyfleet: " << (c >= 0 && c < 17 ? kNames[c] : "UNKNOWN") << ": "
         << st.error_message() << "\n";
    return 1;
  }

  int Run(Args& a) {
    std::string group = a.Next("command");
    if (group == "whoami") return WhoAmI();
    std::string verb = a.Next("subcommand");
    if (group == "tokens") {
      if (verb == "create") return TokensCreate(a);
      if (verb == "list") return TokensList(a);
      if (verb == "revoke") return TokensRevoke(a);
    } else if (group == "operators") {
      if (verb == "create") return OperatorsCreate(a);
      if (verb == "list") return OperatorsList();
      if (verb == "revoke") return OperatorsRevoke(a);
    } else if (group == "models") {
      if (verb == "push") return ModelsPush(a);
      if (verb == "list") return ModelsList(a);
      if (verb == "show") return ModelsShow(a);
      if (verb == "evaluate") return ModelsEvaluate(a);
    } else if (group == "rollouts") {
      if (verb == "create") return RolloutsCreate(a);
      if (verb == "list") return RolloutsList();
      if (verb == "show" || verb == "pause" || verb == "resume" ||
          verb == "abort") {
        return RolloutsAction(verb, a);
      }
    } else if (group == "rounds") {
      if (verb == "start") return RoundsStart(a);
      if (verb == "list") return RoundsList();
      if (verb == "get" || verb == "show") return RoundsGet(a);
      if (verb == "cancel") return RoundsCancel(a);
    } else if (group == "telemetry") {
      if (verb == "query") return TelemetryQuery(a);
    } else if (group == "devices") {
      if (verb == "list") return DevicesList(a);
      if (verb == "show") return DevicesShow(a);
      if (verb == "label") return DevicesLabel(a);
      if (verb == "decommission") return DevicesDecommission(a);
    }
    throw UsageError("unknown command: " + group + " " + verb);
  }

 private:
  // ---- models ------------------------------------------------------------

  static uint64_t ParseBytes(const std::string& s) {
    uint64_t mult = 1;
    std::string num = s;
    auto ends = [&](const char* suf) {
      size_t n = std::strlen(suf);
      return num.size() > n && num.compare(num.size() - n, n, suf) == 0;
    };
    if (ends("MB")) {
      mult = 1024 * 1024;
      num.resize(num.size() - 2);
    } else if (ends("kB") || ends("KB")) {
      mult = 1024;
      num.resize(num.size() - 2);
    } else if (ends("B")) {
      num.resize(num.size() - 1);
    }
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || p != num.data() + num.size()) {
      throw UsageError("bad size: " + s + " (e.g. 2MB, 512kB)");
    }
    return v * mult;
  }

  int ModelsPush(Args& a) {
    std::string file = a.Next("model file (.onnx or blob)");
    v1::UploadModelHeader h;
    std::string calib_path;
    h.mutable_options()->set_mixed_precision(true);
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--name")
        h.set_name(a.Next("name"));
      else if (f == "--calib")
        calib_path = a.Next("calibration file");
      else if (f == "--target") {
        std::string t = a.Next("target");
        if (t == "gap9")
          h.mutable_options()->set_target(v1::TARGET_PROFILE_GAP9);
        else if (t == "gap8")
          h.mutable_options()->set_target(v1::TARGET_PROFILE_GAP8);
        else if (t == "host")
          h.mutable_options()->set_target(v1::TARGET_PROFILE_HOST);
        else
          throw UsageError("--target must be gap9, gap8 or host");
      } else if (f == "--flash")
        h.mutable_options()->set_flash_budget_bytes(ParseBytes(a.Next("size")));
      else if (f == "--ram")
        h.mutable_options()->set_ram_budget_bytes(ParseBytes(a.Next("size")));
      else if (f == "--tail")
        h.mutable_options()->set_trainable_tail_layers(
            static_cast<uint32_t>(ParseInt(a.Next("layers"), "tail layers")));
      else if (f == "--percentile") {
        h.mutable_options()->set_calibration("percentile");
        h.mutable_options()->set_percentile(
            std::atof(a.Next("percentile").c_str()));
      } else if (f == "--no-mixed-precision")
        h.mutable_options()->set_mixed_precision(false);
      else if (f == "--description")
        h.set_description(a.Next("text"));
      else
        throw UsageError("unknown flag " + f);
    }
    auto model = ReadFile(file);
    if (!model.ok()) {
      err_ << "tinyfleet: " << model.status().message() << "\n";
      return 2;
    }
    bool onnx =
        file.size() > 5 && file.compare(file.size() - 5, 5, ".onnx") == 0;
    h.set_format(onnx ? v1::MODEL_FORMAT_ONNX : v1::MODEL_FORMAT_BLOB);
    if (h.name().empty()) {
      std::string base = std::filesystem::path(file).stem().string();
      for (char& c : base) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
      }
      h.set_name(base);
    }
    std::string calib;
    if (onnx) {
      if (calib_path.empty())
        throw UsageError("an ONNX model needs --calib FILE (.tnfs)");
      auto c = ReadFile(calib_path);
      if (!c.ok()) {
        err_ << "tinyfleet: " << c.status().message() << "\n";
        return 2;
      }
      calib = *c;
    }
    h.set_model_bytes(model->size());
    h.set_calibration_bytes(calib.size());
    auto ctx = Ctx();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(std::max(g_.timeout_s, 600)));
    v1::Model m;
    auto writer = stub_->UploadModel(ctx.get(), &m);
    v1::UploadModelRequest req;
    *req.mutable_header() = h;
    writer->Write(req);
    constexpr size_t kChunk = 1 << 20;
    for (size_t off = 0; off < model->size(); off += kChunk) {
      v1::UploadModelRequest c;
      c.set_model_chunk(model->substr(off, kChunk));
      if (!writer->Write(c)) break;
    }
    for (size_t off = 0; off < calib.size(); off += kChunk) {
      v1::UploadModelRequest c;
      c.set_calibration_chunk(calib.substr(off, kChunk));
      if (!writer->Write(c)) break;
    }
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    if (!st.ok()) return Fail(st);
    return PrintModel(m);
  }

  int PrintModel(const v1::Model& m) {
    if (g_.json) {
      out_ << Json(m) << "\n";
      return 0;
    }
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "model         %s (%s)\nblob          %llu bytes, sha256 %s\n"
                  "memory        flash %llu B, RAM %llu B\nMACs          %llu\n"
                  "GAP9 estimate %.3f ms, %.1f uJ per inference\n",
                  m.ref().c_str(), TargetName(m.target()),
                  static_cast<unsigned long long>(m.blob_bytes()),
                  m.blob_sha256().c_str(),
                  static_cast<unsigned long long>(m.flash_bytes()),
                  static_cast<unsigned long long>(m.ram_bytes()),
                  static_cast<unsigned long long>(m.macs()),
                  m.estimated_latency_ms(), m.estimated_energy_uj());
    out_ << buf;
    if (m.float_accuracy() > 0 || m.int8_accuracy() > 0) {
      std::snprintf(buf, sizeof(buf),
                    "accuracy      float %.2f%%, deployed %.2f%%\n",
                    100 * m.float_accuracy(), 100 * m.int8_accuracy());
      out_ << buf;
    }
    out_ << "model id      " << m.model_id() << " (blob version "
         << m.blob_version() << ")\n";
    return 0;
  }

  int ModelsList(Args& a) {
    v1::ListModelsRequest req;
    if (!a.empty()) req.set_name(a.Next("name"));
    std::vector<v1::Model> all;
    std::string page;
    do {
      req.set_page_token(page);
      v1::ListModelsResponse resp;
      auto ctx = Ctx();
      grpc::Status st = stub_->ListModels(ctx.get(), req, &resp);
      if (!st.ok()) return Fail(st);
      all.insert(all.end(), resp.models().begin(), resp.models().end());
      page = resp.next_page_token();
    } while (!page.empty());
    if (g_.json) {
      v1::ListModelsResponse merged;
      for (auto& m : all) *merged.add_models() = m;
      out_ << Json(merged) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : all) {
      char lat[32];
      std::snprintf(lat, sizeof(lat), "%.3f ms", m.estimated_latency_ms());
      rows.push_back({m.ref(), TargetName(m.target()),
                      std::to_string(m.blob_bytes()), std::to_string(m.macs()),
                      lat, Time(m.created_at())});
    }
    PrintTable(out_,
               {"MODEL", "TARGET", "BYTES", "MACS", "GAP9 LATENCY", "CREATED"},
               rows);
    return 0;
  }

  int ModelsShow(Args& a) {
    v1::GetModelRequest req;
    req.set_ref(a.Next("model ref"));
    v1::Model m;
    auto ctx = Ctx();
    grpc::Status st = stub_->GetModel(ctx.get(), req, &m);
    if (!st.ok()) return Fail(st);
    return PrintModel(m);
  }

  int ModelsEvaluate(Args& a) {
    v1::EvaluateModelRequest req;
    req.set_ref(a.Next("model ref"));
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--dataset")
        req.set_dataset(a.Next("dataset"));
      else
        throw UsageError("unknown flag " + f);
    }
    v1::Evaluation e;
    auto ctx = Ctx();
    grpc::Status st = stub_->EvaluateModel(ctx.get(), req, &e);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(e) << "\n";
      return 0;
    }
    char line[160];
    std::snprintf(line, sizeof(line),
                  "%s on %u samples: int8 %.2f %%, float %.2f %%, agreement "
                  "%.2f %%\n",
                  e.ref().c_str(), e.samples(), 100 * e.int8_accuracy(),
                  100 * e.float_accuracy(), 100 * e.agreement());
    out_ << line;
    return 0;
  }

  // ---- rollouts ------------------------------------------------------------

  int PrintRollout(const v1::Rollout& r) {
    if (g_.json) {
      out_ << Json(r) << "\n";
      return 0;
    }
    static const char* kStates[] = {"?",      "pending",   "running",
                                    "paused", "completed", "aborted"};
    int s = r.state();
    out_ << "rollout  " << r.rollout_id() << "  " << r.model_ref() << "  "
         << (s >= 0 && s < 6 ? kStates[s] : "?") << "\n";
    if (!r.reason().empty()) out_ << "reason   " << r.reason() << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& w : r.waves()) {
      char pct[16];
      std::snprintf(pct, sizeof(pct), "%.0f%%", w.percent());
      rows.push_back({std::to_string(w.index()), pct,
                      std::to_string(w.targeted()),
                      std::to_string(w.confirmed()), std::to_string(w.failed()),
                      w.state(), w.gate_reason()});
    }
    PrintTable(
        out_,
        {"WAVE", "UP TO", "TARGETED", "CONFIRMED", "FAILED", "STATE", "GATE"},
        rows);
    return 0;
  }

  int RolloutsCreate(Args& a) {
    v1::CreateRolloutRequest req;
    req.set_model_ref(a.Next("model ref"));
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--selector")
        req.set_label_selector(a.Next("selector"));
      else if (f == "--device")
        req.add_device_ids(a.Next("device id"));
      else if (f == "--waves") {
        std::string list = a.Next("waves");
        size_t start = 0;
        while (start <= list.size()) {
          size_t comma = list.find(',', start);
          req.add_wave_percents(
              std::atof(list.substr(start, comma - start).c_str()));
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      } else if (f == "--max-failures")
        req.mutable_gate()->set_max_failure_ratio(
            std::atof(a.Next("ratio").c_str()));
      else if (f == "--min-healthy")
        req.mutable_gate()->set_min_healthy_ratio(
            std::atof(a.Next("ratio").c_str()));
      else if (f == "--max-accuracy-drop")
        req.mutable_gate()->set_max_accuracy_drop(
            std::atof(a.Next("points").c_str()));
      else if (f == "--soak")
        *req.mutable_gate()->mutable_soak() =
            TimeUtil::SecondsToDuration(ParseDurationSeconds(a.Next("soak")));
      else if (f == "--wave-timeout")
        *req.mutable_gate()->mutable_timeout() = TimeUtil::SecondsToDuration(
            ParseDurationSeconds(a.Next("timeout")));
      else
        throw UsageError("unknown flag " + f);
    }
    if (req.label_selector().empty() && req.device_ids_size() == 0) {
      throw UsageError("give --selector or --device");
    }
    v1::Rollout r;
    auto ctx = Ctx();
    grpc::Status st = stub_->CreateRollout(ctx.get(), req, &r);
    if (!st.ok()) return Fail(st);
    return PrintRollout(r);
  }

  int RolloutsList() {
    v1::ListRolloutsResponse resp;
    auto ctx = Ctx();
    grpc::Status st = stub_->ListRollouts(ctx.get(), {}, &resp);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(resp) << "\n";
      return 0;
    }
    static const char* kStates[] = {"?",      "pending",   "running",
                                    "paused", "completed", "aborted"};
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : resp.rollouts()) {
      int s = r.state();
      rows.push_back(
          {r.rollout_id(), r.model_ref(), s >= 0 && s < 6 ? kStates[s] : "?",
           std::to_string(r.current_wave()), Time(r.updated_at()), r.reason()});
    }
    PrintTable(out_, {"ROLLOUT", "MODEL", "STATE", "WAVE", "UPDATED", "REASON"},
               rows);
    return 0;
  }

  int RolloutsAction(const std::string& verb, Args& a) {
    v1::RolloutActionRequest req;
    req.set_rollout_id(a.Next("rollout id"));
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--reason")
        req.set_reason(a.Next("reason"));
      else
        throw UsageError("unknown flag " + f);
    }
    v1::Rollout r;
    auto ctx = Ctx();
    grpc::Status st;
    if (verb == "show") {
      v1::GetRolloutRequest g;
      g.set_rollout_id(req.rollout_id());
      st = stub_->GetRollout(ctx.get(), g, &r);
    } else if (verb == "pause") {
      st = stub_->PauseRollout(ctx.get(), req, &r);
    } else if (verb == "resume") {
      st = stub_->ResumeRollout(ctx.get(), req, &r);
    } else {
      st = stub_->AbortRollout(ctx.get(), req, &r);
    }
    if (!st.ok()) return Fail(st);
    return PrintRollout(r);
  }

  // ---- rounds --------------------------------------------------------------

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(c));
    return s;
  }
  // "ROUND_STATE_TRAINING" -> "training", with the enum's prefix.
  static std::string EnumWord(const std::string& name, const char* prefix) {
    return Lower(name.rfind(prefix, 0) == 0 ? name.substr(std::strlen(prefix))
                                            : name);
  }
  static double ParseDouble(const std::string& s, const char* what) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') {
      throw UsageError(std::string("bad ") + what + ": " + s);
    }
    return v;
  }

  int PrintRound(const v1::Round& r) {
    if (g_.json) {
      out_ << Json(r) << "\n";
      return 0;
    }
    const auto& m = r.metrics();
    out_ << "round    " << r.round_id() << "  " << r.model_ref() << "  "
         << EnumWord(v1::RoundState_Name(r.state()), "ROUND_STATE_") << "\n";
    out_ << "kind     " << EnumWord(v1::RoundKind_Name(r.kind()), "ROUND_KIND_")
         << ", "
         << EnumWord(v1::AggregationStrategy_Name(r.strategy()),
                     "AGGREGATION_STRATEGY_")
         << "\n";
    if (!r.reason().empty()) out_ << "reason   " << r.reason() << "\n";
    char line[256];
    std::snprintf(line, sizeof(line),
                  "clients  %u selected, %u reported, %u refused, %u dropped "
                  "(%u late)\n",
                  m.selected(), m.reported(), m.refused(), m.dropped(),
                  m.late());
    out_ << line;
    std::snprintf(line, sizeof(line),
                  "metrics  loss %.4f, accuracy %.2f%% -> %.2f%%, %llu B down, "
                  "%llu B up\n",
                  m.mean_loss(), 100 * m.accuracy_before(),
                  100 * m.accuracy_after(),
                  static_cast<unsigned long long>(m.bytes_down()),
                  static_cast<unsigned long long>(m.bytes_up()));
    out_ << line;
    const uint32_t excluded = m.excluded_offline() + m.excluded_model() +
                              m.excluded_samples() + m.excluded_energy() +
                              m.excluded_deadline();
    if (r.state() != v1::ROUND_STATE_CREATED &&
        r.state() != v1::ROUND_STATE_SELECTING) {
      std::snprintf(line, sizeof(line),
                    "select   %u eligible (min samples %u); excluded %u: %u "
                    "offline, %u other model, %u too few samples, %u over "
                    "energy budget, %u too slow\n",
                    m.eligible(), r.spec().min_samples(), excluded,
                    m.excluded_offline(), m.excluded_model(),
                    m.excluded_samples(), m.excluded_energy(),
                    m.excluded_deadline());
      out_ << line;
      std::snprintf(line, sizeof(line),
                    "estimate local training of the selected clients: "
                    "%.3f mJ in all, longest %.1f ms\n",
                    m.estimated_energy_mj(), m.estimated_time_ms());
      out_ << line;
    }
    if (!r.result_model_ref().empty())
      out_ << "promoted " << r.result_model_ref() << "\n";
    if (r.clients_size() > 0) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : r.clients()) {
        char acc[48];
        std::snprintf(acc, sizeof(acc), "%.1f%% -> %.1f%%",
                      100 * c.accuracy_before(), 100 * c.accuracy_after());
        rows.push_back({c.device_id(), c.state(), std::to_string(c.attempt()),
                        std::to_string(c.samples()), acc,
                        std::to_string(c.committed_bytes()), c.error()});
      }
      PrintTable(out_,
                 {"DEVICE", "STATE", "ATTEMPT", "SAMPLES", "ACCURACY", "BYTES",
                  "ERROR"},
                 rows);
    }
    return 0;
  }

  int RoundsStart(Args& a) {
    v1::StartRoundRequest req;
    req.set_kind(v1::ROUND_KIND_FEDERATED);
    auto* h = req.mutable_hyperparameters();
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--model") {
        req.set_model_ref(a.Next("model ref"));
      } else if (f == "--clients") {
        req.set_target_clients(
            static_cast<uint32_t>(ParseInt(a.Next("clients"), "clients")));
      } else if (f == "--min-clients") {
        req.set_min_clients(static_cast<uint32_t>(
            ParseInt(a.Next("min clients"), "min clients")));
      } else if (f == "--kind") {
        v1::RoundKind k;
        std::string v = a.Next("kind");
        for (char& c : v) c = static_cast<char>(std::toupper(c));
        if (v == "UNSPECIFIED" || !v1::RoundKind_Parse("ROUND_KIND_" + v, &k))
          throw UsageError("unknown kind " + v);
        req.set_kind(k);
      } else if (f == "--strategy") {
        v1::AggregationStrategy st;
        std::string v = a.Next("strategy");
        for (char& c : v) c = static_cast<char>(std::toupper(c));
        if (v == "UNSPECIFIED" ||
            !v1::AggregationStrategy_Parse("AGGREGATION_STRATEGY_" + v, &st))
          throw UsageError("unknown strategy " + v);
        req.set_strategy(st);
      } else if (f == "--min-samples") {
        int n = ParseInt(a.Next("min samples"), "min samples");
        if (n < 0) throw UsageError("--min-samples must be >= 0");
        req.set_min_samples(static_cast<uint32_t>(n));
      } else if (f == "--over-select") {
        req.set_over_selection(ParseDouble(a.Next("ratio"), "ratio"));
      } else if (f == "--deadline") {
        *req.mutable_deadline() = TimeUtil::SecondsToDuration(
            ParseDurationSeconds(a.Next("deadline")));
      } else if (f == "--selector") {
        req.set_label_selector(a.Next("selector"));
      } else if (f == "--epochs") {
        h->set_local_epochs(
            static_cast<uint32_t>(ParseInt(a.Next("epochs"), "epochs")));
      } else if (f == "--batch") {
        h->set_batch_size(
            static_cast<uint32_t>(ParseInt(a.Next("batch"), "batch")));
      } else if (f == "--lr") {
        h->set_learning_rate(ParseDouble(a.Next("lr"), "learning rate"));
      } else if (f == "--prox-mu") {
        h->set_prox_mu(ParseDouble(a.Next("mu"), "prox mu"));
      } else if (f == "--server-lr") {
        h->set_server_learning_rate(ParseDouble(a.Next("lr"), "server lr"));
      } else if (f == "--trim") {
        h->set_trim_ratio(ParseDouble(a.Next("ratio"), "trim ratio"));
      } else if (f == "--clip") {
        h->set_clip_norm(ParseDouble(a.Next("norm"), "clip norm"));
      } else if (f == "--top-k") {
        h->set_top_k_ratio(ParseDouble(a.Next("ratio"), "top-k ratio"));
      } else if (f == "--replay") {
        h->set_replay_samples(
            static_cast<uint32_t>(ParseInt(a.Next("replay"), "replay")));
      } else if (f == "--replay-bits") {
        h->set_replay_bits(
            static_cast<uint32_t>(ParseInt(a.Next("bits"), "replay bits")));
      } else if (f == "--shots") {
        h->set_shots(static_cast<uint32_t>(ParseInt(a.Next("shots"), "shots")));
      } else if (f == "--far") {
        h->set_target_far(ParseDouble(a.Next("far"), "target FAR"));
      } else if (f == "--dataset") {
        req.set_validation_dataset(a.Next("dataset"));
      } else if (f == "--promote") {
        req.set_auto_promote(true);
        req.set_min_improvement(ParseDouble(a.Next("points"), "points"));
      } else if (f == "--rollout-selector") {
        req.set_rollout_label_selector(a.Next("selector"));
      } else {
        throw UsageError("unknown flag " + f);
      }
    }
    if (req.model_ref().empty()) throw UsageError("give --model NAME:VERSION");
    if (req.target_clients() == 0) throw UsageError("give --clients N");
    v1::Round r;
    auto ctx = Ctx();
    grpc::Status st = stub_->StartRound(ctx.get(), req, &r);
    if (!st.ok()) return Fail(st);
    return PrintRound(r);
  }

  int RoundsList() {
    v1::ListRoundsResponse resp;
    auto ctx = Ctx();
    grpc::Status st = stub_->ListRounds(ctx.get(), {}, &resp);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(resp) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : resp.rounds()) {
      rows.push_back({r.round_id(), r.model_ref(),
                      EnumWord(v1::RoundKind_Name(r.kind()), "ROUND_KIND_"),
                      EnumWord(v1::RoundState_Name(r.state()), "ROUND_STATE_"),
                      std::to_string(r.metrics().reported()) + "/" +
                          std::to_string(r.metrics().selected()),
                      r.result_model_ref(), Time(r.updated_at()), r.reason()});
    }
    PrintTable(out_,
               {"ROUND", "MODEL", "KIND", "STATE", "REPORTED", "RESULT",
                "UPDATED", "REASON"},
               rows);
    return 0;
  }

  int RoundsGet(Args& a) {
    v1::GetRoundRequest req;
    req.set_round_id(a.Next("round id"));
    v1::Round r;
    auto ctx = Ctx();
    grpc::Status st = stub_->GetRound(ctx.get(), req, &r);
    if (!st.ok()) return Fail(st);
    return PrintRound(r);
  }

  int RoundsCancel(Args& a) {
    v1::CancelRoundRequest req;
    req.set_round_id(a.Next("round id"));
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--reason")
        req.set_reason(a.Next("reason"));
      else
        throw UsageError("unknown flag " + f);
    }
    v1::Round r;
    auto ctx = Ctx();
    grpc::Status st = stub_->CancelRound(ctx.get(), req, &r);
    if (!st.ok()) return Fail(st);
    return PrintRound(r);
  }

  // ---- telemetry ----------------------------------------------------------

  int TelemetryQuery(Args& a) {
    v1::QueryTelemetryRequest req;
    req.set_metric("inferences");
    int64_t since = 3600;
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--device")
        req.set_device_id(a.Next("device id"));
      else if (f == "--metric")
        req.set_metric(a.Next("metric"));
      else if (f == "--since")
        since = ParseDurationSeconds(a.Next("duration"));
      else if (f == "--step")
        *req.mutable_step() =
            TimeUtil::SecondsToDuration(ParseDurationSeconds(a.Next("step")));
      else if (f == "--agg") {
        std::string g = a.Next("aggregation");
        if (g == "raw")
          req.set_aggregation(v1::AGGREGATION_RAW);
        else if (g == "mean")
          req.set_aggregation(v1::AGGREGATION_MEAN);
        else if (g == "min")
          req.set_aggregation(v1::AGGREGATION_MIN);
        else if (g == "max")
          req.set_aggregation(v1::AGGREGATION_MAX);
        else if (g == "sum")
          req.set_aggregation(v1::AGGREGATION_SUM);
        else if (g == "count")
          req.set_aggregation(v1::AGGREGATION_COUNT);
        else
          throw UsageError("--agg must be raw, mean, min, max, sum or count");
      } else if (f == "--limit")
        req.set_limit(static_cast<uint32_t>(ParseInt(a.Next("n"), "limit")));
      else
        throw UsageError("unknown flag " + f);
    }
    auto now = TimeUtil::GetCurrentTime();
    *req.mutable_end() = now;
    req.mutable_end()->set_seconds(now.seconds() + 1);
    *req.mutable_start() = now;
    req.mutable_start()->set_seconds(now.seconds() - since);
    v1::QueryTelemetryResponse resp;
    auto ctx = Ctx();
    grpc::Status st = stub_->QueryTelemetry(ctx.get(), req, &resp);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(resp) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : resp.points()) {
      char v[32];
      std::snprintf(v, sizeof(v), "%.4g", p.value());
      rows.push_back(
          {Time(p.time()), p.device_id().empty() ? "-" : p.device_id(), v});
    }
    PrintTable(out_, {"TIME", "DEVICE", req.metric()}, rows);
    out_ << resp.points_size() << " point(s)\n";
    return 0;
  }

  int WhoAmI() {
    v1::OperatorToken t;
    auto ctx = Ctx();
    grpc::Status st = stub_->WhoAmI(ctx.get(), {}, &t);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(t) << "\n";
    } else {
      out_ << t.name() << " (" << RoleName(t.role()) << ", " << t.token_id()
           << ")\n";
    }
    return 0;
  }

  int TokensCreate(Args& a) {
    v1::CreateEnrollmentTokensRequest req;
    std::string out_file;
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--count") {
        int n = ParseInt(a.Next("count"), "count");
        if (n < 1) throw UsageError("--count must be at least 1");
        req.set_count(static_cast<uint32_t>(n));
      } else if (f == "--ttl") {
        *req.mutable_ttl() =
            TimeUtil::SecondsToDuration(ParseDurationSeconds(a.Next("ttl")));
      } else if (f == "--label") {
        auto [k, v] = ParseLabel(a.Next("label"));
        (*req.mutable_labels())[k] = v;
      } else if (f == "--description") {
        req.set_description(a.Next("description"));
      } else if (f == "--out") {
        out_file = a.Next("file");
      } else {
        throw UsageError("unknown flag " + f);
      }
    }
    v1::CreateEnrollmentTokensResponse resp;
    auto ctx = Ctx();
    grpc::Status st = stub_->CreateEnrollmentTokens(ctx.get(), req, &resp);
    if (!st.ok()) return Fail(st);
    if (!out_file.empty()) {
      std::string text;
      for (const auto& s : resp.secrets()) text += s + "\n";
      Status w = WriteFileAtomic(out_file, text, 0600);
      if (!w.ok()) {
        err_ << "tinyfleet: " << w.message() << "\n";
        return 1;
      }
    }
    if (g_.json) {
      out_ << Json(resp) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < resp.tokens_size(); ++i) {
      rows.push_back(
          {resp.tokens(i).token_id(), Time(resp.tokens(i).expires_at()),
           out_file.empty() ? resp.secrets(i) : "(in " + out_file + ")"});
    }
    PrintTable(out_, {"TOKEN ID", "EXPIRES", "SECRET (shown once)"}, rows);
    return 0;
  }

  int TokensList(Args& a) {
    v1::ListEnrollmentTokensRequest req;
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--all")
        req.set_include_inactive(true);
      else
        throw UsageError("unknown flag " + f);
    }
    std::vector<v1::EnrollmentToken> all;
    std::string page;
    do {
      req.set_page_token(page);
      v1::ListEnrollmentTokensResponse resp;
      auto ctx = Ctx();
      grpc::Status st = stub_->ListEnrollmentTokens(ctx.get(), req, &resp);
      if (!st.ok()) return Fail(st);
      all.insert(all.end(), resp.tokens().begin(), resp.tokens().end());
      page = resp.next_page_token();
    } while (!page.empty());
    if (g_.json) {
      v1::ListEnrollmentTokensResponse merged;
      for (auto& t : all) *merged.add_tokens() = t;
      out_ << Json(merged) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : all) {
      std::string state = t.revoked()       ? "revoked"
                          : t.has_used_at() ? "used by " + t.used_by_device_id()
                                            : "unused";
      rows.push_back(
          {t.token_id(), state, Time(t.expires_at()), Labels(t.labels())});
    }
    PrintTable(out_, {"TOKEN ID", "STATE", "EXPIRES", "LABELS"}, rows);
    return 0;
  }

  int TokensRevoke(Args& a) {
    v1::RevokeEnrollmentTokenRequest req;
    req.set_token_id(a.Next("token id"));
    v1::EnrollmentToken t;
    auto ctx = Ctx();
    grpc::Status st = stub_->RevokeEnrollmentToken(ctx.get(), req, &t);
    if (!st.ok()) return Fail(st);
    if (g_.json)
      out_ << Json(t) << "\n";
    else
      out_ << "revoked " << t.token_id() << "\n";
    return 0;
  }

  int OperatorsCreate(Args& a) {
    v1::CreateOperatorTokenRequest req;
    req.set_name(a.Next("name"));
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--role") {
        std::string r = a.Next("role");
        if (r == "viewer")
          req.set_role(v1::ROLE_VIEWER);
        else if (r == "operator")
          req.set_role(v1::ROLE_OPERATOR);
        else if (r == "admin")
          req.set_role(v1::ROLE_ADMIN);
        else
          throw UsageError("--role must be viewer, operator or admin");
      } else {
        throw UsageError("unknown flag " + f);
      }
    }
    if (req.role() == v1::ROLE_UNSPECIFIED)
      throw UsageError("--role is required");
    v1::CreateOperatorTokenResponse resp;
    auto ctx = Ctx();
    grpc::Status st = stub_->CreateOperatorToken(ctx.get(), req, &resp);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(resp) << "\n";
    } else {
      out_ << "token " << resp.token().token_id() << " for "
           << resp.token().name() << " (" << RoleName(resp.token().role())
           << ")\nsecret (shown once): " << resp.secret() << "\n";
    }
    return 0;
  }

  int OperatorsList() {
    v1::ListOperatorTokensResponse resp;
    auto ctx = Ctx();
    grpc::Status st = stub_->ListOperatorTokens(ctx.get(), {}, &resp);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(resp) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : resp.tokens()) {
      rows.push_back({t.token_id(), t.name(), RoleName(t.role()),
                      t.revoked() ? "revoked" : "active",
                      Time(t.last_used_at())});
    }
    PrintTable(out_, {"TOKEN ID", "NAME", "ROLE", "STATE", "LAST USED"}, rows);
    return 0;
  }

  int OperatorsRevoke(Args& a) {
    v1::RevokeOperatorTokenRequest req;
    req.set_token_id(a.Next("token id"));
    v1::OperatorToken t;
    auto ctx = Ctx();
    grpc::Status st = stub_->RevokeOperatorToken(ctx.get(), req, &t);
    if (!st.ok()) return Fail(st);
    if (g_.json)
      out_ << Json(t) << "\n";
    else
      out_ << "revoked " << t.token_id() << "\n";
    return 0;
  }

  int DevicesList(Args& a) {
    v1::ListDevicesRequest req;
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--selector")
        req.set_label_selector(a.Next("selector"));
      else if (f == "--online")
        req.set_connectivity(v1::CONNECTIVITY_ONLINE);
      else if (f == "--offline")
        req.set_connectivity(v1::CONNECTIVITY_OFFLINE);
      else if (f == "--decommissioned")
        req.set_lifecycle(v1::DEVICE_LIFECYCLE_DECOMMISSIONED);
      else if (f == "--page-size")
        req.set_page_size(
            static_cast<uint32_t>(ParseInt(a.Next("n"), "page size")));
      else
        throw UsageError("unknown flag " + f);
    }
    std::vector<v1::Device> all;
    std::string page;
    uint32_t total = 0;
    do {
      req.set_page_token(page);
      v1::ListDevicesResponse resp;
      auto ctx = Ctx();
      grpc::Status st = stub_->ListDevices(ctx.get(), req, &resp);
      if (!st.ok()) return Fail(st);
      all.insert(all.end(), resp.devices().begin(), resp.devices().end());
      page = resp.next_page_token();
      total = resp.total_count();
    } while (!page.empty());
    if (g_.json) {
      v1::ListDevicesResponse merged;
      for (auto& d : all) *merged.add_devices() = d;
      merged.set_total_count(total);
      out_ << Json(merged) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : all) {
      std::string model = "-";
      for (const auto& s : d.node().slots()) {
        if (s.state() == v1::SLOT_STATE_ACTIVE) {
          model = s.model_id().substr(0, 8) + ":" +
                  std::to_string(s.model_version());
        }
      }
      rows.push_back(
          {d.device_id(),
           d.connectivity() == v1::CONNECTIVITY_ONLINE ? "online" : "offline",
           TargetName(d.node().target()), d.node().firmware_version(), model,
           Time(d.last_seen_at()), Labels(d.labels())});
    }
    PrintTable(out_,
               {"DEVICE", "STATE", "TARGET", "FIRMWARE", "MODEL", "LAST SEEN",
                "LABELS"},
               rows);
    out_ << all.size() << " device(s)\n";
    return 0;
  }

  int DevicesShow(Args& a) {
    v1::GetDeviceRequest req;
    req.set_device_id(a.Next("device id"));
    v1::Device d;
    auto ctx = Ctx();
    grpc::Status st = stub_->GetDevice(ctx.get(), req, &d);
    if (!st.ok()) return Fail(st);
    if (g_.json) {
      out_ << Json(d) << "\n";
      return 0;
    }
    out_ << "device        " << d.device_id() << "\n"
         << "lifecycle     "
         << (d.lifecycle() == v1::DEVICE_LIFECYCLE_ACTIVE ? "active"
                                                          : "decommissioned")
         << "\n"
         << "connectivity  "
         << (d.connectivity() == v1::CONNECTIVITY_ONLINE ? "online" : "offline")
         << "\n"
         << "hardware id   " << d.node().hardware_id() << "\n"
         << "target        " << TargetName(d.node().target()) << "\n"
         << "firmware      " << d.node().firmware_version() << "\n"
         << "transport     " << d.node().transport() << "\n"
         << "agent         " << d.agent_version() << "\n"
         << "labels        " << Labels(d.labels()) << "\n"
         << "enrolled      " << Time(d.enrolled_at()) << "\n"
         << "last seen     " << Time(d.last_seen_at()) << "\n"
         << "certificate   serial " << d.certificate_serial() << ", sha256 "
         << d.certificate_sha256() << "\n";
    for (const auto& s : d.node().slots()) {
      out_ << "slot " << s.name() << "        " << SlotStateName(s.state());
      if (!s.model_id().empty())
        out_ << " " << s.model_id() << " v" << s.model_version();
      out_ << "\n";
    }
    if (!d.decommission_reason().empty()) {
      out_ << "reason        " << d.decommission_reason() << "\n";
    }
    return 0;
  }

  int DevicesLabel(Args& a) {
    v1::SetDeviceLabelsRequest req;
    req.set_device_id(a.Next("device id"));
    if (a.empty()) throw UsageError("give labels as k=v (set) or k- (remove)");
    while (!a.empty()) {
      std::string kv = a.Next("label");
      if (kv.size() > 1 && kv.back() == '-' &&
          kv.find('=') == std::string::npos) {
        req.add_remove_keys(kv.substr(0, kv.size() - 1));
      } else {
        auto [k, v] = ParseLabel(kv);
        (*req.mutable_labels())[k] = v;
      }
    }
    v1::Device d;
    auto ctx = Ctx();
    grpc::Status st = stub_->SetDeviceLabels(ctx.get(), req, &d);
    if (!st.ok()) return Fail(st);
    if (g_.json)
      out_ << Json(d) << "\n";
    else
      out_ << d.device_id() << " labels: " << Labels(d.labels()) << "\n";
    return 0;
  }

  int DevicesDecommission(Args& a) {
    v1::DecommissionDeviceRequest req;
    req.set_device_id(a.Next("device id"));
    while (!a.empty()) {
      std::string f = a.Next("flag");
      if (f == "--reason")
        req.set_reason(a.Next("reason"));
      else
        throw UsageError("unknown flag " + f);
    }
    v1::Device d;
    auto ctx = Ctx();
    grpc::Status st = stub_->DecommissionDevice(ctx.get(), req, &d);
    if (!st.ok()) return Fail(st);
    if (g_.json)
      out_ << Json(d) << "\n";
    else
      out_ << "decommissioned " << d.device_id() << "\n";
    return 0;
  }

  Global g_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<v1::FleetService::Stub> stub_;
};

}  // namespace

int RunCli(const std::vector<std::string>& args, const Env& env,
           std::ostream& out, std::ostream& err) {
  Global g;
  auto from_env = [&](const char* name, std::string* dst) {
    auto it = env.find(name);
    if (it != env.end() && !it->second.empty()) *dst = it->second;
  };
  from_env("TINYFLEET_ADDRESS", &g.address);
  from_env("TINYFLEET_CA", &g.ca_file);
  from_env("TINYFLEET_TOKEN", &g.token);
  from_env("TINYFLEET_TOKEN_FILE", &g.token_file);
  try {
    std::vector<std::string> rest;
    Args a(args);
    while (!a.empty()) {
      std::string s = a.Next("argument");
      if (s == "--help" || s == "-h" || s == "help") {
        out << kUsage;
        return 0;
      } else if (rest.empty() && s == "--address") {
        g.address = a.Next("address");
      } else if (rest.empty() && s == "--ca") {
        g.ca_file = a.Next("CA file");
      } else if (rest.empty() && s == "--token") {
        g.token = a.Next("token");
      } else if (rest.empty() && s == "--token-file") {
        g.token_file = a.Next("token file");
      } else if (s == "--insecure") {
        g.insecure = true;
      } else if (s == "--json") {
        g.json = true;
      } else if (rest.empty() && s == "--timeout") {
        g.timeout_s = ParseInt(a.Next("timeout"), "timeout");
        if (g.timeout_s < 1) throw UsageError("--timeout must be >= 1");
      } else {
        rest.push_back(s);
      }
    }
    if (rest.empty()) {
      err << kUsage;
      return 2;
    }
    Cli cli(g, out, err);
    if (int rc = cli.Connect(); rc != 0) return rc;
    Args cmd(rest);
    return cli.Run(cmd);
  } catch (const UsageError& e) {
    err << "tinyfleet: " << e.message << "\n(see tinyfleet --help)\n";
    return 2;
  }
}

}  // namespace tinyfleet::cli
