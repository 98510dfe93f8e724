// Runtime policies in the registry (ledger/registry.h, docs/INTEGRITY.md): their checks,
// versions strictly increasing per name, bindings to devices and models, and the state
// rebuilt from the rows Apply() emitted (what every replica derives from the chain).
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/ecdsa.h"
#include "gtest/gtest.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {
namespace {

using provledger::v1::RegistryOp;

constexpr char kChain[] = "pl-test";
constexpr char kAdminSecret[] = "9e5095f99c06eb586a0f8fad7dcde14cd306af47f8586755b6937c3dd4e8c869";
const std::string kHashA(64, 'a');
const std::string kHashB(64, 'b');

PrivateKey Key(const char* hex) {
  StatusOr<PrivateKey> k = PrivateKey::FromHex(hex);
  if (!k.ok()) std::abort();
  return *k;
}

Genesis TestGenesis() {
  Genesis g;
  g.chain_id = kChain;
  g.created = 1700000000000;
  g.admins.push_back(Key(kAdminSecret).PublicKey());
  return g;
}

RegistryOp PolicyOp(const std::string& name, uint64_t version,
                    std::vector<std::pair<std::string, std::string>> digests,
                    std::vector<std::string> excludes = {}) {
  RegistryOp op;
  op.set_chain_id(kChain);
  auto* p = op.mutable_register_policy()->mutable_policy();
  p->set_name(name);
  p->set_version(version);
  for (auto& [path, hash] : digests) {
    auto* d = p->add_digests();
    d->set_path(path);
    d->add_hashes(hash);
  }
  for (auto& e : excludes) p->add_excludes(e);
  return op;
}

RegistryOp BindOp(const std::string& policy, const std::string& device, const std::string& model) {
  RegistryOp op;
  op.set_chain_id(kChain);
  op.mutable_bind_policy()->set_policy(policy);
  op.mutable_bind_policy()->set_device(device);
  op.mutable_bind_policy()->set_model(model);
  return op;
}

StatusCode VerifyCode(const RegistryOp& op) {
  StatusOr<Bytes> tx = SignRegistryTx(kChain, op, Key(kAdminSecret).secret());
  EXPECT_TRUE(tx.ok());
  return VerifyRegistryTx(TestGenesis(), *tx).status().code();
}

TEST(RegistryPolicyTx, WellFormedPolicyAndBindingVerify) {
  EXPECT_EQ(VerifyCode(PolicyOp("base", 1, {{"/usr/bin/bash", kHashA}}, {"/tmp/.*"})),
            StatusCode::kOk);
  EXPECT_EQ(VerifyCode(BindOp("base", "dev-1", "")), StatusCode::kOk);
  EXPECT_EQ(VerifyCode(BindOp("base", "", "t1000")), StatusCode::kOk);
  EXPECT_EQ(VerifyCode(BindOp("", "dev-1", "")), StatusCode::kOk);  // unbinds
}

TEST(RegistryPolicyTx, MalformedPoliciesAreInvalidArgument) {
  EXPECT_EQ(VerifyCode(PolicyOp("bad name", 1, {})), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(PolicyOp("base", 0, {})), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(PolicyOp("base", 1, {{"/a", "ABCD"}})), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(PolicyOp("base", 1, {{"/a", "abc"}})), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(PolicyOp("base", 1, {{"/a", "sha256:" + kHashA}})),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(PolicyOp("base", 1, {{"/a", kHashA}, {"/a", kHashB}})),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(PolicyOp("base", 1, {{"", kHashA}})), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(PolicyOp("base", 1, {}, {"/tmp/(unclosed"})), StatusCode::kInvalidArgument);
}

TEST(RegistryPolicyTx, BindingNamesExactlyOneTarget) {
  EXPECT_EQ(VerifyCode(BindOp("base", "dev-1", "t1000")), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(BindOp("base", "", "")), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(BindOp("base", "dev/1", "")), StatusCode::kInvalidArgument);
}

std::shared_ptr<const RegistrySnapshot> Empty() {
  auto s = RegistrySnapshot::FromRows({});
  EXPECT_TRUE(s.ok());
  return *s;
}

TEST(RegistryPolicySnapshot, VersionsMustIncreasePerName) {
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto s = Empty()->Apply(PolicyOp("base", 2, {{"/a", kHashA}}), 5, &puts);
  ASSERT_NE(s->Policy("base"), nullptr);
  EXPECT_EQ(s->Policy("base")->version(), 2u);
  EXPECT_EQ(s->Policy("base")->registered_height(), 5u);
  // Same or lower version: refused at submission, ignored when applied.
  EXPECT_EQ(s->CheckOp(PolicyOp("base", 2, {{"/a", kHashB}})).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->CheckOp(PolicyOp("base", 1, {{"/a", kHashB}})).code(),
            StatusCode::kFailedPrecondition);
  const size_t rows = puts.size();
  auto same = s->Apply(PolicyOp("base", 1, {{"/a", kHashB}}), 6, &puts);
  EXPECT_EQ(puts.size(), rows);
  EXPECT_EQ(same->Policy("base")->digests(0).hashes(0), kHashA);
  // A higher version replaces it; another name is independent.
  EXPECT_TRUE(s->CheckOp(PolicyOp("base", 3, {})).ok());
  EXPECT_TRUE(s->CheckOp(PolicyOp("other", 1, {})).ok());
  auto up = s->Apply(PolicyOp("base", 3, {{"/a", kHashB}}), 7, &puts);
  EXPECT_EQ(up->Policy("base")->version(), 3u);
  EXPECT_EQ(up->Policy("base")->digests(0).hashes(0), kHashB);
}

TEST(RegistryPolicySnapshot, BindingToAnUnknownPolicyIsRefused) {
  std::vector<std::pair<Bytes, Bytes>> puts;
  EXPECT_EQ(Empty()->CheckOp(BindOp("base", "dev-1", "")).code(), StatusCode::kFailedPrecondition);
  auto s = Empty()->Apply(BindOp("base", "dev-1", ""), 3, &puts);
  EXPECT_TRUE(s->device_bindings().empty());
  EXPECT_TRUE(puts.empty());
}

TEST(RegistryPolicySnapshot, BindingsReplaceAndUnbind) {
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto s = Empty()->Apply(PolicyOp("base", 1, {}), 1, &puts);
  s = s->Apply(PolicyOp("strict", 1, {}), 2, &puts);
  s = s->Apply(BindOp("base", "dev-1", ""), 3, &puts);
  s = s->Apply(BindOp("base", "", "t1000"), 4, &puts);
  s = s->Apply(BindOp("strict", "dev-1", ""), 5, &puts);
  ASSERT_EQ(s->device_bindings().count("dev-1"), 1u);
  EXPECT_EQ(s->device_bindings().at("dev-1").policy, "strict");
  EXPECT_EQ(s->device_bindings().at("dev-1").height, 5u);
  EXPECT_EQ(s->model_bindings().at("t1000").policy, "base");
  s = s->Apply(BindOp("", "", "t1000"), 6, &puts);
  EXPECT_TRUE(s->model_bindings().empty());
}

TEST(RegistryPolicySnapshot, RowsRebuildTheSameState) {
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto s = Empty()->Apply(PolicyOp("base", 1, {{"/a", kHashA}}, {"/var/log/.*"}), 1, &puts);
  s = s->Apply(PolicyOp("base", 2, {{"/a", kHashB}}), 2, &puts);
  s = s->Apply(BindOp("base", "dev-1", ""), 3, &puts);
  s = s->Apply(BindOp("base", "", "t1000"), 4, &puts);
  s = s->Apply(BindOp("", "", "t1000"), 5, &puts);
  // The store keeps the last put of each key.
  std::map<Bytes, Bytes> last;
  for (auto& [k, v] : puts) last[k] = v;
  std::vector<std::pair<Bytes, Bytes>> rows(last.begin(), last.end());
  auto loaded = RegistrySnapshot::FromRows(rows);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const auto* p = (*loaded)->Policy("base");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->SerializeAsString(), s->Policy("base")->SerializeAsString());
  EXPECT_EQ((*loaded)->device_bindings().at("dev-1").policy, "base");
  EXPECT_EQ((*loaded)->device_bindings().at("dev-1").height, 3u);
  EXPECT_TRUE((*loaded)->model_bindings().empty());
}

TEST(RegistryPolicySnapshot, MalformedPolicyRowIsDataLoss) {
  auto loaded = RegistrySnapshot::FromRows({{"pol/base", "\xff\xff\xff"}});
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace provledger::ledger
