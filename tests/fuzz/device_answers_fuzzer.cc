// Fuzzes what a device reads from the bridge: the key reply it checks in
// KeyAgreement::Finish (device_protocol, PROTOCOL.md section 4) and the answers the agent
// parses (agent/bridge_answers.h: integrity verdicts, error answers). The agreement is
// Appendix A.2's, started with A.2's device randomness; gw-1's key signed exactly one reply
// to it (A.2's, in the seeds), so whatever the fuzzer makes of it, a reply that Finish
// accepts yields A.2's session key and kid.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "agent/bridge_answers.h"
#include "common/bytes.h"
#include "common/ecdsa.h"
#include "device_protocol/key_agreement.h"
#include "tests/device_protocol/appendix_a.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace a = ::provledger::appendix_a;
namespace dp = ::provledger::device_protocol;

const dp::KeyAgreement* agreement = nullptr;
dp::GatewayTrust trust;
uint64_t replies_accepted = 0;  // across the run, printed at exit

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto calls = std::make_shared<int>(0);
  dp::RandomSource random = [calls](size_t n) -> provledger::Bytes {
    return (*calls)++ == 0 ? a::Unhex(a::kDeviceEphSecret) : a::Unhex(a::kDeviceNonce).substr(0, n);
  };
  auto started = dp::KeyAgreement::Start(
      "dev-1", *provledger::PrivateKey::FromHex(a::kDeviceSecret), a::kRequestTs, random);
  FUZZ_CHECK(started.ok());
  FUZZ_CHECK(provledger::HexEncode(started->eph_public()) == a::kDeviceEphPub);
  agreement = new dp::KeyAgreement(std::move(*started));
  std::atexit([] {
    std::fprintf(stderr, "device_answers: %llu key replies accepted\n",
                 static_cast<unsigned long long>(replies_accepted));
  });
  trust.gateway_id = "gw-1";
  trust.gateway_pubkey = a::Unhex(a::kGatewayPub);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto session = agreement->Finish(text, trust);
  if (session.ok()) {
    FUZZ_CHECK(provledger::HexEncode(session->key) == a::kSessionKey);
    FUZZ_CHECK(provledger::HexEncode(session->kid) == a::kKid);
    FUZZ_CHECK(session->gateway == "gw-1");
    ++replies_accepted;
  }
  // Without a gateway key only the kid guards the reply: it must still match the key derived.
  dp::GatewayTrust any;
  auto unchecked = agreement->Finish(text, any);
  if (unchecked.ok()) {
    FUZZ_CHECK(unchecked->kid.size() == 8 && unchecked->key.size() == 32);
  }
  auto verdict = provledger::agent::ParseVerdict(text);
  if (verdict.ok()) {
    FUZZ_CHECK(verdict->verdict == "trusted" || verdict->verdict == "untrusted");
    FUZZ_CHECK(verdict->record.size() == 32);
  }
  auto error = provledger::agent::ParseErrorAnswer(text);
  if (error.ok()) {
    (void)provledger::agent::ClassifyRefusal(error->code);
    if (error->nonce) FUZZ_CHECK(error->nonce->size() == 16);
  }
  return 0;
}
