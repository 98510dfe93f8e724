#include "common/json.h"

#include <cassert>
#include <set>
#include <string_view>

namespace provledger {

// ---------------------------------------------------------------------------------------------
// JsonValue

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Int(uint64_t i) {
  JsonValue v;
  v.type_ = Type::kInt;
  v.int_ = i;
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.type_ = Type::kString;
  v.str_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.type_ = Type::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object() {
  JsonValue v;
  v.type_ = Type::kObject;
  return v;
}

const JsonValue* JsonValue::Find(const std::string& key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

JsonValue& JsonValue::Set(const std::string& key, JsonValue value) {
  if (type_ != Type::kObject) *this = Object();
  for (auto& m : members_) {
    if (m.first == key) {
      m.second = std::move(value);
      return m.second;
    }
  }
  members_.emplace_back(key, std::move(value));
  return members_.back().second;
}

void JsonValue::Push(JsonValue value) {
  if (type_ != Type::kArray) *this = Array();
  items_.push_back(std::move(value));
}

namespace {

const char* TypeName(JsonValue::Type t) {
  switch (t) {
    case JsonValue::Type::kNull:
      return "null";
    case JsonValue::Type::kBool:
      return "a boolean";
    case JsonValue::Type::kInt:
      return "an integer";
    case JsonValue::Type::kString:
      return "a string";
    case JsonValue::Type::kArray:
      return "an array";
    case JsonValue::Type::kObject:
      return "an object";
    default:
      return "?";
  }
}

// Finds `key` in `obj` and checks its type; kInvalidArgument naming the key otherwise.
StatusOr<const JsonValue*> Member(const JsonValue& obj, const std::string& key,
                                  JsonValue::Type want) {
  if (!obj.is_object())
    return InvalidArgumentError("json: not an object looking up \"" + key + "\"");
  const JsonValue* v = obj.Find(key);
  if (v == nullptr) return InvalidArgumentError("json: missing member \"" + key + "\"");
  if (v->type() != want) {
    return InvalidArgumentError("json: member \"" + key + "\" is " + TypeName(v->type()) +
                                ", want " + TypeName(want));
  }
  return v;
}

}  // namespace

StatusOr<std::string> JsonValue::GetString(const std::string& key) const {
  PL_ASSIGN_OR_RETURN(const JsonValue* v, Member(*this, key, Type::kString));
  return v->string_value();
}

StatusOr<uint64_t> JsonValue::GetInt(const std::string& key) const {
  PL_ASSIGN_OR_RETURN(const JsonValue* v, Member(*this, key, Type::kInt));
  return v->int_value();
}

StatusOr<const JsonValue*> JsonValue::GetArray(const std::string& key) const {
  return Member(*this, key, Type::kArray);
}

StatusOr<const JsonValue*> JsonValue::GetObject(const std::string& key) const {
  return Member(*this, key, Type::kObject);
}

// ---------------------------------------------------------------------------------------------
// Parser

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  StatusOr<JsonValue> ParseDocument() {
    if (text_.size() >= 3 && text_.substr(0, 3) == "\xEF\xBB\xBF") {
      return Error("byte-order mark not allowed");
    }
    JsonValue v;
    PL_RETURN_IF_ERROR(ParseValue(0, &v));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("trailing characters after the document");
    return v;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError("json: " + what + " at byte " + std::to_string(pos_));
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  unsigned char Peek() const { return static_cast<unsigned char>(text_[pos_]); }

  void SkipWhitespace() {
    while (!AtEnd()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  Status ExpectLiteral(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return Error("invalid literal");
    pos_ += word.size();
    return OkStatus();
  }

  // `depth` counts the arrays and objects enclosing this value.
  Status ParseValue(int depth, JsonValue* out) {
    SkipWhitespace();
    if (AtEnd()) return Error("unexpected end of input");
    const unsigned char c = Peek();
    switch (c) {
      case '{':
        return ParseObject(depth + 1, out);
      case '[':
        return ParseArray(depth + 1, out);
      case '"': {
        std::string s;
        PL_RETURN_IF_ERROR(ParseString(&s));
        *out = JsonValue::String(std::move(s));
        return OkStatus();
      }
      case 't':
        PL_RETURN_IF_ERROR(ExpectLiteral("true"));
        *out = JsonValue::Bool(true);
        return OkStatus();
      case 'f':
        PL_RETURN_IF_ERROR(ExpectLiteral("false"));
        *out = JsonValue::Bool(false);
        return OkStatus();
      case 'n':
        PL_RETURN_IF_ERROR(ExpectLiteral("null"));
        *out = JsonValue();
        return OkStatus();
      case '-':
        return Error("negative numbers not allowed");
      default:
        if (c >= '0' && c <= '9') return ParseInt(out);
        return Error("unexpected character");
    }
  }

  Status ParseInt(JsonValue* out) {
    const size_t start = pos_;
    uint64_t v = 0;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
      if (pos_ > start && text_[start] == '0') {
        pos_ = start;
        return Error("leading zero not allowed");
      }
      const uint64_t digit = Peek() - '0';
      if (v > (JsonValue::kMaxInt - digit) / 10) {
        pos_ = start;
        return Error("integer above 2^53-1");
      }
      v = v * 10 + digit;
      ++pos_;
    }
    if (!AtEnd() && (Peek() == '.' || Peek() == 'e' || Peek() == 'E')) {
      return Error("fraction or exponent not allowed");
    }
    *out = JsonValue::Int(v);
    return OkStatus();
  }

  Status ParseHex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return Error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_];
      uint32_t d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return Error("bad hex digit in \\u escape");
      }
      v = (v << 4) | d;
      ++pos_;
    }
    *out = v;
    return OkStatus();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // At the byte after a backslash-u: reads one code point, joining a surrogate pair.
  Status ParseUnicodeEscape(std::string* out) {
    const size_t start = pos_ - 2;
    uint32_t cp;
    PL_RETURN_IF_ERROR(ParseHex4(&cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      pos_ = start;
      return Error("lone low surrogate in \\u escape");
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") {
        pos_ = start;
        return Error("lone high surrogate in \\u escape");
      }
      pos_ += 2;
      uint32_t low;
      PL_RETURN_IF_ERROR(ParseHex4(&low));
      if (low < 0xDC00 || low > 0xDFFF) {
        pos_ = start;
        return Error("high surrogate not followed by a low surrogate");
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(cp, out);
    return OkStatus();
  }

  // At a byte >= 0x80: copies one well-formed UTF-8 sequence (RFC 3629: no overlong forms,
  // no surrogates, nothing above U+10FFFF).
  Status CopyUtf8(std::string* out) {
    const unsigned char b0 = Peek();
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return Error("invalid UTF-8");
    }
    if (text_.size() - pos_ < len) return Error("truncated UTF-8 sequence");
    for (size_t i = 1; i < len; ++i) {
      const auto b = static_cast<unsigned char>(text_[pos_ + i]);
      const unsigned char min = i == 1 ? lo : 0x80;
      const unsigned char max = i == 1 ? hi : 0xBF;
      if (b < min || b > max) return Error("invalid UTF-8");
    }
    out->append(text_.substr(pos_, len));
    pos_ += len;
    return OkStatus();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    for (;;) {
      if (AtEnd()) return Error("unterminated string");
      const unsigned char c = Peek();
      if (c == '"') {
        ++pos_;
        return OkStatus();
      }
      if (c < 0x20) return Error("control character in string");
      if (c >= 0x80) {
        PL_RETURN_IF_ERROR(CopyUtf8(out));
        continue;
      }
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (AtEnd()) return Error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u':
          PL_RETURN_IF_ERROR(ParseUnicodeEscape(out));
          break;
        default:
          pos_ -= 2;
          return Error("invalid escape");
      }
    }
  }

  Status ParseArray(int depth, JsonValue* out) {
    if (depth > kMaxDepth) return Error("nesting deeper than 64");
    ++pos_;  // '['
    JsonValue arr = JsonValue::Array();
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = std::move(arr);
      return OkStatus();
    }
    for (;;) {
      JsonValue item;
      PL_RETURN_IF_ERROR(ParseValue(depth, &item));
      arr.Push(std::move(item));
      SkipWhitespace();
      if (AtEnd()) return Error("unterminated array");
      const char c = text_[pos_];
      if (c == ']') {
        ++pos_;
        *out = std::move(arr);
        return OkStatus();
      }
      if (c != ',') return Error("expected ',' or ']'");
      ++pos_;
    }
  }

