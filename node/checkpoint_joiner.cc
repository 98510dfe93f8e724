#include "node/checkpoint_joiner.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "client/transport_security.h"
#include "common/ecdsa.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "ledger/chain_check.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "ledger/state_digest.h"
#include "node/block_repairer.h"
#include "node/follower_orderer.h"

namespace provledger::node {

namespace v1 = provledger::v1;

namespace {

constexpr uint32_t kHeaderPage = 1000;
constexpr uint32_t kStageHeaders = 5000;

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(address, client::ChannelCredentials(), args);
}

}  // namespace

StatusOr<CatchUpMode> ParseCatchUpMode(const std::string& text) {
  if (text == "auto") return CatchUpMode::kAuto;
  if (text == "blocks") return CatchUpMode::kBlocks;
  if (text == "checkpoint") return CatchUpMode::kCheckpoint;
  return InvalidArgumentError("--catch_up must be auto, blocks or checkpoint, not '" + text + "'");
}

StatusOr<uint32_t> VerifyStateAttestation(const ledger::ValidatorSet& set,
                                          const std::string& chain_id,
                                          const v1::StateAttestation& a) {
  auto idx = set.IndexOf(a.validator());
  if (!idx) {
    return UnauthenticatedError("attestation by '" + a.validator() +
                                "', no validator of the set in force at " +
                                std::to_string(a.height()));
  }
  if (a.header_hash().size() != 32 || a.state_digest().size() != 32) {
    return InvalidArgumentError("attestation digests are not 32 bytes");
  }
  const Bytes digest =
      ledger::StateAttestationDigest(chain_id, a.height(), a.header_hash(), a.state_digest());
  // The key the set in force names: after a rekey the old key no longer counts.
  PL_RETURN_IF_ERROR(VerifySignature(set.members()[*idx].pubkey, digest, a.signature())
                         .Annotate("attestation by " + a.validator()));
  return *idx;
}

std::optional<AttestedCheckpoint> PickAttestedCheckpoint(
    const ledger::ValidatorSchedule& schedule, const std::string& chain_id,
    const std::vector<v1::StateAttestation>& attestations, std::vector<std::string>* refused) {
  // (height, header hash, state digest) -> distinct signers and the row count they name.
  std::map<std::tuple<uint64_t, Bytes, Bytes>, AttestedCheckpoint> seen;
  for (const auto& a : attestations) {
    const ledger::ValidatorSet& set = schedule.SetAt(a.height());
    auto signer = VerifyStateAttestation(set, chain_id, a);
    if (!signer.ok()) {
      if (refused != nullptr) refused->push_back(signer.status().ToString());
      continue;
    }
    AttestedCheckpoint& cp = seen[{a.height(), a.header_hash(), a.state_digest()}];
    cp.height = a.height();
    cp.header_hash = a.header_hash();
    cp.state_digest = a.state_digest();
    cp.rows = a.rows();
    cp.set_digest = set.Digest();
    if (std::find(cp.signers.begin(), cp.signers.end(), a.validator()) == cp.signers.end()) {
      cp.signers.push_back(a.validator());
    }
  }
  std::optional<AttestedCheckpoint> best;
  for (auto& [key, cp] : seen) {
    if (cp.signers.size() < schedule.SetAt(cp.height).quorum()) continue;
    if (!best || cp.height > best->height) best = cp;
  }
  return best;
}

HeaderWalk::HeaderWalk(const ledger::Genesis* genesis) : genesis_(genesis), schedule_(*genesis) {}

StatusOr<ledger::CheckedHeader> HeaderWalk::Add(ByteView header,
                                                const v1::CommitCertificate& certificate,
                                                const std::vector<Bytes>* records) {
  std::vector<Bytes> ids;
  std::vector<ledger::Record> decoded;
  if (records != nullptr) {
    for (const Bytes& r : *records) {
      PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(r));
      decoded.push_back(std::move(rec));
      ids.push_back(ledger::RecordId(r));
    }
  }
  ledger::CheckedHeader checked;
  const ledger::ValidatorSet& set = schedule_.SetAt(next_);
  PL_RETURN_IF_ERROR(ledger::CheckCertifiedBlockWithSet(
      ledger::ChainLink{genesis_->chain_id, next_, prev_}, header,
      records != nullptr ? &ids : nullptr, certificate, &set, &checked));
  if (records != nullptr) {
    schedule_ = ledger::ScheduleAfterBlock(*genesis_, schedule_, next_, decoded);
  }
  prev_ = checked.header_hash;
  ++next_;
  return checked;
}

