// JSON text helpers for the CLI (RapidJSON underneath, never exposed).
//
// Numbers are always kept exactly as the user wrote them: re-serializing through
// double would turn 12345678901234567890123 into 1.2345678901234568e22 and
// "1.10" into 1.1, silently changing what an audit log records.
//
//   auto ok = CheckJson(R"({"total": 42})");           // ok
//   auto compact = CompactJson("{\n  \"a\": 1.50\n}");  // "{\"a\":1.50}"
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::cli {

// Why `text` is not exactly one valid JSON value (UTF-8 checked), e.g.
// "invalid JSON at byte 7: Invalid value."; nothing when it is.
std::expected<void, std::string> CheckJson(std::string_view text);
// As CheckJson, and the value must be an object.
std::expected<void, std::string> CheckJsonObject(std::string_view text);

// `text` (one JSON value) without insignificant whitespace, numbers as written.
std::expected<std::string, std::string> CompactJson(std::string_view text);

struct JsonMember {
  std::string name;
  std::string value;  // compact JSON text of the value, numbers as written
};
// The members of the JSON object `text`, in order. Fails when `text` is not
// valid JSON or not an object.
std::expected<std::vector<JsonMember>, std::string> SplitJsonObject(std::string_view text);

// The string denoted by the JSON string literal `json` (e.g. a JsonMember value);
// fails when `json` is not a string.
std::expected<std::string, std::string> JsonStringValue(std::string_view json);

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

}  // namespace cairn::cli
