// AckAggregator (mqtt-bridge/ack_aggregator.h): one acknowledgement per (device, item,
// block) across batches, in height order, `datas` only for the first record's block.
// PROTOCOL.md section 3.
#include "mqtt-bridge/ack_aggregator.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace provledger::bridge {
namespace {

CommittedReading R(const std::string& device, uint64_t seq, uint64_t height, bool first = false,
                   const std::string& item = "temp") {
  CommittedReading r;
  r.device = device;
  r.item = item;
  r.seq = seq;
  r.record_id = Bytes(32, static_cast<char>(seq));
  r.height = height;
  r.first_of_item = first;
  r.outbox_key = seq;
  return r;
}

TEST(AckAggregator, GivesOneAckForTwoBatchesCommittedInOneBlock) {
  AckAggregator agg;
  const uint64_t a = agg.BeginBatch();
  const uint64_t b = agg.BeginBatch();
  // Batch a is answered first: block 1 may still get readings of batch b.
  EXPECT_TRUE(agg.Add(a, {R("d", 1, 1), R("d", 3, 1)}).empty());
  EXPECT_TRUE(agg.EndBatch(a).empty());
  EXPECT_TRUE(agg.Add(b, {R("d", 2, 1)}).empty());
  std::vector<BlockAck> acks = agg.EndBatch(b);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].height, 1u);
  EXPECT_EQ(acks[0].seqs, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(acks[0].record_id, Bytes(32, static_cast<char>(3)));
  EXPECT_EQ(acks[0].outbox_keys.size(), 3u);
}

TEST(AckAggregator, FlushesABlockOnceEveryBatchInFlightStartedAtOrAboveIt) {
  AckAggregator agg;
  const uint64_t a = agg.BeginBatch();  // starts at 0
  EXPECT_TRUE(agg.Add(a, {R("d", 1, 1)}).empty());
  std::vector<BlockAck> acks = agg.EndBatch(a);
  ASSERT_EQ(acks.size(), 1u);  // nothing else in flight
  EXPECT_EQ(agg.known_height(), 1u);
  const uint64_t b = agg.BeginBatch();  // starts at 1: can only commit at 2 or above
  const uint64_t c = agg.BeginBatch();  // starts at 1 too
  EXPECT_TRUE(agg.Add(b, {R("d", 2, 2)}).empty());
  EXPECT_TRUE(agg.EndBatch(b).empty()) << "batch c (started at 1) may still commit at 2";
  const uint64_t d = agg.BeginBatch();  // starts at 2: cannot add to block 2
  acks = agg.EndBatch(c);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].height, 2u);
  EXPECT_EQ(agg.batches_in_flight(), 1u);
  EXPECT_TRUE(agg.EndBatch(d).empty());
}

TEST(AckAggregator, SendsBlocksInHeightOrderWhicheverBatchAnswersFirst) {
  AckAggregator agg;
  const uint64_t a = agg.BeginBatch();
  const uint64_t b = agg.BeginBatch();
  EXPECT_TRUE(agg.Add(b, {R("d", 5, 3)}).empty());
  EXPECT_TRUE(agg.EndBatch(b).empty());
  EXPECT_TRUE(agg.Add(a, {R("d", 4, 2)}).empty());
  std::vector<BlockAck> acks = agg.EndBatch(a);
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].height, 2u);
  EXPECT_EQ(acks[1].height, 3u);
}

TEST(AckAggregator, KeepsDevicesAndItemsApartInOneBlock) {
  AckAggregator agg;
  const uint64_t a = agg.BeginBatch();
  agg.Add(a, {R("d1", 1, 1), R("d2", 1, 1), R("d1", 2, 1, false, "hum")});
  std::vector<BlockAck> acks = agg.EndBatch(a);
  ASSERT_EQ(acks.size(), 3u);
  for (const auto& k : acks) EXPECT_EQ(k.seqs.size(), 1u);
}

TEST(AckAggregator, MarksDatasOnlyOnTheBlockTheNodeNamesFirst) {
  AckAggregator agg;
  const uint64_t a = agg.BeginBatch();
  agg.Add(a, {R("d", 1, 1, true), R("d", 2, 1, false), R("d", 3, 2, false)});
  std::vector<BlockAck> acks = agg.EndBatch(a);
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_TRUE(acks[0].datas);
  EXPECT_FALSE(acks[1].datas);
}

TEST(AckAggregator, AnswersAResendOfAnOldBlockAtOnce) {
  AckAggregator agg;
  const uint64_t a = agg.BeginBatch();
  agg.Add(a, {R("d", 1, 4)});
  ASSERT_EQ(agg.EndBatch(a).size(), 1u);
  const uint64_t held = agg.BeginBatch();  // started at 4, in flight
  const uint64_t resend = agg.BeginBatch();
  // Answered DUPLICATE at height 3, at or below its start: an old block, not held back.
  std::vector<BlockAck> acks = agg.Add(resend, {R("d", 0, 3)});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].height, 3u);
  EXPECT_TRUE(agg.EndBatch(resend).empty());
  EXPECT_TRUE(agg.EndBatch(held).empty());
}

TEST(AckAggregator, CountsOneReadingAnsweredTwiceOnce) {
  AckAggregator agg;
  const uint64_t a = agg.BeginBatch();
  agg.Add(a, {R("d", 7, 1)});
  agg.Add(a, {R("d", 7, 1)});  // a retry of the same sub-batch answered DUPLICATE
  std::vector<BlockAck> acks = agg.EndBatch(a);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].seqs, (std::vector<uint64_t>{7}));
  EXPECT_EQ(acks[0].outbox_keys, (std::vector<uint64_t>{7}));
  EXPECT_EQ(agg.waiting_readings(), 0u);
}

}  // namespace
}  // namespace provledger::bridge
