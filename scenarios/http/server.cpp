#include "server.h"

#include <dirent.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

namespace sy::http {
namespace {

constexpr std::string_view kHello = "Hello, World!";
constexpr std::string_view kNotFound = "404 page not found\n";  // Go's body, byte for byte
constexpr std::size_t kFirstBuffer = 4096;

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The three answers of the hot path, built once.
constexpr std::string_view kHelloKeepAlive =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

void bump_peak(std::atomic<long>& peak, long v) {
  long p = peak.load(std::memory_order_relaxed);
  while (v > p && !peak.compare_exchange_weak(p, v, std::memory_order_relaxed)) {
  }
}

// Appends one response. keep_alive and minor version decide the Connection header: an
// HTTP/1.1 client assumes keep-alive, an HTTP/1.0 client assumes close.
void append_response(std::string& out, int status, std::string_view type, std::string_view body, bool head,
                     bool keep_alive, bool http10) {
  char line[160];
  const int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n",
                              status, static_cast<int>(status_text(status).size()), status_text(status).data(),
                              static_cast<int>(type.size()), type.data(), body.size());
  out.append(line, static_cast<std::size_t>(n));
  if (!keep_alive)
    out += "Connection: close\r\n";
  else if (http10)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
  if (!head) out += body;
}

// ms=N in a query string; -1 when absent or not an integer in [0, 600000].
int sleep_param(std::string_view query) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    if (kv.substr(0, 3) == "ms=") {
      const std::string_view v = kv.substr(3);
      if (v.empty() || v.size() > 6) return -1;
      int ms = 0;
      for (char c : v) {
        if (c < '0' || c > '9') return -1;
        ms = ms * 10 + (c - '0');
      }
      return ms <= 600'000 ? ms : -1;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return -1;
}

}  // namespace

// ---- Server ---------------------------------------------------------------------------

void Server::connection_opened(int fd) {
  stats_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  bump_peak(stats_.connections_peak, stats_.connections_live.fetch_add(1, std::memory_order_relaxed) + 1);
  std::lock_guard<std::mutex> g(conns_mu_);
  conns_.insert(fd);
  // A connection accepted after drain() began would otherwise wait out its idle timeout.
  if (draining()) ::shutdown(fd, SHUT_RD);
}

void Server::connection_closed(int fd) {
  {
    std::lock_guard<std::mutex> g(conns_mu_);
    conns_.erase(fd);
  }
  stats_.connections_live.fetch_sub(1, std::memory_order_relaxed);
}

void Server::thread_started() {
  bump_peak(stats_.threads_peak, stats_.threads_live.fetch_add(1, std::memory_order_relaxed) + 1);
}
void Server::thread_ended() { stats_.threads_live.fetch_sub(1, std::memory_order_relaxed); }

void Server::drain() {
  // release: pairs with draining()'s acquire; sessions that see it answer with close.
  draining_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> g(conns_mu_);
  for (int fd : conns_) ::shutdown(fd, SHUT_RD);
}

void Server::force() {
  std::lock_guard<std::mutex> g(conns_mu_);
  for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
}

std::string Server::stats_json() {
  char buf[512];
  const int n = std::snprintf(
      buf, sizeof buf,
      "{\"open_fds\": %ld, \"%s\": %ld, \"connections_live\": %ld, \"connections_accepted\": %ld, "
      "\"requests\": %ld, \"rejected\": %ld, \"idle_timeouts\": %ld, \"threads_live\": %ld, \"sleeping\": %ld}\n",
      count_open_fds(), live_tasks_name_.c_str(), live_tasks_ ? live_tasks_() : -1L,
      stats_.connections_live.load(std::memory_order_relaxed),
      stats_.connections_accepted.load(std::memory_order_relaxed), stats_.requests.load(std::memory_order_relaxed),
      stats_.rejected.load(std::memory_order_relaxed), stats_.idle_timeouts.load(std::memory_order_relaxed),
      stats_.threads_live.load(std::memory_order_relaxed), stats_.sleeping.load(std::memory_order_relaxed));
  return std::string(buf, static_cast<std::size_t>(std::max(n, 0)));
}

long count_open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  long n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory stream's own fd
}

long peak_rss_kib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

// ---- Session --------------------------------------------------------------------------

Session::Space Session::read_space() {
  if (!in_) {
    cap_ = kFirstBuffer;
    in_.reset(new char[cap_]);
  } else if (in_len_ == cap_) {
    compact();
    if (in_len_ == cap_) {
      // Grows only while a head is incomplete: the parser rejects heads longer than the
      // request-line and header limits, and bodies are discarded as they arrive.
      std::unique_ptr<char[]> bigger(new char[cap_ * 2]);
      std::memcpy(bigger.get(), in_.get(), in_len_);
      in_ = std::move(bigger);
      cap_ *= 2;
    }
  }
  return {in_.get() + in_len_, cap_ - in_len_};
}

void Session::compact() noexcept {
  if (in_off_ == 0) return;
  std::memmove(in_.get(), in_.get() + in_off_, in_len_ - in_off_);
  in_len_ -= in_off_;
  in_off_ = 0;
}

void Session::output_written(std::size_t n) noexcept {
  out_off_ += n;
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
}

