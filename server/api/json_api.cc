#include "server/api/json_api.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "common/encoding.h"
#include "common/log.h"
#include "server/api/fleet_service.h"

namespace tinyfleet::api {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kTicketLifetimeMs = 30'000;
constexpr size_t kMaxOutstandingTickets = 10'000;

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) >= 0x20) {
      out.push_back(c);
    }
  }
  return out;
}

http::Headers NoStore() { return {{"Cache-Control", "no-store"}}; }

http::Response JsonError(const Status& s) {
  return http::Response{HttpStatusFor(s), "application/json",
                        "{\"code\":\"" + std::string(StatusCodeName(s.code())) +
                            "\",\"message\":\"" + JsonEscape(s.message()) +
                            "\"}\n",
                        NoStore()};
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string body;
  (void)google::protobuf::util::MessageToJsonString(m, &body, o);
  return body;
}

http::Response Json(const google::protobuf::Message& m) {
  return http::Response{200, "application/json", ToJson(m), NoStore()};
}

// A query parameter as an unsigned number; `fallback` when absent.
Result<uint64_t> NumberParam(const http::Request& req, std::string_view name,
                             uint64_t fallback) {
  std::string s = req.Query(name);
  if (s.empty()) return fallback;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgumentError(std::string(name) + " must be a number");
  }
  return n;
}

// RFC 3339 ("2026-01-02T03:04:05Z") or unix milliseconds.
Result<int64_t> TimeParam(const std::string& value, std::string_view name) {
  bool digits = !value.empty() &&
                value.find_first_not_of("0123456789") == std::string::npos;
  if (digits) {
    int64_t ms = 0;
    auto [p, ec] =
        std::from_chars(value.data(), value.data() + value.size(), ms);
    if (ec == std::errc()) return ms;
  }
  google::protobuf::Timestamp ts;
  if (!TimeUtil::FromString(value, &ts)) {
    return InvalidArgumentError(std::string(name) +
                                " must be RFC 3339 or unix milliseconds");
  }
  return TimeUtil::TimestampToMilliseconds(ts);
}

// "60s", "1.5s" (the JSON form of a Duration) or plain seconds.
Result<int64_t> StepParam(const std::string& value) {
  std::string v = value;
  if (v.find_first_not_of("0123456789.") == std::string::npos) v += "s";
  google::protobuf::Duration d;
  if (!TimeUtil::FromString(v, &d)) {
    return InvalidArgumentError("step must be a duration such as \"60s\"");
  }
  return TimeUtil::DurationToMilliseconds(d);
}

// "AGGREGATION_MEAN" or "mean"; "" is raw.
Result<store::TelemetryAggregation> AggregationParam(std::string name) {
  constexpr std::string_view kPrefix = "AGGREGATION_";
  if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  static const std::map<std::string, store::TelemetryAggregation> kAggs = {
      {"", store::TelemetryAggregation::kRaw},
      {"unspecified", store::TelemetryAggregation::kRaw},
      {"raw", store::TelemetryAggregation::kRaw},
      {"mean", store::TelemetryAggregation::kMean},
      {"min", store::TelemetryAggregation::kMin},
      {"max", store::TelemetryAggregation::kMax},
      {"sum", store::TelemetryAggregation::kSum},
      {"count", store::TelemetryAggregation::kCount},
  };
  auto it = kAggs.find(name);
  if (it == kAggs.end()) {
    return InvalidArgumentError("unknown aggregation \"" + name +
                                "\" (raw, mean, min, max, sum, count)");
  }
  return it->second;
}

