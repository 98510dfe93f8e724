#include "consensus/pbft_messages.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/sha256.h"

namespace provledger {
namespace consensus {
namespace {

ConsensusMsg Vote(ConsensusMsg::Type type, uint64_t view, uint64_t height, uint32_t sender) {
  ConsensusMsg m;
  m.type = type;
  m.view = view;
  m.height = height;
  m.digest = Sha256("block-" + std::to_string(height));
  m.sender = sender;
  m.signature = "sig-" + std::to_string(sender);
  return m;
}

ConsensusMsg SampleNewView() {
  ConsensusMsg cp = Vote(ConsensusMsg::kCheckpoint, 0, 8, 1);
  ConsensusMsg vc;
  vc.type = ConsensusMsg::kViewChange;
  vc.view = 3;
  vc.sender = 2;
  vc.checkpoint_height = 8;
  vc.checkpoint_digest = cp.digest;
  vc.checkpoint_proof = {cp, cp};
  PreparedCert cert;
  cert.pre_prepare = Vote(ConsensusMsg::kPrePrepare, 2, 9, 2);
  cert.pre_prepare.block = "opaque block";
  cert.prepares = {Vote(ConsensusMsg::kPrepare, 2, 9, 0), Vote(ConsensusMsg::kPrepare, 2, 9, 1)};
  vc.prepared = {cert};
  vc.signature = "vc-sig";
  ConsensusMsg nv;
  nv.type = ConsensusMsg::kNewView;
  nv.view = 3;
  nv.sender = 3;
  nv.view_changes = {vc, vc, vc};
  nv.pre_prepares = {cert.pre_prepare};
  nv.signature = "nv-sig";
  return nv;
}

TEST(ConsensusTags, NoTagIsAPrefixOfAnotherIncludingProtocolTags) {
  const std::vector<std::string> tags = {
      "pl/v1/key-request", "pl/v1/key-reply", "pl/v1/session", "pl/v1/data",
      "pl/v1/firmware",    "pl/v1/record",    "pl/v1/header",  "pl/v1/commit",
      "pl/v1/batch",       kTagPrePrepare,    kTagPrepare,     kTagCheckpoint,
      kTagViewChange,      kTagNewView,       kTagCommit,      kTagSuspect};
  for (size_t i = 0; i < tags.size(); ++i) {
    for (size_t j = 0; j < tags.size(); ++j) {
      if (i == j || tags[i] == tags[j]) continue;  // kTagCommit is PROTOCOL.md's commit tag
      EXPECT_NE(tags[j].compare(0, tags[i].size(), tags[i]), 0)
          << tags[i] << " is a prefix of " << tags[j];
    }
  }
  EXPECT_EQ(std::string(kTagCommit), "pl/v1/commit");
}

TEST(SigningDigest, CommitSignsExactlyTheProtocolCommitDigest) {
  ConsensusMsg c = Vote(ConsensusMsg::kCommit, 5, 42, 1);
  Bytes want = "pl/v1/commit";
  AppendLp(&want, "chain-x");
  AppendU64(&want, 42);
  AppendU64(&want, 5);
  want += c.digest;
  EXPECT_EQ(SigningDigest("chain-x", c), Sha256(want));
  EXPECT_EQ(CommitDigest("chain-x", 42, 5, c.digest), Sha256(want));
}

TEST(SigningDigest, DiffersByTypeChainAndEveryField) {
  ConsensusMsg p = Vote(ConsensusMsg::kPrepare, 5, 42, 1);
  const Bytes base = SigningDigest("c", p);
  EXPECT_EQ(base.size(), 32u);
  ConsensusMsg q = p;
  q.type = ConsensusMsg::kPrePrepare;
  EXPECT_NE(SigningDigest("c", q), base);
  EXPECT_NE(SigningDigest("d", p), base);
  q = p;
  q.view = 6;
  EXPECT_NE(SigningDigest("c", q), base);
  q = p;
  q.sender = 2;
  EXPECT_NE(SigningDigest("c", q), base);
  q = p;
  q.signature = "other";  // the signature is not signed over
  EXPECT_EQ(SigningDigest("c", q), base);
}

// Old and new validators must sign alike: the digest covers exactly the encoded message
// without its trailing lp(signature), the block included (it is hashed in place).
TEST(SigningDigest, IsTheHashOfTheEncodingWithoutTheSignature) {
  ConsensusMsg pp = Vote(ConsensusMsg::kPrePrepare, 2, 9, 0);
  pp.block = Bytes(300000, 'b');
  pp.block[12345] = 'x';
  ConsensusMsg later = pp;
  later.epoch = 4;
  ConsensusMsg empty = Vote(ConsensusMsg::kPrepare, 2, 9, 1);  // no block
  const std::vector<std::pair<const char*, ConsensusMsg>> cases = {{kTagPrePrepare, pp},
                                                                   {kTagPrePrepare, later},
                                                                   {kTagPrepare, empty},
                                                                   {kTagNewView, SampleNewView()}};
  for (const auto& [tag, m] : cases) {
    const Bytes enc = Encode(m);
    ASSERT_GT(enc.size(), 4 + m.signature.size());
    Bytes want = tag;
    AppendLp(&want, "chain-x");
    want.append(enc, 0, enc.size() - 4 - m.signature.size());
    EXPECT_EQ(SigningDigest("chain-x", m), Sha256(want)) << tag << " epoch " << m.epoch;
  }
  ConsensusMsg other = pp;
  other.block[12345] = 'y';
  EXPECT_NE(SigningDigest("chain-x", other), SigningDigest("chain-x", pp));
}

TEST(Encoding, RoundTripsANestedNewView) {
  const ConsensusMsg nv = SampleNewView();
  ConsensusMsg back;
  ASSERT_TRUE(Decode(Encode(nv), &back).ok());
  EXPECT_EQ(Encode(back), Encode(nv));
  ASSERT_EQ(back.view_changes.size(), 3u);
  EXPECT_EQ(back.view_changes[0].prepared[0].pre_prepare.block, "opaque block");
  EXPECT_EQ(back.view_changes[0].checkpoint_proof.size(), 2u);
}

TEST(Encoding, RefusesTruncationTrailingBytesAndUnknownTypes) {
  const Bytes enc = Encode(SampleNewView());
  ConsensusMsg m;
  for (size_t cut : {size_t{0}, size_t{1}, enc.size() / 2, enc.size() - 1}) {
    EXPECT_FALSE(Decode(ByteView(enc).substr(0, cut), &m).ok()) << cut;
  }
  EXPECT_FALSE(Decode(enc + "x", &m).ok());
  Bytes bad_type = Encode(Vote(ConsensusMsg::kPrepare, 1, 1, 1));
  bad_type[1] = 9;
  EXPECT_FALSE(Decode(bad_type, &m).ok());
  Bytes bad_version = Encode(Vote(ConsensusMsg::kPrepare, 1, 1, 1));
  bad_version[0] = 3;
  EXPECT_FALSE(Decode(bad_version, &m).ok());
}

TEST(Encoding, EpochZeroEncodesAsBeforeAndAnotherEpochRoundTripsSigned) {
  ConsensusMsg p = Vote(ConsensusMsg::kPrepare, 1, 70, 2);
  const Bytes v1 = Encode(p);
  EXPECT_EQ(v1[0], 1);  // version 1: the bytes of a node that knows no epochs
  p.epoch = 64;
  const Bytes v2 = Encode(p);
  EXPECT_EQ(v2[0], 2);
  EXPECT_EQ(v2.size(), v1.size() + 8);
  ConsensusMsg back;
  ASSERT_TRUE(Decode(v2, &back).ok());
  EXPECT_EQ(back.epoch, 64u);
  EXPECT_EQ(Encode(back), v2);
  // The epoch is signed over, so a message cannot be moved to another epoch.
  ConsensusMsg q = p;
  q.epoch = 80;
  EXPECT_NE(SigningDigest("c", q), SigningDigest("c", p));
  // Nested messages keep their own epoch.
  ConsensusMsg nv = SampleNewView();
  nv.epoch = 16;
  nv.view_changes[1].epoch = 16;
  ASSERT_TRUE(Decode(Encode(nv), &back).ok());
  EXPECT_EQ(back.epoch, 16u);
  EXPECT_EQ(back.view_changes[0].epoch, 0u);
  EXPECT_EQ(back.view_changes[1].epoch, 16u);
}

TEST(Encoding, RefusesAVersionTwoEncodingOfEpochZero) {
  Bytes enc = Encode(Vote(ConsensusMsg::kPrepare, 1, 1, 1));
  enc[0] = 2;
  enc.insert(2, Bytes(8, '\0'));  // u64be(0) after the type
  ConsensusMsg m;
  EXPECT_FALSE(Decode(enc, &m).ok());
}

TEST(Encoding, RefusesFieldsTheTypeDoesNotUse) {
  ConsensusMsg m;
  ConsensusMsg p = Vote(ConsensusMsg::kPrepare, 1, 1, 1);
  p.block = "a prepare carries no block";
  EXPECT_FALSE(Decode(Encode(p), &m).ok());
  ConsensusMsg short_digest = Vote(ConsensusMsg::kCommit, 1, 1, 1);
  short_digest.digest = "short";
  EXPECT_FALSE(Decode(Encode(short_digest), &m).ok());
  ConsensusMsg nv = SampleNewView();
  nv.view_changes[0].type = ConsensusMsg::kPrepare;  // a prepare where a view-change belongs
  EXPECT_FALSE(Decode(Encode(nv), &m).ok());
}

TEST(Encoding, RoundTripsASuspectAndRefusesOneWithFieldsItDoesNotUse) {
  ConsensusMsg s;
  s.type = ConsensusMsg::kSuspect;
  s.view = 3;
  s.sender = 2;
  s.signature = "suspect-sig";
  ConsensusMsg back;
  ASSERT_TRUE(Decode(Encode(s), &back).ok());
  EXPECT_EQ(back.type, ConsensusMsg::kSuspect);
  EXPECT_EQ(back.view, 3u);
  EXPECT_EQ(back.sender, 2u);
  EXPECT_EQ(std::string(TypeName(back.type)), "suspect");
  ConsensusMsg with_height = s;
  with_height.height = 7;
  EXPECT_FALSE(Decode(Encode(with_height), &back).ok());
  ConsensusMsg with_digest = s;
  with_digest.digest = Sha256("x");
  EXPECT_FALSE(Decode(Encode(with_digest), &back).ok());
  ConsensusMsg vc = s;
  vc.type = ConsensusMsg::kViewChange;  // same fields, another type: another digest
  EXPECT_NE(SigningDigest("c", vc), SigningDigest("c", s));
}

TEST(Encoding, RefusesNestingDeeperThanANewView) {
  ConsensusMsg nv = SampleNewView();
  ConsensusMsg outer;
  outer.type = ConsensusMsg::kNewView;
  outer.view = 4;
  ConsensusMsg m;
  EXPECT_TRUE(Decode(Encode(nv), &m).ok());
  outer.view_changes = {nv};  // a new-view where a view-change belongs
  EXPECT_FALSE(Decode(Encode(outer), &m).ok());
}

}  // namespace
}  // namespace consensus
}  // namespace provledger
