#include "node/checkpoint_joiner.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "common/ecdsa.h"
#include "common/log.h"
#include "ledger/chain_check.h"
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
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

Status FromGrpc(const grpc::Status& gs) {
  if (gs.ok()) return OkStatus();
  return Status(static_cast<StatusCode>(gs.error_code()), gs.error_message());
}

}  // namespace

StatusOr<CatchUpMode> ParseCatchUpMode(const std::string& text) {
  if (text == "auto") return CatchUpMode::kAuto;
  if (text == "blocks") return CatchUpMode::kBlocks;
  if (text == "checkpoint") return CatchUpMode::kCheckpoint;
  return InvalidArgumentError("--catch_up must be auto, blocks or checkpoint, not '" + text + "'");
}

StatusOr<uint32_t> VerifyStateAttestation(const ledger::Genesis& genesis,
                                          const v1::StateAttestation& a) {
  auto idx = genesis.IndexOf(a.validator());
  if (!idx) return UnauthenticatedError("attestation by '" + a.validator() + "', no validator");
  if (a.header_hash().size() != 32 || a.state_digest().size() != 32) {
    return InvalidArgumentError("attestation digests are not 32 bytes");
  }
  const Bytes digest = ledger::StateAttestationDigest(genesis.chain_id, a.height(), a.header_hash(),
                                                      a.state_digest());
  PL_RETURN_IF_ERROR(VerifySignature(genesis.validators[*idx].pubkey, digest, a.signature()));
  return *idx;
}

CheckpointJoiner::CheckpointJoiner(ledger::BlockStore* store, const ledger::Genesis* genesis,
                                   std::optional<uint32_t> self, CatchUpOptions options)
    : store_(store), genesis_(genesis), options_(std::move(options)) {
  for (uint32_t i = 0; i < genesis->n(); ++i) {
    if (self && *self == i) continue;
    auto ch = Channel(genesis->validators[i].address);
    validators_.push_back(Peer{i, genesis->validators[i].address, v1::Ledger::NewStub(ch),
                               v1::StateSync::NewStub(ch)});
  }
  for (const auto& address : options_.state_peers) {
    auto ch = Channel(address);
    extra_.push_back(Peer{kNoIndex, address, v1::Ledger::NewStub(ch), v1::StateSync::NewStub(ch)});
  }
}

CheckpointJoiner::~CheckpointJoiner() = default;

uint64_t CheckpointJoiner::ValidatorsHead() {
  std::vector<uint64_t> heights;
  for (Peer& p : validators_) {
    grpc::ClientContext ctx;
    // Short: every empty node in auto mode asks this at start, often beside peers that are
    // starting too.
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(std::min<uint32_t>(options_.rpc_timeout_ms, 2000)));
    v1::StatusRequest req;
    v1::NodeStatus st;
    if (!p.ledger->GetStatus(&ctx, req, &st).ok() || st.chain_id() != genesis_->chain_id) continue;
    heights.push_back(st.height());
  }
  return FollowTarget(std::move(heights), genesis_->f());
}

std::optional<CheckpointJoiner::Checkpoint> CheckpointJoiner::PickCheckpoint() {
  // (height, header hash, state digest) -> distinct signers and the row count they name.
  std::map<std::tuple<uint64_t, Bytes, Bytes>, Checkpoint> seen;
  for (Peer& p : validators_) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    v1::StateAttestationsRequest req;
    v1::StateAttestations resp;
    if (!p.sync->GetStateAttestations(&ctx, req, &resp).ok()) continue;
    for (const auto& a : resp.attestations()) {
      auto signer = VerifyStateAttestation(*genesis_, a);
      if (!signer.ok()) {
        LogWarn("state_attestation_refused")
            .Kv("from", p.address)
            .Kv("err", signer.status().ToString());
        continue;
      }
      Checkpoint& cp = seen[{a.height(), a.header_hash(), a.state_digest()}];
      cp.height = a.height();
      cp.header_hash = a.header_hash();
      cp.state_digest = a.state_digest();
      cp.rows = a.rows();
      if (std::find(cp.signers.begin(), cp.signers.end(), *signer) == cp.signers.end()) {
        cp.signers.push_back(*signer);
      }
    }
  }
  std::optional<Checkpoint> best;
  for (auto& [key, cp] : seen) {
    if (cp.signers.size() < genesis_->quorum()) continue;
    if (!best || cp.height > best->height) best = cp;
  }
  return best;
}

