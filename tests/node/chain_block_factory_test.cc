#include "node/chain_block_factory.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <future>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "node/submission_waiters.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

class ChainBlockFactoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis_.chain_id = "t";
    genesis_.validators.push_back({"v0", validator_.PublicKey(), "127.0.0.1:1"});
    genesis_.admins.push_back(validator_.PublicKey());
    const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/cbf-" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::system(("rm -rf " + dir).c_str());
    ledger::StoreOptions so;
    so.path = dir;
    store_ = std::move(ledger::BlockStore::Open(so, "t")).value();
    auto snap = std::make_shared<ledger::RegistrySnapshot>();
    std::vector<std::pair<Bytes, Bytes>> puts;
    v1::RegistryOp gw;
    gw.mutable_register_gateway()->set_id("gw-1");
    gw.mutable_register_gateway()->set_pubkey(gateway_.PublicKey());
    v1::RegistryOp dev;
    dev.mutable_register_device()->set_id("dev-1");
    dev.mutable_register_device()->set_pubkey(device_.PublicKey());
    v1::RegistryOp dev2 = dev;
    dev2.mutable_register_device()->set_id("dev-2");
    registry_ = std::make_unique<RegistryHolder>(
        snap->Apply(gw, 0, &puts)->Apply(dev, 0, &puts)->Apply(dev2, 0, &puts));
    factory_ = std::make_unique<ChainBlockFactory>(store_.get(), &genesis_, registry_.get(),
                                                   [] { return uint64_t{1700000000000}; });
  }

  // A MACed reading by `device` with `seq`, accepted by gw-1.
  static Bytes Reading(const std::string& device, uint64_t seq) {
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kReading;
    auto& r = rec.reading;
    r.device = device;
    r.item = "temp";
    r.seq = seq;
    r.ts = 1700000000000;
    r.payload_hash = Sha256("21.5");
    r.auth = ledger::kAuthMac;
    r.gateway = "gw-1";
    r.received = 1700000000001;
    return ledger::EncodeRecord(rec);
  }

  // A gateway batch of signed readings (device, seq); `bad_signature` flips a signature bit.
  consensus::Request BatchOf(const std::vector<std::pair<std::string, uint64_t>>& readings,
                             bool bad_signature = false) {
    v1::ConsensusRequest req;
    auto* b = req.mutable_batch();
    b->set_gateway("gw-1");
    for (const auto& [device, seq] : readings) b->add_records(Reading(device, seq));
    Bytes sig = *gateway_.Sign(SignedBatchDigest("t", *b));
    if (bad_signature) sig[3] ^= 1;
    b->set_signature(sig);
    return consensus::Request{*RequestId("t", req), req.SerializeAsString()};
  }
  consensus::Request Batch(const std::string& device, uint64_t seq) {
    return BatchOf({{device, seq}});
  }

  // An admin-signed registry transaction revoking `device`, as a request.
  consensus::Request RevokeRequest(const std::string& device) {
    v1::RegistryOp op;
    op.set_chain_id("t");
    op.set_nonce(7);
    op.mutable_revoke_device()->set_id(device);
    StatusOr<Bytes> tx = ledger::SignRegistryTx("t", op, validator_.secret());
    EXPECT_TRUE(tx.ok()) << tx.status().ToString();
    v1::ConsensusRequest req;
    req.set_registry_tx(tx.ok() ? *tx : Bytes());
    return consensus::Request{*RequestId("t", req), req.SerializeAsString()};
  }

  // Revokes `device` in the registry the factory reads (as a committed revocation would).
  void Revoke(const std::string& device) {
    std::vector<std::pair<Bytes, Bytes>> puts;
    v1::RegistryOp op;
    op.mutable_revoke_device()->set_id(device);
    registry_->Set(registry_->Get()->Apply(op, 1, &puts));
  }

  PrivateKey validator_ = PrivateKey::Generate();
  PrivateKey gateway_ = PrivateKey::Generate();
  PrivateKey device_ = PrivateKey::Generate();
  ledger::Genesis genesis_;
  std::unique_ptr<ledger::BlockStore> store_;
  std::unique_ptr<RegistryHolder> registry_;
  std::unique_ptr<ChainBlockFactory> factory_;
};

