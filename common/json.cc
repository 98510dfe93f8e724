#include "common/json.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
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
// Parser: nlohmann/json's lexer and SAX parser, with our rules in the handler.

namespace {

constexpr int kMaxDepth = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNumberChar(char c) {
  return IsDigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// An input iterator over the text that publishes, through `cursor`, how far nlohmann's lexer
// has read. The lexer reads one byte past a number and then holds it back, so after a number
// the cursor may be one byte ahead of the token's end.
class CountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator(const char* p, const char** cursor) : p_(p), cursor_(cursor) {}
  reference operator*() const { return *p_; }
  CountingIterator& operator++() {
    *cursor_ = ++p_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const CountingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const CountingIterator& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  const char** cursor_;
};

// Builds the JsonValue from SAX events and refuses what the header's rules refuse and
// nlohmann accepts: repeated keys, nesting deeper than 64 and (unless `any_numbers`) every
// number but an integer in 0 .. 2^53-1. The first error is kept in error().
//
// With `any_numbers`, numbers are kept as null in the tree, and the number given to the
// top-level member `member` (when the document is an object) is kept as a double.
class Handler {
 public:
  Handler(std::string_view text, bool any_numbers, const std::string* member)
      : text_(text), cursor_(text.data()), any_numbers_(any_numbers), member_(member) {}

  const char** cursor() { return &cursor_; }
  JsonValue& root() { return root_; }
  const Status& error() const { return error_; }
  size_t end() const { return end_; }
  bool member_seen() const { return member_seen_; }
  const std::optional<double>& member_number() const { return member_number_; }

  // The SAX interface (nlohmann::json_sax). Returning false stops the parse.
  bool null() { return Put(JsonValue()); }
  bool boolean(bool b) { return Put(JsonValue::Bool(b)); }
  bool number_integer(nlohmann::json::number_integer_t v) { return Number(static_cast<double>(v)); }
  bool number_unsigned(nlohmann::json::number_unsigned_t v) {
    return Number(static_cast<double>(v));
  }
  bool number_float(nlohmann::json::number_float_t v, const std::string& /*raw*/) {
    return Number(v);
  }
  // A copy, not a move: the lexer keeps its buffer's capacity for the next string (fewer
  // instructions on every document of tools/bench/json_bench).
  bool string(std::string& s) { return Put(JsonValue::String(s)); }
  bool binary(nlohmann::json::binary_t& /*b*/) { return Fail(Consumed(), "binary value"); }
  bool start_object(size_t /*size*/) { return Open(JsonValue::Object()); }
  bool start_array(size_t /*size*/) { return Open(JsonValue::Array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(std::string& k) {
    JsonValue& obj = *stack_.back();
    const size_t before = obj.members().size();
    JsonValue& slot = obj.Set(k, JsonValue());
    if (obj.members().size() == before) return Fail(KeyStart(), "repeated key \"" + k + "\"");
    slot_ = &slot;
    if (member_ != nullptr && stack_.size() == 1 && k == *member_) {
      member_seen_ = true;
      capture_next_ = true;
    }
    return true;
  }

  bool parse_error(size_t position, const std::string& last_token,
                   const nlohmann::json::exception& ex) {
    // A malformed number ("1.", "-x", "1e"): our own rule names what is wrong with it.
    // (nlohmann restarts `last_token` at strings and numbers only, so check the text too.)
    const size_t b = NumberStart();
    if (!any_numbers_ && !last_token.empty() && (last_token[0] == '-' || IsDigit(last_token[0])) &&
        b < text_.size() && (text_[b] == '-' || IsDigit(text_[b]))) {
      uint64_t v;
      size_t end;
      Status s = StrictInt(b, &v, &end);
      if (!s.ok()) {
        error_ = std::move(s);
        return false;
      }
    }
    // "[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while
    // parsing value - invalid literal; last read: 'tru'" or "[json.exception.out_of_range.406]
    // number overflow parsing '1e999'": keep what follows the id and the location, without
    // the echo of the input (it may hold any bytes).
    std::string what = ex.what();
    const size_t id_end = what.find("] ");
    if (!what.empty() && what[0] == '[' && id_end != std::string::npos) what.erase(0, id_end + 2);
    if (what.rfind("parse error", 0) == 0) {
      const size_t colon = what.find(": ");
      if (colon != std::string::npos) what.erase(0, colon + 2);
    }
    const std::string echo = "; last read: '" + last_token + "'";
    const size_t at = what.find(echo);
    if (at != std::string::npos) what.erase(at, echo.size());
    // `position` counts the bytes read, the one that failed (or the end of input) included.
    return Fail(std::min(position > 0 ? position - 1 : 0, text_.size()), what);
  }

 private:
  size_t Consumed() const { return static_cast<size_t>(cursor_ - text_.data()); }

  bool Fail(size_t pos, const std::string& what) {
    error_ = InvalidArgumentError("json: " + what + " at byte " + std::to_string(pos));
    return false;
  }

  // Where the next value goes: the root, a new array item or the member key() made.
  JsonValue* NextSlot() {
    capture_next_ = false;
    if (stack_.empty()) return &root_;
    JsonValue* top = stack_.back();
    if (top->is_array()) {
      top->mutable_items().emplace_back();
      return &top->mutable_items().back();
    }
    return slot_;
  }

  bool Put(JsonValue v) {
    *NextSlot() = std::move(v);
    end_ = Consumed();
    return true;
  }

  bool Open(JsonValue v) {
    if (stack_.size() >= kMaxDepth) return Fail(Consumed() - 1, "nesting deeper than 64");
    JsonValue* slot = NextSlot();
    *slot = std::move(v);
    stack_.push_back(slot);
    return true;
  }

  bool Close() {
    stack_.pop_back();
    end_ = Consumed();
    return true;
  }

  bool Number(double v) {
    if (any_numbers_) {
      const bool wanted = capture_next_;
      Put(JsonValue());
      if (wanted) member_number_ = v;
      size_t e = NumberStart();
      while (e < text_.size() && IsNumberChar(text_[e])) ++e;
      end_ = e;
      return true;
    }
    uint64_t i;
    size_t end;
    Status s = StrictInt(NumberStart(), &i, &end);
    if (!s.ok()) {
      error_ = std::move(s);
      return false;
    }
    Put(JsonValue::Int(i));
    end_ = end;
    return true;
  }

  // The first byte of the number token the lexer just read: back over the byte it held
  // back, if any, then over the number's bytes (a number follows '[', ',', ':', whitespace
  // or the start).
  size_t NumberStart() const {
    size_t e = Consumed();
    if (e > 0 && !IsNumberChar(text_[e - 1])) --e;
    while (e > 0 && IsNumberChar(text_[e - 1])) --e;
    return e;
  }

  // The opening quote of the key string the lexer just read (the cursor is past its closing
  // quote): the nearest quote before that is not escaped by an odd run of backslashes.
  size_t KeyStart() const {
    size_t j = Consumed() - 1;
    while (j-- > 0) {
      if (text_[j] != '"') continue;
      size_t backslashes = 0;
      while (backslashes < j && text_[j - 1 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2 == 0) return j;
    }
    return 0;
  }

  // The number token at `b` under our rule: digits only, no leading zero, at most 2^53-1.
  Status StrictInt(size_t b, uint64_t* value, size_t* end) const {
    auto error = [](size_t pos, const char* what) {
      return InvalidArgumentError(std::string("json: ") + what + " at byte " + std::to_string(pos));
    };
    if (b >= text_.size()) return error(b, "unexpected end of input");
    if (text_[b] == '-') return error(b, "negative numbers not allowed");
    if (!IsDigit(text_[b])) return error(b, "unexpected character");
    size_t i = b;
    uint64_t v = 0;
    for (; i < text_.size() && IsDigit(text_[i]); ++i) {
      if (i > b && text_[b] == '0') return error(b, "leading zero not allowed");
      const uint64_t digit = text_[i] - '0';
      if (v > (JsonValue::kMaxInt - digit) / 10) return error(b, "integer above 2^53-1");
      v = v * 10 + digit;
    }
    if (i < text_.size() && (text_[i] == '.' || text_[i] == 'e' || text_[i] == 'E')) {
      return error(i, "fraction or exponent not allowed");
    }
    *value = v;
    *end = i;
    return OkStatus();
  }

  std::string_view text_;
  const char* cursor_;
  const bool any_numbers_;
  const std::string* const member_;
  JsonValue root_;
  std::vector<JsonValue*> stack_;  // the open arrays and objects, outermost first
  JsonValue* slot_ = nullptr;      // the member value key() made in the innermost object
  size_t end_ = 0;                 // the end of the last value read
  bool capture_next_ = false;      // the next value is the top-level `member_`
  bool member_seen_ = false;
  std::optional<double> member_number_;
  Status error_;
};

// Runs nlohmann's parser over the whole of `text` with `handler`; then only JSON
// whitespace may follow the document.
Status Run(std::string_view text, Handler* handler) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") {
    return InvalidArgumentError("json: byte-order mark not allowed at byte 0");
  }
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  bool ok;
  try {
    // With a SAX handler nlohmann reports errors through parse_error(); the catch keeps the
    // promise that nothing throws past this file should a later version throw anyway.
    ok = nlohmann::json::sax_parse(CountingIterator(begin, handler->cursor()),
                                   CountingIterator(end, handler->cursor()), handler,
                                   nlohmann::json::input_format_t::json, /*strict=*/false,
                                   /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(std::string("json: ") + e.what() + " at byte 0");
  }
  if (!ok) {
    if (!handler->error().ok()) return handler->error();
    return InvalidArgumentError("json: parse failed at byte 0");
  }
  size_t pos = handler->end();
  while (pos < text.size() &&
         (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) {
    ++pos;
  }
  if (pos != text.size()) {
    return InvalidArgumentError("json: trailing characters after the document at byte " +
                                std::to_string(pos));
  }
  return OkStatus();
}

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

StatusOr<JsonValue> ParseJson(std::string_view text) {
  Handler handler(text, /*any_numbers=*/false, nullptr);
  PL_RETURN_IF_ERROR(Run(text, &handler));
  return std::move(handler.root());
}

StatusOr<double> ParseJsonNumberMember(std::string_view text, const std::string& key) {
  Handler handler(text, /*any_numbers=*/true, &key);
  PL_RETURN_IF_ERROR(Run(text, &handler));
  if (!handler.root().is_object()) return InvalidArgumentError("json: not an object");
  if (!handler.member_seen()) return NotFoundError("json: missing member \"" + key + "\"");
  const std::optional<double>& v = handler.member_number();
  if (!v || !std::isfinite(*v)) {
    return InvalidArgumentError("json: member \"" + key + "\" is not a finite number");
  }
  return *v;
}

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
