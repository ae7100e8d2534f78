// The gateway's HTTP side (Boost.Beast): /metrics for Prometheus, /healthz,
// the dashboard's files, its JSON API, and Server-Sent Events streams.
//
// One I/O thread does all socket work; handlers run on a small pool of
// handler threads, so a slow handler (a long telemetry query) does not stall
// other connections or open event streams.
//
// Routes: exact paths (Route), path prefixes (RoutePrefix; the longest
// matching prefix wins when no exact route matches) and event streams
// (StreamRoute), each for one method: GET (which also answers HEAD) or
// POST. A path known for another method gets 405 with an Allow header; a
// request body larger than HttpServerOptions::max_body_bytes gets 413.
//
// Thread-safety: routes are registered before Start(); handlers may run
// concurrently on the handler threads. EventStream is thread-safe.
#ifndef TINYFLEET_SERVER_HTTP_HTTP_SERVER_H_
#define TINYFLEET_SERVER_HTTP_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tinyfleet::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  Response() = default;
  Response(int status_code, std::string type, std::string content,
           Headers extra_headers = {})
      : status(status_code),
        content_type(std::move(type)),
        body(std::move(content)),
        headers(std::move(extra_headers)) {}

  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Further response headers, e.g. {"Cache-Control", "no-store"}.
  Headers headers;
};

struct Request {
  std::string method;
  std::string target;         // path and query
  std::string authorization;  // the Authorization header, if any
  Headers headers;            // every request header, in order
  std::string body;           // the request body (POST), if any
  // `target` without its query.
  std::string Path() const;
  // The decoded value of query parameter `name`, or "" when absent.
  std::string Query(std::string_view name) const;
  // The value of header `name` (case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
};

using Handler = std::function<Response(const Request&)>;

// The method a route answers. kGet routes also answer HEAD (without body).
enum class Method { kGet, kPost };

// The server side of one Server-Sent Events response (text/event-stream),
// as the WHATWG HTML standard defines it. A stream handler keeps the
// shared_ptr and calls Send from any thread; the server writes the frames in
// order. Frames queue in memory up to StreamOptions::max_queued_bytes; a
// client that falls further behind is disconnected (it reconnects and
// resumes by event id).
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues one event: `event` names it ("" for the default "message"),
  // `data` is its payload (newlines allowed), `id` sets the client's last
  // event id ("" for none). Returns false when the stream is closed or
  // closing; then the caller should stop sending.
  virtual bool Send(std::string_view event, std::string_view data,
                    std::string_view id = {}) = 0;
  // Ends the stream once what is queued has been written. Idempotent.
  virtual void Close() = 0;
  virtual bool closed() const = 0;
  // `callback` runs once when the stream ends for any reason (client gone,
  // Close(), overflow, server stopping), without the stream's lock held;
  // at once when the stream has already ended. Set it before the stream
  // handler returns. It must not block.
  virtual void OnClose(std::function<void()> callback) = 0;
};

// One SSE frame: "event: e\nid: i\ndata: line1\ndata: line2\n\n". Carriage
// returns and newlines in `event` and `id` (which the format cannot carry)
// are dropped; `data` is split into lines at \r\n, \n or \r.
std::string FormatServerSentEvent(std::string_view event, std::string_view data,
                                  std::string_view id);

// Accepts a stream request by returning std::nullopt (after keeping the
// stream, e.g. subscribing it to events), or refuses it with a Response
// (e.g. 401), which is sent as an ordinary response.
using StreamHandler = std::function<std::optional<Response>(
    const Request&, const std::shared_ptr<EventStream>&)>;

struct StreamOptions {
  // A comment line is written this often, so that idle proxies keep the
  // connection and a vanished client is noticed. Default 15 s.
  std::chrono::milliseconds keepalive{15'000};
  // The stream is closed after this long (0: never); clients reconnect,
  // which re-checks their credentials. Default 10 min.
  std::chrono::milliseconds max_duration{600'000};
  // Queued, unwritten bytes beyond which the client is dropped. 4 MiB.
  size_t max_queued_bytes = 4 << 20;
  // Reconnection delay advised to the client ("retry:"). Default 3 s.
  std::chrono::milliseconds retry{3000};
};

struct HttpServerOptions {
  // Threads that run handlers. Default 2.
  int handler_threads = 2;
  // An idle keep-alive connection, or a request not read in full, is closed
  // after this long. Default 30 s.
  std::chrono::milliseconds read_timeout{30'000};
  // A response (or event frame) not written within this long closes the
  // connection. Default 30 s.
  std::chrono::milliseconds write_timeout{30'000};
  // Largest request body accepted; a larger one is answered 413 and the
  // connection closed. Default 64 KiB.
  size_t max_body_bytes = 64 << 10;
};

class HttpServer {
 public:
  // Binds `host:port` (port 0 picks a free one).
  static Result<std::unique_ptr<HttpServer>> Bind(
      const std::string& host, uint16_t port,
      const HttpServerOptions& options = {});
  ~HttpServer();

  // Exact-path routes.
  void Route(const std::string& path, Handler handler,
             Method method = Method::kGet);
  // Every path that starts with `prefix` (e.g. "/api/v1/devices/").
  void RoutePrefix(const std::string& prefix, Handler handler,
                   Method method = Method::kGet);
  // An exact-path Server-Sent Events route.
  void StreamRoute(const std::string& path, StreamHandler handler,
                   StreamOptions options = {});
  void Start();
  // Stops accepting, ends every event stream (running their OnClose
  // callbacks), waits for running handlers, closes connections and joins
  // the threads. Idempotent.
  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyfleet::http

#endif  // TINYFLEET_SERVER_HTTP_HTTP_SERVER_H_
