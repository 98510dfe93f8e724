// BatchValidator (node/batch_validator.h): what a node checks in a gateway batch (PROTOCOL.md
// 6.5) and in a registry submission before it queues them.
//
// Vectors: records A, B and C of PROTOCOL.md A.4 with their payloads (A.3, A.4), submitted by
// gw-1 in one batch whose digest is A.5's batch digest; keys of A.1. Other records are built
// here.
#include "node/batch_validator.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "proto/ledger.pb.h"

namespace provledger::node {
namespace {

using ledger::Genesis;
using ledger::Record;
using ledger::RecordKind;
using ledger::RegistrySnapshot;
using provledger::v1::RegistryOp;
using provledger::v1::SignedBatch;

constexpr char kChain[] = "pl-test";
// PROTOCOL.md A.1.
constexpr char kGatewaySecret[] =
    "9e5095f99c06eb586a0f8fad7dcde14cd306af47f8586755b6937c3dd4e8c869";
constexpr char kDeviceSecret[] = "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95";
constexpr char kV0Secret[] = "acfbb3c70c6e20bf3a70a2cb5b148a7de2d105bdd0c6047028ab131a863a598f";
// Admin of the test genesis (not an A.1 key).
constexpr char kAdminSecret[] = "1111111111111111111111111111111111111111111111111111111111111111";

// PROTOCOL.md A.4: records A, B, C and their payloads.
constexpr char kRecordA[] =
    "706c2f76312f7265636f726401000000056465762d3100000007636c696d617465000000000000000100000"
    "18bcfe56be8a20fa123d4d8977782c80981ddbe6177a8d5ba294eaffd08a88669e246c3711002ca9cbafbfb"
    "ff78a6286637dad54f851de0daf2e614ba6a5c31a678dbbcdfb24976bb503cf0d19db8e3aad88447c91275"
    "289e6fb26d57316f9e3bb396684e788b0000000467772d310000018bcfe56c120000000000000000000000"
    "00000000000000000000000000000000000000000000";
constexpr char kRecordB[] =
    "706c2f76312f7265636f726402000000056465762d3100000000000000020000018bcfe56fd0c7bdbfb593"
    "6e067140789e3175c1594fb050d0a6ab7314436892d6b19d9f5ce2010000000467772d310000018bcfe56f"
    "fa01000000000000000100000000";
constexpr char kRecordC[] =
    "706c2f76312f7265636f726401000000056465762d3100000007636c696d61746500000000000000030000"
    "018bcfe573b8adfc8056b40fc7851af193a4c12610176d852de9c5777d69896e6429393cc508010000000467"
    "772d310000018bcfe573e201fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f";
constexpr char kPayloadA[] = "21.5";
constexpr char kPayloadB[] =
    "{\"v\":1,\"boot\":\"6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d\",\"from\":0,\"entries\":[]}";
constexpr char kPayloadC[] = "21.7";
// PROTOCOL.md A.5: gw-1 submitting A, B, C in one batch.
constexpr char kBatchDigest[] = "c1c206bd4afd0eb4fcf48d9ecb89fa663af2dd34dfcb7d91b0e69170bc044160";

PrivateKey Key(const char* hex) {
  StatusOr<PrivateKey> k = PrivateKey::FromHex(hex);
  if (!k.ok()) std::abort();
  return *k;
}

Bytes Hex(std::string_view hex) {
  StatusOr<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

Genesis TestGenesis() {
  Genesis g;
  g.chain_id = kChain;
  g.validators.push_back({"v0", Key(kV0Secret).PublicKey(), "127.0.0.1:7000"});
  g.admins.push_back(Key(kAdminSecret).PublicKey());
  return g;
}

RegistryOp Op() {
  RegistryOp op;
  op.set_chain_id(kChain);
  return op;
}

// gw-1 and dev-1 registered; dev-2 registered then revoked.
std::shared_ptr<const RegistrySnapshot> TestRegistry() {
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto snap = std::make_shared<const RegistrySnapshot>();
  RegistryOp gw = Op();
  gw.mutable_register_gateway()->set_id("gw-1");
  gw.mutable_register_gateway()->set_pubkey(Key(kGatewaySecret).PublicKey());
  snap = snap->Apply(gw, 1, &puts);
  RegistryOp gw2 = Op();
  gw2.mutable_register_gateway()->set_id("gw-2");
  gw2.mutable_register_gateway()->set_pubkey(Key(kV0Secret).PublicKey());
  snap = snap->Apply(gw2, 1, &puts);
  for (const char* id : {"dev-1", "dev-2"}) {
    RegistryOp dev = Op();
    dev.mutable_register_device()->set_id(id);
    dev.mutable_register_device()->set_pubkey(Key(kDeviceSecret).PublicKey());
    snap = snap->Apply(dev, 1, &puts);
  }
  RegistryOp revoke = Op();
  revoke.mutable_revoke_device()->set_id("dev-2");
  return snap->Apply(revoke, 2, &puts);
}

// A MACed kind 1 reading of `device` accepted by `gateway`, with payload "p<seq>".
Bytes Reading(const std::string& device, uint64_t seq, const std::string& gateway = "gw-1") {
  Record r;
  r.kind = RecordKind::kReading;
  r.reading.device = device;
  r.reading.item = "climate";
  r.reading.seq = seq;
  r.reading.ts = 1700000000000 + seq;
  r.reading.payload_hash = Sha256("p" + std::to_string(seq));
  r.reading.auth = ledger::kAuthMac;
  r.reading.gateway = gateway;
  r.reading.received = r.reading.ts + 1;
  EXPECT_TRUE(ledger::ValidateRecord(r).ok());
  return ledger::EncodeRecord(r);
}

void SignAs(SignedBatch* b, const char* secret, const std::string& chain = kChain) {
  StatusOr<Bytes> sig = Key(secret).Sign(SignedBatchDigest(chain, *b));
  ASSERT_TRUE(sig.ok());
  b->set_signature(*sig);
}

// Records A, B, C with their payloads, signed by gw-1.
SignedBatch AppendixBatch() {
  SignedBatch b;
  b.set_gateway("gw-1");
  for (const char* r : {kRecordA, kRecordB, kRecordC}) b.add_records(Hex(r));
  for (const char* p : {kPayloadA, kPayloadB, kPayloadC}) b.add_payloads(p);
  SignAs(&b, kGatewaySecret);
  return b;
}

// A batch of `records` from `gateway`, without payloads, signed by gw-1's key.
SignedBatch Batch(const std::vector<Bytes>& records, const std::string& gateway = "gw-1") {
  SignedBatch b;
  b.set_gateway(gateway);
  for (const Bytes& r : records) b.add_records(r);
  SignAs(&b, kGatewaySecret);
  return b;
}

StatusOr<CheckedBatch> Validate(const SignedBatch& b, const BatchLimits& limits = BatchLimits()) {
  return ValidateBatch(TestGenesis(), *TestRegistry(), b, limits);
}

// The batch passes; record `index` alone is refused with `code`, its reason naming the record
// and holding `needle`; the `kept` others are kept, in order.
void ExpectRecordRefused(const StatusOr<CheckedBatch>& r, uint32_t index, StatusCode code,
                         const std::string& needle, size_t kept) {
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->refused.size(), 1u);
  const RecordRefusal& f = r->refused[0];
  EXPECT_EQ(f.index, index);
  EXPECT_EQ(f.id.size(), 32u);
  EXPECT_EQ(f.status.code(), code) << f.status.ToString();
  EXPECT_NE(f.status.message().find("record " + std::to_string(index)), std::string::npos)
      << f.status.ToString();
  EXPECT_NE(f.status.message().find(needle), std::string::npos) << f.status.ToString();
  ASSERT_EQ(r->records.size(), kept);
  for (const auto& c : r->records) EXPECT_NE(c.index, index);
}

TEST(SignedBatchDigest, MatchesTheAppendixBatchDigest) {
  EXPECT_EQ(HexEncode(SignedBatchDigest(kChain, AppendixBatch())), kBatchDigest);
}

TEST(ValidateBatch, AcceptsTheAppendixBatch) {
  StatusOr<CheckedBatch> r = Validate(AppendixBatch());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->gateway, "gw-1");
  ASSERT_EQ(r->records.size(), 3u);
  EXPECT_EQ(HexEncode(r->records[0].id),
            "f18bc9d7218edcd66c9ac7f038dd4794b7b938ef62497f1d4c2bce9720bcc94b");
  EXPECT_EQ(HexEncode(r->records[1].id),
            "fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f");
  EXPECT_EQ(r->records[2].bytes, Hex(kRecordC));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(r->records[i].has_seq);
    EXPECT_EQ(r->records[i].device, "dev-1");
    EXPECT_EQ(r->records[i].seq, i + 1);
    EXPECT_FALSE(r->records[i].registry_op.has_value());
  }
  ASSERT_TRUE(r->records[1].payload.has_value());
  EXPECT_EQ(*r->records[1].payload, kPayloadB);
}

