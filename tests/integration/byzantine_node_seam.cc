// Linked with the node's own main into tests/integration:byzantine_node: a validator that
// turns Byzantine in what it sends (node/test_seams.h), by its own flag --byzantine (this
// binary only; never part of the production node):
//   equivocate    as primary, each backup gets another pre-prepare for the same view and
//                 height, each validly signed: the first backup the block as built, the
//                 second its requests in reverse order, the third without its last request
//                 (and each a block time 1 ms apart, so all differ). The blocks after it are
//                 built on the one that backup got, so each backup sees a consistent chain.
//   wrong_digest  its prepares and commits name a wrong digest, validly signed.
//   forge         every message goes out with a garbage signature, plus a copy claiming to
//                 come from the next validator (another digest, signed with our key).
//   lie_state     honest in consensus, but every block it serves with payloads (what a
//                 peer's state transfer and block repair ask for; clients' plain reads stay
//                 true) is a lie: a block with records has its last record left out (header
//                 and certificate as committed, so only the records betray it); one without
//                 has, by height, every certificate signature garbled (odd) or the header's
//                 Merkle root changed, which the certificate then no longer covers (even).
// What it sent is logged (ev=test_byzantine_sent, cumulative: the first 50, then every 2 s), so a
// test can set what the honest nodes counted against it.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/merkle/tree_hasher.h"
#include "node/chain_block_factory.h"
#include "node/test_seams.h"
#include "proto/consensus.pb.h"
#include "proto/ledger.pb.h"

ABSL_FLAG(std::string, byzantine, "",
          "test binary only: equivocate | wrong_digest | forge | lie_state (empty: honest)");

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;
using consensus::ConsensusMsg;
using test_seams::Outgoing;

std::mutex mu;
// By recipient: the header hash we built -> the one that recipient got instead.
std::map<uint32_t, std::map<Bytes, Bytes>>* swapped =
    new std::map<uint32_t, std::map<Bytes, Bytes>>();
uint64_t sent = 0;
uint64_t logged_ms = 0;

void NoteSent(const std::string& behaviour, const ConsensusMsg& m) {
  ++sent;
  const uint64_t now = SteadyMs();
  if (sent > 50 && now - logged_ms < 2000) return;  // the first 50 each, then every 2 s
  logged_ms = now;
  LogWarn("test_byzantine_sent")
      .Kv("behaviour", behaviour)
      .Kv("count", sent)
      .Kv("last_type", consensus::TypeName(m.type))
      .Kv("last_height", m.height)
      .Kv("last_view", m.view);
}

ConsensusMsg Resigned(const Outgoing& w, ConsensusMsg m) {
  m.signature = w.signer->Sign(consensus::SigningDigest(*w.chain_id, m));
  return m;
}

// The pre-prepare `m` as backup number `rank` (0 = the first after us) gets it.
ConsensusMsg Equivocated(const Outgoing& w, const ConsensusMsg& m, uint32_t rank) {
  v1::ConsensusBlock cb;
  if (!cb.ParseFromString(m.block)) return m;
  StatusOr<ledger::BlockHeader> h = ledger::DecodeHeader(cb.header());
  if (!h.ok()) return m;
  std::map<Bytes, Bytes>& mine = (*swapped)[w.to];
  auto prev = mine.find(h->prev);
  if (rank == 0 && prev == mine.end()) return m;
  if (prev != mine.end()) h->prev = prev->second;
  std::vector<v1::ConsensusRequest> reqs(cb.requests().begin(), cb.requests().end());
  std::vector<std::string> ids(cb.request_ids().begin(), cb.request_ids().end());
  if (reqs.size() == ids.size()) {
    if (rank == 1) {
      std::reverse(reqs.begin(), reqs.end());
      std::reverse(ids.begin(), ids.end());
    } else if (rank == 2 && !reqs.empty()) {
      reqs.pop_back();
      ids.pop_back();
    }
  }
  std::vector<Bytes> record_ids;
  for (const auto& r : reqs) {
    StatusOr<RequestIds> ri = IdentifyRequest(*w.chain_id, r);
    if (!ri.ok()) return m;
    for (size_t i = 0; i + 32 <= ri->record_ids.size(); i += 32) {
      record_ids.push_back(ri->record_ids.substr(i, 32));
    }
  }
  cb.clear_requests();
  cb.clear_request_ids();
  for (auto& r : reqs) *cb.add_requests() = std::move(r);
  for (auto& id : ids) cb.add_request_ids(std::move(id));
  h->root = ledger::MerkleRoot(record_ids);
  h->record_count = record_ids.size();
  h->timestamp += rank;
  const Bytes header = ledger::EncodeHeader(*h);
  cb.set_header(header);
  ConsensusMsg alt = m;
  alt.block = cb.SerializeAsString();
  alt.digest = ledger::HeaderHash(header);
  if (mine.size() > 4096) mine.clear();
  mine[m.digest] = alt.digest;
  return Resigned(w, std::move(alt));
}

