// Values that depend on the CPU or the kernel are derived at run time, never assumed, and
// every default of every scenario passes its own validation on the machine running the
// test. Run natively and under sigstksz_shim.so (scenarios/peers), which makes sysconf
// report the signal frame of a CPU with AVX-512 or AMX (see harness/CMakeLists.txt).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "scenario.h"
#include "switchyard/stack.h"

namespace {

using sy::scenarios::Scenario;

// The alternate signal stack must hold the kernel's signal frame, whose size depends on the
// CPU's register state, on top of the 64 KiB the handlers need (stack.cpp).
TEST(MachineValues, AltStackHoldsTheKernelsSignalFrame) {
  const long frame = sysconf(_SC_MINSIGSTKSZ);
  ASSERT_GT(frame, 0);
  // Under the shim the frame is the one acted out (else the test would prove nothing).
  if (const char* fake = std::getenv("SY_FAKE_MINSIGSTKSZ")) {
    ASSERT_EQ(frame, std::atol(fake));
  }
  std::thread([frame] {
    sy::ensure_signal_altstack();
    stack_t ss{};
    ASSERT_EQ(sigaltstack(nullptr, &ss), 0);
    ASSERT_FALSE(ss.ss_flags & SS_DISABLE);
    EXPECT_GE(ss.ss_size, 64 * 1024 + static_cast<std::size_t>(frame))
        << "sysconf(_SC_MINSIGSTKSZ) = " << frame;
  }).join();
}

// What `switchyard run` does with a value given on the command line (ParamSpec::parse), fed
// every default back, then the scenario's check of the whole combination.
TEST(MachineValues, EveryScenarioDefaultPassesItsOwnValidation) {
  ASSERT_FALSE(sy::scenarios::all().empty());
  for (const Scenario* sc : sy::scenarios::all()) {
    nlohmann::json resolved = nlohmann::json::object();
    for (const auto& p : sc->params) {
      SCOPED_TRACE(std::string(sc->name) + " " + p.describe());
      if (p.fixed) {
        resolved[p.name] = p.def;
        continue;
      }
      const std::string text = p.def.is_string() ? p.def.get<std::string>() : p.def.dump();
      nlohmann::json parsed;
      EXPECT_NO_THROW(parsed = p.parse(text));
      EXPECT_EQ(parsed, p.def);
      resolved[p.name] = p.def;
    }
    if (sc->check) {
      EXPECT_NO_THROW(sc->check(resolved)) << sc->name << " " << resolved.dump();
    }
  }
}

}  // namespace