TEST_F(ChainBlockFactoryTest, BuildsABlockThatAnotherReplicaValidates) {
  auto p = factory_->Build(1, 0, Bytes(32, '\0'), {Batch("dev-1", 1), Batch("dev-1", 2)});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  ASSERT_TRUE(other.Validate(1, 0, Bytes(32, '\0'), p->block, &info).ok());
  EXPECT_EQ(info.header_hash, p->header_hash);
  EXPECT_EQ(info.request_ids.size(), 2u);
}

// An idle chain reaches a validator-set epoch's end with empty blocks (PbftCore::EndEpochAt):
// no request, record_count 0, the empty tree's root SHA256("") (PROTOCOL.md 6.2); another
// replica accepts it, the store appends it, and the next block builds on it.
TEST_F(ChainBlockFactoryTest, BuildsAnEmptyBlockThatValidatesAppendsAndIsBuiltOn) {
  const Bytes zero(32, '\0');
  auto p = factory_->Build(1, 0, zero, {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  ASSERT_TRUE(other.Validate(1, 0, zero, p->block, &info).ok());
  EXPECT_EQ(info.header_hash, p->header_hash);
  EXPECT_TRUE(info.request_ids.empty());
  StatusOr<DerivedBlock> d = other.Materialize(p->block);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->header.record_count, 0u);
  EXPECT_EQ(d->header.root, Sha256(""));
  EXPECT_TRUE(d->records.empty());

  ledger::BlockToAppend b;
  b.header_bytes = d->header_bytes;
  b.certificate.set_view(0);
  b.certificate.set_digest(ledger::CommitDigest("t", 1, 0, d->header_hash));
  auto* sig = b.certificate.add_signatures();
  sig->set_validator(0);
  sig->set_signature(*validator_.Sign(b.certificate.digest()));
  ASSERT_TRUE(store_->Append(b).ok());
  EXPECT_EQ(store_->height(), 1u);
  EXPECT_EQ(store_->head_hash(), p->header_hash);
  factory_->Forget(1);
  auto next = factory_->Build(2, 0, p->header_hash, {Batch("dev-1", 1)});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_TRUE(other.Validate(2, 0, p->header_hash, next->block, &info).ok());
  EXPECT_EQ(info.request_ids.size(), 1u);
}

// A NEW-VIEW re-issues blocks prepared above its checkpoint, which a replica may have
// applied already; a restarted replica is relayed that NEW-VIEW long after. Its records are
// in the store by then: derived again they would all be "seen" and the block refused, so the
// replica refused the NEW-VIEW for good and stayed view-changing. A block on our chain is
// accepted as it is; another block at that height is still checked.
TEST_F(ChainBlockFactoryTest, ValidatesABlockAlreadyAppliedHereAfterARestart) {
  const Bytes zero(32, '\0');
  auto p = factory_->Build(1, 0, zero, {Batch("dev-1", 1), Batch("dev-1", 2)});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  StatusOr<DerivedBlock> d = factory_->Materialize(p->block);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->records.size(), 2u);
  ledger::BlockToAppend b;
  b.header_bytes = d->header_bytes;
  b.records = d->records;
  b.payloads = d->payloads;
  b.certificate.set_view(0);
  b.certificate.set_digest(ledger::CommitDigest("t", 1, 0, d->header_hash));
  auto* sig = b.certificate.add_signatures();
  sig->set_validator(0);
  sig->set_signature(*validator_.Sign(b.certificate.digest()));
  ASSERT_TRUE(store_->Append(b).ok());
  factory_->Forget(1);

  ChainBlockFactory restarted(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  Status s = restarted.Validate(1, 1, zero, p->block, &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(info.header_hash, p->header_hash);
  EXPECT_EQ(info.request_ids.size(), 2u);
  s = factory_->Validate(1, 1, zero, p->block, &info);  // applied and forgotten, same
  EXPECT_TRUE(s.ok()) << s.ToString();

  // Another block at height 1 with the same records is not on our chain: derived, refused.
  v1::ConsensusBlock cb;
  ASSERT_TRUE(cb.ParseFromString(p->block));
  auto header = ledger::DecodeHeader(cb.header());
  ASSERT_TRUE(header.ok());
  header->timestamp += 1;
  cb.set_header(ledger::EncodeHeader(*header));
  EXPECT_FALSE(restarted.Validate(1, 1, zero, cb.SerializeAsString(), &info).ok());
}

TEST_F(ChainBlockFactoryTest, LeavesOutARecordAlreadyInAnEarlierUnappliedBlock) {
  const Bytes zero(32, '\0');
  auto p1 = factory_->Build(1, 0, zero, {Batch("dev-1", 1)});
  ASSERT_TRUE(p1.ok());
  auto p2 = factory_->Build(2, 0, p1->header_hash, {Batch("dev-1", 1), Batch("dev-1", 2)});
  ASSERT_TRUE(p2.ok());
  auto d = factory_->Materialize(p2->block);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->records.size(), 1u);  // seq 1 is in block 1 already
}

// The apply pipeline (PbftOrderer, node/store_writer.h): block 1 is committed and taken
// out of the overlay, block 2 is derived while block 1 is not yet in the store, and again
// once block 1 was appended by another thread but not yet forgotten: both times its records
// are "seen below" (in the overlay, then in the store) and left out of block 2.
TEST_F(ChainBlockFactoryTest, ACommittedBlockStaysSeenWhileItIsWrittenUntilForget) {
  const Bytes zero(32, '\0');
  auto p1 = factory_->Build(1, 0, zero, {Batch("dev-1", 1), Batch("dev-1", 2)});
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  StatusOr<DerivedBlock> d1 = factory_->TakeCommitted(p1->block);
  ASSERT_TRUE(d1.ok()) << d1.status().ToString();
  ASSERT_EQ(d1->records.size(), 2u);
  ASSERT_EQ(d1->request_ids.size(), 2u);

  // Not yet in the store: a resent seq 2 and a new seq 3.
  auto p2 = factory_->Build(2, 0, p1->header_hash, {Batch("dev-1", 2), Batch("dev-1", 3)});
  ASSERT_TRUE(p2.ok()) << p2.status().ToString();
  StatusOr<DerivedBlock> d2 = factory_->Materialize(p2->block);
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(d2->records.size(), 1u);

  // Appended (as the store writer does), not yet forgotten: another replica's block 2.
  ledger::BlockToAppend b;
  b.header_bytes = d1->header_bytes;
  b.records = d1->records;
  b.certificate.set_view(0);
  b.certificate.set_digest(ledger::CommitDigest("t", 1, 0, d1->header_hash));
  auto* sig = b.certificate.add_signatures();
  sig->set_validator(0);
  sig->set_signature(*validator_.Sign(b.certificate.digest()));
  ASSERT_TRUE(store_->Append(b).ok());
  auto p2b = factory_->Build(2, 1, p1->header_hash, {Batch("dev-1", 1), Batch("dev-1", 4)});
  ASSERT_TRUE(p2b.ok()) << p2b.status().ToString();
  StatusOr<DerivedBlock> d2b = factory_->Materialize(p2b->block);
  ASSERT_TRUE(d2b.ok());
  EXPECT_EQ(d2b->records.size(), 1u);

  // A resent pre-prepare of block 1 still validates from the overlay (its request ids).
  consensus::BlockInfo info;
  ASSERT_TRUE(factory_->Validate(1, 0, zero, p1->block, &info).ok());
  EXPECT_EQ(info.request_ids.size(), 2u);
  factory_->Forget(1);
  auto p3 = factory_->Build(2, 2, p1->header_hash, {Batch("dev-1", 2), Batch("dev-1", 5)});
  ASSERT_TRUE(p3.ok());
  StatusOr<DerivedBlock> d3 = factory_->Materialize(p3->block);
  ASSERT_TRUE(d3.ok());
  EXPECT_EQ(d3->records.size(), 1u);  // seq 2 from the store now
}

// SubmissionWaiters::Complete answers a block's own records from the block's ids (no store
// lookup), and the others from the store, the same as from the store alone.
TEST_F(ChainBlockFactoryTest, WaitersGetTheSameAnswerFromTheBlockAsFromTheStore) {
  const Bytes zero(32, '\0');
  auto append = [&](const DerivedBlock& d, uint64_t height) {
    ledger::BlockToAppend b;
    b.header_bytes = d.header_bytes;
    b.records = d.records;
    b.certificate.set_view(0);
    b.certificate.set_digest(ledger::CommitDigest("t", height, 0, d.header_hash));
    auto* sig = b.certificate.add_signatures();
    sig->set_validator(0);
    sig->set_signature(*validator_.Sign(b.certificate.digest()));
    ASSERT_TRUE(store_->Append(b).ok());
    factory_->Forget(height);
  };
  auto p1 = factory_->Build(1, 0, zero, {Batch("dev-1", 1)});
  ASSERT_TRUE(p1.ok());
  StatusOr<DerivedBlock> d1 = factory_->TakeCommitted(p1->block);
  ASSERT_TRUE(d1.ok());
  append(*d1, 1);
  // Block 2: seq 1 again (a duplicate, left out), then seqs 3, 2 and 4.
  consensus::Request req = BatchOf({{"dev-1", 1}, {"dev-1", 3}, {"dev-1", 2}, {"dev-1", 4}});
  auto p2 = factory_->Build(2, 0, p1->header_hash, {req});
  ASSERT_TRUE(p2.ok());
  StatusOr<DerivedBlock> d2 = factory_->TakeCommitted(p2->block);
  ASSERT_TRUE(d2.ok());
  ASSERT_EQ(d2->record_ids.size(), 3u);
  append(*d2, 2);

  v1::ConsensusRequest cr;
  ASSERT_TRUE(cr.ParseFromString(req.payload));
  std::vector<Bytes> ids;
  for (const auto& r : cr.batch().records()) ids.push_back(ledger::RecordId(r));
  auto answer = [&](const std::vector<Bytes>* block_ids) {
    SubmissionWaiters waiters(store_.get());
    std::promise<SubmitResult> done;
    auto fut = done.get_future();
    auto w = waiters.Make(ids, req.payload, /*deadline_ms=*/~uint64_t{0},
                          [&done](SubmitResult r) { done.set_value(std::move(r)); });
    waiters.Add(req.id, w);
    waiters.Complete({req.id}, 1, &d2->refused_records, block_ids);
    SubmitResult r = fut.get();
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->SerializeAsString() : std::string();
  };
  const std::string from_store = answer(nullptr);
  const std::string from_block = answer(&d2->record_ids);
  EXPECT_EQ(from_block, from_store);
  v1::SubmitResponse resp;
  ASSERT_TRUE(resp.ParseFromString(from_block));
  ASSERT_EQ(resp.results_size(), 4);
  EXPECT_EQ(resp.results(0).outcome(), v1::RecordResult::DUPLICATE);
  EXPECT_EQ(resp.results(0).height(), 1u);
  EXPECT_EQ(resp.results(1).outcome(), v1::RecordResult::COMMITTED);
  EXPECT_EQ(resp.results(1).height(), 2u);
  EXPECT_EQ(resp.results(1).index(), 0u);
  EXPECT_EQ(resp.results(3).index(), 2u);
}

// An orderer that stops answers every waiter it holds once, with the reason it was given.
TEST_F(ChainBlockFactoryTest, WaitersLeftWhenTheOrdererStopsHearItsReasonOnce) {
  int calls = 0;
  Status got;
  {
    SubmissionWaiters waiters(store_.get());
    auto w =
        waiters.Make({Bytes(32, 'r')}, "req", /*deadline_ms=*/~uint64_t{0}, [&](SubmitResult r) {
          ++calls;
          got = r.status();
        });
    waiters.Add(Bytes(32, 'q'), w);
    ASSERT_EQ(waiters.pending(), 1u);
    waiters.AnswerAll(UnavailableError("epoch switch, retry: moving to epoch 64"));
    EXPECT_EQ(waiters.pending(), 0u);
  }  // the destructor finds nothing left to answer
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got.code(), StatusCode::kUnavailable);
  EXPECT_EQ(got.message(), "epoch switch, retry: moving to epoch 64");
}

