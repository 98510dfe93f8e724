// The appraisal of an integrity report against a runtime policy (PROTOCOL.md section 7,
// docs/INTEGRITY.md):
//   - entries with an index below the device's appraised count for the report's boot were
//     appraised before and are skipped (a report may repeat entries);
//   - a `from` above that count means measurements were lost: the verdict is untrusted;
//   - every other entry passes when its path is excluded (an RE2 regex of the policy
//     matching from the path's start, as Keylime's `excludes`), or when the hex after the
//     `<alg>:` of its hash is one the policy allows for that path (the algorithm name is not
//     compared: a digest of another algorithm has another length, or other bytes, and
//     fails); every other entry fails, a path the policy does not list included;
//   - without a policy (none bound to the device) every new entry fails and the verdict is
//     untrusted even when there is none;
//   - trusted when no entry fails and none was lost.
//
// Thread rules: CompiledPolicy is immutable after Compile (share it across threads);
// Appraise is a pure function.
#ifndef PROVLEDGER_MQTT_BRIDGE_INTEGRITY_APPRAISER_H_
#define PROVLEDGER_MQTT_BRIDGE_INTEGRITY_APPRAISER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "device_protocol/integrity_report.h"
#include "ledger/record.h"
#include "proto/ledger.pb.h"

namespace re2 {
class RE2;
}

namespace provledger::bridge {

// A runtime policy made ready for appraisal: hashes by path, excludes as one regex.
class CompiledPolicy {
 public:
  // kInvalidArgument when `p` fails ledger::ValidateRuntimePolicy.
  static StatusOr<std::shared_ptr<const CompiledPolicy>> Compile(
      const provledger::v1::RuntimePolicy& p);
  ~CompiledPolicy();

  const std::string& name() const { return name_; }
  uint64_t version() const { return version_; }
  // True when an exclude matches `path` from its first character.
  bool Excluded(std::string_view path) const;
  // True when `hex` (lowercase, no algorithm prefix) is allowed for `path`.
  bool Allows(const std::string& path, std::string_view hex) const;

 private:
  CompiledPolicy() = default;
  std::string name_;
  uint64_t version_ = 0;
  std::unordered_map<std::string, std::vector<std::string>> digests_;
  std::unique_ptr<re2::RE2> excludes_;  // null when the policy has none
};

struct Appraisal {
  uint8_t verdict = ledger::kVerdictTrusted;
  uint64_t policy_version = 0;                       // 0 when no policy was bound
  std::vector<ledger::AttestationFailure> failures;  // in report order, as written
  uint64_t appraised = 0;                            // entries appraised now
  uint64_t repeated = 0;    // entries skipped: appraised by an earlier report
  uint64_t lost = 0;        // entries between the appraised count and `from`
  uint64_t next_count = 0;  // the boot's appraised count after this report
  std::string reason;       // for logs and people: why the verdict is untrusted
};

// Appraises `report` for a device and boot of which `appraised_count` entries were
// appraised before, against `policy` (nullptr: no policy bound). next_count is
// max(appraised_count, from + entries): lost entries cannot be appraised later.
Appraisal Appraise(const device_protocol::IntegrityReport& report, uint64_t appraised_count,
                   const CompiledPolicy* policy);

// What section 6.1 records of a report besides its appraisal: the verification header the
// bridge accepted and who accepted it when.
struct ReportHeader {
  std::string device;
  uint64_t seq = 0;
  uint64_t ts = 0;
  Bytes report_hash;  // SHA256(report payload), 32
  uint8_t auth = ledger::kAuthMac;
  Bytes device_sig;  // 64 when auth is ledger::kAuthSignature
  std::string gateway;
  uint64_t received = 0;
};

// The attestation record (kind 2) of a report and its appraisal.
ledger::Record AttestationRecordOf(const ReportHeader& header, const Appraisal& appraisal);

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_INTEGRITY_APPRAISER_H_
