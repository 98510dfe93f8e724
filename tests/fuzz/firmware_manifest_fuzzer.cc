// Fuzzes the firmware manifest parser and verifier (PROTOCOL.md section 8, device_protocol).
// An accepted manifest is valid and round-trips through FirmwareManifestJson and the kind 3
// record. The only manifest the vendor key below ever signed is docs/FIRMWARE.md's vector
// (the seed corpus holds it): whatever the fuzzer makes of it, the verifier may accept a
// manifest only when its signed digest is that vector's.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "device_protocol/firmware_manifest.h"
#include "tests/fuzz/fuzz_check.h"

namespace dp = ::provledger::device_protocol;
using provledger::Bytes;
using provledger::HexDecode;
using provledger::HexEncode;

namespace {
// docs/FIRMWARE.md's vector (tests/device_protocol/firmware_manifest_test.cc).
const char kPubkey[] = "03d88c44bdbb88603d1c138076886d342ec13b136bd0093aeebbb2b9e0a6277d59";
const char kDigest[] = "ea39e63337d1a0d3c417459aa1a9d52a53a7e5cf6107180662472bd01727660f";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = dp::ParseFirmwareManifest(text);
  if (!m.ok()) return 0;
  FUZZ_CHECK(dp::ValidateFirmwareManifest(*m).ok());
  std::string json = dp::FirmwareManifestJson(*m);
  auto again = dp::ParseFirmwareManifest(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(dp::FirmwareManifestJson(*again) == json);
  FUZZ_CHECK(dp::FirmwareManifestJson(dp::FromFirmwareRecord(dp::ToFirmwareRecord(*m))) == json);
  static const Bytes pubkey = *HexDecode(kPubkey);
  if (dp::VerifyFirmwareManifest(*m, pubkey).ok()) {
    FUZZ_CHECK(HexEncode(dp::FirmwareDigest(*m)) == kDigest);
  }
  return 0;
}
