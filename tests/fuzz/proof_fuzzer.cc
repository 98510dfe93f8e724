// Fuzzes the proof document verifier (PROTOCOL.md 6.7, ledger/proof_document_verifier.h) with
// Appendix A.5's genesis: any bytes are refused with a Status or verify. The A.5 validators
// certified one block only (height 1), so a document that verifies, whatever the fuzzer
// changed, proves a record of that block under that header; the record it proves must be the
// one its Merkle path leads to (re-verifying gives the same record id).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/bytes.h"
#include "common/file_io.h"
#include "common/json.h"
#include "ledger/genesis.h"
#include "ledger/proof_document_verifier.h"
#include "tests/fuzz/fuzz_check.h"

namespace lg = ::provledger::ledger;

namespace {
const lg::Genesis* genesis = nullptr;
provledger::Bytes a5_header_hash;
}  // namespace

// Runs from the runfiles folder (tools/fuzz/run_fuzzer.sh), where tests/testdata is.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto text = provledger::ReadFile("tests/testdata/appendix_a5_genesis.json");
  FUZZ_CHECK(text.ok());
  auto g = lg::ParseGenesis(*text);
  FUZZ_CHECK(g.ok());
  genesis = new lg::Genesis(*g);
  auto proof_text = provledger::ReadFile("tests/testdata/appendix_a5_proof.json");
  FUZZ_CHECK(proof_text.ok());
  auto proof = provledger::ParseJson(*proof_text);
  FUZZ_CHECK(proof.ok());
  auto verified = lg::VerifyProofJson(*genesis, *proof);
  FUZZ_CHECK(verified.ok());
  a5_header_hash = verified->header_hash;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = provledger::ParseJson(text);
  if (!doc.ok()) return 0;
  auto verified = lg::VerifyProofJson(*genesis, *doc);
  if (!verified.ok()) return 0;
  FUZZ_CHECK(verified->height == 1);
  FUZZ_CHECK(verified->header_hash == a5_header_hash);
  FUZZ_CHECK(verified->signatures >= 3);  // the quorum of N = 4
  auto again = lg::VerifyProofJson(*genesis, *doc);
  FUZZ_CHECK(again.ok() && again->record_id == verified->record_id);
  return 0;
}
