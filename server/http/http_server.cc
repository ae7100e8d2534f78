#include "server/http/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"

namespace tinyfleet::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

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

struct HttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::map<std::string, Handler> routes;
  std::thread thread;
  bool started = false;

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // acceptor closed
      auto conn = std::make_shared<Connection>(this, std::move(socket));
      conn->Read();
      Accept();
    });
  }

  Response Dispatch(const Request& req) {
    std::string path = req.target.substr(0, req.target.find('?'));
    auto it = routes.find(path);
    if (it == routes.end()) return Response{404, "text/plain", "not found\n"};
    if (req.method != "GET" && req.method != "HEAD") {
      return Response{405, "text/plain", "method not allowed\n"};
    }
    return it->second(req);
  }

  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(Impl* owner, tcp::socket s)
        : impl(owner), stream(std::move(s)) {}
    Impl* impl;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response<bhttp::string_body> res;

    void Read() {
      req = {};
      stream.expires_after(std::chrono::seconds(30));
      bhttp::async_read(
          stream, buffer, req,
          [self = shared_from_this()](beast::error_code ec, size_t) {
            self->OnRead(ec);
          });
    }

    void OnRead(beast::error_code ec) {
      if (ec) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      Request r{std::string(req.method_string()), std::string(req.target()),
                std::string(req[bhttp::field::authorization])};
      Response out = impl->Dispatch(r);
      res = {};
      res.version(req.version());
      res.result(static_cast<bhttp::status>(out.status));
      res.set(bhttp::field::server, "tinyfleet-gateway");
      res.set(bhttp::field::content_type, out.content_type);
      res.keep_alive(req.keep_alive());
      res.body() = std::move(out.body);
      res.prepare_payload();
      bhttp::async_write(
          stream, res,
          [self = shared_from_this()](beast::error_code wec, size_t) {
            if (!wec && self->res.keep_alive()) self->Read();
          });
    }
  };
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(const std::string& host,
                                                     uint16_t port) {
  auto impl = std::make_unique<Impl>();
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
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Route(const std::string& path, Handler handler) {
  impl_->routes[path] = std::move(handler);
}

void HttpServer::Start() {
  if (impl_->started) return;
  impl_->started = true;
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void HttpServer::Stop() {
  if (!impl_) return;
  asio::post(impl_->io, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace tinyfleet::http
