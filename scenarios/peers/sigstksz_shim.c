// Test support, never linked into a program: an LD_PRELOAD library that makes this
// machine report a larger signal frame, as a CPU with more register state does (AVX-512:
// AT_MINSIGSTKSZ 3376; AMX: about 11 KiB). With SY_FAKE_MINSIGSTKSZ=N in the environment,
// sysconf(_SC_MINSIGSTKSZ) returns N and sysconf(_SC_SIGSTKSZ) returns what glibc would
// derive from it, max(4 N, 8192) (sysdeps/unix/sysv/linux/sysconf-sigstksz.h). Everything
// that asks at run time sees it: Boost.Context's stack_traits::minimum_size(), our signal
// alternate stack, glibc's MINSIGSTKSZ and SIGSTKSZ macros (sysconf calls since 2.34).
// A value compiled in as a constant does not, which is the point of the tests using it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

typedef long (*sysconf_fn)(int);

long sysconf(int name) {
  // relaxed: every thread that resolves it stores the same pointer.
  static sysconf_fn real;
  sysconf_fn f = __atomic_load_n(&real, __ATOMIC_RELAXED);
  if (!f) {
    f = (sysconf_fn)dlsym(RTLD_NEXT, "sysconf");
    __atomic_store_n(&real, f, __ATOMIC_RELAXED);
  }
  if (name == _SC_MINSIGSTKSZ || name == _SC_SIGSTKSZ) {
    const char* text = getenv("SY_FAKE_MINSIGSTKSZ");
    char* end = NULL;
    const long min = text ? strtol(text, &end, 10) : 0;
    if (text && *text && *end == '\0' && min > 0) {
      if (name == _SC_MINSIGSTKSZ) return min;
      return 4 * min > 8192 ? 4 * min : 8192;
    }
  }
  return f(name);
}
