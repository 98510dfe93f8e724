#include "client/ledger_client.h"

#include <chrono>

#include "client/transport_security.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace provledger::client {

namespace v1 = provledger::v1;

StatusOr<std::unique_ptr<LedgerClient>> LedgerClient::Create(
    const std::vector<std::string>& addresses, ClientOptions options) {
  if (addresses.empty()) return InvalidArgumentError("no node address given");
  std::unique_ptr<LedgerClient> c(new LedgerClient());
  c->addresses_ = addresses;
  c->options_ = options;
  const grpc::ChannelArguments args =
      LedgerChannelArguments(kDefaultMaxMessageBytes, options.keepalive);
  for (const auto& a : addresses) {
    c->stubs_.push_back(
        v1::Ledger::NewStub(grpc::CreateCustomChannel(a, ChannelCredentials(), args)));
  }
  return c;
}

template <typename Req, typename Resp>
StatusOr<Resp> LedgerClient::Call(const Req& req, Method<Req, Resp> method, uint32_t timeout_ms,
                                  CallKind kind) {
  Resp resp;
  Status first_error = OkStatus();  // the preferred node's, for the switch's log line
  const size_t start = preferred_.load();
  auto answered = RunWithRetries(
      addresses_, start, kind, timeout_ms, options_.retry, RetryClock::Steady(),
      [&](size_t i, uint32_t t) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(t));
        resp.Clear();
        grpc::Status s = (stubs_[i].get()->*method)(&ctx, req, &resp);
        if (s.ok()) return OkStatus();
        Status err = FromGrpc(s);
        if (first_error.ok()) first_error = err.Annotate(addresses_[i]);
        return err;
      });
  if (!answered.ok()) return answered.status();
  const size_t i = *answered;
  size_t expected = start;
  // Logged once per move, by the call that made it.
  if (i != start && preferred_.compare_exchange_strong(expected, i)) {
    LogWarn("ledger_node_switched")
        .Kv("from", addresses_[start])
        .Kv("to", addresses_[i])
        .Kv("err", first_error.ToString());
  }
  return resp;
}

template <typename Req, typename Resp>
StatusOr<Resp> LedgerClient::FindOnAnyNode(const Req& req, Method<Req, Resp> method,
                                           PerNode per_node, bool (*found)(const Resp&),
                                           const std::string& what,
                                           std::vector<NodeAnswer>* answers) {
  const size_t n = stubs_.size();
  const size_t start = preferred_.load();
  bool not_found = false;
  Status last = UnavailableError("no node answered");
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(per_node.deadline_ms));
    ctx.set_wait_for_ready(per_node.wait_for_ready);
    Resp resp;
    Status st = FromGrpc((stubs_[i].get()->*method)(&ctx, req, &resp));
    if (st.ok() && !found(resp)) st = NotFoundError(what + " is not registered");
    if (answers != nullptr) answers->push_back(NodeAnswer{addresses_[i], st});
    if (st.ok()) return resp;
    if (st.code() == StatusCode::kNotFound) {
      not_found = true;
      continue;
    }
    last = st.Annotate(addresses_[i]);
    // The same refusal from every node (a TLS role not allowed, a bad id): asking on is waste.
    if (!IsTransient(st.code(), CallKind::kRead)) return last;
  }
  if (not_found) return NotFoundError(what + " is not registered on any node");
  return last;
}

StatusOr<v1::SubmitResponse> LedgerClient::Submit(const v1::SignedBatch& batch) {
  v1::SubmitRequest req;
  *req.mutable_batch() = batch;
  return Call<v1::SubmitRequest, v1::SubmitResponse>(
      req, &v1::Ledger::Stub::Submit, options_.timeout_ms,
      batch.records_size() > 1 ? CallKind::kBatchOfMany : CallKind::kWrite);
}

StatusOr<v1::SubmitResponse> LedgerClient::SubmitRegistry(const std::string& tx) {
  v1::SubmitRegistryRequest req;
  req.set_tx(tx);
  return Call<v1::SubmitRegistryRequest, v1::SubmitResponse>(req, &v1::Ledger::Stub::SubmitRegistry,
                                                             options_.timeout_ms, CallKind::kWrite);
}