Result<std::set<std::string>> KindsParam(const http::Request& req) {
  static const std::set<std::string> kKinds = {"device", "rollout", "round",
                                               "model"};
  std::set<std::string> kinds;
  std::string all = req.Query("kinds");
  size_t start = 0;
  while (start < all.size()) {
    size_t comma = all.find(',', start);
    std::string k = all.substr(start, comma - start);
    if (!k.empty()) {
      if (!kKinds.count(k)) {
        return InvalidArgumentError("unknown event kind \"" + k +
                                    "\" (device, rollout, round or model)");
      }
      kinds.insert(k);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return kinds;
}

std::string KindOf(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kDevice:
      return "device";
    case v1::Event::kRollout:
      return "rollout";
    case v1::Event::kRound:
      return "round";
    case v1::Event::kModel:
      return "model";
    default:
      return "";
  }
}

// The id a path names after `prefix` ("/api/v1/devices/dev-1" -> "dev-1").
Result<std::string> IdFromPath(const http::Request& req,
                               std::string_view prefix) {
  std::string path = req.Path();
  std::string id = path.substr(std::min(prefix.size(), path.size()));
  if (id.empty() || id.find('/') != std::string::npos) {
    return NotFoundError("no such resource: " + path);
  }
  return id;
}

// "/api/v1/rollouts/<id>/<action>" -> {id, action}; action is pause, resume
// or abort.
Result<std::pair<std::string, std::string>> RolloutActionFromPath(
    const http::Request& req) {
  constexpr std::string_view kPrefix = "/api/v1/rollouts/";
  std::string path = req.Path();
  std::string rest = path.substr(std::min(kPrefix.size(), path.size()));
  size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string::npos ||
      rest.find('/', slash + 1) != std::string::npos) {
    return NotFoundError("no such action: " + path +
                         " (POST /api/v1/rollouts/<id>/pause|resume|abort)");
  }
  std::string action = rest.substr(slash + 1);
  if (action != "pause" && action != "resume" && action != "abort") {
    return NotFoundError("no such rollout action \"" + action +
                         "\" (pause, resume or abort)");
  }
  return std::make_pair(rest.substr(0, slash), action);
}

// The optional JSON body of a rollout action: {"reason": "..."}.
Result<v1::RolloutActionRequest> RolloutActionBody(const http::Request& req) {
  v1::RolloutActionRequest body;
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return body;
  std::string type = req.Header("Content-Type");
  if (type.rfind("application/json", 0) != 0) {
    return InvalidArgumentError("a request body must be application/json");
  }
  auto s = google::protobuf::util::JsonStringToMessage(req.body, &body);
  if (!s.ok()) {
    return InvalidArgumentError("bad JSON body: " + std::string(s.message()));
  }
  if (body.reason().size() > 1024) {
    return InvalidArgumentError("reason is longer than 1024 bytes");
  }
  return body;
}

// Single-use tickets that let an EventSource, which cannot send headers,
// open one event stream on behalf of a bearer token. Thread-safe.
class StreamTickets {
 public:
  explicit StreamTickets(const Clock* clock) : clock_(clock) {}

  Result<std::string> Issue(const std::string& authorization) {
    TF_ASSIGN_OR_RETURN(std::string bytes, RandomBytes(32));
    std::string ticket = HexEncode(bytes);
    int64_t now = clock_->NowUnixMillis();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = tickets_.begin(); it != tickets_.end();) {
      it = it->second.expires_ms <= now ? tickets_.erase(it) : std::next(it);
    }
    if (tickets_.size() >= kMaxOutstandingTickets) {
      return ResourceExhaustedError("too many unused event-stream tickets");
    }
    tickets_[Sha256Hex(ticket)] = {authorization, now + kTicketLifetimeMs};
    return ticket;
  }

  // The authorization the ticket stands for; the ticket is spent.
  Result<std::string> Redeem(const std::string& ticket) {
    int64_t now = clock_->NowUnixMillis();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tickets_.find(Sha256Hex(ticket));
    if (it == tickets_.end() || it->second.expires_ms <= now) {
      if (it != tickets_.end()) tickets_.erase(it);
      return UnauthenticatedError("unknown, used or expired stream ticket");
    }
    std::string authorization = std::move(it->second.authorization);
    tickets_.erase(it);
    return authorization;
  }

 private:
  struct Ticket {
    std::string authorization;
    int64_t expires_ms = 0;
  };
  const Clock* clock_;
  std::mutex mu_;
  // Keyed by the ticket's SHA-256, so a memory dump holds no usable ticket.
  std::unordered_map<std::string, Ticket> tickets_;  // guarded by mu_
};

