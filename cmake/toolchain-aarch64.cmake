# Cross build for AArch64 Linux with Debian's cross compiler and multiarch arm64 libraries:
#   apt-get install g++-aarch64-linux-gnu qemu-user (after dpkg --add-architecture arm64)
#   and the :arm64 dev packages (Makefile DEB_PACKAGES_ARM64; `make deps`).
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
# Tests then run under qemu-user: CMAKE_CROSSCOMPILING_EMULATOR makes ctest (and gtest's
# death tests, which re-exec /proc/self/exe inside the emulator) go through qemu-aarch64.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SY_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${SY_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SY_CROSS_TRIPLE}-g++)
set(CMAKE_ASM_COMPILER ${SY_CROSS_TRIPLE}-gcc)

# Debian multiarch: arm64 libraries and their CMake/pkg-config files live under
# /usr/lib/aarch64-linux-gnu, headers under /usr/include (shared) and
# /usr/include/aarch64-linux-gnu; the cross compiler's own sysroot is /usr/aarch64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE ${SY_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${SY_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# BOTH: multiarch packages are found under the host's /usr (with the arch subdirectory),
# not under a separate sysroot.
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${SY_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)

# No `-L /usr/aarch64-linux-gnu`: that prefix holds the cross toolchain's own ld.so
# (libc6-arm64-cross), while the dynamic loader then finds libc.so.6 and the other
# libraries of the multiarch arm64 packages in /lib/aarch64-linux-gnu (a different glibc
# build). That mixed pair hangs in the first pthread_create. Without -L, qemu runs the
# multiarch /lib/ld-linux-aarch64.so.1, which matches the multiarch libc6:arm64.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