CheckpointJoiner::CheckpointJoiner(ledger::BlockStore* store, const ledger::Genesis* genesis,
                                   std::string self_id, CatchUpOptions options)
    : store_(store),
      genesis_(genesis),
      self_id_(std::move(self_id)),
      options_(std::move(options)),
      listed_(*genesis) {
  for (const auto& v : genesis->validators) AddValidator(v.id, v.address);
  for (const auto& address : options_.state_peers) {
    auto ch = Channel(address);
    extra_.push_back(
        std::make_unique<Peer>(Peer{address, v1::Ledger::NewStub(ch), v1::StateSync::NewStub(ch)}));
  }
}

CheckpointJoiner::~CheckpointJoiner() = default;

void CheckpointJoiner::AddValidator(const std::string& id, const std::string& address) {
  if (id == self_id_) return;
  address_of_[id] = address;
  for (const auto& p : validators_) {
    if (p->address == address) return;
  }
  auto ch = Channel(address);
  validators_.push_back(
      std::make_unique<Peer>(Peer{address, v1::Ledger::NewStub(ch), v1::StateSync::NewStub(ch)}));
}

void CheckpointJoiner::Discover() {
  // Peers added meanwhile are asked too (a listing names members the genesis does not).
  for (size_t i = 0; i < validators_.size(); ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(std::min<uint32_t>(options_.rpc_timeout_ms, 2000)));
    v1::ValidatorsRequest req;
    v1::ValidatorListing listing;
    if (!validators_[i]->ledger->Validators(&ctx, req, &listing).ok()) continue;
    auto schedule = ledger::ScheduleFromListing(*genesis_, listing);
    if (!schedule.ok()) {
      LogWarn("validator_listing_refused")
          .Kv("from", validators_[i]->address)
          .Kv("err", schedule.status().ToString());
      continue;
    }
    for (const auto& c : schedule->changes()) {
      change_heights_.insert(c.committed_height);
      for (const auto& v : c.set->members()) AddValidator(v.id, v.address);
    }
    if (schedule->changes().size() > listed_.changes().size()) listed_ = std::move(*schedule);
  }
}

uint64_t CheckpointJoiner::ValidatorsHead() {
  std::vector<uint64_t> heights;
  for (auto& p : validators_) {
    grpc::ClientContext ctx;
    // Short: every empty node in auto mode asks this at start, often beside peers that are
    // starting too.
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(std::min<uint32_t>(options_.rpc_timeout_ms, 2000)));
    v1::StatusRequest req;
    v1::NodeStatus st;
    if (!p->ledger->GetStatus(&ctx, req, &st).ok() || st.chain_id() != genesis_->chain_id) continue;
    heights.push_back(st.height());
  }
  return FollowTarget(std::move(heights), listed_.Latest().f());
}

std::optional<AttestedCheckpoint> CheckpointJoiner::PickCheckpoint() {
  Discover();
  std::vector<v1::StateAttestation> all;
  for (auto& p : validators_) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    v1::StateAttestationsRequest req;
    v1::StateAttestations resp;
    if (!p->sync->GetStateAttestations(&ctx, req, &resp).ok()) continue;
    all.insert(all.end(), resp.attestations().begin(), resp.attestations().end());
  }
  std::vector<std::string> refused;
  auto best = PickAttestedCheckpoint(listed_, genesis_->chain_id, all, &refused);
  for (const auto& why : refused) LogWarn("state_attestation_refused").Kv("err", why);
  return best;
}

