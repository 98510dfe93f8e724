#include "common/command_line.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "common/file_io.h"

ABSL_FLAG(std::string, name, "anon", "a string");
ABSL_FLAG(uint64_t, count, 1, "a number");
ABSL_FLAG(bool, verbose, false, "a bool");
ABSL_FLAG(std::vector<std::string>, peer, {}, "repeatable");

namespace provledger {
namespace {

StatusOr<CommandLine> Split(std::vector<std::string> words) {
  words.insert(words.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return SplitCommandLine(static_cast<int>(argv.size()), argv.data(), 1, {"peer"});
}

std::string TempFile(const std::string& name, const std::string& text) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(base ? base : "/tmp") + "/" + name;
  EXPECT_TRUE(WriteFileAtomically(path, text, 0644).ok());
  return path;
}

TEST(CommandLine, ReadsEveryFlagFormAndKeepsPositionalWords) {
  absl::FlagSaver restore;
  auto cl = Split({"cmd", "--name=a", "--count", "7", "--verbose", "arg", "--peer=x", "--peer=y",
                   "--", "--not-a-flag"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->positional, (std::vector<std::string>{"cmd", "arg", "--not-a-flag"}));
  ASSERT_TRUE(ApplyCommandLine("prog", *cl).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_name), "a");
  EXPECT_EQ(absl::GetFlag(FLAGS_count), 7u);
  EXPECT_TRUE(absl::GetFlag(FLAGS_verbose));
  EXPECT_EQ(absl::GetFlag(FLAGS_peer), (std::vector<std::string>{"x", "y"}));
}

TEST(CommandLine, NegatedBoolAndHelp) {
  absl::FlagSaver restore;
  auto cl = Split({"--noverbose", "--help"});
  ASSERT_TRUE(cl.ok());
  EXPECT_TRUE(cl->help);
  ASSERT_EQ(cl->flags.size(), 1u);
  EXPECT_EQ(cl->flags[0].name, "verbose");
  EXPECT_EQ(cl->flags[0].value, "false");
}

TEST(CommandLine, RefusesUnknownFlagsMissingAndBadValues) {
  absl::FlagSaver restore;
  EXPECT_EQ(Split({"--bogus=1"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Split({"--count"}).status().code(), StatusCode::kInvalidArgument);
  auto cl = Split({"--count=many"});
  ASSERT_TRUE(cl.ok());
  Status s = ApplyCommandLine("prog", *cl);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("count"), std::string::npos) << s.message();
}

TEST(CommandLine, AJsonConfigIsOverriddenByTheCommandLine) {
  absl::FlagSaver restore;
  const std::string path =
      TempFile("c.json", "{\"name\": \"from-file\", \"count\": 5, \"verbose\": true}");
  auto cl = Split({"--count=9"});
  ASSERT_TRUE(cl.ok());
  ASSERT_TRUE(MergeJsonConfig(path, &*cl).ok());
  ASSERT_TRUE(ApplyCommandLine("prog", *cl).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_name), "from-file");
  EXPECT_EQ(absl::GetFlag(FLAGS_count), 9u);
  EXPECT_TRUE(absl::GetFlag(FLAGS_verbose));
  EXPECT_EQ(FlagsNotAtDefault({"name", "count", "peer"}),
            (std::vector<std::string>{"count", "name"}));
}

TEST(CommandLine, AJsonConfigWithAnUnknownKeyOrAListIsRefused) {
  CommandLine cl;
  Status s = MergeJsonConfig(TempFile("u.json", "{\"nope\": 1}"), &cl);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("nope"), std::string::npos);
  EXPECT_FALSE(MergeJsonConfig(TempFile("l.json", "{\"name\": [1]}"), &cl).ok());
  EXPECT_TRUE(cl.flags.empty());
}

TEST(CommandLine, AFlagFileIsReadAndTheCommandLineWins) {
  absl::FlagSaver restore;
  const std::string path = TempFile("f.flags", "# comment\n--name=ff\n--count=3\n");
  auto cl = Split({"--flagfile=" + path, "--count=4"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->flag_files, (std::vector<std::string>{path}));
  ASSERT_TRUE(ApplyCommandLine("prog", *cl).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_name), "ff");
  EXPECT_EQ(absl::GetFlag(FLAGS_count), 4u);
}

}  // namespace
TEST(SplitFlagList, SplitsOnCommasAndDropsEmptyItems) {
  EXPECT_EQ(SplitFlagList("a:1,b:2"), (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(SplitFlagList(",a,,b,"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(SplitFlagList("").empty());
}

}  // namespace provledger