TEST_F(ChainBlockFactoryTest, OrdersABatchThatNoLongerChecksOutAsRejected) {
  auto p = factory_->Build(1, 0, Bytes(32, '\0'),
                           {Batch("dev-1", 1), BatchOf({{"dev-1", 2}}, /*bad_signature=*/true)});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto d = factory_->Materialize(p->block);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->records.size(), 1u);
  ASSERT_EQ(d->rejected_ids.size(), 1u);
  EXPECT_EQ(d->rejected_errors[0].code(), StatusCode::kUnauthenticated);
  // Another replica agrees, and learns both request ids so neither stays pending.
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  ASSERT_TRUE(other.Validate(1, 0, Bytes(32, '\0'), p->block, &info).ok());
  EXPECT_EQ(info.request_ids.size(), 2u);
}

// Issue 11 item 1: a device revoked between a batch's submission and its block. Its record
// is left out and refused; the other records of the same batch are written.
TEST_F(ChainBlockFactoryTest, LeavesOutARevokedDevicesRecordAndKeepsTheRestOfItsBatch) {
  consensus::Request mixed = BatchOf({{"dev-1", 1}, {"dev-2", 1}, {"dev-1", 2}});
  Revoke("dev-2");
  auto p = factory_->Build(1, 0, Bytes(32, '\0'), {mixed});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto d = factory_->Materialize(p->block);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->rejected_ids.empty());
  ASSERT_EQ(d->records.size(), 2u);
  EXPECT_EQ(d->records[0], Reading("dev-1", 1));
  EXPECT_EQ(d->records[1], Reading("dev-1", 2));
  ASSERT_EQ(d->refused_records.size(), 1u);
  const auto& [id, why] = *d->refused_records.begin();
  EXPECT_EQ(id, ledger::RecordId(Reading("dev-2", 1)));
  EXPECT_EQ(why.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(why.message().find("revoked"), std::string::npos) << why.ToString();
  // Every replica derives the same block from the same request, refusal included.
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  ASSERT_TRUE(other.Validate(1, 0, Bytes(32, '\0'), p->block, &info).ok());
  ASSERT_EQ(info.request_ids.size(), 1u);
  auto od = other.Materialize(p->block);
  ASSERT_TRUE(od.ok());
  EXPECT_EQ(od->records, d->records);
  EXPECT_EQ(od->refused_records.size(), 1u);
}

