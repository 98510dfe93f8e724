// LedgerService: the client gRPC service of a node (proto/ledger.proto). Handlers validate
// and enqueue, or read the store; they never write it. Submit never refuses a record for its
// device's registry entry (DeviceCheck::kLeaveToBlock): this node may be behind; the block
// that orders it decides, on every replica alike.
//
// Submit, SubmitRegistry and SubmitFirmware use gRPC's callback API: a submission waiting for
// its block holds no thread. The orderer's answer (on its consensus thread) is handed to the
// service's answer threads, which compose the reply (store lookups) and finish the call; a
// client that goes away first is answered CANCELLED at once, and the orderer's later answer
// is dropped (its waiter ends with it, or at the orderer's submit timeout). On a follower
// (orderer forwarder) a submission is forwarded from a pool of kForwardThreads threads, the
// forwarder being synchronous (more wait their turn).
//
// Thread rules: called on gRPC's server threads concurrently; holds no mutable state of
// its own beyond atomics and the answer queues. The destructor runs what is queued and joins
// their threads; destroy it after the server has shut down (an orderer's answer arriving
// later is dropped).
#ifndef PROVLEDGER_NODE_LEDGER_SERVICE_H_
#define PROVLEDGER_NODE_LEDGER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/batch_validator.h"
#include "node/firmware_index.h"
#include "node/orderer.h"
#include "node/pruner.h"
#include "node/registry_holder.h"
#include "node/remote_record_fetcher.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {

// The three submission methods on the callback API, the others synchronous.
using LedgerServiceBase = provledger::v1::Ledger::WithCallbackMethod_Submit<
    provledger::v1::Ledger::WithCallbackMethod_SubmitRegistry<
        provledger::v1::Ledger::WithCallbackMethod_SubmitFirmware<
            provledger::v1::Ledger::Service>>>;

class AnswerQueue;
class CallAnswer;

class LedgerService final : public LedgerServiceBase {
 public:
  // All pointers must outlive the service.
  LedgerService(const ledger::Genesis* genesis, std::string node_id, ledger::BlockStore* store,
                RegistryHolder* registry, Orderer* orderer, BatchLimits limits);
  ~LedgerService() override;

