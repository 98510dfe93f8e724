// Fuzzes the consensus messages' binary decoder (consensus/pbft_messages.h), which reads what
// peers send inside gRPC Deliver calls: any bytes decode or are refused, and the encoding is
// canonical: a message Decode accepts encodes back to exactly the input bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "consensus/pbft_messages.h"
#include "tests/fuzz/fuzz_check.h"

namespace cs = ::provledger::consensus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  cs::ConsensusMsg msg;
  if (!cs::Decode(bytes, &msg).ok()) return 0;
  FUZZ_CHECK(cs::Encode(msg) == bytes);
  FUZZ_CHECK(cs::SigningDigest("fuzz-chain", msg).size() == 32);
  (void)cs::TypeName(msg.type);
  return 0;
}
