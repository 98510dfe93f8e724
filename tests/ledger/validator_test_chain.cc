#include "tests/ledger/validator_test_chain.h"

#include <cstdlib>
#include <utility>

#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/merkle/proof_builder.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"

namespace provledger::testing {

namespace {

PrivateKey KeyFromSeed(uint32_t seed) {
  Bytes s = "pl-test-validator-key";
  AppendU32(&s, seed);
  auto k = PrivateKey::FromBytes(Sha256(s));
  if (!k.ok()) std::abort();  // a SHA-256 output is a valid scalar but with negligible odds
  return *k;
}

template <typename T>
T OrDie(StatusOr<T> v) {
  if (!v.ok()) {
    std::fprintf(stderr, "validator_test_chain: %s\n", v.status().ToString().c_str());
    std::abort();
  }
  return std::move(*v);
}

void OkOrDie(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "validator_test_chain: %s\n", s.ToString().c_str());
    std::abort();
  }
}

}  // namespace

ValidatorTestChain::ValidatorTestChain(const std::string& chain_id, size_t n, uint32_t seed,
                                       ledger::BlockStore* store)
    : admin_(KeyFromSeed(seed * 1000)), next_seed_(seed * 1000 + 1), store_(store) {
  ledger::Genesis g;
  g.chain_id = chain_id;
  g.created = 1700000000000;
  for (size_t i = 0; i < n; ++i) {
    g.validators.push_back(NewValidator("v" + std::to_string(i), static_cast<uint32_t>(i)));
  }
  g.admins.push_back(admin_.PublicKey());
  genesis_json_ = ledger::GenesisToJson(g);
  genesis_ = OrDie(ledger::ParseGenesis(genesis_json_));
  registry_ = OrDie(ledger::RegistrySnapshot::FromRows({}, &genesis_));
}

ledger::Validator ValidatorTestChain::NewValidator(const std::string& id, uint32_t index) {
  PrivateKey k = KeyFromSeed(next_seed_++);
  const Bytes pub = k.PublicKey();
  keys_.emplace(pub, k);
  return ledger::Validator{id, pub, "127.0.0.1:" + std::to_string(7000 + index)};
}

Bytes ValidatorTestChain::NewKey(const std::string&) {
  PrivateKey k = KeyFromSeed(next_seed_++);
  const Bytes pub = k.PublicKey();
  keys_.emplace(pub, k);
  return pub;
}

const PrivateKey& ValidatorTestChain::KeyFor(const ledger::Validator& v) const {
  auto it = keys_.find(v.pubkey);
  if (it == keys_.end()) std::abort();
  return it->second;
}

Bytes ValidatorTestChain::RegistryRecord(provledger::v1::RegistryOp op) {
  op.set_chain_id(genesis_.chain_id);
  op.set_nonce(nonce_++);
  ledger::Record r;
  r.kind = ledger::RecordKind::kRegistry;
  r.registry.tx = OrDie(ledger::SignRegistryTx(genesis_.chain_id, op, admin_.secret()));
  return ledger::EncodeRecord(r);
}

Bytes ValidatorTestChain::SetValidatorsRecord(const std::vector<ledger::Validator>& members) {
  provledger::v1::RegistryOp op;
  auto* sv = op.mutable_set_validators();
  sv->set_base_set_digest(schedule().Latest().Digest());
  for (const auto& v : members) {
    auto* e = sv->add_validators();
    e->set_id(v.id);
    e->set_pubkey(v.pubkey);
    e->set_address(v.address);
  }
  return RegistryRecord(op);
}

Bytes ValidatorTestChain::FillerRecord() {
  provledger::v1::RegistryOp op;
  op.mutable_register_gateway()->set_id("gw-" + std::to_string(nonce_));
  op.mutable_register_gateway()->set_pubkey(admin_.PublicKey());
  return RegistryRecord(op);
}

void ValidatorTestChain::AddBlock(std::vector<Bytes> records, const ledger::ValidatorSet* signers) {
  const uint64_t h = blocks_.size() + 1;
  const ledger::ValidatorSet& in_force = schedule().SetAt(h);
  const ledger::ValidatorSet& by = signers != nullptr ? *signers : in_force;
  std::vector<Bytes> ids;
  for (const auto& r : records) ids.push_back(ledger::RecordId(r));
  ledger::BlockHeader hdr;
  hdr.chain_id = genesis_.chain_id;
  hdr.height = h;
  hdr.prev = blocks_.empty() ? Bytes(32, '\0') : ledger::HeaderHash(blocks_.back().header);
  hdr.root = ledger::MerkleRoot(ids);
  hdr.record_count = ids.size();
  hdr.timestamp = 1700000000000 + h;
  hdr.view = 0;
  hdr.proposer = by.Primary(0).id;
  StoredTestBlock b;
  b.header = ledger::EncodeHeader(hdr);
  b.records = records;
  const Bytes hash = ledger::HeaderHash(b.header);
  b.cert.set_view(0);
  b.cert.set_digest(ledger::CommitDigest(genesis_.chain_id, h, 0, hash));
  for (size_t i = 0; i < by.quorum(); ++i) {
    auto* s = b.cert.add_signatures();
    s->set_validator(static_cast<uint32_t>(i));
    s->set_signature(OrDie(KeyFor(by.members()[i]).Sign(b.cert.digest())));
  }
  // The registry as the node applies it: each verified op, then the rows.
  ledger::BlockToAppend append;
  for (const auto& r : records) {
    auto rec = OrDie(ledger::DecodeRecord(r));
    if (rec.kind != ledger::RecordKind::kRegistry) continue;
    auto op = ledger::VerifyRegistryTx(genesis_, rec.registry.tx);
    if (op.ok()) registry_ = registry_->Apply(*op, h, &append.registry_puts);
  }
  if (store_ != nullptr) {
    append.header_bytes = b.header;
    append.records = b.records;
    append.certificate = b.cert;
    OkOrDie(store_->Append(append));
  }
  blocks_.push_back(std::move(b));
}

void ValidatorTestChain::FillTo(uint64_t height) {
  while (blocks_.size() < height) AddBlock({FillerRecord()});
}

provledger::v1::Proof ValidatorTestChain::ProofOf(uint64_t height, uint32_t index) const {
  const StoredTestBlock& b = blocks_.at(height - 1);
  std::vector<Bytes> ids;
  for (const auto& r : b.records) ids.push_back(ledger::RecordId(r));
  provledger::v1::Proof p;
  p.set_chain_id(genesis_.chain_id);
  p.set_record_id(ids.at(index));
  p.set_record(b.records.at(index));
  p.set_height(height);
  p.set_leaf_index(index);
  p.set_tree_size(ids.size());
  for (const auto& h : OrDie(ledger::InclusionProof(ids, index))) p.add_audit_path(h);
  p.set_header(b.header);
  *p.mutable_certificate() = b.cert;
  return p;
}

provledger::v1::Block ValidatorTestChain::BlockAt(uint64_t height) const {
  const StoredTestBlock& b = blocks_.at(height - 1);
  provledger::v1::Block out;
  out.set_header(b.header);
  for (const auto& r : b.records) out.add_records(r);
  *out.mutable_certificate() = b.cert;
  return out;
}

}  // namespace provledger::testing
