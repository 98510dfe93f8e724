// The node's metrics (docs/OPERATIONS.md "Metrics"), their names in one place. The
// instrumented ones live in metrics::DefaultRegistry() from first use, for every orderer an
// epoch change makes; the rest are read from the store and the orderer at each scrape
// (RegisterNodeCallbacks), not copied.
#ifndef PROVLEDGER_NODE_NODE_METRICS_H_
#define PROVLEDGER_NODE_NODE_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "ledger/store/block_store.h"
#include "node/orderer.h"

namespace provledger::node {

struct NodeMetrics {
  // provledger_node_blocks_appended_total{source} / records_appended_total{source}:
  // blocks appended to the chain and their records; source = consensus (ordered here) or
  // transfer (fetched from peers: state transfer, a follower's pulls).
  metrics::Counter& blocks_consensus;
  metrics::Counter& blocks_transfer;
  metrics::Counter& records_consensus;
  metrics::Counter& records_transfer;
  // Seconds from a client's submission being accepted to its records committed and durable
  // here (LedgerService::Submit / SubmitRegistry / SubmitFirmware on a validator).
  metrics::Histogram& commit_latency;
  // Submissions and records refused, by kind (batch, record, registry, firmware) and
  // status code name.
  metrics::Family<metrics::Counter>& refusals;
  // View events by stage (suspected, started, entered).
  metrics::Family<metrics::Counter>& view_changes;
  // State transfers (fetches of blocks from peers) started.
  metrics::Counter& state_transfers;
  // Consensus messages sent again at the resend period, one per peer addressed, by kind
  // (pre_prepare, prepare, commit): consensus::ResendCounts.
  metrics::Family<metrics::Counter>& consensus_resends;
};

// The node's instrumented metrics (registered on first call). Any thread.
NodeMetrics& Metrics();

// Counts one refusal of `kind` with `code`.
void CountRefusal(const char* kind, StatusCode code);

// Counts one call refused by the access policy (node/access_policy.h): provledger_node_
// access_denied_total{method, role, reason}; `method` the RPC's short name, `role` the
// client's ("none" without an identity), `reason` a fixed word (no_identity, role,
// gateway_id, device).
void CountAccessDenied(const std::string& method, const std::string& role, const char* reason);

// Registers the node's scrape-time metrics (height, records, view, view health, peers and
// their lag, pending requests, role, epoch, RocksDB bytes) over `store` and `orderer`, which
// must outlive the returned guard; destroying it removes them (waiting for a scrape).
std::unique_ptr<metrics::ScopedCallbacks> RegisterNodeCallbacks(const ledger::BlockStore* store,
                                                                const Orderer* orderer);

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_NODE_METRICS_H_