Status CheckpointJoiner::FetchHeaders(const Checkpoint& cp, ledger::BlockToAppend* head,
                                      uint64_t* records) {
  Bytes prev(32, '\0');
  *records = 0;
  uint64_t next = 1;
  size_t peer = 0;
  int failures = 0;
  const int max_failures = static_cast<int>(validators_.size()) * 2;
  std::vector<std::pair<Bytes, v1::CommitCertificate>> stage;
  uint64_t stage_first = 1;
  auto fail = [&](const std::string& what, const Status& s) {
    LogWarn("checkpoint_fetch_failed")
        .Kv("from", validators_[peer].address)
        .Kv("what", what)
        .Kv("height", next)
        .Kv("err", s.ToString());
    ++failures;
    peer = (peer + 1) % validators_.size();
  };
  while (next < cp.height) {
    if (failures >= max_failures) return UnavailableError("no validator sent the headers");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    v1::HeadersRequest req;
    req.set_from(next);
    req.set_count(static_cast<uint32_t>(std::min<uint64_t>(kHeaderPage, cp.height - next)));
    v1::Headers resp;
    Status s = FromGrpc(validators_[peer].sync->GetHeaders(&ctx, req, &resp));
    if (s.ok() && resp.headers().empty()) s = UnavailableError("no headers sent");
    if (!s.ok()) {
      fail("headers", s);
      continue;
    }
    for (const auto& e : resp.headers()) {
      if (next >= cp.height) break;
      ledger::CheckedHeader checked;
      // Trust no header: its certificate against the genesis validators, its prev link.
      s = ledger::CheckCertifiedBlock(ledger::ChainLink{genesis_->chain_id, next, prev}, e.header(),
                                      nullptr, e.certificate(), genesis_, &checked);
      if (!s.ok()) break;
      prev = checked.header_hash;
      *records += checked.header.record_count;
      stage.emplace_back(e.header(), e.certificate());
      ++next;
    }
    if (!s.ok()) {
      fail("headers", s);
      continue;
    }
    if (stage.size() >= kStageHeaders || next == cp.height) {
      PL_RETURN_IF_ERROR(store_->PutStateHeaders(stage_first, stage));
      stage_first = next;
      stage.clear();
    }
  }
  // Block H in full: its records and payloads are the head block's.
  while (true) {
    if (failures >= max_failures) return UnavailableError("no validator sent the checkpoint block");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    v1::GetBlockRequest req;
    req.set_height(cp.height);
    req.set_with_payloads(true);
    v1::Block blk;
    Status s = FromGrpc(validators_[peer].ledger->GetBlock(&ctx, req, &blk));
    StatusOr<PeerBlock> pb =
        s.ok() ? CheckPeerBlock(*genesis_, cp.height, blk, prev) : StatusOr<PeerBlock>(s);
    if (pb.ok() && pb->hash != cp.header_hash) {
      pb = UnauthenticatedError("block differs from the attested header hash");
    }
    if (!pb.ok()) {
      fail("block", pb.status());
      continue;
    }
    *records += pb->header.record_count;
    *head = std::move(pb->block);
    return OkStatus();
  }
}

Status CheckpointJoiner::FetchRows(Peer& peer, const Checkpoint& cp) {
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
    const uint64_t head = ValidatorsHead();
    if (head < options_.min_blocks) {
      LogInfo("catch_up").Kv("by", "blocks").Kv("head", head).Kv("min_blocks", options_.min_blocks);
      return 0;
    }
  }
  std::optional<Checkpoint> cp;
  const auto wait_until = start + std::chrono::milliseconds(options_.attest_wait_ms);
  while (!(cp = PickCheckpoint()) && std::chrono::steady_clock::now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!cp) {
    if (options_.mode == CatchUpMode::kAuto) {
      LogWarn("catch_up").Kv("by", "blocks").Kv("why", "no_attested_checkpoint");
      return 0;
    }
    return FailedPreconditionError(
        "no checkpoint attested by " + std::to_string(genesis_->quorum()) +
        " validators could be had (are they run with --state_interval?)");
  }
  LogInfo("checkpoint_chosen")
      .Kv("height", cp->height)
      .Kv("header", ShortHex(cp->header_hash))
      .Kv("state", ShortHex(cp->state_digest))
      .Kv("rows", cp->rows)
      .Kv("signers", cp->signers.size());

  ledger::BlockToAppend head;
  uint64_t records = 0;
  Status fetched = FetchHeaders(*cp, &head, &records);
  if (!fetched.ok()) {
    if (!store_->write_status().ok() || options_.mode == CatchUpMode::kCheckpoint) return fetched;
    LogWarn("catch_up").Kv("by", "blocks").Kv("why", "no_headers").Kv("err", fetched.ToString());
    PL_RETURN_IF_ERROR(store_->DiscardStaged(/*headers=*/true));
    return 0;
  }
  // Row sources: the --state_peers, then the validators that signed.
  std::vector<Peer*> sources;
  for (Peer& p : extra_) sources.push_back(&p);
  for (Peer& p : validators_) {
    if (std::find(cp->signers.begin(), cp->signers.end(), p.index) != cp->signers.end()) {
      sources.push_back(&p);
    }
  }
  bool installed = false;
  for (Peer* p : sources) {
    Status s = FetchRows(*p, *cp);
    if (s.ok()) {
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
    return FailedPreconditionError("no node served the attested state at " +
                                   std::to_string(cp->height));
  }
  PL_RETURN_IF_ERROR(store_->FinishStateInstall(cp->height, head, records));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  LogInfo("state_installed")
      .Kv("height", cp->height)
      .Kv("rows", cp->rows)
      .Kv("records", records)
      .Kv("ms", ms);
  return cp->height;
}

}  // namespace provledger::node
