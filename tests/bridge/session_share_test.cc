#include "mqtt-bridge/session_share.h"

#include <gtest/gtest.h>

#include "mqtt-bridge/session_key_store.h"

namespace provledger::bridge {
namespace {

SharedSession Sample() {
  return SharedSession{"dev-1", Bytes(8, 'k'), Bytes(32, 's'), 1700000100000, 1700000000000};
}

TEST(SessionShare, OpensWhatItSealed) {
  SessionShare share(Bytes(32, 'x'), "g1");
  const Bytes sealed = share.Seal(Sample());
  auto opened = share.Open(share.Topic("dev-1"), sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->device, "dev-1");
  EXPECT_EQ(opened->key, Bytes(32, 's'));
  EXPECT_EQ(opened->kid, Bytes(8, 'k'));
  EXPECT_EQ(opened->expires, 1700000100000u);
  EXPECT_EQ(opened->agreed_ms, 1700000000000u);
}

TEST(SessionShare, NeverShowsTheKeyInTheClear) {
  SessionShare share(Bytes(32, 'x'), "g1");
  const Bytes sealed = share.Seal(Sample());
  EXPECT_EQ(sealed.find(Bytes(32, 's')), Bytes::npos);
}

TEST(SessionShare, RefusesAnotherGroupsSecret) {
  SessionShare ours(Bytes(32, 'x'), "g1");
  SessionShare theirs(Bytes(32, 'y'), "g1");
  EXPECT_EQ(ours.Open(ours.Topic("dev-1"), theirs.Seal(Sample())).status().code(),
            StatusCode::kUnauthenticated);
}

TEST(SessionShare, RefusesASessionMovedToAnotherDevicesTopic) {
  SessionShare share(Bytes(32, 'x'), "g1");
  EXPECT_EQ(share.Open(share.Topic("dev-2"), share.Seal(Sample())).status().code(),
            StatusCode::kUnauthenticated);
}

TEST(SessionShare, RefusesEveryFlippedByte) {
  SessionShare share(Bytes(32, 'x'), "g1");
  const Bytes sealed = share.Seal(Sample());
  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_FALSE(share.Open(share.Topic("dev-1"), bad).ok()) << "byte " << i;
  }
}

TEST(SessionShare, OwnsOnlyItsGroupsTopics) {
  SessionShare share(Bytes(32, 'x'), "g1");
  EXPECT_TRUE(share.Owns("_pl/bridges/g1/sessions/dev-1"));
  EXPECT_FALSE(share.Owns("_pl/bridges/g2/sessions/dev-1"));
  EXPECT_FALSE(share.Owns("devices/dev-1/key"));
}

TEST(SessionKeyStoreSharing, InstalledSessionVerifiesAndOlderOneDoesNotDisplaceIt) {
  SessionKeyStore store("gw-1", PrivateKey::Generate(), SessionKeyOptions());
  store.InstallShared("dev-1", Bytes(8, 'a'), Bytes(32, '1'), 2000000, 1000, 1500);
  auto k = store.Lookup("dev-1", Bytes(8, 'a'), 1600);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, Bytes(32, '1'));
  // A session agreed earlier than the current one arrives late: ignored.
  store.InstallShared("dev-1", Bytes(8, 'b'), Bytes(32, '2'), 2000000, 900, 1700);
  EXPECT_FALSE(store.Lookup("dev-1", Bytes(8, 'b'), 1800).ok());
  // A newer one replaces it; the old stays valid for the grace period only.
  store.InstallShared("dev-1", Bytes(8, 'c'), Bytes(32, '3'), 2000000, 1900, 2000);
  EXPECT_TRUE(store.Lookup("dev-1", Bytes(8, 'c'), 2100).ok());
  EXPECT_TRUE(store.Lookup("dev-1", Bytes(8, 'a'), 2100).ok());
  EXPECT_FALSE(store.Lookup("dev-1", Bytes(8, 'a'), 2000 + 10000).ok());
}

TEST(SessionKeyStoreSharing, IgnoresAnExpiredSession) {
  SessionKeyStore store("gw-1", PrivateKey::Generate(), SessionKeyOptions());
  store.InstallShared("dev-1", Bytes(8, 'a'), Bytes(32, '1'), 1000, 500, 1000);
  EXPECT_FALSE(store.Lookup("dev-1", Bytes(8, 'a'), 999).ok());
}

}  // namespace
}  // namespace provledger::bridge
