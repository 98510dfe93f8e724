// Pkcs11Signer against a real SoftHSM2 token made in the test's temporary folder (its own
// softhsm2.conf through SOFTHSM2_CONF; the system's token folder is never touched).
#include "common/pkcs11_signer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/pkcs11_module.h"
#include "common/sha256.h"

namespace provledger {
namespace {

constexpr char kToken[] = "pl-test";
constexpr char kPin[] = "246810";
constexpr char kSoPin[] = "13579111";

std::string FindModule() {
  for (const char* p :
       {"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"}) {
    if (access(p, R_OK) == 0) return p;
  }
  return "";
}

class Pkcs11SignerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    module_ = FindModule();
    if (access("/usr/bin/softhsm2-util", X_OK) != 0) module_.clear();
    if (module_.empty()) return;
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/softhsm-" + std::to_string(getpid());
    mkdir(dir_.c_str(), 0700);
    mkdir((dir_ + "/tokens").c_str(), 0700);
    std::ofstream(dir_ + "/softhsm2.conf")
        << "directories.tokendir = " << dir_ << "/tokens\nobjectstore.backend = file\n"
        << "log.level = ERROR\n";
    setenv("SOFTHSM2_CONF", (dir_ + "/softhsm2.conf").c_str(), 1);
    const std::string init = std::string("/usr/bin/softhsm2-util --init-token --free --label ") +
                             kToken + " --pin " + kPin + " --so-pin " + kSoPin + " >/dev/null";
    ready_ = std::system(init.c_str()) == 0;
  }

  void SetUp() override {
    if (module_.empty()) {
      GTEST_SKIP() << "softhsm2 is not installed (no libsofthsm2.so or softhsm2-util): "
                      "apt-get install softhsm2, or ops/install_deps.sh";
    }
    ASSERT_TRUE(ready_) << "softhsm2-util --init-token failed in " << dir_;
  }

  // A fresh label per test, so tests do not depend on each other's keys.
  static std::string NewLabel(const std::string& base) {
    static std::atomic<int> n{0};
    return base + "-" + std::to_string(n++);
  }

  static std::string module_, dir_;
  static bool ready_;
};

std::string Pkcs11SignerTest::module_, Pkcs11SignerTest::dir_;
bool Pkcs11SignerTest::ready_ = false;

bool LowS(ByteView sig) {
  // (n-1)/2 for secp256k1, big-endian.
  static const unsigned char half[32] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d,
                                         0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};
  for (int i = 0; i < 32; ++i) {
    unsigned char c = static_cast<unsigned char>(sig[32 + i]);
    if (c != half[i]) return c < half[i];
  }
  return true;
}

