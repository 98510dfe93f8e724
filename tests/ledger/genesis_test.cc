// ParseGenesis, LoadGenesis and GenesisToJson (ledger/genesis.h), PROTOCOL.md section 9.
//
// Vector: tests/testdata/appendix_a5_genesis.json, verbatim from PROTOCOL.md Appendix A.5.
// The refusals are built from the A.1 keys by a small writer below.
#include "ledger/genesis.h"

#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/file_io.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/validator_set.h"

namespace provledger::ledger {
namespace {

std::string RunfilePath(const std::string& rel) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/" + (ws != nullptr ? ws : "provledger") +
         "/" + rel;
}

std::string A5Text() {
  StatusOr<Bytes> text = ReadFile(RunfilePath("tests/testdata/appendix_a5_genesis.json"));
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "";
}

// PROTOCOL.md A.1: v0..v3, then dev-1 and gw-1 as spare valid keys.
const std::vector<std::string> kKeys = {
    "023056ef9c50822a7d9c2bb084898e26c71dcdcee794a05e773588c1d239692551",
    "026ce74acd66895dce56f3aa80ad3ebfea8329636ef33d578e12ee9ef9b4bb762b",
    "0320059b4a8d36e056c618cd61f6e3c8efdc8038fc5f5e605fd5c52d8e57a72811",
    "0274b5ab75a853bbd1caad346b06057c9eb17d85b68b094728dd0060e031f6715a",
    "02f3091a099825b9909e25d98d2ac25b9458295173a8991ea8c02a3767476df2ce",
};
constexpr char kAdmin[] = "02889519fe2b1d38b5fee0c5dd005e9809729951dce11b5d847cc98624577dd1bc";
// v0's key uncompressed (SEC1 04 || x || y), the same point as kKeys[0].
constexpr char kV0Uncompressed[] =
    "043056ef9c50822a7d9c2bb084898e26c71dcdcee794a05e773588c1d239692551"
    "bb0feffc8a28f1a4fced62077ae215f9f7ef80f988bd645ba870ccd006b772f4";

struct V {
  std::string id;
  std::string pubkey;
  std::string mode;  // the raw "mode" value of its entry (JSON text), or empty for none
};

// A genesis text with the given validators; `admins_json` is the raw "admins" member (or
// empty for none at all).
std::string GenesisText(const std::vector<V>& validators,
                        const std::string& admins_json = std::string("[\"") + kAdmin + "\"]",
                        const std::string& chain_id = "pl-test") {
  std::string s =
      "{\"chain_id\": \"" + chain_id + "\", \"created\": 1700000000000, \"validators\": [";
  for (size_t i = 0; i < validators.size(); ++i) {
    if (i > 0) s += ", ";
    s += "{\"id\": \"" + validators[i].id + "\", \"pubkey\": \"" + validators[i].pubkey +
         "\", \"address\": \"127.0.0.1:" + std::to_string(7000 + i) + "\"" +
         (validators[i].mode.empty() ? "" : ", \"mode\": " + validators[i].mode) + "}";
  }
  s += "]";
  if (!admins_json.empty()) s += ", \"admins\": " + admins_json;
  return s + "}";
}

std::vector<V> FourValidators() {
  return {{"v0", kKeys[0]}, {"v1", kKeys[1]}, {"v2", kKeys[2]}, {"v3", kKeys[3]}};
}

void ExpectRefused(const std::string& text) {
  StatusOr<Genesis> g = ParseGenesis(text);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << text;
}

TEST(ParseGenesis, ReadsTheAppendixGenesis) {
  const std::string text = A5Text();
  StatusOr<Genesis> g = ParseGenesis(text);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->chain_id, "pl-test");
  EXPECT_EQ(g->created, 1700000000000u);
  ASSERT_EQ(g->validators.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(g->validators[i].id, "v" + std::to_string(i));
    EXPECT_EQ(HexEncode(g->validators[i].pubkey), kKeys[i]);
    EXPECT_EQ(g->validators[i].address, "127.0.0.1:700" + std::to_string(i));
  }
  ASSERT_EQ(g->admins.size(), 1u);
  EXPECT_EQ(HexEncode(g->admins[0]), kAdmin);
  EXPECT_EQ(g->file_hash, Sha256(text));
}

