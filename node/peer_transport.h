// PeerTransport: the node's outgoing side of the consensus network. One gRPC channel per
// peer validator (Consensus and Ledger stubs on it) and one sender Worker per peer, which
// drains that peer's queue of consensus messages and relayed client requests into
// Consensus.Deliver calls (2 s deadline each; up to 512 messages and 64 requests a call),
// backing off up to 1 s while the peer is unreachable (ev=peer_unreachable once,
// ev=peer_reachable when it answers again).
//
// Owner: PbftOrderer. Thread rules: Send*, ledger_stub() and size() from any thread (each
// peer's queue has its own mutex); the destructor stops and joins the sender Workers, so
// anyone still using ledger_stub() (state transfer, block repair) must be gone first.
#ifndef PROVLEDGER_NODE_PEER_TRANSPORT_H_
#define PROVLEDGER_NODE_PEER_TRANSPORT_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/worker.h"
#include "ledger/genesis.h"
#include "proto/consensus.grpc.pb.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {

class PeerTransport {
 public:
  // Opens a channel to every validator of `genesis` but `self` and starts its sender. A
  // peer queue holds at most `max_queue` messages (and as many requests); when full the
  // oldest is dropped: PBFT resends what matters, an unreachable peer must not hold our
  // memory. `genesis` must outlive the transport.
  PeerTransport(const ledger::Genesis* genesis, uint32_t self, size_t max_queue);
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Queues encoded consensus message `msg` for validator `to`; nothing for self or an index
  // out of range. Returns at once.
  void Send(uint32_t to, const Bytes& msg);
  // Queues `msg` for every peer.
  void Broadcast(const Bytes& msg);
  // Queues each (validator index or kToAll, encoded message) in order, and wakes each
  // peer's sender once, after all: messages ready together leave in one Deliver call.
  static constexpr int kToAll = -1;
  void SendAll(const std::vector<std::pair<int, Bytes>>& msgs);
  // Queues a client request for every peer (PBFT clients multicast; see PbftOrderer).
  void BroadcastRequest(const provledger::v1::ConsensusRequest& request);
  // The Ledger stub to validator `i`; null for self. Valid as long as the transport.
  provledger::v1::Ledger::Stub* ledger_stub(uint32_t i) const;
  // The Ledger stubs by validator index (null for self), for the fetching threads.
  std::vector<provledger::v1::Ledger::Stub*> ledger_stubs() const;
  // The number of validators, self included.
  uint32_t size() const { return static_cast<uint32_t>(peers_.size()); }

 private:
  struct Peer {
    uint32_t index = 0;
    std::string address;
    std::unique_ptr<provledger::v1::Consensus::Stub> consensus;
    std::unique_ptr<provledger::v1::Ledger::Stub> ledger;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Bytes> messages;                             // guarded by mu
    std::deque<provledger::v1::ConsensusRequest> requests;  // guarded by mu
    std::unique_ptr<Worker> worker;
  };
  void Loop(Peer* p, Worker& w);

  const ledger::Genesis* genesis_;
  uint32_t self_;
  size_t max_queue_;
  std::vector<std::unique_ptr<Peer>> peers_;  // by validator index; null for self
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_PEER_TRANSPORT_H_