TEST_F(Pkcs11SignerTest, SignsVerifiableLowSSignaturesWithAKeyMadeInTheToken) {
  const std::string label = NewLabel("device");
  StatusOr<Bytes> pub = GeneratePkcs11Key(module_, kToken, label, kPin);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  ASSERT_TRUE(ValidatePublicKey(*pub).ok());
  StatusOr<std::unique_ptr<Signer>> signer = OpenPkcs11Signer(module_, kToken, label, kPin);
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  EXPECT_EQ((*signer)->public_key(), *pub);
  for (int i = 0; i < 40; ++i) {
    Bytes d = Sha256(ByteView("reading " + std::to_string(i)));
    StatusOr<Bytes> sig = (*signer)->Sign(d);
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    ASSERT_EQ(sig->size(), kSignatureSize);
    EXPECT_TRUE(LowS(*sig)) << i;
    EXPECT_TRUE(VerifySignature(*pub, d, *sig).ok()) << i;
    Bytes other = Sha256(ByteView("other"));
    EXPECT_FALSE(VerifySignature(*pub, other, *sig).ok());
  }
  // The token draws its own nonces: one digest, two different signatures, both valid.
  Bytes d = Sha256(ByteView("same"));
  Bytes a = *(*signer)->Sign(d), b = *(*signer)->Sign(d);
  EXPECT_NE(a, b);
  EXPECT_TRUE(VerifySignature(*pub, d, b).ok());
  EXPECT_EQ((*signer)->Sign(ByteView("not 32 bytes")).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(Pkcs11SignerTest, SignsFromSeveralThreads) {
  const std::string label = NewLabel("threads");
  ASSERT_TRUE(GeneratePkcs11Key(module_, kToken, label, kPin).ok());
  StatusOr<std::unique_ptr<Signer>> signer = OpenPkcs11Signer(module_, kToken, label, kPin);
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        Bytes d = Sha256(ByteView(std::to_string(t) + "/" + std::to_string(i)));
        StatusOr<Bytes> sig = (*signer)->Sign(d);
        if (sig.ok() && VerifySignature((*signer)->public_key(), d, *sig).ok()) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 100);
}

TEST_F(Pkcs11SignerTest, PrivateKeyNeverLeavesTheToken) {
  const std::string label = NewLabel("sealed");
  ASSERT_TRUE(GeneratePkcs11Key(module_, kToken, label, kPin).ok());
  StatusOr<std::shared_ptr<Pkcs11Module>> m = Pkcs11Module::Load(module_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  StatusOr<std::unique_ptr<Pkcs11Session>> s = Pkcs11Session::Open(*m, kToken, kPin, false);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  StatusOr<CK_OBJECT_HANDLE> priv = (*s)->FindObject(CKO_PRIVATE_KEY, label);
  ASSERT_TRUE(priv.ok()) << priv.status().ToString();
  EXPECT_EQ((*s)->GetAttribute(*priv, CKA_VALUE).status().code(), StatusCode::kPermissionDenied);
  const Bytes yes(1, CK_TRUE), no(1, CK_FALSE);
  EXPECT_EQ(*(*s)->GetAttribute(*priv, CKA_EXTRACTABLE), no);
  EXPECT_EQ(*(*s)->GetAttribute(*priv, CKA_NEVER_EXTRACTABLE), yes);
  EXPECT_EQ(*(*s)->GetAttribute(*priv, CKA_SENSITIVE), yes);
  EXPECT_EQ(*(*s)->GetAttribute(*priv, CKA_TOKEN), yes);
  EXPECT_EQ(*(*s)->GetAttribute(*priv, CKA_EC_PARAMS),
            Bytes(kSecp256k1EcParams, sizeof kSecp256k1EcParams));
}

TEST_F(Pkcs11SignerTest, WrongPinIsAClearErrorWithoutThePin) {
  const std::string label = NewLabel("pin");
  ASSERT_TRUE(GeneratePkcs11Key(module_, kToken, label, kPin).ok());
  StatusOr<std::unique_ptr<Signer>> signer = OpenPkcs11Signer(module_, kToken, label, "999999");
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(signer.status().message().find("wrong PIN"), std::string::npos)
      << signer.status().message();
  EXPECT_EQ(signer.status().message().find("999999"), std::string::npos);
  EXPECT_EQ(GeneratePkcs11Key(module_, kToken, NewLabel("x"), "000000").status().code(),
            StatusCode::kPermissionDenied);
}

TEST_F(Pkcs11SignerTest, MissingModuleTokenOrKeyAreNamed) {
  StatusOr<std::unique_ptr<Signer>> s =
      OpenPkcs11Signer(dir_ + "/no-such-module.so", kToken, "k", kPin);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("cannot load PKCS#11 module"), std::string::npos);
  s = OpenPkcs11Signer(module_, "no-such-token", "k", kPin);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("no-such-token"), std::string::npos);
  EXPECT_NE(s.status().message().find(kToken), std::string::npos);  // lists what is there
  s = OpenPkcs11Signer(module_, kToken, "no-such-key", kPin);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("no private key labelled \"no-such-key\""), std::string::npos)
      << s.status().message();
}

TEST_F(Pkcs11SignerTest, KeygenRefusesATakenLabel) {
  const std::string label = NewLabel("once");
  ASSERT_TRUE(GeneratePkcs11Key(module_, kToken, label, kPin).ok());
  EXPECT_EQ(GeneratePkcs11Key(module_, kToken, label, kPin).status().code(),
            StatusCode::kAlreadyExists);
}

