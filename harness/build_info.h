// What the build tells the harness (harness/CMakeLists.txt defines these for its sources),
// with defaults for a source compiled outside that build. One copy, read by results.cpp
// (the result's build block) and provenance.cpp (--version text, the checkout check).
#pragma once

#ifndef SY_COMPILER
#define SY_COMPILER "unknown"
#endif
#ifndef SY_CXX_FLAGS
#define SY_CXX_FLAGS ""
#endif
#ifndef SY_BUILD_TYPE
#define SY_BUILD_TYPE ""
#endif
#ifndef SY_SANITIZE
#define SY_SANITIZE ""
#endif
#ifndef SY_SOURCE_DIR
#define SY_SOURCE_DIR "."
#endif
