// StateSyncService: serves what a node joining from a checkpoint fetches (proto/state_sync.proto,
// docs/CATCHUP.md): headers with their certificates, this validator's state attestations, and
// the rows of a pinned state. Read-only on the store.
//
// Thread rules: called on gRPC's server threads concurrently; keeps no state of its own.
#ifndef PROVLEDGER_NODE_STATE_SYNC_SERVICE_H_
#define PROVLEDGER_NODE_STATE_SYNC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "ledger/store/block_store.h"
#include "node/state_attester.h"
#include "proto/state_sync.grpc.pb.h"

namespace provledger::node {

class StateSyncService final : public provledger::v1::StateSync::Service {
 public:
  // `store` must outlive the service; `attester` (null on a follower, which signs nothing)
  // too.
  StateSyncService(const ledger::BlockStore* store, const StateAttester* attester)
      : store_(store), attester_(attester) {}

  grpc::Status GetHeaders(grpc::ServerContext* ctx, const provledger::v1::HeadersRequest* req,
                          provledger::v1::Headers* resp) override;
  grpc::Status GetStateAttestations(grpc::ServerContext* ctx,
                                    const provledger::v1::StateAttestationsRequest* req,
                                    provledger::v1::StateAttestations* resp) override;
  grpc::Status GetStateRows(grpc::ServerContext* ctx, const provledger::v1::StateRowsRequest* req,
                            provledger::v1::StateRows* resp) override;

 private:
  const ledger::BlockStore* store_;
  const StateAttester* attester_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_STATE_SYNC_SERVICE_H_
