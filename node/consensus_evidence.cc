#include "node/consensus_evidence.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"

namespace provledger::node {
namespace {

constexpr uint64_t kLogEveryMs = 5000;

metrics::Family<metrics::Counter>& EvidenceCounters() {
  static metrics::Family<metrics::Counter>& f = metrics::DefaultRegistry().AddCounterFamily(
      "provledger_node_consensus_evidence_total",
      "Peer consensus messages refused or doubted as only a faulty or Byzantine validator "
      "sends them (bad_signature, equivocation, other_digest_vote, ...; docs/OPERATIONS.md).",
      {"kind"});
  return f;
}

// The core's drops that honest peers do not cause (old views, duplicates, watermarks and
// epochs are normal traffic).
bool IsEvidence(consensus::DropReason r) {
  using R = consensus::DropReason;
  switch (r) {
    case R::kUnknownSender:
    case R::kBadSignature:
    case R::kMalformed:
    case R::kNotFromPrimary:
    case R::kDigestMismatch:
    case R::kInvalidBlock:
    case R::kEquivocation:
    case R::kConflictingVote:
    case R::kInvalidViewChange:
    case R::kInvalidNewView:
      return true;
    default:
      return false;
  }
}

}  // namespace

ConsensusEvidence::ConsensusEvidence() {
  // Every kind shows from the first scrape, at 0.
  for (const char* k :
       {"bad_signature", "undecodable", "unknown_sender", "equivocation", "conflicting_vote",
        "other_digest_vote", "invalid_block", "digest_mismatch", "not_from_primary", "malformed",
        "invalid_view_change", "invalid_new_view", "bad_state_transfer"}) {
    EvidenceCounters().With({k});
  }
}

void ConsensusEvidence::Count(const char* kind, uint64_t n, const std::string& from,
                              const Delivered& via) {
  if (n == 0) return;
  EvidenceCounters().With({kind}).Inc(n);
  const uint64_t now = SteadyMs();
  std::lock_guard<std::mutex> lock(mu_);
  Kind& k = kinds_[kind];
  k.total += n;
  k.unlogged += n;
  if (k.logged_ms != 0 && now - k.logged_ms < kLogEveryMs) return;
  LogLine line(LogLevel::kWarn, "consensus_evidence");
  line.Kv("kind", kind).Kv("count", k.unlogged).Kv("total", k.total);
  if (!from.empty()) line.Kv("from", from);
  if (!via.peer.empty()) line.Kv("peer", via.peer);
  if (!via.claimed.empty()) line.Kv("claimed", via.claimed);
  k.unlogged = 0;
  k.logged_ms = now == 0 ? 1 : now;
}

void ConsensusEvidence::Note(const consensus::PbftCore& core) {
  for (size_t i = 0; i < seen_drops_.size(); ++i) {
    const auto r = static_cast<consensus::DropReason>(i);
    const uint64_t d = core.dropped(r);
    if (d == seen_drops_[i]) continue;
    if (IsEvidence(r)) Count(consensus::DropReasonName(r), d - seen_drops_[i], "");
    seen_drops_[i] = d;
  }
  const uint64_t o = core.other_digest_votes();
  if (o != seen_other_digest_) Count("other_digest_vote", o - seen_other_digest_, "");
  seen_other_digest_ = o;
}

}  // namespace provledger::node
