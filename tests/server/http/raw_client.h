// A plain TCP client for HTTP tests: writes raw request text and reads the
// response as it arrives, which event streams (never-ending responses)
// need.
#ifndef TINYFLEET_TESTS_SERVER_HTTP_RAW_CLIENT_H_
#define TINYFLEET_TESTS_SERVER_HTTP_RAW_CLIENT_H_

#include <poll.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <string_view>

namespace tinyfleet::testing {

class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }

  void Write(std::string_view text) {
    boost::asio::write(socket_, boost::asio::buffer(text.data(), text.size()));
  }

  // Sends a GET with Connection: close and `extra` header lines.
  void Get(const std::string& target, const std::string& extra = "") {
    Write("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra +
          "Connection: close\r\n\r\n");
  }

  // Reads until `needle` occurs at or after `from` in everything received;
  // false when the deadline passes or the server closes first.
  bool ReadUntil(std::string_view needle, size_t from = 0,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (text_.find(needle, from) != std::string::npos) return true;
      if (closed_ || std::chrono::steady_clock::now() > deadline) return false;
      ReadSome();
    }
  }

  // Reads until the server closes the connection.
  bool ReadUntilClosed(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_ && std::chrono::steady_clock::now() <= deadline) {
      ReadSome();
    }
    return closed_;
  }

  // How often `needle` occurs in everything received.
  size_t Count(std::string_view needle) const {
    size_t n = 0;
    for (size_t p = text_.find(needle); p != std::string::npos;
         p = text_.find(needle, p + needle.size())) {
      ++n;
    }
    return n;
  }

  const std::string& text() const { return text_; }
  bool closed() const { return closed_; }

  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  // Waits up to 50 ms for data, so that callers can check their deadline.
  void ReadSome() {
    pollfd p{socket_.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) return;
    char buf[8192];
    boost::system::error_code ec;
    size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
    text_.append(buf, n);
    if (ec && ec != boost::asio::error::would_block &&
        ec != boost::asio::error::try_again) {
      closed_ = true;
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  std::string text_;
  bool closed_ = false;
};

}  // namespace tinyfleet::testing

#endif  // TINYFLEET_TESTS_SERVER_HTTP_RAW_CLIENT_H_
