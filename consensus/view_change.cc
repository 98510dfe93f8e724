#include "consensus/view_change.h"

#include <map>
#include <set>

namespace provledger {
namespace consensus {
namespace {

bool SignedBy(const std::string& chain_id, SignatureChecker* checker, const ConsensusMsg& m) {
  return checker->Verify(m.sender, SigningDigest(chain_id, m), m.signature);
}

}  // namespace

Status VerifyPreparedCert(const Quorum& quorum, const std::string& chain_id,
                          SignatureChecker* checker, const PreparedCert& cert,
                          uint64_t checkpoint_height, uint64_t log_size, uint64_t before_view,
                          const EpochBounds& epoch) {
  const ConsensusMsg& pp = cert.pre_prepare;
  if (pp.type != ConsensusMsg::kPrePrepare) return InvalidArgumentError("cert: not a pre-prepare");
  if (pp.epoch != epoch.start) return InvalidArgumentError("cert: pre-prepare of another epoch");
  if (pp.height <= checkpoint_height || pp.height > checkpoint_height + log_size) {
    return InvalidArgumentError("cert: height outside the sender's watermarks");
  }
  if (pp.view >= before_view) return InvalidArgumentError("cert: view not below the new view");
  if (pp.sender != quorum.Primary(pp.view)) {
    return InvalidArgumentError("cert: pre-prepare not from the view's primary");
  }
  if (!SignedBy(chain_id, checker, pp)) return UnauthenticatedError("cert: bad pre-prepare sig");
  std::set<uint32_t> senders;
  for (const ConsensusMsg& p : cert.prepares) {
    if (p.type != ConsensusMsg::kPrepare || p.view != pp.view || p.height != pp.height ||
        p.digest != pp.digest || p.epoch != epoch.start) {
      return InvalidArgumentError("cert: prepare does not match the pre-prepare");
    }
    if (p.sender >= quorum.n() || p.sender == pp.sender) {
      return InvalidArgumentError("cert: prepare from the primary or an unknown sender");
    }
    if (!senders.insert(p.sender).second) return InvalidArgumentError("cert: repeated sender");
    if (!SignedBy(chain_id, checker, p)) return UnauthenticatedError("cert: bad prepare sig");
  }
  if (senders.size() < quorum.Prepares()) return InvalidArgumentError("cert: too few prepares");
  return OkStatus();
}

Status VerifyViewChange(const Quorum& quorum, const std::string& chain_id,
                        SignatureChecker* checker, const ConsensusMsg& vc, uint64_t log_size,
                        const EpochBounds& epoch) {
  if (vc.type != ConsensusMsg::kViewChange) return InvalidArgumentError("not a view-change");
  if (vc.epoch != epoch.start) return InvalidArgumentError("view-change of another epoch");
  if (vc.sender >= quorum.n()) return InvalidArgumentError("view-change: unknown sender");
  if (!SignedBy(chain_id, checker, vc)) return UnauthenticatedError("view-change: bad sig");
  PL_RETURN_IF_ERROR(VerifyCheckpointProof(quorum, chain_id, checker, vc.checkpoint_height,
                                           vc.checkpoint_digest, vc.checkpoint_proof, epoch)
                         .Annotate("view-change"));
  std::set<uint64_t> heights;
  for (const PreparedCert& c : vc.prepared) {
    PL_RETURN_IF_ERROR(VerifyPreparedCert(quorum, chain_id, checker, c, vc.checkpoint_height,
                                          log_size, vc.view, epoch)
                           .Annotate("view-change"));
    if (!heights.insert(c.pre_prepare.height).second) {
      return InvalidArgumentError("view-change: two certificates for one height");
    }
  }
  return OkStatus();
}

StatusOr<NewViewPlan> ComputeNewView(const Quorum& quorum, uint64_t view,
                                     const std::vector<ConsensusMsg>& view_changes,
                                     BlockFactory* factory, const EpochBounds& epoch) {
  std::set<uint32_t> senders;
  const ConsensusMsg* best_cp = nullptr;
  for (const ConsensusMsg& vc : view_changes) {
    if (vc.view != view) return InvalidArgumentError("view-change for another view");
    senders.insert(vc.sender);
    if (best_cp == nullptr || vc.checkpoint_height > best_cp->checkpoint_height) best_cp = &vc;
  }
  if (senders.size() < quorum.Strong() || senders.size() != view_changes.size()) {
    return InvalidArgumentError("new view needs q view-changes from distinct validators");
  }
  NewViewPlan plan;
  plan.view = view;
  plan.checkpoint.height = best_cp->checkpoint_height;
  plan.checkpoint.digest = best_cp->checkpoint_digest;
  plan.checkpoint.proof = best_cp->checkpoint_proof;

  // height -> certificates for it, from every view-change, above the chosen checkpoint.
  std::map<uint64_t, std::vector<const PreparedCert*>> certs;
  for (const ConsensusMsg& vc : view_changes) {
    for (const PreparedCert& c : vc.prepared) {
      if (c.pre_prepare.height > plan.checkpoint.height) {
        certs[c.pre_prepare.height].push_back(&c);
      }
    }
  }
  Bytes prev = plan.checkpoint.digest;
  for (uint64_t h = plan.checkpoint.height + 1; h <= epoch.last; ++h) {
    auto it = certs.find(h);
    if (it == certs.end()) break;
    const PreparedCert* top = nullptr;
    for (const PreparedCert* c : it->second) {
      if (top == nullptr || c->pre_prepare.view > top->pre_prepare.view) top = c;
    }
    const Bytes& digest = top->pre_prepare.digest;
    const ConsensusMsg* chosen = nullptr;
    for (const PreparedCert* c : it->second) {
      if (c->pre_prepare.digest != digest) continue;
      BlockInfo info;
      Status s = factory->Validate(h, view, prev, c->pre_prepare.block, &info);
      if (s.ok() && info.header_hash == digest) {
        chosen = &c->pre_prepare;
        break;
      }
    }
    if (chosen == nullptr) break;  // not committed anywhere, nor anything above it
    ConsensusMsg pp;
    pp.type = ConsensusMsg::kPrePrepare;
    pp.epoch = epoch.start;
    pp.view = view;
    pp.height = h;
    pp.digest = digest;
    pp.sender = quorum.Primary(view);
    pp.block = chosen->block;
    plan.pre_prepares.push_back(std::move(pp));
    prev = digest;
  }
  return plan;
}

Status VerifyNewView(const Quorum& quorum, const std::string& chain_id, SignatureChecker* checker,
                     BlockFactory* factory, const ConsensusMsg& nv, uint64_t log_size,
                     NewViewPlan* plan, const EpochBounds& epoch) {
  if (nv.type != ConsensusMsg::kNewView) return InvalidArgumentError("not a new-view");
  if (nv.epoch != epoch.start) return InvalidArgumentError("new-view of another epoch");
  if (nv.sender != quorum.Primary(nv.view)) {
    return InvalidArgumentError("new-view not from the view's primary");
  }
  if (!SignedBy(chain_id, checker, nv)) return UnauthenticatedError("new-view: bad signature");
  for (const ConsensusMsg& vc : nv.view_changes) {
    if (vc.view != nv.view) return InvalidArgumentError("new-view: view-change for another view");
    PL_RETURN_IF_ERROR(VerifyViewChange(quorum, chain_id, checker, vc, log_size, epoch));
  }
  PL_ASSIGN_OR_RETURN(*plan, ComputeNewView(quorum, nv.view, nv.view_changes, factory, epoch));
  if (plan->pre_prepares.size() != nv.pre_prepares.size()) {
    return InvalidArgumentError("new-view: wrong number of re-issued pre-prepares");
  }
  for (size_t i = 0; i < nv.pre_prepares.size(); ++i) {
    const ConsensusMsg& got = nv.pre_prepares[i];
    const ConsensusMsg& want = plan->pre_prepares[i];
    if (got.type != ConsensusMsg::kPrePrepare || got.epoch != want.epoch || got.view != want.view ||
        got.height != want.height || got.digest != want.digest || got.sender != want.sender) {
      return InvalidArgumentError("new-view: re-issued pre-prepare differs from the computation");
    }
    if (!SignedBy(chain_id, checker, got)) {
      return UnauthenticatedError("new-view: bad pre-prepare signature");
    }
  }
  return OkStatus();
}

}  // namespace consensus
}  // namespace provledger
