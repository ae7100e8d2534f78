#include "server/http/http_server.h"

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/log.h"

namespace tinyfleet::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A field value the SSE format can carry: no line breaks, no NUL.
std::string SingleLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

}  // namespace

std::string Request::Path() const { return target.substr(0, target.find('?')); }

std::string Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

std::string Request::Query(std::string_view name) const {
  size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      std::string out;
      std::string_view v =
          eq == std::string_view::npos ? "" : pair.substr(eq + 1);
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '+') {
          out.push_back(' ');
        } else if (v[i] == '%' && i + 2 < v.size()) {
          auto hex = [](char c) {
            return c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
          };
          int hi = hex(v[i + 1]), lo = hex(v[i + 2]);
          if (hi < 0 || lo < 0) return out;  // malformed: stop decoding
          out.push_back(static_cast<char>(hi * 16 + lo));
          i += 2;
        } else {
          out.push_back(v[i]);
        }
      }
      return out;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return "";
}

std::string FormatServerSentEvent(std::string_view event, std::string_view data,
                                  std::string_view id) {
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 24);
  if (!event.empty()) out.append("event: ").append(SingleLine(event)) += '\n';
  if (!id.empty()) out.append("id: ").append(SingleLine(id)) += '\n';
  size_t start = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    if (i < data.size() && data[i] != '\n' && data[i] != '\r') continue;
    out.append("data: ").append(data.substr(start, i - start)) += '\n';
    if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
    start = i + 1;
  }
  out += '\n';
  return out;
}

namespace {

// The EventStream handed to stream handlers. Frames queue in `pending_`;
// the connection (on the I/O thread) takes and writes them. States: open
// (accepts frames), closing (Close() called: flush, then end), closed.
class SseStream final : public EventStream {
 public:
  // `kick` asks the connection, on its I/O thread, to write what is queued
  // (or to end the stream when `end` is set). Called with mu_ held; posts
  // only.
  using Kick = std::function<void(bool end)>;

  SseStream(size_t max_queued_bytes, Kick kick)
      : max_queued_bytes_(max_queued_bytes), kick_(std::move(kick)) {}

  bool Send(std::string_view event, std::string_view data,
            std::string_view id) override {
    return Queue(FormatServerSentEvent(event, data, id));
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kOpen) return;
    state_ = State::kClosing;
    KickLocked(false);
  }

  bool closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return state_ != State::kOpen;
  }

  void OnClose(std::function<void()> callback) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!finished_) {
        on_close_ = std::move(callback);
        return;
      }
    }
    if (callback) callback();
  }

  // ---- For the connection (I/O thread) ----

  // Raw bytes (a comment, the response head); false when not open.
  bool Queue(std::string bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kOpen) return false;
    if (pending_.size() + bytes.size() > max_queued_bytes_) {
      // The client cannot keep up: drop it rather than grow without bound.
      state_ = State::kClosed;
      pending_.clear();
      overflowed_ = true;
      KickLocked(true);
      return false;
    }
    pending_ += bytes;
    KickLocked(false);
    return true;
  }

  // The connection starts writing: `head` goes before anything queued.
  void Attach(const std::string& head) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(0, head);
    attached_ = true;
  }

  // Takes everything queued; sets *end when the stream should end after it.
  std::string Take(bool* end) {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = false;
    std::string out;
    out.swap(pending_);
    *end = state_ != State::kOpen;
    return out;
  }

  // The stream has ended: refuses further frames and runs OnClose.
  void Finish() {
    std::function<void()> callback;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
      finished_ = true;
      state_ = State::kClosed;
      pending_.clear();
      callback = std::move(on_close_);
      on_close_ = nullptr;
    }
    if (callback) callback();
  }

  bool overflowed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return overflowed_;
  }

 private:
  enum class State { kOpen, kClosing, kClosed };

  void KickLocked(bool end) {
    if (!attached_ || finished_) return;
    if (kicked_ && !end) return;
    kicked_ = true;
    kick_(end);
  }

  const size_t max_queued_bytes_;
  const Kick kick_;
  mutable std::mutex mu_;
  State state_ = State::kOpen;      // guarded by mu_
  std::string pending_;             // guarded by mu_
  bool attached_ = false;           // guarded by mu_
  bool kicked_ = false;             // guarded by mu_
  bool finished_ = false;           // guarded by mu_
  bool overflowed_ = false;         // guarded by mu_
  std::function<void()> on_close_;  // guarded by mu_
};

}  // namespace

