// wrk's report line: what the driver reads from its done() hook, and what it refuses.
#include "wrk.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "process.h"

namespace sy::http::driver {
namespace {

// --pin-loadgen: the affinity mask split in two disjoint parts that cover it, the server
// on the first n - n/2 CPUs; not asked, nothing pinned.
TEST(LoadgenSplit, TheMaskInTwoDisjointPartsOnlyWhenAsked) {
  unsetenv("SY_PIN_LOADGEN");
  EXPECT_TRUE(loadgen_split().server.empty() && loadgen_split().loadgen.empty());
  setenv("SY_PIN_LOADGEN", "1", 1);
  const std::vector<int> cpus = harness::affinity_cpus();
  if (cpus.size() < 2) {
    EXPECT_THROW(loadgen_split(), std::runtime_error);
  } else {
    const CpuSplit s = loadgen_split();
    EXPECT_EQ(s.server.size(), cpus.size() - cpus.size() / 2);
    std::vector<int> both = s.server;
    both.insert(both.end(), s.loadgen.begin(), s.loadgen.end());
    EXPECT_EQ(both, cpus);  // disjoint, in order, covering the mask
  }
  unsetenv("SY_PIN_LOADGEN");
}

TEST(WrkParse, ReadsTheScriptsLine) {
  const std::string out =
      "Running 1s test @ http://127.0.0.1:1/\n  2 threads and 10 connections\nRequests/sec: 100\n"
      "SWITCHYARD_WRK {\"duration_us\":2000000,\"requests\":5000,\"bytes\":100,\"connect\":1,\"read\":2,"
      "\"write\":3,\"status\":4,\"timeout\":5,\"p50_us\":10,\"p90_us\":20,\"p99_us\":30,\"max_us\":40,"
      "\"mean_us\":12.5}\n";
  WrkResult r = parse_wrk_output(out);
  EXPECT_DOUBLE_EQ(r.duration_s, 2.0);
  EXPECT_EQ(r.requests, 5000);
  EXPECT_EQ(r.err_connect, 1);
  EXPECT_EQ(r.err_read, 2);
  EXPECT_EQ(r.err_write, 3);
  EXPECT_EQ(r.err_status, 4);
  EXPECT_EQ(r.err_timeout, 5);
  EXPECT_DOUBLE_EQ(r.p50_us, 10);
  EXPECT_DOUBLE_EQ(r.p90_us, 20);
  EXPECT_DOUBLE_EQ(r.p99_us, 30);
  EXPECT_DOUBLE_EQ(r.max_us, 40);
}

TEST(WrkParse, RejectsMissingOrBrokenResults) {
  EXPECT_THROW(parse_wrk_output("Requests/sec: 100\n"), std::runtime_error);
  EXPECT_THROW(parse_wrk_output("SWITCHYARD_WRK {\"duration_us\":\n"), std::runtime_error);
  EXPECT_THROW(parse_wrk_output("SWITCHYARD_WRK {\"duration_us\":1000}\n"), std::runtime_error);  // fields missing
  const std::string zero_time =
      "SWITCHYARD_WRK {\"duration_us\":0,\"requests\":0,\"bytes\":0,\"connect\":0,\"read\":0,\"write\":0,"
      "\"status\":0,\"timeout\":0,\"p50_us\":0,\"p90_us\":0,\"p99_us\":0,\"max_us\":0,\"mean_us\":0}\n";
  EXPECT_THROW(parse_wrk_output(zero_time), std::runtime_error);
  try {
    parse_wrk_output("nothing\n");
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("done() hook"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sy::http::driver
