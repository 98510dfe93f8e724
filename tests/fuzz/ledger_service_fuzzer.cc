// Fuzzes every gRPC method a node serves to clients and peers (proto/ledger.proto Ledger,
// proto/state_sync.proto StateSync, proto/consensus.proto Consensus): the first input byte
// picks the method, the rest is parsed as its request proto (as gRPC would) and handed to the
// real handler (node/ledger_service, node/state_sync_service) over a real RocksDB store in a
// temporary folder holding a short chain (tests/ledger/validator_test_chain.h). Submissions
// run the node's validation (node/batch_validator) and reach a fake orderer that orders
// nothing; Consensus.Deliver's messages and requests are decoded and checked as the PBFT
// orderer does (the core itself: pbft_core_fuzzer). A handler must answer every request with
// a status, never crash; a batch it passes on to be ordered is within the batch limits; no
// message of a Delivery carries a valid validator signature (nobody else holds the keys).
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "common/ecdsa.h"
#include "common/log.h"
#include "consensus/pbft_messages.h"
#include "google/protobuf/stubs/logging.h"
#include "ledger/store/block_store.h"
#include "node/chain_block_factory.h"
#include "node/ledger_service.h"
#include "node/orderer.h"
#include "node/registry_holder.h"
#include "node/state_sync_service.h"
#include "proto/consensus.grpc.pb.h"
#include "proto/ledger.grpc.pb.h"
#include "proto/state_sync.grpc.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/ledger/validator_test_chain.h"

