// StateTransfer (node/state_transfer.h): fetches certified blocks from a peer on its own
// thread. The peer is an in-process gRPC Ledger service serving a chain of blocks; a
// two-validator genesis (quorum 2: docs/VALIDATOR_SET.md) whose second validator is that peer.
#include "node/state_transfer.h"

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
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "tests/ledger/validator_test_chain.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

// Serves the blocks it holds by height; GetBlock waits while `hold` is set.
class FakeLedger final : public v1::Ledger::Service {
 public:
  grpc::Status GetBlock(grpc::ServerContext*, const v1::GetBlockRequest* req,
                        v1::Block* out) override {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !hold; });
    auto it = blocks.find(req->height());
    if (it == blocks.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such block");
    *out = it->second;
    return grpc::Status::OK;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    hold = false;
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;
  std::map<uint64_t, v1::Block> blocks;
};

class StateTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&peer_);
    server_ = b.BuildAndStart();
    ASSERT_NE(port, 0);
    const std::string addr = "127.0.0.1:" + std::to_string(port);
    genesis_.chain_id = "t";
    genesis_.validators.push_back({"v0", self_key_.PublicKey(), "127.0.0.1:1"});
    genesis_.validators.push_back({"v1", peer_key_.PublicKey(), addr});
    genesis_.admins.push_back(self_key_.PublicKey());
    stub_ = v1::Ledger::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  // Block `height` on `prev`, one reading, certified by both validators (the quorum of a set
  // of 2, docs/VALIDATOR_SET.md) and proposed by v0, the primary of view 0; returns its
  // header hash.
  Bytes AddBlock(uint64_t height, const Bytes& prev) {
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kReading;
    auto& r = rec.reading;
    r.device = "dev-1";
    r.item = "temp";
    r.seq = height;
    r.ts = 1700000000000;
    r.payload_hash = Sha256("21.5");
    r.auth = ledger::kAuthMac;
    r.gateway = "gw-1";
    r.received = 1700000000001;
    ledger::BlockHeader h;
    h.chain_id = "t";
    h.height = height;
    h.prev = prev;
    h.root = ledger::MerkleRoot({ledger::RecordId(ledger::EncodeRecord(rec))});
    h.record_count = 1;
    h.timestamp = 1700000000000;
    h.proposer = "v0";
    v1::Block b;
    b.set_header(ledger::EncodeHeader(h));
    b.add_records(ledger::EncodeRecord(rec));
    b.add_payloads("21.5");
    const Bytes hash = ledger::HeaderHash(b.header());
    const Bytes digest = ledger::CommitDigest("t", height, 0, hash);
    b.mutable_certificate()->set_view(0);
    b.mutable_certificate()->set_digest(digest);
    auto* s0 = b.mutable_certificate()->add_signatures();
    s0->set_validator(0);
    s0->set_signature(*self_key_.Sign(digest));
    auto* s = b.mutable_certificate()->add_signatures();
    s->set_validator(1);
    s->set_signature(*peer_key_.Sign(digest));
    std::lock_guard<std::mutex> lock(peer_.mu);
    peer_.blocks[height] = b;
    return hash;
  }

  // Starts a transfer, collecting what it delivers (and in refused_ what it refused);
  // returns once the fetch ended.
  std::vector<uint64_t> Run(uint64_t target, bool release_after_request = false) {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<uint64_t> heights;
    bool done = false;
    StateTransfer st(&genesis_, 0, {nullptr, stub_.get()},
                     [&](std::shared_ptr<StateTransfer::Batch> b) {
                       std::lock_guard<std::mutex> lock(mu);
                       for (const auto& pb : b->blocks) heights.push_back(pb.header.height);
                       done = done || b->last;
                       cv.notify_all();
                       return OkStatus();
                     });
    st.SetOnRefused([&](const std::string& peer, uint64_t height, const Status&) {
      std::lock_guard<std::mutex> lock(mu);
      refused_.push_back(peer + "@" + std::to_string(height));
    });
    const auto t0 = std::chrono::steady_clock::now();
    st.Request(1, Bytes(32, '\0'), target);
    request_ms_ =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (release_after_request) peer_.Release();
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; }));
    return heights;
  }

  PrivateKey self_key_ = PrivateKey::Generate();
  PrivateKey peer_key_ = PrivateKey::Generate();
  ledger::Genesis genesis_;
  FakeLedger peer_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Ledger::Stub> stub_;
  int64_t request_ms_ = 0;
  std::vector<std::string> refused_;
};

TEST_F(StateTransferTest, RequestReturnsWhileThePeerHasNotAnsweredAndTheBlocksFollowInOrder) {
  Bytes prev(32, '\0');
  for (uint64_t h = 1; h <= 20; ++h) prev = AddBlock(h, prev);
  peer_.hold = true;  // the peer answers nothing until released after Request returned
  const std::vector<uint64_t> got = Run(20, /*release_after_request=*/true);
  EXPECT_LT(request_ms_, 1000);
  ASSERT_EQ(got.size(), 20u);
  for (uint64_t h = 1; h <= 20; ++h) EXPECT_EQ(got[h - 1], h);
}

TEST_F(StateTransferTest, StopsAtABlockThatDoesNotExtendTheOneBefore) {
  const Bytes one = AddBlock(1, Bytes(32, '\0'));
  AddBlock(2, Bytes(32, '\x09'));  // certified, but not on block 1
  (void)one;
  const std::vector<uint64_t> got = Run(2);
  EXPECT_EQ(got, std::vector<uint64_t>{1});
}

