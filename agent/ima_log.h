// The kernel's IMA measurement list in its text form (securityfs
// ima/ascii_runtime_measurements), templates "ima-ng" and "ima-sig", plus the agent's own
// list of template "file" written in the same layout (file_measurement_log.h). One line:
//
//   PCR TEMPLATE-HASH TEMPLATE ALG:FILE-HASH PATH [SIG]
//
// PCR is printed "%2d" (a one-digit PCR has a leading space). TEMPLATE-HASH is the hex of
// the template hash: SHA-1 in ascii_runtime_measurements (and _sha1), SHA-256 in
// ascii_runtime_measurements_sha256; its size tells which. The kernel computes it
// (ima_calc_field_array_hash_tfm) over the template data, each field as u32 length in the
// machine's byte order (little-endian on every platform we run on; ima_canonical_fmt makes
// it little-endian everywhere) followed by the field bytes:
//   d-ng: ALG ':' 0x00 DIGEST   (ima_eventdigest_init_common, DATA_FMT_DIGEST_WITH_ALGO)
//   n-ng: PATH 0x00            (ima_write_template_field_data adds the NUL; spaces in
//                               the name were already replaced by '_')
//   sig:  the raw signature, possibly empty (ima-sig only; an empty field still hashes
//         its u32 zero length). The text shows it as hex, or nothing after a final ' '.
// The agent's "file" template hashes d-ng and n-ng like ima-ng, PCR 0.
//
// Special entries:
// - boot_aggregate, the first entry of a boot: the digest of the TPM's boot PCRs (zeros
//   without a TPM), path "boot_aggregate". Its template hash verifies like any other; it
//   is reported as an ordinary entry, and a runtime policy allows or excludes it.
// - violations (a file opened for write while measured, or measured while open for write):
//   IMA stores an all-zero template hash (and extends the PCR with 0xff..), and a zero
//   file hash. Such an entry is not checked as a normal one (it cannot verify); it is
//   kept, flagged, and reported with its zero hash, so that a verifier's policy fails it.
//
// Thread rules: pure functions over values; safe from any thread.
#ifndef PROVLEDGER_AGENT_IMA_LOG_H_
#define PROVLEDGER_AGENT_IMA_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "device_protocol/integrity_report.h"

namespace provledger::agent {

struct ImaEntry {
  uint64_t pcr = 0;
  Bytes template_hash;         // 20 (SHA-1) or 32 (SHA-256) raw bytes
  std::string templ;           // "ima-ng", "ima-sig" or "file"
  std::string hash_algorithm;  // "sha256", "sha1", "sm3", ...
  Bytes file_digest;           // raw bytes
  std::string path;
  Bytes sig;  // ima-sig only; may be empty

  // True for an IMA violation entry: an all-zero template hash.
  bool violation() const;
  // "<alg>:<lowercase hex>", as the kernel prints it.
  std::string file_hash() const;
};

// Parses one line without its '\n'. kInvalidArgument naming the field at fault: wrong
// field count, a PCR that is not a decimal below 2^32, template hash hex not of 20 or 32
// bytes, a template other than the three above, a file hash not "<alg>:<hex>" (with the
// digest size of a known algorithm), an empty path, or a signature that is not hex.
StatusOr<ImaEntry> ParseImaLine(std::string_view line);

// The template data the kernel hashes for `entry` (see the file comment).
Bytes TemplateData(const ImaEntry& entry);

// OK when entry.template_hash is the SHA-1 (20 bytes) or SHA-256 (32 bytes) of
// TemplateData(entry). kFailedPrecondition for a violation entry (nothing to check);
// kUnauthenticated on a mismatch (the message gives both hashes' first bytes).
Status CheckTemplateHash(const ImaEntry& entry);

// The entry as section 7 reports it: pcr, template, "<alg>:<hex>", path.
device_protocol::MeasurementEntry ToMeasurementEntry(const ImaEntry& entry);

// The entry as one list line (no '\n'), in the kernel's layout; ParseImaLine's inverse.
std::string FormatImaLine(const ImaEntry& entry);

// A line that was skipped: its 1-based number in the list and why.
struct LineIssue {
  uint64_t line = 0;
  std::string reason;
};

// What ParseImaList made of a piece of a list.
struct ImaChunk {
  std::vector<ImaEntry> entries;     // well-formed, checked entries and violations, in order
  std::vector<LineIssue> skipped;    // malformed lines and entries whose template hash fails
  std::vector<uint64_t> violations;  // line numbers of the violation entries kept
  size_t consumed_bytes = 0;         // bytes of `text` covered by the lines read
  uint64_t lines = 0;                // lines read (entries + skipped)
  // For entries[i]: consumed_bytes and lines just after its line (to cut a chunk short).
  std::vector<std::pair<size_t, uint64_t>> entry_ends;
};

// Reads the complete lines of `text` (from a list whose first line here is number
// `first_line`) until `max_entries` entries are taken. A final piece without '\n' is an
// incomplete line still being written and is left unconsumed. Never fails: malformed
// lines and bad template hashes go to `skipped`; empty lines are skipped silently.
ImaChunk ParseImaList(std::string_view text, uint64_t first_line, size_t max_entries);

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_IMA_LOG_H_