TEST(ValidateBatch, AcceptsABatchWithoutPayloads) {
  StatusOr<CheckedBatch> r = Validate(Batch({Reading("dev-1", 7)}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->records[0].payload.has_value());
}

TEST(ValidateBatch, UnregisteredGatewayIsPermissionDenied) {
  EXPECT_EQ(Validate(Batch({Reading("dev-1", 7, "gw-9")}, "gw-9")).status().code(),
            StatusCode::kPermissionDenied);
}

TEST(ValidateBatch, FlippedBatchSignatureIsUnauthenticated) {
  SignedBatch b = AppendixBatch();
  std::string sig = b.signature();
  sig[5] ^= 1;
  b.set_signature(sig);
  EXPECT_EQ(Validate(b).status().code(), StatusCode::kUnauthenticated);
}

TEST(ValidateBatch, BatchSignedByAnotherKeyIsUnauthenticated) {
  SignedBatch b = AppendixBatch();
  SignAs(&b, kDeviceSecret);
  EXPECT_EQ(Validate(b).status().code(), StatusCode::kUnauthenticated);
}

TEST(ValidateBatch, BatchSignedForAnotherChainIsUnauthenticated) {
  SignedBatch b = AppendixBatch();
  SignAs(&b, kGatewaySecret, "pl-main");
  EXPECT_EQ(Validate(b).status().code(), StatusCode::kUnauthenticated);
}

TEST(ValidateBatch, RecordAddedAfterSigningIsUnauthenticated) {
  SignedBatch b = Batch({Reading("dev-1", 7)});
  b.add_records(Reading("dev-1", 8));
  EXPECT_EQ(Validate(b).status().code(), StatusCode::kUnauthenticated);
}

TEST(ValidateBatch, RefusesARecordNamingAnotherGatewayAloneAsInvalidArgument) {
  ExpectRecordRefused(Validate(Batch({Reading("dev-1", 7), Reading("dev-1", 8, "gw-2")})), 1,
                      StatusCode::kInvalidArgument, "gw-2", 1);
}

TEST(ValidateBatch, RefusesARegistryRecordInAGatewayBatchAloneAsInvalidArgument) {
  Record r;
  r.kind = RecordKind::kRegistry;
  r.registry.tx = "anything";
  ExpectRecordRefused(
      Validate(Batch({Reading("dev-1", 7), Reading("dev-1", 8), ledger::EncodeRecord(r)})), 2,
      StatusCode::kInvalidArgument, "kinds 1 and 2", 2);
}

TEST(ValidateBatch, RefusesAFirmwareRecordInAGatewayBatchAsInvalidArgument) {
  Record r;
  r.kind = RecordKind::kFirmware;
  r.firmware.vendor = "acme";
  r.firmware.model = "t1000";
  r.firmware.version = "1.0.0";
  r.firmware.counter = 1;
  r.firmware.size = 10;
  r.firmware.image_sha256 = Sha256("image");
  r.firmware.location = "fw/t1000";
  r.firmware.vendor_sig = Bytes(64, '\x01');
  ASSERT_TRUE(ledger::ValidateRecord(r).ok());
  ExpectRecordRefused(Validate(Batch({ledger::EncodeRecord(r)})), 0, StatusCode::kInvalidArgument,
                      "kinds 1 and 2", 0);
}

TEST(ValidateBatch, RefusesAnUndecodableRecordAloneAsInvalidArgument) {
  Bytes bad = Reading("dev-1", 8);
  bad += "trailing";
  ExpectRecordRefused(Validate(Batch({Reading("dev-1", 7), bad})), 1, StatusCode::kInvalidArgument,
                      "record", 1);
}

TEST(ValidateBatch, RefusesARecordWhosePayloadDoesNotMatchItsHashAlone) {
  SignedBatch b = AppendixBatch();
  b.set_payloads(2, "21.8");
  ExpectRecordRefused(Validate(b), 2, StatusCode::kInvalidArgument, "payload_hash", 2);
}

TEST(ValidateBatch, PayloadCountOtherThanRecordCountIsInvalidArgument) {
  SignedBatch b = AppendixBatch();
  b.mutable_payloads()->RemoveLast();
  EXPECT_EQ(Validate(b).status().code(), StatusCode::kInvalidArgument);
}

TEST(ValidateBatch, EmptyBatchIsInvalidArgument) {
  EXPECT_EQ(Validate(Batch({})).status().code(), StatusCode::kInvalidArgument);
}

TEST(ValidateBatch, RefusesAnUnregisteredDevicesRecordAloneAsPermissionDenied) {
  ExpectRecordRefused(Validate(Batch({Reading("dev-1", 7), Reading("dev-9", 1)})), 1,
                      StatusCode::kPermissionDenied, "not registered", 1);
}

TEST(ValidateBatch, RefusesARevokedDevicesRecordAloneAsPermissionDenied) {
  ExpectRecordRefused(Validate(Batch({Reading("dev-2", 1)})), 0, StatusCode::kPermissionDenied,
                      "revoked", 0);
}

// A validator taking a submission may be behind the quorum that registered (or registered
// again) a device: it leaves the device to the block instead of refusing the record, and
// every other check still applies.
TEST(ValidateBatch, LeavesAnUnknownOrRevokedDeviceToTheBlockWhenAsked) {
  const SignedBatch b = Batch({Reading("dev-1", 7), Reading("dev-9", 1), Reading("dev-2", 1)});
  StatusOr<CheckedBatch> r =
      ValidateBatch(TestGenesis(), *TestRegistry(), b, BatchLimits(), DeviceCheck::kLeaveToBlock);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->refused.empty());
  ASSERT_EQ(r->records.size(), 3u);
  EXPECT_FALSE(r->records[0].device_left_to_block);
  EXPECT_TRUE(r->records[1].device_left_to_block);
  EXPECT_EQ(r->records[1].device, "dev-9");
  EXPECT_TRUE(r->records[2].device_left_to_block);
  EXPECT_EQ(r->records[2].device, "dev-2");
  // The default (the block's own check) refuses both.
  StatusOr<CheckedBatch> block = Validate(b);
  ASSERT_TRUE(block.ok());
  EXPECT_EQ(block->records.size(), 1u);
  EXPECT_EQ(block->refused.size(), 2u);
  // A fault of the record itself is still refused at once.
  SignedBatch bad = Batch({Reading("dev-9", 2)});
  bad.add_payloads("not its payload");  // payloads are not under the signature
  ExpectRecordRefused(
      ValidateBatch(TestGenesis(), *TestRegistry(), bad, BatchLimits(), DeviceCheck::kLeaveToBlock),
      0, StatusCode::kInvalidArgument, "payload_hash", 0);
}

