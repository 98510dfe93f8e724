#include "common/json.h"

#include <gtest/gtest.h>

#include <string>

namespace provledger {
namespace {

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ParseJson, RefusesEachMutant) {
  struct Case {
    const char* desc;
    std::string text;
  };
  const Case cases[] = {
      {"duplicate key", R"({"v":1,"v":1})"},
      {"duplicate key in nested object", R"({"a":{"k":"x","k":"y"}})"},
      {"byte-order mark", "\xEF\xBB\xBF{\"v\":1}"},
      {"leading zero", R"({"v":01})"},
      {"double zero", "00"},
      {"negative", R"({"v":-1})"},
      {"negative zero", "-0"},
      {"fraction", R"({"v":1.0})"},
      {"exponent", R"({"v":1e3})"},
      {"upper-case exponent", "1E3"},
      {"2^53", "9007199254740992"},
      {"far above 2^64", "123456789012345678901234567890"},
      {"plus sign", "+1"},
      {"bad escape", R"(["\x"])"},
      {"truncated unicode escape", R"(["\u12"])"},
      {"non-hex unicode escape", R"(["\u12g4"])"},
      {"lone high surrogate", R"(["\ud83d"])"},
      {"high surrogate then text", R"(["\ud83dx"])"},
      {"high surrogate then non-surrogate", R"(["\ud83d\u0041"])"},
      {"lone low surrogate", R"(["\ude00"])"},
      {"invalid UTF-8 continuation byte", "[\"\x80\"]"},
      {"invalid UTF-8 byte 0xff", "[\"\xff\"]"},
      {"overlong UTF-8 slash", "[\"\xC0\xAF\"]"},
      {"overlong UTF-8 three bytes", "[\"\xE0\x80\xAF\"]"},
      {"UTF-8 encoded surrogate", "[\"\xED\xA0\x80\"]"},
      {"UTF-8 above U+10FFFF", "[\"\xF4\x90\x80\x80\"]"},
      {"truncated UTF-8", "[\"\xE2\x82\"]"},
      {"raw control character", "[\"a\nb\"]"},
      {"raw NUL", std::string("[\"a\0b\"]", 7)},
      {"trailing garbage", R"({"v":1}x)"},
      {"two documents", R"({} {})"},
      {"depth 65", Nested(65)},
      {"depth 65 of objects", std::string(64, '[') + "{}" + std::string(64, ']')},
      {"empty input", ""},
      {"only whitespace", " \n"},
      {"trailing comma in array", "[1,]"},
      {"trailing comma in object", R"({"a":1,})"},
      {"single quotes", "['a']"},
      {"unquoted key", "{a:1}"},
      {"missing colon", R"({"a" 1})"},
      {"unterminated string", R"(["abc)"},
      {"unterminated array", "[1"},
      {"truncated literal", "tru"},
      {"capitalised literal", "True"},
      {"NaN", "NaN"},
      {"comment", "[1]//"},
      {"non-JSON whitespace", "\f[]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.desc);
    auto v = ParseJson(c.text);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find("at byte "), std::string::npos) << v.status().message();
  }
}

TEST(ParseJson, ReportsTheByteOffsetOfTheError) {
  EXPECT_EQ(ParseJson(R"({"v":1,"v":2})").status().message(), "json: repeated key \"v\" at byte 7");
  EXPECT_EQ(ParseJson("[1, 2] x").status().message(),
            "json: trailing characters after the document at byte 7");
  EXPECT_EQ(ParseJson("[01]").status().message(), "json: leading zero not allowed at byte 1");
}

TEST(ParseJson, NamesOurRuleForMalformedNumbers) {
  EXPECT_EQ(ParseJson("[1.]").status().message(),
            "json: fraction or exponent not allowed at byte 2");
  EXPECT_EQ(ParseJson("[-x]").status().message(), "json: negative numbers not allowed at byte 1");
  EXPECT_EQ(ParseJson("[1e]").status().message(),
            "json: fraction or exponent not allowed at byte 2");
}

TEST(ParseJson, ErrorMessagesDoNotEchoTheInput) {
  for (const std::string text : {"[\"\xff\"]", "[\"\xE2\x82\"]", "[\"a\x01\"]", "[tru\xC3\xA9]"}) {
    SCOPED_TRACE(text);
    const Status s = ParseJson(text).status();
    ASSERT_FALSE(s.ok());
    for (const char c : s.message()) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << s.message();
    }
  }
}