TEST(ParseGenesis, AppendixGenesisHasFourValidatorsOneFaultAndQuorumThree) {
  StatusOr<Genesis> g = ParseGenesis(A5Text());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->n(), 4u);
  EXPECT_EQ(ValidatorSet::FromGenesis(*g).f(), 1u);
  EXPECT_EQ(ValidatorSet::FromGenesis(*g).quorum(), 3u);
}

TEST(ParseGenesis, PrimaryOfAViewIsValidatorsAtViewModN) {
  StatusOr<Genesis> g = ParseGenesis(A5Text());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->Primary(0).id, "v0");
  EXPECT_EQ(g->Primary(3).id, "v3");
  EXPECT_EQ(g->Primary(5).id, "v1");
}

TEST(ParseGenesis, LooksUpValidatorsAndAdmins) {
  StatusOr<Genesis> g = ParseGenesis(A5Text());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->IndexOf("v2"), 2u);
  EXPECT_FALSE(g->IndexOf("v4").has_value());
  EXPECT_EQ(g->IndexOfKey(HexDecode(kKeys[3]).value()), 3u);
  EXPECT_FALSE(g->IndexOfKey(HexDecode(kAdmin).value()).has_value());
  EXPECT_TRUE(g->IsAdmin(HexDecode(kAdmin).value()));
  EXPECT_FALSE(g->IsAdmin(HexDecode(kKeys[0]).value()));
}

TEST(ParseGenesis, AcceptsOneValidatorWithQuorumOne) {
  StatusOr<Genesis> g = ParseGenesis(GenesisText({{"solo", kKeys[0]}}));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(ValidatorSet::FromGenesis(*g).f(), 0u);
  EXPECT_EQ(ValidatorSet::FromGenesis(*g).quorum(), 1u);
}

TEST(ParseGenesis, RefusesNoValidator) { ExpectRefused(GenesisText({})); }

TEST(ParseGenesis, RefusesTwoValidators) {
  ExpectRefused(GenesisText({{"v0", kKeys[0]}, {"v1", kKeys[1]}}));
}

TEST(ParseGenesis, RefusesThreeValidators) {
  ExpectRefused(GenesisText({{"v0", kKeys[0]}, {"v1", kKeys[1]}, {"v2", kKeys[2]}}));
}

TEST(ParseGenesis, RefusesFiveValidators) {
  std::vector<V> v = FourValidators();
  v.push_back({"v4", kKeys[4]});
  ExpectRefused(GenesisText(v));
}

TEST(ParseGenesis, RefusesDuplicateValidatorId) {
  std::vector<V> v = FourValidators();
  v[3].id = "v1";
  ExpectRefused(GenesisText(v));
}

TEST(ParseGenesis, RefusesDuplicateValidatorKey) {
  std::vector<V> v = FourValidators();
  v[3].pubkey = kKeys[0];
  ExpectRefused(GenesisText(v));
}

TEST(ParseGenesis, RefusesUncompressedValidatorKey) {
  std::vector<V> v = FourValidators();
  v[0].pubkey = kV0Uncompressed;
  ExpectRefused(GenesisText(v));
}

TEST(ParseGenesis, RefusesUpperCaseHexKey) {
  std::vector<V> v = FourValidators();
  for (char& c : v[2].pubkey) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ExpectRefused(GenesisText(v));
}

TEST(ParseGenesis, RefusesKeyNotOnTheCurve) {
  std::vector<V> v = FourValidators();
  v[1].pubkey = "02" + std::string(64, 'f');  // x >= p
  ExpectRefused(GenesisText(v));
}

TEST(ParseGenesis, RefusesInvalidValidatorId) {
  std::vector<V> v = FourValidators();
  v[1].id = "v 1";
  ExpectRefused(GenesisText(v));
}

TEST(ParseGenesis, RefusesMissingAdmins) { ExpectRefused(GenesisText(FourValidators(), "")); }

TEST(ParseGenesis, RefusesEmptyAdmins) { ExpectRefused(GenesisText(FourValidators(), "[]")); }

TEST(ParseGenesis, RefusesUncompressedAdminKey) {
  ExpectRefused(GenesisText(FourValidators(), std::string("[\"") + kV0Uncompressed + "\"]"));
}

