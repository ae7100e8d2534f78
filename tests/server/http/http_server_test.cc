// The gateway's HTTP side on 127.0.0.1 port 0: routing, methods, query
// decoding, headers, Server-Sent Events streams (framing, order, refusal,
// keepalive, lifetime, slow clients, shutdown), the dashboard routes, and
// the JSON API's status mapping.
#include "server/http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/api/json_api.h"
#include "server/http/dashboard_assets.h"
#include "tests/server/http/raw_client.h"
#include "tests/support/test_env.h"

namespace tinyfleet::http {
namespace {
namespace asio = boost::asio;

// One raw HTTP/1.1 exchange; returns the whole response text.
std::string Exchange(uint16_t port, const std::string& request) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(request));
  std::string out;
  boost::system::error_code ec;
  char buf[4096];
  for (;;) {
    size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

std::string Get(uint16_t port, const std::string& target,
                const std::string& extra = "") {
  return Exchange(port, "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra +
                            "Connection: close\r\n\r\n");
}

TEST(HttpServerTest, RoutesMethodsAndQueries) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  std::string seen_auth, seen_q, seen_missing = "unset";
  (*server)->Route("/echo", [&](const Request& r) {
    seen_auth = r.authorization;
    seen_q = r.Query("q");
    seen_missing = r.Query("missing");
    return Response{200, "text/plain", "hello"};
  });
  (*server)->Start();
  uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);

  std::string ok =
      Get(port, "/echo?x=1&q=a%20b+c%2Fd", "Authorization: Bearer t\r\n");
  EXPECT_NE(ok.find("200 OK"), std::string::npos);
  EXPECT_NE(ok.find("hello"), std::string::npos);
  EXPECT_EQ(seen_auth, "Bearer t");
  EXPECT_EQ(seen_q, "a b c/d");
  EXPECT_EQ(seen_missing, "");

  EXPECT_NE(Get(port, "/nope").find("404"), std::string::npos);
  std::string post =
      Exchange(port,
               "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n");
  EXPECT_NE(post.find("405"), std::string::npos);
  // Garbage instead of HTTP: the connection is dropped, the server lives on.
  Exchange(port, std::string("\x16\x03\x01\x00\x00garbage\r\n\r\n", 16));
  EXPECT_NE(Get(port, "/echo").find("200 OK"), std::string::npos);
  (*server)->Stop();
}

TEST(HttpServerTest, BindFailsClearly) {
  EXPECT_EQ(HttpServer::Bind("not-an-ip", 0).status().code(),
            StatusCode::kInvalidArgument);
  auto first = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(first.ok());
  auto second = HttpServer::Bind("127.0.0.1", (*first)->port());
  // SO_REUSEADDR does not allow two listeners on one port.
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

TEST(JsonApiStatusTest, StatusCodesMapToHttp) {
  EXPECT_EQ(api::HttpStatusFor(Status::Ok()), 200);
  EXPECT_EQ(api::HttpStatusFor(UnauthenticatedError("")), 401);
  EXPECT_EQ(api::HttpStatusFor(PermissionDeniedError("")), 403);
  EXPECT_EQ(api::HttpStatusFor(NotFoundError("")), 404);
  EXPECT_EQ(api::HttpStatusFor(InvalidArgumentError("")), 400);
  EXPECT_EQ(api::HttpStatusFor(InternalError("")), 500);
}

TEST(HttpServerTest, PrefixRoutesHeadersAndHead) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  std::mutex mu;
  std::string seen_header, seen_path;
  (*server)->Route("/api/items", [](const Request&) {
    return Response{200, "text/plain", "list"};
  });
  (*server)->RoutePrefix("/api/", [](const Request&) {
    return Response{200, "text/plain", "api"};
  });
  (*server)->RoutePrefix("/api/items/", [&](const Request& r) {
    std::lock_guard<std::mutex> lock(mu);
    seen_header = r.Header("x-custom");
    seen_path = r.Path();
    return Response{200, "text/plain", "item", {{"Cache-Control", "no-store"}}};
  });
  (*server)->Start();
  uint16_t port = (*server)->port();

  EXPECT_NE(Get(port, "/api/items").find("\r\n\r\nlist"), std::string::npos);
  EXPECT_NE(Get(port, "/api/other").find("\r\n\r\napi"), std::string::npos);
  std::string item = Get(port, "/api/items/7?x=1", "X-Custom: yes\r\n");
  EXPECT_NE(item.find("\r\n\r\nitem"), std::string::npos);
  EXPECT_NE(item.find("Cache-Control: no-store"), std::string::npos);
  EXPECT_NE(item.find("X-Content-Type-Options: nosniff"), std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen_header, "yes");
    EXPECT_EQ(seen_path, "/api/items/7");
  }
  EXPECT_NE(Get(port, "/elsewhere").find("404"), std::string::npos);
  // HEAD: the headers (with the body's length), no body.
  std::string head = Exchange(
      port, "HEAD /api/items HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(head.find("Content-Length: 4"), std::string::npos);
  EXPECT_EQ(head.find("list"), std::string::npos);
  (*server)->Stop();
}