TEST(ParseJson, RefusesARepeatedKeyWrittenWithEscapes) {
  EXPECT_EQ(ParseJson(R"({"a":1,"\u0061":2})").status().message(),
            "json: repeated key \"a\" at byte 7");
  EXPECT_EQ(ParseJson(R"({"a\"":1, "a\"":2})").status().message(),
            "json: repeated key \"a\"\" at byte 10");
}

TEST(ParseJson, AcceptsDepth64) {
  auto v = ParseJson(Nested(64));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->is_array());
}

TEST(ParseJson, AcceptsLargestInteger) {
  auto v = ParseJson("9007199254740991");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->int_value(), JsonValue::kMaxInt);
  EXPECT_EQ(ParseJson("0")->int_value(), 0u);
}

TEST(ParseJson, AcceptsLiteralsAndWhitespace) {
  auto v = ParseJson(" \t\r\n[true, false, null] \n");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->items().size(), 3u);
  EXPECT_TRUE(v->items()[0].is_bool());
  EXPECT_TRUE(v->items()[0].bool_value());
  EXPECT_FALSE(v->items()[1].bool_value());
  EXPECT_TRUE(v->items()[2].is_null());
}

TEST(ParseJson, DecodesEscapesAndSurrogatePairs) {
  auto v = ParseJson(R"(["\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00\u0000"])");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->items()[0].string_value(),
            std::string("\"\\/\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\0", 19));
}

TEST(ParseJson, AcceptsRawMultibyteUtf8) {
  const std::string text = "[\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"]";
  auto v = ParseJson(text);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->items()[0].string_value(), text.substr(2, text.size() - 4));
}

TEST(ParseJson, KeepsMembersInDocumentOrder) {
  auto v = ParseJson(R"({"z":1,"a":"x","m":[]})");
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->members().size(), 3u);
  EXPECT_EQ(v->members()[0].first, "z");
  EXPECT_EQ(v->members()[1].first, "a");
  EXPECT_EQ(v->members()[2].first, "m");
}

TEST(WriteJson, RoundTripsGoodDocuments) {
  const char* docs[] = {
      R"({"v":1,"device":"dev-1","eph":"026173a9","nonce":"00","ts":1700000000000})",
      R"({"a":[1,2,{"b":null,"c":[true,false]}],"e":{},"f":[]})",
      R"(["\"\\\b\f\n\r\t\u0001\u001f","/","\u007f","é€😀"])",
      R"(9007199254740991)",
      R"("")",
      R"([[[[[[[[[[{"deep":[]}]]]]]]]]]])",
      "null",
  };
  for (const char* doc : docs) {
    SCOPED_TRACE(doc);
    auto v = ParseJson(doc);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    const std::string written = WriteJson(*v);
    auto again = ParseJson(written);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(WriteJson(*again), written);
  }
}

TEST(WriteJson, WritesCompactCanonicalForm) {
  auto v = ParseJson("{ \"b\" : [ 1 , \"\\u0041\\/\" ] , \"a\" : { } }");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(WriteJson(*v), R"({"b":[1,"A/"],"a":{}})");
}

TEST(WriteJson, EscapesControlCharactersQuotesAndBackslashes) {
  const JsonValue s = JsonValue::String(std::string("q\"b\\n\n\x01\x1f\0", 9));
  EXPECT_EQ(WriteJson(s), R"("q\"b\\n\n\u0001\u001f\u0000")");
}

TEST(WriteJson, BuildsObjectsInInsertionOrder) {
  JsonValue obj;
  obj.Set("v", JsonValue::Int(1));
  obj.Set("chain_id", JsonValue::String("pl-test"));
  JsonValue& list = obj.Set("ids", JsonValue::Array());
  list.Push(JsonValue::String("a"));
  list.Push(JsonValue::Bool(true));
  obj.Set("v", JsonValue::Int(2));  // replaces, keeps the first position
  EXPECT_EQ(WriteJson(obj), R"({"v":2,"chain_id":"pl-test","ids":["a",true]})");
}