TEST(ParseGenesis, RefusesRepeatedJsonKey) {
  std::string text = GenesisText(FourValidators());
  text.insert(1, "\"chain_id\": \"pl-test\", ");
  ExpectRefused(text);
}

TEST(ParseGenesis, RefusesInvalidChainId) {
  ExpectRefused(GenesisText(FourValidators(), std::string("[\"") + kAdmin + "\"]", "pl test"));
  ExpectRefused(GenesisText(FourValidators(), std::string("[\"") + kAdmin + "\"]", ""));
  ExpectRefused(
      GenesisText(FourValidators(), std::string("[\"") + kAdmin + "\"]", std::string(65, 'c')));
}

TEST(ParseGenesis, RefusesMissingChainId) {
  std::string text = A5Text();
  const std::string member = "\"chain_id\": \"pl-test\", ";
  ASSERT_NE(text.find(member), std::string::npos);
  text.erase(text.find(member), member.size());
  ExpectRefused(text);
}

TEST(ParseGenesis, ValidatorsAreFullWithoutAMode) {
  StatusOr<Genesis> g = ParseGenesis(GenesisText(FourValidators()));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->FullValidators().size(), 4u);
}

TEST(ParseGenesis, ReadsLightAndFullModes) {
  std::vector<V> vals = FourValidators();
  vals[1].mode = "\"light\"";
  vals[2].mode = "\"full\"";
  StatusOr<Genesis> g = ParseGenesis(GenesisText(vals));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_FALSE(g->validators[0].light);
  EXPECT_TRUE(g->validators[1].light);
  EXPECT_FALSE(g->validators[2].light);
  ASSERT_EQ(g->FullValidators().size(), 3u);
  EXPECT_EQ(g->FullValidators()[1]->id, "v2");
}

TEST(ParseGenesis, RefusesAnUnknownMode) {
  std::vector<V> vals = FourValidators();
  vals[0].mode = "\"archive\"";
  ExpectRefused(GenesisText(vals));
  vals[0].mode = "1";
  ExpectRefused(GenesisText(vals));
}

TEST(ParseGenesis, RefusesEveryValidatorLight) {
  std::vector<V> vals = FourValidators();
  for (auto& v : vals) v.mode = "\"light\"";
  StatusOr<Genesis> g = ParseGenesis(GenesisText(vals));
  ASSERT_EQ(g.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("at least one must keep every block"), std::string::npos)
      << g.status().message();
}

TEST(GenesisToJson, WritesModeOnlyForLightValidators) {
  std::vector<V> vals = FourValidators();
  vals[3].mode = "\"light\"";
  StatusOr<Genesis> g = ParseGenesis(GenesisText(vals));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const std::string text = GenesisToJson(*g);
  EXPECT_EQ(text.find("\"mode\""), text.rfind("\"mode\"")) << text;  // exactly once
  StatusOr<Genesis> again = ParseGenesis(text);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->validators[3].light);
  EXPECT_FALSE(again->validators[0].light);
}

TEST(GenesisToJson, RoundTripsThroughParseGenesis) {
  StatusOr<Genesis> g = ParseGenesis(A5Text());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const std::string text = GenesisToJson(*g);
  StatusOr<Genesis> back = ParseGenesis(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << text;
  EXPECT_EQ(back->chain_id, g->chain_id);
  EXPECT_EQ(back->created, g->created);
  ASSERT_EQ(back->validators.size(), g->validators.size());
  for (size_t i = 0; i < g->validators.size(); ++i) {
    EXPECT_EQ(back->validators[i].id, g->validators[i].id);
    EXPECT_EQ(back->validators[i].pubkey, g->validators[i].pubkey);
    EXPECT_EQ(back->validators[i].address, g->validators[i].address);
  }
  EXPECT_EQ(back->admins, g->admins);
  EXPECT_EQ(back->file_hash, Sha256(text));
  EXPECT_EQ(GenesisToJson(*back), text);
}

TEST(LoadGenesis, ReadsTheAppendixFile) {
  StatusOr<Genesis> g = LoadGenesis(RunfilePath("tests/testdata/appendix_a5_genesis.json"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->chain_id, "pl-test");
}

TEST(LoadGenesis, MissingFileIsNotFound) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/no-such-genesis.json";
  EXPECT_EQ(LoadGenesis(path).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace provledger::ledger
