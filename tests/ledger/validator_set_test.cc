// Validator-set changes (docs/VALIDATOR_SET.md): ValidatorSet quorum and digest, the
// SetValidators op in the registry (checks, base digest, rows), the schedule (E(h), SetAt),
// certificate checks against the set at each height, and proofs carrying validator_changes.
#include "ledger/validator_set.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/chain_check.h"
#include "ledger/proof_document_verifier.h"
#include "ledger/proof_json.h"
#include "ledger/registry.h"
#include "ledger/store/block_store.h"
#include "ledger/validator_epoch.h"
#include "ledger/validator_schedule.h"
#include "tests/ledger/validator_test_chain.h"

namespace provledger::ledger {
namespace {

using provledger::testing::ValidatorTestChain;

std::vector<Validator> Members(ValidatorTestChain& chain, size_t n, size_t first = 0) {
  std::vector<Validator> out;
  for (size_t i = first; i < first + n; ++i) {
    out.push_back(chain.NewValidator("x" + std::to_string(i), static_cast<uint32_t>(i)));
  }
  return out;
}

TEST(ValidatorSetTest, QuorumForAnyN) {
  ValidatorTestChain chain("vs", 1);
  // N: f, q.   q = floor((N+f)/2)+1; 2f+1 when N = 3f+1.
  const size_t want[][3] = {{1, 0, 1}, {2, 0, 2}, {3, 0, 2}, {4, 1, 3}, {5, 1, 4},
                            {6, 1, 4}, {7, 2, 5}, {8, 2, 6}, {9, 2, 6}, {10, 3, 7}};
  for (const auto& w : want) {
    auto set = ValidatorSet::FromMembers(Members(chain, w[0]));
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_EQ(set->f(), w[1]) << "N=" << w[0];
    EXPECT_EQ(set->quorum(), w[2]) << "N=" << w[0];
    EXPECT_EQ(set->weak(), w[1] + 1);
    // Two quorums meet in more than f members.
    EXPECT_GT(2 * set->quorum(), set->n() + set->f()) << "N=" << w[0];
  }
}

TEST(ValidatorSetTest, DigestIsTheDocumentedLayout) {
  ValidatorTestChain chain("vs", 4);
  const ValidatorSet set = ValidatorSet::FromGenesis(chain.genesis());
  Bytes m = "pl/v1/validators";
  AppendU32(&m, 4);
  for (const auto& v : chain.genesis().validators) {
    AppendLp(&m, v.id);
    m += v.pubkey;
    AppendLp(&m, v.address);
  }
  EXPECT_EQ(set.Digest(), Sha256(m));
  // Order matters: the primary order is part of the set.
  std::vector<Validator> swapped = chain.genesis().validators;
  std::swap(swapped[0], swapped[1]);
  EXPECT_NE(ValidatorSet::FromMembers(swapped)->Digest(), set.Digest());
}

TEST(ValidatorSetTest, RefusesMalformedSets) {
  ValidatorTestChain chain("vs", 4);
  std::vector<Validator> good = chain.genesis().validators;
  EXPECT_TRUE(ValidatorSet::FromMembers(good).ok());
  EXPECT_FALSE(ValidatorSet::FromMembers({}).ok());
  EXPECT_FALSE(ValidatorSet::FromMembers(Members(chain, 101)).ok());
  EXPECT_TRUE(ValidatorSet::FromMembers(Members(chain, 100)).ok());
  auto bad = good;
  bad[1].id = good[0].id;
  EXPECT_NE(ValidatorSet::FromMembers(bad).status().message().find("listed twice"),
            std::string::npos);
  bad = good;
  bad[1].pubkey = good[0].pubkey;
  EXPECT_NE(ValidatorSet::FromMembers(bad).status().message().find("reuses"), std::string::npos);
  bad = good;
  bad[2].pubkey[0] = 0x04;
  EXPECT_FALSE(ValidatorSet::FromMembers(bad).ok());
  bad = good;
  bad[2].pubkey.pop_back();
  EXPECT_FALSE(ValidatorSet::FromMembers(bad).ok());
  bad = good;
  bad[3].id = "bad id";
  EXPECT_FALSE(ValidatorSet::FromMembers(bad).ok());
  for (const char* addr :
       {"", "host", ":80", "host:", "host:0", "host:65536", "host:8x", "a b:1"}) {
    bad = good;
    bad[3].address = addr;
    EXPECT_EQ(ValidatorSet::FromMembers(bad).status().code(), StatusCode::kInvalidArgument) << addr;
  }
}

TEST(ValidatorEpochTest, EndIsACheckpointBoundaryAtLeast49Above) {
  for (uint64_t h = 0; h < 1000; ++h) {
    const uint64_t e = EpochEndFor(h);
    EXPECT_EQ(e % 16, 0u);
    EXPECT_GE(e - h, 49u) << h;
    EXPECT_LE(e - h, 64u) << h;
  }
  EXPECT_EQ(EpochEndFor(2), 64u);
  EXPECT_EQ(EpochEndFor(15), 64u);
  EXPECT_EQ(EpochEndFor(16), 80u);
}

provledger::v1::RegistryOp SetOp(const ValidatorTestChain& chain, const Bytes& base,
                                 const std::vector<Validator>& members) {
  provledger::v1::RegistryOp op;
  op.set_chain_id(chain.genesis().chain_id);
  op.set_nonce(9);
  op.mutable_set_validators()->set_base_set_digest(base);
  for (const auto& v : members) {
    auto* e = op.mutable_set_validators()->add_validators();
    e->set_id(v.id);
    e->set_pubkey(v.pubkey);
    e->set_address(v.address);
  }
  return op;
}

TEST(RegistryValidatorsTest, VerifyRegistryTxChecksTheSet) {
  ValidatorTestChain chain("vs", 4);
  const Bytes base = ValidatorSet::FromGenesis(chain.genesis()).Digest();
  auto members = chain.genesis().validators;
  auto sign = [&](const provledger::v1::RegistryOp& op) {
    return *SignRegistryTx(chain.genesis().chain_id, op, chain.admin().secret());
  };
  EXPECT_TRUE(VerifyRegistryTx(chain.genesis(), sign(SetOp(chain, base, members))).ok());
  EXPECT_EQ(VerifyRegistryTx(chain.genesis(), sign(SetOp(chain, base.substr(1), members)))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyRegistryTx(chain.genesis(), sign(SetOp(chain, base, {}))).status().code(),
            StatusCode::kInvalidArgument);
  auto dup = members;
  dup.push_back(members[0]);
  EXPECT_EQ(VerifyRegistryTx(chain.genesis(), sign(SetOp(chain, base, dup))).status().code(),
            StatusCode::kInvalidArgument);
  auto noport = members;
  noport[0].address = "localhost";
  EXPECT_EQ(VerifyRegistryTx(chain.genesis(), sign(SetOp(chain, base, noport))).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(RegistryValidatorsTest, BaseMustBeTheLatestSetAndApplyPersistsRows) {
  ValidatorTestChain chain("vs", 4);
  auto snap = *RegistrySnapshot::FromRows({}, &chain.genesis());
  const Bytes g = ValidatorSet::FromGenesis(chain.genesis()).Digest();
  std::vector<Validator> seven = chain.genesis().validators;
  for (int i = 4; i < 7; ++i) seven.push_back(chain.NewValidator("v" + std::to_string(i), i));
  const auto add = SetOp(chain, g, seven);
  ASSERT_TRUE(snap->CheckOp(add).ok());
  std::vector<std::pair<Bytes, Bytes>> rows;
  auto after = snap->Apply(add, 5, &rows);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].first.rfind(kValidatorSetRowPrefix, 0), 0u);
  ASSERT_EQ(after->schedule()->changes().size(), 1u);
  EXPECT_EQ(after->schedule()->changes()[0].end, 64u);
  EXPECT_EQ(after->schedule()->SetAt(64).n(), 4u);
  EXPECT_EQ(after->schedule()->SetAt(65).n(), 7u);
  ASSERT_NE(after->schedule()->PendingAfter(5), nullptr);
  EXPECT_EQ(after->schedule()->PendingAfter(64), nullptr);

  // The same base again (a racing change): refused naming both digests, ignored if it commits.
  const auto racing = SetOp(chain, g, chain.genesis().validators);
  Status s = after->CheckOp(racing);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(ShortHex(g)), std::string::npos) << s.ToString();
  const Bytes seven_digest = after->schedule()->Latest().Digest();
  EXPECT_NE(s.message().find(ShortHex(seven_digest)), std::string::npos) << s.ToString();
  std::vector<std::pair<Bytes, Bytes>> none;
  auto ignored = after->Apply(racing, 6, &none);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(ignored->schedule()->changes().size(), 1u);

