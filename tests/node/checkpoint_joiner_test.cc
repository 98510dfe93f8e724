// VerifyStateAttestation (node/checkpoint_joiner.h): a joining node counts an attestation
// only when a genesis validator signed exactly that (chain, height, header hash, state
// digest). ParseCatchUpMode: the flag's three words.
#include "node/checkpoint_joiner.h"

#include <gtest/gtest.h>

#include "common/ecdsa.h"
#include "ledger/state_digest.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

class VerifyStateAttestationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis_.chain_id = "t";
    genesis_.validators.push_back({"v0", v0_.PublicKey(), "127.0.0.1:1"});
    genesis_.validators.push_back({"v1", v1_.PublicKey(), "127.0.0.1:2"});
  }
  v1::StateAttestation Make(const std::string& id, const PrivateKey& key) {
    v1::StateAttestation a;
    a.set_height(256);
    a.set_header_hash(Bytes(32, 'h'));
    a.set_state_digest(Bytes(32, 's'));
    a.set_rows(10);
    a.set_validator(id);
    a.set_signature(
        *key.Sign(ledger::StateAttestationDigest("t", 256, a.header_hash(), a.state_digest())));
    return a;
  }
  PrivateKey v0_ = PrivateKey::Generate(), v1_ = PrivateKey::Generate();
  ledger::Genesis genesis_;
};

TEST_F(VerifyStateAttestationTest, AcceptsAValidatorsSignatureAndNamesItsIndex) {
  auto idx = VerifyStateAttestation(genesis_, Make("v1", v1_));
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  EXPECT_EQ(*idx, 1u);
}

TEST_F(VerifyStateAttestationTest, RefusesAnotherStateDigestUnderTheSameSignature) {
  v1::StateAttestation a = Make("v0", v0_);
  a.set_state_digest(Bytes(32, 't'));
  EXPECT_EQ(VerifyStateAttestation(genesis_, a).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(VerifyStateAttestationTest, RefusesAnotherHeight) {
  v1::StateAttestation a = Make("v0", v0_);
  a.set_height(272);
  EXPECT_EQ(VerifyStateAttestation(genesis_, a).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(VerifyStateAttestationTest, RefusesASignatureUnderAnotherValidatorsName) {
  EXPECT_FALSE(VerifyStateAttestation(genesis_, Make("v0", v1_)).ok());
}

TEST_F(VerifyStateAttestationTest, RefusesASignerOutsideTheGenesis) {
  EXPECT_EQ(VerifyStateAttestation(genesis_, Make("v9", PrivateKey::Generate())).status().code(),
            StatusCode::kUnauthenticated);
}

TEST(ParseCatchUpMode, KnowsThreeWords) {
  EXPECT_EQ(*ParseCatchUpMode("auto"), CatchUpMode::kAuto);
  EXPECT_EQ(*ParseCatchUpMode("blocks"), CatchUpMode::kBlocks);
  EXPECT_EQ(*ParseCatchUpMode("checkpoint"), CatchUpMode::kCheckpoint);
  EXPECT_EQ(ParseCatchUpMode("snapshot").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger::node
