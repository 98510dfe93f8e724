// Firmware manifests through the node (docs/FIRMWARE.md): the submission check, the block
// derivation every replica repeats, and the manifest index.
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "device_protocol/firmware_manifest.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "node/batch_validator.h"
#include "node/chain_block_factory.h"
#include "node/firmware_index.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;
namespace dp = device_protocol;

class FirmwareRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis_.chain_id = "t";
    genesis_.validators.push_back({"v0", validator_.PublicKey(), "127.0.0.1:1"});
    genesis_.admins.push_back(validator_.PublicKey());
    const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/fw-" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::system(("rm -rf " + dir).c_str());
    ledger::StoreOptions so;
    so.path = dir;
    store_ = std::move(ledger::BlockStore::Open(so, "t")).value();
    std::vector<std::pair<Bytes, Bytes>> puts;
    v1::RegistryOp ven;
    ven.mutable_register_vendor()->set_id("acme");
    ven.mutable_register_vendor()->set_pubkey(vendor_.PublicKey());
    registry_ = std::make_unique<RegistryHolder>(
        std::make_shared<ledger::RegistrySnapshot>()->Apply(ven, 0, &puts));
    factory_ = std::make_unique<ChainBlockFactory>(store_.get(), &genesis_, registry_.get(),
                                                   [] { return uint64_t{1700000000000}; });
  }

  Bytes Record(uint64_t counter, const std::string& vendor = "acme",
               const PrivateKey* key = nullptr) {
    dp::FirmwareManifest m;
    m.vendor = vendor;
    m.model = "sensor-1";
    m.version = "1." + std::to_string(counter) + ".0";
    m.counter = counter;
    m.size = 5;
    m.sha256 = Sha256("image");
    m.location = "file:///fw/image.bin";
    EXPECT_TRUE(dp::SignFirmwareManifest(key != nullptr ? *key : vendor_, &m).ok());
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kFirmware;
    rec.firmware = dp::ToFirmwareRecord(m);
    return ledger::EncodeRecord(rec);
  }
  consensus::Request Request(const Bytes& record) {
    v1::ConsensusRequest req;
    req.set_firmware_record(record);
    return consensus::Request{*RequestId("t", req), req.SerializeAsString()};
  }

  PrivateKey validator_ = PrivateKey::Generate();
  PrivateKey vendor_ = PrivateKey::Generate();
  ledger::Genesis genesis_;
  std::unique_ptr<ledger::BlockStore> store_;
  std::unique_ptr<RegistryHolder> registry_;
  std::unique_ptr<ChainBlockFactory> factory_;
};

TEST_F(FirmwareRecordsTest, AcceptsAManifestSignedByTheRegisteredVendor) {
  auto c = ValidateFirmwareSubmission(*registry_->Get(), Record(3), BatchLimits());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->records.size(), 1u);
  EXPECT_EQ(c->records[0].id, ledger::RecordId(Record(3)));
}

TEST_F(FirmwareRecordsTest, RefusesABadSignatureAnUnknownVendorAndOtherKinds) {
  PrivateKey other = PrivateKey::Generate();
  EXPECT_EQ(
      ValidateFirmwareSubmission(*registry_->Get(), Record(3, "acme", &other), {}).status().code(),
      StatusCode::kUnauthenticated);
  EXPECT_EQ(ValidateFirmwareSubmission(*registry_->Get(), Record(3, "globex"), {}).status().code(),
            StatusCode::kPermissionDenied);
  ledger::Record reg;
  reg.kind = ledger::RecordKind::kRegistry;
  reg.registry.tx = "x";
  EXPECT_EQ(
      ValidateFirmwareSubmission(*registry_->Get(), ledger::EncodeRecord(reg), {}).status().code(),
      StatusCode::kInvalidArgument);
  Bytes bad = Record(3);
  bad.pop_back();
  EXPECT_EQ(ValidateFirmwareSubmission(*registry_->Get(), bad, {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(FirmwareRecordsTest, ABlockOfAManifestIsDerivedAgainByAnotherReplica) {
  const Bytes zero(32, '\0');
  auto p = factory_->Build(1, 0, zero, {Request(Record(3))});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  ASSERT_TRUE(other.Validate(1, 0, zero, p->block, &info).ok());
  auto d = other.Materialize(p->block);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->records.size(), 1u);
  EXPECT_EQ(d->records[0], Record(3));
}

TEST_F(FirmwareRecordsTest, ABadlySignedManifestIsOrderedAsRejected) {
  PrivateKey other = PrivateKey::Generate();
  const Bytes zero(32, '\0');
  auto p = factory_->Build(1, 0, zero, {Request(Record(3, "acme", &other)), Request(Record(4))});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto d = factory_->Materialize(p->block);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->records.size(), 1u);
  EXPECT_EQ(d->records[0], Record(4));
  ASSERT_EQ(d->rejected_errors.size(), 1u);
  EXPECT_EQ(d->rejected_errors[0].code(), StatusCode::kUnauthenticated);
}

TEST_F(FirmwareRecordsTest, IndexRowsListNewestCounterFirst) {
  std::vector<std::pair<Bytes, Bytes>> puts;
  AddFirmwareRows({Record(3), Record(9)}, 4, &puts);
  AddFirmwareRows({Record(5)}, 7, &puts);
  ASSERT_EQ(puts.size(), 3u);
  std::vector<FirmwareRow> rows;
  for (const auto& [k, v] : puts) {
    EXPECT_EQ(k.rfind(FirmwareRowPrefix("acme", "sensor-1"), 0), 0u);
    auto row = ParseFirmwareRow(k, v);
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    rows.push_back(*row);
  }
  auto ordered = OrderFirmwareRows(rows, false);
  ASSERT_EQ(ordered.size(), 3u);
  EXPECT_EQ(ordered[0].counter, 9u);
  EXPECT_EQ(ordered[0].height, 4u);
  EXPECT_EQ(ordered[1].counter, 5u);
  EXPECT_EQ(ordered[2].counter, 3u);
  auto latest = OrderFirmwareRows(rows, true);
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].record, Record(9));
  Bytes v = puts[0].second;
  v.back() ^= 1;
  EXPECT_EQ(ParseFirmwareRow(puts[0].first, v).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace provledger::node
