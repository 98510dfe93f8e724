// CheckCertifiedBlock (ledger/chain_check.h): what makes a certified block the next block of a
// chain, the one check the store, the node and ledgerctl share.
#include "ledger/chain_check.h"

#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "gtest/gtest.h"
#include "ledger/block_header.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"

namespace provledger::ledger {
namespace {

constexpr char kChain[] = "pl-test";

class ChainCheckTest : public ::testing::Test {
 protected:
  ChainCheckTest() : key_(PrivateKey::Generate()) {
    genesis_.chain_id = kChain;
    genesis_.validators.push_back(Validator{"v0", key_.PublicKey(), "127.0.0.1:1"});
    ids_ = {RecordId("record one"), RecordId("record two")};
    prev_ = Bytes(32, '\x07');
  }

  // Block 5 after prev_ holding ids_, certified by `signer` over its commit digest (view 0).
  void Make(const PrivateKey& signer) {
    BlockHeader h;
    h.chain_id = kChain;
    h.height = 5;
    h.prev = prev_;
    h.root = MerkleRoot(ids_);
    h.record_count = ids_.size();
    h.timestamp = 1700000000000;
    h.view = 0;
    h.proposer = "v0";
    header_ = EncodeHeader(h);
    cert_.set_view(0);
    cert_.set_digest(CommitDigest(kChain, 5, 0, HeaderHash(header_)));
    auto sig = signer.Sign(cert_.digest());
    ASSERT_TRUE(sig.ok());
    auto* s = cert_.add_signatures();
    s->set_validator(0);
    s->set_signature(*sig);
  }

  Status Check(const ChainLink& at, const Genesis* genesis, CheckedHeader* out = nullptr) {
    return CheckCertifiedBlock(at, header_, &ids_, cert_, genesis, out);
  }

  PrivateKey key_;
  Genesis genesis_;
  std::vector<Bytes> ids_;
  Bytes prev_;
  Bytes header_;
  provledger::v1::CommitCertificate cert_;
};

TEST_F(ChainCheckTest, AcceptsACertifiedBlockThatLinksToItsParent) {
  Make(key_);
  CheckedHeader out;
  Status s = Check({kChain, 5, prev_}, &genesis_, &out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out.header.height, 5u);
  EXPECT_EQ(out.header_hash, HeaderHash(header_));
}

TEST_F(ChainCheckTest, RefusesABlockThatDoesNotLinkToTheGivenParent) {
  Make(key_);
  EXPECT_EQ(Check({kChain, 5, Bytes(32, '\0')}, &genesis_).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Check({kChain, 5, std::nullopt}, &genesis_).ok());  // no parent to link to
}

TEST_F(ChainCheckTest, RefusesABlockOfAnotherHeightOrChain) {
  Make(key_);
  EXPECT_EQ(Check({kChain, 6, prev_}, &genesis_).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Check({"other", 5, prev_}, &genesis_).code(), StatusCode::kFailedPrecondition);
}

TEST_F(ChainCheckTest, RefusesRecordsTheRootOrCountDoesNotCover) {
  Make(key_);
  ids_.pop_back();
  EXPECT_EQ(Check({kChain, 5, prev_}, nullptr).code(), StatusCode::kFailedPrecondition);
  ids_.push_back(RecordId("another record"));
  EXPECT_EQ(Check({kChain, 5, prev_}, nullptr).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckCertifiedBlock({kChain, 5, prev_}, header_, nullptr, cert_, &genesis_, nullptr)
                  .ok());  // records not given: not checked
}

TEST_F(ChainCheckTest, WithTheGenesisRefusesACertificateItsValidatorsDidNotSign) {
  Make(PrivateKey::Generate());
  EXPECT_TRUE(Check({kChain, 5, prev_}, nullptr).ok());  // the digest alone is right
  EXPECT_EQ(Check({kChain, 5, prev_}, &genesis_).code(), StatusCode::kUnauthenticated);
}

TEST_F(ChainCheckTest, RefusesACertificateOverAnotherDigest) {
  Make(key_);
  cert_.set_digest(Bytes(32, '\x01'));
  EXPECT_EQ(Check({kChain, 5, prev_}, nullptr).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Check({kChain, 5, prev_}, &genesis_).code(), StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace provledger::ledger
