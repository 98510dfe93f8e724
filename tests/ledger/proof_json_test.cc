// ProofToJson (ledger/proof_json.h) and VerifyProofJson (ledger/proof_document_verifier.h):
// the 6.6 output and the 6.7 checks.
//
// Vectors: tests/testdata/appendix_a5_genesis.json and appendix_a5_proof.json, copied verbatim
// from PROTOCOL.md Appendix A.5; appendix_a5_mutants.json, that proof changed once per row so
// that one step of 6.7 must reject it.
#include "ledger/proof_json.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/file_io.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "ledger/genesis.h"
#include "ledger/proof_document_verifier.h"
#include "ledger/record.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {
namespace {

std::string RunfilePath(const std::string& rel) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/" + (ws != nullptr ? ws : "provledger") +
         "/" + rel;
}

JsonValue ReadJson(const std::string& name) {
  StatusOr<Bytes> text = ReadFile(RunfilePath("tests/testdata/" + name));
  EXPECT_TRUE(text.ok()) << name << ": " << text.status().ToString();
  if (!text.ok()) return JsonValue();
  StatusOr<JsonValue> doc = ParseJson(*text);
  EXPECT_TRUE(doc.ok()) << name << ": " << doc.status().ToString();
  return doc.ok() ? *doc : JsonValue();
}

Genesis A5Genesis() {
  StatusOr<Bytes> text = ReadFile(RunfilePath("tests/testdata/appendix_a5_genesis.json"));
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  StatusOr<Genesis> g = ParseGenesis(text.ok() ? *text : "");
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? *g : Genesis();
}

JsonValue A5Proof() { return ReadJson("appendix_a5_proof.json"); }

