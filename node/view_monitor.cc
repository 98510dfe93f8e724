#include "node/view_monitor.h"

#include <string>

#include "common/log.h"
#include "node/node_metrics.h"

namespace provledger::node {

void ViewMonitor::Log(const std::vector<consensus::ViewEvent>& events, uint64_t height) {
  for (const consensus::ViewEvent& e : events) {
    const std::string primary = genesis_->Primary(e.view).id;
    switch (e.kind) {
      case consensus::ViewEvent::kSuspected:
        Metrics().view_changes.With({"suspected"}).Inc();
        LogInfo("view_suspected").Kv("view", e.view).Kv("primary", primary);
        break;
      case consensus::ViewEvent::kChangeStarted:
        Metrics().view_changes.With({"started"}).Inc();
        LogWarn("view_change_started")
            .Kv("view", e.view)
            .Kv("from_view", e.from_view)
            .Kv("primary", primary);
        break;
      case consensus::ViewEvent::kEntered:
        Metrics().view_changes.With({"entered"}).Inc();
        LogInfo("view_entered")
            .Kv("view", e.view)
            .Kv("from_view", e.from_view)
            .Kv("primary", primary)
            .Kv("height", height);
        break;
      default:
        break;
    }
  }
}

void ViewMonitor::Note(const consensus::PbftCore& core) {
  const uint64_t view = core.view();
  const consensus::PbftCore::ViewPeers peers = core.PeersByView(window_ticks_);
  const bool alone = core.AloneInView(window_ticks_);
  if (alone != logged_alone_) {
    if (alone) {
      LogWarn("view_alone")
          .Kv("view", view)
          .Kv("peers_in_view", peers.in_view)
          .Kv("peers_elsewhere", peers.elsewhere);
    } else {
      LogInfo("view_alone_ended").Kv("view", view).Kv("peers_in_view", peers.in_view);
    }
    logged_alone_ = alone;
  }
  view_.store(view);
  view_changing_.store(core.in_view_change());
  peers_in_view_.store(peers.in_view);
  peers_elsewhere_.store(peers.elsewhere);
  alone_in_view_.store(alone);
}

ViewHealth ViewMonitor::health() const {
  ViewHealth h;
  h.view_changing = view_changing_.load();
  h.peers_in_view = peers_in_view_.load();
  h.peers_elsewhere = peers_elsewhere_.load();
  h.alone_in_view = alone_in_view_.load();
  return h;
}

}  // namespace provledger::node
