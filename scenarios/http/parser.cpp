#include "parser.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace sy::http {
namespace {

// tchar of RFC 9110 section 5.6.2: the characters of a token (method, header name).
constexpr bool is_tchar(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Field value bytes: VCHAR, SP, HTAB, obs-text. Everything else (CTLs, DEL, a bare CR) is
// rejected, as RFC 9110 section 5.5 allows and request smuggling defences require.
constexpr bool is_value_char(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x |= 0x20;
    if (y >= 'A' && y <= 'Z') y |= 0x20;
    if (x != y) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

struct KnownMethod {
  std::string_view name;
  Method method;
};
constexpr KnownMethod kMethods[] = {
    {"GET", Method::GET},         {"HEAD", Method::HEAD},   {"POST", Method::POST},
    {"PUT", Method::PUT},         {"DELETE", Method::DELETE}, {"OPTIONS", Method::OPTIONS},
    {"PATCH", Method::PATCH},     {"TRACE", Method::TRACE},
};

// Leading empty lines before a request line that are skipped (RFC 9112 section 2.2 asks
// for at least one, for clients that send a CRLF after a POST body).
constexpr std::size_t kMaxEmptyLines = 8;

}  // namespace

void RequestParser::reset() noexcept {
  const Limits l = limits_;
  *this = RequestParser(l);
}

ParseResult RequestParser::parse(const char* buf, std::size_t n, Request& out) {
  if (status_) return ParseResult::error;
  while (pos_ < n) {
    const char* start = buf + pos_;
    const std::size_t avail = n - pos_;
    // The longest line allowed here, its line ending included.
    const std::size_t cap = have_request_line_ ? limits_.max_header_bytes - header_bytes_
                                               : limits_.max_request_line + 2;
    const std::size_t window = std::min(avail, cap);
    const void* nl = scanned_ < window ? std::memchr(start + scanned_, '\n', window - scanned_) : nullptr;
    if (!nl) {
      if (avail >= cap) {
        return have_request_line_ ? fail(431, "header section too large")
                                  : fail(414, "request line too long");
      }
      // A request that cannot become valid is answered without waiting for its line end:
      // binary garbage (a TLS hello, say) gets its 400 at once instead of an idle timeout.
      if (!have_request_line_ && !method_done_) {
        for (; method_scan_ < avail; ++method_scan_) {
          const unsigned char c = static_cast<unsigned char>(start[method_scan_]);
          if (c == ' ' || (method_scan_ == 0 && c == '\r')) {
            method_done_ = true;
            break;
          }
          if (!is_tchar(c)) return fail(400, "malformed request line");
        }
      }
      scanned_ = window;
      return ParseResult::incomplete;
    }
    const std::size_t with_end = static_cast<const char*>(nl) - start + 1;
    std::size_t len = with_end - 1;
    if (len > 0 && start[len - 1] == '\r') --len;
    const std::size_t line_off = pos_;
    pos_ += with_end;
    scanned_ = 0;
    method_scan_ = 0;
    method_done_ = false;
    if (!have_request_line_) {
      if (len == 0) {
        if (++empty_lines_ > kMaxEmptyLines) return fail(400, "too many empty lines before the request line");
        continue;
      }
      if (len > limits_.max_request_line) return fail(414, "request line too long");
      if (request_line(start, len, line_off) == ParseResult::error) return ParseResult::error;
      have_request_line_ = true;
      continue;
    }
    header_bytes_ += with_end;
    if (len == 0) return finish(out, pos_);
    if (header_line(start, len) == ParseResult::error) return ParseResult::error;
  }
  return ParseResult::incomplete;
}

ParseResult RequestParser::request_line(const char* line, std::size_t len, std::size_t off) {
  const std::string_view l(line, len);
  const std::size_t sp1 = l.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return fail(400, "malformed request line");
  const std::string_view method = l.substr(0, sp1);
  for (char c : method)
    if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "malformed method");
  const std::size_t sp2 = l.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return fail(400, "malformed request line");
  std::string_view target = l.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = l.substr(sp2 + 1);
  for (char c : target) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return fail(400, "malformed request target");
  }
  // HTTP-version = "HTTP/" DIGIT "." DIGIT, then the line ends (no second space).
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return fail(400, "malformed HTTP version");
  // Method after the version check: a line that is not HTTP at all is a 400, not a 501.
  bool known = false;
  for (const KnownMethod& m : kMethods) {
    if (m.name == method) {
      req_.method = m.method;
      known = true;
      break;
    }
  }
  if (!known) return fail(501, "method not implemented");
  if (version[5] != '1') return fail(505, "HTTP version not supported");
  // HTTP/1.2 and later minors are 1.1 to us (RFC 9110 section 6.2).
  req_.minor_version = version[7] == '0' ? 0 : 1;