// A pipelined block is checked against the registry as of its parent, unapplied
// revocations included, so every replica derives it alike whatever it has applied yet.
TEST_F(ChainBlockFactoryTest, RefusesARecordOfADeviceRevokedInAnUnappliedParentBlock) {
  const Bytes zero(32, '\0');
  auto p1 = factory_->Build(1, 0, zero, {RevokeRequest("dev-2")});
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  auto p2 = factory_->Build(2, 0, p1->header_hash, {BatchOf({{"dev-1", 3}, {"dev-2", 2}})});
  ASSERT_TRUE(p2.ok()) << p2.status().ToString();
  auto d = factory_->Materialize(p2->block);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->records.size(), 1u);
  EXPECT_EQ(d->records[0], Reading("dev-1", 3));
  ASSERT_EQ(d->refused_records.count(ledger::RecordId(Reading("dev-2", 2))), 1u);
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  ASSERT_TRUE(other.Validate(1, 0, zero, p1->block, &info).ok());
  EXPECT_TRUE(other.Validate(2, 0, p1->header_hash, p2->block, &info).ok());
}

TEST_F(ChainBlockFactoryTest, RefusesABlockThatRejectsAGoodRequest) {
  auto p = factory_->Build(1, 0, Bytes(32, '\0'), {Batch("dev-1", 1)});
  ASSERT_TRUE(p.ok());
  v1::ConsensusBlock cb;
  ASSERT_TRUE(cb.ParseFromString(p->block));
  v1::ConsensusRequest good;
  ASSERT_TRUE(good.ParseFromString(Batch("dev-1", 2).payload));
  *cb.add_rejected() = good;  // a primary censoring a valid batch
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  EXPECT_FALSE(other.Validate(1, 0, Bytes(32, '\0'), cb.SerializeAsString(), &info).ok());
}