namespace provledger::node {
namespace {

namespace v1 = ::provledger::v1;

const BatchLimits kLimits{100, 64 * 1024, 64 * 1024};

class NoOrderer final : public Orderer {
 public:
  Status Submit(CheckedBatch batch, v1::ConsensusRequest, SubmitDone done) override {
    FUZZ_CHECK(batch.records.size() <= kLimits.max_records);
    FUZZ_CHECK(batch.records.size() + batch.refused.size() <= kLimits.max_records);
    done(UnavailableError("the fuzzer orders nothing"));
    return OkStatus();
  }
  uint64_t pending() const override { return 0; }
  uint64_t view() const override { return 0; }
};

struct Node {
  std::string dir;
  std::unique_ptr<ledger::BlockStore> store;
  std::unique_ptr<testing::ValidatorTestChain> chain;
  std::unique_ptr<RegistryHolder> registry;
  NoOrderer orderer;
  std::unique_ptr<LedgerService> ledger;
  std::unique_ptr<StateSyncService> sync;
  // The submissions run on gRPC's callback API, whose reactors only a server completes:
  // they are called through an in-process server (no socket).
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::Ledger::Stub> stub;
};
Node* node = nullptr;

template <typename Req, typename Resp, typename Svc, typename Fn>
void Call(Svc* svc, Fn fn, const uint8_t* data, size_t size) {
  Req req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  Resp resp;
  grpc::ServerContext ctx;
  (void)(svc->*fn)(&ctx, &req, &resp);
}

// A callback method, through the in-process server: the request parsed as gRPC would.
template <typename Req, typename Resp, typename Fn>
void CallRemote(Fn fn, const uint8_t* data, size_t size);

// Consensus.Deliver as PbftOrderer::Deliver takes it in, up to handing it to the core
// (tests/fuzz/pbft_core_fuzzer.cc fuzzes the core): each message decoded and its signature
// checked against the genesis key of its sender, each forwarded request identified.
void Deliver(const ledger::Genesis& genesis, const uint8_t* data, size_t size) {
  v1::Delivery d;
  if (!d.ParseFromArray(data, static_cast<int>(size))) return;
  for (const auto& bytes : d.messages()) {
    consensus::ConsensusMsg msg;
    if (!consensus::Decode(bytes, &msg).ok() || msg.sender >= genesis.n()) continue;
    // Nobody but the test chain's validators holds their keys.
    FUZZ_CHECK(!VerifySignature(genesis.validators[msg.sender].pubkey,
                                consensus::SigningDigest(genesis.chain_id, msg), msg.signature)
                    .ok());
  }
  for (const auto& r : d.requests()) (void)IdentifyRequest(genesis.chain_id, r);
}

template <typename Req, typename Resp, typename Fn>
void CallRemote(Fn fn, const uint8_t* data, size_t size) {
  Req req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  Resp resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status st = (node->stub.get()->*fn)(&ctx, req, &resp);
  // The orderer orders nothing: nothing may be answered as committed.
  FUZZ_CHECK(!st.ok() || resp.results_size() == 0 ||
             resp.results(0).outcome() != v1::RecordResult::COMMITTED);
}

}  // namespace
}  // namespace provledger::node

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace provledger;  // NOLINT: one test file
  // Refusals are expected by the thousand: keep the fuzzer's output readable.
  SetLogLevel(LogLevel::kError);
  google::protobuf::SetLogHandler(nullptr);
  auto* n = new node::Node();
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/pl-ledger-service-fuzz-XXXXXX";
  FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr);
  n->dir = tmpl;
  // The store stays open until exit; its folder goes with the process.
  std::atexit([] { std::filesystem::remove_all(provledger::node::node->dir); });
  ledger::StoreOptions options;
  options.path = n->dir + "/store";
  options.sync = false;
  auto store = ledger::BlockStore::Open(options, "fuzz-chain");
  FUZZ_CHECK(store.ok());
  n->store = std::move(*store);
  n->chain = std::make_unique<testing::ValidatorTestChain>("fuzz-chain", 4, 1, n->store.get());
  n->chain->FillTo(3);
  n->registry = std::make_unique<node::RegistryHolder>(
      std::make_shared<const ledger::RegistrySnapshot>(n->chain->registry()));
  n->ledger = std::make_unique<node::LedgerService>(&n->chain->genesis(), "v0", n->store.get(),
                                                    n->registry.get(), &n->orderer, node::kLimits);
  n->sync = std::make_unique<node::StateSyncService>(n->store.get(), nullptr);
  grpc::ServerBuilder builder;
  builder.RegisterService(n->ledger.get());
  n->server = builder.BuildAndStart();
  FUZZ_CHECK(n->server != nullptr);
  n->stub = v1::Ledger::NewStub(n->server->InProcessChannel(grpc::ChannelArguments()));
  node::node = n;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace provledger::node;  // NOLINT: one test file
  namespace v1 = ::provledger::v1;
  if (size == 0) return 0;
  uint8_t method = data[0] % 17;
  const uint8_t* body = data + 1;
  size_t n = size - 1;
  LedgerService* s = node->ledger.get();
  StateSyncService* sync = node->sync.get();
  switch (method) {
    case 0:
      CallRemote<v1::SubmitRequest, v1::SubmitResponse>(&v1::Ledger::Stub::Submit, body, n);
      break;
    case 1:
      CallRemote<v1::SubmitRegistryRequest, v1::SubmitResponse>(&v1::Ledger::Stub::SubmitRegistry,
                                                                body, n);
      break;
    case 2:
      Call<v1::StatusRequest, v1::NodeStatus>(s, &LedgerService::GetStatus, body, n);
      break;
    case 3:
      Call<v1::GetBlockRequest, v1::Block>(s, &LedgerService::GetBlock, body, n);
      break;
    case 4:
      Call<v1::GetRecordRequest, v1::RecordResponse>(s, &LedgerService::GetRecord, body, n);
      break;
    case 5:
      Call<v1::GetProofRequest, v1::Proof>(s, &LedgerService::GetProof, body, n);
      break;
    case 6:
      Call<v1::HistoryRequest, v1::HistoryResponse>(s, &LedgerService::History, body, n);
      break;
    case 7:
      Call<v1::RegistryQuery, v1::RegistryListing>(s, &LedgerService::Devices, body, n);
      break;
    case 8:
      Call<v1::RegistryQuery, v1::RegistryListing>(s, &LedgerService::Gateways, body, n);
      break;
    case 9:
      CallRemote<v1::SubmitFirmwareRequest, v1::SubmitResponse>(&v1::Ledger::Stub::SubmitFirmware,
                                                                body, n);
      break;
    case 10:
      Call<v1::FirmwareQuery, v1::FirmwareListing>(s, &LedgerService::Firmware, body, n);
      break;
    case 11:
      Call<v1::ValidatorsRequest, v1::ValidatorListing>(s, &LedgerService::Validators, body, n);
      break;
    case 12:
      Call<v1::PolicyQuery, v1::PolicyListing>(s, &LedgerService::Policies, body, n);
      break;
    case 13:
      Call<v1::HeadersRequest, v1::Headers>(sync, &StateSyncService::GetHeaders, body, n);
      break;
    case 14:
      Call<v1::StateAttestationsRequest, v1::StateAttestations>(
          sync, &StateSyncService::GetStateAttestations, body, n);
      break;
    case 15:
      Call<v1::StateRowsRequest, v1::StateRows>(sync, &StateSyncService::GetStateRows, body, n);
      break;
    case 16:
      Deliver(node->chain->genesis(), body, n);
      break;
  }
  return 0;
}
