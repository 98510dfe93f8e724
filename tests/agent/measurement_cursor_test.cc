// Incremental reading and resume: the position survives in the state file, moves only on
// Commit (a kill before the acknowledgement reads the same entries again), and a new boot
// starts at 0.
#include "agent/measurement_cursor.h"

#include <string>

#include "agent/agent_state.h"
#include "common/bytes.h"
#include "common/file_io.h"
#include "gtest/gtest.h"
#include "tests/agent/test_paths.h"

namespace provledger::agent {
namespace {

constexpr char kBoot1[] = "0f0e0d0c-0b0a-4908-8706-050403020100";
constexpr char kBoot2[] = "11111111-2222-4333-8444-555555555555";

class CursorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    options_.list_path = dir_ + "/list";
    options_.boot_id_path = dir_ + "/boot_id";
    SetBoot(kBoot1);
  }
  void SetBoot(const std::string& boot) {
    ASSERT_TRUE(WriteFileAtomically(options_.boot_id_path, boot + "\n", 0600).ok());
  }
  void SetList(const std::string& text) {
    ASSERT_TRUE(WriteFileAtomically(options_.list_path, text, 0600).ok());
  }
  std::string Real(const std::string& name) {
    StatusOr<Bytes> t = ReadFile(TestData(name));
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : "";
  }
  StateStore OpenStore() {
    StatusOr<StateStore> s = StateStore::Open(dir_ + "/state.json");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }

  std::string dir_;
  CursorOptions options_;
};

TEST_F(CursorTest, StateFileRoundTrip) {
  AgentState s;
  s.position = ListPosition{kBoot1, 5, 700, 9};
  s.next_seq = 42;
  StatusOr<AgentState> back = ParseAgentState(AgentStateJson(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->position, s.position);
  EXPECT_EQ(back->next_seq, 42u);
  EXPECT_FALSE(ParseAgentState("{\"v\":2}").ok());
  // A corrupt state file is an error, never a silent restart from seq 0.
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/state.json", "{garbage", 0600).ok());
  EXPECT_FALSE(StateStore::Open(dir_ + "/state.json").ok());
}

TEST_F(CursorTest, SeqIsDurableAndStrictlyIncreasing) {
  {
    StateStore store = OpenStore();
    StatusOr<uint64_t> a = store.TakeSeq(1000);
    StatusOr<uint64_t> b = store.TakeSeq(0);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, 1000u);
    EXPECT_EQ(*b, 1001u);
  }
  StateStore again = OpenStore();  // as after kill -9: never the same seq twice
  StatusOr<uint64_t> c = again.TakeSeq(0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 1002u);
  StatusOr<uint64_t> d = again.TakeSeq(5000);  // after a `replay`: jump ahead
  EXPECT_EQ(*d, 5000u);
}

TEST_F(CursorTest, ReadsOnlyNewEntriesAndSkipsBadLines) {
  SetList(Real("mixed_list.txt"));
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  StatusOr<PendingBatch> b = cursor.ReadNew();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->boot, kBoot1);
  EXPECT_EQ(b->from, 0u);
  ASSERT_EQ(b->entries.size(), 5u);  // 2 good, the violation, 2 good; line 8 incomplete
  EXPECT_EQ(b->entries[2].path, "/var/log/violated");
  EXPECT_EQ(b->violations, std::vector<uint64_t>{3});
  ASSERT_EQ(b->skipped.size(), 2u);
  EXPECT_EQ(b->skipped[0].line, 4u);  // bad template hash
  EXPECT_EQ(b->skipped[1].line, 5u);  // malformed
  EXPECT_EQ(b->end.next_index, 5u);
  EXPECT_EQ(b->end.next_line, 8u);
  device_protocol::IntegrityReport r = b->Report();
  EXPECT_EQ(r.from, 0u);
  EXPECT_EQ(r.entries.size(), 5u);
  ASSERT_TRUE(cursor.Commit(*b).ok());

  // Nothing new yet: the incomplete line stays unread.
  StatusOr<PendingBatch> none = cursor.ReadNew();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->entries.empty());
  EXPECT_EQ(none->from, 5u);

  // The kernel finishes the line and appends another.
  std::string text = Real("mixed_list.txt");
  text +=
      "09ad33b977424f ima-ng "
      "sha256:f1b4c7c9b27e94569f4c2b64051c452bc609c3cb891dd7fae06b758f8bc83d14 boot_aggregate\n";
  text += Real("ima_ng_real.txt").substr(0, Real("ima_ng_real.txt").find('\n') + 1);
  SetList(text);
  StatusOr<PendingBatch> more = cursor.ReadNew();
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_EQ(more->from, 5u);
  ASSERT_EQ(more->entries.size(), 2u);
  EXPECT_EQ(more->entries[0].path, "boot_aggregate");
  EXPECT_EQ(more->end.next_line, 10u);
}

