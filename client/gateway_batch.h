// Gateway batches (PROTOCOL.md 6.5): the one place a batch of records is signed by a
// gateway before it is submitted (the bridge, ledgerctl submit, the cluster benchmark).
//
// Thread rules: pure functions; thread-safe.
#ifndef PROVLEDGER_CLIENT_GATEWAY_BATCH_H_
#define PROVLEDGER_CLIENT_GATEWAY_BATCH_H_

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/status.h"
#include "proto/ledger.pb.h"

namespace provledger::client {

// Sets batch->gateway() to `gateway` and signs the batch as it now holds its records (each
// the PROTOCOL.md 6.1 bytes, with its payload or none):
// signature = Sign(key, BatchDigest(chain_id, gateway, record ids in batch order)).
// kInternal if signing fails.
Status SignGatewayBatch(std::string_view chain_id, const std::string& gateway,
                        const PrivateKey& key, v1::SignedBatch* batch);

}  // namespace provledger::client

#endif  // PROVLEDGER_CLIENT_GATEWAY_BATCH_H_
