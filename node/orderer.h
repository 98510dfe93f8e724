// Orderer: what the client service needs from consensus. PbftOrderer (PBFT over gRPC, for
// any N = 3f+1, N = 1 included) implements it; tests may fake it.
//
// Thread rules: every method may be called from any gRPC thread.
#ifndef PROVLEDGER_NODE_ORDERER_H_
#define PROVLEDGER_NODE_ORDERER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "node/batch_validator.h"
#include "node/epoch_plan.h"
#include "proto/consensus.pb.h"
#include "proto/ledger.pb.h"

namespace provledger::node {

using SubmitResult = StatusOr<provledger::v1::SubmitResponse>;
// Receives a submission's answer. Called once, on the orderer's own thread: it must not
// block (hand real work to another thread).
using SubmitDone = std::function<void(SubmitResult)>;

// How this node stands in its view, for `status` (PbftCore::PeersByView, AloneInView).
struct ViewHealth {
  bool view_changing = false;
  uint32_t peers_in_view = 0;    // validators (not us) heard lately in our view
  uint32_t peers_elsewhere = 0;  // ... heard lately in another view
  bool alone_in_view = false;    // f+1 heard elsewhere and fewer than 2f here: in no quorum
};

// A peer validator as this node last heard it (for metrics): the highest height any of its
// checked consensus messages named, and when the newest arrived (SteadyMs, 0: never).
struct PeerState {
  std::string id;
  uint64_t height = 0;
  uint64_t heard_ms = 0;
};

// Where a node that orders nothing itself (a follower) sends client submissions; the
// validators' answer (or their error) is the node's answer. Thread-safe.
class SubmitForwarder {
 public:
  virtual ~SubmitForwarder() = default;
  virtual StatusOr<provledger::v1::SubmitResponse> Submit(
      const provledger::v1::SignedBatch& batch) = 0;
  virtual StatusOr<provledger::v1::SubmitResponse> SubmitRegistry(const std::string& tx) = 0;
  virtual StatusOr<provledger::v1::SubmitResponse> SubmitFirmware(const std::string& record) = 0;
};

class Orderer {
 public:
  virtual ~Orderer() = default;
  // Queues a checked submission (and the request that carries it through consensus). When
  // it returns OK, `done` is called once its records are committed and durable here, with
  // one result per record, or with the error that kept them out (DEADLINE_EXCEEDED after
  // the orderer's submit timeout, UNAVAILABLE when the orderer goes): no thread waits
  // meanwhile. Otherwise `done` is never called: kResourceExhausted when the queue is full,
  // kUnavailable when shutting down.
  virtual Status Submit(CheckedBatch batch, provledger::v1::ConsensusRequest request,
                        SubmitDone done) = 0;
  virtual uint64_t pending() const = 0;
  virtual uint64_t view() const = 0;
  // OK while the orderer runs; once a store write failed (disk full, I/O error), that error:
  // the orderer has stopped ordering and the process should stop (docs/OPERATIONS.md).
  virtual Status failure() const { return OkStatus(); }
  // Asks for block `height`, which failed its checks when read, to be fetched again from
  // peers, verified and rewritten; returns at once (the work happens on other threads).
  // Does nothing for an orderer without peers.
  virtual void RequestRepair(uint64_t height) { (void)height; }
  // A snapshot of the above; all zero/false for an orderer without peers.
  virtual ViewHealth view_health() const { return ViewHealth(); }
  // The peer validators of the set this node orders with; empty for an orderer without
  // peers (a single validator, a follower).
  virtual std::vector<PeerState> peers() const { return {}; }
  // Non-null when this node forwards submissions instead of ordering them (the
  // LedgerService then hands them on unchecked: the validators check them).
  virtual SubmitForwarder* forwarder() { return nullptr; }
  // "validator", or "follower" for a node outside consensus (NodeStatus.role).
  virtual std::string role() const { return "validator"; }
  // Takes a peer validator's delivery of consensus messages (Consensus.Deliver); `peer`
  // names the caller as its TLS certificate does (AuthenticatedPeer), for logs. An orderer
  // outside consensus drops it.
  virtual void Deliver(const provledger::v1::Delivery& d, const std::string& peer) {
    (void)d;
    (void)peer;
  }
  // Asks for the blocks up to `target` (which the peers hold) to be fetched and applied:
  // a validator left behind in an epoch its peers have left cannot catch up by messages.
  // Returns at once; does nothing for an orderer that fetches on its own.
  virtual void CatchUp(uint64_t target) { (void)target; }
  // Says why this orderer is about to be destroyed: the submissions it still holds when it
  // stops are answered `why` rather than "node is shutting down". The RoleSwitcher, at an
  // epoch switch, gives a transient kUnavailable saying "epoch switch, retry" (the client
  // resends; a resend of what committed is answered with its location). Any thread, before
  // the destructor; does nothing for an orderer that holds no submissions.
  virtual void SetStopReason(Status why) { (void)why; }
  // The validator set in force and the pending change (RoleSwitcher); nullopt for an
  // orderer that knows only its own set (NodeStatus then shows the genesis set).
  virtual std::optional<EpochPlan> epoch_plan() const { return std::nullopt; }
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_ORDERER_H_
