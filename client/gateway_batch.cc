#include "client/gateway_batch.h"

#include <utility>
#include <vector>

#include "ledger/block_header.h"
#include "ledger/record.h"

namespace provledger::client {

Status SignGatewayBatch(std::string_view chain_id, const std::string& gateway,
                        const PrivateKey& key, v1::SignedBatch* batch) {
  batch->set_gateway(gateway);
  std::vector<Bytes> ids;
  ids.reserve(batch->records_size());
  for (const std::string& r : batch->records()) ids.push_back(ledger::RecordId(r));
  StatusOr<Bytes> sig = key.Sign(ledger::BatchDigest(chain_id, gateway, ids));
  if (!sig.ok()) return sig.status().Annotate("gateway batch signature");
  batch->set_signature(std::move(sig).value());
  return OkStatus();
}

}  // namespace provledger::client
