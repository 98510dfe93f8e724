#include "node/vote_store.h"

namespace provledger::node {

std::string VoteStore::Key(uint8_t type, uint64_t view, uint64_t height) {
  Bytes k = kPrefix;
  AppendU8(&k, type);
  AppendU64(&k, view);
  AppendU64(&k, height);
  return k;
}

StatusOr<consensus::Vote> VoteStore::Decode(const std::string& key, const Bytes& digest) {
  const size_t prefix = sizeof(kPrefix) - 1;
  if (key.compare(0, prefix, kPrefix) != 0) return DataLossError("stored vote key is malformed");
  ByteReader r(ByteView(key).substr(prefix));
  consensus::Vote v;
  if (!r.ReadU8(&v.type).ok() || !r.ReadU64(&v.view).ok() || !r.ReadU64(&v.height).ok() ||
      !r.done()) {
    return DataLossError("stored vote key is malformed");
  }
  v.digest = digest;
  return v;
}

StatusOr<std::vector<consensus::Vote>> VoteStore::Load() const {
  std::vector<consensus::Vote> votes;
  for (const auto& [key, digest] : store_->MetaScan(kPrefix)) {
    PL_ASSIGN_OR_RETURN(consensus::Vote v, Decode(key, digest));
    votes.push_back(std::move(v));
  }
  return votes;
}

Status VoteStore::Persist(const std::vector<consensus::Vote>& votes) {
  if (!enabled_ || votes.empty()) return OkStatus();
  std::vector<std::pair<std::string, Bytes>> puts;
  puts.reserve(votes.size());
  for (const auto& v : votes) puts.emplace_back(Key(v.type, v.view, v.height), v.digest);
  return store_->PutMetaBatch(puts, {}, /*sync=*/true);
}

Status VoteStore::Forget(const std::vector<consensus::Vote>& votes) {
  if (!enabled_ || votes.empty()) return OkStatus();
  std::vector<std::string> gone;
  gone.reserve(votes.size());
  for (const auto& v : votes) gone.push_back(Key(v.type, v.view, v.height));
  return store_->PutMetaBatch({}, gone, /*sync=*/false);
}

}  // namespace provledger::node
