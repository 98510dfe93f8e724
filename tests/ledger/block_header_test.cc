// Block headers, commit and batch digests (PROTOCOL.md 6.3-6.5) and the Merkle root and audit
// path of Appendix A.5.
#include "ledger/block_header.h"

#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "gtest/gtest.h"
#include "ledger/merkle/proof_builder.h"
#include "ledger/merkle/proof_verifier.h"
#include "ledger/merkle/tree_hasher.h"

namespace provledger::ledger {
namespace {

Bytes Hex(std::string_view hex) {
  StatusOr<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

// Appendix A.4 record ids.
constexpr char kIdA[] = "f18bc9d7218edcd66c9ac7f038dd4794b7b938ef62497f1d4c2bce9720bcc94b";
constexpr char kIdB[] = "fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f";
constexpr char kIdC[] = "ca234e4e16bd9f32468254630b7c8390df2c1333158b99270f72ef85bc283505";

// Appendix A.5.
constexpr char kRoot[] = "4a5b65469d85e65eb38773df479fb136550b87b4e98341e16c4b0ab84a9c3e94";
constexpr char kHeaderHash[] = "69aa1bd37f8417c0dfe3df331bea8b68be963305d5f1135d6fa79fbafdad31ad";
constexpr char kCommitDigest[] = "c02593de84f7afc0b3449455f49efec908188f06a7e47735be42827e62a49a76";
constexpr char kBatchDigest[] = "c1c206bd4afd0eb4fcf48d9ecb89fa663af2dd34dfcb7d91b0e69170bc044160";
constexpr char kV0Pub[] = "023056ef9c50822a7d9c2bb084898e26c71dcdcee794a05e773588c1d239692551";
constexpr char kV0Sig[] =
    "ba33862f07a489d4f207a664f78062249b24e83ae7e5239c32fa5c0fd14900a8"
    "0e28d839bbd80754f1c617ffae90179314d51a997be3701a90604979d9064ea6";

const Bytes& HeaderBytes() {
  static const Bytes b =
      Hex("706c2f76312f686561646572"                                          // "pl/v1/header"
          "00000007706c2d74657374"                                            // lp("pl-test")
          "0000000000000001"                                                  // height 1
          "0000000000000000000000000000000000000000000000000000000000000000"  // prev
          "4a5b65469d85e65eb38773df479fb136550b87b4e98341e16c4b0ab84a9c3e94"  // root
          "0000000000000003"                                                  // record_count
          "0000018bcfe575ac"                                                  // timestamp
          "0000000000000000"                                                  // view 0
          "000000027630");                                                    // lp("v0")
  return b;
}

std::vector<Bytes> RecordIds() { return {Hex(kIdA), Hex(kIdB), Hex(kIdC)}; }

BlockHeader Header() {
  BlockHeader h;
  h.chain_id = "pl-test";
  h.height = 1;
  h.prev = Bytes(32, '\0');
  h.root = Hex(kRoot);
  h.record_count = 3;
  h.timestamp = 1700000003500;
  h.view = 0;
  h.proposer = "v0";
  return h;
}

Bytes WithByte(Bytes b, size_t at, char value) {
  b[at] = value;
  return b;
}

// ---- Appendix A.5: root and audit path. ----

TEST(AppendixA5, MerkleRootOfRecordsAToC) { EXPECT_EQ(HexEncode(MerkleRoot(RecordIds())), kRoot); }

TEST(AppendixA5, AuditPathOfRecordAIsRecordIdsBThenC) {
  StatusOr<std::vector<Bytes>> path = InclusionProof(RecordIds(), 0);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(*path, (std::vector<Bytes>{Hex(kIdB), Hex(kIdC)}));
  Status s = VerifyInclusion(Hex(kIdA), 0, 3, *path, Hex(kRoot));
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// ---- Header encoding. ----

TEST(BlockHeader, EncodesAppendixA5HeaderByteForByte) {
  ASSERT_EQ(HeaderBytes().size(), 125u);
  EXPECT_EQ(HexEncode(EncodeHeader(Header())), HexEncode(HeaderBytes()));
}

TEST(BlockHeader, HashesAppendixA5Header) {
  EXPECT_EQ(HexEncode(HeaderHash(HeaderBytes())), kHeaderHash);
}

TEST(BlockHeader, DecodesAppendixA5HeaderIntoItsFields) {
  StatusOr<BlockHeader> h = DecodeHeader(HeaderBytes());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->chain_id, "pl-test");
  EXPECT_EQ(h->height, 1u);
  EXPECT_EQ(h->prev, Bytes(32, '\0'));
  EXPECT_EQ(HexEncode(h->root), kRoot);
  EXPECT_EQ(h->record_count, 3u);
  EXPECT_EQ(h->timestamp, 1700000003500u);
  EXPECT_EQ(h->view, 0u);
  EXPECT_EQ(h->proposer, "v0");
  EXPECT_EQ(EncodeHeader(*h), HeaderBytes());
}

TEST(BlockHeader, RoundTripsALaterHeader) {
  BlockHeader h = Header();
  h.height = 812;
  h.prev = Hex(kHeaderHash);
  h.view = 5;
  h.proposer = "v1";
  StatusOr<BlockHeader> back = DecodeHeader(EncodeHeader(h));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodeHeader(*back), EncodeHeader(h));
}

TEST(BlockHeader, RefusesEveryTruncation) {
  for (size_t n = 0; n < HeaderBytes().size(); ++n) {
    SCOPED_TRACE("first " + std::to_string(n) + " bytes");
    EXPECT_EQ(DecodeHeader(ByteView(HeaderBytes()).substr(0, n)).status().code(),
              StatusCode::kInvalidArgument);
  }
}

TEST(BlockHeader, RefusesATrailingByte) {
  EXPECT_EQ(DecodeHeader(HeaderBytes() + '\0').status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockHeader, RefusesAWrongTag) {
  EXPECT_FALSE(DecodeHeader(WithByte(HeaderBytes(), 6, 'H')).ok());
}

TEST(BlockHeader, RefusesAnInvalidChainIdOrProposer) {
  EXPECT_FALSE(DecodeHeader(WithByte(HeaderBytes(), 18, ' ')).ok());   // "pl-test" -> "pl test"
  EXPECT_FALSE(DecodeHeader(WithByte(HeaderBytes(), 124, '/')).ok());  // "v0" -> "v/"
}

TEST(BlockHeader, RefusesHeightZero) {
  BlockHeader h = Header();
  h.height = 0;
  EXPECT_EQ(DecodeHeader(EncodeHeader(h)).status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockHeader, RefusesANonzeroPrevAtHeightOne) {
  BlockHeader h = Header();
  h.prev = Hex(kHeaderHash);
  EXPECT_FALSE(DecodeHeader(EncodeHeader(h)).ok());
}

TEST(BlockHeader, RefusesAZeroPrevAboveHeightOne) {
  BlockHeader h = Header();
  h.height = 2;
  EXPECT_FALSE(DecodeHeader(EncodeHeader(h)).ok());
}

// ---- Digests. ----

TEST(CommitDigest, ReproducesAppendixA5) {
  EXPECT_EQ(HexEncode(CommitDigest("pl-test", 1, 0, Hex(kHeaderHash))), kCommitDigest);
}

TEST(CommitDigest, ChangesWithTheView) {
  EXPECT_NE(HexEncode(CommitDigest("pl-test", 1, 1, Hex(kHeaderHash))), kCommitDigest);
}

TEST(CommitDigest, IsSignedByV0InAppendixA5) {
  Status s = VerifySignature(Hex(kV0Pub), Hex(kCommitDigest), Hex(kV0Sig));
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(BatchDigest, ReproducesAppendixA5) {
  EXPECT_EQ(HexEncode(BatchDigest("pl-test", "gw-1", RecordIds())), kBatchDigest);
}

TEST(BatchDigest, DependsOnTheOrderOfRecords) {
  std::vector<Bytes> ids = RecordIds();
  std::swap(ids[0], ids[1]);
  EXPECT_NE(HexEncode(BatchDigest("pl-test", "gw-1", ids)), kBatchDigest);
}

}  // namespace
}  // namespace provledger::ledger