  // Based on the scheduled set: accepted (same E: the last committed wins).
  std::vector<Validator> six(seven.begin() + 1, seven.end());
  const auto remove = SetOp(chain, seven_digest, six);
  ASSERT_TRUE(after->CheckOp(remove).ok());
  auto both = after->Apply(remove, 7, &rows);
  EXPECT_EQ(both->schedule()->SetAt(65).n(), 6u);
  EXPECT_EQ(both->schedule()->SetAt(64).n(), 4u);

  // The rows give the same schedule back; without a genesis the snapshot keeps none.
  auto loaded = *RegistrySnapshot::FromRows(rows, &chain.genesis());
  EXPECT_TRUE(loaded->schedule()->SameChanges(*both->schedule()));
  auto blind = *RegistrySnapshot::FromRows(rows);
  EXPECT_EQ(blind->schedule(), nullptr);
  EXPECT_EQ(blind->CheckOp(remove).code(), StatusCode::kFailedPrecondition);
}

// A chain 4 -> 7 (v4..v6 added, committed at 2, in force above 64) -> 6 (v0 removed and v1
// rekeyed, committed at 70, in force above 128); the record proven is at 130.
class ValidatorProofTest : public ::testing::Test {
 protected:
  ValidatorProofTest() : chain_("vproof", 4) {}
  void SetUp() override {
    chain_.AddBlock({chain_.FillerRecord()});
    std::vector<Validator> seven = chain_.genesis().validators;
    for (int i = 4; i < 7; ++i) seven.push_back(chain_.NewValidator("v" + std::to_string(i), i));
    chain_.AddBlock({chain_.FillerRecord(), chain_.SetValidatorsRecord(seven)});
    chain_.FillTo(69);
    std::vector<Validator> six(seven.begin() + 1, seven.end());
    six[0].pubkey = chain_.NewKey("v1");
    chain_.AddBlock({chain_.SetValidatorsRecord(six)});
    chain_.FillTo(129);
    chain_.AddBlock({chain_.FillerRecord(), chain_.FillerRecord(), chain_.FillerRecord()});
    ASSERT_EQ(chain_.schedule().changes().size(), 2u);
  }

