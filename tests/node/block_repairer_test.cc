// CheckPeerBlock (node/block_repairer.h): what a node accepts from a peer as block `h`, for
// state transfer and for repairing a damaged block. A one-validator genesis (quorum 1).
// BlockRepairer: which peer's copy of a damaged block it delivers, and whom it counts as
// lying; the peers are in-process gRPC Ledger services.
#include "node/block_repairer.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/record.h"
#include "tests/ledger/validator_test_chain.h"

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

// Serves the blocks it holds by height (NOT_FOUND for the others).
class ServedBlocks final : public v1::Ledger::Service {
 public:
  grpc::Status GetBlock(grpc::ServerContext*, const v1::GetBlockRequest* req,
                        v1::Block* out) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = blocks.find(req->height());
    if (it == blocks.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such block");
    *out = it->second;
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::map<uint64_t, v1::Block> blocks;
};

// Four validators: we are v0; v1 is asked first, then v2 (v3 is not reachable). Block 2 holds
// two records.
class BlockRepairerTest : public ::testing::Test {
 protected:
  BlockRepairerTest() : chain_("trepair", 4) {}

  void SetUp() override {
    chain_.AddBlock({chain_.FillerRecord()});
    chain_.AddBlock({chain_.FillerRecord(), chain_.FillerRecord()});
    for (int i = 0; i < 2; ++i) {
      grpc::ServerBuilder b;
      int port = 0;
      b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      b.RegisterService(&peers_[i]);
      servers_[i] = b.BuildAndStart();
      ASSERT_NE(port, 0);
      stubs_[i] = v1::Ledger::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                          grpc::InsecureChannelCredentials()));
      peers_[i].blocks[2] = chain_.BlockAt(2);
    }
  }
  void TearDown() override {
    for (auto& s : servers_) s->Shutdown();
  }

  // What v1 (index 1) serves as block 2.
  v1::Block& Liar() { return peers_[0].blocks[2]; }

  // Requests block 2; returns the first copy delivered (validator index, record count), or
  // (-1, 0) when none came within 60 s. refused_ then holds "peer@height" of each refused.
  std::pair<int, size_t> Repair() {
    std::mutex mu;
    std::condition_variable cv;
    std::pair<int, size_t> got{-1, 0};
    BlockRepairer r(&chain_.genesis(), 0, {nullptr, stubs_[0].get(), stubs_[1].get(), nullptr},
                    [&](std::shared_ptr<BlockRepairer::Copy> c) {
                      std::lock_guard<std::mutex> lock(mu);
                      if (got.first < 0) got = {static_cast<int>(c->from), c->block.records.size()};
                      cv.notify_all();
                      return OkStatus();
                    });
    r.SetOnRefused([&](const std::string& peer, uint64_t height, const Status&) {
      std::lock_guard<std::mutex> lock(mu);
      refused_.push_back(peer + "@" + std::to_string(height));
    });
    r.Request(2);
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(60), [&] { return got.first >= 0; });
    return got;
  }

  provledger::testing::ValidatorTestChain chain_;
  ServedBlocks peers_[2];
  std::unique_ptr<grpc::Server> servers_[2];
  std::unique_ptr<v1::Ledger::Stub> stubs_[2];
  std::vector<std::string> refused_;
};

// A lying peer (tests/integration:byzantine_test, lie_state): the header and certificate as
// committed, a record left out, so that only the records betray it. The store would refuse
// it on the consensus thread, and the next round would ask another peer, counting nothing.
TEST_F(BlockRepairerTest, ACopyMissingARecordIsRefusedCountedAndTheNextPeerAsked) {
  Liar().mutable_records()->RemoveLast();
  EXPECT_EQ(Repair(), std::make_pair(2, size_t{2}));
  EXPECT_EQ(refused_, std::vector<std::string>{"v1@2"});
}

TEST_F(BlockRepairerTest, ACopyWithAGarbledCertificateIsRefusedAndCounted) {
  for (auto& sig : *Liar().mutable_certificate()->mutable_signatures()) {
    (*sig.mutable_signature())[0] ^= 0x5a;
  }
  EXPECT_EQ(Repair(), std::make_pair(2, size_t{2}));
  EXPECT_EQ(refused_, std::vector<std::string>{"v1@2"});
}

TEST_F(BlockRepairerTest, AGoodCopyFromTheFirstPeerIsTaken) {
  EXPECT_EQ(Repair(), std::make_pair(1, size_t{2}));
  EXPECT_TRUE(refused_.empty());
}

TEST_F(BlockRepairerTest, APeerWithoutTheBlockIsNotCountedAsRefusing) {
  peers_[0].blocks.clear();  // NOT_FOUND: no answer, not a lie
  EXPECT_EQ(Repair(), std::make_pair(2, size_t{2}));
  EXPECT_TRUE(refused_.empty());
}

}  // namespace
}  // namespace provledger::node
