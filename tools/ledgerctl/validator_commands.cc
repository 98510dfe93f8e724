// ledgerctl validator: the validator set in force and the change pending (list), and the
// admin-signed changes add, remove and rekey (docs/VALIDATOR_SET.md). Each change is the WHOLE
// new set built from the newest one (in force or scheduled), named as its base, so that two
// racing changes cannot both apply; it is in force above E(h) = 16 * (h / 16 + 4) when it
// commits at height h.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "client/transport_security.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/command_line.h"
#include "ledger/genesis.h"
#include "ledger/validator_epoch.h"
#include "ledger/validator_schedule.h"
#include "tools/ledgerctl/ctl_common.h"
#include "tools/ledgerctl/validator_changes.h"

ABSL_DECLARE_FLAG(std::string, id);
ABSL_DECLARE_FLAG(std::string, pubkey);
ABSL_FLAG(std::string, address, "", "validator add: the new validator's gRPC host:port");

namespace provledger::tools {
namespace {

JsonValue SetToJson(const ledger::ValidatorSet& set) {
  JsonValue o = JsonValue::Object();
  o.Set("digest", JsonValue::String(HexEncode(set.Digest())));
  o.Set("n", JsonValue::Int(set.n()));
  o.Set("f", JsonValue::Int(set.f()));
  o.Set("quorum", JsonValue::Int(set.quorum()));
  JsonValue members = JsonValue::Array();
  for (const auto& v : set.members()) {
    JsonValue m = JsonValue::Object();
    m.Set("id", JsonValue::String(v.id));
    m.Set("pubkey", JsonValue::String(HexEncode(v.pubkey)));
    m.Set("address", JsonValue::String(v.address));
    members.Push(std::move(m));
  }
  o.Set("validators", std::move(members));
  return o;
}

void PrintSet(const char* title, const ledger::ValidatorSet& set) {
  std::printf("%s: %zu validator(s), f=%zu, quorum %zu, digest %s\n", title, set.n(), set.f(),
              set.quorum(), HexEncode(set.Digest()).c_str());
  for (size_t i = 0; i < set.n(); ++i) {
    const auto& v = set.members()[i];
    std::printf("  %zu %s %s %s\n", i, v.id.c_str(), HexEncode(v.pubkey).c_str(),
                v.address.c_str());
  }
}

struct NodeView {
  ledger::Genesis genesis;
  ledger::ValidatorSchedule schedule;
  uint64_t height = 0;
};

StatusOr<NodeView> ReadNode(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::ValidatorListing listing, cl->Validators());
  PL_ASSIGN_OR_RETURN(ledger::ValidatorSchedule schedule, ScheduleFromListing(g, listing));
  return NodeView{g, std::move(schedule), listing.height()};
}

StatusOr<int> CmdList(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(NodeView nv, ReadNode(c));
  const ledger::ValidatorSet& now = nv.schedule.SetAt(nv.height + 1);
  const ledger::ValidatorChange* pending = nv.schedule.PendingAfter(nv.height);
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("height", JsonValue::Int(nv.height));
    o.Set("in_force", SetToJson(now));
    if (pending != nullptr) {
      JsonValue p = SetToJson(*pending->set);
      p.Set("committed_height", JsonValue::Int(pending->committed_height));
      p.Set("in_force_above", JsonValue::Int(pending->end));
      o.Set("pending", std::move(p));
    }
    o.Set("changes", JsonValue::Int(nv.schedule.changes().size()));
    PrintJson(o);
    return 0;
  }
  std::printf("chain %s at height %llu, %zu change(s) recorded\n", nv.genesis.chain_id.c_str(),
              static_cast<unsigned long long>(nv.height), nv.schedule.changes().size());
  PrintSet("in force", now);
  if (pending == nullptr) {
    std::printf("no change pending\n");
  } else {
    std::printf("pending: committed at height %llu, in force above height %llu\n",
                static_cast<unsigned long long>(pending->committed_height),
                static_cast<unsigned long long>(pending->end));
    PrintSet("pending set", *pending->set);
  }
  return 0;
}

// Every --node answers at its own height: a node that has just switched epochs (or is
// simply behind) does not list a change the others committed yet. So the outcome of a
// change is read from a node that has applied its height, and the schedule a change is
// built on from the highest node.

