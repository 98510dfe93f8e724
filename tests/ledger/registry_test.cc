// Registry transactions and snapshots (ledger/registry.h): signing and checking admin
// transactions, applying them, and reloading the state a block wrote to the BlockStore.
//
// Keys are PROTOCOL.md A.1's; as in A.5 the genesis admin is gw-1's key.
#include "ledger/registry.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "gtest/gtest.h"
#include "ledger/block_header.h"
#include "ledger/genesis.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"
#include "ledger/store/block_store.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {
namespace {

using provledger::v1::RegistryOp;
using provledger::v1::RegistryTx;

constexpr char kChain[] = "pl-test";
constexpr char kAdminSecret[] = "9e5095f99c06eb586a0f8fad7dcde14cd306af47f8586755b6937c3dd4e8c869";
constexpr char kDeviceSecret[] = "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95";
const char* const kValidatorSecrets[] = {
    "acfbb3c70c6e20bf3a70a2cb5b148a7de2d105bdd0c6047028ab131a863a598f",
    "2bd81d71c9ecd310ab5cb0e69b83f31a6386b348158cca98463841976e1186dc",
    "b13316c90aebef6f7b6d0068e3e517882fa0b499f998ff37afc5d862211696ac",
    "42032c1731f2add27bcf751de8c180b7b71a2fed191b81496e05821bbc4b967f",
};

PrivateKey Key(const char* hex) {
  StatusOr<PrivateKey> k = PrivateKey::FromHex(hex);
  if (!k.ok()) std::abort();
  return *k;
}

Genesis TestGenesis() {
  Genesis g;
  g.chain_id = kChain;
  g.created = 1700000000000;
  for (int i = 0; i < 4; ++i) {
    g.validators.push_back({"v" + std::to_string(i), Key(kValidatorSecrets[i]).PublicKey(),
                            "127.0.0.1:700" + std::to_string(i)});
  }
  g.admins.push_back(Key(kAdminSecret).PublicKey());
  return g;
}

RegistryOp GatewayOp(const std::string& id, const Bytes& pubkey) {
  RegistryOp op;
  op.set_chain_id(kChain);
  op.mutable_register_gateway()->set_id(id);
  op.mutable_register_gateway()->set_pubkey(pubkey);
  return op;
}

RegistryOp DeviceOp(const std::string& id, const Bytes& pubkey, const std::string& vendor = "acme",
                    const std::string& model = "t1000") {
  RegistryOp op;
  op.set_chain_id(kChain);
  op.mutable_register_device()->set_id(id);
  op.mutable_register_device()->set_pubkey(pubkey);
  op.mutable_register_device()->set_vendor(vendor);
  op.mutable_register_device()->set_model(model);
  return op;
}

RegistryOp VendorOp(const std::string& id, const Bytes& pubkey) {
  RegistryOp op;
  op.set_chain_id(kChain);
  op.mutable_register_vendor()->set_id(id);
  op.mutable_register_vendor()->set_pubkey(pubkey);
  return op;
}

RegistryOp RevokeOp(const std::string& id) {
  RegistryOp op;
  op.set_chain_id(kChain);
  op.set_nonce(1);
  op.mutable_revoke_device()->set_id(id);
  return op;
}

Bytes Sign(const RegistryOp& op, const char* secret = kAdminSecret,
           const std::string& chain = kChain) {
  StatusOr<Bytes> tx = SignRegistryTx(chain, op, Key(secret).secret());
  EXPECT_TRUE(tx.ok()) << tx.status().ToString();
  return tx.ok() ? *tx : Bytes();
}

StatusCode VerifyCode(const RegistryOp& op) {
  return VerifyRegistryTx(TestGenesis(), Sign(op)).status().code();
}

Bytes DevicePub() { return Key(kDeviceSecret).PublicKey(); }
Bytes GatewayPub() { return Key(kValidatorSecrets[3]).PublicKey(); }

// ---- Transactions ----

// The registry as a node loads it at start: the store's rows, built into a snapshot.
StatusOr<std::shared_ptr<const RegistrySnapshot>> LoadFrom(const BlockStore& store) {
  PL_ASSIGN_OR_RETURN(auto rows, store.RegistryScan(""));
  return RegistrySnapshot::FromRows(rows);
}

TEST(RegistryTx, SignedTransactionVerifiesAndGivesItsOp) {
  const RegistryOp op = DeviceOp("dev-1", DevicePub());
  StatusOr<RegistryOp> back = VerifyRegistryTx(TestGenesis(), Sign(op));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->SerializeAsString(), op.SerializeAsString());
}

