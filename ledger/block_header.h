// Block headers (PROTOCOL.md 6.3) and the digests validators and gateways sign over them:
// the commit digest (6.4) and the gateway batch digest (6.5).
//
//   header = "pl/v1/header" || lp(chain_id) || u64be(height) || prev (32) || root (32)
//            || u64be(record_count) || u64be(timestamp) || u64be(view) || lp(proposer)
//
// Headers are hashed as made: encode once, then store, hash and serve those bytes.
// Thread rules: pure functions and a plain struct, safe from any thread.
#ifndef PROVLEDGER_LEDGER_BLOCK_HEADER_H_
#define PROVLEDGER_LEDGER_BLOCK_HEADER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::ledger {

struct BlockHeader {
  std::string chain_id;
  uint64_t height = 0;           // 1 for the first block
  Bytes prev = Bytes(32, '\0');  // header hash of block height - 1; all zero at height 1
  Bytes root;                    // 32 bytes: Merkle root of the block's records (6.2)
  uint64_t record_count = 0;     // the tree size
  uint64_t timestamp = 0;        // the proposer's clock, ms
  uint64_t view = 0;             // PBFT view in which the block was proposed
  std::string proposer;          // validator id of that view's primary
};

// OK when `header` obeys 6.3: chain id and proposer valid names, height >= 1, prev and root
// 32 bytes, prev all zero exactly at height 1. kInvalidArgument naming the first bad field.
Status ValidateHeader(const BlockHeader& header);

// The header bytes. Does not validate: call ValidateHeader first for untrusted input.
Bytes EncodeHeader(const BlockHeader& header);

// Strict inverse of EncodeHeader: kInvalidArgument for a wrong tag, a field past the end,
// trailing bytes, or anything ValidateHeader refuses.
StatusOr<BlockHeader> DecodeHeader(ByteView header_bytes);

// Header hash = SHA256(header_bytes), 32 bytes.
Bytes HeaderHash(ByteView header_bytes);

// SHA256("pl/v1/commit" || lp(chain_id) || u64be(height) || u64be(view) || header_hash), the
// digest each validator signs to commit a block (6.4); `view` is the view of the commits.
Bytes CommitDigest(std::string_view chain_id, uint64_t height, uint64_t view, ByteView header_hash);

// SHA256("pl/v1/batch" || lp(chain_id) || lp(gateway) || u32be(count) || record ids), the
// digest a gateway signs over a batch (6.5). Each id is a 32-byte record id, in batch order.
Bytes BatchDigest(std::string_view chain_id, std::string_view gateway,
                  const std::vector<Bytes>& record_ids);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_BLOCK_HEADER_H_
