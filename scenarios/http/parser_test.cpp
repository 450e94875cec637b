// The request parser on its own: every status it can answer, pipelining, and heads split
// at every byte boundary.
#include "parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sy::http {
namespace {

struct Outcome {
  ParseResult result;
  int status = 0;
  Request req;
  std::string target;
};

Outcome parse_all(const std::string& in, const Limits& limits = {}) {
  RequestParser p(limits);
  Outcome o;
  o.result = p.parse(in.data(), in.size(), o.req);
  o.status = p.status();
  if (o.result == ParseResult::complete) o.target = std::string(o.req.target(in.data()));
  return o;
}

int status_of(const std::string& in, const Limits& limits = {}) {
  Outcome o = parse_all(in, limits);
  if (o.result == ParseResult::complete) return 200;
  if (o.result == ParseResult::incomplete) return 0;
  return o.status;
}

TEST(HttpParser, SimpleGet) {
  Outcome o = parse_all("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n");
  ASSERT_EQ(o.result, ParseResult::complete);
  EXPECT_EQ(o.req.method, Method::GET);
  EXPECT_EQ(o.target, "/hello?x=1");
  EXPECT_EQ(o.req.minor_version, 1);
  EXPECT_TRUE(o.req.keep_alive);
  EXPECT_EQ(o.req.content_length, 0u);
  EXPECT_EQ(o.req.head_bytes, 51u);
}

TEST(HttpParser, BareLineFeedsAreAccepted) {
  Outcome o = parse_all("GET / HTTP/1.1\nHost: a\n\n");
  ASSERT_EQ(o.result, ParseResult::complete);
  EXPECT_EQ(o.req.head_bytes, 24u);
}

TEST(HttpParser, KeepAliveSemantics) {
  EXPECT_TRUE(parse_all("GET / HTTP/1.1\r\nHost: a\r\n\r\n").req.keep_alive);
  EXPECT_FALSE(parse_all("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").req.keep_alive);
  EXPECT_FALSE(parse_all("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n").req.keep_alive);
  // HTTP/1.0: close unless the client asks for keep-alive; Host is optional.
  EXPECT_FALSE(parse_all("GET / HTTP/1.0\r\n\r\n").req.keep_alive);
  EXPECT_TRUE(parse_all("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").req.keep_alive);
  EXPECT_FALSE(parse_all("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").req.keep_alive);
  EXPECT_EQ(parse_all("GET / HTTP/1.0\r\n\r\n").req.minor_version, 0);
}

TEST(HttpParser, ContentLength) {
  Outcome o = parse_all("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
  ASSERT_EQ(o.result, ParseResult::complete);
  EXPECT_EQ(o.req.method, Method::POST);
  EXPECT_EQ(o.req.content_length, 42u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), 200);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"), 413);
}

TEST(HttpParser, TransferEncoding) {
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  // Both: the request-smuggling case; 400 whichever comes first.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(HttpParser, Methods) {
  EXPECT_EQ(parse_all("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").req.method, Method::HEAD);
  EXPECT_EQ(parse_all("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n").req.method, Method::DELETE);
  EXPECT_EQ(status_of("BREW / HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
  EXPECT_EQ(status_of("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
  EXPECT_EQ(status_of("get / HTTP/1.1\r\nHost: a\r\n\r\n"), 501);  // methods are case-sensitive
  EXPECT_EQ(status_of("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(HttpParser, MalformedRequestLines) {
  for (const char* bad : {
           "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",         // two spaces
           "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",         // trailing space
           "GET /\r\nHost: a\r\n\r\n",                   // HTTP/0.9
           "GET / HTTP/1.\r\nHost: a\r\n\r\n",           // short version
           "GET / http/1.1\r\nHost: a\r\n\r\n",          // lower-case protocol
           "GET / HTTP/x.1\r\nHost: a\r\n\r\n",
           "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",     // control in target
           "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n",      // bare CR
           "GET foo HTTP/1.1\r\nHost: a\r\n\r\n",        // not origin-form
           "GET * HTTP/1.1\r\nHost: a\r\n\r\n",          // asterisk is for OPTIONS
           "GET http:// HTTP/1.1\r\nHost: a\r\n\r\n",    // absolute-form without authority
           " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
       })
    EXPECT_EQ(status_of(bad), 400) << bad;
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(status_of("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
  Outcome abs = parse_all("GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(abs.result, ParseResult::complete);
  EXPECT_EQ(abs.target, "/p?q");
  EXPECT_EQ(parse_all("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n").target, "");  // "/" to the router
  EXPECT_EQ(parse_all("GET / HTTP/1.2\r\nHost: a\r\n\r\n").req.minor_version, 1);
}

TEST(HttpParser, GarbageIsRejectedBeforeALineEnd) {
  // A TLS ClientHello has no line feed for hundreds of bytes: answer at once.
  const std::string tls("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  EXPECT_EQ(status_of(tls), 400);
  EXPECT_EQ(status_of(std::string("\0\0\0\0", 4)), 400);
  EXPECT_EQ(status_of("GET /abc/def?x=y"), 0);  // a partial request line is just incomplete
}

TEST(HttpParser, MalformedHeaders) {
  for (const char* bad : {
           "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n",
           "GET / HTTP/1.1\r\nHost : a\r\n\r\n",                 // space before the colon
           "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",  // obs-fold
           "GET / HTTP/1.1\r\nHost: a\r\nX-A: nul\x01here\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nX-A: cr\rhere\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n",
           "GET / HTTP/1.1\r\n\r\n",                             // HTTP/1.1 without Host
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",       // two Hosts
       })
    EXPECT_EQ(status_of(bad), 400) << bad;
  // obs-text in values is allowed.
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n"), 200);
}

TEST(HttpParser, Limits) {
  Limits l;
  const std::string ok_target(l.max_request_line - 14, 'a');  // "GET /" + t + " HTTP/1.1" = limit
  EXPECT_EQ(status_of("GET /" + ok_target + " HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
  EXPECT_EQ(status_of("GET /" + ok_target + "a HTTP/1.1\r\nHost: a\r\n\r\n"), 414);
  // Without a line end yet: 414 as soon as the limit is passed.
  EXPECT_EQ(status_of("GET /" + std::string(l.max_request_line, 'a')), 414);
  EXPECT_EQ(status_of("GET /" + std::string(l.max_request_line - 100, 'a')), 0);
  // Header section: limit counts every header line with its CRLF, the blank line included.
  // "Host: a\r\n" (9) + "X: " (3) + value + "\r\n" (2) + the blank line (2)
  const std::string head_ok = "Host: a\r\nX: " + std::string(l.max_header_bytes - 9 - 5 - 2, 'v') + "\r\n\r\n";
  ASSERT_EQ(head_ok.size(), l.max_header_bytes);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n" + head_ok), 200);
  const std::string head_big = "Host: a\r\nX: " + std::string(l.max_header_bytes - 9 - 5 - 1, 'v') + "\r\n\r\n";
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n" + head_big), 431);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(l.max_header_bytes, 'v')), 431);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (std::size_t i = 0; i < l.max_headers; ++i) many += "X: 1\r\n";
  EXPECT_EQ(status_of(many + "\r\n"), 431);
  // Configurable.
  Limits small;
  small.max_request_line = 20;
  small.max_header_bytes = 30;
  EXPECT_EQ(status_of("GET /aaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", small), 414);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789012345\r\n\r\n", small), 431);
}

TEST(HttpParser, LeadingEmptyLinesAreSkipped) {
  Outcome o = parse_all("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(o.result, ParseResult::complete);
  EXPECT_EQ(o.target, "/x");
  EXPECT_EQ(status_of(std::string(20, '\n') + "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

// Pipelining: several requests in one buffer, parsed one after the other.
TEST(HttpParser, Pipelined) {
  const std::string in =
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
      "GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  RequestParser p;
  std::size_t off = 0;
  std::vector<std::string> targets;
  while (off < in.size()) {
    Request r;
    ASSERT_EQ(p.parse(in.data() + off, in.size() - off, r), ParseResult::complete);
    targets.emplace_back(r.target(in.data() + off));
    off += r.head_bytes + r.content_length;
    p.reset();
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/1", "/2", "/3"}));
}

// Every request of a corpus fed in two pieces split at every byte, and one byte at a time:
// the same outcome as all at once.
TEST(HttpParser, SplitAtEveryByteBoundary) {
  const std::vector<std::string> corpus = {
      "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n",
      "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
      "\r\nGET / HTTP/1.0\r\n\r\n",
      "GET / HTTP/1.1\nHost: a\n\n",
      "BREW / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      "GET /" + std::string(9000, 'x') + " HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(9000, 'v') + "\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00", 7),
  };
  for (const std::string& in : corpus) {
    const Outcome whole = parse_all(in);
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
      RequestParser p;
      Request r;
      ParseResult res = p.parse(in.data(), cut, r);
      if (res == ParseResult::incomplete) res = p.parse(in.data(), in.size(), r);
      ASSERT_EQ(res, whole.result) << "cut " << cut << " of " << in.substr(0, 40);
      if (res == ParseResult::error) {
        ASSERT_EQ(p.status(), whole.status) << "cut " << cut;
      } else if (res == ParseResult::complete) {
        ASSERT_EQ(r.head_bytes, whole.req.head_bytes);
        ASSERT_EQ(std::string(r.target(in.data())), whole.target);
        ASSERT_EQ(r.keep_alive, whole.req.keep_alive);
        ASSERT_EQ(r.content_length, whole.req.content_length);
      }
    }
    // One byte at a time, through a buffer that moves (a fresh copy per call).
    RequestParser p;
    Request r;
    ParseResult res = ParseResult::incomplete;
    for (std::size_t n = 1; n <= in.size() && res == ParseResult::incomplete; ++n) {
      const std::string copy = in.substr(0, n);
      res = p.parse(copy.data(), copy.size(), r);
    }
    EXPECT_EQ(res, whole.result) << in.substr(0, 40);
    if (res == ParseResult::error) {
      EXPECT_EQ(p.status(), whole.status);
    }
  }
}

TEST(HttpParser, ErrorIsSticky) {
  RequestParser p;
  Request r;
  const std::string bad = "GET / HTTP/1.1\r\nHost : a\r\n\r\n";
  EXPECT_EQ(p.parse(bad.data(), bad.size(), r), ParseResult::error);
  EXPECT_EQ(p.parse(bad.data(), bad.size(), r), ParseResult::error);
  EXPECT_EQ(p.status(), 400);
  EXPECT_FALSE(p.reason().empty());
}

}  // namespace
}  // namespace sy::http
