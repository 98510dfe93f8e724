#include "tests/consensus/fakes.h"

#include "common/sha256.h"

namespace provledger {
namespace consensus {
namespace testing {

Bytes FakeKey(uint32_t index) {
  Bytes in = "pl-test-validator-key";
  AppendU32(&in, index);
  return Sha256(in);
}

Bytes FakeSigner::Sign(ByteView digest32) { return HmacSha256(key_, digest32); }

bool FakeChecker::Verify(uint32_t validator, ByteView digest32, ByteView sig) {
  ++calls_;
  if (validator >= n_ || digest32.size() != 32) return false;
  return ConstantTimeEqual(HmacSha256(FakeKey(validator), digest32), sig);
}

bool FakeSetChecker::Verify(uint32_t validator, ByteView digest32, ByteView sig) {
  if (validator >= key_ids_.size() || digest32.size() != 32) return false;
  return ConstantTimeEqual(HmacSha256(FakeKey(key_ids_[validator]), digest32), sig);
}

Bytes EncodeFakeBlock(const FakeBlock& b) {
  Bytes out;
  AppendU64(&out, b.height);
  AppendU64(&out, b.view);
  AppendLp(&out, b.prev);
  AppendU32(&out, static_cast<uint32_t>(b.requests.size()));
  for (const Request& r : b.requests) {
    AppendLp(&out, r.id);
    AppendLp(&out, r.payload);
  }
  return out;
}

Status DecodeFakeBlock(ByteView data, FakeBlock* b) {
  ByteReader r(data);
  PL_RETURN_IF_ERROR(r.ReadU64(&b->height));
  PL_RETURN_IF_ERROR(r.ReadU64(&b->view));
  PL_RETURN_IF_ERROR(r.ReadLp(&b->prev, 32));
  uint32_t count = 0;
  PL_RETURN_IF_ERROR(r.ReadU32(&count));
  if (count > r.remaining()) return InvalidArgumentError("fake block: bad count");
  b->requests.assign(count, Request());
  for (Request& q : b->requests) {
    PL_RETURN_IF_ERROR(r.ReadLp(&q.id));
    PL_RETURN_IF_ERROR(r.ReadLp(&q.payload));
  }
  if (!r.done()) return InvalidArgumentError("fake block: trailing bytes");
  return OkStatus();
}

Bytes FakeHeaderHash(const FakeBlock& b) {
  Bytes in = "fake-header";
  AppendLp(&in, b.prev);
  AppendU64(&in, b.height);
  AppendU64(&in, b.view);
  for (const Request& r : b.requests) {
    AppendLp(&in, r.id);
    AppendLp(&in, Sha256(r.payload));
  }
  return Sha256(in);
}

StatusOr<Proposal> FakeBlockFactory::Build(uint64_t height, uint64_t view, ByteView prev_hash,
                                           std::vector<Request> requests) {
  FakeBlock b;
  b.height = height;
  b.view = view;
  b.prev = Bytes(prev_hash);
  b.requests = std::move(requests);
  Proposal p;
  p.header_hash = FakeHeaderHash(b);
  p.block = EncodeFakeBlock(b);
  return p;
}

Status FakeBlockFactory::Validate(uint64_t height, uint64_t view, ByteView prev_hash,
                                  ByteView block, BlockInfo* info) {
  FakeBlock b;
  PL_RETURN_IF_ERROR(DecodeFakeBlock(block, &b));
  if (b.height != height) return InvalidArgumentError("fake block: wrong height");
  if (b.view > view) return InvalidArgumentError("fake block: from a later view");
  if (b.prev != prev_hash) return InvalidArgumentError("fake block: wrong prev hash");
  info->header_hash = FakeHeaderHash(b);
  info->request_ids.clear();
  for (const Request& r : b.requests) info->request_ids.push_back(r.id);
  return OkStatus();
}

}  // namespace testing
}  // namespace consensus
}  // namespace provledger
