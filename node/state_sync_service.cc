#include "node/state_sync_service.h"

#include <algorithm>

#include "common/grpc_status.h"

namespace provledger::node {

namespace v1 = provledger::v1;

namespace {
constexpr uint32_t kMaxHeaders = 1000;
constexpr size_t kRowPageBytes = 1 << 20;
}  // namespace

grpc::Status StateSyncService::GetHeaders(grpc::ServerContext*, const v1::HeadersRequest* req,
                                          v1::Headers* resp) {
  if (req->from() == 0) return grpc::Status(grpc::INVALID_ARGUMENT, "heights start at 1");
  const uint64_t head = store_->height();
  const uint64_t count = std::min<uint64_t>(req->count(), kMaxHeaders);
  for (uint64_t h = req->from(); h < req->from() + count && h <= head; ++h) {
    auto hc = store_->ReadHeaderAndCertificate(h);
    if (!hc.ok()) return ToGrpc(hc.status());
    v1::HeaderEntry* e = resp->add_headers();
    e->set_header(hc->first);
    *e->mutable_certificate() = hc->second;
  }
  return grpc::Status::OK;
}

grpc::Status StateSyncService::GetStateAttestations(grpc::ServerContext*,
                                                    const v1::StateAttestationsRequest*,
                                                    v1::StateAttestations* resp) {
  if (attester_ == nullptr) return grpc::Status::OK;
  for (auto& a : attester_->Latest()) *resp->add_attestations() = std::move(a);
  return grpc::Status::OK;
}

grpc::Status StateSyncService::GetStateRows(grpc::ServerContext*, const v1::StateRowsRequest* req,
                                            v1::StateRows* resp) {
  auto chunk = store_->ReadState(req->height(), req->after(), kRowPageBytes);
  if (!chunk.ok()) return ToGrpc(chunk.status());
  for (auto& row : chunk->rows) {
    v1::StateRow* r = resp->add_rows();
    r->set_table(row.table);
    r->set_key(std::move(row.key));
    r->set_value(std::move(row.value));
  }
  resp->set_next(chunk->next);
  return grpc::Status::OK;
}

}  // namespace provledger::node