std::vector<ConsensusMsg> Byzantine(const Outgoing& w, const ConsensusMsg& m) {
  static const std::string behaviour = absl::GetFlag(FLAGS_byzantine);
  std::lock_guard<std::mutex> lock(mu);
  if (behaviour == "equivocate" && m.type == ConsensusMsg::kPrePrepare && m.sender == w.self) {
    const uint32_t rank = (w.to + w.n - w.self - 1) % w.n;
    ConsensusMsg alt = Equivocated(w, m, rank);
    if (alt.digest != m.digest) NoteSent(behaviour, alt);
    return {alt};
  }
  if (behaviour == "wrong_digest" && m.sender == w.self &&
      (m.type == ConsensusMsg::kPrepare || m.type == ConsensusMsg::kCommit)) {
    ConsensusMsg alt = m;
    alt.digest = Sha256("wrong" + m.digest);
    NoteSent(behaviour, alt);
    return {Resigned(w, std::move(alt))};
  }
  if (behaviour == "forge") {
    ConsensusMsg garbage = m;
    if (garbage.signature.empty()) garbage.signature = Bytes(64, '\0');
    garbage.signature[0] = static_cast<char>(garbage.signature[0] ^ 0x5a);
    ConsensusMsg claimed = m;
    claimed.sender = (w.self + 1) % w.n;
    if (!claimed.digest.empty()) claimed.digest = Sha256("forged" + m.digest);
    NoteSent(behaviour, m);
    return {garbage, Resigned(w, std::move(claimed))};
  }
  return {m};
}

// What lie_state told: logged as NoteSent does (first 50, then every 2 s).
std::atomic<uint64_t> lies{0};
std::atomic<uint64_t> lie_logged_ms{0};

void LieAbout(const v1::GetBlockRequest& req, v1::Block* b) {
  static const std::string behaviour = absl::GetFlag(FLAGS_byzantine);
  if (behaviour != "lie_state" || !req.with_payloads()) return;
  const uint64_t h = req.height();
  std::string how;
  if (b->records_size() > 0) {
    b->mutable_records()->RemoveLast();
    if (b->payloads_size() > b->records_size()) b->mutable_payloads()->RemoveLast();
    how = "record_left_out";
  } else if (h % 2 == 0) {
    StatusOr<ledger::BlockHeader> hdr = ledger::DecodeHeader(b->header());
    if (!hdr.ok() || hdr->root.empty()) return;
    hdr->root[0] = static_cast<char>(hdr->root[0] ^ 0x01);
    b->set_header(ledger::EncodeHeader(*hdr));
    how = "wrong_root";
  } else {
    for (auto& sig : *b->mutable_certificate()->mutable_signatures()) {
      std::string* bytes = sig.mutable_signature();
      if (bytes->empty()) bytes->assign(64, '\0');
      (*bytes)[0] = static_cast<char>((*bytes)[0] ^ 0x5a);
    }
    how = "forged_certificate";
  }
  const uint64_t n = ++lies;
  const uint64_t now = SteadyMs();
  if (n > 50 && now - lie_logged_ms.load() < 2000) return;
  lie_logged_ms.store(now);
  LogWarn("test_byzantine_sent")
      .Kv("behaviour", behaviour)
      .Kv("count", n)
      .Kv("last_type", how)
      .Kv("last_height", h);
}

const bool installed = [] {
  test_seams::SetOutgoing(&Byzantine);
  test_seams::SetServedBlock(&LieAbout);
  return true;
}();

}  // namespace
}  // namespace provledger::node
