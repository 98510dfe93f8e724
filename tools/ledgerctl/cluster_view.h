// What `ledgerctl status --all` and `ledgerctl watch` print, kept apart from the gRPC calls so
// the table, the fork verdict and the rates can be checked without a cluster
// (tests/tools/cluster_view_test.cc). docs/OPERATIONS.md "Watching a cluster".
//
// Thread rules: plain data and pure functions; a RateWindow belongs to one thread.
#ifndef PROVLEDGER_TOOLS_LEDGERCTL_CLUSTER_VIEW_H_
#define PROVLEDGER_TOOLS_LEDGERCTL_CLUSTER_VIEW_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/json.h"
#include "proto/ledger.pb.h"

namespace provledger::tools {

// One node as `status --all` saw it.
struct NodeRow {
  std::string address;
  std::string expected_id;  // the id the validator set gives this address ("" if none)
  bool up = false;
  std::string error;                       // why it is unreachable (the gRPC status)
  provledger::v1::NodeStatus status;       // its answer, when up
  std::optional<uint64_t> head_timestamp;  // ms, of its head block (none: no block, or error)
  // The hash of its block at the lowest common height, when it could be read.
  std::optional<Bytes> common_hash;
  std::string common_note;  // why it was not compared ("" if it was)

  // The node's own id when up, else the id expected at its address, else "?".
  std::string id() const;
};

// The verdict over all rows.
struct ClusterSummary {
  uint64_t max_height = 0;     // of the nodes that answered
  uint64_t common_height = 0;  // the lowest height of the nodes that answered (0: none)
  size_t unreachable = 0;
  bool fork = false;  // two nodes hold different blocks at common_height
};

// Heights, unreachable count and the fork verdict from the rows' `common_hash`es.
ClusterSummary Summarize(const std::vector<NodeRow>& rows);

// "850 ms", "12.3 s", "4m05s", "3h12m", "2d04h": an age a human reads at a glance.
std::string FormatAge(uint64_t ms);

// The text `status --all` prints: one row per node (id, address, state, height, lag, view,
// role, mode, epoch, primary, last commit age at `now_ms`), then the unreachable nodes with
// their errors and the fork verdict (a "FORK" line naming each node's hash).
std::string FormatStatusTable(const std::vector<NodeRow>& rows, const ClusterSummary& sum,
                              uint64_t now_ms);

// The same as a JSON object: {"nodes": [...], "max_height", "common_height", "unreachable",
// "fork"}.
JsonValue StatusTableJson(const std::vector<NodeRow>& rows, const ClusterSummary& sum,
                          uint64_t now_ms);

// Blocks/s and records/s over a sliding window of (time, height, records) samples of a node's
// cumulative counters.
class RateWindow {
 public:
  explicit RateWindow(uint64_t window_ms = 10000) : window_ms_(window_ms) {}

  // Records a sample taken at `now_ms` (monotonic). Samples older than the window are
  // dropped, except the newest of them, so the rate spans the whole window once it has run
  // that long. A counter that goes back (a node restarted on another store) restarts the
  // window.
  void Add(uint64_t now_ms, uint64_t height, uint64_t records);

  struct Rate {
    double blocks_per_s = 0;
    double records_per_s = 0;
    double seconds = 0;  // the span the rates are over
  };
  // The rates between the oldest and newest samples kept; nullopt until two samples at
  // different times are kept.
  std::optional<Rate> Get() const;

 private:
  struct Sample {
    uint64_t ms, height, records;
  };
  uint64_t window_ms_;
  std::deque<Sample> samples_;
};

// "rate 3.2 blocks/s, 151.0 records/s over the last 10.0 s (height 123)".
std::string FormatRateLine(const RateWindow::Rate& r, uint64_t height);

// One block as `watch` prints it: "height 123  records 50  proposer v1  view 0  age 120 ms".
std::string FormatBlockLine(uint64_t height, uint64_t records, const std::string& proposer,
                            uint64_t view, uint64_t age_ms);

}  // namespace provledger::tools

#endif  // PROVLEDGER_TOOLS_LEDGERCTL_CLUSTER_VIEW_H_
