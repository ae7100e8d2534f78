// The gateway's HTTP side (Boost.Beast): /metrics for Prometheus, /healthz,
// and later the dashboard. Runs its own io_context on one thread.
//
// Thread-safety: routes are registered before Start(); handlers run on the
// server thread and must not block for long.
#ifndef TINYFLEET_SERVER_HTTP_HTTP_SERVER_H_
#define TINYFLEET_SERVER_HTTP_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace tinyfleet::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct Request {
  std::string method;
  std::string target;         // path and query
  std::string authorization;  // the Authorization header, if any
  // The decoded value of query parameter `name`, or "" when absent.
  std::string Query(std::string_view name) const;
};

using Handler = std::function<Response(const Request&)>;

class HttpServer {
 public:
  // Binds `host:port` (port 0 picks a free one).
  static Result<std::unique_ptr<HttpServer>> Bind(const std::string& host,
                                                  uint16_t port);
  ~HttpServer();

  // Exact-path GET routes.
  void Route(const std::string& path, Handler handler);
  void Start();
  // Stops accepting, closes connections, joins the thread. Idempotent.
  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyfleet::http

#endif  // TINYFLEET_SERVER_HTTP_HTTP_SERVER_H_
