// An incremental HTTP/1.1 request-head parser (RFC 9112), allocation-free.
//
// The caller owns the bytes. It keeps the unconsumed input of one connection in a buffer
// that starts at the first byte of the current request and calls parse() again with the
// same prefix plus whatever arrived since; the parser resumes at the line where it stopped,
// so a head split at every byte boundary costs O(length) in all. Because the buffer may
// move between calls (it grows or is compacted), the parser keeps offsets, never pointers.
//
// The parser reads the head only. The body (Content-Length bytes; chunked is not
// implemented, see below) is the caller's to skip: Request::content_length says how much.
//
// Errors carry the status to answer with, after which the connection is closed (the
// stream cannot be re-synchronised reliably after a malformed head):
//   400 malformed request line or header, missing or repeated Host in HTTP/1.1, bad or
//       conflicting Content-Length, Transfer-Encoding together with Content-Length (the
//       request-smuggling case of RFC 9112 section 6.1), obsolete line folding
//   413 Content-Length above Limits::max_body
//   414 request line longer than Limits::max_request_line
//   431 header section longer than Limits::max_header_bytes, or more than max_headers
//   501 unknown method (a well-formed token that is not a method we know), CONNECT, or a
//       Transfer-Encoding (we implement none, not even chunked)
//   505 an HTTP version other than 1.0 and 1.1
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sy::http {

struct Limits {
  std::size_t max_request_line = 8192;  // bytes, without the line ending
  std::size_t max_header_bytes = 8192;  // bytes of all header lines, line endings included
  std::size_t max_headers = 100;
  std::uint64_t max_body = 1 << 20;
};

enum class Method : std::uint8_t { GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE };

// A parsed head. Offsets are relative to the start of the buffer given to parse().
struct Request {
  Method method = Method::GET;
  std::uint32_t target_off = 0, target_len = 0;
  std::uint8_t minor_version = 1;  // HTTP/1.<minor>
  bool keep_alive = true;          // after the version default and the Connection header
  std::uint64_t content_length = 0;
  std::size_t head_bytes = 0;      // bytes of the head, blank line included: the body starts here

  std::string_view target(const char* buf) const noexcept { return {buf + target_off, target_len}; }
};

enum class ParseResult : std::uint8_t { incomplete, complete, error };

class RequestParser {
 public:
  explicit RequestParser(const Limits& limits = {}) : limits_(limits) {}

  // Parses buf[0, n): the unconsumed input, starting at the current request. After
  // `complete`, `out` holds the head and the caller consumes out.head_bytes (and the body)
  // and calls reset() before the next request. After `error`, status() is the answer.
  ParseResult parse(const char* buf, std::size_t n, Request& out);
  void reset() noexcept;

  int status() const noexcept { return status_; }
  std::string_view reason() const noexcept { return reason_; }  // for the error body

 private:
  ParseResult fail(int status, std::string_view why) noexcept {
    status_ = status;
    reason_ = why;
    return ParseResult::error;
  }
  ParseResult request_line(const char* line, std::size_t len, std::size_t off);
  ParseResult header_line(const char* line, std::size_t len);
  ParseResult finish(Request& out, std::size_t head_bytes);

  Limits limits_;
  // Resumption state: every line before pos_ has been parsed.
  std::size_t pos_ = 0;
  std::size_t scanned_ = 0;  // bytes from pos_ already searched for a line end without one
  std::size_t method_scan_ = 0;  // bytes of an unfinished request line's method checked
  bool method_done_ = false;
  bool have_request_line_ = false;
  std::size_t header_bytes_ = 0, header_count_ = 0, empty_lines_ = 0;
  Request req_;  // the request line's fields, copied out when the head is complete
  // What the headers said so far.
  bool has_content_length_ = false, has_transfer_encoding_ = false;
  bool conn_close_ = false, conn_keep_alive_ = false;
  unsigned host_count_ = 0;
  std::uint64_t content_length_ = 0;
  int status_ = 0;
  std::string_view reason_;
};

std::string_view status_text(int status) noexcept;

}  // namespace sy::http