  Status ParseObject(int depth, JsonValue* out) {
    if (depth > kMaxDepth) return Error("nesting deeper than 64");
    ++pos_;  // '{'
    JsonValue obj = JsonValue::Object();
    std::set<std::string> seen;
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = std::move(obj);
      return OkStatus();
    }
    for (;;) {
      SkipWhitespace();
      if (AtEnd() || Peek() != '"') return Error("expected a string key");
      const size_t key_pos = pos_;
      std::string key;
      PL_RETURN_IF_ERROR(ParseString(&key));
      if (!seen.insert(key).second) {
        pos_ = key_pos;
        return Error("repeated key \"" + key + "\"");
      }
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return Error("expected ':'");
      ++pos_;
      JsonValue value;
      PL_RETURN_IF_ERROR(ParseValue(depth, &value));
      obj.Set(key, std::move(value));
      SkipWhitespace();
      if (AtEnd()) return Error("unterminated object");
      const char c = text_[pos_];
      if (c == '}') {
        ++pos_;
        *out = std::move(obj);
        return OkStatus();
      }
      if (c != ',') return Error("expected ',' or '}'");
      ++pos_;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Writer

void WriteString(const std::string& s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

// `indent` < 0: compact. Otherwise the current indentation level, 2 spaces each.
void Write(const JsonValue& v, int indent, std::string* out) {
  const bool pretty = indent >= 0;
  auto newline = [&](int level) {
    out->push_back('\n');
    out->append(static_cast<size_t>(2 * level), ' ');
  };
  switch (v.type()) {
    case JsonValue::Type::kNull:
      out->append("null");
      break;
    case JsonValue::Type::kBool:
      out->append(v.bool_value() ? "true" : "false");
      break;
    case JsonValue::Type::kInt:
      // Above kMaxInt is the caller's bug; a reader following PROTOCOL.md refuses it.
      assert(v.int_value() <= JsonValue::kMaxInt);
      out->append(std::to_string(v.int_value()));
      break;
    case JsonValue::Type::kString:
      WriteString(v.string_value(), out);
      break;
    case JsonValue::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const JsonValue& item : v.items()) {
        if (!first) out->push_back(',');
        first = false;
        if (pretty) newline(indent + 1);
        Write(item, pretty ? indent + 1 : -1, out);
      }
      if (pretty && !v.items().empty()) newline(indent);
      out->push_back(']');
      break;
    }
    case JsonValue::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& m : v.members()) {
        if (!first) out->push_back(',');
        first = false;
        if (pretty) newline(indent + 1);
        WriteString(m.first, out);
        out->append(pretty ? ": " : ":");
        Write(m.second, pretty ? indent + 1 : -1, out);
      }
      if (pretty && !v.members().empty()) newline(indent);
      out->push_back('}');
      break;
    }
  }
}

}  // namespace

StatusOr<JsonValue> ParseJson(std::string_view text) { return Parser(text).ParseDocument(); }

std::string WriteJson(const JsonValue& value) {
  std::string out;
  Write(value, -1, &out);
  return out;
}

std::string WriteJsonPretty(const JsonValue& value) {
  std::string out;
  Write(value, 0, &out);
  return out;
}

}  // namespace provledger
