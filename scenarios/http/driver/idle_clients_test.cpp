// Idle clients against a tiny server in this process, and the check of an answer to GET /.
#include "idle_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "nginx.h"

#include <gtest/gtest.h>

namespace sy::http::driver {
namespace {

TEST(HelloResponse, AcceptsOnlyTheWholeRightAnswer) {
  std::string why;
  const std::string ok = "HTTP/1.1 200 OK\r\ncontent-length: 13\r\nServer: x\r\n\r\nHello, World!";
  EXPECT_EQ(check_hello_response(ok, &why), 1);
  EXPECT_EQ(check_hello_response(ok.substr(0, ok.size() - 1), &why), 0);  // body incomplete
  EXPECT_EQ(check_hello_response("HTTP/1.1 200 OK\r\nContent-Len", &why), 0);
  EXPECT_EQ(check_hello_response("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", &why), -1);
  EXPECT_NE(why.find("404"), std::string::npos);
  EXPECT_EQ(check_hello_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello", &why), -1);
  EXPECT_EQ(check_hello_response("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, World!", &why), -1);
  EXPECT_NE(why.find("Content-Length"), std::string::npos);
  EXPECT_EQ(check_hello_response(ok + "extra", &why), -1);
}

// A tiny server: answers each connection's first request with `response` and keeps the
// connection open until stopped.
class TinyServer {
 public:
  explicit TinyServer(std::string response) : response_(std::move(response)) {
    lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(lfd_, 4096), 0);
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    thread_.join();
    close(lfd_);
    for (auto& p : fds_) close(p.fd);
  }
  std::uint16_t port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      std::vector<pollfd> pf = {{lfd_, POLLIN, 0}};
      pf.insert(pf.end(), fds_.begin(), fds_.end());
      if (poll(pf.data(), pf.size(), 20) <= 0) continue;
      if (pf[0].revents & POLLIN) {
        int c = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) fds_.push_back({c, POLLIN, 0});
      }
      for (std::size_t i = 1; i < pf.size(); ++i) {
        if (!(pf[i].revents & POLLIN)) continue;
        char buf[512];
        if (read(pf[i].fd, buf, sizeof buf) > 0) (void)!write(pf[i].fd, response_.data(), response_.size());
        fds_[i - 1].events = 0;  // one request per connection, then idle
      }
    }
  }
  std::string response_;
  int lfd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<pollfd> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(IdleClients, HoldsEveryConnectionAfterItsResponse) {
  TinyServer s("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!");
  IdleClients c(s.port(), 300, 20.0, 50);
  EXPECT_EQ(c.idle(), 300) << c.first_error();
  EXPECT_EQ(c.failed(), 0);
  EXPECT_EQ(c.unfinished(), 0);
}

TEST(IdleClients, CountsWrongAnswersAndRefusals) {
  {
    TinyServer s("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    IdleClients c(s.port(), 5, 10.0);
    EXPECT_EQ(c.idle(), 0);
    EXPECT_EQ(c.failed(), 5);
    EXPECT_NE(c.first_error().find("404"), std::string::npos) << c.first_error();
  }
  IdleClients refused(pick_free_port(), 3, 5.0);
  EXPECT_EQ(refused.failed(), 3);
  EXPECT_NE(refused.first_error().find("refused"), std::string::npos) << refused.first_error();
}

TEST(IdleClients, StopsAtTheDeadline) {
  // A server that accepts (the kernel does) but never answers.
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 64), 0);
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  const auto t0 = std::chrono::steady_clock::now();
  IdleClients c(ntohs(a.sin_port), 4, 0.5);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 3.0);
  EXPECT_EQ(c.idle(), 0);
  EXPECT_EQ(c.unfinished(), 4);
  close(l);
}

}  // namespace
}  // namespace sy::http::driver
