#include "node/state_attester.h"

#include <chrono>

#include "common/log.h"
#include "common/sha256.h"
#include "ledger/state_digest.h"
#include "node/epoch_plan.h"

namespace provledger::node {

namespace v1 = provledger::v1;

StatusOr<StateDigestResult> DigestPinnedState(const ledger::BlockStore& store, uint64_t height) {
  StateDigestResult out;
  PL_ASSIGN_OR_RETURN(Bytes header, store.ReadHeaderBytes(height));
  out.header_hash = Sha256(header);
  // The index tables' digest is kept by the store as it appends (ledger/state_digest.h), so
  // only the registry is scanned here.
  PL_ASSIGN_OR_RETURN(ledger::IndexChainHead index, store.PinnedIndexChain(height));
  ledger::RowsDigester registry;
  constexpr auto kRegistry = static_cast<uint8_t>(ledger::StateTable::kRegistry);
  Bytes cursor;
  do {
    PL_ASSIGN_OR_RETURN(ledger::StateChunk chunk,
                        store.ReadState(height, cursor, 4 << 20, /*last_table=*/kRegistry));
    for (const auto& row : chunk.rows) registry.Add(row.table, row.key, row.value);
    cursor = std::move(chunk.next);
  } while (!cursor.empty());
  out.rows = registry.rows() + index.rows;
  out.digested_rows = registry.rows();
  out.digest = ledger::StateDigest(store.chain_id(), height, out.header_hash, registry.Finish(),
                                   index.digest);
  return out;
}

StateAttester::StateAttester(const ledger::BlockStore* store, const ledger::Genesis* genesis,
                             std::vector<PrivateKey> keys, std::string validator_id,
                             ScheduleSource schedule)
    : store_(store),
      genesis_(genesis),
      keys_(std::move(keys)),
      id_(std::move(validator_id)),
      schedule_(std::move(schedule)) {
  worker_ = std::make_unique<Worker>("state-attester", [this](Worker& w) { Loop(w); });
}

StateAttester::~StateAttester() { worker_.reset(); }

std::vector<v1::StateAttestation> StateAttester::Latest() const {
  const std::vector<uint64_t> pinned = store_->StateHeights();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::StateAttestation> out;
  for (uint64_t h : pinned) {
    auto it = made_.find(h);
    if (it != made_.end()) out.push_back(it->second);
  }
  return out;
}

void StateAttester::Loop(Worker& w) {
  while (!w.stopping()) {
    for (uint64_t h : store_->StateHeights()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (made_.count(h) != 0) continue;
      }
      if (skipped_.count(h) != 0) continue;
      // The set in force at h signs h: its changes were committed 49+ blocks below h, so the
      // registry holds them once block h is stored.
      const ledger::ValidatorSchedule schedule = CurrentSchedule(schedule_, *genesis_);
      const NodeRole role = RoleIn(schedule.SetAt(h).members(), id_, keys_);
      if (!role.validator) {
        LogInfo("state_attest_skipped").Kv("height", h).Kv("why", role.why);
        skipped_.insert(h);
        while (skipped_.size() > 4) skipped_.erase(skipped_.begin());
        continue;
      }
      const auto start = std::chrono::steady_clock::now();
      auto d = DigestPinnedState(*store_, h);
      if (!d.ok()) {
        // Released meanwhile (two newer states pinned) or a failed read: the next one will do.
        LogWarn("state_attest_failed").Kv("height", h).Kv("err", d.status().ToString());
        continue;
      }
      auto sig = keys_[role.key].Sign(
          ledger::StateAttestationDigest(store_->chain_id(), h, d->header_hash, d->digest));
      if (!sig.ok()) continue;  // a 32-byte digest always signs
      v1::StateAttestation a;
      a.set_height(h);
      a.set_header_hash(d->header_hash);
      a.set_state_digest(d->digest);
      a.set_rows(d->rows);
      a.set_validator(id_);
      a.set_signature(*sig);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
      LogInfo("state_attested")
          .Kv("height", h)
          .Kv("rows", d->rows)
          .Kv("digested", d->digested_rows)
          .Kv("digest", ShortHex(d->digest))
          .Kv("ms", ms);
      std::lock_guard<std::mutex> lock(mu_);
      made_[h] = std::move(a);
      while (made_.size() > 4) made_.erase(made_.begin());
    }
    w.Sleep(200);
  }
}

}  // namespace provledger::node