// The newest events the bus still keeps (at most `scan`), oldest first.
// EventBus hands out its ring only as a subscription's backlog, so this
// subscribes from the oldest sequence still kept and unsubscribes at once:
// Subscribe(after) succeeds exactly when the events after `after` are still
// in the ring, which a binary search finds in a few tries.
std::vector<v1::Event> RecentEvents(events::EventBus* bus, uint64_t scan) {
  std::vector<v1::Event> out;
  uint64_t last = bus->last_sequence();
  if (last <= 1 || scan == 0) return out;
  auto take = [bus, &out](uint64_t after) -> bool {
    std::vector<v1::Event> got;
    auto sub =
        bus->Subscribe(after, [&got](const v1::Event& e) { got.push_back(e); });
    if (!sub.ok()) return false;
    bus->Unsubscribe(*sub);
    out = std::move(got);
    return true;
  };
  uint64_t lo = last > scan ? last - scan : 1;  // after_sequence 0 means "new"
  if (take(lo)) return out;
  uint64_t hi = last;  // Subscribe(last) always succeeds
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    auto sub = bus->Subscribe(mid, [](const v1::Event&) {});
    if (sub.ok()) {
      bus->Unsubscribe(*sub);
      hi = mid;
    } else {
      lo = mid;
    }
  }
  take(hi);
  return out;
}

}  // namespace

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