  std::size_t target_off = off + sp1 + 1;
  if (target[0] == '/') {
    // origin-form
  } else if (target == "*") {
    if (req_.method != Method::OPTIONS) return fail(400, "asterisk-form is for OPTIONS only");
  } else {
    // absolute-form: scheme "://" authority [path-abempty] [ "?" query ]; we keep the path.
    const std::size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) return fail(400, "malformed request target");
    for (std::size_t i = 0; i < scheme_end; ++i)
      if (!std::isalpha(static_cast<unsigned char>(target[i])) && target[i] != '+' && target[i] != '-' &&
          target[i] != '.')
        return fail(400, "malformed request target");
    const std::size_t authority = scheme_end + 3;
    const std::size_t path = target.find_first_of("/?", authority);
    if (authority == target.size() || path == authority) return fail(400, "malformed request target");
    const std::size_t p = path == std::string_view::npos ? target.size() : path;
    target_off += p;
    target.remove_prefix(p);  // may be empty: the path is then "/"
  }
  req_.target_off = static_cast<std::uint32_t>(target_off);
  req_.target_len = static_cast<std::uint32_t>(target.size());
  return ParseResult::incomplete;
}

ParseResult RequestParser::header_line(const char* line, std::size_t len) {
  if (line[0] == ' ' || line[0] == '\t') return fail(400, "obsolete line folding");
  if (++header_count_ > limits_.max_headers) return fail(431, "too many header fields");
  const std::string_view l(line, len);
  const std::size_t colon = l.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header field");
  const std::string_view name = l.substr(0, colon);
  // No whitespace between the name and the colon (RFC 9112 section 5.1): a classic
  // smuggling vector, so it is a 400, not something to trim.
  for (char c : name)
    if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "malformed header name");
  const std::string_view raw = l.substr(colon + 1);
  for (char c : raw)
    if (!is_value_char(static_cast<unsigned char>(c))) return fail(400, "invalid character in header value");
  const std::string_view value = trim_ows(raw);

  if (iequals(name, "content-length")) {
    if (value.empty() || value.size() > 18) return fail(400, "invalid Content-Length");
    std::uint64_t v = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return fail(400, "invalid Content-Length");
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (has_content_length_ && v != content_length_) return fail(400, "conflicting Content-Length");
    has_content_length_ = true;
    content_length_ = v;
  } else if (iequals(name, "transfer-encoding")) {
    has_transfer_encoding_ = true;
  } else if (iequals(name, "host")) {
    ++host_count_;
  } else if (iequals(name, "connection")) {
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view tok = trim_ows(rest.substr(0, comma));
      if (iequals(tok, "close")) conn_close_ = true;
      if (iequals(tok, "keep-alive")) conn_keep_alive_ = true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return ParseResult::incomplete;
}

ParseResult RequestParser::finish(Request& out, std::size_t head_bytes) {
  if (has_transfer_encoding_ && has_content_length_)
    return fail(400, "both Transfer-Encoding and Content-Length");
  if (has_transfer_encoding_) return fail(501, "Transfer-Encoding not implemented");
  if (host_count_ > 1) return fail(400, "more than one Host header");
  if (req_.minor_version == 1 && host_count_ == 0) return fail(400, "missing Host header");
  if (content_length_ > limits_.max_body) return fail(413, "body too large");
  out = req_;
  out.content_length = content_length_;
  out.keep_alive = !conn_close_ && (req_.minor_version == 1 || conn_keep_alive_);
  out.head_bytes = head_bytes;
  return ParseResult::complete;
}

std::string_view status_text(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace sy::http
