// Commit certificates (PROTOCOL.md 6.4): 2f+1 validator signatures over one commit digest.
//
// Thread rules: pure functions.
#ifndef PROVLEDGER_LEDGER_CERTIFICATE_H_
#define PROVLEDGER_LEDGER_CERTIFICATE_H_

#include "common/bytes.h"
#include "ledger/genesis.h"
#include "ledger/validator_set.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {

// OK when `cert` proves block (`height`, `header_hash`) final under `genesis`: its digest is
// the commit digest for its view, and it holds at least 2f+1 valid signatures from distinct
// genesis validators. kUnauthenticated (naming the cause) otherwise; a certificate view
// below the header's view is kInvalidArgument.
// The genesis set only: right for a chain whose set never changed (or heights before the
// first change takes effect); otherwise use the overload below with the set at `height`.
Status VerifyCertificate(const Genesis& genesis, uint64_t height, ByteView header_hash,
                         uint64_t header_view, const provledger::v1::CommitCertificate& cert);

// The same against `set`, the validator set in force at `height`
// (ValidatorSchedule::SetAt): signer indexes are positions in `set`, and set.quorum() valid
// signatures of distinct members are needed (docs/VALIDATOR_SET.md).
Status VerifyCertificate(const ValidatorSet& set, const std::string& chain_id, uint64_t height,
                         ByteView header_hash, uint64_t header_view,
                         const provledger::v1::CommitCertificate& cert);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_CERTIFICATE_H_
