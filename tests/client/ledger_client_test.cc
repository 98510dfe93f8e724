// LedgerClient::FindGatewayOnAnyNode and FindDeviceOnAnyNode (client/ledger_client.h): which
// nodes a registry lookup asks, and what it answers. The nodes are in-process gRPC servers of
// a fake Ledger service; an unreachable node is an address nothing listens on.
#include "client/ledger_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace provledger::client {
namespace {

namespace v1 = provledger::v1;

// Answers Gateways and Devices with `code` (and, when OK and `lists`, a listing holding the
// id asked for); counts the calls.
class FakeLedger final : public v1::Ledger::Service {
 public:
  grpc::Status Gateways(grpc::ServerContext*, const v1::RegistryQuery* req,
                        v1::RegistryListing* out) override {
    ++calls;
    if (code == grpc::StatusCode::OK && lists) out->add_gateways()->set_id(req->id());
    return Answer();
  }
  grpc::Status Devices(grpc::ServerContext*, const v1::RegistryQuery* req,
                       v1::RegistryListing* out) override {
    ++calls;
    if (code == grpc::StatusCode::OK && lists) out->add_devices()->set_id(req->id());
    return Answer();
  }

  std::atomic<grpc::StatusCode> code{grpc::StatusCode::NOT_FOUND};
  std::atomic<bool> lists{true};
  std::atomic<int> calls{0};

 private:
  grpc::Status Answer() const {
    const grpc::StatusCode c = code.load();
    if (c == grpc::StatusCode::OK) return grpc::Status::OK;
    return grpc::Status(c, "fake says so");
  }
};

enum class Lookup { kGateway, kDevice };

// Three nodes; the lookup under test is the parameter, both must behave alike.
class FindOnAnyNodeTest : public ::testing::TestWithParam<Lookup> {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      grpc::ServerBuilder b;
      int port = 0;
      b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      b.RegisterService(&nodes_[i]);
      servers_[i] = b.BuildAndStart();
      ASSERT_NE(port, 0);
      addresses_.push_back("127.0.0.1:" + std::to_string(port));
    }
  }
  void TearDown() override {
    for (auto& s : servers_) {
      if (s != nullptr) s->Shutdown();
    }
  }

  // Node `i` no longer listens (its port is closed: calls to it fail UNAVAILABLE, or, waiting
  // for ready, DEADLINE_EXCEEDED).
  void StopNode(int i) {
    servers_[i]->Shutdown();
    servers_[i].reset();
  }

  StatusOr<v1::RegistryListing> Find(std::vector<NodeAnswer>* answers = nullptr) {
    ClientOptions options;
    options.read_timeout_ms = 5000;
    auto client = LedgerClient::Create(addresses_, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    if (GetParam() == Lookup::kGateway) return (*client)->FindGatewayOnAnyNode("gw-1", answers);
    return (*client)->FindDeviceOnAnyNode("dev-1");
  }

  int Listed(const v1::RegistryListing& l) const {
    return GetParam() == Lookup::kGateway ? l.gateways_size() : l.devices_size();
  }

  FakeLedger nodes_[3];
  std::unique_ptr<grpc::Server> servers_[3];
  std::vector<std::string> addresses_;
};

TEST_P(FindOnAnyNodeTest, ReturnsTheListingOfTheSecondNodeWhenTheFirstSaysNotFound) {
  nodes_[1].code = grpc::StatusCode::OK;
  std::vector<NodeAnswer> answers;
  auto found = Find(&answers);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(Listed(*found), 1);
  EXPECT_EQ(nodes_[0].calls.load(), 1);
  EXPECT_EQ(nodes_[1].calls.load(), 1);
  EXPECT_EQ(nodes_[2].calls.load(), 0);
  if (GetParam() == Lookup::kGateway) {
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_EQ(answers[0].address, addresses_[0]);
    EXPECT_EQ(answers[0].status.code(), StatusCode::kNotFound);
    EXPECT_TRUE(answers[1].status.ok());
  }
}

TEST_P(FindOnAnyNodeTest, TakesAnEmptyListingAsNotFoundAndAsksTheNext) {
  nodes_[0].code = grpc::StatusCode::OK;
  nodes_[0].lists = false;
  nodes_[1].code = grpc::StatusCode::OK;
  auto found = Find();
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(Listed(*found), 1);
  EXPECT_EQ(nodes_[1].calls.load(), 1);
}

TEST_P(FindOnAnyNodeTest, SaysNotFoundWhenEveryNodeSaysNotFound) {
  std::vector<NodeAnswer> answers;
  auto found = Find(&answers);
  EXPECT_EQ(found.status().code(), StatusCode::kNotFound) << found.status().ToString();
  EXPECT_NE(found.status().message().find("is not registered on any node"), std::string::npos)
      << found.status().ToString();
  for (const FakeLedger& n : nodes_) EXPECT_EQ(n.calls.load(), 1);
  if (GetParam() == Lookup::kGateway) {
    EXPECT_EQ(answers.size(), 3u);
  }
}

TEST_P(FindOnAnyNodeTest, AsksTheNextNodeWhenOneIsUnreachable) {
  StopNode(0);
  nodes_[1].code = grpc::StatusCode::OK;
  std::vector<NodeAnswer> answers;
  auto found = Find(&answers);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(Listed(*found), 1);
  EXPECT_EQ(nodes_[2].calls.load(), 0);
  if (GetParam() == Lookup::kGateway) {
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_EQ(answers[0].status.code(), StatusCode::kUnavailable) << answers[0].status.ToString();
  }
}

TEST_P(FindOnAnyNodeTest, SaysNotFoundWhenOneNodeIsUnreachableAndTheOthersSayNotFound) {
  StopNode(1);
  auto found = Find();
  EXPECT_EQ(found.status().code(), StatusCode::kNotFound) << found.status().ToString();
  EXPECT_EQ(nodes_[2].calls.load(), 1);
}

TEST_P(FindOnAnyNodeTest, ReturnsPermissionDeniedAtOnceWithoutAskingTheOtherNodes) {
  nodes_[0].code = grpc::StatusCode::PERMISSION_DENIED;
  nodes_[1].code = grpc::StatusCode::OK;
  std::vector<NodeAnswer> answers;
  auto found = Find(&answers);
  EXPECT_EQ(found.status().code(), StatusCode::kPermissionDenied) << found.status().ToString();
  EXPECT_EQ(found.status().message(), addresses_[0] + ": fake says so");
  EXPECT_EQ(nodes_[0].calls.load(), 1);
  EXPECT_EQ(nodes_[1].calls.load(), 0);
  EXPECT_EQ(nodes_[2].calls.load(), 0);
  if (GetParam() == Lookup::kGateway) {
    EXPECT_EQ(answers.size(), 1u);
  }
}

TEST_P(FindOnAnyNodeTest, ReturnsTheLastErrorWhenNoNodeAnswers) {
  for (auto& n : nodes_) n.code = grpc::StatusCode::UNAVAILABLE;
  auto found = Find();
  EXPECT_EQ(found.status().code(), StatusCode::kUnavailable) << found.status().ToString();
  EXPECT_EQ(found.status().message(), addresses_[2] + ": fake says so");
}

INSTANTIATE_TEST_SUITE_P(GatewayAndDevice, FindOnAnyNodeTest,
                         ::testing::Values(Lookup::kGateway, Lookup::kDevice),
                         [](const ::testing::TestParamInfo<Lookup>& p) {
                           return p.param == Lookup::kGateway ? "Gateway" : "Device";
                         });

}  // namespace
}  // namespace provledger::client
