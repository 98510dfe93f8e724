// ViewMonitor: how this node stands in its view, for operators. It logs the core's view
// events (ev=view_suspected, view_change_started, view_entered), logs ev=view_alone /
// view_alone_ended when the core's AloneInView flag changes, and publishes view(),
// health() for `status` (PbftCore::PeersByView, AloneInView over `window_ticks`).
//
// Owner: PbftOrderer. Thread rules: Log() and Note() on the consensus thread (the core's
// owner); view() and health() from any thread (atomics).
#ifndef PROVLEDGER_NODE_VIEW_MONITOR_H_
#define PROVLEDGER_NODE_VIEW_MONITOR_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "consensus/pbft_core.h"
#include "ledger/genesis.h"
#include "node/orderer.h"

namespace provledger::node {

class ViewMonitor {
 public:
  // `genesis` must outlive the monitor; `window_ticks` is how far back PeersByView looks.
  ViewMonitor(const ledger::Genesis* genesis, uint64_t window_ticks)
      : genesis_(genesis), window_ticks_(window_ticks) {}

  // Logs `events` in order; `height` is our chain height, logged with view_entered.
  void Log(const std::vector<consensus::ViewEvent>& events, uint64_t height);
  // Reads the core's view state and publishes it (logs a change of the alone flag).
  void Note(const consensus::PbftCore& core);

  uint64_t view() const { return view_.load(); }
  ViewHealth health() const;

 private:
  const ledger::Genesis* genesis_;
  uint64_t window_ticks_;
  bool logged_alone_ = false;  // consensus thread only: the flag last logged
  std::atomic<uint64_t> view_{0};
  std::atomic<bool> view_changing_{false};
  std::atomic<uint32_t> peers_in_view_{0};
  std::atomic<uint32_t> peers_elsewhere_{0};
  std::atomic<bool> alone_in_view_{false};
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_VIEW_MONITOR_H_
