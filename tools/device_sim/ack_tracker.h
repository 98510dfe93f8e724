// AckTracker: which published readings the bridge has answered, and how (PROTOCOL.md
// section 3). An ack covers exactly its listed seqs; {"recorded":false} covers its seq;
// an error covers its seq, or, without one, the device's oldest unanswered reading.
// It measures publish-to-ack latency and builds the run's summary. Times are passed in
// (milliseconds on any monotonic clock); no I/O, no clock, no threads.
//
// Thread rules: not thread-safe; the runner guards its one tracker with a mutex.
#ifndef PROVLEDGER_TOOLS_DEVICE_SIM_ACK_TRACKER_H_
#define PROVLEDGER_TOOLS_DEVICE_SIM_ACK_TRACKER_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "tools/device_sim/device_answers.h"

namespace provledger::device_sim {

struct TrackerOptions {
  // A reading refused with one of these codes is handed back for a resend (new seq) ...
  std::set<std::string> resend_codes = {"no_session"};
  // ... this many times at most; then the refusal is final. 0: never resend.
  uint64_t max_resends = 10;
  // Records kept for the summary's "records" list (the most recent ones).
  uint64_t list_records = 5;
};

struct LatencyPercentiles {
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentiles of `samples` (any order); all zero when empty.
LatencyPercentiles ComputePercentiles(std::vector<double> samples);

struct RecordRef {
  std::string device;
  uint64_t seq = 0;
  Bytes record;  // 32 bytes
  uint64_t height = 0;
};

// What the runner does after an error answer.
struct ErrorOutcome {
  enum class Action {
    kFinal,       // counted as refused with its code
    kResend,      // a resend code: (agree a key again and) publish reading `index` anew
    kReplayCopy,  // the expected `replay` for a copy, or one held until the reading's ack
                  // (set_connections): counted apart, not a failure
    kUnmatched,   // answers nothing outstanding (a duplicate, or another run's)
  };
  Action action = Action::kUnmatched;
  uint64_t seq = 0;    // the seq answered
  uint64_t index = 0;  // kResend: the reading's index on its device
  double sent_ms = 0;  // kResend: when the refused copy was published
};

struct Summary {
  uint64_t devices = 0;
  uint64_t readings = 0;   // distinct readings (a resend is the same reading)
  uint64_t published = 0;  // reading publishes, resends included, replay copies not
  uint64_t resent = 0;
  uint64_t acked_recorded = 0;
  uint64_t acked_skipped = 0;
  std::map<std::string, uint64_t> errors;  // final refusals by code
  uint64_t unanswered = 0;
  // The seqs of the published readings still unanswered, by device (a test looks them up
  // on the ledger: committed but not acknowledged, or lost).
  std::map<std::string, std::vector<uint64_t>> unanswered_seqs;
  uint64_t not_sent = 0;  // counted in errors/unanswered too; never published
  uint64_t replay_sent = 0;
  uint64_t replay_answered = 0;                  // copies answered `replay`
  std::map<std::string, uint64_t> replay_other;  // copies answered otherwise ("acked": an ack)
  uint64_t replay_unanswered = 0;
  // Readings answered `replay` before their own ack: a copy the MQTT client sent again
  // after a reconnect reached the bridge first (PROTOCOL.md 5: harmless, the first copy's
  // ack stands). A reading that only ever heard `replay` is in errors["replay"].
  uint64_t replay_before_ack = 0;
  uint64_t unmatched_answers = 0;
  // Accounts (docs/ACCOUNTS.md), filled by the runner: published, acknowledged, refused.
  uint64_t accounts_sent = 0;
  uint64_t accounts_recorded = 0;
  uint64_t accounts_refused = 0;
  double publish_rate = 0;  // publishes/s from the first to the last publish
  double ack_rate = 0;      // acks/s from the first publish to the last ack
  LatencyPercentiles latency_ms;
  std::optional<RecordRef> last_record;  // the recorded ack with the highest height
  std::vector<RecordRef> records;        // the latest list_records acks, oldest first
  // The shape of recorded acks (PROTOCOL.md section 3: at most one per device, item and
  // block, in height order, `datas` exactly on the block of the item's first record).
  uint64_t ack_items = 0;          // (device, item) pairs with a recorded ack
  uint64_t acks = 0;               // recorded acks
  uint64_t acks_same_block = 0;    // recorded acks beyond the first for one (device, item, height)
  uint64_t acks_out_of_order = 0;  // recorded acks below an earlier one's height (device, item)
  uint64_t datas = 0;              // acks that came on `datas`
  uint64_t datas_not_first = 0;    // ... of them, not for the lowest acked height of their item
  uint64_t items_without_datas = 0;  // (device, item) pairs acked, never on `datas`
  bool ok = false;
  std::string verdict;  // why ok is false, for people
};

class AckTracker {
 public:
  explicit AckTracker(TrackerOptions options = {}) : options_(options) {}

  // Reading `index` of `device` published with `seq` at now_ms. `resend_of` is the seq of
  // the refused copy this one replaces (handed out by OnError as kResend).
  void OnPublished(const std::string& device, uint64_t seq, uint64_t index, double now_ms,
                   std::optional<uint64_t> resend_of = std::nullopt);
  // A verbatim copy of `seq` published at now_ms that must be answered `replay`.
  void OnReplayCopyPublished(const std::string& device, uint64_t seq, double now_ms);
  // `n` readings of `device` never published: final with `code`, or unanswered when
  // `code` is empty (e.g. no key reply came).
  void OnNotSent(const std::string& device, uint64_t n, const std::string& code);
  // Gives up on reading `seq` of `device` while it waits for an answer or a resend (its
  // publish failed, or its resend cannot happen): final with `code`, or unanswered when
  // `code` is empty. No effect on a reading already answered.
  void Abandon(const std::string& device, uint64_t seq, const std::string& code);
  // True when reading `seq` of `device` was acknowledged (recorded or skipped).
  bool Accepted(const std::string& device, uint64_t seq) const;