TEST_F(ChainBlockFactoryTest, RefusesABlockWhoseRootDoesNotMatchItsRequests) {
  auto p = factory_->Build(1, 0, Bytes(32, '\0'), {Batch("dev-1", 1)});
  ASSERT_TRUE(p.ok());
  v1::ConsensusBlock cb;
  ASSERT_TRUE(cb.ParseFromString(p->block));
  *cb.add_requests() = v1::ConsensusRequest();  // smuggled, unsigned
  cb.mutable_requests()->RemoveLast();
  v1::ConsensusRequest extra;
  ASSERT_TRUE(extra.ParseFromString(Batch("dev-1", 5).payload));
  *cb.add_requests() = extra;  // records the header's root does not cover
  cb.add_request_ids(*RequestId("t", extra));
  ChainBlockFactory other(store_.get(), &genesis_, registry_.get(), [] { return uint64_t{0}; });
  consensus::BlockInfo info;
  EXPECT_EQ(other.Validate(1, 0, Bytes(32, '\0'), cb.SerializeAsString(), &info).code(),
            StatusCode::kUnauthenticated);
}

// The outcome of a batch validated at submission, as LedgerService and PbftOrderer keep it.
void RememberChecked(CheckedBatchCache* cache, const consensus::Request& r,
                     std::shared_ptr<const ledger::RegistrySnapshot> reg, CheckedBatch checked) {
  v1::ConsensusRequest req;
  ASSERT_TRUE(req.ParseFromString(r.payload));
  cache->Put(r.id, req.batch(), std::move(reg), std::move(checked));
}