TEST_F(CursorTest, KillBeforeAckReadsTheSameEntriesAgain) {
  SetList(Real("ima_ng_real.txt"));
  {
    StateStore store = OpenStore();
    options_.max_entries = 2;
    MeasurementCursor cursor(options_, &store);
    StatusOr<PendingBatch> first = cursor.ReadNew();
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(cursor.Commit(*first).ok());  // acknowledged
    StatusOr<PendingBatch> second = cursor.ReadNew();
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->from, 2u);
    // killed here: published, never acknowledged, never committed
  }
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  EXPECT_EQ(cursor.position().next_index, 2u);
  StatusOr<PendingBatch> again = cursor.ReadNew();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->from, 2u);  // no gap, no entry before it again
  ASSERT_EQ(again->entries.size(), 1u);
  EXPECT_EQ(again->entries[0].path, "/bin/sh");
}

TEST_F(CursorTest, ABatchIsCutToKeepTheReportSmall) {
  SetList(Real("ima_sig_real.txt"));  // 6 entries, ~140 bytes each in a report
  options_.max_report_bytes = 400;
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  uint64_t from = 0;
  size_t batches = 0;
  while (true) {
    StatusOr<PendingBatch> b = cursor.ReadNew();
    ASSERT_TRUE(b.ok());
    if (b->entries.empty()) break;
    ++batches;
    EXPECT_EQ(b->from, from);
    const std::string json = device_protocol::IntegrityReportJson(b->Report());
    EXPECT_TRUE(json.size() <= 400 || b->entries.size() == 1) << json.size();
    from += b->entries.size();
    ASSERT_TRUE(cursor.Commit(*b).ok());
  }
  EXPECT_EQ(from, 6u);  // every entry, none twice
  EXPECT_GT(batches, 2u);
  EXPECT_EQ(cursor.position().next_line, 7u);
}

TEST_F(CursorTest, NewBootStartsAtZero) {
  SetList(Real("ima_ng_real.txt"));
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  StatusOr<PendingBatch> b = cursor.ReadNew();
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(cursor.Commit(*b).ok());
  EXPECT_EQ(cursor.position().next_index, 3u);

  SetBoot(kBoot2);  // reboot: a new, shorter list
  SetList(Real("ima_ng_real.txt").substr(0, Real("ima_ng_real.txt").find('\n') + 1));
  StatusOr<PendingBatch> fresh = cursor.ReadNew();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->boot, kBoot2);
  EXPECT_EQ(fresh->from, 0u);
  EXPECT_EQ(fresh->entries.size(), 1u);
}

TEST_F(CursorTest, ListShorterThanThePositionIsDataLoss) {
  SetList(Real("ima_ng_real.txt"));
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  StatusOr<PendingBatch> b = cursor.ReadNew();
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(cursor.Commit(*b).ok());
  SetList("short\n");  // same boot, list replaced
  EXPECT_EQ(cursor.ReadNew().status().code(), StatusCode::kDataLoss);
  SetList("");  // emptied (its size is no evidence: securityfs lists all say 0)
  EXPECT_EQ(cursor.ReadNew().status().code(), StatusCode::kDataLoss);
  std::string other = Real("ima_sig_real.txt");  // longer, but the position is mid-line
  SetList(other);
  StatusOr<PendingBatch> mid = cursor.ReadNew();
  if (other[b->end.byte_offset - 1] != '\n') {
    EXPECT_EQ(mid.status().code(), StatusCode::kDataLoss);
  }
}

TEST_F(CursorTest, ReadsAListThatReportsSizeZeroLikeSecurityfs) {
  // /proc files are regular files of st_size 0 too; read one as the list to show the
  // size is not trusted. /proc/self/mountinfo has no IMA lines: all skipped, none fatal.
  options_.list_path = "/proc/self/mountinfo";
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  StatusOr<PendingBatch> b = cursor.ReadNew();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(b->entries.empty());
  EXPECT_FALSE(b->skipped.empty());
  ASSERT_TRUE(cursor.Commit(*b).ok());
  StatusOr<PendingBatch> again = cursor.ReadNew();  // offset > 0 > st_size: still fine
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST_F(CursorTest, BadBootIdAndMissingListAreErrors) {
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  EXPECT_EQ(cursor.ReadNew().status().code(), StatusCode::kNotFound);  // no list yet
  SetBoot("not-a-uuid");
  EXPECT_EQ(cursor.ReadNew().status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CursorTest, BootPlaceholderInThePath) {
  options_.list_path = dir_ + "/list-{boot}.txt";
  StateStore store = OpenStore();
  MeasurementCursor cursor(options_, &store);
  EXPECT_EQ(cursor.ListPath(kBoot1), dir_ + "/list-" + kBoot1 + ".txt");
}

}  // namespace
}  // namespace provledger::agent