TEST(WriteJsonPretty, IndentsWithTwoSpaces) {
  auto v = ParseJson(R"({"a":[1,{}],"b":{"c":null},"d":[]})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(WriteJsonPretty(*v),
            "{\n"
            "  \"a\": [\n"
            "    1,\n"
            "    {}\n"
            "  ],\n"
            "  \"b\": {\n"
            "    \"c\": null\n"
            "  },\n"
            "  \"d\": []\n"
            "}");
  EXPECT_EQ(WriteJson(*ParseJson(WriteJsonPretty(*v))), WriteJson(*v));
}

TEST(JsonValue, TypedAccessorsNameTheMissingOrMistypedKey) {
  auto v = ParseJson(R"({"s":"x","n":7,"a":[1],"o":{"k":1}})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v->GetString("s"), "x");
  EXPECT_EQ(*v->GetInt("n"), 7u);
  EXPECT_EQ((*v->GetArray("a"))->items().size(), 1u);
  EXPECT_NE((*v->GetObject("o"))->Find("k"), nullptr);
  EXPECT_EQ(v->Find("absent"), nullptr);

  const Status missing = v->GetString("absent").status();
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find("\"absent\""), std::string::npos) << missing.message();
  const Status mistyped = v->GetInt("s").status();
  EXPECT_EQ(mistyped.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mistyped.message().find("\"s\""), std::string::npos) << mistyped.message();
  EXPECT_FALSE(v->GetObject("a").ok());
  EXPECT_FALSE(v->GetArray("o").ok());
}

TEST(ParseJsonNumberMember, ReturnsAnyJsonNumberOfTheTopLevelMember) {
  EXPECT_EQ(*ParseJsonNumberMember(R"({"value":21.5})", "value"), 21.5);
  EXPECT_EQ(*ParseJsonNumberMember(R"({"value":-1e3})", "value"), -1000.0);
  EXPECT_EQ(*ParseJsonNumberMember(R"({"value":0})", "value"), 0.0);
  EXPECT_EQ(*ParseJsonNumberMember(R"({"v":[1.5,{"x":-2}],"value":3,"u":"\u00e9"})", "value"), 3.0);
  EXPECT_EQ(*ParseJsonNumberMember(R"({"value":12345678901234567890123})", "value"),
            1.2345678901234568e22);
  EXPECT_EQ(*ParseJsonNumberMember(" {\"t\":\"x\", \"value\" : 2E-1 }\n", "value"), 0.2);
}

TEST(ParseJsonNumberMember, NamesANumberTooLargeForADouble) {
  const Status s = ParseJsonNumberMember(R"({"t":1e999,"value":1})", "value").status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "json: number overflow parsing '1e999' at byte 9");
}

TEST(ParseJsonNumberMember, TellsAbsentFromRefused) {
  EXPECT_EQ(ParseJsonNumberMember(R"({"t":1})", "value").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ParseJsonNumberMember(R"({"a":{"value":1}})", "value").status().code(),
            StatusCode::kNotFound);
  const std::string refused[] = {
      R"({"value":"1"})",          // not a number
      R"({"value":null})",         //
      R"({"value":[1]})",          //
      R"({"value":1e999})",        // not finite
      R"([1])",                    // not an object
      "1.5",                       //
      R"({"value":1,"value":2})",  // the strict rules still hold
      R"({"value":1,"a":{"k":1,"k":2}})",
      "\xEF\xBB\xBF{\"value\":1}",
      R"({"value":1} x)",
      R"({"value":01})",
      R"({"value":1.})",
      R"({"value":NaN})",
      "{\"value\":1,\"s\":\"\xff\"}",
      std::string(65, '[') + std::string(65, ']'),
  };
  for (const std::string& text : refused) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ParseJsonNumberMember(text, "value").status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace provledger
