// "This certified block extends this chain" (PROTOCOL.md 6.3-6.5): the one check shared by the
// store (writes, repairs, reads and its audit), a node taking blocks from its peers (state
// transfer, block repair) and `ledgerctl verify-chain` over a running node.
//
// Thread rules: pure functions.
#ifndef PROVLEDGER_LEDGER_CHAIN_CHECK_H_
#define PROVLEDGER_LEDGER_CHAIN_CHECK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "ledger/block_header.h"
#include "ledger/genesis.h"
#include "ledger/validator_set.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {

// Where a block must attach.
struct ChainLink {
  std::string chain_id;
  uint64_t height = 0;
  // Header hash of block height-1 (32 zero bytes for block 1); nullopt where the caller has
  // no trusted one (its own copy is damaged, or it links the block later).
  std::optional<Bytes> prev_hash;
};

// A block header that passed CheckCertifiedBlock as far as it got.
struct CheckedHeader {
  BlockHeader header;
  Bytes header_hash;  // SHA256 of the header bytes
};

// OK when `header_bytes`, with the records whose ids are `record_ids` and `certificate`, is
// certified block `at.height` of chain `at.chain_id`:
//   1. the header decodes (DecodeHeader's error otherwise) and names at.chain_id and at.height;
//   2. its prev is *at.prev_hash, when given;
//   3. its record_count and Merkle root are those of `record_ids` (RecordId of each record, in
//      block order), when `record_ids` is not null;
//   4. without `genesis`: the certificate's digest is CommitDigest(chain, height, certificate
//      view, header hash);
//   5. with `genesis`: VerifyCertificate (4, the certificate view not below the header's, and
//      2f+1 valid signatures of distinct genesis validators over that digest).
// kFailedPrecondition naming the first of 1-4 that fails; VerifyCertificate's error for 5.
// Fills *out (when not null) once the header decodes, whatever the outcome.
// With a genesis, its set certifies every height: right while the set never changed.
Status CheckCertifiedBlock(const ChainLink& at, ByteView header_bytes,
                           const std::vector<Bytes>* record_ids,
                           const provledger::v1::CommitCertificate& certificate,
                           const Genesis* genesis, CheckedHeader* out);

// The same with `set`, the validator set in force at at.height (ValidatorSchedule::SetAt;
// docs/VALIDATOR_SET.md), for step 5, and one more step when `set` is given: 6. the header's
// proposer is set->Primary(header view) (kFailedPrecondition). `set` null: steps 1-4 only.
Status CheckCertifiedBlockWithSet(const ChainLink& at, ByteView header_bytes,
                                  const std::vector<Bytes>* record_ids,
                                  const provledger::v1::CommitCertificate& certificate,
                                  const ValidatorSet* set, CheckedHeader* out);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_CHAIN_CHECK_H_