StatusOr<v1::SubmitResponse> LedgerClient::SubmitFirmware(const std::string& record) {
  v1::SubmitFirmwareRequest req;
  req.set_record(record);
  return Call<v1::SubmitFirmwareRequest, v1::SubmitResponse>(req, &v1::Ledger::Stub::SubmitFirmware,
                                                             options_.timeout_ms, CallKind::kWrite);
}

StatusOr<v1::FirmwareListing> LedgerClient::Firmware(const v1::FirmwareQuery& q) {
  return Call<v1::FirmwareQuery, v1::FirmwareListing>(q, &v1::Ledger::Stub::Firmware,
                                                      read_timeout_ms());
}

StatusOr<v1::NodeStatus> LedgerClient::GetStatus() {
  return Call<v1::StatusRequest, v1::NodeStatus>(v1::StatusRequest(), &v1::Ledger::Stub::GetStatus,
                                                 read_timeout_ms());
}

StatusOr<v1::Block> LedgerClient::GetBlock(uint64_t height) {
  v1::GetBlockRequest req;
  req.set_height(height);
  return Call<v1::GetBlockRequest, v1::Block>(req, &v1::Ledger::Stub::GetBlock, read_timeout_ms());
}

StatusOr<v1::RecordResponse> LedgerClient::GetRecord(const v1::GetRecordRequest& req) {
  return Call<v1::GetRecordRequest, v1::RecordResponse>(req, &v1::Ledger::Stub::GetRecord,
                                                        read_timeout_ms());
}

StatusOr<v1::Proof> LedgerClient::GetProof(const std::string& record_id) {
  v1::GetProofRequest req;
  req.set_record_id(record_id);
  return Call<v1::GetProofRequest, v1::Proof>(req, &v1::Ledger::Stub::GetProof, read_timeout_ms());
}

StatusOr<v1::HistoryResponse> LedgerClient::History(const v1::HistoryRequest& req) {
  return Call<v1::HistoryRequest, v1::HistoryResponse>(req, &v1::Ledger::Stub::History,
                                                       read_timeout_ms());
}

StatusOr<v1::RegistryListing> LedgerClient::Devices(const std::string& id) {
  v1::RegistryQuery req;
  req.set_id(id);
  return Call<v1::RegistryQuery, v1::RegistryListing>(req, &v1::Ledger::Stub::Devices,
                                                      read_timeout_ms());
}

StatusOr<v1::RegistryListing> LedgerClient::FindDeviceOnAnyNode(const std::string& id) {
  v1::RegistryQuery req;
  req.set_id(id);
  return FindOnAnyNode<v1::RegistryQuery, v1::RegistryListing>(
      req, &v1::Ledger::Stub::Devices, PerNode{/*deadline_ms=*/1000, /*wait_for_ready=*/true},
      [](const v1::RegistryListing& l) { return l.devices_size() > 0; }, "device " + id,
      /*answers=*/nullptr);
}

StatusOr<v1::RegistryListing> LedgerClient::Gateways(const std::string& id) {
  v1::RegistryQuery req;
  req.set_id(id);
  return Call<v1::RegistryQuery, v1::RegistryListing>(req, &v1::Ledger::Stub::Gateways,
                                                      read_timeout_ms());
}

StatusOr<v1::RegistryListing> LedgerClient::FindGatewayOnAnyNode(const std::string& id,
                                                                 std::vector<NodeAnswer>* answers) {
  v1::RegistryQuery req;
  req.set_id(id);
  return FindOnAnyNode<v1::RegistryQuery, v1::RegistryListing>(
      req, &v1::Ledger::Stub::Gateways, PerNode{read_timeout_ms(), /*wait_for_ready=*/false},
      [](const v1::RegistryListing& l) { return l.gateways_size() > 0; }, "gateway '" + id + "'",
      answers);
}

StatusOr<v1::PolicyListing> LedgerClient::Policies(const std::string& name, bool summary) {
  v1::PolicyQuery req;
  req.set_name(name);
  req.set_summary(summary);
  return Call<v1::PolicyQuery, v1::PolicyListing>(req, &v1::Ledger::Stub::Policies,
                                                  read_timeout_ms());
}

StatusOr<v1::ValidatorListing> LedgerClient::Validators() {
  v1::ValidatorsRequest req;
  return Call<v1::ValidatorsRequest, v1::ValidatorListing>(req, &v1::Ledger::Stub::Validators,
                                                           read_timeout_ms());
}

}  // namespace provledger::client