TEST_F(ChainBlockFactoryTest, DerivationTakesABatchValidatedAtSubmissionOnce) {
  CheckedBatchCache cache(16, 1 << 20);
  ChainBlockFactory f(
      store_.get(), &genesis_, registry_.get(), [] { return uint64_t{1}; }, BatchLimits(), &cache);
  consensus::Request r = Batch("dev-1", 1);
  v1::ConsensusRequest req;
  ASSERT_TRUE(req.ParseFromString(r.payload));
  auto reg = registry_->Get();
  auto checked = ValidateBatch(genesis_, *reg, req.batch(), BatchLimits());
  ASSERT_TRUE(checked.ok());
  RememberChecked(&cache, r, reg, *checked);
  auto p = f.Build(1, 0, Bytes(32, '\0'), {r});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.size(), 0u);
  // The same block derived without the cache is the same block.
  consensus::BlockInfo info;
  ASSERT_TRUE(factory_->Validate(1, 0, Bytes(32, '\0'), p->block, &info).ok());
  EXPECT_EQ(info.header_hash, p->header_hash);
}

// A backup's gRPC thread checks the batches of a PRE-PREPARE ahead of its consensus thread
// (PbftOrderer::Deliver): the derivation then takes both outcomes, and the block is the same.
TEST_F(ChainBlockFactoryTest, AProposalPrecheckedAheadIsDerivedFromTheCache) {
  const Bytes zero(32, '\0');
  auto p = factory_->Build(1, 0, zero, {Batch("dev-1", 1), BatchOf({{"dev-1", 2}, {"dev-2", 1}})});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  CheckedBatchCache cache(16, 1 << 20);
  EXPECT_EQ(PrecheckProposal(genesis_, registry_->Get(), p->block, BatchLimits(), &cache), 2u);
  EXPECT_EQ(cache.size(), 2u);
  // Seen already: not validated again.
  EXPECT_EQ(PrecheckProposal(genesis_, registry_->Get(), p->block, BatchLimits(), &cache), 0u);
  EXPECT_EQ(PrecheckProposal(genesis_, registry_->Get(), "not a block", BatchLimits(), &cache), 0u);
  ChainBlockFactory backup(
      store_.get(), &genesis_, registry_.get(), [] { return uint64_t{1}; }, BatchLimits(), &cache);
  consensus::BlockInfo info;
  ASSERT_TRUE(backup.Validate(1, 0, zero, p->block, &info).ok());
  EXPECT_EQ(info.header_hash, p->header_hash);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.size(), 0u);
}

