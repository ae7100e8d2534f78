// The gateway's HTTP side on 127.0.0.1 port 0: routing, methods, query
// decoding, and the JSON API's status mapping.
#include "server/http/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "server/api/json_api.h"

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

TEST(JsonApiTest, StatusCodesMapToHttp) {
  EXPECT_EQ(api::HttpStatusFor(Status::Ok()), 200);
  EXPECT_EQ(api::HttpStatusFor(UnauthenticatedError("")), 401);
  EXPECT_EQ(api::HttpStatusFor(PermissionDeniedError("")), 403);
  EXPECT_EQ(api::HttpStatusFor(NotFoundError("")), 404);
  EXPECT_EQ(api::HttpStatusFor(InvalidArgumentError("")), 400);
  EXPECT_EQ(api::HttpStatusFor(InternalError("")), 500);
}

}  // namespace
}  // namespace tinyfleet::http