// One revoked device's record in the middle of a batch of
// others' must not refuse the batch; the others keep their order and indexes.
TEST(ValidateBatch, KeepsTheOtherRecordsOfABatchHoldingARevokedDevicesRecord) {
  StatusOr<CheckedBatch> r =
      Validate(Batch({Reading("dev-1", 7), Reading("dev-2", 1), Reading("dev-1", 8)}));
  ExpectRecordRefused(r, 1, StatusCode::kPermissionDenied, "revoked", 2);
  EXPECT_EQ(r->records[0].index, 0u);
  EXPECT_EQ(r->records[0].seq, 7u);
  EXPECT_EQ(r->records[1].index, 2u);
  EXPECT_EQ(r->records[1].seq, 8u);
  EXPECT_EQ(r->records[1].item, "climate");
  EXPECT_EQ(r->refused[0].id, ledger::RecordId(Reading("dev-2", 1)));
}

TEST(ValidateBatch, TooManyRecordsIsResourceExhausted) {
  BatchLimits limits;
  limits.max_records = 2;
  EXPECT_EQ(Validate(AppendixBatch(), limits).status().code(), StatusCode::kResourceExhausted);
  limits.max_records = 3;
  EXPECT_TRUE(Validate(AppendixBatch(), limits).ok());
}

