// compare_with_checkout (provenance.cpp) on a scratch git repository: each relation between
// the commit a binary embeds and the checkout it runs beside. The embedded values come from
// running harness/embed_commit.cmake itself, so the build-time and run-time ids of
// uncommitted changes must agree for "same" to hold on an edited tree.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "process.h"
#include "provenance.h"

namespace sy::harness {
// The test binary embeds nothing of its own: build_provenance is not under test here.
extern const EmbeddedCommit kEmbeddedCommit{"", "", -1, ""};
}  // namespace sy::harness

namespace {

namespace fs = std::filesystem;
using sy::harness::compare_with_checkout;
using sy::harness::EmbeddedCommit;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) ADD_FAILURE() << name << " is not set (ctest sets it)";
  return v ? v : "";
}

// Runs a command in `dir`; its trimmed stdout, failing the test on a non-zero exit.
std::string sh(const fs::path& dir, const std::string& cmd) {
  auto r = sy::harness::run_child({"/bin/sh", "-c", "cd \"$0\" && " + cmd, dir.string()}, 30);
  EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

void append(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::app) << text;
}

// What the build would embed for `src`, by the build's own script.
struct Embedded {
  std::string commit, describe, diff_id;
  int dirty = -1;
  EmbeddedCommit view() const { return {commit.c_str(), describe.c_str(), dirty, diff_id.c_str()}; }
};

Embedded embed(const fs::path& src, const fs::path& out) {
  auto r = sy::harness::run_child(
      {env("SY_TEST_CMAKE"), "-DSRC=" + src.string(), "-DOUT=" + out.string(), "-P", env("SY_TEST_EMBED")}, 30);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::smatch m;
  static const std::regex re(R"re(kEmbeddedCommit\{"([0-9a-f]*)", "([^"]*)", (-?\d), "([0-9a-f]*)"\})re");
  Embedded e;
  if (!std::regex_search(text, m, re)) {
    ADD_FAILURE() << "no kEmbeddedCommit in " << text;
    return e;
  }
  e.commit = m[1];
  e.describe = m[2];
  e.dirty = std::stoi(m[3]);
  e.diff_id = m[4];
  return e;
}

class Checkout : public ::testing::Test {
 protected:
  void SetUp() override {
    // No user or system git configuration (signing, hooks) in the scratch repository.
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "t", 1);
    setenv("GIT_AUTHOR_EMAIL", "t@example.invalid", 1);
    setenv("GIT_COMMITTER_NAME", "t", 1);
    setenv("GIT_COMMITTER_EMAIL", "t@example.invalid", 1);
    char tmpl[] = "/tmp/sy_checkout_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root = tmpl;
    repo = root / "repo";
    fs::create_directories(repo);
    append(repo / "a.txt", "one\n");
    sh(repo, "git init -q && git add a.txt && git commit -q -m first");
  }
  void TearDown() override { fs::remove_all(root); }
  fs::path root, repo;
};

TEST_F(Checkout, EachRelation) {
  const fs::path gen = root / "embedded_commit.cpp";
  const Embedded clean = embed(repo, gen);
  ASSERT_EQ(clean.commit, sh(repo, "git rev-parse HEAD"));
  ASSERT_EQ(clean.dirty, 0);

  auto s = compare_with_checkout(clean.view(), repo.string());
  EXPECT_TRUE(s.found);
  EXPECT_EQ(s.commit, clean.commit);
  EXPECT_FALSE(s.dirty);
  EXPECT_EQ(s.relation, "same");

  // Edited after a clean build: the binary lacks the edit.
  append(repo / "a.txt", "two\n");
  s = compare_with_checkout(clean.view(), repo.string());
  EXPECT_TRUE(s.dirty);
  EXPECT_EQ(s.relation, "edited");

  // Built from the edited tree: the same, until the next edit.
  const Embedded dirty = embed(repo, gen);
  ASSERT_EQ(dirty.dirty, 1);
  EXPECT_EQ(compare_with_checkout(dirty.view(), repo.string()).relation, "same");
  append(repo / "a.txt", "three\n");
  EXPECT_EQ(compare_with_checkout(dirty.view(), repo.string()).relation, "edited");

  // A commit after the build: the binary is older.
  sh(repo, "git commit -q -am second");
  const std::string head2 = sh(repo, "git rev-parse HEAD");
  s = compare_with_checkout(clean.view(), repo.string());
  EXPECT_FALSE(s.dirty);
  EXPECT_EQ(s.relation, "older");

  // Another branch, and a commit this repository does not have: neither contains the other.
  sh(repo, "git checkout -q -b side " + clean.commit + " && echo x > b.txt && git add b.txt && git commit -q -m side");
  const Embedded second{head2, "", "", 0};
  EXPECT_EQ(compare_with_checkout(second.view(), repo.string()).relation, "other");
  const Embedded foreign{"0123456789abcdef0123456789abcdef01234567", "", "", 0};
  EXPECT_EQ(compare_with_checkout(foreign.view(), repo.string()).relation, "other");

  // A binary built from a tarball, run beside a checkout.
  const Embedded unknown{"", "", "", -1};
  EXPECT_EQ(compare_with_checkout(unknown.view(), repo.string()).relation, "unknown");
}

TEST_F(Checkout, NotACheckout) {
  const Embedded e{"0123456789abcdef0123456789abcdef01234567", "", "", 0};
  const fs::path plain = root / "plain";  // outside any repository
  fs::create_directories(plain);
  EXPECT_FALSE(compare_with_checkout(e.view(), plain.string()).found);
  const fs::path nested = repo / "unpacked";  // inside another repository: not its checkout
  fs::create_directories(nested);
  EXPECT_FALSE(compare_with_checkout(e.view(), nested.string()).found);
  EXPECT_FALSE(compare_with_checkout(e.view(), (root / "missing").string()).found);
}

}  // namespace