struct HttpServer::Impl {
  // What one path (or prefix) answers, by method.
  struct RouteEntry {
    Handler get;
    Handler post;
    StreamHandler stream;  // set for event-stream routes (GET)
    StreamOptions stream_options;

    bool has_get() const { return get || stream; }
    // The Allow header of a 405.
    std::string Allow() const {
      std::string a = has_get() ? "GET, HEAD" : "";
      if (post) a += a.empty() ? "POST" : ", POST";
      return a;
    }
  };
  struct Connection;

  HttpServerOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::unique_ptr<asio::thread_pool> pool;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work;
  std::map<std::string, RouteEntry> exact;
  std::map<std::string, RouteEntry> prefixes;
  std::thread thread;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
  // I/O thread only.
  bool stopping = false;
  std::map<Connection*, std::weak_ptr<Connection>> streams;

  // The exact route of `path`, else its longest matching prefix route, else
  // null.
  const RouteEntry* Find(const std::string& path) const {
    auto it = exact.find(path);
    if (it != exact.end()) return &it->second;
    const RouteEntry* best = nullptr;
    size_t best_len = 0;
    for (const auto& [prefix, entry] : prefixes) {
      if (path.compare(0, prefix.size(), prefix) == 0 &&
          prefix.size() >= best_len) {
        best = &entry;
        best_len = prefix.size();
      }
    }
    return best;
  }

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // acceptor closed
      if (stopping) return;
      auto conn = std::make_shared<Connection>(this, std::move(socket));
      conn->Read();
      Accept();
    });
  }

  // Runs `fn` on the I/O thread and waits for it.
  void RunOnIo(const std::function<void()>& fn) {
    std::promise<void> done;
    asio::post(io, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(Impl* owner, tcp::socket s)
        : impl(owner),
          stream(std::move(s)),
          keepalive_timer(stream.get_executor()),
          deadline_timer(stream.get_executor()) {}

    Impl* impl;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    // A fresh parser per request: it carries the body limit.
    std::optional<bhttp::request_parser<bhttp::string_body>> parser;
    bhttp::response<bhttp::string_body> res;
    // Event-stream state (I/O thread only).
    std::shared_ptr<SseStream> sse;
    StreamOptions stream_options;
    asio::steady_timer keepalive_timer;
    asio::steady_timer deadline_timer;
    std::string frames;  // being written
    bool writing = false;
    bool ended = false;
    std::array<char, 256> sink{};

    void Read() {
      parser.emplace();
      parser->body_limit(impl->options.max_body_bytes);
      stream.expires_after(impl->options.read_timeout);
      bhttp::async_read(
          stream, buffer, *parser,
          [self = shared_from_this()](beast::error_code ec, size_t) {
            self->OnRead(ec);
          });
    }

    void OnRead(beast::error_code ec) {
      if (ec == bhttp::error::body_limit) {
        // The rest of the body is never read: answer, then close.
        return Respond({413, "text/plain", "request body too large\n"}, 11,
                       false, false);
      }
      if (ec) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      auto& req = parser->get();
      Request r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      r.authorization = std::string(req[bhttp::field::authorization]);
      for (const auto& f : req) {
        r.headers.emplace_back(std::string(f.name_string()),
                               std::string(f.value()));
      }
      r.body = std::move(req.body());
      unsigned version = req.version();
      bool keep_alive = req.keep_alive();
      bool head = req.method() == bhttp::verb::head;
      bool get = req.method() == bhttp::verb::get;
      bool post = req.method() == bhttp::verb::post;
      if (impl->stopping) {
        return Respond({503, "text/plain", "shutting down\n"}, version, false,
                       head);
      }
      std::string path = r.Path();
      const RouteEntry* route = impl->Find(path);
      if (!route) {
        return Respond({404, "text/plain", "not found\n"}, version, keep_alive,
                       head);
      }
      if (((get || head) && !route->has_get()) || (post && !route->post) ||
          (!get && !head && !post)) {
        return Respond({405,
                        "text/plain",
                        "method not allowed\n",
                        {{"Allow", route->Allow()}}},
                       version, keep_alive, head);
      }
      auto self = shared_from_this();
      if (route->stream && !post) {
        if (head) {
          return Respond({405, "text/plain", "event streams need GET\n"},
                         version, keep_alive, true);
        }
        stream_options = route->stream_options;
        std::weak_ptr<Connection> weak = self;
        auto executor = stream.get_executor();
        auto s = std::make_shared<SseStream>(
            stream_options.max_queued_bytes, [weak, executor](bool end) {
              asio::post(executor, [weak, end] {
                if (auto c = weak.lock()) end ? c->End() : c->Flush();
              });
            });
        const StreamHandler* handler = &route->stream;
        asio::post(*impl->pool, [self, r = std::move(r), s, handler, version,
                                 keep_alive] {
          std::optional<Response> refused;
          try {
            refused = (*handler)(r, s);
          } catch (...) {
            refused = Response{500, "text/plain", "internal error\n"};
          }
          asio::post(self->stream.get_executor(),
                     [self, s, refused = std::move(refused), version,
                      keep_alive]() mutable {
                       if (refused) {
                         s->Finish();
                         self->Respond(std::move(*refused), version, keep_alive,
                                       false);
                       } else {
                         self->Attach(s);
                       }
                     });
        });
        return;
      }
      const Handler* handler = post ? &route->post : &route->get;
      asio::post(*impl->pool, [self, r = std::move(r), handler, version,
                               keep_alive, head] {
        Response out;
        try {
          out = (*handler)(r);
        } catch (...) {
          out = Response{500, "text/plain", "internal error\n"};
        }
        asio::post(
            self->stream.get_executor(),
            [self, out = std::move(out), version, keep_alive, head]() mutable {
              self->Respond(std::move(out), version, keep_alive, head);
            });
      });
    }

    void Respond(Response out, unsigned version, bool keep_alive, bool head) {
      res = {};
      res.version(version);
      res.result(static_cast<bhttp::status>(out.status));
      res.set(bhttp::field::server, "tinyfleet-gateway");
      res.set(bhttp::field::content_type, out.content_type);
      res.set("X-Content-Type-Options", "nosniff");
      for (const auto& [k, v] : out.headers) res.set(k, v);
      res.keep_alive(keep_alive && !impl->stopping);
      size_t size = out.body.size();
      if (!head) res.body() = std::move(out.body);
      res.content_length(size);
      stream.expires_after(impl->options.write_timeout);
      bhttp::async_write(
          stream, res,
          [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return;
            if (self->res.keep_alive()) {
              self->Read();
            } else {
              beast::error_code ignored;
              self->stream.socket().shutdown(tcp::socket::shutdown_send,
                                             ignored);
            }
          });
    }

    // The stream handler accepted: from now on this connection only writes
    // event frames, until End().
    void Attach(const std::shared_ptr<SseStream>& s) {
      sse = s;
      if (impl->stopping) return End();
      impl->streams[this] = weak_from_this();
      std::string head =
          "HTTP/1.1 200 OK\r\n"
          "Server: tinyfleet-gateway\r\n"
          "Content-Type: text/event-stream; charset=utf-8\r\n"
          "Cache-Control: no-store\r\n"
          "X-Accel-Buffering: no\r\n"
          "X-Content-Type-Options: nosniff\r\n"
          "Connection: close\r\n"
          "\r\n"
          "retry: " +
          std::to_string(stream_options.retry.count()) + "\n\n";
      sse->Attach(head);
      stream.expires_never();
      WatchPeer();
      ScheduleKeepalive();
      if (stream_options.max_duration.count() > 0) {
        deadline_timer.expires_after(stream_options.max_duration);
        deadline_timer.async_wait(
            [self = shared_from_this()](beast::error_code ec) {
              if (!ec && self->sse) self->sse->Close();
            });
      }
      Flush();
    }

    void Flush() {
      if (ended || writing || !sse) return;
      bool end = false;
      frames = sse->Take(&end);
      if (frames.empty()) {
        if (end) End();
        return;
      }
      writing = true;
      stream.expires_after(impl->options.write_timeout);
      asio::async_write(
          stream, asio::buffer(frames),
          [self = shared_from_this()](beast::error_code ec, size_t) {
            self->writing = false;
            if (ec) return self->End();
            self->stream.expires_never();
            self->Flush();
          });
    }

    // Notices the client going away: it sends nothing more on this
    // connection, so any completed read (EOF, reset) ends the stream.
    void WatchPeer() {
      stream.socket().async_read_some(
          asio::buffer(sink),
          [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->End();
            self->WatchPeer();
          });
    }

    void ScheduleKeepalive() {
      if (stream_options.keepalive.count() <= 0) return;
      keepalive_timer.expires_after(stream_options.keepalive);
      keepalive_timer.async_wait(
          [self = shared_from_this()](beast::error_code ec) {
            if (ec || self->ended) return;
            self->sse->Queue(":\n\n");
            self->ScheduleKeepalive();
          });
    }

    void End() {
      if (ended) return;
      ended = true;
      keepalive_timer.cancel();
      deadline_timer.cancel();
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.socket().close(ignored);
      impl->streams.erase(this);
      if (sse) {
        if (sse->overflowed()) {
          TF_LOG(kWarning, "http")
              << "event stream client fell behind; disconnected";
        }
        sse->Finish();
      }
    }
  };
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(
    const std::string& host, uint16_t port, const HttpServerOptions& options) {
  if (options.handler_threads < 1 || options.handler_threads > 64) {
    return InvalidArgumentError("HTTP handler threads must be 1..64");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgumentError("bad HTTP listen address " + host);
  tcp::endpoint ep(addr, port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec)
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return UnavailableError("cannot listen on " + host + ":" +
                            std::to_string(port) + ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint(ec).port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Route(const std::string& path, Handler handler,
                       Method method) {
  auto& entry = impl_->exact[path];
  if (method == Method::kPost) {
    entry.post = std::move(handler);
  } else {
    entry.get = std::move(handler);
    entry.stream = nullptr;
  }
}

void HttpServer::RoutePrefix(const std::string& prefix, Handler handler,
                             Method method) {
  auto& entry = impl_->prefixes[prefix];
  (method == Method::kPost ? entry.post : entry.get) = std::move(handler);
}

void HttpServer::StreamRoute(const std::string& path, StreamHandler handler,
                             StreamOptions options) {
  auto& entry = impl_->exact[path];
  entry.get = nullptr;
  entry.stream = std::move(handler);
  entry.stream_options = options;
}

void HttpServer::Start() {
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  impl_->pool = std::make_unique<asio::thread_pool>(
      static_cast<size_t>(impl_->options.handler_threads));
  impl_->work.emplace(impl_->io.get_executor());
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void HttpServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  Impl* impl = impl_.get();
  // 1. No new connections or requests.
  impl->RunOnIo([impl] {
    impl->stopping = true;
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  // 2. Running handlers finish; what they hand back runs on the I/O thread
  // (a stream accepted now is ended at once).
  impl->pool->join();
  // 3. Open streams end; their OnClose callbacks run.
  impl->RunOnIo([impl] {
    std::vector<std::shared_ptr<Impl::Connection>> open;
    for (auto& [raw, weak] : impl->streams) {
      if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    for (auto& c : open) c->End();
  });
  impl->work.reset();
  impl->io.stop();
  if (impl->thread.joinable()) impl->thread.join();
}

uint16_t HttpServer::port() const { return impl_->port; }

}  // namespace tinyfleet::http
