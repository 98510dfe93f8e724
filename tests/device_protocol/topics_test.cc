#include "device_protocol/topics.h"

#include <gtest/gtest.h>

#include <string>

#include "device_protocol/error_codes.h"

namespace provledger {
namespace device_protocol {
namespace {

TEST(ParseDeviceTopic, ParsesAReadingTopic) {
  StatusOr<DeviceTopic> t = ParseDeviceTopic("devices", "devices/dev-1/data/climate");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->device, "dev-1");
  EXPECT_EQ(t->kind, TopicKind::kData);
  EXPECT_EQ(t->item, "climate");
}

TEST(ParseDeviceTopic, ParsesKeyIntegrityAndUpdateStatusTopics) {
  StatusOr<DeviceTopic> key = ParseDeviceTopic("devices", "devices/dev-1/key");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->kind, TopicKind::kKey);
  EXPECT_EQ(key->item, "");
  StatusOr<DeviceTopic> integrity = ParseDeviceTopic("devices", "devices/dev-1/integrity");
  ASSERT_TRUE(integrity.ok());
  EXPECT_EQ(integrity->kind, TopicKind::kIntegrity);
  EXPECT_EQ(integrity->item, "_integrity");
  StatusOr<DeviceTopic> update = ParseDeviceTopic("devices", "devices/dev-1/update/status");
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->kind, TopicKind::kUpdateStatus);
  EXPECT_EQ(update->item, "_update");
}

TEST(ParseDeviceTopic, HonoursAMultiLevelPrefix) {
  StatusOr<DeviceTopic> t = ParseDeviceTopic("site.a/pl", "site.a/pl/Dev_9/data/t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->device, "Dev_9");
  EXPECT_EQ(t->item, "t");
  EXPECT_FALSE(ParseDeviceTopic("site.a/pl", "devices/Dev_9/data/t").ok());
  EXPECT_FALSE(ParseDeviceTopic("site", "site.a/pl/Dev_9/data/t").ok());
}

TEST(ParseDeviceTopic, AcceptsAReservedItemNameForTheVerifierToRefuse) {
  StatusOr<DeviceTopic> t = ParseDeviceTopic("devices", "devices/dev-1/data/_x");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->item, "_x");
}

TEST(ParseDeviceTopic, DropsTopicsWithInvalidNamesOrShapes) {
  const char* bad[] = {
      "devices/dev 1/data/t",                // space in device
      "devices//data/t",                     // empty device
      "devices/dev-1/data/",                 // empty item
      "devices/dev-1/data/t/",               // trailing slash
      "devices/dev-1/data/a/b",              // extra level
      "devices/dev-1/data/t+",               // wildcard character
      "devices/dév/data/t",                  // non-ASCII
      "devices/dev-1/key/",                  // trailing slash
      "devices/dev-1/keys",                  // unknown kind
      "devices/dev-1/update",                // incomplete
      "devices/dev-1/update/code",           // bridge -> device topic
      "devices/dev-1/data/climate/success",  // an answer topic
      "devices/dev-1",                       // no kind
      "devices",                             // prefix only
      "devicesx/dev-1/key",                  // prefix not followed by '/'
      "Devices/dev-1/key",                   // case matters
  };
  for (const char* topic : bad) {
    SCOPED_TRACE(topic);
    EXPECT_FALSE(ParseDeviceTopic("devices", topic).ok());
  }
  std::string long_name(65, 'a');
  EXPECT_FALSE(ParseDeviceTopic("devices", "devices/" + long_name + "/key").ok());
  EXPECT_TRUE(ParseDeviceTopic("devices", "devices/" + long_name.substr(1) + "/key").ok());
}

TEST(ValidateTopicPrefix, AcceptsLevelsOfNameCharacters) {
  EXPECT_TRUE(ValidateTopicPrefix("devices").ok());
  EXPECT_TRUE(ValidateTopicPrefix("a/b.c/d-e_f").ok());
}

TEST(ValidateTopicPrefix, RefusesWildcardsDollarAndEmptyLevels) {
  for (const char* p :
       {"", "/devices", "devices/", "a//b", "$SYS", "$share/g", "dev+", "dev/#", "a b"}) {
    SCOPED_TRACE(p);
    EXPECT_FALSE(ValidateTopicPrefix(p).ok());
  }
}

TEST(AnswerTopics, AreBuiltUnderThePrefix) {
  EXPECT_EQ(KeySuccessTopic("devices", "dev-1"), "devices/dev-1/key/success");
  EXPECT_EQ(KeyFailTopic("devices", "dev-1"), "devices/dev-1/key/fail");
  EXPECT_EQ(UnauthTopic("devices", "dev-1"), "devices/dev-1/unauth");
  EXPECT_EQ(ForbiddenTopic("devices", "dev-1"), "devices/dev-1/forbidden");
  EXPECT_EQ(DataDatasTopic("devices", "dev-1", "climate"), "devices/dev-1/data/climate/datas");
  EXPECT_EQ(DataSuccessTopic("devices", "dev-1", "climate"), "devices/dev-1/data/climate/success");
  EXPECT_EQ(DataErrorTopic("p/q", "dev-1", "climate"), "p/q/dev-1/data/climate/error");
  EXPECT_EQ(IntegrityVerdictTopic("devices", "dev-1"), "devices/dev-1/integrity/verdict");
  EXPECT_EQ(IntegrityErrorTopic("devices", "dev-1"), "devices/dev-1/integrity/error");
  EXPECT_EQ(UpdateCodeTopic("devices", "dev-1"), "devices/dev-1/update/code");
  EXPECT_EQ(UpdateStatusSuccessTopic("devices", "dev-1"), "devices/dev-1/update/status/success");
  EXPECT_EQ(UpdateStatusErrorTopic("devices", "dev-1"), "devices/dev-1/update/status/error");
}

TEST(ErrorTopic, IsTheTopicPlusErrorAndKeyFailForKeyRequests) {
  for (const char* topic :
       {"devices/dev-1/data/climate", "devices/dev-1/integrity", "devices/dev-1/update/status"}) {
    SCOPED_TRACE(topic);
    StatusOr<DeviceTopic> t = ParseDeviceTopic("devices", topic);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(DeviceTopicString("devices", *t), topic);
    EXPECT_EQ(ErrorTopic("devices", *t), std::string(topic) + "/error");
  }
  EXPECT_EQ(ErrorTopic("devices", *ParseDeviceTopic("devices", "devices/dev-1/key")),
            "devices/dev-1/key/fail");
}

TEST(RefusalTopic, SendsUnregisteredToUnauthAndNoSessionOrQuarantinedToForbidden) {
  DeviceTopic t = *ParseDeviceTopic("devices", "devices/dev-1/data/climate");
  EXPECT_EQ(RefusalTopic("devices", t, DeviceError::kUnregistered), "devices/dev-1/unauth");
  EXPECT_EQ(RefusalTopic("devices", t, DeviceError::kNoSession), "devices/dev-1/forbidden");
  EXPECT_EQ(RefusalTopic("devices", t, DeviceError::kQuarantined), "devices/dev-1/forbidden");
  for (DeviceError e : {DeviceError::kTooLarge, DeviceError::kMalformed, DeviceError::kBadAuth,
                        DeviceError::kStale, DeviceError::kReplay, DeviceError::kInternal}) {
    EXPECT_EQ(RefusalTopic("devices", t, e), "devices/dev-1/data/climate/error");
  }
}

}  // namespace
}  // namespace device_protocol
}  // namespace provledger
