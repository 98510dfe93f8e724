#include "ledger/block_header.h"

#include <algorithm>
#include <string>

#include "common/sha256.h"
#include "ledger/record.h"

namespace provledger::ledger {
namespace {

constexpr ByteView kHeaderTag = "pl/v1/header";
constexpr ByteView kCommitTag = "pl/v1/commit";
constexpr ByteView kBatchTag = "pl/v1/batch";
constexpr size_t kHashSize = 32;

Status Invalid(const std::string& field, const std::string& why) {
  return InvalidArgumentError("header " + field + ": " + why);
}

// Runs `s` (a ByteReader call) and names `field` in its error.
Status Field(const char* field, const Status& s) {
  if (!s.ok()) return Invalid(field, s.message());
  return OkStatus();
}

}  // namespace

Status ValidateHeader(const BlockHeader& h) {
  if (!IsValidName(h.chain_id)) {
    return Invalid("chain_id", "'" + h.chain_id + "' is not a valid name");
  }
  if (h.height == 0) return Invalid("height", "0 (the first block is height 1)");
  if (h.prev.size() != kHashSize) {
    return Invalid("prev", std::to_string(h.prev.size()) + " bytes, not 32");
  }
  const bool zero_prev =
      std::all_of(h.prev.begin(), h.prev.end(), [](char c) { return c == '\0'; });
  if (h.height == 1 && !zero_prev) return Invalid("prev", "must be all zero at height 1");
  if (h.height != 1 && zero_prev) {
    return Invalid("prev", "all zero at height " + std::to_string(h.height));
  }
  if (h.root.size() != kHashSize) {
    return Invalid("root", std::to_string(h.root.size()) + " bytes, not 32");
  }
  if (!IsValidName(h.proposer)) {
    return Invalid("proposer", "'" + h.proposer + "' is not a valid name");
  }
  return OkStatus();
}

Bytes EncodeHeader(const BlockHeader& h) {
  Bytes out(kHeaderTag);
  AppendLp(&out, h.chain_id);
  AppendU64(&out, h.height);
  out += h.prev;
  out += h.root;
  AppendU64(&out, h.record_count);
  AppendU64(&out, h.timestamp);
  AppendU64(&out, h.view);
  AppendLp(&out, h.proposer);
  return out;
}

StatusOr<BlockHeader> DecodeHeader(ByteView header_bytes) {
  ByteReader r(header_bytes);
  if (!r.ExpectLiteral(kHeaderTag).ok()) {
    return InvalidArgumentError("header: does not start with \"pl/v1/header\"");
  }
  BlockHeader h;
  PL_RETURN_IF_ERROR(Field("chain_id", r.ReadLp(&h.chain_id, r.remaining())));
  PL_RETURN_IF_ERROR(Field("height", r.ReadU64(&h.height)));
  PL_RETURN_IF_ERROR(Field("prev", r.ReadFixed(kHashSize, &h.prev)));
  PL_RETURN_IF_ERROR(Field("root", r.ReadFixed(kHashSize, &h.root)));
  PL_RETURN_IF_ERROR(Field("record_count", r.ReadU64(&h.record_count)));
  PL_RETURN_IF_ERROR(Field("timestamp", r.ReadU64(&h.timestamp)));
  PL_RETURN_IF_ERROR(Field("view", r.ReadU64(&h.view)));
  PL_RETURN_IF_ERROR(Field("proposer", r.ReadLp(&h.proposer, r.remaining())));
  if (!r.done()) {
    return Invalid("bytes", std::to_string(r.remaining()) + " trailing bytes after proposer");
  }
  PL_RETURN_IF_ERROR(ValidateHeader(h));
  return h;
}

Bytes HeaderHash(ByteView header_bytes) { return Sha256(header_bytes); }

Bytes CommitDigest(std::string_view chain_id, uint64_t height, uint64_t view,
                   ByteView header_hash) {
  Bytes msg(kCommitTag);
  AppendLp(&msg, chain_id);
  AppendU64(&msg, height);
  AppendU64(&msg, view);
  msg += header_hash;
  return Sha256(msg);
}

Bytes BatchDigest(std::string_view chain_id, std::string_view gateway,
                  const std::vector<Bytes>& record_ids) {
  Sha256Hasher h;
  Bytes head(kBatchTag);
  AppendLp(&head, chain_id);
  AppendLp(&head, gateway);
  AppendU32(&head, static_cast<uint32_t>(record_ids.size()));
  h.Update(head);
  for (const Bytes& id : record_ids) h.Update(id);
  return h.Finish();
}

}  // namespace provledger::ledger
