#include "common/pkcs11_flags.h"

#include <gtest/gtest.h>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"

ABSL_DECLARE_FLAG(std::string, pkcs11_module);
ABSL_DECLARE_FLAG(std::string, pkcs11_token);
ABSL_DECLARE_FLAG(std::string, pkcs11_key_label);
ABSL_DECLARE_FLAG(std::string, pkcs11_pin_file);

namespace provledger {
namespace {

void Set(const std::string& m, const std::string& t, const std::string& k, const std::string& p) {
  absl::SetFlag(&FLAGS_pkcs11_module, m);
  absl::SetFlag(&FLAGS_pkcs11_token, t);
  absl::SetFlag(&FLAGS_pkcs11_key_label, k);
  absl::SetFlag(&FLAGS_pkcs11_pin_file, p);
}

TEST(Pkcs11FlagsTest, NoneSetMeansAKeyFile) {
  Set("", "", "", "");
  StatusOr<std::optional<Pkcs11KeyRef>> ref = Pkcs11KeyFromFlags();
  ASSERT_TRUE(ref.ok());
  EXPECT_FALSE(ref->has_value());
}

TEST(Pkcs11FlagsTest, AllFourNameTheKey) {
  Set("/m.so", "tok", "dev-1", "/pin");
  StatusOr<std::optional<Pkcs11KeyRef>> ref = Pkcs11KeyFromFlags();
  ASSERT_TRUE(ref.ok() && ref->has_value());
  EXPECT_EQ((*ref)->module, "/m.so");
  EXPECT_EQ((*ref)->token, "tok");
  EXPECT_EQ((*ref)->key_label, "dev-1");
  EXPECT_EQ((*ref)->pin_file, "/pin");
}

TEST(Pkcs11FlagsTest, SomeSetNamesTheMissingOnes) {
  Set("/m.so", "", "dev-1", "");
  StatusOr<std::optional<Pkcs11KeyRef>> ref = Pkcs11KeyFromFlags();
  ASSERT_EQ(ref.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ref.status().message().find("missing --pkcs11_token, --pkcs11_pin_file"),
            std::string::npos)
      << ref.status().message();
}

}  // namespace
}  // namespace provledger