TEST(ValidateBatch, RefusesARecordAboveTheByteLimitAloneAsResourceExhausted) {
  BatchLimits limits;
  limits.max_record_bytes = 150;  // A is 195 bytes, B 100, C 131
  ExpectRecordRefused(Validate(AppendixBatch(), limits), 0, StatusCode::kResourceExhausted,
                      "limit 150", 2);
}

TEST(ValidateBatch, RefusesARecordWhosePayloadIsAboveTheLimitAlone) {
  BatchLimits limits;
  limits.max_payload_bytes = 10;  // B's report is 75 bytes
  ExpectRecordRefused(Validate(AppendixBatch(), limits), 1, StatusCode::kResourceExhausted,
                      "payload above", 2);
}

// ---- Registry submissions ----

Bytes SignedTx(const char* secret) {
  RegistryOp op = Op();
  op.mutable_register_device()->set_id("dev-3");
  op.mutable_register_device()->set_pubkey(Key(kDeviceSecret).PublicKey());
  StatusOr<Bytes> tx = ledger::SignRegistryTx(kChain, op, Key(secret).secret());
  EXPECT_TRUE(tx.ok());
  return tx.ok() ? *tx : Bytes();
}

TEST(ValidateRegistrySubmission, WrapsTheTransactionAsOneRegistryRecord) {
  const Bytes tx = SignedTx(kAdminSecret);
  StatusOr<CheckedBatch> r = ValidateRegistrySubmission(TestGenesis(), tx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->records.size(), 1u);
  const CheckedRecord& c = r->records[0];
  StatusOr<Record> rec = ledger::DecodeRecord(c.bytes);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_EQ(rec->kind, RecordKind::kRegistry);
  EXPECT_EQ(rec->registry.tx, tx);
  EXPECT_EQ(c.id, ledger::RecordId(c.bytes));
  EXPECT_FALSE(c.has_seq);
  ASSERT_TRUE(c.registry_op.has_value());
  EXPECT_EQ(c.registry_op->register_device().id(), "dev-3");
}

TEST(ValidateRegistrySubmission, TransactionOfANonAdminIsPermissionDenied) {
  EXPECT_EQ(ValidateRegistrySubmission(TestGenesis(), SignedTx(kGatewaySecret)).status().code(),
            StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace provledger::node
