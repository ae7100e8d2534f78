#include "server/api/json_api.h"

#include <google/protobuf/util/json_util.h>

#include <charconv>

#include "server/api/fleet_service.h"

namespace tinyfleet::api {
namespace {

http::Response JsonError(const Status& s) {
  std::string msg;
  for (char c : s.message()) {
    if (c == '"' || c == '\\') msg.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) msg.push_back(c);
  }
  return http::Response{HttpStatusFor(s), "application/json",
                        "{\"code\":\"" + std::string(StatusCodeName(s.code())) +
                            "\",\"message\":\"" + msg + "\"}\n"};
}

http::Response Json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string body;
  (void)google::protobuf::util::MessageToJsonString(m, &body, o);
  return http::Response{200, "application/json", body};
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
                     Authenticator* auth) {
  server->Route("/api/v1/devices", [registry, auth](const http::Request& req) {
    Principal who;
    Status s = auth->Authorize(req.authorization, store::Role::kViewer, &who);
    if (!s.ok()) return JsonError(s);
    fleet::DeviceListRequest q;
    q.label_selector = req.Query("label_selector");
    std::string c = req.Query("connectivity");
    if (c == "CONNECTIVITY_ONLINE") {
      q.connectivity = fleet::Connectivity::kOnline;
    } else if (c == "CONNECTIVITY_OFFLINE") {
      q.connectivity = fleet::Connectivity::kOffline;
    } else if (!c.empty()) {
      return JsonError(InvalidArgumentError("unknown connectivity " + c));
    }
    std::string ps = req.Query("page_size");
    if (!ps.empty()) {
      uint32_t n = 0;
      auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), n);
      if (ec != std::errc() || p != ps.data() + ps.size()) {
        return JsonError(InvalidArgumentError("page_size must be a number"));
      }
      q.page_size = n;
    }
    q.page_token = req.Query("page_token");
    auto list = registry->ListDevices(q);
    if (!list.ok()) return JsonError(list.status());
    v1::ListDevicesResponse resp;
    for (const auto& d : list->devices) ToProto(d, resp.add_devices());
    resp.set_next_page_token(list->next_page_token);
    resp.set_total_count(static_cast<uint32_t>(list->total));
    return Json(resp);
  });
}

}  // namespace tinyfleet::api