void RegisterJsonApi(http::HttpServer* server, fleet::Registry* registry,
                     Authenticator* auth, const JsonApiSources& sources) {
  const Clock* clock = sources.clock ? sources.clock : &SystemClock::Instance();
  // Reads need role viewer; actions (POST) role operator.
  auto viewer = [auth](const http::Handler& inner) -> http::Handler {
    return [auth, inner](const http::Request& req) {
      Principal who;
      Status s = auth->Authorize(req.authorization, store::Role::kViewer, &who);
      if (!s.ok()) return JsonError(s);
      return inner(req);
    };
  };

  server->Route("/api/v1/whoami", [auth](const http::Request& req) {
    auto who = auth->Authenticate(req.authorization);
    if (!who.ok()) return JsonError(who.status());
    v1::OperatorToken t;
    t.set_token_id(who->token_id);
    t.set_name(who->name);
    t.set_role(static_cast<v1::Role>(who->role));
    return Json(t);
  });

  server->Route(
      "/api/v1/devices", viewer([registry](const http::Request& req) {
        fleet::DeviceListRequest q;
        q.label_selector = req.Query("label_selector");
        std::string c = req.Query("connectivity");
        if (c == "CONNECTIVITY_ONLINE" || c == "online") {
          q.connectivity = fleet::Connectivity::kOnline;
        } else if (c == "CONNECTIVITY_OFFLINE" || c == "offline") {
          q.connectivity = fleet::Connectivity::kOffline;
        } else if (!c.empty() && c != "CONNECTIVITY_UNSPECIFIED") {
          return JsonError(InvalidArgumentError("unknown connectivity " + c));
        }
        std::string l = req.Query("lifecycle");
        if (l == "DEVICE_LIFECYCLE_DECOMMISSIONED" || l == "decommissioned") {
          q.lifecycle = store::Lifecycle::kDecommissioned;
        } else if (!l.empty() && l != "DEVICE_LIFECYCLE_ACTIVE" &&
                   l != "active" && l != "DEVICE_LIFECYCLE_UNSPECIFIED") {
          return JsonError(InvalidArgumentError("unknown lifecycle " + l));
        }
        auto size = NumberParam(req, "page_size", 100);
        if (!size.ok()) return JsonError(size.status());
        q.page_size = static_cast<uint32_t>(std::min<uint64_t>(*size, 1000));
        q.page_token = req.Query("page_token");
        auto list = registry->ListDevices(q);
        if (!list.ok()) return JsonError(list.status());
        v1::ListDevicesResponse resp;
        for (const auto& d : list->devices) ToProto(d, resp.add_devices());
        resp.set_next_page_token(list->next_page_token);
        resp.set_total_count(static_cast<uint32_t>(list->total));
        return Json(resp);
      }));

  server->RoutePrefix("/api/v1/devices/",
                      viewer([registry](const http::Request& req) {
                        auto id = IdFromPath(req, "/api/v1/devices/");
                        if (!id.ok()) return JsonError(id.status());
                        auto d = registry->GetDevice(*id);
                        if (!d.ok()) return JsonError(d.status());
                        v1::Device out;
                        ToProto(*d, &out);
                        return Json(out);
                      }));

  server->Route(
      "/api/v1/telemetry", viewer([registry, telemetry = sources.telemetry,
                                   clock](const http::Request& req) {
        if (!telemetry) {
          return JsonError(UnimplementedError(
              "telemetry queries are not available on this gateway"));
        }
        store::TelemetryQuery q;
        auto metric = ParseTelemetryMetric(req.Query("metric"));
        if (!metric.ok()) return JsonError(metric.status());
        q.metric = *metric;
        q.device_id = req.Query("device_id");
        auto agg = AggregationParam(req.Query("aggregation"));
        if (!agg.ok()) return JsonError(agg.status());
        q.aggregation = *agg;
        if (q.device_id.empty() &&
            q.aggregation == store::TelemetryAggregation::kRaw) {
          return JsonError(InvalidArgumentError(
              "a query over every device needs an aggregation"));
        }
        int64_t now = clock->NowUnixMillis();
        std::string end = req.Query("end"), start = req.Query("start");
        if (end.empty()) {
          q.end_ms = now + 1;
        } else {
          auto e = TimeParam(end, "end");
          if (!e.ok()) return JsonError(e.status());
          q.end_ms = *e;
        }
        if (start.empty()) {
          q.start_ms = q.end_ms - 3'600'000;
        } else {
          auto s = TimeParam(start, "start");
          if (!s.ok()) return JsonError(s.status());
          q.start_ms = *s;
        }
        if (q.start_ms >= q.end_ms) {
          return JsonError(InvalidArgumentError("start must be before end"));
        }
        std::string step = req.Query("step");
        if (!step.empty()) {
          auto s = StepParam(step);
          if (!s.ok()) return JsonError(s.status());
          q.step_ms = *s;
        }
        if (q.step_ms < 0) {
          return JsonError(InvalidArgumentError("step must not be negative"));
        }
        if (q.step_ms > 0 && (q.end_ms - q.start_ms) / q.step_ms > 100'000) {
          return JsonError(
              InvalidArgumentError("at most 100,000 buckets per query"));
        }
        auto limit = NumberParam(req, "limit", 1000);
        if (!limit.ok()) return JsonError(limit.status());
        q.limit = static_cast<uint32_t>(
            std::clamp<uint64_t>(*limit == 0 ? 1000 : *limit, 1, 100'000));
        if (!q.device_id.empty()) {
          auto d = registry->GetDevice(q.device_id);
          if (!d.ok()) return JsonError(d.status());
        }
        auto points = telemetry->Query(q);
        if (!points.ok()) return JsonError(points.status());
        v1::QueryTelemetryResponse resp;
        for (const auto& p : *points) {
          auto* out = resp.add_points();
          *out->mutable_time() = TimeUtil::MillisecondsToTimestamp(p.time_ms);
          out->set_value(p.value);
          out->set_device_id(p.device_id);
        }
        return Json(resp);
      }));

  server->Route(
      "/api/v1/models",
      viewer([catalog = sources.catalog](const http::Request& req) {
        if (!catalog) {
          return JsonError(
              UnimplementedError("models are not available on this gateway"));
        }
        auto size = NumberParam(req, "page_size", 100);
        if (!size.ok()) return JsonError(size.status());
        std::string next;
        auto list = catalog->List(
            req.Query("name"), req.Query("page_token"),
            static_cast<uint32_t>(std::min<uint64_t>(*size, 1000)), &next);
        if (!list.ok()) return JsonError(list.status());
        v1::ListModelsResponse resp;
        for (auto& m : *list) *resp.add_models() = std::move(m);
        resp.set_next_page_token(next);
        return Json(resp);
      }));

  server->Route(
      "/api/v1/rollouts",
      viewer([rollouts = sources.rollouts](const http::Request& req) {
        if (!rollouts) {
          return JsonError(
              UnimplementedError("rollouts are not available on this gateway"));
        }
        auto size = NumberParam(req, "page_size", 100);
        if (!size.ok()) return JsonError(size.status());
        std::string next;
        auto list = rollouts->List(
            req.Query("page_token"),
            static_cast<uint32_t>(std::min<uint64_t>(*size, 1000)), &next);
        if (!list.ok()) return JsonError(list.status());
        v1::ListRolloutsResponse resp;
        for (auto& r : *list) *resp.add_rollouts() = std::move(r);
        resp.set_next_page_token(next);
        return Json(resp);
      }));
  server->RoutePrefix(
      "/api/v1/rollouts/",
      viewer([rollouts = sources.rollouts](const http::Request& req) {
        if (!rollouts) {
          return JsonError(
              UnimplementedError("rollouts are not available on this gateway"));
        }
        auto id = IdFromPath(req, "/api/v1/rollouts/");
        if (!id.ok()) return JsonError(id.status());
        auto r = rollouts->Get(*id);
        if (!r.ok()) return JsonError(r.status());
        return Json(*r);
      }));

  // Rollout actions: POST /api/v1/rollouts/<id>/pause|resume|abort.
  server->RoutePrefix(
      "/api/v1/rollouts/",
      [auth, rollouts = sources.rollouts](const http::Request& req) {
        Principal who;
        Status s =
            auth->Authorize(req.authorization, store::Role::kOperator, &who);
        if (!s.ok()) return JsonError(s);
        if (!rollouts) {
          return JsonError(
              UnimplementedError("rollouts are not available on this gateway"));
        }
        auto action = RolloutActionFromPath(req);
        if (!action.ok()) return JsonError(action.status());
        auto body = RolloutActionBody(req);
        if (!body.ok()) return JsonError(body.status());
        const auto& [id, verb] = *action;
        if (!body->rollout_id().empty() && body->rollout_id() != id) {
          return JsonError(InvalidArgumentError(
              "the body names another rollout than the path"));
        }
        std::string reason = body->reason();
        if (reason.empty() && verb != "resume") {
          reason = (verb == "pause" ? "paused by " : "aborted by ") + who.name;
        }
        Result<v1::Rollout> r = verb == "pause" ? rollouts->Pause(id, reason)
                                : verb == "resume"
                                    ? rollouts->Resume(id)
                                    : rollouts->Abort(id, reason);
        if (!r.ok()) return JsonError(r.status());
        TF_LOG(kInfo, "api") << "operator " << who.name << " (" << who.token_id
                             << "): " << verb << " rollout " << id;
        return Json(*r);
      },
      http::Method::kPost);

  server->Route("/api/v1/rounds",
                viewer([rounds = sources.rounds](const http::Request& req) {
                  if (!rounds) {
                    return JsonError(UnimplementedError(
                        "adaptation rounds are not available on this gateway"));
                  }
                  auto size = NumberParam(req, "page_size", 100);
                  if (!size.ok()) return JsonError(size.status());
                  std::string next;
                  auto list = rounds->List(
                      req.Query("page_token"),
                      static_cast<uint32_t>(std::min<uint64_t>(*size, 1000)),
                      &next);
                  if (!list.ok()) return JsonError(list.status());
                  v1::ListRoundsResponse resp;
                  for (auto& r : *list) *resp.add_rounds() = std::move(r);
                  resp.set_next_page_token(next);
                  return Json(resp);
                }));
  server->RoutePrefix(
      "/api/v1/rounds/",
      viewer([rounds = sources.rounds](const http::Request& req) {
        if (!rounds) {
          return JsonError(UnimplementedError(
              "adaptation rounds are not available on this gateway"));
        }
        auto id = IdFromPath(req, "/api/v1/rounds/");
        if (!id.ok()) return JsonError(id.status());
        auto r = rounds->Get(*id);
        if (!r.ok()) return JsonError(r.status());
        return Json(*r);
      }));

  auto* bus = sources.events;
  server->Route(
      "/api/v1/events/recent", viewer([bus](const http::Request& req) {
        if (!bus) {
          return JsonError(
              UnimplementedError("events are not available on this gateway"));
        }
        auto kinds = KindsParam(req);
        if (!kinds.ok()) return JsonError(kinds.status());
        auto limit = NumberParam(req, "limit", 100);
        if (!limit.ok()) return JsonError(limit.status());
        uint64_t max = std::clamp<uint64_t>(*limit, 1, 1000);
        std::string device = req.Query("device_id");
        // Scans the newest 10,000 events (the bus's default ring).
        std::vector<v1::Event> all = RecentEvents(bus, 10'000);
        std::string body = "{\"events\":[";
        uint64_t n = 0;
        for (auto it = all.rbegin(); it != all.rend() && n < max; ++it) {
          if (!kinds->empty() && !kinds->count(KindOf(*it))) continue;
          if (!device.empty() &&
              !(it->has_device() && it->device().device_id() == device)) {
            continue;
          }
          if (n++) body += ',';
          body += ToJson(*it);
        }
        body += "]}";
        return http::Response{200, "application/json", body, NoStore()};
      }));

  auto tickets = std::make_shared<StreamTickets>(clock);
  server->Route("/api/v1/events/ticket", [auth, tickets,
                                          bus](const http::Request& req) {
    Principal who;
    Status s = auth->Authorize(req.authorization, store::Role::kViewer, &who);
    if (!s.ok()) return JsonError(s);
    if (!bus) {
      return JsonError(
          UnimplementedError("events are not available on this gateway"));
    }
    auto t = tickets->Issue(req.authorization);
    if (!t.ok()) return JsonError(t.status());
    return http::Response{200, "application/json",
                          "{\"ticket\":\"" + *t + "\",\"expires_in_seconds\":" +
                              std::to_string(kTicketLifetimeMs / 1000) + "}",
                          NoStore()};
  });

  server->StreamRoute(
      "/api/v1/events",
      [auth, tickets, bus](const http::Request& req,
                           const std::shared_ptr<http::EventStream>& stream)
          -> std::optional<http::Response> {
        std::string authorization = req.authorization;
        std::string ticket = req.Query("ticket");
        if (!ticket.empty()) {
          auto a = tickets->Redeem(ticket);
          if (!a.ok()) return JsonError(a.status());
          authorization = std::move(*a);
        }
        // A ticket's token is checked again: it may have been revoked since.
        Principal who;
        Status s = auth->Authorize(authorization, store::Role::kViewer, &who);
        if (!s.ok()) return JsonError(s);
        if (!bus) {
          return JsonError(
              UnimplementedError("events are not available on this gateway"));
        }
        auto kinds = KindsParam(req);
        if (!kinds.ok()) return JsonError(kinds.status());
        std::string resume = req.Query("after_sequence");
        if (resume.empty()) resume = req.Header("Last-Event-ID");
        uint64_t after = 0;
        if (!resume.empty()) {
          auto [p, ec] = std::from_chars(resume.data(),
                                         resume.data() + resume.size(), after);
          if (ec != std::errc() || p != resume.data() + resume.size()) {
            return JsonError(
                InvalidArgumentError("after_sequence must be a number"));
          }
        }

        auto deliver = [stream, kinds = *kinds](const v1::Event& e) {
          std::string kind = KindOf(e);
          if (!kinds.empty() && !kinds.count(kind)) return;
          stream->Send(kind, ToJson(e), std::to_string(e.sequence()));
        };
        auto send_control = [&stream](const char* event, uint64_t last,
                                      const std::string& reason) {
          std::string data =
              "{\"last_sequence\":\"" + std::to_string(last) + "\"" +
              (reason.empty() ? std::string()
                              : ",\"reason\":\"" + JsonEscape(reason) + "\"") +
              "}";
          stream->Send(event, data);
        };

        uint64_t last = bus->last_sequence();
        send_control("hello", last, "");
        if (after > last) {
          // Sequences from before a gateway restart.
          send_control("reset", last,
                       "the gateway has restarted since sequence " +
                           std::to_string(after));
          after = last;
        }
        // From `last` rather than 0, so that nothing published since reading
        // it is missed.
        auto sub = bus->Subscribe(after == 0 ? last : after, deliver);
        if (!sub.ok() && sub.status().code() == StatusCode::kOutOfRange) {
          last = bus->last_sequence();
          send_control("reset", last, sub.status().message());
          sub = bus->Subscribe(last, deliver);
        }
        if (!sub.ok()) return JsonError(sub.status());
        stream->OnClose([bus, id = *sub] { bus->Unsubscribe(id); });
        return std::nullopt;
      });
}

}  // namespace tinyfleet::api
