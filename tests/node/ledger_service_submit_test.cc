// LedgerService's submission methods on gRPC's callback API (node/ledger_service.h), through a
// real gRPC server and channel, with an orderer that keeps every submission pending until the
// test answers it (as the consensus thread does once a block is durable):
// - more submissions pending at once than the server has threads, all answered;
// - answers and errors reach the client as the orderer gave them (status codes unchanged);
// - a client that goes away (deadline, cancel) is answered at once, and the orderer's later
//   answer is dropped without touching the finished call;
// - a follower forwards submissions unchecked and answers with the validators' answer;
// - a record of a device this node's registry does not know is ordered, not refused (issue
//   17: the node may be behind the quorum that registered it; the block decides);
// - Devices and Gateways list the registry, all of it or one id (NOT_FOUND naming it).
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "ledger/store/block_store.h"
#include "node/ledger_service.h"
#include "node/registry_holder.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

constexpr char kChain[] = "pl-test";
constexpr char kGatewaySecret[] =
    "9e5095f99c06eb586a0f8fad7dcde14cd306af47f8586755b6937c3dd4e8c869";
constexpr char kDeviceSecret[] = "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95";
constexpr char kV0Secret[] = "acfbb3c70c6e20bf3a70a2cb5b148a7de2d105bdd0c6047028ab131a863a598f";

PrivateKey Key(const char* hex) {
  StatusOr<PrivateKey> k = PrivateKey::FromHex(hex);
  if (!k.ok()) std::abort();
  return *k;
}

ledger::Genesis TestGenesis() {
  ledger::Genesis g;
  g.chain_id = kChain;
  g.validators.push_back({"v0", Key(kV0Secret).PublicKey(), "127.0.0.1:7000"});
  return g;
}

// gw-1 and dev-1 registered.
std::shared_ptr<const ledger::RegistrySnapshot> TestRegistry() {
  std::vector<std::pair<Bytes, Bytes>> puts;
  auto snap = std::make_shared<const ledger::RegistrySnapshot>();
  v1::RegistryOp gw;
  gw.set_chain_id(kChain);
  gw.mutable_register_gateway()->set_id("gw-1");
  gw.mutable_register_gateway()->set_pubkey(Key(kGatewaySecret).PublicKey());
  snap = snap->Apply(gw, 1, &puts);
  v1::RegistryOp dev;
  dev.set_chain_id(kChain);
  dev.mutable_register_device()->set_id("dev-1");
  dev.mutable_register_device()->set_pubkey(Key(kDeviceSecret).PublicKey());
  return snap->Apply(dev, 1, &puts);
}

// A batch of one MACed reading of `device` with sequence number `seq`, signed by gw-1.
v1::SignedBatch Batch(uint64_t seq, const std::string& device = "dev-1") {
  ledger::Record r;
  r.kind = ledger::RecordKind::kReading;
  r.reading.device = device;
  r.reading.item = "climate";
  r.reading.seq = seq;
  r.reading.ts = 1700000000000 + seq;
  r.reading.payload_hash = Sha256("p" + std::to_string(seq));
  r.reading.auth = ledger::kAuthMac;
  r.reading.gateway = "gw-1";
  r.reading.received = r.reading.ts + 1;
  v1::SignedBatch b;
  b.set_gateway("gw-1");
  b.add_records(ledger::EncodeRecord(r));
  b.add_payloads("p" + std::to_string(seq));
  StatusOr<Bytes> sig = Key(kGatewaySecret).Sign(SignedBatchDigest(kChain, b));
  if (!sig.ok()) std::abort();
  b.set_signature(*sig);
  return b;
}