Bytes Hex(std::string_view hex) {
  StatusOr<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

// PROTOCOL.md A.1 and A.3.
constexpr char kDev1Pub[] = "02f3091a099825b9909e25d98d2ac25b9458295173a8991ea8c02a3767476df2ce";
constexpr char kV0Pub[] = "023056ef9c50822a7d9c2bb084898e26c71dcdcee794a05e773588c1d239692551";

// ---- Mutating a JSON tree along a path of member names and array indexes. ----

struct Mutant {
  std::string desc;
  std::string op;
  std::vector<JsonValue> path;
  JsonValue value;
  size_t at = 0;
  std::string code;
  uint64_t step = 0;
};

std::string FlipHexDigit(std::string hex, size_t at) {
  if (at >= hex.size()) {
    ADD_FAILURE() << "flip at " << at << " past a string of " << hex.size();
    return hex;
  }
  const char c = hex[at];
  const int v = (c >= '0' && c <= '9') ? c - '0' : c - 'a' + 10;
  const int f = v ^ 1;
  hex[at] = static_cast<char>(f < 10 ? '0' + f : 'a' + f - 10);
  return hex;
}

JsonValue Apply(const JsonValue& node, const Mutant& m, size_t depth) {
  const JsonValue& key = m.path[depth];
  const bool last = depth + 1 == m.path.size();
  if (node.is_object()) {
    EXPECT_TRUE(key.is_string()) << m.desc;
    const JsonValue* child = node.Find(key.string_value());
    JsonValue out = JsonValue::Object();
    for (const auto& [name, v] : node.members()) {
      if (name != key.string_value()) {
        out.Set(name, v);
        continue;
      }
      if (!last) {
        out.Set(name, Apply(v, m, depth + 1));
      } else if (m.op == "set") {
        out.Set(name, m.value);
      } else if (m.op == "flip") {
        out.Set(name, JsonValue::String(FlipHexDigit(v.string_value(), m.at)));
      } else if (m.op != "delete") {
        ADD_FAILURE() << m.desc << ": op " << m.op << " on an object member";
      }
    }
    EXPECT_NE(child, nullptr) << m.desc << ": no member " << key.string_value();
    return out;
  }
  EXPECT_TRUE(node.is_array() && key.is_int()) << m.desc;
  std::vector<JsonValue> items = node.items();
  const size_t i = key.int_value();
  if (m.op == "insert" && last) {
    EXPECT_LE(i, items.size()) << m.desc;
    items.insert(items.begin() + std::min(i, items.size()), m.value);
    return JsonValue::Array(items);
  }
  if (i >= items.size()) {
    ADD_FAILURE() << m.desc << ": index " << i << " past the array";
    return node;
  }
  if (!last) {
    items[i] = Apply(items[i], m, depth + 1);
  } else if (m.op == "set") {
    items[i] = m.value;
  } else if (m.op == "flip") {
    items[i] = JsonValue::String(FlipHexDigit(items[i].string_value(), m.at));
  } else if (m.op == "delete") {
    items.erase(items.begin() + i);
  }
  return JsonValue::Array(items);
}

std::vector<Mutant> Mutants() {
  std::vector<Mutant> out;
  JsonValue doc = ReadJson("appendix_a5_mutants.json");
  const JsonValue* rows = doc.Find("mutants");
  EXPECT_NE(rows, nullptr);
  if (rows == nullptr) return out;
  for (const JsonValue& r : rows->items()) {
    Mutant m;
    m.desc = r.Find("desc")->string_value();
    m.op = r.Find("op")->string_value();
    m.path = r.Find("path")->items();
    if (const JsonValue* v = r.Find("value")) m.value = *v;
    if (const JsonValue* a = r.Find("at")) m.at = a->int_value();
    m.code = r.Find("code")->string_value();
    m.step = r.Find("step")->int_value();
    out.push_back(m);
  }
  return out;
}

// ---- Verifying the Appendix A.5 proof. ----

TEST(VerifyProofJson, AcceptsTheAppendixProof) {
  StatusOr<VerifiedProof> v = VerifyProofJson(A5Genesis(), A5Proof());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(HexEncode(v->record_id),
            "f18bc9d7218edcd66c9ac7f038dd4794b7b938ef62497f1d4c2bce9720bcc94b");
  EXPECT_EQ(v->height, 1u);
  EXPECT_EQ(HexEncode(v->header_hash),
            "69aa1bd37f8417c0dfe3df331bea8b68be963305d5f1135d6fa79fbafdad31ad");
  EXPECT_EQ(v->signatures, 3u);
  EXPECT_EQ(v->record.kind, RecordKind::kReading);
  EXPECT_EQ(v->record.reading.device, "dev-1");
  EXPECT_EQ(v->record.reading.item, "climate");
  EXPECT_EQ(v->record.reading.seq, 1u);
  EXPECT_FALSE(v->payload_checked);
  EXPECT_FALSE(v->device_signature_checked);
}

TEST(VerifyProofJson, AcceptsTheAppendixProofWithItsPayload) {
  StatusOr<VerifiedProof> v = VerifyProofJson(A5Genesis(), A5Proof(), Bytes("21.5"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->payload_checked);
}

TEST(VerifyProofJson, AcceptsTheAppendixProofWithPayloadAndDeviceKey) {
  StatusOr<VerifiedProof> v = VerifyProofJson(A5Genesis(), A5Proof(), Bytes("21.5"), Hex(kDev1Pub));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->payload_checked);
  EXPECT_TRUE(v->device_signature_checked);
}

TEST(VerifyProofJson, RejectsAnotherPayload) {
  StatusOr<VerifiedProof> v = VerifyProofJson(A5Genesis(), A5Proof(), Bytes("21.6"));
  EXPECT_EQ(v.status().code(), StatusCode::kUnauthenticated) << v.status().ToString();
  EXPECT_NE(v.status().message().find("step 9"), std::string::npos) << v.status().ToString();
}

TEST(VerifyProofJson, RejectsAnotherDevicesKey) {
  StatusOr<VerifiedProof> v = VerifyProofJson(A5Genesis(), A5Proof(), std::nullopt, Hex(kV0Pub));
  EXPECT_EQ(v.status().code(), StatusCode::kUnauthenticated) << v.status().ToString();
  EXPECT_NE(v.status().message().find("step 9"), std::string::npos) << v.status().ToString();
}

TEST(VerifyProofJson, IgnoresExtraKeys) {
  JsonValue proof = A5Proof();
  proof.Set("decoded", JsonValue::String("for people"));
  EXPECT_TRUE(VerifyProofJson(A5Genesis(), proof).ok());
}

TEST(VerifyProofJson, RejectsAProofUnderAnotherGenesis) {
  Genesis g = A5Genesis();
  g.validators[1].pubkey = g.validators[3].pubkey;  // v1's signature no longer checks
  g.validators[3].pubkey = Hex(kDev1Pub);
  EXPECT_EQ(VerifyProofJson(g, A5Proof()).status().code(), StatusCode::kUnauthenticated);
}

TEST(VerifyProofJson, RejectsEveryMutantOfTheAppendixProof) {
  const Genesis genesis = A5Genesis();
  const JsonValue proof = A5Proof();
  const std::vector<Mutant> mutants = Mutants();
  ASSERT_GE(mutants.size(), 20u);
  for (const Mutant& m : mutants) {
    SCOPED_TRACE(m.desc);
    const JsonValue mutated = Apply(proof, m, 0);
    ASSERT_NE(WriteJson(mutated), WriteJson(proof));
    StatusOr<VerifiedProof> v = VerifyProofJson(genesis, mutated);
    ASSERT_FALSE(v.ok());
    EXPECT_STREQ(StatusCodeName(v.status().code()), m.code.c_str()) << v.status().ToString();
    EXPECT_NE(v.status().message().find("step " + std::to_string(m.step)), std::string::npos)
        << v.status().ToString();
  }
}

// ---- ProofToJson. ----

// The proto proof of record A, from the pieces of Appendix A.5.
provledger::v1::Proof A5ProtoProof() {
  const JsonValue j = A5Proof();
  provledger::v1::Proof p;
  p.set_chain_id("pl-test");
  p.set_record_id(Hex(j.Find("record_id")->string_value()));
  p.set_record(Hex(j.Find("record")->string_value()));
  p.set_height(1);
  p.set_leaf_index(0);
  p.set_tree_size(3);
  for (const JsonValue& h : j.Find("audit_path")->items()) p.add_audit_path(Hex(h.string_value()));
  p.set_header(Hex(j.Find("header")->string_value()));
  const JsonValue* cert = j.Find("certificate");
  p.mutable_certificate()->set_view(0);
  p.mutable_certificate()->set_digest(Hex(cert->Find("digest")->string_value()));
  uint32_t index = 0;
  for (const JsonValue& s : cert->Find("signatures")->items()) {
    auto* sig = p.mutable_certificate()->add_signatures();
    sig->set_validator(index++);  // v0, v1, v2 in genesis order
    sig->set_signature(Hex(s.Find("sig")->string_value()));
  }
  return p;
}

std::set<std::string> Keys(const JsonValue& obj) {
  std::set<std::string> out;
  for (const auto& m : obj.members()) out.insert(m.first);
  return out;
}

TEST(ProofToJson, ReproducesTheAppendixProof) {
  StatusOr<JsonValue> j = ProofToJson(A5Genesis(), A5ProtoProof());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(WriteJson(*j), WriteJson(A5Proof()));
}

TEST(ProofToJson, OutputVerifies) {
  StatusOr<JsonValue> j = ProofToJson(A5Genesis(), A5ProtoProof());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  StatusOr<JsonValue> reparsed = ParseJson(WriteJson(*j));
  ASSERT_TRUE(reparsed.ok());
  StatusOr<VerifiedProof> v = VerifyProofJson(A5Genesis(), *reparsed, Bytes("21.5"), Hex(kDev1Pub));
  EXPECT_TRUE(v.ok()) << v.status().ToString();
}

TEST(ProofToJson, HasExactlyTheKeysOfSection66) {
  StatusOr<JsonValue> j = ProofToJson(A5Genesis(), A5ProtoProof());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(Keys(*j), (std::set<std::string>{"v", "chain_id", "record_id", "record", "height",
                                             "leaf_index", "tree_size", "audit_path", "header",
                                             "header_hash", "certificate"}));
  EXPECT_EQ(j->Find("v")->int_value(), 1u);
  const JsonValue* cert = j->Find("certificate");
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(Keys(*cert), (std::set<std::string>{"view", "digest", "signatures"}));
  const JsonValue* sigs = cert->Find("signatures");
  ASSERT_NE(sigs, nullptr);
  ASSERT_EQ(sigs->items().size(), 3u);
  for (const JsonValue& s : sigs->items()) {
    EXPECT_EQ(Keys(s), (std::set<std::string>{"validator", "pubkey", "sig"}));
  }
}

TEST(ProofToJson, RefusesASignerOutsideTheGenesis) {
  provledger::v1::Proof p = A5ProtoProof();
  p.mutable_certificate()->mutable_signatures(2)->set_validator(4);
  EXPECT_EQ(ProofToJson(A5Genesis(), p).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger::ledger
