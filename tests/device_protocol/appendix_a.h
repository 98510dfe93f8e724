// PROTOCOL.md Appendix A.1-A.3 test vectors, one copy for every test folder (bridge,
// device protocol, device_sim), and Unhex to turn them into bytes.
#ifndef PROVLEDGER_TESTS_DEVICE_PROTOCOL_APPENDIX_A_H_
#define PROVLEDGER_TESTS_DEVICE_PROTOCOL_APPENDIX_A_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

#include "common/bytes.h"

namespace provledger {
namespace appendix_a {

// PROTOCOL.md Appendix A.1.
inline constexpr char kDeviceSecret[] =
    "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95";
inline constexpr char kDevicePub[] =
    "02f3091a099825b9909e25d98d2ac25b9458295173a8991ea8c02a3767476df2ce";
inline constexpr char kGatewaySecret[] =
    "9e5095f99c06eb586a0f8fad7dcde14cd306af47f8586755b6937c3dd4e8c869";
inline constexpr char kGatewayPub[] =
    "02889519fe2b1d38b5fee0c5dd005e9809729951dce11b5d847cc98624577dd1bc";
inline constexpr char kDeviceEphSecret[] =
    "08040cdc3db14ac38a467fa98c0a180507779d3a3b304b040d65056d396487fb";
inline constexpr char kDeviceEphPub[] =
    "026173a9a49e4a0964686acd11ef65d87f8c3d44c16c73b9985e88fe311f686b3c";
inline constexpr char kBridgeEphSecret[] =
    "49cfe27f085c8df3907aca819e59150b2f5bae7d59d09b2e9bde78830cff202b";
inline constexpr char kBridgeEphPub[] =
    "03f96444870a8ea462e78b82ecbdd0ce50fc5bb6e1679c92064d9b09a026a35168";

// PROTOCOL.md Appendix A.2.
inline constexpr char kDeviceNonce[] = "000102030405060708090a0b0c0d0e0f";
inline constexpr uint64_t kRequestTs = 1700000000000;
inline constexpr char kBridgeNonce[] = "101112131415161718191a1b1c1d1e1f";
inline constexpr uint64_t kExpires = 1700086400250;
inline constexpr uint64_t kAgreedAt = kExpires - 86400000;  // bridge clock at agreement
inline constexpr char kKeyRequestDigest[] =
    "7bb7624cd7dbe745490ad6d1bc26b851b2cbe66dbafd89b90b30776e2c83923e";
inline constexpr char kKeyRequestSig[] =
    "91817b0bb2b888bd150d767485cc15888ec40862629ddeb23d884b0bf47fd076"
    "14cdb2ce210840aa6ed4dda80dab66f2cf67a28ca408767087ce2135e26919ac";
inline constexpr char kShared[] =
    "44cde37f815c7f48951d7b662abbd7a7d268a7c9379b08511b2e8ba3d8844b40";
inline constexpr char kSessionKey[] =
    "a96622b425835f0821a079c3474308fad38a0198f337ce08b0074b42a98d7686";
inline constexpr char kKid[] = "c919def2b263a0af";
inline constexpr char kKeyReplyDigest[] =
    "ea8f42e32a8dd1d5f58b25b41ab6ae34c0a02932fd929a6dbcbfcf6f7ff4617d";
inline constexpr char kKeyReplySig[] =
    "9ccd25b14d9c370730eb4a56fc62868cb2c2d98f2af116c1cbe60784652df34c"
    "61ade3300e488880eec6532d1fc813054100bf5def06ff0f90a9e536f1b8c389";

// PROTOCOL.md Appendix A.3.
inline constexpr char kItem[] = "climate";
inline constexpr uint64_t kReadingTs = 1700000001000;
inline constexpr char kPayload[] = "21.5";
inline constexpr char kPayloadHash[] =
    "a20fa123d4d8977782c80981ddbe6177a8d5ba294eaffd08a88669e246c37110";
inline constexpr char kD[] = "81731849b5f1033f139ec3b7de2a5c07297817ae4b15550ecb1f3f64be190d95";
inline constexpr char kMac[] = "98a98063b9b8fbbcb5aba57d2ccded7b720d34665bd269c7d58d00c799d2e276";
inline constexpr char kSig[] =
    "ca9cbafbfbff78a6286637dad54f851de0daf2e614ba6a5c31a678dbbcdfb249"
    "76bb503cf0d19db8e3aad88447c91275289e6fb26d57316f9e3bb396684e788b";

inline Bytes Unhex(std::string_view hex) {
  StatusOr<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

}  // namespace appendix_a
}  // namespace provledger

#endif  // PROVLEDGER_TESTS_DEVICE_PROTOCOL_APPENDIX_A_H_