// Keeps every submission pending until Answer*(); answers from a thread of its own, like
// the consensus thread.
class HoldingOrderer final : public Orderer, public SubmitForwarder {
 public:
  Status Submit(CheckedBatch batch, v1::ConsensusRequest, SubmitDone done) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!refuse.ok()) return refuse;
    held_.push_back(Held{std::move(batch), std::move(done)});
    cv_.notify_all();
    return OkStatus();
  }
  uint64_t pending() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  uint64_t view() const override { return 0; }
  SubmitForwarder* forwarder() override { return forwarding ? this : nullptr; }

  StatusOr<v1::SubmitResponse> Submit(const v1::SignedBatch& batch) override {
    seen = "batch:" + batch.gateway();
    return Forwarded();
  }
  StatusOr<v1::SubmitResponse> SubmitRegistry(const std::string& tx) override {
    seen = "registry:" + tx;
    return Forwarded();
  }
  StatusOr<v1::SubmitResponse> SubmitFirmware(const std::string& record) override {
    seen = "firmware:" + record;
    return Forwarded();
  }
  StatusOr<v1::SubmitResponse> Forwarded() {
    if (!forward_error.ok()) return forward_error;
    v1::SubmitResponse r;
    r.add_results()->set_outcome(v1::RecordResult::COMMITTED);
    r.mutable_results(0)->set_height(7);
    return r;
  }

  // The batch of the oldest submission held (the orderer has not answered it yet).
  CheckedBatch FirstHeld() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.front().batch;
  }
  // Waits (no deadline of its own: the test's timeout bounds it) until `n` are held.
  void WaitHeld(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return held_.size() >= n; });
  }
  // Answers every held submission from another thread: each record COMMITTED at `height`,
  // or `error` when it is not OK.
  void AnswerAll(uint64_t height, const Status& error = OkStatus()) {
    std::vector<Held> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    std::thread([&] {
      for (Held& h : held) {
        if (!error.ok()) {
          h.done(error);
          continue;
        }
        v1::SubmitResponse resp;
        for (const CheckedRecord& rec : h.batch.records) {
          v1::RecordResult* r = resp.add_results();
          r->set_record_id(rec.id);
          r->set_outcome(v1::RecordResult::COMMITTED);
          r->set_height(height);
        }
        h.done(std::move(resp));
      }
    }).join();
  }

  Status refuse = OkStatus();
  bool forwarding = false;
  std::string seen;
  Status forward_error = OkStatus();

 private:
  struct Held {
    CheckedBatch batch;
    SubmitDone done;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Held> held_;  // guarded by mu_
};

// The service behind a gRPC server whose synchronous methods have at most kServerThreads
// threads (a ResourceQuota), reached through an in-process channel.
class SubmitTest : public ::testing::Test {
 protected:
  static constexpr int kServerThreads = 4;

  void SetUp() override {
    ledger::StoreOptions so;
    so.path = ::testing::TempDir() + "store-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name();
    store_ = std::move(ledger::BlockStore::Open(so, kChain)).value();
    service_ = std::make_unique<LedgerService>(&genesis_, "v0", store_.get(), &registry_, &orderer_,
                                               BatchLimits());
    grpc::ServerBuilder builder;
    grpc::ResourceQuota quota("submit-test");
    quota.SetMaxThreads(kServerThreads);
    builder.SetResourceQuota(quota);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 1);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Ledger::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
    service_.reset();
  }

  // Starts Submit(Batch(seq)) without waiting; the call ends in `calls_`.
  struct Call {
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    v1::SubmitResponse resp;
    grpc::Status status;
    bool done = false;
  };
  Call* StartSubmit(uint64_t seq, int deadline_ms = 0) {
    calls_.push_back(std::make_unique<Call>());
    Call* c = calls_.back().get();
    *c->req.mutable_batch() = Batch(seq);
    if (deadline_ms > 0) {
      c->ctx.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(deadline_ms));
    }
    stub_->async()->Submit(&c->ctx, &c->req, &c->resp, [this, c](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu_);
      c->status = std::move(s);
      c->done = true;
      cv_.notify_all();
    });
    return c;
  }
  void WaitDone(Call* c) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [c] { return c->done; });
  }
  std::string FirstDoneStatus() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : calls_) {
      if (c->done) return c->status.error_message();
    }
    return "";
  }
  size_t DoneCount() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& c : calls_) n += c->done ? 1 : 0;
    return n;
  }

  ledger::Genesis genesis_ = TestGenesis();
  RegistryHolder registry_{TestRegistry()};
  HoldingOrderer orderer_;
  std::unique_ptr<ledger::BlockStore> store_;
  std::unique_ptr<LedgerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Ledger::Stub> stub_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Call>> calls_;
};

