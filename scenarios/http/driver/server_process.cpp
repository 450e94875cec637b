#include "server_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "common.h"
#include "idle_clients.h"
#include "procfs.h"

namespace sy::http::driver {

using harness::describe_wait_status;
using nlohmann::json;

void kill_and_reap(const std::vector<pid_t>& pids) {
  for (pid_t p : pids)
    if (p > 0) kill(p, SIGKILL);
  int st;
  for (pid_t p : pids)
    if (p > 0) waitpid(p, &st, WNOHANG);
  while (waitpid(-1, &st, WNOHANG) > 0) {
  }
}

ServerProcess::~ServerProcess() {
  if (proc_.pid() > 0 && !exited_) kill_and_reap(tree_with_root());
}

std::vector<pid_t> ServerProcess::processes() const { return process_tree(proc_.pid()); }

std::string ServerProcess::stderr_suffix() const {
  std::string t = tail_of(read_small_file(stderr_path()));
  return t.empty() ? "" : "; stderr: " + t;
}

std::vector<pid_t> ServerProcess::tree_with_root() const {
  std::vector<pid_t> t = process_tree(proc_.pid());
  if (std::find(t.begin(), t.end(), proc_.pid()) == t.end()) t.push_back(proc_.pid());
  return t;
}

void ServerProcess::start() {
  const int attempts = spec_.nginx ? 3 : 1;  // nginx: the free port may be taken meanwhile
  for (int attempt = 1;; ++attempt) {
    std::string why = try_start();
    if (why.empty()) return;
    if (attempt >= attempts || why.find("Address already in use") == std::string::npos)
      throw std::runtime_error(spec_.name + " did not start: " + why);
  }
}

void ServerProcess::check_alive() {
  if (!exited_ && proc_.try_reap()) {
    exited_ = true;
    throw std::runtime_error(spec_.name + " died during the run: " + describe_wait_status(proc_.status()) +
                             stderr_suffix());
  }
}

std::vector<std::string> ServerProcess::stop() {
  std::vector<std::string> notes;
  if (exited_) return notes;
  const std::vector<pid_t> tree = tree_with_root();
  proc_.kill(SIGTERM);
  const bool clean = proc_.reap_within(kStopGraceS);
  if (!clean) {
    kill_and_reap(tree);
    proc_.reap();
    notes.push_back(spec_.name + " did not stop within " + std::to_string(static_cast<int>(kStopGraceS)) +
                    " s of SIGTERM: killed");
  }
  exited_ = true;
  std::vector<pid_t> rest;  // nginx's workers, should the master have left any
  for (pid_t p : tree)
    if (p != proc_.pid()) rest.push_back(p);
  kill_and_reap(rest);
  // What it printed last (its JSON result) may still be in the pipe: up to 0.5 s for it.
  for (int i = 0; i < 50 && !proc_.output_closed(); ++i) proc_.wait_output(10);
  proc_.close_output();
  if (!clean) return notes;
  const int st = proc_.status();
  if (spec_.prints_port) {
    // The protocol's JSON object is the last line.
    std::string last;
    std::istringstream lines(proc_.out());
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) last = line;
    json j;
    try {
      j = json::parse(last);
    } catch (const json::exception&) {
      throw std::runtime_error(spec_.name + " printed no JSON result when stopped (" + describe_wait_status(st) + ")" +
                               stderr_suffix());
    }
    if (j.value("status", "") != "ok")
      throw std::runtime_error(spec_.name + " reported " + j.value("status", std::string("?")) + ": " +
                               j.value("reason", std::string("(no reason)")));
    if (j.contains("notes") && j["notes"].is_array())
      for (const auto& n : j["notes"])
        if (n.is_string()) notes.push_back("server: " + n.get<std::string>());
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    throw std::runtime_error(spec_.name + " ended with " + describe_wait_status(st) + " when stopped" +
                             stderr_suffix());
  return notes;
}

std::string ServerProcess::try_start() {
  if (spec_.nginx) {
    spec_.nginx_config.port = port_ = pick_free_port();
    std::ofstream(dir_ + "/nginx.conf") << nginx_config(spec_.nginx_config);
  }
  harness::SpawnOptions o;
  // If the measurement dies (the harness's timeout kills its whole group anyway), so does
  // the server: nothing outlives a measurement.
  o.die_with_parent = true;
  o.stderr_path = stderr_path();
  o.cpus = spec_.cpus;
  proc_ = harness::Child::spawn(spec_.argv, o);
  exited_ = false;
  const auto t0 = Clock::now();
  auto died = [&] {
    if (!proc_.try_reap()) return false;
    exited_ = true;
    return true;
  };
  auto give_up = [&](const std::string& why) {
    if (!exited_) kill_and_reap(tree_with_root());
    exited_ = true;
    proc_.close_output();
    return why;
  };
  if (spec_.prints_port) {
    for (;;) {
      proc_.drain();
      const std::string& out = proc_.out();
      auto at = out.find("LISTENING ");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::strtoul(out.c_str() + at + 10, nullptr, 10));
        if (port_ == 0) return give_up("it printed a bad port: " + tail_of(out, 200));
        break;
      }
      if (died()) return give_up(describe_wait_status(proc_.status()) + " before LISTENING" + stderr_suffix());
      if (since(t0) > kStartTimeoutS)
        return give_up("no LISTENING line within " + std::to_string(static_cast<int>(kStartTimeoutS)) + " s" +
                       stderr_suffix());
      proc_.wait_output(50);
    }
  }
  // Ready when it answers a request correctly (nginx: once it listens).
  std::string last_error;
  for (;;) {
    {
      IdleClients probe(port_, 1, 2.0, 1);
      if (probe.idle() == 1) return "";
      last_error = probe.first_error().empty() ? "no response within 2 s" : probe.first_error();
      if (last_error.find("refused") == std::string::npos && last_error.find("no response") == std::string::npos)
        return give_up("its answer to GET / is wrong: " + last_error);
    }
    proc_.drain();
    if (died()) return give_up(describe_wait_status(proc_.status()) + " while starting" + stderr_suffix());
    if (since(t0) > kStartTimeoutS)
      return give_up("no correct answer to GET / within " + std::to_string(static_cast<int>(kStartTimeoutS)) +
                     " s (" + last_error + ")" + stderr_suffix());
    sleep_s(0.05);  // the next connection attempt, not a wait for an event
  }
}

}  // namespace sy::http::driver