Status CheckpointJoiner::FetchHeaders(const AttestedCheckpoint& cp, HeaderWalk* walk,
                                      ledger::BlockToAppend* head, uint64_t* records) {
  *records = 0;
  if (validators_.empty()) return UnavailableError("no validator to ask");
  size_t peer = 0;
  int failures = 0;
  // Counted since the last progress: a peer that lacks some bodies (it joined from a
  // checkpoint itself) costs a turn, not the fetch.
  const int max_failures = static_cast<int>(validators_.size()) * 2;
  std::vector<std::pair<Bytes, v1::CommitCertificate>> stage;
  uint64_t stage_first = 1;
  auto fail = [&](const std::string& what, const Status& s) {
    LogWarn("checkpoint_fetch_failed")
        .Kv("from", validators_[peer]->address)
        .Kv("what", what)
        .Kv("height", walk->next())
        .Kv("err", s.ToString());
    ++failures;
    peer = (peer + 1) % validators_.size();
  };
  auto get_block = [&](uint64_t height, bool payloads, v1::Block* blk) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    v1::GetBlockRequest req;
    req.set_height(height);
    req.set_with_payloads(payloads);
    return FromGrpc(validators_[peer]->ledger->GetBlock(&ctx, req, blk));
  };
  while (walk->next() < cp.height) {
    if (failures >= max_failures) return UnavailableError("no validator sent the headers");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    v1::HeadersRequest req;
    req.set_from(walk->next());
    req.set_count(static_cast<uint32_t>(std::min<uint64_t>(kHeaderPage, cp.height - walk->next())));
    v1::Headers resp;
    Status s = FromGrpc(validators_[peer]->sync->GetHeaders(&ctx, req, &resp));
    if (s.ok() && resp.headers().empty()) s = UnavailableError("no headers sent");
    if (!s.ok()) {
      fail("headers", s);
      continue;
    }
    std::string what = "headers";
    for (const auto& e : resp.headers()) {
      if (walk->next() >= cp.height) break;
      // A block the listing says holds a validator change is fetched in full: its records,
      // proved into its header, tell the set that certifies the heights above its end.
      std::vector<Bytes> body;
      const bool change = change_heights_.count(walk->next()) != 0;
      if (change) {
        v1::Block blk;
        s = get_block(walk->next(), /*payloads=*/false, &blk);
        if (s.ok() && blk.header() != e.header())
          s = UnauthenticatedError("block and header differ");
        if (!s.ok()) {
          what = "change_block";
          break;
        }
        body.assign(blk.records().begin(), blk.records().end());
      }
      // Trust no header: its certificate against the set in force at its height, its prev link.
      auto checked = walk->Add(e.header(), e.certificate(), change ? &body : nullptr);
      if (!checked.ok()) {
        s = checked.status();
        break;
      }
      failures = 0;
      *records += checked->header.record_count;
      stage.emplace_back(e.header(), e.certificate());
    }
    if (!s.ok()) {
      fail(what, s);
      continue;
    }
    if (stage.size() >= kStageHeaders || walk->next() == cp.height) {
      PL_RETURN_IF_ERROR(store_->PutStateHeaders(stage_first, stage));
      stage_first = walk->next();
      stage.clear();
    }
  }
  // Block H in full: its records and payloads are the head block's.
  while (true) {
    if (failures >= max_failures) return UnavailableError("no validator sent the checkpoint block");
    v1::Block blk;
    Status s = get_block(cp.height, /*payloads=*/true, &blk);
    const ledger::ValidatorSet& set = walk->schedule().SetAt(cp.height);
    StatusOr<PeerBlock> pb = s.ok()
                                 ? CheckPeerBlock(*genesis_, set, cp.height, blk, walk->prev_hash())
                                 : StatusOr<PeerBlock>(s);
    if (pb.ok() && pb->hash != cp.header_hash) {
      pb = UnauthenticatedError("block differs from the attested header hash");
    }
    if (pb.ok()) {
      // Its records are the header's, and a change in it is in the state at H.
      std::vector<Bytes> body(blk.records().begin(), blk.records().end());
      auto checked = walk->Add(blk.header(), blk.certificate(), &body);
      if (!checked.ok()) pb = checked.status();
    }
    if (!pb.ok()) {
      fail("block", pb.status());
      continue;
    }
    *records += pb->header.record_count;
    *head = std::move(pb->block);
    break;
  }
  // The attestations were counted with the set the peers listed: it must be the chain's.
  if (walk->schedule().SetAt(cp.height).Digest() != cp.set_digest) {
    return UnauthenticatedError(
        "the validator set at " + std::to_string(cp.height) + " the headers give (" +
        ShortHex(walk->schedule().SetAt(cp.height).Digest()) +
        ") is not the one the validators list (" + ShortHex(cp.set_digest) + ")");
  }
  return OkStatus();
}