TEST(RegistryTx, SignatureIsTheAdminsOverTheRegistryDigest) {
  const RegistryOp op = GatewayOp("gw-1", GatewayPub());
  RegistryTx tx;
  ASSERT_TRUE(tx.ParseFromString(Sign(op)));
  EXPECT_EQ(tx.admin_pubkey(), Key(kAdminSecret).PublicKey());
  EXPECT_TRUE(
      VerifySignature(tx.admin_pubkey(), RegistryDigest(kChain, tx.op()), tx.signature()).ok());
}

TEST(RegistryTx, NonAdminKeyIsPermissionDenied) {
  const Bytes tx = Sign(GatewayOp("gw-1", GatewayPub()), kDeviceSecret);
  EXPECT_EQ(VerifyRegistryTx(TestGenesis(), tx).status().code(), StatusCode::kPermissionDenied);
}

TEST(RegistryTx, TamperedOpIsUnauthenticated) {
  RegistryTx tx;
  ASSERT_TRUE(tx.ParseFromString(Sign(GatewayOp("gw-1", GatewayPub()))));
  tx.set_op(GatewayOp("gw-evil", DevicePub()).SerializeAsString());
  EXPECT_EQ(VerifyRegistryTx(TestGenesis(), tx.SerializeAsString()).status().code(),
            StatusCode::kUnauthenticated);
}

TEST(RegistryTx, FlippedSignatureIsUnauthenticated) {
  RegistryTx tx;
  ASSERT_TRUE(tx.ParseFromString(Sign(GatewayOp("gw-1", GatewayPub()))));
  std::string sig = tx.signature();
  sig[10] ^= 1;
  tx.set_signature(sig);
  EXPECT_EQ(VerifyRegistryTx(TestGenesis(), tx.SerializeAsString()).status().code(),
            StatusCode::kUnauthenticated);
}

TEST(RegistryTx, OpForAnotherChainIsInvalidArgument) {
  RegistryOp op = GatewayOp("gw-1", GatewayPub());
  op.set_chain_id("pl-main");
  EXPECT_EQ(VerifyCode(op), StatusCode::kInvalidArgument);
}

TEST(RegistryTx, TransactionSignedForAnotherChainIsRefused) {
  RegistryOp op = GatewayOp("gw-1", GatewayPub());
  op.set_chain_id("pl-main");
  const Bytes tx = Sign(op, kAdminSecret, "pl-main");
  EXPECT_EQ(VerifyRegistryTx(TestGenesis(), tx).status().code(), StatusCode::kUnauthenticated);
}

