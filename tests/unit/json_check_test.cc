// The store's JSON check on append (store/json.cc): a fast scan that vouches for
// the common case and hands everything else to RapidJSON. It must never accept
// what RapidJSON refuses, must accept what services append, and must refuse
// nesting deeper than kMaxJsonDepth without overflowing the stack.
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <random>
#include <string>
#include <vector>

#include "json.h"
#include "test_util.h"

namespace cairn_test {
namespace {

using cairn::detail::kMaxJsonDepth;
using cairn::detail::ValidateJson;

// The reference: RapidJSON's own recursive parser with the flags the store has
// always used, the whole text consumed, and the nesting limit.
bool ReferenceAccepts(const std::string& text) {
  if (text.find('\0') != std::string::npos) return false;
  struct Handler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Handler> {};
  // Bounded: a StringStream reads past the terminator while validating a
  // truncated UTF-8 sequence at the end.
  rapidjson::MemoryStream stream(text.data(), text.size());
  Handler handler;
  rapidjson::Reader reader;
  if (!reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseStopWhenDoneFlag>(stream, handler)) {
    return false;
  }
  if (text.find_first_not_of(" \t\r\n", stream.Tell()) != std::string::npos) return false;
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest <= kMaxJsonDepth;
}

std::string Nested(std::size_t depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

const std::vector<std::string> kValid = {
    R"({"order_id":"ord-100001","lines":[{"sku":"SKU-1","qty":2,"unit_cents":599}],"total_cents":1198})",
    R"({"correlation_id":"0a1b2c3d-0000-7000-8000-000000000000","actor":"bench"})",
    R"( { "a" : [ 1 , -2.5 , 0 , -0 , 0.125 , true , false , null , "" , { } , [ ] ] } )",
    "\t\r\n[1,2,3]\n",
    R"("escapes \" \\ \/ \b \f \n \r \t \u00e9 \u20AC")",
    R"({"surrogate pair":"\ud83d\ude00"})",
    "{\"name\":\"Zoë — 東京 🚀\"}",
    R"(1e10)", R"(-1.5E-3)", R"(12345678901234567890123)", "0", "\"\"", "true", "null",
    R"({"deep":{"er":{"est":[[[["x"]]]]}}})",
    R"({"\u0000 in a key":"is escaped, so valid"})",
    "\"\x7f delete is printable enough for JSON\"",
};

const std::vector<std::string> kInvalid = {
    "", " ", "{", "}", "[1,]", "[,1]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "[1 2]", "01", "-", "1.",
    ".5", "+1", "1e", "1e+", "tru", "nul", "True", "\"unterminated", "\"bad escape \\x\"", "\"\\u12G4\"",
    "\"lone surrogate \\ud800\"", "\"tab\tinside\"", "\"new\nline\"",
    std::string("\"nul\0inside\"", 12), std::string("[1]\0", 4), "[1] [2]", "{\"a\":1}}", "[[1]", "\"\xff\"",
    "\"\xc3\x28\"", "\"\xed\xa0\x80 encoded surrogate\"", "\"\xc0\xaf overlong\"", "1e400", "-1e400", "NaN",
    "Infinity", "[1,2,3", "{\"a\":[}", "\"\\\"",
};

TEST_CASE("the JSON check accepts what services append", "[unit][json]") {
  for (const std::string& text : kValid) {
    INFO(text);
    CHECK(ReferenceAccepts(text));
    CAIRN_CHECK_OK(ValidateJson(text, "data"));
  }
  CAIRN_CHECK_OK(ValidateJson(Nested(kMaxJsonDepth), "data"));
}

TEST_CASE("the JSON check refuses what RapidJSON refuses, naming the byte", "[unit][json]") {
  for (const std::string& text : kInvalid) {
    INFO(text);
    CHECK_FALSE(ReferenceAccepts(text));
    auto checked = ValidateJson(text, "data");
    REQUIRE_FALSE(checked);
    CHECK(checked.error().code() == cairn::ErrorCode::kInvalidArgument);
    CHECK(checked.error().message().starts_with("data "));
  }
  auto checked = ValidateJson("[1,]", "data");
  REQUIRE_FALSE(checked);
  CHECK(checked.error().message() == "data is not valid JSON at byte 3: Invalid value.");
}

TEST_CASE("nesting deeper than the limit is refused, however deep, without a crash", "[unit][json]") {
  for (std::size_t depth : {kMaxJsonDepth + 1, std::size_t{10'000}, std::size_t{1'000'000}}) {
    INFO(depth);
    auto checked = ValidateJson(Nested(depth), "data");
    REQUIRE_FALSE(checked);
    CHECK(checked.error().message() == "data nests arrays and objects more than 512 levels deep (at byte 512)");
  }
  // Also when the fast scan stops early (a non-ASCII string first) and RapidJSON decides.
  std::string objects = "{\"é\":0,\"a\":" ;
  for (std::size_t i = 0; i < kMaxJsonDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kMaxJsonDepth + 1, '}');
  auto checked = ValidateJson(objects, "data");
  REQUIRE_FALSE(checked);
  CHECK(checked.error().message().find("more than 512 levels deep") != std::string::npos);
  // Unclosed and deep: still no crash, still refused.
  CHECK_FALSE(ValidateJson(std::string(2'000'000, '['), "data"));
}

TEST_CASE("the JSON check finds a special byte at every place of a long string", "[unit][json]") {
  // Wherever the byte sits, the fast scan and RapidJSON agree about it.
  for (const std::string special : {"\"", "\\", "\\q", "\x01", "\x1f", "\x7f", "\x80", "\xc3\xa9", "\xff"}) {
    for (std::size_t at = 0; at <= 24; ++at) {
      std::string text = "[\"" + std::string(at, 'a') + special + std::string(24 - at, 'b') + "\"]";
      INFO("special byte(s) " << static_cast<int>(static_cast<unsigned char>(special[0])) << " at " << at);
      CHECK(static_cast<bool>(ValidateJson(text, "data")) == ReferenceAccepts(text));
    }
  }
}

TEST_CASE("the JSON check agrees with RapidJSON on 200,000 mutated documents", "[unit][json]") {
  std::mt19937 random(20261123);
  const std::string alphabet = "{}[]\",:\\/ \t\n0123456789.-+eEtrufalsn\x7f\xc3\xa9\xe2\x82\xac\xed\xa0\x80\xff\x01u";
  std::vector<std::string> seeds = kValid;
  seeds.push_back(Nested(kMaxJsonDepth - 1, R"({"a":[1,"b",{"c":null}]})"));
  std::size_t accepted = 0;
  for (int round = 0; round < 200'000; ++round) {
    std::string text = seeds[random() % seeds.size()];
    const int mutations = 1 + static_cast<int>(random() % 3);
    for (int m = 0; m < mutations; ++m) {
      const std::size_t at = text.empty() ? 0 : random() % text.size();
      switch (random() % 4) {
        case 0: if (!text.empty()) text[at] = alphabet[random() % alphabet.size()]; break;
        case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), alphabet[random() % alphabet.size()]); break;
        case 2: if (!text.empty()) text.erase(at, 1 + random() % 3); break;
        case 3: text = text.substr(0, at); break;
      }
    }
    const bool expected = ReferenceAccepts(text);
    const bool actual = static_cast<bool>(ValidateJson(text, "data"));
    if (expected != actual) {
      INFO("text: " << text);
      REQUIRE(actual == expected);
    }
    accepted += actual ? 1 : 0;
  }
  // Both outcomes were exercised many times.
  CHECK(accepted > 10'000);
  CHECK(accepted < 190'000);
}

}  // namespace
}  // namespace cairn_test
