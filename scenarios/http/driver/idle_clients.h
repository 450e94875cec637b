// Idle clients: connections that each get one whole answer to `GET /` and then stay open
// and silent, for the memory-per-connection measurement (and as the readiness probe).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sy::http::driver {

// Checks a response to `GET /` as every server here must answer it: 1 when complete and
// right (HTTP/1.1 200, Content-Length, body "Hello, World!"), 0 when more bytes are
// needed, -1 when wrong (*why says how).
int check_hello_response(std::string_view bytes, std::string* why);

// Holds `n` keep-alive connections to 127.0.0.1:port. Each sends one `GET /` and reads the
// whole response (status 200, body "Hello, World!"), so the server has fully set the
// connection up; then it stays open and idle until this object is destroyed. At most
// `in_flight` connections are being set up at once (the accept queue is not flooded).
class IdleClients {
 public:
  IdleClients(std::uint16_t port, int n, double timeout_s, int in_flight = 200);
  ~IdleClients();
  IdleClients(const IdleClients&) = delete;
  IdleClients& operator=(const IdleClients&) = delete;

  int idle() const { return idle_; }      // connections that got their response
  int failed() const { return failed_; }  // connections that failed (error, bad response)
  int unfinished() const { return unfinished_; }  // still in progress at the deadline
  const std::string& first_error() const { return first_error_; }

 private:
  std::vector<int> fds_;
  int idle_ = 0, failed_ = 0, unfinished_ = 0;
  std::string first_error_;
};

}  // namespace sy::http::driver
