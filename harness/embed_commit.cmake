# Writes OUT, a C++ source defining sy::harness::kEmbeddedCommit: the git state of SRC
# when the binary is BUILT (the sy_build_commit target runs this on every build; a value
# read when cmake configured would go stale with the next commit).
# OUT is rewritten only when its text changes, so a build on an unchanged tree recompiles
# and relinks nothing. Outside a git checkout (a tarball) everything is "unknown".
#
#   cmake -DSRC=<source dir> -DOUT=<file.cpp> [-DGIT=<git executable>] -P embed_commit.cmake

cmake_minimum_required(VERSION 3.20)  # policies of this century in script mode

if(NOT SRC OR NOT OUT)
  message(FATAL_ERROR "embed_commit.cmake: usage: cmake -DSRC=<dir> -DOUT=<file.cpp> -P embed_commit.cmake")
endif()
if(NOT GIT)
  find_program(GIT git)
endif()

set(commit "")
set(describe "")
set(dirty -1)      # -1: unknown
set(diff_id "")

if(GIT)
  execute_process(COMMAND ${GIT} -C ${SRC} rev-parse --show-toplevel
                  OUTPUT_VARIABLE top RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0)
    file(REAL_PATH "${top}" top_real)
    file(REAL_PATH "${SRC}" src_real)
  endif()
  # A tarball unpacked inside some other repository (a home directory under git) is not a
  # checkout of this project: only a tree whose top level is SRC counts.
  if(rc EQUAL 0 AND top_real STREQUAL src_real)
    execute_process(COMMAND ${GIT} -C ${SRC} rev-parse HEAD
                    OUTPUT_VARIABLE commit RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT rc EQUAL 0 OR NOT commit MATCHES "^[0-9a-f]+$")
      set(commit "")   # a repository without a commit yet
    else()
      execute_process(COMMAND ${GIT} -C ${SRC} describe --always --dirty
                      OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      # The uncommitted changes to tracked files, as a git blob id of their diff (empty
      # diff: clean). The harness computes the same id at run time (provenance.cpp,
      # kDiffCommand) to tell "the tree was edited after this build" apart from "same".
      execute_process(COMMAND ${GIT} -C ${SRC} diff --no-color --no-ext-diff --no-textconv --binary HEAD --
                      COMMAND ${GIT} hash-object --stdin
                      OUTPUT_VARIABLE id RESULTS_VARIABLE rcs OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(rcs STREQUAL "0;0" AND id MATCHES "^[0-9a-f]+$")
        # git's id of an empty blob: nothing differs from HEAD
        if(id STREQUAL "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
          set(dirty 0)
        else()
          set(dirty 1)
          set(diff_id "${id}")
        endif()
      endif()
    endif()
  endif()
endif()

# A tag may hold characters C++ string literals treat specially.
string(REPLACE "\\" "\\\\" describe "${describe}")
string(REPLACE "\"" "\\\"" describe "${describe}")

set(text "// Generated at build time by harness/embed_commit.cmake from the git state of the source
// tree. Do not edit; do not commit.
#include \"provenance.h\"

namespace sy::harness {
extern const EmbeddedCommit kEmbeddedCommit{\"${commit}\", \"${describe}\", ${dirty}, \"${diff_id}\"};
}  // namespace sy::harness
")

set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
