// Test doubles for the consensus core: HMAC "signatures" per validator index and a block
// factory whose header hash is SHA256(tag || prev || height || view || request ids).
//
// Thread rules: like the interfaces they implement, used from one thread.
#ifndef PROVLEDGER_TESTS_CONSENSUS_FAKES_H_
#define PROVLEDGER_TESTS_CONSENSUS_FAKES_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/core_seams.h"

namespace provledger {
namespace consensus {
namespace testing {

// The fake secret key of validator `index`.
Bytes FakeKey(uint32_t index);

// Signs as validator `index`: HMAC-SHA256(FakeKey(index), digest).
class FakeSigner : public Signer {
 public:
  explicit FakeSigner(uint32_t index) : key_(FakeKey(index)) {}
  Bytes Sign(ByteView digest32) override;

 private:
  Bytes key_;
};

// Accepts FakeSigner signatures of validators 0..n-1.
class FakeChecker : public SignatureChecker {
 public:
  explicit FakeChecker(uint32_t n) : n_(n) {}
  bool Verify(uint32_t validator, ByteView digest32, ByteView sig) override;
  size_t calls() const { return calls_; }  // Verify calls so far

 private:
  uint32_t n_;
  size_t calls_ = 0;
};

// Accepts FakeSigner signatures by validator index through a key table: index i's key is
// FakeKey(key_ids[i]) (a validator set whose members and keys change between epochs).
class FakeSetChecker : public SignatureChecker {
 public:
  explicit FakeSetChecker(std::vector<uint32_t> key_ids) : key_ids_(std::move(key_ids)) {}
  bool Verify(uint32_t validator, ByteView digest32, ByteView sig) override;

 private:
  std::vector<uint32_t> key_ids_;
};

// The parsed content of a fake block.
struct FakeBlock {
  uint64_t height = 0;
  uint64_t view = 0;
  Bytes prev;
  std::vector<Request> requests;
};

// Serializes and parses fake blocks; kInvalidArgument on malformed bytes.
Bytes EncodeFakeBlock(const FakeBlock& b);
Status DecodeFakeBlock(ByteView data, FakeBlock* b);
// Header hash of a fake block.
Bytes FakeHeaderHash(const FakeBlock& b);

class FakeBlockFactory : public BlockFactory {
 public:
  StatusOr<Proposal> Build(uint64_t height, uint64_t view, ByteView prev_hash,
                           std::vector<Request> requests) override;
  Status Validate(uint64_t height, uint64_t view, ByteView prev_hash, ByteView block,
                  BlockInfo* info) override;
};

}  // namespace testing
}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_TESTS_CONSENSUS_FAKES_H_
