// The server core without sockets: what a Session answers to bytes fed to it.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "server.h"

namespace sy::http {
namespace {

// Feeds `in` (in pieces of `chunk` bytes), runs the Session loop the taskmasters run
// (sleeps are skipped), and returns everything written and whether it closed.
struct Fed {
  std::string out;
  bool closed = false;
  int sleeps = 0;
};

Fed feed(Server& srv, const std::string& in, std::size_t chunk = 1 << 20) {
  Session s(srv);
  Fed r;
  std::size_t off = 0;
  for (;;) {
    const Session::Next n = s.advance();
    r.out += s.output();
    s.output_done();
    if (n == Session::Next::close) {
      r.closed = true;
      return r;
    }
    if (n == Session::Next::sleep) {
      ++r.sleeps;
      s.sleep_done();
      continue;
    }
    if (off == in.size()) return r;
    const Session::Space room = s.read_space();
    const std::size_t k = std::min({chunk, in.size() - off, room.size});
    std::copy(in.data() + off, in.data() + off + k, room.data);
    s.commit(k);
    off += k;
  }
}

int count(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (std::size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

const std::string kHelloResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

TEST(HttpSession, HelloAndNotFound) {
  Server srv({});
  Fed r = feed(srv, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.out, kHelloResponse);
  EXPECT_FALSE(r.closed);
  r = feed(srv, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.out,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\n"
            "404 page not found\n");
  EXPECT_EQ(srv.stats().requests.load(), 2);
  EXPECT_EQ(srv.stats().hello.load(), 1);
}

TEST(HttpSession, PipelinedWithBodiesAtEveryChunkSize) {
  const std::string in =
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
      "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /sleep?ms=5 HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n";  // after close: never answered
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    Server srv({});
    Fed r = feed(srv, in, chunk);
    EXPECT_TRUE(r.closed) << chunk;
    EXPECT_EQ(r.sleeps, 1);
    EXPECT_EQ(count(r.out, "HTTP/1.1 200 OK"), 5) << chunk;
    EXPECT_EQ(count(r.out, "HTTP/1.1 404"), 1);
    EXPECT_EQ(count(r.out, "Hello, World!"), 4);  // HEAD has no body
    EXPECT_EQ(count(r.out, "Connection: close"), 1);
    EXPECT_EQ(srv.stats().requests.load(), 6);
  }
}

TEST(HttpSession, Http10KeepAlive) {
  Server srv({});
  Fed r = feed(srv, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(count(r.out, "Connection: keep-alive\r\n"), 1);
  EXPECT_EQ(count(r.out, "Connection: close\r\n"), 1);
  EXPECT_EQ(count(r.out, "Hello, World!"), 2);
  EXPECT_TRUE(r.closed);
}

TEST(HttpSession, ErrorsAnswerThenClose) {
  struct Case {
    std::string in;
    int status;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n", 414},
      {"GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n", 431},
  };
  for (const Case& c : cases) {
    Server srv({});
    Fed r = feed(srv, "GET / HTTP/1.1\r\nHost: a\r\n\r\n" + c.in + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 512);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.out.rfind(kHelloResponse, 0), 0u) << "the request before the bad one is answered";
    const std::string status = "HTTP/1.1 " + std::to_string(c.status) + " ";
    EXPECT_NE(r.out.find(status), std::string::npos) << c.in.substr(0, 40) << " -> " << r.out;
    EXPECT_EQ(count(r.out, "Hello, World!"), 1) << "nothing after the bad request is answered";
    EXPECT_NE(r.out.find("Connection: close"), std::string::npos);
    EXPECT_EQ(srv.stats().rejected.load(), 1);
  }
}

TEST(HttpSession, SleepParameter) {
  Server srv({});
  Fed r = feed(srv, "GET /sleep?ms=abc HTTP/1.1\r\nHost: a\r\n\r\nGET /sleep?x=1&ms=700000 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.sleeps, 0);
  EXPECT_EQ(count(r.out, "HTTP/1.1 400 "), 2);
  EXPECT_FALSE(r.closed);  // a handler's 400, not a protocol error
  Session s(srv);
  const std::string in = "GET /sleep?x=1&ms=250 HTTP/1.1\r\nHost: a\r\n\r\n";
  std::copy(in.begin(), in.end(), s.read_space().data);
  s.commit(in.size());
  ASSERT_EQ(s.advance(), Session::Next::sleep);
  EXPECT_EQ(s.sleep_ms(), 250);
  EXPECT_FALSE(s.idle());
  s.sleep_done();
  EXPECT_EQ(s.advance(), Session::Next::read);
  EXPECT_EQ(s.output(), kHelloResponse);
}

TEST(HttpSession, TimeoutAndDrain) {
  Server srv({});
  {
    Session s(srv);
    EXPECT_TRUE(s.idle());
    s.timed_out();  // idle: closed without an answer
    EXPECT_EQ(s.advance(), Session::Next::close);
    EXPECT_TRUE(s.output().empty());
  }
  {
    Session s(srv);
    const std::string in = "GET / HT";
    std::copy(in.begin(), in.end(), s.read_space().data);
    s.commit(in.size());
    EXPECT_EQ(s.advance(), Session::Next::read);
    EXPECT_FALSE(s.idle());
    s.timed_out();  // half a request: 408
    EXPECT_EQ(s.advance(), Session::Next::close);
    EXPECT_EQ(s.output().substr(0, 13), "HTTP/1.1 408 ");
  }
  srv.drain();
  Fed r = feed(srv, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(count(r.out, "Hello, World!"), 1);
  EXPECT_EQ(count(r.out, "Connection: close"), 1);
}

// Copies `in` into the session's input, as a read would.
void put(Session& s, const std::string& in) {
  const Session::Space room = s.read_space();
  ASSERT_LE(in.size(), room.size);
  std::copy(in.begin(), in.end(), room.data);
  s.commit(in.size());
}

// Waits (bounded) until the session's read timeout has run out.
bool runs_out(const Session& s, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (s.read_timeout_ms() > 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The request timeout bounds the whole request: a body trickled a byte at a time (each
// byte within the idle timeout) runs out of it like a head does.
TEST(HttpSession, RequestTimeoutCoversTheBody) {
  ServerConfig cfg;
  cfg.idle_timeout_ms = 60'000;
  cfg.request_timeout_ms = 50;
  Server srv(cfg);
  {
    Session s(srv);  // a whole head in one read, then its body a byte at a time
    put(s, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nx");
    ASSERT_EQ(s.advance(), Session::Next::read);
    EXPECT_LE(s.read_timeout_ms(), 50) << "the body's read waits the idle timeout";
    ASSERT_TRUE(runs_out(s)) << "the request timeout never ran out: " << s.read_timeout_ms() << " ms left";
    put(s, "y");  // a byte of body does not start it again
    ASSERT_EQ(s.advance(), Session::Next::read);
    EXPECT_EQ(s.read_timeout_ms(), 0);
    s.timed_out();
    EXPECT_EQ(s.advance(), Session::Next::close);
    EXPECT_EQ(s.output().substr(0, 13), "HTTP/1.1 408 ");
  }
  {
    Session s(srv);  // the deadline runs from the head's first byte, through the body
    put(s, "POST / HTTP/1.1\r\nHo");
    ASSERT_EQ(s.advance(), Session::Next::read);
    ASSERT_TRUE(runs_out(s));
    put(s, "st: a\r\nContent-Length: 5\r\n\r\nab");
    ASSERT_EQ(s.advance(), Session::Next::read);
    EXPECT_EQ(s.read_timeout_ms(), 0) << "the head's deadline is gone once its body begins";
  }
  {
    Session s(srv);  // a whole request: the handler's sleep and the next wait are not bounded by it
    put(s, "POST /sleep?ms=10 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\na");
    ASSERT_EQ(s.advance(), Session::Next::read);
    EXPECT_LE(s.read_timeout_ms(), 50);
    put(s, "b");
    ASSERT_EQ(s.advance(), Session::Next::sleep);
    EXPECT_EQ(s.read_timeout_ms(), 60'000);
    s.sleep_done();
    ASSERT_EQ(s.advance(), Session::Next::read);
    EXPECT_EQ(s.output(), kHelloResponse);
    EXPECT_EQ(s.read_timeout_ms(), 60'000);
  }
}

TEST(HttpSession, StatsRoute) {
  Server srv({});
  srv.set_live_tasks("live_fibers", [] { return 7L; });
  Fed r = feed(srv, "GET /stats HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_NE(r.out.find("\"live_fibers\": 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"open_fds\": "), std::string::npos);
  EXPECT_GT(count_open_fds(), 2);
}

}  // namespace
}  // namespace sy::http