// A primary that names a wrong request id in its proposal gains nothing: the outcome is
// kept under the digest of the batch itself, and a bad signature is kept nowhere.
TEST_F(ChainBlockFactoryTest, APrecheckKeepsOutcomesUnderTheirOwnDigest) {
  const Bytes zero(32, '\0');
  auto p = factory_->Build(1, 0, zero, {Batch("dev-1", 1)});
  ASSERT_TRUE(p.ok());
  v1::ConsensusBlock cb;
  ASSERT_TRUE(cb.ParseFromString(p->block));
  const Bytes real_id = cb.request_ids(0);
  cb.set_request_ids(0, Bytes(32, 'x'));
  v1::ConsensusRequest forged;
  ASSERT_TRUE(forged.ParseFromString(BatchOf({{"dev-1", 9}}, /*bad_signature=*/true).payload));
  *cb.add_requests() = forged;
  CheckedBatchCache cache(16, 1 << 20);
  EXPECT_EQ(
      PrecheckProposal(genesis_, registry_->Get(), cb.SerializeAsString(), BatchLimits(), &cache),
      2u);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Contains(real_id));
  EXPECT_FALSE(cache.Contains(Bytes(32, 'x')));
}

TEST_F(ChainBlockFactoryTest, ABatchCheckedAgainstAnOlderRegistryIsValidatedAgain) {
  CheckedBatchCache cache(16, 1 << 20);
  ChainBlockFactory f(
      store_.get(), &genesis_, registry_.get(), [] { return uint64_t{1}; }, BatchLimits(), &cache);
  consensus::Request r = BatchOf({{"dev-1", 1}, {"dev-2", 1}});
  v1::ConsensusRequest req;
  ASSERT_TRUE(req.ParseFromString(r.payload));
  auto reg = registry_->Get();
  auto checked = ValidateBatch(genesis_, *reg, req.batch(), BatchLimits());
  ASSERT_TRUE(checked.ok());
  ASSERT_EQ(checked->records.size(), 2u);
  RememberChecked(&cache, r, reg, *checked);
  Revoke("dev-2");  // committed between submission and derivation
  auto p = f.Build(1, 0, Bytes(32, '\0'), {r});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(cache.hits(), 0u);
  auto d = f.Materialize(p->block);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->records.size(), 1u) << "dev-2's record is left out, as without the cache";
  EXPECT_EQ(d->refused_records.size(), 1u);
}