TEST_F(Pkcs11SignerTest, AKeyOnAnotherCurveIsRefused) {
  const std::string label = NewLabel("p256");
  {
    StatusOr<std::shared_ptr<Pkcs11Module>> m = Pkcs11Module::Load(module_);
    ASSERT_TRUE(m.ok());
    StatusOr<std::unique_ptr<Pkcs11Session>> s = Pkcs11Session::Open(*m, kToken, kPin, true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    CK_BBOOL yes = CK_TRUE;
    std::string l = label;
    unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE pub[] = {
        {CKA_TOKEN, &yes, 1}, {CKA_LABEL, l.data(), l.size()}, {CKA_EC_PARAMS, p256, sizeof p256}};
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, l.data(), l.size()}};
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE a, b;
    ASSERT_EQ((*s)->fn()->C_GenerateKeyPair((*s)->handle(), &mech, pub, 3, priv, 3, &a, &b),
              CKR_OK);
  }
  StatusOr<std::unique_ptr<Signer>> s = OpenPkcs11Signer(module_, kToken, label, kPin);
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("not secp256k1"), std::string::npos) << s.status().message();
}

// Closes every session of this process on the test token (as an unplugged token would).
void DropAllSessions(const std::string& module) {
  StatusOr<std::shared_ptr<Pkcs11Module>> m = Pkcs11Module::Load(module);
  ASSERT_TRUE(m.ok());
  StatusOr<CK_SLOT_ID> slot = (*m)->FindToken(kToken);
  ASSERT_TRUE(slot.ok());
  ASSERT_EQ((*m)->fn()->C_CloseAllSessions(*slot), CKR_OK);
}

void SetPin(const std::string& module, const std::string& from, const std::string& to) {
  StatusOr<std::shared_ptr<Pkcs11Module>> m = Pkcs11Module::Load(module);
  ASSERT_TRUE(m.ok());
  StatusOr<std::unique_ptr<Pkcs11Session>> s = Pkcs11Session::Open(*m, kToken, from, true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::string a = from, b = to;
  ASSERT_EQ((*s)->fn()->C_SetPIN((*s)->handle(), reinterpret_cast<CK_UTF8CHAR*>(a.data()), a.size(),
                                 reinterpret_cast<CK_UTF8CHAR*>(b.data()), b.size()),
            CKR_OK);
}

TEST_F(Pkcs11SignerTest, ALostSessionIsReopened) {
  const std::string label = NewLabel("replug");
  ASSERT_TRUE(GeneratePkcs11Key(module_, kToken, label, kPin).ok());
  StatusOr<std::unique_ptr<Signer>> signer = OpenPkcs11Signer(module_, kToken, label, kPin);
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  DropAllSessions(module_);
  Bytes d = Sha256(ByteView("after the token came back"));
  StatusOr<Bytes> sig = (*signer)->Sign(d);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_TRUE(VerifySignature((*signer)->public_key(), d, *sig).ok());
}

TEST_F(Pkcs11SignerTest, APinChangedUnderASignerIsNotTriedAgain) {
  const std::string label = NewLabel("repin");
  ASSERT_TRUE(GeneratePkcs11Key(module_, kToken, label, kPin).ok());
  StatusOr<std::unique_ptr<Signer>> signer = OpenPkcs11Signer(module_, kToken, label, kPin);
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  SetPin(module_, kPin, "777777");
  DropAllSessions(module_);
  Bytes d = Sha256(ByteView("x"));
  Status first = (*signer)->Sign(d).status();
  EXPECT_EQ(first.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(first.message().find("wrong PIN"), std::string::npos) << first.message();
  SetPin(module_, "777777", kPin);  // the old PIN works again, but the signer stays refused
  EXPECT_EQ((*signer)->Sign(d).status().code(), StatusCode::kPermissionDenied);
}

TEST_F(Pkcs11SignerTest, PinFileMustBePrivate) {
  const std::string path = dir_ + "/pin";
  std::ofstream(path) << kPin << "\n";
  chmod(path.c_str(), 0644);
  EXPECT_EQ(ReadPinFile(path).status().code(), StatusCode::kPermissionDenied);
  chmod(path.c_str(), 0600);
  StatusOr<std::string> pin = ReadPinFile(path);
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_EQ(*pin, kPin);
  EXPECT_EQ(ReadPinFile(dir_ + "/none").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace provledger