TEST(RegistryTx, UnparsableTransactionIsInvalidArgument) {
  EXPECT_EQ(VerifyRegistryTx(TestGenesis(), "\xff\xff\xff").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(RegistryTx, OpWithoutOperationIsInvalidArgument) {
  RegistryOp op;
  op.set_chain_id(kChain);
  EXPECT_EQ(VerifyCode(op), StatusCode::kInvalidArgument);
}

TEST(RegistryTx, InvalidGatewayNameIsInvalidArgument) {
  EXPECT_EQ(VerifyCode(GatewayOp("gw/1", GatewayPub())), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(GatewayOp("", GatewayPub())), StatusCode::kInvalidArgument);
}

TEST(RegistryTx, InvalidDeviceNameIsInvalidArgument) {
  EXPECT_EQ(VerifyCode(DeviceOp(std::string(65, 'd'), DevicePub())), StatusCode::kInvalidArgument);
}

TEST(RegistryTx, InvalidVendorOrModelOfDeviceIsInvalidArgument) {
  EXPECT_EQ(VerifyCode(DeviceOp("dev-1", DevicePub(), "ac me")), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(DeviceOp("dev-1", DevicePub(), "acme", "t/1")),
            StatusCode::kInvalidArgument);
}

TEST(RegistryTx, DeviceWithoutVendorAndModelIsAccepted) {
  EXPECT_EQ(VerifyCode(DeviceOp("dev-1", DevicePub(), "", "")), StatusCode::kOk);
}

TEST(RegistryTx, InvalidKeysAreInvalidArgument) {
  Bytes uncompressed = DevicePub();
  uncompressed[0] = '\x04';
  EXPECT_EQ(VerifyCode(GatewayOp("gw-1", uncompressed)), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(DeviceOp("dev-1", DevicePub().substr(1))), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(VendorOp("acme", Bytes())), StatusCode::kInvalidArgument);
}

TEST(RegistryTx, InvalidRevokedDeviceNameIsInvalidArgument) {
  EXPECT_EQ(VerifyCode(RevokeOp("dev 1")), StatusCode::kInvalidArgument);
}

// ---- Snapshots ----

TEST(RegistrySnapshot, EmptySnapshotKnowsNobody) {
  RegistrySnapshot empty;
  EXPECT_EQ(empty.Gateway("gw-1"), nullptr);
  EXPECT_EQ(empty.Device("dev-1"), nullptr);
  EXPECT_EQ(empty.Vendor("acme"), nullptr);
}

TEST(RegistrySnapshot, ApplyRegistersAGateway) {
  RegistrySnapshot empty;
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto next = empty.Apply(GatewayOp("gw-1", GatewayPub()), 7, &puts);
  const KeyEntry* gw = next->Gateway("gw-1");
  ASSERT_NE(gw, nullptr);
  EXPECT_EQ(gw->pubkey, GatewayPub());
  EXPECT_EQ(gw->height, 7u);
  EXPECT_EQ(puts.size(), 1u);
  EXPECT_EQ(empty.Gateway("gw-1"), nullptr);  // the old snapshot is unchanged
  EXPECT_EQ(next->Device("gw-1"), nullptr);
}

TEST(RegistrySnapshot, ApplyRegistersADevice) {
  RegistrySnapshot empty;
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto next = empty.Apply(DeviceOp("dev-1", DevicePub()), 3, &puts);
  const DeviceEntry* d = next->Device("dev-1");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->pubkey, DevicePub());
  EXPECT_EQ(d->vendor, "acme");
  EXPECT_EQ(d->model, "t1000");
  EXPECT_FALSE(d->revoked);
  EXPECT_EQ(d->height, 3u);
  EXPECT_EQ(next->devices().size(), 1u);
}

TEST(RegistrySnapshot, ApplyRegistersAVendor) {
  RegistrySnapshot empty;
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto next = empty.Apply(VendorOp("acme", GatewayPub()), 2, &puts);
  const KeyEntry* v = next->Vendor("acme");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->pubkey, GatewayPub());
  EXPECT_EQ(next->Gateway("acme"), nullptr);
}

TEST(RegistrySnapshot, RevokedDeviceIsStillReturnedMarkedRevoked) {
  RegistrySnapshot empty;
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto one = empty.Apply(DeviceOp("dev-1", DevicePub()), 3, &puts);
  auto two = one->Apply(RevokeOp("dev-1"), 5, &puts);
  const DeviceEntry* d = two->Device("dev-1");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->revoked);
  EXPECT_EQ(d->pubkey, DevicePub());
  EXPECT_EQ(d->height, 3u);
  EXPECT_FALSE(one->Device("dev-1")->revoked);
}

TEST(RegistrySnapshot, RevokingAnUnknownDeviceChangesNothing) {
  RegistrySnapshot empty;
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto next = empty.Apply(RevokeOp("dev-9"), 5, &puts);
  EXPECT_EQ(next->Device("dev-9"), nullptr);
  EXPECT_TRUE(puts.empty());
}

TEST(RegistrySnapshot, ReRegisteringARevokedDeviceClearsTheRevocation) {
  RegistrySnapshot empty;
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto s = empty.Apply(DeviceOp("dev-1", DevicePub()), 3, &puts);
  s = s->Apply(RevokeOp("dev-1"), 4, &puts);
  RegistryOp again = DeviceOp("dev-1", GatewayPub());
  again.set_nonce(2);
  s = s->Apply(again, 5, &puts);
  ASSERT_NE(s->Device("dev-1"), nullptr);
  EXPECT_FALSE(s->Device("dev-1")->revoked);
  EXPECT_EQ(s->Device("dev-1")->pubkey, GatewayPub());
}

// ---- Persistence through the BlockStore ----

class RegistryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp != nullptr ? tmp : "/tmp") + "/registry_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    Open();
  }

  void Open() {
    store_.reset();
    StoreOptions o;
    o.path = dir_;
    auto s = BlockStore::Open(o, kChain);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  // Commits `txs` as kind 4 records of the next block, with the puts Apply made.
  std::shared_ptr<const RegistrySnapshot> Commit(std::shared_ptr<const RegistrySnapshot> snap,
                                                 const std::vector<Bytes>& txs) {
    const uint64_t height = store_->height() + 1;
    BlockToAppend b;
    std::vector<Bytes> ids;
    for (const Bytes& tx : txs) {
      StatusOr<RegistryOp> op = VerifyRegistryTx(TestGenesis(), tx);
      EXPECT_TRUE(op.ok()) << op.status().ToString();
      if (!op.ok()) return snap;
      snap = snap->Apply(*op, height, &b.registry_puts);
      Record r;
      r.kind = RecordKind::kRegistry;
      r.registry.tx = tx;
      b.records.push_back(EncodeRecord(r));
      ids.push_back(RecordId(b.records.back()));
    }
    BlockHeader h;
    h.chain_id = kChain;
    h.height = height;
    h.prev = store_->head_hash();
    h.root = MerkleRoot(ids);
    h.record_count = ids.size();
    h.timestamp = 1700000000000 + height;
    h.proposer = "v0";
    b.header_bytes = EncodeHeader(h);
    b.certificate.set_digest(CommitDigest(kChain, height, 0, HeaderHash(b.header_bytes)));
    Status s = store_->Append(b);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return snap;
  }

  std::string dir_;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(RegistryStoreTest, EmptyStoreLoadsAnEmptyRegistry) {
  StatusOr<std::shared_ptr<const RegistrySnapshot>> snap = LoadFrom(*store_);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_TRUE((*snap)->devices().empty());
  EXPECT_TRUE((*snap)->gateways().empty());
}

TEST_F(RegistryStoreTest, LoadGivesBackWhatCommittedBlocksRegistered) {
  auto snap = std::make_shared<const RegistrySnapshot>();
  snap =
      Commit(snap, {Sign(GatewayOp("gw-1", GatewayPub())), Sign(VendorOp("acme", GatewayPub())),
                    Sign(DeviceOp("dev-1", DevicePub())), Sign(DeviceOp("dev-2", GatewayPub()))});
  snap = Commit(snap, {Sign(RevokeOp("dev-2"))});
  Open();  // from disk only

  StatusOr<std::shared_ptr<const RegistrySnapshot>> loaded = LoadFrom(*store_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const RegistrySnapshot& r = **loaded;
  ASSERT_NE(r.Gateway("gw-1"), nullptr);
  EXPECT_EQ(r.Gateway("gw-1")->pubkey, GatewayPub());
  EXPECT_EQ(r.Gateway("gw-1")->height, 1u);
  ASSERT_NE(r.Vendor("acme"), nullptr);
  EXPECT_EQ(r.Vendor("acme")->pubkey, GatewayPub());
  EXPECT_EQ(r.Gateway("acme"), nullptr);
  ASSERT_NE(r.Device("dev-1"), nullptr);
  EXPECT_EQ(r.Device("dev-1")->pubkey, DevicePub());
  EXPECT_EQ(r.Device("dev-1")->vendor, "acme");
  EXPECT_EQ(r.Device("dev-1")->model, "t1000");
  EXPECT_FALSE(r.Device("dev-1")->revoked);
  ASSERT_NE(r.Device("dev-2"), nullptr);
  EXPECT_TRUE(r.Device("dev-2")->revoked);
  EXPECT_EQ(r.Device("dev-2")->height, 1u);
  EXPECT_EQ(r.devices().size(), 2u);
  EXPECT_EQ(r.gateways().size(), 1u);
}

TEST_F(RegistryStoreTest, RegistryRecordsAreOnTheChain) {
  const Bytes tx = Sign(GatewayOp("gw-1", GatewayPub()));
  Commit(std::make_shared<const RegistrySnapshot>(), {tx});
  Record r;
  r.kind = RecordKind::kRegistry;
  r.registry.tx = tx;
  StatusOr<RecordLocation> loc = store_->FindRecord(RecordId(EncodeRecord(r)));
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->height, 1u);
}

}  // namespace
}  // namespace provledger::ledger