Status CheckpointJoiner::FetchRows(Peer& peer, const AttestedCheckpoint& cp,
                                   std::vector<std::pair<Bytes, Bytes>>* vset_rows,
                                   ledger::IndexChainHead* index_chain) {
  ledger::StateDigester digester(genesis_->chain_id, cp.height, cp.header_hash);
  Bytes cursor;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    v1::StateRowsRequest req;
    req.set_height(cp.height);
    req.set_after(cursor);
    v1::StateRows resp;
    PL_RETURN_IF_ERROR(FromGrpc(peer.sync->GetStateRows(&ctx, req, &resp)));
    if (resp.rows().empty() && !resp.next().empty()) {
      return InvalidArgumentError("an empty page that is not the last");
    }
    std::vector<ledger::StateRow> rows;
    rows.reserve(resp.rows_size());
    for (const auto& r : resp.rows()) {
      if (r.table() > 255) return InvalidArgumentError("state row of unknown table");
      ledger::StateRow row{static_cast<uint8_t>(r.table()), r.key(), r.value()};
      PL_RETURN_IF_ERROR(digester.Add(row));
      if (digester.rows() > cp.rows) return InvalidArgumentError("more rows than attested");
      if (row.table == static_cast<uint8_t>(ledger::StateTable::kRegistry) &&
          row.key.rfind(ledger::kValidatorSetRowPrefix, 0) == 0) {
        vset_rows->emplace_back(row.key, row.value);
      }
      rows.push_back(std::move(row));
    }
    // Staged only: FinishStateInstall makes them the store's once the digest matches.
    PL_RETURN_IF_ERROR(store_->PutStateRows(rows));
    if (!resp.next().empty() && resp.next() != ledger::StateCursor(rows.back())) {
      return InvalidArgumentError("page cursor is not its last row");
    }
    cursor = resp.next();
  } while (!cursor.empty());
  const uint64_t n = digester.rows();
  if (digester.Finish() != cp.state_digest) {
    return UnauthenticatedError("state digest differs from the attested one (" + std::to_string(n) +
                                " rows)");
  }
  // Installed with the state, so this node's own checkpoints continue the chain.
  index_chain->height = cp.height;
  index_chain->digest = digester.index_digest();
  index_chain->rows = digester.index_rows();
  return OkStatus();
}

