// ledgerctl policy import's reading of Keylime's runtime-policy JSON
// (tools/ledgerctl/keylime_policy.h): digests and excludes taken, hex lowercased and
// deduplicated, the keys provledger does not apply named, malformed policies refused.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/ledgerctl/keylime_policy.h"

namespace provledger::tools {
namespace {

// The shape `keylime_create_policy` / `keylime-policy create runtime` writes (v1).
const char kKeylime[] = R"({
  "meta": {"version": 1, "generator": 3, "timestamp": "2024-05-02 10:00:00.000000"},
  "release": 0,
  "digests": {
    "/usr/bin/bash": ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                      "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"],
    "boot_aggregate": ["0000000000000000000000000000000000000000"],
    "/usr/lib/empty": []
  },
  "excludes": ["/tmp/.*", "/var/log/.*"],
  "keyrings": {},
  "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": null},
  "ima-buf": {"kernel_version": ["abcd"]},
  "verification-keys": ""
})";

TEST(KeylimePolicy, TakesDigestsAndExcludes) {
  std::vector<std::string> ignored;
  auto p = RuntimePolicyFromKeylime(kKeylime, "base", 4, &ignored);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name(), "base");
  EXPECT_EQ(p->version(), 4u);
  ASSERT_EQ(p->digests_size(), 2);  // the path without hashes allows nothing: left out
  std::map<std::string, std::vector<std::string>> by_path;
  for (const auto& d : p->digests()) {
    by_path[d.path()] = std::vector<std::string>(d.hashes().begin(), d.hashes().end());
  }
  // Lowercased, and the upper-case duplicate folded into the lower-case one.
  EXPECT_EQ(by_path["/usr/bin/bash"],
            (std::vector<std::string>{std::string(64, 'a'), std::string(64, 'b')}));
  EXPECT_EQ(by_path["boot_aggregate"].size(), 1u);
  ASSERT_EQ(p->excludes_size(), 2);
  EXPECT_EQ(p->excludes(0), "/tmp/.*");
  // ima-buf holds something provledger does not appraise: the operator is told.
  EXPECT_EQ(ignored, (std::vector<std::string>{"ima", "ima-buf"}));
}

TEST(KeylimePolicy, RefusesWhatItCannotRead) {
  EXPECT_FALSE(RuntimePolicyFromKeylime("[]", "base", 1, nullptr).ok());
  EXPECT_FALSE(RuntimePolicyFromKeylime(R"({"meta":{"version":2}})", "base", 1, nullptr).ok());
  EXPECT_FALSE(RuntimePolicyFromKeylime(R"({"digests":{"/a":["xyz0"]}})", "base", 1, nullptr).ok());
  EXPECT_FALSE(RuntimePolicyFromKeylime(R"({"digests":{"/a":"ab"}})", "base", 1, nullptr).ok());
  EXPECT_FALSE(RuntimePolicyFromKeylime(R"({"excludes":["(unclosed"]})", "base", 1, nullptr).ok());
  EXPECT_FALSE(RuntimePolicyFromKeylime(R"({"digests":{}})", "bad name", 1, nullptr).ok());
  EXPECT_FALSE(RuntimePolicyFromKeylime(R"({"digests":{}})", "base", 0, nullptr).ok());
  // A repeated key is malformed JSON (PROTOCOL.md section 1's strict reader).
  EXPECT_FALSE(
      RuntimePolicyFromKeylime(R"({"digests":{"/a":["ab"],"/a":["cd"]}})", "base", 1, nullptr)
          .ok());
}

TEST(KeylimePolicy, AnEmptyPolicyIsValid) {
  auto p = RuntimePolicyFromKeylime(R"({"meta":{"version":1},"digests":{},"excludes":[]})", "base",
                                    1, nullptr);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->digests_size(), 0);
}

}  // namespace
}  // namespace provledger::tools
