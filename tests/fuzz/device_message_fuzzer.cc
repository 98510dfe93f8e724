// Fuzzes what a device publishes, as the bridge takes it in (PROTOCOL.md sections 3-5, 7, 8):
// the topic, the MQTT v5 user properties (pl-seq, pl-ts, pl-kid, pl-mac, pl-sig) and the
// payload of readings, integrity reports, install reports and key requests, through
// ReadingVerifier (mqtt-bridge) with Appendix A's device dev-1 registered and its A.2 session
// agreed. Two modes, by the first input byte:
// - raw: topic, properties and payload straight from the input;
// - honest-then-mutated: the fuzzer makes a reading that dev-1 signs (or MACs under the
//   session), checks the verifier accepts it, then changes one covered field (payload byte,
//   seq, ts, item, device, a signature or MAC byte) as the input says; the verifier must
//   refuse the changed message unless the change left every covered field as it was.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/sha256.h"
#include "device_protocol/device_message.h"
#include "device_protocol/topics.h"
#include "mqtt-bridge/device_directory.h"
#include "mqtt-bridge/reading_verifier.h"
#include "mqtt-bridge/session_key_store.h"
#include "tests/device_protocol/appendix_a.h"
#include "tests/fuzz/fuzz_check.h"

namespace provledger::bridge {
namespace {

namespace a = ::provledger::appendix_a;
namespace dp = ::provledger::device_protocol;

constexpr uint64_t kNow = 1700000001042;  // A.4: the bridge clock at the A.3 reading

// Across all inputs of a run, printed at exit: how often each mode reached its check.
uint64_t raw_accepted = 0;
uint64_t honest_accepted = 0;
uint64_t changed_refused = 0;

class OneDevice : public DeviceDirectory {
 public:
  std::optional<Bytes> PublicKey(const std::string& device) const override {
    if (device == "dev-1") return a::Unhex(a::kDevicePub);
    return std::nullopt;
  }
};
class NoVerdicts : public IntegrityDirectory {
 public:
  IntegrityState State(const std::string&) const override { return {}; }
};

// Randomness for the bridge side of a key agreement: the A.2 values, then fixed bytes.
dp::RandomSource A2Random() {
  auto calls = std::make_shared<int>(0);
  return [calls](size_t n) -> Bytes {
    int call = (*calls)++;
    if (call == 0 && n == 32) return a::Unhex(a::kBridgeEphSecret);
    if (call == 1 && n == 16) return a::Unhex(a::kBridgeNonce);
    return Bytes(n, static_cast<char>(0x42 + call));
  };
}

// A fresh verifier per input (libFuzzer needs each run to depend on its input only), with
// the A.2 session of dev-1 installed as agreed (no key agreement per input: it costs two
// ECDSA operations and an ECDH; raw inputs on the key topic run the real one).
struct Bridge {
  OneDevice devices;
  NoVerdicts integrity;
  SessionKeyStore sessions{"gw-1", *PrivateKey::FromHex(a::kGatewaySecret), SessionKeyOptions{}};
  ReadingVerifier verifier{ReadingVerifierOptions{}, &devices, &integrity, &sessions};
  Bridge() {
    sessions.InstallShared("dev-1", a::Unhex(a::kKid), a::Unhex(a::kSessionKey), a::kExpires,
                           a::kAgreedAt, a::kAgreedAt);
  }
};

void RawMessage(FuzzedDataProvider* in) {
  Bridge bridge;
  std::string topic_text = in->ConsumeRandomLengthString(200);
  dp::UserProperties props;
  size_t count = in->ConsumeIntegralInRange<size_t>(0, 8);
  for (size_t i = 0; i < count; ++i) {
    std::string name = in->ConsumeRandomLengthString(16);
    std::string value = in->ConsumeRandomLengthString(140);
    props.emplace_back(std::move(name), std::move(value));
  }
  uint64_t now = kNow + in->ConsumeIntegralInRange<int64_t>(-400000, 400000);
  std::string payload = in->ConsumeRemainingBytesAsString();
  // The parsers on their own, then the verifier with all its checks.
  auto header = dp::ParseDeviceHeader(props);
  auto seq = dp::FindParsableSeq(props);
  if (header.ok()) FUZZ_CHECK(seq.has_value() && *seq == header->seq);
  (void)dp::ParseInstallReport(payload);
  auto topic = dp::ParseDeviceTopic("devices", topic_text);
  if (!topic.ok()) return;
  FUZZ_CHECK(dp::DeviceTopicString("devices", *topic) == topic_text);
  if (topic->kind == dp::TopicKind::kKey) {
    (void)bridge.verifier.HandleKeyRequest(topic->device, payload, now, A2Random());
    return;
  }
  auto result = bridge.verifier.Verify(*topic, props, payload, now);
  if (auto* accepted = std::get_if<Accepted>(&result)) {
    // Only dev-1 holds a key here, so only its messages may get in.
    FUZZ_CHECK(accepted->device == "dev-1");
    FUZZ_CHECK(accepted->payload_hash == Sha256(payload));
    ++raw_accepted;
  }
}

struct Reading {
  std::string device = "dev-1";
  std::string item = "climate";
  uint64_t seq = 1;
  uint64_t ts = kNow;
  std::string payload;
  dp::UserProperties props;
};

dp::UserProperties Authenticate(const Reading& r, bool mac) {
  Bytes d = dp::DataDigest(r.device, r.item, r.seq, r.ts, Sha256(r.payload));
  if (mac) {
    return {{"pl-seq", std::to_string(r.seq)},
            {"pl-ts", std::to_string(r.ts)},
            {"pl-kid", a::kKid},
            {"pl-mac", HexEncode(HmacSha256(a::Unhex(a::kSessionKey), d))}};
  }
  Bytes sig = *PrivateKey::FromHex(a::kDeviceSecret)->Sign(d);
  return {{"pl-seq", std::to_string(r.seq)},
          {"pl-ts", std::to_string(r.ts)},
          {"pl-sig", HexEncode(sig)}};
}

std::variant<Accepted, Refusal> Send(const Reading& r) {
  Bridge bridge;
  dp::DeviceTopic topic{r.device, dp::TopicKind::kData, r.item};
  return bridge.verifier.Verify(topic, r.props, r.payload, kNow);
}

void HonestThenMutated(FuzzedDataProvider* in) {
  Reading honest;
  bool mac = in->ConsumeBool();
  honest.seq = in->ConsumeIntegralInRange<uint64_t>(1, dp::kMaxSeq);
  honest.ts = kNow - 200000 + in->ConsumeIntegralInRange<uint64_t>(0, 400000);
  std::string item = in->ConsumeRandomLengthString(12);
  if (dp::IsValidName(item) && item[0] != '_') honest.item = item;
  uint8_t what = in->ConsumeIntegral<uint8_t>();
  uint64_t where = in->ConsumeIntegral<uint64_t>();
  uint8_t delta = in->ConsumeIntegralInRange<uint8_t>(1, 255);
  honest.payload = in->ConsumeRemainingBytesAsString();
  honest.props = Authenticate(honest, mac);
  auto ok = Send(honest);
  if (auto* refusal = std::get_if<Refusal>(&ok)) {
    std::fprintf(stderr, "honest reading refused: %s\n", refusal->reason.c_str());
    FUZZ_CHECK(false);
  }
  ++honest_accepted;

  Reading changed = honest;
  auto flip = [&](std::string* s) {
    if (s->empty()) return;
    (*s)[where % s->size()] = static_cast<char>((*s)[where % s->size()] ^ delta);
  };
  switch (what % 7) {
    case 0:
      flip(&changed.payload);
      break;
    case 1:
      changed.seq = 1 + (honest.seq + delta - 1) % dp::kMaxSeq;
      break;
    case 2:
      changed.ts = honest.ts + 1 + where % 1000;
      break;
    case 3:
      changed.item = honest.item + "x";
      break;
    case 4:
      changed.device = "dev-2";
      break;
    case 5:
      flip(&changed.props.back().second);
      break;  // pl-mac or pl-sig hex
    case 6:
      flip(&changed.props[1].second);
      break;  // pl-ts text
  }
  // pl-seq / pl-ts follow a changed seq / ts; the MAC or signature stays the honest one.
  if (what % 7 == 1) changed.props[0].second = std::to_string(changed.seq);
  if (what % 7 == 2) changed.props[1].second = std::to_string(changed.ts);
  bool same = changed.device == honest.device && changed.item == honest.item &&
              changed.seq == honest.seq && changed.ts == honest.ts &&
              changed.payload == honest.payload && changed.props == honest.props;
  auto result = Send(changed);
  if (!same && std::holds_alternative<Accepted>(result)) {
    std::fprintf(stderr, "a changed reading was accepted (change %d)\n", what % 7);
    FUZZ_CHECK(false);
  }
  if (!same) ++changed_refused;
}

}  // namespace
}  // namespace provledger::bridge

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] {
    namespace b = provledger::bridge;
    std::fprintf(stderr,
                 "device_message: raw messages accepted %llu; honest readings accepted %llu, "
                 "changed ones refused %llu\n",
                 static_cast<unsigned long long>(b::raw_accepted),
                 static_cast<unsigned long long>(b::honest_accepted),
                 static_cast<unsigned long long>(b::changed_refused));
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  if (in.ConsumeBool()) {
    provledger::bridge::HonestThenMutated(&in);
  } else {
    provledger::bridge::RawMessage(&in);
  }
  return 0;
}
