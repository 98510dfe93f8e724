// A strict JSON (RFC 8259) reader and a writer, as PROTOCOL.md section 1 requires:
// one object per message, no byte-order mark, a repeated key is an error, integers are
// digits only in 0 .. 2^53-1 (no sign, fraction or exponent), strings valid UTF-8.
// The tokenizer is nlohmann/json's (Debian nlohmann-json3-dev); these rules, the tree and the
// writer are ours, and no exception leaves this module.
//
// Thread rules: values are plain data; functions are pure.
#ifndef PROVLEDGER_COMMON_JSON_H_
#define PROVLEDGER_COMMON_JSON_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace provledger {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kInt, kString, kArray, kObject };
  static constexpr uint64_t kMaxInt = (1ull << 53) - 1;

  JsonValue() = default;  // null
  static JsonValue Bool(bool b);
  static JsonValue Int(uint64_t v);  // must be <= kMaxInt for the writer to accept it
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items = {});
  static JsonValue Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_bool() const { return type_ == Type::kBool; }

  bool bool_value() const { return bool_; }
  uint64_t int_value() const { return int_; }
  const std::string& string_value() const { return str_; }
  const std::vector<JsonValue>& items() const { return items_; }
  std::vector<JsonValue>& mutable_items() { return items_; }
  // Object members in insertion (document) order.
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }

  // Object lookup: nullptr when absent (or when this is not an object).
  const JsonValue* Find(const std::string& key) const;
  // Object insert/replace, keeping first-insertion order. Turns null into an object.
  JsonValue& Set(const std::string& key, JsonValue value);
  // Array append. Turns null into an array.
  void Push(JsonValue value);

  // Typed member accessors for message parsing: kInvalidArgument naming `key` when the
  // member is missing or of another type.
  StatusOr<std::string> GetString(const std::string& key) const;
  StatusOr<uint64_t> GetInt(const std::string& key) const;
  StatusOr<const JsonValue*> GetArray(const std::string& key) const;
  StatusOr<const JsonValue*> GetObject(const std::string& key) const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  uint64_t int_ = 0;
  std::string str_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses one JSON document (any value at top level; callers needing an object check
// is_object()). kInvalidArgument with the byte offset where the violation was found on any
// violation of the rules above, including a nesting depth above 64 and trailing
// non-whitespace.
StatusOr<JsonValue> ParseJson(std::string_view text);

// For payloads that carry a measured value: parses `text` as one JSON object under the rules
// above except that any RFC 8259 number is allowed (sign, fraction, exponent, any size), and
// returns the number in its top-level member `key` as a double. kNotFound when the object has
// no `key`; kInvalidArgument when the text breaks a rule, is not an object, or `key` holds
// something else than a number that is finite as a double.
StatusOr<double> ParseJsonNumberMember(std::string_view text, const std::string& key);

// Compact JSON (no spaces), members in insertion order, strings escaped per RFC 8259.
std::string WriteJson(const JsonValue& value);
// Indented (2 spaces) JSON for people.
std::string WriteJsonPretty(const JsonValue& value);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_JSON_H_
