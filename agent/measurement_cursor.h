// MeasurementCursor: reads a measurement list (the kernel's ascii_runtime_measurements, or
// the agent's own list of template "file") incrementally, from the position the bridge last
// acknowledged for the current boot, and hands out only entries not yet reported.
//
// The position moves only in Commit, which the pusher calls once the bridge answered the
// report covering a batch (a verdict, or a refusal it will never retry). A crash between
// ReadNew and Commit therefore reads the same entries again at restart: a repeat, which
// PROTOCOL.md section 7 makes harmless; never a gap. A boot id other than the stored one
// starts the new boot's list at index 0.
//
// Indices count the entries ParseImaList takes (checked entries and violations); a skipped
// line (malformed, bad template hash) takes no index, so indices stay contiguous.
//
// Thread rules: owned by one thread; not thread-safe.
#ifndef PROVLEDGER_AGENT_MEASUREMENT_CURSOR_H_
#define PROVLEDGER_AGENT_MEASUREMENT_CURSOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/agent_state.h"
#include "agent/ima_log.h"
#include "common/status.h"
#include "device_protocol/integrity_report.h"

namespace provledger::agent {

struct CursorOptions {
  // The list; "{boot}" in it is replaced by the boot id (the agent's own per-boot lists).
  std::string list_path = "/sys/kernel/security/ima/ascii_runtime_measurements";
  std::string boot_id_path = "/proc/sys/kernel/random/boot_id";
  size_t max_entries = 1000;  // entries per batch (one report)
  // A batch is also cut so that its report's JSON stays at most this size (at least one
  // entry always goes): well below the bridge's payload limit (default 1 MiB), so long
  // paths never make a report `too_large`.
  size_t max_report_bytes = 256 * 1024;
  size_t max_read_bytes = 8 << 20;  // list bytes read per ReadNew
};

// Entries read but not yet acknowledged.
struct PendingBatch {
  std::string boot;
  uint64_t from = 0;  // index of entries[0]
  std::vector<ImaEntry> entries;
  std::vector<LineIssue> skipped;    // lines skipped in this stretch
  std::vector<uint64_t> violations;  // line numbers of violation entries in `entries`
  ListPosition end;                  // the position once this batch is acknowledged

  // The section 7 report of this batch.
  device_protocol::IntegrityReport Report() const;
};

// Reads the boot id file: one lowercase UUID and a newline. kInvalidArgument otherwise;
// ReadFile's errors.
StatusOr<std::string> ReadBootId(const std::string& path);

class MeasurementCursor {
 public:
  // `store` outlives the cursor and is used by this thread only.
  MeasurementCursor(CursorOptions options, StateStore* store)
      : options_(std::move(options)), store_(store) {}

  // The list path for `boot`.
  std::string ListPath(const std::string& boot) const;

  // The entries after the acknowledged position, at most max_entries; `entries` empty when
  // nothing new (end may still move past skipped lines: Commit it). Moves nothing.
  // kNotFound when the list does not exist (yet); kDataLoss when the list is shorter than
  // the stored position or the position is not at a line start (the list was replaced
  // within one boot: the agent refuses to guess); ReadBootId's and I/O errors otherwise.
  StatusOr<PendingBatch> ReadNew();

  // Makes batch.end the acknowledged position (durable when OK). Errors of SetPosition.
  Status Commit(const PendingBatch& batch);

  ListPosition position() const { return store_->state().position; }

 private:
  CursorOptions options_;
  StateStore* store_;
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_MEASUREMENT_CURSOR_H_