TEST_F(SubmitTest, ManyMorePendingSubmissionsThanServerThreadsAreAllAnswered) {
  constexpr int kCalls = 16 * kServerThreads;
  for (int i = 0; i < kCalls; ++i) StartSubmit(static_cast<uint64_t>(i) + 1);
  // A server holding a thread per pending submission never gets past kServerThreads here
  // (the others wait, or are refused RESOURCE_EXHAUSTED).
  while (orderer_.pending() < static_cast<uint64_t>(kCalls)) {
    ASSERT_EQ(DoneCount(), 0u) << "a call ended before the orderer answered: " << FirstDoneStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(orderer_.pending(), static_cast<uint64_t>(kCalls));
  EXPECT_EQ(DoneCount(), 0u);
  // A synchronous method is still served meanwhile.
  {
    grpc::ClientContext ctx;
    v1::StatusRequest sreq;
    v1::NodeStatus st;
    EXPECT_TRUE(stub_->GetStatus(&ctx, sreq, &st).ok());
    EXPECT_EQ(st.pending_batches(), static_cast<uint64_t>(kCalls));
  }
  orderer_.AnswerAll(9);
  for (auto& c : calls_) {
    WaitDone(c.get());
    ASSERT_TRUE(c->status.ok()) << c->status.error_message();
    ASSERT_EQ(c->resp.results_size(), 1);
    EXPECT_EQ(c->resp.results(0).outcome(), v1::RecordResult::COMMITTED);
    EXPECT_EQ(c->resp.results(0).height(), 9u);
    EXPECT_EQ(c->resp.results(0).record_id().size(), 32u);
  }
}

TEST_F(SubmitTest, TheOrderersErrorsReachTheClientWithTheirCodes) {
  Call* c = StartSubmit(1);
  orderer_.WaitHeld(1);
  orderer_.AnswerAll(0, DeadlineExceededError("not committed within 6000 ms"));
  WaitDone(c);
  EXPECT_EQ(c->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(c->status.error_message(), "not committed within 6000 ms");

  orderer_.refuse = ResourceExhaustedError("consensus queue is full; retry later");
  Call* full = StartSubmit(2);
  WaitDone(full);
  EXPECT_EQ(full->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(full->status.error_message(), "consensus queue is full; retry later");
}

TEST_F(SubmitTest, ABatchThatFailsItsChecksIsRefusedWithoutOrdering) {
  calls_.push_back(std::make_unique<Call>());
  Call* c = calls_.back().get();
  *c->req.mutable_batch() = Batch(1);
  c->req.mutable_batch()->set_signature("not a signature");
  c->status = stub_->Submit(&c->ctx, c->req, &c->resp);
  EXPECT_EQ(c->status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(orderer_.pending(), 0u);
}

// The registry here lacks dev-9, as a validator's does while it is behind the quorum that
// committed dev-9's registration: its reading is not refused (a refusal is final: the bridge
// would tell the device `unregistered`), it goes on to the orderer, whose block decides.
TEST_F(SubmitTest, AReadingOfADeviceThisNodeDoesNotKnowIsOrderedNotRefused) {
  calls_.push_back(std::make_unique<Call>());
  Call* c = calls_.back().get();
  *c->req.mutable_batch() = Batch(1, "dev-9");
  stub_->async()->Submit(&c->ctx, &c->req, &c->resp, [this, c](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    c->status = std::move(s);
    c->done = true;
    cv_.notify_all();
  });
  // Answered at once (REFUSED) before the fix; the orderer holds it now. Either happens
  // first: wait for whichever does.
  while (orderer_.pending() == 0 && DoneCount() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(DoneCount(), 0u) << "answered without ordering: "
                             << (c->resp.results_size() > 0 ? c->resp.results(0).reason()
                                                            : c->status.error_message());
  ASSERT_EQ(orderer_.pending(), 1u);
  const CheckedBatch held = orderer_.FirstHeld();
  ASSERT_EQ(held.records.size(), 1u);
  EXPECT_TRUE(held.records[0].device_left_to_block);
  EXPECT_TRUE(held.refused.empty());
  orderer_.AnswerAll(5);
  WaitDone(c);
  ASSERT_TRUE(c->status.ok()) << c->status.error_message();
  ASSERT_EQ(c->resp.results_size(), 1);
  EXPECT_EQ(c->resp.results(0).outcome(), v1::RecordResult::COMMITTED);
  EXPECT_EQ(c->resp.results(0).height(), 5u);
}

TEST_F(SubmitTest, AClientThatGoesAwayIsAnsweredAtOnceAndTheLateAnswerIsDropped) {
  Call* expired = StartSubmit(1, /*deadline_ms=*/300);
  Call* cancelled = StartSubmit(2);
  Call* kept = StartSubmit(3);
  orderer_.WaitHeld(3);
  WaitDone(expired);
  EXPECT_EQ(expired->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  cancelled->ctx.TryCancel();
  WaitDone(cancelled);
  EXPECT_EQ(cancelled->status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_FALSE(kept->done);
  // The orderer answers all three after two of the calls are gone: only the third is
  // answered (under ASan a write to a finished call fails this test).
  orderer_.AnswerAll(4);
  WaitDone(kept);
  ASSERT_TRUE(kept->status.ok()) << kept->status.error_message();
  EXPECT_EQ(kept->resp.results(0).height(), 4u);
  EXPECT_EQ(expired->resp.results_size(), 0);
  EXPECT_EQ(cancelled->resp.results_size(), 0);
}

TEST_F(SubmitTest, AFollowerForwardsSubmissionsUncheckedWithTheValidatorsAnswer) {
  orderer_.forwarding = true;
  grpc::ClientContext c1;
  v1::SubmitRequest req;
  req.mutable_batch()->set_gateway("gw-9");  // no signature: a follower does not check it
  v1::SubmitResponse resp;
  ASSERT_TRUE(stub_->Submit(&c1, req, &resp).ok());
  EXPECT_EQ(orderer_.seen, "batch:gw-9");
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).height(), 7u);
  EXPECT_EQ(orderer_.pending(), 0u);

  grpc::ClientContext c2;
  v1::SubmitRegistryRequest rreq;
  rreq.set_tx("tx-bytes");
  ASSERT_TRUE(stub_->SubmitRegistry(&c2, rreq, &resp).ok());
  EXPECT_EQ(orderer_.seen, "registry:tx-bytes");
  grpc::ClientContext c3;
  v1::SubmitFirmwareRequest freq;
  freq.set_record("fw-record");
  ASSERT_TRUE(stub_->SubmitFirmware(&c3, freq, &resp).ok());
  EXPECT_EQ(orderer_.seen, "firmware:fw-record");

  orderer_.forward_error = UnavailableError("no validator answers");
  grpc::ClientContext c4;
  grpc::Status s = stub_->Submit(&c4, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "no validator answers");
}

TEST_F(SubmitTest, DevicesAndGatewaysListTheRegistryOrOneIdOrSayItIsNotRegistered) {
  auto list = [this](bool devices, const std::string& id, v1::RegistryListing* out) {
    grpc::ClientContext ctx;
    v1::RegistryQuery q;
    q.set_id(id);
    return devices ? stub_->Devices(&ctx, q, out) : stub_->Gateways(&ctx, q, out);
  };
  for (const std::string& id : {std::string(), std::string("dev-1")}) {
    SCOPED_TRACE("devices '" + id + "'");
    v1::RegistryListing l;
    ASSERT_TRUE(list(true, id, &l).ok());
    ASSERT_EQ(l.devices_size(), 1);
    EXPECT_EQ(l.devices(0).id(), "dev-1");
    EXPECT_EQ(l.devices(0).pubkey(), Key(kDeviceSecret).PublicKey());
    EXPECT_EQ(l.devices(0).registered_height(), 1u);
    EXPECT_FALSE(l.devices(0).revoked());
    EXPECT_EQ(l.gateways_size(), 0);
  }
  for (const std::string& id : {std::string(), std::string("gw-1")}) {
    SCOPED_TRACE("gateways '" + id + "'");
    v1::RegistryListing l;
    ASSERT_TRUE(list(false, id, &l).ok());
    ASSERT_EQ(l.gateways_size(), 1);
    EXPECT_EQ(l.gateways(0).id(), "gw-1");
    EXPECT_EQ(l.gateways(0).pubkey(), Key(kGatewaySecret).PublicKey());
    EXPECT_EQ(l.devices_size(), 0);
  }
  v1::RegistryListing l;
  grpc::Status s = list(true, "gw-1", &l);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "device 'gw-1' is not registered");
  EXPECT_EQ(l.devices_size(), 0);
  s = list(false, "dev-1", &l);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "gateway 'dev-1' is not registered");
}

}  // namespace
}  // namespace provledger::node
