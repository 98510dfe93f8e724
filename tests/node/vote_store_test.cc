#include "node/vote_store.h"

#include <gtest/gtest.h>

namespace provledger::node {
namespace {

TEST(VoteStore, DecodesTheKeyItWrites) {
  const std::string key = VoteStore::Key(consensus::ConsensusMsg::kCommit, 3, 9);
  auto v = VoteStore::Decode(key, Bytes(32, 'a'));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, (consensus::Vote{consensus::ConsensusMsg::kCommit, 3, 9, Bytes(32, 'a')}));
}

TEST(VoteStore, RefusesAMalformedStoredKey) {
  EXPECT_EQ(VoteStore::Decode("vote/x", Bytes(32, 'a')).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(VoteStore::Decode("other/", Bytes(32, 'a')).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace provledger::node
