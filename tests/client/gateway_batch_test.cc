#include "client/gateway_batch.h"

#include <gtest/gtest.h>

#include <vector>

#include "ledger/block_header.h"
#include "ledger/record.h"

namespace provledger::client {
namespace {

TEST(SignGatewayBatch, SignsTheBatchDigestOfItsRecordsInOrder) {
  PrivateKey key = PrivateKey::Generate();
  v1::SignedBatch batch;
  batch.add_records("record-one");
  batch.add_payloads("p1");
  batch.add_records("record-two");
  batch.add_payloads("p2");
  ASSERT_TRUE(SignGatewayBatch("chain-1", "gw-1", key, &batch).ok());
  EXPECT_EQ(batch.gateway(), "gw-1");
  EXPECT_EQ(batch.records_size(), 2);
  const Bytes digest = ledger::BatchDigest(
      "chain-1", "gw-1", {ledger::RecordId("record-one"), ledger::RecordId("record-two")});
  EXPECT_TRUE(VerifySignature(key.PublicKey(), digest, batch.signature()).ok());
  const Bytes swapped = ledger::BatchDigest(
      "chain-1", "gw-1", {ledger::RecordId("record-two"), ledger::RecordId("record-one")});
  EXPECT_FALSE(VerifySignature(key.PublicKey(), swapped, batch.signature()).ok());
}

}  // namespace
}  // namespace provledger::client
