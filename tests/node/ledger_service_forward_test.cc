// LedgerService with an orderer that forwards (node/orderer.h SubmitForwarder, a follower):
// every submission goes to the forwarder unchecked, its answer or error is the service's,
// and nothing is ordered here.
#include <gtest/gtest.h>

#include "node/ledger_service.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

class FakeForwarder final : public Orderer, public SubmitForwarder {
 public:
  StatusOr<std::future<SubmitResult>> Submit(CheckedBatch, v1::ConsensusRequest) override {
    ++ordered;
    return UnavailableError("not here");
  }
  uint64_t pending() const override { return 0; }
  uint64_t view() const override { return 0; }
  SubmitForwarder* forwarder() override { return this; }
  std::string role() const override { return "follower"; }

  StatusOr<v1::SubmitResponse> Submit(const v1::SignedBatch& batch) override {
    seen = "batch:" + batch.gateway();
    return Answer();
  }
  StatusOr<v1::SubmitResponse> SubmitRegistry(const std::string& tx) override {
    seen = "registry:" + tx;
    return Answer();
  }
  StatusOr<v1::SubmitResponse> SubmitFirmware(const std::string& record) override {
    seen = "firmware:" + record;
    return Answer();
  }
  StatusOr<v1::SubmitResponse> Answer() {
    if (!error.ok()) return error;
    v1::SubmitResponse r;
    auto* res = r.add_results();
    res->set_outcome(v1::RecordResult::COMMITTED);
    res->set_height(7);
    return r;
  }

  int ordered = 0;
  std::string seen;
  Status error = OkStatus();
};

class ForwardTest : public ::testing::Test {
 protected:
  ledger::Genesis genesis_;
  FakeForwarder fwd_;
  // The forwarding path reads neither store nor registry.
  LedgerService service_{&genesis_, "f0", nullptr, nullptr, &fwd_, BatchLimits()};
  grpc::ServerContext ctx_;
};

TEST_F(ForwardTest, SubmitIsForwardedUncheckedAndAnsweredWithTheValidatorsAnswer) {
  v1::SubmitRequest req;
  req.mutable_batch()->set_gateway("gw-1");  // no signature: a follower does not check it
  v1::SubmitResponse resp;
  ASSERT_TRUE(service_.Submit(&ctx_, &req, &resp).ok());
  EXPECT_EQ(fwd_.seen, "batch:gw-1");
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).outcome(), v1::RecordResult::COMMITTED);
  EXPECT_EQ(resp.results(0).height(), 7u);
  EXPECT_EQ(fwd_.ordered, 0);
}

TEST_F(ForwardTest, RegistryAndFirmwareSubmissionsAreForwarded) {
  v1::SubmitRegistryRequest rreq;
  rreq.set_tx("tx-bytes");
  v1::SubmitResponse resp;
  ASSERT_TRUE(service_.SubmitRegistry(&ctx_, &rreq, &resp).ok());
  EXPECT_EQ(fwd_.seen, "registry:tx-bytes");
  v1::SubmitFirmwareRequest freq;
  freq.set_record("fw-record");
  ASSERT_TRUE(service_.SubmitFirmware(&ctx_, &freq, &resp).ok());
  EXPECT_EQ(fwd_.seen, "firmware:fw-record");
  EXPECT_EQ(fwd_.ordered, 0);
}

TEST_F(ForwardTest, TheValidatorsErrorIsPassedOnWithItsCode) {
  fwd_.error = PermissionDeniedError("gateway gw-1 is not registered");
  v1::SubmitRequest req;
  v1::SubmitResponse resp;
  grpc::Status s = service_.Submit(&ctx_, &req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "gateway gw-1 is not registered");
  EXPECT_EQ(resp.results_size(), 0);
}

}  // namespace
}  // namespace provledger::node