// The nodes of --node, each asked once for its listing; the answers (nodes that did not
// answer are left out).
std::vector<v1::ValidatorListing> ListingsOfEveryNode() {
  std::vector<v1::ValidatorListing> out;
  if (!client::ConfigureTransportFromFlags("ledgerctl").ok()) return out;
  const uint32_t budget = static_cast<uint32_t>(absl::GetFlag(FLAGS_timeout_ms));
  for (const std::string& addr : SplitFlagList(absl::GetFlag(FLAGS_node))) {
    client::ClientOptions o;
    o.timeout_ms = std::min<uint32_t>(budget, 5000);
    o.read_timeout_ms = o.timeout_ms;
    auto cl = client::LedgerClient::Create({addr}, o);
    if (!cl.ok()) continue;
    auto listing = (*cl)->Validators();
    if (listing.ok()) out.push_back(std::move(*listing));
  }
  return out;
}

// A listing as of `height` or above, from whichever --node has applied it, asking again
// (every 100 ms) until --timeout_ms; kUnavailable when none reached it by then.
StatusOr<v1::ValidatorListing> ListingAtLeast(uint64_t height) {
  const uint64_t deadline = SteadyMs() + absl::GetFlag(FLAGS_timeout_ms);
  uint64_t best = 0;
  for (;;) {
    for (auto& l : ListingsOfEveryNode()) {
      if (l.height() >= height) return std::move(l);
      best = std::max<uint64_t>(best, l.height());
    }
    if (SteadyMs() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return UnavailableError(
      "no node has applied height " + std::to_string(height) + " yet (the highest is at " +
      std::to_string(best) +
      "): run 'ledgerctl validator list' to see whether the change is in force");
}

// The schedule of the highest --node (ties: the first listed): the newest set a change
// must name as its base.
StatusOr<NodeView> ReadNewest(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  std::vector<v1::ValidatorListing> all = ListingsOfEveryNode();
  if (all.empty()) return ReadNode(c);  // none answered at once: the retrying client says why
  size_t best = 0;
  for (size_t i = 1; i < all.size(); ++i) {
    if (all[i].height() > all[best].height()) best = i;
  }
  PL_ASSIGN_OR_RETURN(ledger::ValidatorSchedule schedule, ScheduleFromListing(g, all[best]));
  return NodeView{g, std::move(schedule), all[best].height()};
}

// The height of a recorded change to the set `digest` committed above `height` that any
// --node lists, if one does.
std::optional<uint64_t> CommittedSince(uint64_t height, const Bytes& digest) {
  for (const auto& listing : ListingsOfEveryNode()) {
    for (const auto& s : listing.sets()) {
      if (s.committed_height() > height && s.digest() == digest) return s.committed_height();
    }
  }
  return std::nullopt;
}

Status ReportCommitted(const Ctx& c, const ledger::ValidatorSet& next, const std::string& what,
                       uint64_t h, const Bytes& record_id, bool applied, bool already) {
  const uint64_t end = ledger::EpochEndFor(h);
  if (c.json) {
    JsonValue o = JsonValue::Object();
    if (!record_id.empty()) o.Set("record_id", JsonValue::String(HexEncode(record_id)));
    o.Set("height", JsonValue::Int(h));
    o.Set("in_force_above", JsonValue::Int(end));
    o.Set("applied", JsonValue::Bool(applied));
    if (already) o.Set("already_committed", JsonValue::Bool(true));
    o.Set("set", SetToJson(next));
    PrintJson(o);
  } else {
    std::printf("%s: committed at height %llu%s%s\n", what.c_str(),
                static_cast<unsigned long long>(h),
                record_id.empty() ? "" : (" as record " + HexEncode(record_id)).c_str(),
                already ? " (already on the ledger: an earlier attempt committed it)" : "");
    if (applied) {
      std::printf("the new set (%zu validators, quorum %zu) is in force above height %llu\n",
                  next.n(), next.quorum(), static_cast<unsigned long long>(end));
    } else {
      std::printf(
          "WARNING: the node does not list this change (its base was overtaken?): "
          "run 'ledgerctl validator list'\n");
    }
  }
  if (!applied) return FailedPreconditionError("the change committed but was not applied");
  return OkStatus();
}

// Submits the change from the newest set to `members` and tells when it takes effect. A
// resend of a change that committed (its first answer lost, say to an epoch switch) is
// reported as committed, with its height: answered as a duplicate, or refused as based on
// the set it itself replaced.
Status SubmitChange(const Ctx& c, const NodeView& nv, std::vector<ledger::Validator> members,
                    const std::string& what) {
  PL_ASSIGN_OR_RETURN(ledger::ValidatorSet next, ledger::ValidatorSet::FromMembers(members));
  const ledger::ValidatorSet& base = nv.schedule.Latest();
  v1::RegistryOp op;
  auto* sv = op.mutable_set_validators();
  sv->set_base_set_digest(base.Digest());
  next.ToEntries(sv->mutable_validators());
  auto submitted = SignAndSubmitAdminOp(c, op);
  if (!submitted.ok() && submitted.status().code() == StatusCode::kFailedPrecondition) {
    if (auto h = CommittedSince(nv.height, next.Digest())) {
      return ReportCommitted(c, next, what, *h, Bytes(), /*applied=*/true, /*already=*/true);
    }
  }
  PL_ASSIGN_OR_RETURN(v1::RecordResult r, std::move(submitted));
  // A change whose base was overtaken commits but is ignored: say so rather than promise it.
  // Only a node that applied its height can tell.
  PL_ASSIGN_OR_RETURN(v1::ValidatorListing listing, ListingAtLeast(r.height()));
  bool applied = false;
  for (const auto& s : listing.sets()) {
    applied = applied || (s.committed_height() == r.height() && s.digest() == next.Digest());
  }
  return ReportCommitted(c, next, what, r.height(), Bytes(r.record_id()), applied,
                         r.outcome() == v1::RecordResult::DUPLICATE);
}

Status CmdAdd(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string id, Require(FLAGS_id));
  PL_ASSIGN_OR_RETURN(std::string pk, Require(FLAGS_pubkey));
  PL_ASSIGN_OR_RETURN(std::string address, Require(FLAGS_address));
  PL_ASSIGN_OR_RETURN(Bytes key, PubkeyArg(pk));
  PL_ASSIGN_OR_RETURN(NodeView nv, ReadNewest(c));
  std::vector<ledger::Validator> members = nv.schedule.Latest().members();
  if (nv.schedule.Latest().IndexOf(id))
    return AlreadyExistsError("validator " + id + " is already in the newest set");
  members.push_back(ledger::Validator{id, key, address});
  return SubmitChange(c, nv, std::move(members), "validator " + id + " added");
}

Status CmdRemove(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string id, Require(FLAGS_id));
  PL_ASSIGN_OR_RETURN(NodeView nv, ReadNewest(c));
  std::vector<ledger::Validator> members;
  for (const auto& v : nv.schedule.Latest().members()) {
    if (v.id != id) members.push_back(v);
  }
  if (members.size() == nv.schedule.Latest().n())
    return NotFoundError("validator " + id + " is not in the newest set");
  return SubmitChange(c, nv, std::move(members), "validator " + id + " removed");
}