  // A light node: records (and proofs) of pruned blocks are fetched from full nodes with
  // `fetcher` and checked against this node's headers; `pruner` (may be null) reports its
  // figures in NodeStatus. Both must outlive the service; call before the server starts.
  // Without it a pruned record answers kNotFound ("pruned on this light node").
  void EnableLight(const RemoteRecordFetcher* fetcher, const Pruner* pruner) {
    fetcher_ = fetcher;
    pruner_ = pruner;
  }

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* ctx,
                                   const provledger::v1::SubmitRequest* req,
                                   provledger::v1::SubmitResponse* resp) override;
  grpc::ServerUnaryReactor* SubmitRegistry(grpc::CallbackServerContext* ctx,
                                           const provledger::v1::SubmitRegistryRequest* req,
                                           provledger::v1::SubmitResponse* resp) override;
  grpc::Status GetStatus(grpc::ServerContext* ctx, const provledger::v1::StatusRequest* req,
                         provledger::v1::NodeStatus* resp) override;
  grpc::Status GetBlock(grpc::ServerContext* ctx, const provledger::v1::GetBlockRequest* req,
                        provledger::v1::Block* resp) override;
  grpc::Status GetRecord(grpc::ServerContext* ctx, const provledger::v1::GetRecordRequest* req,
                         provledger::v1::RecordResponse* resp) override;
  grpc::Status GetProof(grpc::ServerContext* ctx, const provledger::v1::GetProofRequest* req,
                        provledger::v1::Proof* resp) override;
  grpc::Status History(grpc::ServerContext* ctx, const provledger::v1::HistoryRequest* req,
                       provledger::v1::HistoryResponse* resp) override;
  grpc::Status Devices(grpc::ServerContext* ctx, const provledger::v1::RegistryQuery* req,
                       provledger::v1::RegistryListing* resp) override;
  grpc::Status Gateways(grpc::ServerContext* ctx, const provledger::v1::RegistryQuery* req,
                        provledger::v1::RegistryListing* resp) override;
  grpc::ServerUnaryReactor* SubmitFirmware(grpc::CallbackServerContext* ctx,
                                           const provledger::v1::SubmitFirmwareRequest* req,
                                           provledger::v1::SubmitResponse* resp) override;
  grpc::Status Firmware(grpc::ServerContext* ctx, const provledger::v1::FirmwareQuery* req,
                        provledger::v1::FirmwareListing* resp) override;
  // The registry's validator schedule (docs/VALIDATOR_SET.md).
  grpc::Status Validators(grpc::ServerContext* ctx, const provledger::v1::ValidatorsRequest* req,
                          provledger::v1::ValidatorListing* resp) override;
  grpc::Status Policies(grpc::ServerContext* ctx, const provledger::v1::PolicyQuery* req,
                        provledger::v1::PolicyListing* resp) override;

 private:
  // GetRecord and GetProof before the access policy sees the answer's device.
  grpc::Status FindRecord(grpc::ServerContext* ctx, const provledger::v1::GetRecordRequest* req,
                          provledger::v1::RecordResponse* resp);
  grpc::Status FindProof(grpc::ServerContext* ctx, const provledger::v1::GetProofRequest* req,
                         provledger::v1::Proof* resp);
  // The firmware index rows (node/firmware_index.h) of `vendor` and `model` (empty: all).
  StatusOr<std::vector<FirmwareRow>> FirmwareRows(const std::string& vendor,
                                                  const std::string& model) const;
  // Turns the orderer's answer into the call's reply (on an answer thread).
  using Compose = std::function<grpc::Status(provledger::v1::SubmitResponse ordered,
                                             provledger::v1::SubmitResponse* reply)>;
  // Hands `batch` to the orderer; `call` is answered once it is durable (through
  // `compose`), with the orderer's error, or CANCELLED by the call itself.
  void Await(const std::shared_ptr<CallAnswer>& call, CheckedBatch batch,
             provledger::v1::ConsensusRequest request, Compose compose);
  // Runs `forward` (a SubmitForwarder call) on a forwarding thread and answers `call` with
  // its answer or error.
  void Forward(const std::shared_ptr<CallAnswer>& call,
               std::function<StatusOr<provledger::v1::SubmitResponse>()> forward);
  // The whole reply to a Submit: the orderer's results (`good`, for the records not
  // refused) merged with the refusals, in batch order, with first_of_item set.
  grpc::Status ComposeSubmit(const std::vector<RecordRefusal>& refused,
                             const std::vector<std::pair<std::string, std::string>>& items,
                             provledger::v1::SubmitResponse good,
                             provledger::v1::SubmitResponse* resp) const;
  StatusOr<Bytes> ResolveRecordId(const provledger::v1::GetRecordRequest& req) const;
  // store_->ReadBlock; on kDataLoss also asks the orderer to repair the block from peers
  // (returns at once) and answers kDataLoss until it is rewritten.
  StatusOr<ledger::StoredBlock> ReadOrRepair(uint64_t height, bool with_payloads) const;
  // kNotFound ("pruned on this light node; ask a full node") when record `id` at `height`
  // lies in a block whose body this light node pruned; OK otherwise.
  Status PrunedRecord(ByteView id, uint64_t height) const;
  // Record `id` at `loc`, in a pruned block, fetched from a full node and checked against our
  // certified header of loc.height (RemoteRecordFetcher); the header and certificate are
  // ours. kNotFound as PrunedRecord without a fetcher; the fetcher's error otherwise.
  // Asks no full node after `ctx`'s deadline.
  StatusOr<FetchedRecord> FetchPruned(const grpc::ServerContext* ctx, ByteView id,
                                      const ledger::RecordLocation& loc,
                                      ledger::StoredBlock* header) const;

  // Whether a lookup that misses the index must ask full nodes: a light store whose Prune
  // dropped index entries (BlockStore::index_pruned_below) and a fetcher.
  bool Unindexed() const;
  // What this node holds at the place a full node's proof claims (RemoteRecordFetcher's
  // LocateFn): its certified header there, for a height whose body it pruned.
  StatusOr<LocalRecord> Locate(const provledger::v1::Proof& proof) const;
  // Fills a proof answer from a fetched record and our certified header of its height.
  Status FillFetchedProof(FetchedRecord fetched, provledger::v1::Proof* resp) const;
  // Checks one entry of a History page forwarded to a full node (HistoryEntryCheck): at a
  // height whose time index we keep, against our record index; below it, the proven
  // record's fields against the entry and `req`.
  Status CheckHistoryEntry(const provledger::v1::HistoryRequest& req,
                           const provledger::v1::HistoryEntry& e,
                           const FetchedRecord* proven) const;

  const ledger::Genesis* genesis_;
  std::string node_id_;
  ledger::BlockStore* store_;
  RegistryHolder* registry_;
  Orderer* orderer_;
  BatchLimits limits_;
  const RemoteRecordFetcher* fetcher_ = nullptr;
  const Pruner* pruner_ = nullptr;
  // Records refused for good: logged at most once a second, with the count since.
  std::atomic<uint64_t> refused_logged_ms_{0};  // SteadyMs() of the last records_refused
  std::atomic<uint64_t> refused_unlogged_{0};
  // Where the orderer's answers are composed and sent (never on the consensus thread).
  std::shared_ptr<AnswerQueue> answers_;
  // A follower's forwarded submissions, each holding a thread while the validators commit.
  static constexpr size_t kForwardThreads = 16;
  std::mutex forward_mu_;
  std::shared_ptr<AnswerQueue> forwards_;  // guarded by forward_mu_; made on first use
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_LEDGER_SERVICE_H_