std::string Post(uint16_t port, const std::string& target,
                 const std::string& body, const std::string& extra = "") {
  return Exchange(port, "POST " + target + " HTTP/1.1\r\nHost: x\r\n" + extra +
                            "Content-Type: application/json\r\n"
                            "Content-Length: " +
                            std::to_string(body.size()) +
                            "\r\nConnection: close\r\n\r\n" + body);
}

TEST(HttpServerTest, PostRoutesGetTheBodyAndMethodsAreKeptApart) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto server = HttpServer::Bind("127.0.0.1", 0, options);
  ASSERT_TRUE(server.ok());
  std::mutex mu;
  std::string seen_body, seen_method, seen_path;
  (*server)->Route("/things", [](const Request&) {
    return Response{200, "text/plain", "read"};
  });
  (*server)->Route(
      "/things",
      [&](const Request& r) {
        std::lock_guard<std::mutex> lock(mu);
        seen_body = r.body;
        seen_method = r.method;
        return Response{201, "text/plain", "made"};
      },
      Method::kPost);
  (*server)->RoutePrefix(
      "/things/",
      [&](const Request& r) {
        std::lock_guard<std::mutex> lock(mu);
        seen_path = r.Path();
        return Response{200, "text/plain", "acted"};
      },
      Method::kPost);
  (*server)->Route("/read-only", [](const Request&) {
    return Response{200, "text/plain", "ro"};
  });
  (*server)->Start();
  uint16_t port = (*server)->port();

  // One path, two methods, two handlers.
  EXPECT_NE(Get(port, "/things").find("\r\n\r\nread"), std::string::npos);
  std::string made = Post(port, "/things", "{\"a\":1}");
  EXPECT_NE(made.find("201"), std::string::npos) << made;
  EXPECT_NE(made.find("\r\n\r\nmade"), std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen_body, "{\"a\":1}");
    EXPECT_EQ(seen_method, "POST");
  }
  EXPECT_NE(Post(port, "/things/7/pause", "").find("\r\n\r\nacted"),
            std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen_path, "/things/7/pause");
  }
  // A POST-only prefix does not answer GET; a GET-only path not POST.
  std::string get_action = Get(port, "/things/7/pause");
  EXPECT_NE(get_action.find("405"), std::string::npos) << get_action;
  EXPECT_NE(get_action.find("Allow: POST"), std::string::npos) << get_action;
  std::string post_ro = Post(port, "/read-only", "{}");
  EXPECT_NE(post_ro.find("405"), std::string::npos);
  EXPECT_NE(post_ro.find("Allow: GET, HEAD"), std::string::npos) << post_ro;
  std::string del = Exchange(
      port, "DELETE /things HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(del.find("405"), std::string::npos);
  EXPECT_NE(del.find("Allow: GET, HEAD, POST"), std::string::npos) << del;

  // A body over the limit is refused without reaching the handler.
  {
    std::lock_guard<std::mutex> lock(mu);
    seen_body.clear();
  }
  std::string big = Post(port, "/things", std::string(2000, 'x'));
  EXPECT_NE(big.find("413"), std::string::npos) << big;
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen_body, "");
  }
  // The limit is the option, not a fixed size: 1024 bytes pass.
  EXPECT_NE(Post(port, "/things", std::string(1024, 'y')).find("201"),
            std::string::npos);
  (*server)->Stop();
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  (*server)->Route("/a", [](const Request&) {
    return Response{200, "text/plain", "first"};
  });
  (*server)->Route("/b", [](const Request&) {
    return Response{200, "text/plain", "second"};
  });
  (*server)->Start();
  testing::RawClient c((*server)->port());
  c.Write(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(c.ReadUntil("second"));
  EXPECT_LT(c.text().find("first"), c.text().find("second"));
  (*server)->Stop();
}