StatusOr<uint64_t> CheckpointJoiner::Run() {
  if (options_.mode == CatchUpMode::kBlocks) return 0;
  if (store_->height() != 0) {
    if (options_.mode == CatchUpMode::kCheckpoint) {
      LogInfo("catch_up").Kv("by", "blocks").Kv("why", "store_not_empty");
    }
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  if (options_.mode == CatchUpMode::kAuto) {
    Discover();
    const uint64_t head = ValidatorsHead();
    if (head < options_.min_blocks) {
      LogInfo("catch_up").Kv("by", "blocks").Kv("head", head).Kv("min_blocks", options_.min_blocks);
      return 0;
    }
  }
  std::optional<AttestedCheckpoint> cp;
  const auto wait_until = start + std::chrono::milliseconds(options_.attest_wait_ms);
  while (!(cp = PickCheckpoint()) && std::chrono::steady_clock::now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!cp) {
    if (options_.mode == CatchUpMode::kAuto) {
      LogWarn("catch_up").Kv("by", "blocks").Kv("why", "no_attested_checkpoint");
      return 0;
    }
    const ledger::ValidatorSet& latest = listed_.Latest();
    return FailedPreconditionError(
        "no checkpoint attested by a quorum of the validator set in force at its height could "
        "be had (the latest set: " +
        std::to_string(latest.n()) + " validators, quorum " + std::to_string(latest.quorum()) +
        "; are they run with --state_interval?)");
  }
  std::string signers;
  for (const auto& id : cp->signers) signers += (signers.empty() ? "" : ",") + id;
  LogInfo("checkpoint_chosen")
      .Kv("height", cp->height)
      .Kv("header", ShortHex(cp->header_hash))
      .Kv("state", ShortHex(cp->state_digest))
      .Kv("rows", cp->rows)
      .Kv("set", ShortHex(cp->set_digest))
      .Kv("quorum", listed_.SetAt(cp->height).quorum())
      .Kv("signers", signers);

  ledger::BlockToAppend head;
  uint64_t records = 0;
  HeaderWalk walk(genesis_);
  Status fetched = FetchHeaders(*cp, &walk, &head, &records);
  if (!fetched.ok()) {
    if (!store_->write_status().ok() || options_.mode == CatchUpMode::kCheckpoint) {
      if (store_->write_status().ok()) PL_RETURN_IF_ERROR(store_->DiscardStaged(/*headers=*/true));
      return fetched;
    }
    LogWarn("catch_up").Kv("by", "blocks").Kv("why", "no_headers").Kv("err", fetched.ToString());
    PL_RETURN_IF_ERROR(store_->DiscardStaged(/*headers=*/true));
    return 0;
  }
  // Row sources: the --state_peers, then the validators that signed.
  std::vector<Peer*> sources;
  for (auto& p : extra_) sources.push_back(p.get());
  for (const auto& id : cp->signers) {
    auto it = address_of_.find(id);
    if (it == address_of_.end()) continue;
    for (auto& p : validators_) {
      if (p->address == it->second) sources.push_back(p.get());
    }
  }
  bool installed = false;
  ledger::IndexChainHead index_chain;
  Status why =
      FailedPreconditionError("no node served the attested state at " + std::to_string(cp->height));
  for (Peer* p : sources) {
    std::vector<std::pair<Bytes, Bytes>> vset_rows;
    Status s = FetchRows(*p, *cp, &vset_rows, &index_chain);
    if (s.ok()) {
      // The attested state carries the schedule: it must be the one the headers gave, or a
      // change was left out of the listing (and the set at H counted may be wrong).
      auto snap = ledger::RegistrySnapshot::FromRows(vset_rows, genesis_);
      if (!snap.ok() || !(*snap)->schedule()->SameChanges(walk.schedule())) {
        why = UnauthenticatedError("the validator changes in the attested state at " +
                                   std::to_string(cp->height) +
                                   " are not those the chain's blocks gave");
        LogWarn("state_refused")
            .Kv("from", p->address)
            .Kv("height", cp->height)
            .Kv("err", why.ToString());
        PL_RETURN_IF_ERROR(store_->DiscardStaged(/*headers=*/false));
        break;  // the same rows from every source: the checkpoint itself is at fault
      }
      installed = true;
      break;
    }
    LogWarn("state_refused")
        .Kv("from", p->address)
        .Kv("height", cp->height)
        .Kv("err", s.ToString());
    PL_RETURN_IF_ERROR(store_->DiscardStaged(/*headers=*/false));
  }
  if (!installed) {
    if (options_.mode == CatchUpMode::kAuto) {
      LogWarn("catch_up").Kv("by", "blocks").Kv("why", "no_good_state");
      PL_RETURN_IF_ERROR(store_->DiscardStaged(/*headers=*/true));
      return 0;
    }
    return why;
  }
  PL_RETURN_IF_ERROR(store_->FinishStateInstall(cp->height, head, records, &index_chain));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  LogInfo("state_installed")
      .Kv("height", cp->height)
      .Kv("rows", cp->rows)
      .Kv("records", records)
      .Kv("validators", walk.schedule().SetAt(cp->height).n())
      .Kv("ms", ms);
  return cp->height;
}

}  // namespace provledger::node