Session::Next Session::advance() {
  for (;;) {
    if (closing_) return Next::close;
    if (pending_.active) {
      const std::uint64_t take = std::min<std::uint64_t>(body_left_, in_len_ - in_off_);
      in_off_ += take;
      body_left_ -= take;
      if (body_left_ > 0) {
        in_off_ = in_len_ = 0;  // all buffered bytes were body
        return Next::read;
      }
      request_started_ms_ = -1;  // the request is whole: its handler's time is not counted
      if (pending_.sleep_ms >= 0) {
        srv_.stats().sleeping.fetch_add(1, std::memory_order_relaxed);  // a gauge: no ordering needed
        in_sleep_ = true;
        return Next::sleep;
      }
      respond();
      continue;
    }
    if (in_off_ == in_len_) {
      in_off_ = in_len_ = 0;
      return Next::read;
    }
    Request req;
    const char* base = in_.get() + in_off_;
    switch (parser_.parse(base, in_len_ - in_off_, req)) {
      case ParseResult::incomplete:
        compact();
        if (request_started_ms_ < 0) request_started_ms_ = steady_ms();
        return Next::read;
      case ParseResult::error:
        srv_.stats().rejected.fetch_add(1, std::memory_order_relaxed);
        error_response(parser_.status(), parser_.reason());
        return Next::close;
      case ParseResult::complete:
        route(req.target(base), req);
        in_off_ += req.head_bytes;
        body_left_ = req.content_length;
        parser_.reset();
        // The body is bounded by the same deadline as the head. A head that came whole in
        // one read starts it now; without a body nothing is left to arrive (and the hot
        // path reads no clock).
        if (body_left_ > 0 && request_started_ms_ < 0) request_started_ms_ = steady_ms();
        continue;
    }
  }
}

void Session::route(std::string_view target, const Request& req) {
  pending_ = Pending{};
  pending_.active = true;
  pending_.head = req.method == Method::HEAD;
  pending_.keep_alive = req.keep_alive;
  pending_.http10 = req.minor_version == 0;
  const std::size_t q = target.find('?');
  const std::string_view path = target.empty() ? std::string_view("/") : target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (path == "/") {
    pending_.route = Route::hello;
  } else if (path == "/sleep") {
    pending_.sleep_ms = sleep_param(query);
    if (pending_.sleep_ms < 0) {
      pending_.route = Route::bad_sleep;
      pending_.status = 400;
    }
  } else if (path == "/stats") {
    pending_.route = Route::stats;
  } else {
    pending_.route = Route::not_found;
    pending_.status = 404;
  }
}

void Session::respond() {
  const bool http10 = pending_.http10;
  bool keep_alive = pending_.keep_alive && !srv_.draining();
  ServerStats& st = srv_.stats();
  st.requests.fetch_add(1, std::memory_order_relaxed);
  switch (pending_.route) {
    case Route::hello:
      st.hello.fetch_add(1, std::memory_order_relaxed);
      if (keep_alive && !http10 && !pending_.head)
        out_ += kHelloKeepAlive;
      else
        append_response(out_, 200, "text/plain", kHello, pending_.head, keep_alive, http10);
      break;
    case Route::not_found:
      append_response(out_, 404, "text/plain; charset=utf-8", kNotFound, pending_.head, keep_alive, http10);
      break;
    case Route::bad_sleep:
      append_response(out_, 400, "text/plain; charset=utf-8", "ms must be an integer in [0, 600000]\n",
                       pending_.head, keep_alive, http10);
      break;
    case Route::stats:
      append_response(out_, 200, "application/json", srv_.stats_json(), pending_.head, keep_alive, http10);
      break;
  }
  pending_ = Pending{};
  if (!keep_alive) closing_ = true;
}

int Session::read_timeout_ms() const {
  const ServerConfig& cfg = srv_.config();
  const int idle = cfg.idle_timeout_ms > 0 ? cfg.idle_timeout_ms : -1;
  if (request_started_ms_ < 0 || cfg.request_timeout_ms <= 0) return idle;
  const std::int64_t left = request_started_ms_ + cfg.request_timeout_ms - steady_ms();
  const int request = static_cast<int>(std::max<std::int64_t>(left, 0));
  return idle < 0 ? request : std::min(idle, request);
}

Session::~Session() {
  if (in_sleep_) srv_.stats().sleeping.fetch_sub(1, std::memory_order_relaxed);
}

void Session::sleep_done() {
  pending_.sleep_ms = -1;
  if (std::exchange(in_sleep_, false)) srv_.stats().sleeping.fetch_sub(1, std::memory_order_relaxed);
  respond();
}

void Session::error_response(int status, std::string_view reason) {
  std::string body(reason);
  body += '\n';
  append_response(out_, status, "text/plain; charset=utf-8", body, false, false, false);
  closing_ = true;
}

void Session::timed_out() {
  srv_.stats().idle_timeouts.fetch_add(1, std::memory_order_relaxed);
  // Bytes of an unfinished head, or a body still arriving: the client is owed an answer.
  if (!closing_ && (in_len_ > in_off_ || pending_.active)) error_response(408, "request timeout");
  closing_ = true;
}

}  // namespace sy::http