  JsonValue ProofJson(uint64_t height, uint32_t index) {
    JsonValue pj = *ProofToJson(chain_.schedule().SetAt(height), chain_.ProofOf(height, index));
    JsonValue changes = JsonValue::Array();
    for (const auto& c : chain_.schedule().ChangesInForceAt(height)) {
      // The change is the last record of its block.
      const auto block = chain_.BlockAt(c.committed_height);
      const uint32_t idx = static_cast<uint32_t>(block.records_size() - 1);
      changes.Push(*ProofToJson(chain_.schedule().SetAt(c.committed_height),
                                chain_.ProofOf(c.committed_height, idx)));
    }
    if (!changes.items().empty()) pj.Set("validator_changes", changes);
    return pj;
  }

  static JsonValue With(const JsonValue& obj, const std::string& key, JsonValue v) {
    JsonValue out = obj;
    out.Set(key, std::move(v));
    return out;
  }

  ValidatorTestChain chain_;
};

TEST_F(ValidatorProofTest, ProofAcrossTwoChangesVerifies) {
  const JsonValue pj = ProofJson(130, 1);
  ASSERT_NE(pj.Find("validator_changes"), nullptr);
  EXPECT_EQ(pj.Find("validator_changes")->items().size(), 2u);
  auto v = VerifyProofJson(chain_.genesis(), pj);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->validator_changes, 2u);
  EXPECT_EQ(v->signatures, 4u);  // quorum of 6
  // A record before any change is in force: today's proof, no key, verifies as before.
  const JsonValue early = ProofJson(64, 0);
  EXPECT_EQ(early.Find("validator_changes"), nullptr);
  EXPECT_TRUE(VerifyProofJson(chain_.genesis(), early).ok());
  // Between the changes: one.
  const JsonValue mid = ProofJson(100, 0);
  EXPECT_EQ(mid.Find("validator_changes")->items().size(), 1u);
  EXPECT_TRUE(VerifyProofJson(chain_.genesis(), mid).ok());
}

