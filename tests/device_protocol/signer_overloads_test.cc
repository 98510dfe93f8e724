// The Signer overloads of KeyAgreement::Start and SigProperties: the same bytes as the
// PrivateKey versions for an in-memory key, and a signer's failure passed on as it is.
#include <gtest/gtest.h>

#include <deque>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/json.h"
#include "common/signer.h"
#include "device_protocol/key_agreement.h"
#include "device_protocol/key_digests.h"
#include "device_protocol/message_auth.h"

namespace provledger::device_protocol {
namespace {

// Randomness that replays the same bytes for every run of a test.
RandomSource Fixed() {
  return [](size_t n) { return Bytes(n, '\x42'); };
}

class FailingSigner : public Signer {
 public:
  StatusOr<Bytes> Sign(ByteView) const override { return UnavailableError("token unplugged"); }
  const Bytes& public_key() const override { return key_; }

 private:
  Bytes key_ = PrivateKey::Generate().PublicKey();
};

TEST(SignerOverloadsTest, KeyRequestIsTheSameThroughASigner) {
  PrivateKey key = PrivateKey::Generate();
  LocalSigner signer(key);
  StatusOr<KeyAgreement> a = KeyAgreement::Start("dev-1", key, 1700000000000, Fixed());
  StatusOr<KeyAgreement> b = KeyAgreement::Start("dev-1", signer, 1700000000000, Fixed());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->request_json(), b->request_json());
  // And the signature in it is the device key's over the section 4 digest.
  JsonValue req = *ParseJson(b->request_json());
  Bytes sig = *HexDecode(*req.GetString("sig"));
  EXPECT_TRUE(VerifySignature(signer.public_key(),
                              KeyRequestDigest("dev-1", b->eph_public(), b->nonce(), 1700000000000),
                              sig)
                  .ok());
}

TEST(SignerOverloadsTest, SigPropertiesAreTheSameThroughASigner) {
  PrivateKey key = PrivateKey::Generate();
  LocalSigner signer(key);
  MessageSpec spec{"dev-1", "temp", 7, 1700000000000};
  StatusOr<UserProperties> a = SigProperties(spec, "{\"t\":21}", key);
  StatusOr<UserProperties> b = SigProperties(spec, "{\"t\":21}", signer);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(SignerOverloadsTest, ASignersFailureIsPassedOn) {
  FailingSigner signer;
  EXPECT_EQ(KeyAgreement::Start("dev-1", signer, 1, Fixed()).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(SigProperties(MessageSpec{"dev-1", "temp", 1, 1}, "x", signer).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace provledger::device_protocol