Status CmdRekey(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string id, Require(FLAGS_id));
  PL_ASSIGN_OR_RETURN(std::string pk, Require(FLAGS_pubkey));
  PL_ASSIGN_OR_RETURN(Bytes key, PubkeyArg(pk));
  PL_ASSIGN_OR_RETURN(NodeView nv, ReadNewest(c));
  std::vector<ledger::Validator> members = nv.schedule.Latest().members();
  bool found = false;
  for (auto& v : members) {
    if (v.id == id) {
      v.pubkey = key;
      found = true;
    }
  }
  if (!found) return NotFoundError("validator " + id + " is not in the newest set");
  return SubmitChange(c, nv, std::move(members), "validator " + id + " rekeyed");
}

}  // namespace

CommandGroup ValidatorCommands() {
  std::vector<std::string> list = {"genesis"};
  list.insert(list.end(), kNodeFlags.begin(), kNodeFlags.end());
  std::vector<std::string> remove = list;
  remove.insert(remove.end(), {"id", "admin_key"});
  std::vector<std::string> rekey = remove;
  rekey.push_back("pubkey");
  std::vector<std::string> add = rekey;
  add.push_back("address");
  return {
      "validator set (admin-signed changes; docs/VALIDATOR_SET.md)",
      {{"validator list", "--genesis=FILE",
        "the validator set in force, and the change pending with its heights", list, CmdList},
       {"validator add", "--id=ID --pubkey=HEX --address=HOST:PORT --admin_key=FILE --genesis=FILE",
        "adds a validator to the newest set; prints the committed height and the height\n"
        "above which the new set is in force",
        add, [](const Ctx& c) { return Done(CmdAdd(c)); }},
       {"validator remove", "--id=ID --admin_key=FILE --genesis=FILE",
        "removes a validator from the newest set (as add)", remove,
        [](const Ctx& c) { return Done(CmdRemove(c)); }},
       {"validator rekey", "--id=ID --pubkey=HEX --admin_key=FILE --genesis=FILE",
        "replaces a validator's key in the newest set (as add)", rekey,
        [](const Ctx& c) { return Done(CmdRekey(c)); }}}};
}

}  // namespace provledger::tools