TEST_F(ValidatorProofTest, TamperedChangeRecordIsRejected) {
  const JsonValue pj = ProofJson(130, 1);
  std::vector<JsonValue> changes = pj.Find("validator_changes")->items();
  std::string rec = changes[1].Find("record")->string_value();
  rec[rec.size() - 10] = rec[rec.size() - 10] == '0' ? '1' : '0';
  changes[1] = With(changes[1], "record", JsonValue::String(rec));
  auto v =
      VerifyProofJson(chain_.genesis(), With(pj, "validator_changes", JsonValue::Array(changes)));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("validator_changes[1]"), std::string::npos)
      << v.status().ToString();
}

TEST_F(ValidatorProofTest, MissingChangeIsRejected) {
  const JsonValue pj = ProofJson(130, 1);
  const std::vector<JsonValue> changes = pj.Find("validator_changes")->items();
  // The first one missing: the second is not based on the genesis set.
  auto v = VerifyProofJson(chain_.genesis(),
                           With(pj, "validator_changes", JsonValue::Array({changes[1]})));
  EXPECT_FALSE(v.ok());
  // The last one missing: the record's certificate is not the 7-set's.
  v = VerifyProofJson(chain_.genesis(),
                      With(pj, "validator_changes", JsonValue::Array({changes[0]})));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kUnauthenticated) << v.status().ToString();
  // Both missing (the key dropped): the genesis set did not sign block 130.
  JsonValue stripped = JsonValue::Object();
  for (const auto& [k, val] : pj.members()) {
    if (k != "validator_changes") stripped.Set(k, val);
  }
  EXPECT_EQ(VerifyProofJson(chain_.genesis(), stripped).status().code(),
            StatusCode::kUnauthenticated);
  // Out of order.
  v = VerifyProofJson(chain_.genesis(),
                      With(pj, "validator_changes", JsonValue::Array({changes[1], changes[0]})));
  EXPECT_FALSE(v.ok());
}

TEST_F(ValidatorProofTest, NotARegistryChangeIsRejected) {
  const JsonValue pj = ProofJson(130, 1);
  std::vector<JsonValue> changes = pj.Find("validator_changes")->items();
  // A genuine, certified record of block 70... that is not the change (a filler of block 2).
  changes[0] = *ProofToJson(chain_.schedule().SetAt(2), chain_.ProofOf(2, 0));
  auto v =
      VerifyProofJson(chain_.genesis(), With(pj, "validator_changes", JsonValue::Array(changes)));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("not a validator-set change"), std::string::npos)
      << v.status().ToString();
}

TEST(ValidatorProofForgeryTest, ChangeCertifiedByTheWrongSetIsRejected) {
  ValidatorTestChain chain("vforge", 4);
  std::vector<Validator> seven = chain.genesis().validators;
  for (int i = 4; i < 7; ++i) seven.push_back(chain.NewValidator("v" + std::to_string(i), i));
  chain.AddBlock({chain.SetValidatorsRecord(seven)});  // h=1, E=64
  chain.FillTo(69);
  // Block 70 holds the second change but is signed by the genesis set, not the 7-set.
  std::vector<Validator> six(seven.begin() + 1, seven.end());
  const ValidatorSet genesis_set = ValidatorSet::FromGenesis(chain.genesis());
  chain.AddBlock({chain.SetValidatorsRecord(six)}, &genesis_set);
  chain.FillTo(130);
  JsonValue pj = *ProofToJson(chain.schedule().SetAt(130), chain.ProofOf(130, 0));
  JsonValue changes = JsonValue::Array();
  changes.Push(*ProofToJson(chain.schedule().SetAt(1), chain.ProofOf(1, 0)));
  changes.Push(*ProofToJson(genesis_set, chain.ProofOf(70, 0)));
  pj.Set("validator_changes", changes);
  auto v = VerifyProofJson(chain.genesis(), pj);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("validator_changes[1]: step 8"), std::string::npos)
      << v.status().ToString();
  // And the chain check refuses block 70 against the set in force there.
  const auto b70 = chain.BlockAt(70);
  Status s =
      CheckCertifiedBlockWithSet(ChainLink{"vforge", 70, std::nullopt}, b70.header(), nullptr,
                                 b70.certificate(), &chain.schedule().SetAt(70), nullptr);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
}