TEST(ServerSentEventsTest, FramesFollowTheFormat) {
  EXPECT_EQ(FormatServerSentEvent("", "x", ""), "data: x\n\n");
  EXPECT_EQ(FormatServerSentEvent("device", "{\"a\":1}", "42"),
            "event: device\nid: 42\ndata: {\"a\":1}\n\n");
  // Every line break form starts a new data line; the text is kept.
  EXPECT_EQ(FormatServerSentEvent("", "a\nb\r\nc\rd", ""),
            "data: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(FormatServerSentEvent("", "", ""), "data: \n\n");
  // Names and ids cannot carry line breaks: they are dropped, so a crafted
  // value cannot forge a second field.
  EXPECT_EQ(FormatServerSentEvent("a\nid: 9", "x", "1\r\n2"),
            "event: aid: 9\nid: 12\ndata: x\n\n");
}

// Records OnClose calls of the streams a test route accepts.
struct Streams {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<EventStream>> open;
  int closed = 0;

  StreamHandler Accepting(const std::string& greeting) {
    return
        [this, greeting](
            const Request&,
            const std::shared_ptr<EventStream>& s) -> std::optional<Response> {
          s->Send("hello", greeting);
          s->OnClose([this] {
            std::lock_guard<std::mutex> lock(mu);
            ++closed;
            cv.notify_all();
          });
          std::lock_guard<std::mutex> lock(mu);
          open.push_back(s);
          cv.notify_all();
          return std::nullopt;
        };
  }
  std::shared_ptr<EventStream> WaitOpen(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10),
                [&] { return open.size() >= n; });
    return open.size() >= n ? open[n - 1] : nullptr;
  }
  bool WaitClosed(int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10),
                       [&] { return closed >= n; });
  }
};

TEST(ServerSentEventsTest, StreamsFramesInOrderUntilTheClientLeaves) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  Streams streams;
  (*server)->StreamRoute("/events", streams.Accepting("hi"));
  (*server)->Start();

  testing::RawClient c((*server)->port());
  c.Get("/events");
  ASSERT_TRUE(c.ReadUntil("data: hi\n\n"));
  EXPECT_EQ(c.text().rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(c.text().find("Content-Type: text/event-stream"),
            std::string::npos);
  EXPECT_NE(c.text().find("Cache-Control: no-store"), std::string::npos);
  EXPECT_NE(c.text().find("retry: 3000\n\n"), std::string::npos);
  // The greeting sent inside the handler comes after the head.
  EXPECT_LT(c.text().find("\r\n\r\n"), c.text().find("event: hello"));

  auto s = streams.WaitOpen(1);
  ASSERT_NE(s, nullptr);
  // Two threads send; each one's frames arrive in its own order.
  auto send = [&](const std::string& name) {
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(s->Send(name, std::to_string(i), std::to_string(i)));
    }
  };
  std::thread a(send, "a"), b(send, "b");
  a.join();
  b.join();
  ASSERT_TRUE(c.ReadUntil("event: a\nid: 499\ndata: 499\n\n"));
  ASSERT_TRUE(c.ReadUntil("event: b\nid: 499\ndata: 499\n\n"));
  size_t last = 0;
  for (int i = 0; i < 500; ++i) {
    size_t at = c.text().find("event: a\nid: " + std::to_string(i) + "\n");
    ASSERT_NE(at, std::string::npos) << i;
    EXPECT_GT(at, last);
    last = at;
  }
  EXPECT_EQ(c.Count("event: a\n"), 500u);
  EXPECT_EQ(c.Count("event: b\n"), 500u);

  // The client goes away: the server notices and runs OnClose; sending then
  // fails.
  c.Close();
  EXPECT_TRUE(streams.WaitClosed(1));
  EXPECT_TRUE(s->closed());
  EXPECT_FALSE(s->Send("a", "late"));
  (*server)->Stop();
}

TEST(ServerSentEventsTest, ARefusedStreamIsAnOrdinaryResponse) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  std::atomic<bool> on_close{false};
  (*server)->StreamRoute(
      "/events",
      [&](const Request& r,
          const std::shared_ptr<EventStream>& s) -> std::optional<Response> {
        s->OnClose([&] { on_close = true; });
        if (r.Query("ok") != "1") {
          return Response{401, "application/json", "{\"code\":\"no\"}"};
        }
        return std::nullopt;
      });
  (*server)->Start();
  std::string refused = Get((*server)->port(), "/events");
  EXPECT_NE(refused.find("401"), std::string::npos);
  EXPECT_NE(refused.find("{\"code\":\"no\"}"), std::string::npos);
  EXPECT_EQ(refused.find("text/event-stream"), std::string::npos);
  EXPECT_TRUE(testing::WaitFor([&] { return on_close.load(); }));
  // Event streams answer GET only.
  std::string post = Exchange((*server)->port(),
                              "HEAD /events HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n");
  EXPECT_NE(post.find("405"), std::string::npos);
  (*server)->Stop();
}

