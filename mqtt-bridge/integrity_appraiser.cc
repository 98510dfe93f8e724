#include "mqtt-bridge/integrity_appraiser.h"

#include <algorithm>
#include <utility>

#include "ledger/registry.h"
#include "re2/re2.h"

namespace provledger::bridge {

CompiledPolicy::~CompiledPolicy() = default;

StatusOr<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Compile(
    const provledger::v1::RuntimePolicy& p) {
  PL_RETURN_IF_ERROR(ledger::ValidateRuntimePolicy(p));
  std::shared_ptr<CompiledPolicy> c(new CompiledPolicy());
  c->name_ = p.name();
  c->version_ = p.version();
  c->digests_.reserve(static_cast<size_t>(p.digests_size()));
  for (const auto& d : p.digests()) {
    c->digests_[d.path()] = std::vector<std::string>(d.hashes().begin(), d.hashes().end());
  }
  if (p.excludes_size() > 0) {
    // One alternation, as Keylime joins its excludes; each validated on its own above.
    std::string joined;
    for (const auto& e : p.excludes()) {
      if (!joined.empty()) joined += "|";
      joined += "(?:" + e + ")";
    }
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_max_mem(64 << 20);
    c->excludes_ = std::make_unique<re2::RE2>(joined, opts);
    if (!c->excludes_->ok()) {
      return InvalidArgumentError("policy excludes: " + c->excludes_->error());
    }
  }
  return std::shared_ptr<const CompiledPolicy>(std::move(c));
}

bool CompiledPolicy::Excluded(std::string_view path) const {
  if (!excludes_) return false;
  return excludes_->Match(re2::StringPiece(path.data(), path.size()), 0, path.size(),
                          RE2::ANCHOR_START, nullptr, 0);
}

bool CompiledPolicy::Allows(const std::string& path, std::string_view hex) const {
  auto it = digests_.find(path);
  if (it == digests_.end()) return false;
  return std::find(it->second.begin(), it->second.end(), hex) != it->second.end();
}

Appraisal Appraise(const device_protocol::IntegrityReport& report, uint64_t appraised_count,
                   const CompiledPolicy* policy) {
  Appraisal a;
  a.policy_version = policy ? policy->version() : 0;
  const uint64_t n = report.entries.size();
  if (report.from > appraised_count) {
    a.lost = report.from - appraised_count;
    a.reason = std::to_string(a.lost) + " measurements lost: from " + std::to_string(report.from) +
               " is above the " + std::to_string(appraised_count) + " appraised";
  }
  // Entries [from, appraised_count) were appraised by an earlier report.
  const uint64_t skip =
      appraised_count > report.from ? std::min<uint64_t>(appraised_count - report.from, n) : 0;
  a.repeated = skip;
  for (uint64_t i = skip; i < n; ++i) {
    const device_protocol::MeasurementEntry& e = report.entries[i];
    ++a.appraised;
    if (policy != nullptr) {
      if (policy->Excluded(e.path)) continue;
      const size_t colon = e.hash.find(':');
      const std::string_view hex = colon == std::string::npos
                                       ? std::string_view()
                                       : std::string_view(e.hash).substr(colon + 1);
      if (!hex.empty() && policy->Allows(e.path, hex)) continue;
    }
    a.failures.push_back(ledger::AttestationFailure{e.path, e.hash});
  }
  a.next_count = std::max<uint64_t>(appraised_count, report.from + n);
  if (!a.failures.empty()) {
    const std::string f = std::to_string(a.failures.size()) +
                          (policy ? " entries not allowed by policy " + policy->name() + " v" +
                                        std::to_string(policy->version())
                                  : " entries appraised: no runtime policy is bound to the device");
    a.reason = a.reason.empty() ? f : a.reason + "; " + f;
  }
  if (policy == nullptr && a.failures.empty()) {
    // Nothing to appraise, but nothing is allowed either: a device without a policy is
    // never trusted (docs/INTEGRITY.md).
    a.reason = a.reason.empty() ? "no runtime policy is bound to the device"
                                : a.reason + "; no runtime policy is bound to the device";
  }
  a.verdict = a.failures.empty() && a.lost == 0 && policy != nullptr ? ledger::kVerdictTrusted
                                                                     : ledger::kVerdictUntrusted;
  return a;
}

ledger::Record AttestationRecordOf(const ReportHeader& h, const Appraisal& appraisal) {
  ledger::Record rec;
  rec.kind = ledger::RecordKind::kAttestation;
  ledger::AttestationRecord& at = rec.attestation;
  at.device = h.device;
  at.seq = h.seq;
  at.ts = h.ts;
  at.report_hash = h.report_hash;
  at.auth = h.auth;
  if (h.auth == ledger::kAuthSignature) at.device_sig = h.device_sig;
  at.gateway = h.gateway;
  at.received = h.received;
  at.verdict = appraisal.verdict;
  at.policy_version = appraisal.policy_version;
  at.failures = appraisal.failures;
  return rec;
}

}  // namespace provledger::bridge
