#include "agent/firmware_updater.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/ecdsa.h"
#include "common/file_io.h"
#include "common/sha256.h"
#include "device_protocol/firmware_manifest.h"
#include "gtest/gtest.h"

namespace provledger::agent {
namespace {

namespace dp = device_protocol;

class FirmwareUpdaterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    char tmpl[4096];
    std::snprintf(tmpl, sizeof(tmpl), "%s/fwXXXXXX", tmp != nullptr ? tmp : "/tmp");
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    image_ = "provledger firmware image 1.2.0\n";
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/image.bin", image_, 0600).ok());
    marker_ = dir_ + "/installed";
    WriteScript(dir_ + "/install.sh", "#!/bin/sh\ncp \"$1\" '" + marker_ + "'\n");
    WriteScript(dir_ + "/fail.sh", "#!/bin/sh\nexit 3\n");
    WriteScript(dir_ + "/hang.sh", "#!/bin/sh\nexec sleep 30\n");
  }

  void WriteScript(const std::string& path, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomically(path, text, 0700).ok());
  }

  FirmwareOptions Options(const std::string& command = "install.sh") {
    FirmwareOptions o;
    o.device = "dev-1";
    o.model = "sensor-1";
    o.vendor_keys["acme"] = vendor_.PublicKey();
    o.state_dir = dir_ + "/state";
    o.install_command = dir_ + "/" + command;
    return o;
  }

  std::unique_ptr<FirmwareUpdater> Open(const std::string& command = "install.sh") {
    auto u = FirmwareUpdater::Open(Options(command));
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    return u.ok() ? std::move(u).value() : nullptr;
  }

  // A manifest of `image_` at counter `counter`, signed by `key` (the vendor's by default).
  dp::FirmwareManifest Manifest(uint64_t counter, const PrivateKey* key = nullptr) {
    dp::FirmwareManifest m;
    m.vendor = "acme";
    m.model = "sensor-1";
    m.version = "1." + std::to_string(counter) + ".0";
    m.counter = counter;
    m.size = image_.size();
    m.sha256 = Sha256(image_);
    m.location = dir_ + "/image.bin";
    EXPECT_TRUE(dp::SignFirmwareManifest(key != nullptr ? *key : vendor_, &m).ok());
    return m;
  }
  std::string Json(const dp::FirmwareManifest& m) { return dp::FirmwareManifestJson(m); }

  bool Installed() const { return ::access(marker_.c_str(), F_OK) == 0; }

  std::string dir_, image_, marker_;
  PrivateKey vendor_ = PrivateKey::Generate();
};

TEST_F(FirmwareUpdaterTest, InstallsAGoodManifestAndKeepsTheCounterAcrossAReopen) {
  auto u = Open();
  auto r = u->OnManifest(Json(Manifest(5)));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->installed) << r->reason;
  EXPECT_EQ(r->vendor, "acme");
  EXPECT_EQ(r->version, "1.5.0");
  EXPECT_EQ(r->counter, 5u);
  EXPECT_EQ(ReadFile(marker_).value(), image_);  // the command got the checked image
  u.reset();
  auto again = Open();
  EXPECT_EQ(again->state().counter, 5u);
  EXPECT_EQ(again->state().version, "1.5.0");
  auto lower = again->OnManifest(Json(Manifest(4)));
  ASSERT_TRUE(lower.has_value());
  EXPECT_FALSE(lower->installed);
  EXPECT_NE(lower->reason.find("rollback"), std::string::npos) << lower->reason;
}

TEST_F(FirmwareUpdaterTest, ARedeliveredManifestIsNotReportedTwice) {
  auto u = Open();
  const std::string m = Json(Manifest(5));
  ASSERT_TRUE(u->OnManifest(m).has_value());
  EXPECT_FALSE(u->OnManifest(m).has_value());
  u.reset();
  EXPECT_FALSE(Open()->OnManifest(m).has_value());  // after a restart too
}

TEST_F(FirmwareUpdaterTest, ARedeliveredRefusalIsNotReportedTwice) {
  auto u = Open();
  const std::string m = Json(Manifest(5));
  ASSERT_TRUE(u->OnManifest(m).has_value());
  const std::string rollback = Json(Manifest(3));
  auto r = u->OnManifest(rollback);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_FALSE(u->OnManifest(rollback).has_value());
}

TEST_F(FirmwareUpdaterTest, RefusesAnEqualCounter) {
  auto u = Open();
  ASSERT_TRUE(u->OnManifest(Json(Manifest(5)))->installed);
  ::unlink(marker_.c_str());
  dp::FirmwareManifest same = Manifest(5);
  same.version = "1.5.1";
  ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &same).ok());
  auto r = u->OnManifest(Json(same));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("rollback"), std::string::npos) << r->reason;
  EXPECT_FALSE(Installed());
}

TEST_F(FirmwareUpdaterTest, RefusesABadSignature) {
  auto u = Open();
  dp::FirmwareManifest m = Manifest(5);
  m.sig[10] ^= 1;
  auto r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("signature"), std::string::npos) << r->reason;
  EXPECT_FALSE(Installed());
  EXPECT_EQ(u->state().counter, 0u);
}

TEST_F(FirmwareUpdaterTest, RefusesAManifestSignedByAnotherKey) {
  auto u = Open();
  PrivateKey other = PrivateKey::Generate();
  auto r = u->OnManifest(Json(Manifest(5, &other)));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("signature"), std::string::npos) << r->reason;
  EXPECT_FALSE(Installed());
}

