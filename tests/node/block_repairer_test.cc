// CheckPeerBlock (node/block_repairer.h): what a node accepts from a peer as block `h`, for
// state transfer and for repairing a damaged block. A one-validator genesis (quorum 1).
#include "node/block_repairer.h"

#include <gtest/gtest.h>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/record.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

class CheckPeerBlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis_.chain_id = "t";
    genesis_.validators.push_back({"v0", validator_.PublicKey(), "127.0.0.1:1"});
    genesis_.admins.push_back(validator_.PublicKey());
  }

  Bytes Reading(uint64_t seq, const Bytes& payload) {
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kReading;
    auto& r = rec.reading;
    r.device = "dev-1";
    r.item = "temp";
    r.seq = seq;
    r.ts = 1700000000000;
    r.payload_hash = Sha256(payload);
    r.auth = ledger::kAuthMac;
    r.gateway = "gw-1";
    r.received = 1700000000001;
    return ledger::EncodeRecord(rec);
  }

  // Block `height` holding two readings with payloads, certified by `signer`.
  v1::Block MakeBlock(uint64_t height, const PrivateKey& signer) {
    v1::Block b;
    const Bytes r1 = Reading(1, "21.5"), r2 = Reading(2, "22.0");
    ledger::BlockHeader h;
    h.chain_id = "t";
    h.height = height;
    h.prev = Bytes(32, '\x07');
    h.root = Bytes(32, '\x01');  // the root is the store's to check, not CheckPeerBlock's
    h.record_count = 2;
    h.timestamp = 1700000000000;
    h.proposer = "v0";
    b.set_header(ledger::EncodeHeader(h));
    b.add_records(r1);
    b.add_records(r2);
    b.add_payloads("21.5");
    b.add_payloads("22.0");
    const Bytes digest = ledger::CommitDigest("t", height, 0, ledger::HeaderHash(b.header()));
    b.mutable_certificate()->set_view(0);
    b.mutable_certificate()->set_digest(digest);
    auto* s = b.mutable_certificate()->add_signatures();
    s->set_validator(0);
    s->set_signature(*signer.Sign(digest));
    return b;
  }

  PrivateKey validator_ = PrivateKey::Generate();
  ledger::Genesis genesis_;
};

TEST_F(CheckPeerBlockTest, AcceptsACertifiedBlockWithItsPayloads) {
  const v1::Block b = MakeBlock(5, validator_);
  auto pb = CheckPeerBlock(genesis_, 5, b);
  ASSERT_TRUE(pb.ok()) << pb.status().ToString();
  EXPECT_EQ(pb->header.height, 5u);
  EXPECT_EQ(pb->hash, ledger::HeaderHash(b.header()));
  EXPECT_EQ(pb->block.records.size(), 2u);
  EXPECT_EQ(pb->records.size(), 2u);
  ASSERT_EQ(pb->block.payloads.size(), 2u);
  EXPECT_EQ(pb->block.payloads[1], Bytes("22.0"));
}

TEST_F(CheckPeerBlockTest, RefusesABlockForAnotherHeight) {
  auto pb = CheckPeerBlock(genesis_, 4, MakeBlock(5, validator_));
  EXPECT_EQ(pb.status().code(), StatusCode::kInvalidArgument) << pb.status().ToString();
}

TEST_F(CheckPeerBlockTest, RefusesACertificateSignedByAKeyOutsideTheGenesis) {
  auto pb = CheckPeerBlock(genesis_, 5, MakeBlock(5, PrivateKey::Generate()));
  EXPECT_EQ(pb.status().code(), StatusCode::kUnauthenticated) << pb.status().ToString();
}

TEST_F(CheckPeerBlockTest, RefusesAHeaderTheCertificateDoesNotCover) {
  v1::Block b = MakeBlock(5, validator_);
  b.mutable_header()->back() ^= 0x01;
  EXPECT_FALSE(CheckPeerBlock(genesis_, 5, b).ok());
}

TEST_F(CheckPeerBlockTest, DropsAPayloadThatDoesNotHashToItsRecord) {
  v1::Block b = MakeBlock(5, validator_);
  b.set_payloads(0, "99.9");
  auto pb = CheckPeerBlock(genesis_, 5, b);
  ASSERT_TRUE(pb.ok()) << pb.status().ToString();
  ASSERT_EQ(pb->block.payloads.size(), 2u);
  EXPECT_FALSE(pb->block.payloads[0].has_value());
  EXPECT_TRUE(pb->block.payloads[1].has_value());
}

}  // namespace
}  // namespace provledger::node