  // Applies an ack on a data answer topic of `device`. Returns how many outstanding
  // readings or copies it answered (0: a duplicate or unknown seqs, counted as unmatched).
  uint64_t OnAck(const std::string& device, const Ack& ack, double now_ms);
  // Notes where a recorded ack of `device` and `item` came (`datas` or `success`) and at
  // which height, for the summary's ack shape. Call beside OnAck; skipped acks are ignored.
  void OnAckShape(const std::string& device, const std::string& item, bool datas, const Ack& ack);
  // Applies an error answer for a reading of `device` (see ErrorOutcome).
  ErrorOutcome OnError(const std::string& device, const ErrorAnswer& error, double now_ms);

  // The MQTT client's connection count (MqttClient::reconnects()). A reading published
  // before the latest reconnect may have been sent again by the client (MQTT resends
  // unacknowledged publishes), so a `replay` answer to it is held until the end: its ack
  // may still come (then the replay answered the copy); without one it is final.
  void set_connections(uint64_t n) { connections_ = std::max(connections_, n); }

  // Replaces TrackerOptions::resend_codes (e.g. stops retrying `unregistered` once the
  // bridge has had time to see a fresh registration).
  void set_resend_codes(std::set<std::string> codes) { options_.resend_codes = std::move(codes); }

  // Readings and copies still waiting for an answer, resends handed out included.
  uint64_t outstanding() const { return outstanding_; }
  // Running totals for progress lines.
  uint64_t published() const { return published_; }
  uint64_t answered() const { return acked_recorded_ + acked_skipped_ + errors_total_; }

  // The summary; ok says whether every reading was acknowledged (recorded or skipped) and
  // every replay copy answered `replay` - or, with a non-empty expect_error, whether every
  // reading was refused with exactly that code.
  Summary Summarize(uint64_t devices, const std::string& expect_error) const;

 private:
  enum class State { kPending, kRecorded, kSkipped, kError, kResending, kSuperseded, kLost };
  struct Entry {
    uint64_t index = 0;
    double first_sent_ms = 0;  // of the first copy, for latency across resends
    double sent_ms = 0;
    uint64_t resends = 0;
    uint64_t connections = 0;   // the client's connection count when it was published
    bool replay_heard = false;  // answered `replay` while still waiting for its ack
    State state = State::kPending;
    std::string code;
  };
  struct Copy {
    bool answered = false;
  };
  struct DeviceBook {
    std::map<uint64_t, Entry> readings;  // by seq
    std::map<uint64_t, Copy> copies;     // replay copies by seq
  };
  void Finish(Entry* e, State state, const std::string& code);
  bool AnswerCopy(DeviceBook* book, uint64_t seq, const std::string& outcome);

  TrackerOptions options_;
  std::map<std::string, DeviceBook> books_;
  uint64_t outstanding_ = 0;
  uint64_t published_ = 0;
  uint64_t resent_ = 0;
  uint64_t acked_recorded_ = 0;
  uint64_t acked_skipped_ = 0;
  uint64_t errors_total_ = 0;
  std::map<std::string, uint64_t> errors_;
  uint64_t not_sent_ = 0;
  uint64_t lost_ = 0;  // never published, no answer expected
  uint64_t replay_sent_ = 0;
  uint64_t replay_answered_ = 0;
  std::map<std::string, uint64_t> replay_other_;
  uint64_t replay_before_ack_ = 0;
  uint64_t unmatched_ = 0;
  uint64_t connections_ = 0;
  std::vector<double> latencies_;
  std::optional<double> first_publish_ms_, last_publish_ms_, last_ack_ms_;
  std::optional<RecordRef> last_record_;
  std::deque<RecordRef> records_;
  struct ItemAcks {
    std::map<uint64_t, uint64_t> per_height;  // recorded acks by height
    std::vector<uint64_t> datas_heights;
    uint64_t last_height = 0;
    uint64_t out_of_order = 0;
  };
  std::map<std::pair<std::string, std::string>, ItemAcks> item_acks_;  // by (device, item)
};

// The summary as one JSON line (no newline): {"devices":N,"readings":..,"published":..,
// "acked_recorded":..,"acked_skipped":..,"errors":{code:n,..},"unanswered":..,
// "publish_rate":..,"ack_rate":..,"latency_ms":{"p50":..,"p95":..,"p99":..,"max":..},
// "last_record":"<64 hex>"|null,"last_height":H,"records":[{"device","seq","record",
// "height"},..],"resent":..,"not_sent":..,"replay":{..},"unmatched":..,
// "ack_shape":{"items":..,"acks":..,"same_block":..,"out_of_order":..,"datas":..,
// "datas_not_first":..,"items_without_datas":..},
// "unanswered_seqs":{device:[seq,..],..},"ok":bool}.
// Rates and latencies have 3 decimals.
std::string SummaryJson(const Summary& s);

}  // namespace provledger::device_sim

#endif  // PROVLEDGER_TOOLS_DEVICE_SIM_ACK_TRACKER_H_