TEST(ServerSentEventsTest, KeepaliveCommentsAndMaximumLifetime) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  Streams streams;
  StreamOptions o;
  o.keepalive = std::chrono::milliseconds(50);
  o.max_duration = std::chrono::milliseconds(600);
  o.retry = std::chrono::milliseconds(1234);
  (*server)->StreamRoute("/events", streams.Accepting("hi"), o);
  (*server)->Start();
  testing::RawClient c((*server)->port());
  c.Get("/events");
  ASSERT_TRUE(c.ReadUntil("retry: 1234\n\n"));
  ASSERT_TRUE(c.ReadUntil(":\n\n"));
  // After max_duration the server ends the stream; the client reconnects.
  EXPECT_TRUE(c.ReadUntilClosed());
  EXPECT_TRUE(streams.WaitClosed(1));
  EXPECT_GE(c.Count(":\n\n"), 2u);
  (*server)->Stop();
}

TEST(ServerSentEventsTest, CloseFlushesWhatIsQueuedThenEnds) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  Streams streams;
  (*server)->StreamRoute("/events", streams.Accepting("hi"));
  (*server)->Start();
  testing::RawClient c((*server)->port());
  c.Get("/events");
  auto s = streams.WaitOpen(1);
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(s->Send("n", std::to_string(i)));
  s->Close();
  EXPECT_FALSE(s->Send("n", "after close"));
  EXPECT_TRUE(c.ReadUntilClosed());
  EXPECT_NE(c.text().find("data: 99\n\n"), std::string::npos);
  EXPECT_EQ(c.text().find("after close"), std::string::npos);
  EXPECT_TRUE(streams.WaitClosed(1));
  (*server)->Stop();
}

TEST(ServerSentEventsTest, AClientThatStopsReadingIsDropped) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  Streams streams;
  StreamOptions o;
  o.max_queued_bytes = 64 * 1024;
  o.keepalive = std::chrono::milliseconds(0);
  (*server)->StreamRoute("/events", streams.Accepting("hi"), o);
  (*server)->Start();
  testing::RawClient c((*server)->port());
  c.Get("/events");
  auto s = streams.WaitOpen(1);
  ASSERT_NE(s, nullptr);
  // The client reads nothing: once the socket buffers are full, frames
  // queue until the bound, and then the stream is dropped.
  std::string frame(16 * 1024, 'x');
  bool refused = false;
  for (int i = 0; i < 100'000 && !refused; ++i) {
    refused = !s->Send("big", frame);
    if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(streams.WaitClosed(1));
  (*server)->Stop();
}

TEST(ServerSentEventsTest, StopEndsOpenStreamsAndRunsTheirCallbacks) {
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  Streams streams;
  (*server)->StreamRoute("/events", streams.Accepting("hi"));
  (*server)->Start();
  testing::RawClient c1((*server)->port()), c2((*server)->port());
  c1.Get("/events");
  c2.Get("/events");
  ASSERT_NE(streams.WaitOpen(2), nullptr);
  ASSERT_TRUE(c1.ReadUntil("data: hi"));
  ASSERT_TRUE(c2.ReadUntil("data: hi"));
  (*server)->Stop();
  {
    std::lock_guard<std::mutex> lock(streams.mu);
    EXPECT_EQ(streams.closed, 2);
  }
  for (auto& s : streams.open) EXPECT_FALSE(s->Send("x", "after stop"));
  EXPECT_TRUE(c1.ReadUntilClosed());
  EXPECT_TRUE(c2.ReadUntilClosed());
  (*server)->Stop();  // idempotent
}

TEST(DashboardRoutesTest, ServesAssetsWithCachingAndPolicyHeaders) {
  static const std::vector<DashboardAsset> kAssets = {
      {"/index.html", "text/html; charset=utf-8", "<title>t</title>", false},
      {"/assets/app-1a2b.js", "text/javascript; charset=utf-8", "go()", true},
  };
  auto server = HttpServer::Bind("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  ServeDashboard(server->get(), kAssets);
  (*server)->Start();
  uint16_t port = (*server)->port();
  std::string root = Get(port, "/");
  EXPECT_NE(root.find("<title>t</title>"), std::string::npos);
  EXPECT_NE(root.find("Content-Security-Policy: default-src 'self'"),
            std::string::npos);
  EXPECT_NE(root.find("Cache-Control: no-cache"), std::string::npos);
  EXPECT_NE(Get(port, "/index.html").find("<title>t</title>"),
            std::string::npos);
  std::string js = Get(port, "/assets/app-1a2b.js");
  EXPECT_NE(js.find("go()"), std::string::npos);
  EXPECT_NE(js.find("text/javascript"), std::string::npos);
  EXPECT_NE(js.find("immutable"), std::string::npos);
  (*server)->Stop();
}

}  // namespace
}  // namespace tinyfleet::http