// A lying peer (tests/integration:byzantine_test, lie_state): block 2 as committed, header
// and certificate, but its record left out. Before, the fetch took it (the store refused it
// later, on the consensus thread, and the next fetch asked the same peer first again).
TEST_F(StateTransferTest, ABlockWhoseRecordsDoNotMatchItsRootIsRefusedAndCounted) {
  const Bytes one = AddBlock(1, Bytes(32, '\0'));
  AddBlock(2, one);
  {
    std::lock_guard<std::mutex> lock(peer_.mu);
    peer_.blocks[2].mutable_records()->RemoveLast();
    peer_.blocks[2].mutable_payloads()->RemoveLast();
  }
  const std::vector<uint64_t> got = Run(2);
  EXPECT_EQ(got, std::vector<uint64_t>{1});
  ASSERT_FALSE(refused_.empty());
  EXPECT_EQ(refused_.front(), "v1@2");
}

TEST_F(StateTransferTest, ABlockWithAGarbledCertificateIsRefusedAndCounted) {
  AddBlock(1, Bytes(32, '\0'));
  {
    std::lock_guard<std::mutex> lock(peer_.mu);
    for (auto& sig : *peer_.blocks[1].mutable_certificate()->mutable_signatures()) {
      (*sig.mutable_signature())[0] ^= 0x5a;
    }
  }
  EXPECT_TRUE(Run(1).empty());
  ASSERT_FALSE(refused_.empty());
  EXPECT_EQ(refused_.front(), "v1@1");
}

TEST_F(StateTransferTest, APeerWithoutTheBlockIsNotCountedAsRefusing) {
  EXPECT_TRUE(Run(1).empty());  // NOT_FOUND: no answer, not a lie
  EXPECT_TRUE(refused_.empty());
}

// docs/VALIDATOR_SET.md: a fetch runs ahead of the registry, so the set of each fetched block
// comes from the schedule after the blocks below it. The peer serves a chain whose set went
// 4 -> 7 at height 2 (in force above 64); the registry (the schedule source) is at height 0.
class StateTransferAcrossAChangeTest : public StateTransferTest {
 protected:
  StateTransferAcrossAChangeTest() : chain_("tchange", 4) {}

  void Serve(uint64_t height) {
    std::vector<ledger::Validator> seven = chain_.genesis().validators;
    for (int i = 4; i < 7; ++i) seven.push_back(chain_.NewValidator("v" + std::to_string(i), i));
    chain_.AddBlock({chain_.FillerRecord()});
    chain_.AddBlock({chain_.SetValidatorsRecord(seven)});
    chain_.FillTo(height);
    std::lock_guard<std::mutex> lock(peer_.mu);
    for (uint64_t h = 1; h <= height; ++h) peer_.blocks[h] = chain_.BlockAt(h);
  }

  std::vector<uint64_t> Fetch(uint64_t target, ScheduleSource source) {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<uint64_t> heights;
    bool done = false;
    StateTransfer st(&chain_.genesis(), 0, {nullptr, stub_.get()},
                     [&](std::shared_ptr<StateTransfer::Batch> b) {
                       std::lock_guard<std::mutex> lock(mu);
                       for (const auto& pb : b->blocks) heights.push_back(pb.header.height);
                       done = done || b->last;
                       cv.notify_all();
                       return OkStatus();
                     });
    st.SetScheduleSource(std::move(source));
    st.Request(1, Bytes(32, '\0'), target);
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; }));
    return heights;
  }

  provledger::testing::ValidatorTestChain chain_;
};

TEST_F(StateTransferAcrossAChangeTest, BlocksAboveTheEpochAreCheckedAgainstTheNewSet) {
  Serve(80);
  auto empty = *ledger::RegistrySnapshot::FromRows({}, &chain_.genesis());
  const std::vector<uint64_t> got = Fetch(80, [empty] { return empty->schedule(); });
  ASSERT_EQ(got.size(), 80u);
  EXPECT_EQ(got.back(), 80u);
}

TEST_F(StateTransferAcrossAChangeTest, FromGenesisTheFetchedBlocksAloneGiveTheSchedule) {
  Serve(80);
  const std::vector<uint64_t> got = Fetch(80, nullptr);  // no registry: genesis + the blocks
  ASSERT_EQ(got.size(), 80u);
}

TEST_F(StateTransferAcrossAChangeTest, ABlockAboveTheEpochSignedByTheOldSetIsRefused) {
  Serve(64);
  const ledger::ValidatorSet old = ledger::ValidatorSet::FromGenesis(chain_.genesis());
  chain_.AddBlock({chain_.FillerRecord()}, &old);  // 65: the genesis set's quorum, not the 7-set's
  {
    std::lock_guard<std::mutex> lock(peer_.mu);
    peer_.blocks[65] = chain_.BlockAt(65);
  }
  const std::vector<uint64_t> got = Fetch(65, nullptr);
  ASSERT_EQ(got.size(), 64u);
  EXPECT_EQ(got.back(), 64u);
}

TEST_F(StateTransferAcrossAChangeTest, ASourceAheadOfTheFetchIsNotCountedTwice) {
  Serve(80);
  // The registry already applied block 2's change (its rows say so); the fetch from 1 takes
  // it from block 2 again, once.
  const auto ahead = std::make_shared<const ledger::ValidatorSchedule>(chain_.schedule());
  const std::vector<uint64_t> got = Fetch(80, [ahead] { return ahead; });
  ASSERT_EQ(got.size(), 80u);
}

}  // namespace
}  // namespace provledger::node