TEST_F(FirmwareUpdaterTest, RefusesAnUnknownVendor) {
  auto u = Open();
  dp::FirmwareManifest m = Manifest(5);
  m.vendor = "globex";
  ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &m).ok());
  auto r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_EQ(r->vendor, "globex");
  EXPECT_NE(r->reason.find("globex"), std::string::npos) << r->reason;
  EXPECT_FALSE(Installed());
}

TEST_F(FirmwareUpdaterTest, RefusesAnotherModel) {
  auto u = Open();
  dp::FirmwareManifest m = Manifest(5);
  m.model = "sensor-2";
  ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &m).ok());
  auto r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("model"), std::string::npos) << r->reason;
  EXPECT_FALSE(Installed());
}

TEST_F(FirmwareUpdaterTest, RefusesAnImageOfAnotherSize) {
  auto u = Open();
  for (uint64_t size : {image_.size() - 1, image_.size() + 1}) {
    SCOPED_TRACE(size);
    dp::FirmwareManifest m = Manifest(5);
    m.size = size;
    m.version = "1.5." + std::to_string(size);
    ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &m).ok());
    auto r = u->OnManifest(Json(m));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->installed);
    EXPECT_NE(r->reason.find("bytes"), std::string::npos) << r->reason;
  }
  EXPECT_FALSE(Installed());
  EXPECT_EQ(u->state().counter, 0u);
}

TEST_F(FirmwareUpdaterTest, RefusesAnImageWithAnotherHash) {
  auto u = Open();
  dp::FirmwareManifest m = Manifest(5);
  m.sha256 = Sha256("another image");
  ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &m).ok());
  auto r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("hash"), std::string::npos) << r->reason;
  EXPECT_FALSE(Installed());
}

TEST_F(FirmwareUpdaterTest, ReportsAFailingInstallCommandAsRefused) {
  auto u = Open("fail.sh");
  auto r = u->OnManifest(Json(Manifest(5)));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("exit status 3"), std::string::npos) << r->reason;
  EXPECT_EQ(u->state().counter, 0u);
}

TEST_F(FirmwareUpdaterTest, KillsAnInstallCommandThatHangs) {
  FirmwareOptions o = Options("hang.sh");
  o.install_timeout_ms = 200;
  auto u = FirmwareUpdater::Open(o);
  ASSERT_TRUE(u.ok());
  auto r = (*u)->OnManifest(Json(Manifest(5)));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("killed"), std::string::npos) << r->reason;
}

TEST_F(FirmwareUpdaterTest, FetchesFileUrlsAndRefusesOtherSchemes) {
  auto u = Open();
  dp::FirmwareManifest m = Manifest(5);
  m.location = "https://example.com/image.bin";
  ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &m).ok());
  auto r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  EXPECT_NE(r->reason.find("https"), std::string::npos) << r->reason;
  m.location = "file://" + dir_ + "/image%2ebin";
  m.version = "1.5.1";
  ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &m).ok());
  r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->installed) << r->reason;
}

TEST_F(FirmwareUpdaterTest, AMissingImageIsTriedAgainWhenTheManifestComesAgain) {
  auto u = Open();
  dp::FirmwareManifest m = Manifest(5);
  m.location = dir_ + "/later.bin";
  ASSERT_TRUE(dp::SignFirmwareManifest(vendor_, &m).ok());
  auto r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->installed);
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/later.bin", image_, 0600).ok());
  r = u->OnManifest(Json(m));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->installed) << r->reason;
}

TEST_F(FirmwareUpdaterTest, IgnoresAPayloadThatIsNoManifest) {
  auto u = Open();
  EXPECT_FALSE(u->OnManifest("{\"v\":1}").has_value());
  EXPECT_FALSE(Installed());
}

TEST_F(FirmwareUpdaterTest, OpenRefusesBadOptions) {
  FirmwareOptions o = Options();
  o.install_command = dir_ + "/missing.sh";
  EXPECT_EQ(FirmwareUpdater::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.vendor_keys["acme"] = "short";
  EXPECT_EQ(FirmwareUpdater::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.model = "a model";
  EXPECT_EQ(FirmwareUpdater::Open(o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FirmwareUpdaterTest, OpenRefusesACorruptStateFile) {
  ASSERT_EQ(::mkdir((dir_ + "/state").c_str(), 0700), 0);
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/state/firmware_state.json", "{\"v\":", 0600).ok());
  EXPECT_EQ(FirmwareUpdater::Open(Options()).status().code(), StatusCode::kDataLoss);
}

TEST(LocalImagePath, ReadsPathsAndFileUrls) {
  EXPECT_EQ(LocalImagePath("/a/b").value(), "/a/b");
  EXPECT_EQ(LocalImagePath("file:///a/b%20c").value(), "/a/b c");
  EXPECT_EQ(LocalImagePath("file://localhost/a").value(), "/a");
  EXPECT_FALSE(LocalImagePath("file://host/a").ok());
  EXPECT_FALSE(LocalImagePath("relative/path").ok());
  EXPECT_FALSE(LocalImagePath("http://x/y").ok());
  EXPECT_FALSE(LocalImagePath("file:///a%00").ok());
}

}  // namespace
}  // namespace provledger::agent