TEST(ValidatorProofForgeryTest, NewSetUsedBeforeItsEpochIsRejected) {
  ValidatorTestChain chain("vearly", 4);
  std::vector<Validator> seven = chain.genesis().validators;
  for (int i = 4; i < 7; ++i) seven.push_back(chain.NewValidator("v" + std::to_string(i), i));
  chain.AddBlock({chain.SetValidatorsRecord(seven)});  // h=1: in force above E = 64, not at 64
  chain.FillTo(63);
  auto seven_set = *ValidatorSet::FromMembers(seven);
  // Block 64 signed by v0..v4 of the new set (v4 is no genesis validator): one block too early.
  chain.AddBlock({chain.FillerRecord()}, &seven_set);
  JsonValue pj = *ProofToJson(seven_set, chain.ProofOf(64, 0));
  // With the change listed: it is not in force at 64 (wrong E).
  JsonValue changes = JsonValue::Array();
  changes.Push(*ProofToJson(chain.schedule().SetAt(1), chain.ProofOf(1, 0)));
  JsonValue with = pj;
  with.Set("validator_changes", changes);
  auto v = VerifyProofJson(chain.genesis(), with);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("in force only above 64"), std::string::npos)
      << v.status().ToString();
  // Without it: the genesis set knows no v4.
  v = VerifyProofJson(chain.genesis(), pj);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("step 8"), std::string::npos) << v.status().ToString();
}

std::unique_ptr<BlockStore> OpenStore(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  StoreOptions o;
  o.path = std::string(tmp != nullptr ? tmp : "/tmp") + "/vset_" + name;
  std::filesystem::remove_all(o.path);
  auto s = BlockStore::Open(o, name);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(ValidatorStoreTest, VerifyChainChecksEachBlockAgainstTheSetAtItsHeight) {
  auto store = OpenStore("vstore");
  ASSERT_NE(store, nullptr);
  ValidatorTestChain chain("vstore", 4, 3, store.get());
  std::vector<Validator> seven = chain.genesis().validators;
  for (int i = 4; i < 7; ++i) seven.push_back(chain.NewValidator("v" + std::to_string(i), i));
  chain.AddBlock({chain.SetValidatorsRecord(seven)});
  chain.FillTo(70);
  Status s = store->VerifyChain(&chain.genesis(), nullptr);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // The registry rows in the store give the node the same schedule.
  auto rows = *store->RegistryScan("");
  auto snap = *RegistrySnapshot::FromRows(rows, &chain.genesis());
  EXPECT_TRUE(snap->schedule()->SameChanges(chain.schedule()));
  EXPECT_EQ(snap->schedule()->SetAt(70).n(), 7u);
  // Checked against the genesis set alone, block 65 (signed by v0..v4) fails.
  const auto b65 = chain.BlockAt(65);
  const ValidatorSet g = ValidatorSet::FromGenesis(chain.genesis());
  EXPECT_FALSE(CheckCertifiedBlockWithSet(ChainLink{"vstore", 65, std::nullopt}, b65.header(),
                                          nullptr, b65.certificate(), &g, nullptr)
                   .ok());
}

TEST(ValidatorStoreTest, VerifyChainRejectsABlockSignedByTheOldSetAfterTheChange) {
  auto store = OpenStore("vstale");
  ASSERT_NE(store, nullptr);
  ValidatorTestChain chain("vstale", 4, 4, store.get());
  std::vector<Validator> seven = chain.genesis().validators;
  for (int i = 4; i < 7; ++i) seven.push_back(chain.NewValidator("v" + std::to_string(i), i));
  chain.AddBlock({chain.SetValidatorsRecord(seven)});
  chain.FillTo(64);
  const ValidatorSet g = ValidatorSet::FromGenesis(chain.genesis());
  chain.AddBlock({chain.FillerRecord()}, &g);  // 65: the old set's 3 signatures, 5 needed
  Status s = store->VerifyChain(&chain.genesis(), nullptr);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("block 65"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace provledger::ledger
