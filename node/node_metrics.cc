#include "node/node_metrics.h"

#include "common/clock.h"

namespace provledger::node {

using metrics::DefaultRegistry;
using metrics::MetricType;
using metrics::SampleSink;

NodeMetrics& Metrics() {
  static NodeMetrics* m = [] {
    metrics::Registry& r = DefaultRegistry();
    auto& blocks = r.AddCounterFamily(
        "provledger_node_blocks_appended_total",
        "Blocks appended to this node's chain since it started, by source (consensus: ordered "
        "here; transfer: fetched from peers).",
        {"source"});
    auto& records = r.AddCounterFamily(
        "provledger_node_records_appended_total",
        "Records in the blocks appended since start, by source (consensus, transfer).", {"source"});
    return new NodeMetrics{
        blocks.With({"consensus"}),
        blocks.With({"transfer"}),
        records.With({"consensus"}),
        records.With({"transfer"}),
        r.AddHistogram("provledger_node_commit_latency_seconds",
                       "Seconds from a submission accepted by this validator to its records "
                       "committed and durable here.",
                       metrics::LatencyBuckets()),
        r.AddCounterFamily("provledger_node_refusals_total",
                           "Submissions refused by this node, by kind (batch, record, registry, "
                           "firmware) and status code.",
                           {"kind", "code"}),
        r.AddCounterFamily("provledger_node_view_changes_total",
                           "PBFT view events by stage: suspected (our timer ran out), started "
                           "(we left for a new view), entered (a new view began).",
                           {"stage"}),
        r.AddCounter("provledger_node_state_transfers_total",
                     "State transfers (fetches of certified blocks from peers) started."),
        r.AddCounterFamily("provledger_node_consensus_resends_total",
                           "Consensus messages this validator sent again at its resend period, "
                           "one per peer addressed, by kind: pre_prepare and prepare (votes of "
                           "a height not committed within the period), commit (its last "
                           "commit, nothing committed since).",
                           {"kind"}),
    };
  }();
  static const bool zeroed = [] {  // every stage shows from the first scrape, at 0
    for (const char* stage : {"suspected", "started", "entered"}) m->view_changes.With({stage});
    for (const char* kind : {"pre_prepare", "prepare", "commit"}) m->consensus_resends.With({kind});
    return true;
  }();
  (void)zeroed;
  return *m;
}

void CountRefusal(const char* kind, StatusCode code) {
  Metrics().refusals.With({kind, StatusCodeName(code)}).Inc();
}

void CountAccessDenied(const std::string& method, const std::string& role, const char* reason) {
  static metrics::Family<metrics::Counter>& denied = DefaultRegistry().AddCounterFamily(
      "provledger_node_access_denied_total",
      "Calls refused PERMISSION_DENIED by the access policy (docs/SECURITY.md), by method, the "
      "client certificate's role and the reason (no_identity, role, gateway_id, device).",
      {"method", "role", "reason"});
  denied.With({method, role, reason}).Inc();
}

std::unique_ptr<metrics::ScopedCallbacks> RegisterNodeCallbacks(const ledger::BlockStore* store,
                                                                const Orderer* orderer) {
  (void)Metrics();  // the instrumented families show from the first scrape
  auto cb = std::make_unique<metrics::ScopedCallbacks>(&DefaultRegistry());
  metrics::ScopedCallbacks& r = *cb;
  auto gauge = [&](const std::string& name, const std::string& help,
                   std::function<double()> value) {
    r.Add(name, help, MetricType::kGauge, std::move(value));
  };
  gauge("provledger_node_height", "Height of the last block in this node's chain.",
        [store] { return static_cast<double>(store->height()); });
  gauge("provledger_node_records", "Records in this node's chain.",
        [store] { return static_cast<double>(store->record_count()); });
  gauge("provledger_node_view", "The PBFT view this node is in (0 on a single node).",
        [orderer] { return static_cast<double>(orderer->view()); });
  gauge("provledger_node_view_changing", "1 while this node is changing views.",
        [orderer] { return orderer->view_health().view_changing ? 1.0 : 0.0; });
  gauge("provledger_node_alone_in_view",
        "1 when f+1 validators are heard in other views and fewer than 2f in ours.",
        [orderer] { return orderer->view_health().alone_in_view ? 1.0 : 0.0; });
  gauge("provledger_node_pending_requests",
        "Client submissions waiting to be committed on this node.",
        [orderer] { return static_cast<double>(orderer->pending()); });
  gauge("provledger_node_epoch",
        "The validator-set epoch this node orders in (0: the genesis set).", [orderer] {
          auto plan = orderer->epoch_plan();
          return plan ? static_cast<double>(plan->epoch) : 0.0;
        });
  r.Add("provledger_node_peers",
        "Peer validators heard lately, by where (in our view, "
        "elsewhere: in another view).",
        MetricType::kGauge, {"where"}, [orderer](SampleSink& s) {
          const ViewHealth vh = orderer->view_health();
          s.Add({"in_view"}, vh.peers_in_view);
          s.Add({"elsewhere"}, vh.peers_elsewhere);
        });
  r.Add("provledger_node_role", "1 for the role this node has now (validator, follower).",
        MetricType::kGauge, {"role"}, [orderer](SampleSink& s) { s.Add({orderer->role()}, 1); });
  r.Add("provledger_node_peer_lag_blocks",
        "Our height minus the highest height a peer's consensus messages named (0 when "
        "the peer is ahead); grows while a peer is silent or behind.",
        MetricType::kGauge, {"peer"}, [store, orderer](SampleSink& s) {
          const uint64_t h = store->height();
          for (const PeerState& p : orderer->peers()) {
            s.Add({p.id}, h > p.height ? static_cast<double>(h - p.height) : 0.0);
          }
        });
  r.Add("provledger_node_peer_last_heard_seconds",
        "Seconds since a peer's newest consensus message (+Inf: never heard).", MetricType::kGauge,
        {"peer"}, [orderer](SampleSink& s) {
          const uint64_t now = SteadyMs();
          for (const PeerState& p : orderer->peers()) {
            s.Add({p.id},
                  p.heard_ms == 0 ? 1.0 / 0.0 : static_cast<double>(now - p.heard_ms) / 1000);
          }
        });
  r.Add("provledger_node_store_bytes",
        "RocksDB live file bytes of the chain store, by kind (sst: tables, blob: "
        "payload blob files).",
        MetricType::kGauge, {"kind"}, [store](SampleSink& s) {
          const auto b = store->storage_bytes();
          s.Add({"sst"}, static_cast<double>(b.sst));
          s.Add({"blob"}, static_cast<double>(b.blob));
        });
  return cb;
}

}  // namespace provledger::node
