// docs/ACCOUNTS.md: the chain, the strict account codec and the device-side AccountChain,
// against the document's test vector (section 6).
#include "device_protocol/account.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "common/sha256.h"
#include "device_protocol/message_auth.h"
#include "device_protocol/topics.h"
#include "tests/device_protocol/appendix_a.h"

namespace provledger::device_protocol {
namespace {

using appendix_a::Unhex;

constexpr char kHead1[] = "c85ea26845f6a7cede48487796cf1fc89a49e96f0bf28412a6207d241c0e6d99";
constexpr char kD3[] = "4b67b421b68f5afb8cf6632e9737672b29b0732e3e85bfe9ae169d493c66cc42";
constexpr char kHead2[] = "10f01fd6dc4629e728722b91273ff0cbb5817884f0646aaaa47edb546f952b28";
constexpr char kPayload[] =
    "{\"v\":1,\"first\":1,\"last\":3,\"count\":2,\"runs\":[[1,1],[3,3]],\"prev\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\",\"head\":"
    "\"10f01fd6dc4629e728722b91273ff0cbb5817884f0646aaaa47edb546f952b28\"}";

TEST(AccountTest, VectorOfTheDocument) {
  // D of record C (PROTOCOL.md A.4), rebuilt as a device makes it.
  const Bytes d3 = MessageDigest(MessageSpec{"dev-1", "climate", 3, 1700000003000}, "21.7");
  EXPECT_EQ(HexEncode(d3), kD3);
  const Bytes zero(32, '\0');
  EXPECT_EQ(HexEncode(ChainStep(zero, Unhex(appendix_a::kD))), kHead1);
  EXPECT_EQ(HexEncode(ChainHead(zero, {Unhex(appendix_a::kD), d3})), kHead2);

  AccountChain chain;
  chain.Add(1, Unhex(appendix_a::kD));
  chain.Add(2, Bytes(32, 'x'));  // refused before the cut: left out
  chain.Add(3, d3);
  EXPECT_TRUE(chain.Forget(2));
  EXPECT_FALSE(chain.Forget(2));
  std::optional<Account> a = chain.Cut();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(AccountJson(*a), kPayload);
  EXPECT_EQ(HexEncode(chain.head()), kHead2);
  EXPECT_FALSE(chain.Cut().has_value());

  Session s{"gw-1", Unhex(appendix_a::kSessionKey), Unhex(appendix_a::kKid), 0};
  UserProperties props =
      MacProperties(MessageSpec{"dev-1", std::string(kAccountItem), 4, 1700000004000}, kPayload, s);
  EXPECT_EQ(HexEncode(Sha256(kPayload)),
            "f0b3673b364106d1519f7d179e04489c5172d366bf1ba363cb347ae152418f0b");
  bool found = false;
  for (const auto& [k, v] : props) {
    if (k == "pl-mac") {
      found = true;
      EXPECT_EQ(v, "b4f8a2b52b2641fd557155b071cdfcec63ae955596aa15d083cea0d9563c40eb");
    }
  }
  EXPECT_TRUE(found);
}

TEST(AccountTest, ParseRoundTripAndSeqs) {
  auto a = ParseAccount(kPayload);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->first(), 1u);
  EXPECT_EQ(a->last(), 3u);
  EXPECT_EQ(a->count, 2u);
  EXPECT_EQ(a->Seqs(), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(AccountJson(*a), kPayload);
}

TEST(AccountTest, ChainsLinkAcrossCuts) {
  AccountChain chain;
  for (uint64_t s = 10; s < 15; ++s) chain.Add(s, Sha256(std::to_string(s)));
  auto a1 = chain.Cut();
  for (uint64_t s = 16; s < 18; ++s) chain.Add(s, Sha256(std::to_string(s)));
  auto a2 = chain.Cut();
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(a1->runs.size(), 1u);
  EXPECT_EQ(a1->count, 5u);
  EXPECT_EQ(a2->prev, a1->head);
  EXPECT_EQ(a2->first(), 16u);
  // A chain continued after a restart starts from the kept head.
  AccountChain resumed(a2->head);
  resumed.Add(20, Sha256("20"));
  EXPECT_EQ(resumed.Cut()->prev, a2->head);
}

TEST(AccountTest, ParseRefusesEverythingElse) {
  const std::string zero(64, '0');
  auto acc = [&](const std::string& body) {
    return "{\"v\":1," + body + ",\"prev\":\"" + zero + "\",\"head\":\"" + zero + "\"}";
  };
  const std::vector<std::string> bad = {
      "",
      "[]",
      "{\"v\":2,\"first\":1,\"last\":1,\"count\":1,\"runs\":[[1,1]],\"prev\":\"" + zero +
          "\",\"head\":\"" + zero + "\"}",
      acc("\"first\":1,\"last\":1,\"count\":1,\"runs\":[]"),
      acc("\"first\":1,\"last\":1,\"count\":1"),
      acc("\"first\":1,\"last\":3,\"count\":3,\"runs\":[[1,2],[3,3]]"),  // touching runs
      acc("\"first\":3,\"last\":2,\"count\":2,\"runs\":[[3,3],[1,2]]"),  // not ascending
      acc("\"first\":2,\"last\":1,\"count\":0,\"runs\":[[2,1]]"),
      acc("\"first\":0,\"last\":1,\"count\":2,\"runs\":[[0,1]]"),
      acc("\"first\":1,\"last\":5,\"count\":4,\"runs\":[[1,5]]"),  // count
      acc("\"first\":2,\"last\":5,\"count\":5,\"runs\":[[1,5]]"),  // first
      acc("\"first\":1,\"last\":5,\"count\":5,\"runs\":[[1,5,7]]"),
      acc("\"first\":1,\"last\":5,\"count\":5,\"runs\":[[1,5]],\"count\":5"),  // repeated key
      "{\"v\":1,\"first\":1,\"last\":1,\"count\":1,\"runs\":[[1,1]],\"prev\":\"" +
          std::string(64, 'A') + "\",\"head\":\"" + zero + "\"}",
      "{\"v\":1,\"first\":1,\"last\":1,\"count\":1,\"runs\":[[1,1]],\"prev\":\"" + zero + "\"}",
  };
  for (const std::string& b : bad) EXPECT_FALSE(ParseAccount(b).ok()) << b;
  EXPECT_TRUE(ParseAccount(acc("\"first\":1,\"last\":5,\"count\":5,\"runs\":[[1,5]]")).ok());
  std::string many = "[";
  for (int i = 0; i <= 1024; ++i)
    many += (i ? ",[" : "[") + std::to_string(2 * i + 1) + "," + std::to_string(2 * i + 1) + "]";
  many += "]";
  EXPECT_FALSE(ParseAccount(acc("\"first\":1,\"last\":2049,\"count\":1025,\"runs\":" + many)).ok());
}

TEST(AccountTest, CutCapsRuns) {
  AccountChain chain;
  for (uint64_t i = 0; i < kMaxAccountRuns + 5; ++i) chain.Add(2 * i + 1, Sha256("x"));
  auto a = chain.Cut();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->runs.size(), kMaxAccountRuns);
  EXPECT_EQ(chain.pending(), 5u);
  EXPECT_TRUE(ParseAccount(AccountJson(*a)).ok());
}

}  // namespace
}  // namespace provledger::device_protocol