// Issue 17: a validator behind the quorum that registered a device takes its first readings
// (DeviceCheck::kLeaveToBlock): the block decides, against the registry as of its parent.
// Registered there (here in an unapplied parent block), the record is written; the batch's
// submission outcome is not cached, so it never stands in for the derivation.
TEST_F(ChainBlockFactoryTest, ADeviceRegisteredAboveTheSubmittersRegistryIsDecidedByTheBlock) {
  CheckedBatchCache cache(16, 1 << 20);
  ChainBlockFactory f(
      store_.get(), &genesis_, registry_.get(), [] { return uint64_t{1}; }, BatchLimits(), &cache);
  const Bytes zero(32, '\0');
  v1::RegistryOp op;
  op.set_chain_id("t");
  op.set_nonce(8);
  op.mutable_register_device()->set_id("dev-9");
  op.mutable_register_device()->set_pubkey(device_.PublicKey());
  StatusOr<Bytes> tx = ledger::SignRegistryTx("t", op, validator_.secret());
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  v1::ConsensusRequest reg_req;
  reg_req.set_registry_tx(*tx);
  auto p1 = f.Build(1, 0, zero, {{*RequestId("t", reg_req), reg_req.SerializeAsString()}});
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();

  consensus::Request r = BatchOf({{"dev-1", 1}, {"dev-9", 1}});
  v1::ConsensusRequest req;
  ASSERT_TRUE(req.ParseFromString(r.payload));
  auto reg = registry_->Get();  // the submitter's: dev-9 not in it
  auto checked =
      ValidateBatch(genesis_, *reg, req.batch(), BatchLimits(), DeviceCheck::kLeaveToBlock);
  ASSERT_TRUE(checked.ok());
  ASSERT_EQ(checked->records.size(), 2u);
  ASSERT_TRUE(checked->records[1].device_left_to_block);
  RememberChecked(&cache, r, reg, *checked);
  EXPECT_EQ(cache.size(), 0u) << "an outcome left to the block is not kept";

  // The outcome a strict check (DeviceCheck::kRefuse) made against the submitter's registry
  // is kept: dev-9 refused there. It stands for that very registry only.
  auto strict = ValidateBatch(genesis_, *reg, req.batch(), BatchLimits());
  ASSERT_TRUE(strict.ok());
  ASSERT_EQ(strict->records.size(), 1u);
  ASSERT_EQ(strict->refused.size(), 1u);
  RememberChecked(&cache, r, reg, *strict);
  ASSERT_EQ(cache.size(), 1u);

  // On the parent that registers dev-9 the registry is another: the cached refusal is not
  // taken, and the block writes dev-9's record.
  auto p2 = f.Build(2, 0, p1->header_hash, {r});
  ASSERT_TRUE(p2.ok()) << p2.status().ToString();
  EXPECT_EQ(cache.hits(), 0u) << "an outcome of another registry stood for the derivation";
  auto d = f.Materialize(p2->block);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->records.size(), 2u);
  EXPECT_EQ(d->records[1], Reading("dev-9", 1));
  EXPECT_TRUE(d->refused_records.empty());

  // On a parent without the registration the registry is the submitter's: the cached
  // outcome is taken, and it refuses dev-9 as the derivation itself would.
  auto p3 = f.Build(1, 1, zero, {r});
  ASSERT_TRUE(p3.ok()) << p3.status().ToString();
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.size(), 0u);
  auto d3 = f.Materialize(p3->block);
  ASSERT_TRUE(d3.ok());
  ASSERT_EQ(d3->records.size(), 1u);
  EXPECT_EQ(d3->records[0], Reading("dev-1", 1));
  ASSERT_EQ(d3->refused_records.size(), 1u);
  const Status& why = d3->refused_records.begin()->second;
  EXPECT_EQ(why.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(why.message().find("not registered"), std::string::npos) << why.ToString();
}

TEST_F(ChainBlockFactoryTest, ACachedOutcomeIsNotTakenForTheSameRecordsWithOtherPayloads) {
  CheckedBatchCache cache(16, 1 << 20);
  consensus::Request r = Batch("dev-1", 1);
  v1::ConsensusRequest req;
  ASSERT_TRUE(req.ParseFromString(r.payload));
  req.mutable_batch()->add_payloads("22.0");  // does not hash to the record's payload_hash
  auto reg = registry_->Get();
  auto checked = ValidateBatch(genesis_, *reg, req.batch(), BatchLimits());
  ASSERT_TRUE(checked.ok());
  ASSERT_EQ(checked->refused.size(), 1u);
  cache.Put(r.id, req.batch(), reg, *checked);
  v1::SignedBatch honest = req.batch();
  honest.set_payloads(0, "21.5");
  EXPECT_FALSE(cache.Take(r.id, honest, reg.get()).has_value());
  v1::SignedBatch resigned = req.batch();
  resigned.set_signature(Bytes(64, '\1'));
  EXPECT_FALSE(cache.Take(r.id, resigned, reg.get()).has_value());
  EXPECT_TRUE(cache.Take(r.id, req.batch(), reg.get()).has_value());
}

TEST(CheckedBatchCache, KeepsAtMostItsEntriesOldestGoingFirst) {
  CheckedBatchCache cache(2, 1 << 20);
  auto reg = std::make_shared<ledger::RegistrySnapshot>();
  v1::SignedBatch b;
  b.set_signature("s");
  for (int i = 0; i < 3; ++i) cache.Put(Bytes(32, static_cast<char>(i)), b, reg, CheckedBatch());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.Take(Bytes(32, '\0'), b, reg.get()).has_value());
  EXPECT_TRUE(cache.Take(Bytes(32, '\2'), b, reg.get()).has_value());
}

}  // namespace
}  // namespace provledger::node
