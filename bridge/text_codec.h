// Internal: the text codecs of the bridge's envelopes — strict JSON scanning
// that keeps values byte-exact, ISO-8601 timestamps, base64 and UTF-8 checks.
// RapidJSON stays behind this header.
//
// Numbers are never re-serialized: a JSON value is handed on as the bytes it
// was written in, so 12345678901234567890123 and 1.10 reach Kafka as they
// were appended (the CLI does the same, tools/cairn/json_text.h).
//
//   auto members = cairn::detail::ScanJsonObject(R"({"a": {"b": 1}})");
//   // (*members)[0].name == "a", its value's bytes: text.substr(begin, end - begin) == R"({"b": 1})"
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"

namespace cairn::detail {

// Why `text` is not exactly one valid JSON value (UTF-8 checked, whitespace
// around it allowed), e.g. "not valid JSON at byte 7: Invalid value."; nothing when it is.
std::expected<void, std::string> CheckJsonText(std::string_view text);

// `text` without the JSON whitespace (space, tab, CR, LF) at its ends.
std::string_view TrimJsonSpace(std::string_view text);

enum class JsonKind : std::uint8_t { kNull, kBoolean, kNumber, kString, kObject, kArray };

// "null", "a boolean", "a number", "a string", "an object", "an array".
std::string_view JsonKindName(JsonKind kind);

// One member of a JSON object.
struct JsonMember {
  std::string name;  // unescaped
  JsonKind kind = JsonKind::kNull;
  // kString: the string, unescaped. kNumber: the number as written. kBoolean: "true" or "false".
  std::string scalar;
  // The value's bytes in the scanned text: [begin, end), from its first to its last byte.
  std::size_t begin = 0;
  std::size_t end = 0;
};

// The members of the JSON object `text`, in order (duplicates included). Fails
// when `text` is not valid JSON (as CheckJsonText) or not an object. Parses
// iteratively: deep nesting cannot exhaust the stack.
std::expected<std::vector<JsonMember>, std::string> ScanJsonObject(std::string_view text);

// "2025-01-31T10:00:00.123456Z": always UTC, always six fractional digits.
// `unix_us` must lie within years 0001 to 9999 (see IsFormattableTimestamp).
std::string FormatIsoTimestamp(std::int64_t unix_us);
bool IsFormattableTimestamp(std::int64_t unix_us);
// An RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS, optionally 1 to 6 fractional
// digits, then Z or an offset (+HH:MM / -HH:MM). Microseconds since the epoch, UTC.
std::expected<std::int64_t, std::string> ParseIsoTimestamp(std::string_view text);

// Standard base64 (RFC 4648 section 4) with padding.
std::string Base64Encode(std::string_view bytes);
// Strict: only the standard alphabet, padded to a multiple of 4, no whitespace,
// and unused bits zero — so each byte string has exactly one accepted encoding.
std::expected<std::string, std::string> Base64Decode(std::string_view text);

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates).
bool IsValidUtf8(std::string_view text);

}  // namespace cairn::detail
