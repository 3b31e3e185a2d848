#include "text_codec.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <array>
#include <chrono>
#include <cstdio>

namespace cairn::detail {
namespace {

// Strict JSON: valid UTF-8, no comments, NaN or trailing commas; iterative, so
// deep nesting cannot overflow the stack; numbers handed over as their text.
constexpr unsigned kParseFlags =
    rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;

struct NullHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, NullHandler> {};

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Runs the reader over `text` with `handler`; the error names the byte offset.
template <class Handler>
std::expected<void, std::string> Parse(std::string_view text, Handler& handler, rapidjson::MemoryStream& stream) {
  // A NUL would end the stream early and hide whatever follows it.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return std::unexpected("not valid JSON: NUL byte at byte " + std::to_string(nul));
  }
  rapidjson::Reader reader;
  rapidjson::ParseResult result = reader.Parse<kParseFlags>(stream, handler);
  if (!result) {
    return std::unexpected("not valid JSON at byte " + std::to_string(result.Offset()) + ": " +
                           rapidjson::GetParseError_En(result.Code()));
  }
  return {};
}

// Cuts a JSON object into its members. The (iterative) reader calls a scalar's
// handler just past the scalar, and EndObject / EndArray just before their
// closing bracket: so a value ends at stream.Tell(), or one byte after it.
class MemberScanner : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, MemberScanner> {
 public:
  MemberScanner(std::string_view text, const rapidjson::MemoryStream& stream) : text_(text), stream_(stream) {}

  bool Null() { return Scalar(JsonKind::kNull, {}); }
  bool Bool(bool value) { return Scalar(JsonKind::kBoolean, value ? "true" : "false"); }
  bool RawNumber(const Ch* text, rapidjson::SizeType length, bool /*copy*/) {
    return Scalar(JsonKind::kNumber, std::string_view(text, length));
  }
  bool String(const Ch* text, rapidjson::SizeType length, bool /*copy*/) {
    return Scalar(JsonKind::kString, std::string_view(text, length));
  }
  bool StartObject() { return Open(JsonKind::kObject); }
  bool Key(const Ch* text, rapidjson::SizeType length, bool /*copy*/) {
    if (depth_ == 1) {
      current_ = JsonMember{};
      current_.name.assign(text, length);
      key_end_ = stream_.Tell();
    }
    return true;
  }
  bool EndObject(rapidjson::SizeType /*members*/) { return Close(); }
  bool StartArray() { return Open(JsonKind::kArray); }
  bool EndArray(rapidjson::SizeType /*elements*/) { return Close(); }

  bool root_is_object() const { return root_is_object_; }
  std::vector<JsonMember>& members() { return members_; }

 private:
  bool Scalar(JsonKind kind, std::string_view scalar) {
    if (depth_ == 0) return NotAnObject();
    if (depth_ == 1) {
      current_.kind = kind;
      current_.scalar.assign(scalar);
      MemberDone(stream_.Tell());
    }
    return true;
  }
  bool Open(JsonKind kind) {
    if (depth_ == 0 && kind != JsonKind::kObject) return NotAnObject();
    if (depth_ == 1) current_.kind = kind;
    ++depth_;
    return true;
  }
  bool Close() {
    if (--depth_ == 1) MemberDone(stream_.Tell() + 1);
    return true;
  }
  bool NotAnObject() {
    root_is_object_ = false;
    return false;  // stops the parse
  }
  // The member's value has just ended at `end`; it began after the key's
  // closing quote, the ':' and any whitespace (already read, so valid).
  void MemberDone(std::size_t end) {
    std::size_t begin = key_end_;
    while (begin < text_.size() && (IsJsonSpace(text_[begin]) || text_[begin] == ':')) ++begin;
    current_.begin = begin;
    current_.end = end;
    members_.push_back(std::move(current_));
    current_ = JsonMember{};
  }

  std::string_view text_;
  const rapidjson::MemoryStream& stream_;
  int depth_ = 0;
  bool root_is_object_ = true;
  std::size_t key_end_ = 0;
  JsonMember current_;
  std::vector<JsonMember> members_;
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;
// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
const std::int64_t kMinTimestamp = DaysFromCivil(1, 1, 1) * kMicrosPerDay;
const std::int64_t kMaxTimestamp = DaysFromCivil(10000, 1, 1) * kMicrosPerDay - 1;

constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::expected<void, std::string> CheckJsonText(std::string_view text) {
  rapidjson::MemoryStream stream(text.data(), text.size());
  NullHandler handler;
  return Parse(text, handler, stream);
}

std::string_view TrimJsonSpace(std::string_view text) {
  while (!text.empty() && IsJsonSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsJsonSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::string_view JsonKindName(JsonKind kind) {
  switch (kind) {
    case JsonKind::kNull:
      return "null";
    case JsonKind::kBoolean:
      return "a boolean";
    case JsonKind::kNumber:
      return "a number";
    case JsonKind::kString:
      return "a string";
    case JsonKind::kObject:
      return "an object";
    case JsonKind::kArray:
      return "an array";
  }
  return "a value";
}

std::expected<std::vector<JsonMember>, std::string> ScanJsonObject(std::string_view text) {
  rapidjson::MemoryStream stream(text.data(), text.size());
  MemberScanner scanner(text, stream);
  auto parsed = Parse(text, scanner, stream);
  if (!scanner.root_is_object()) return std::unexpected(std::string("not a JSON object"));
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  return std::move(scanner.members());
}

bool IsFormattableTimestamp(std::int64_t unix_us) { return unix_us >= kMinTimestamp && unix_us <= kMaxTimestamp; }

std::string FormatIsoTimestamp(std::int64_t unix_us) { return FormatTimestamp(unix_us); }

std::expected<std::int64_t, std::string> ParseIsoTimestamp(std::string_view text) {
  const auto fail = [&](std::string_view why) {
    return std::unexpected("\"" + std::string(text) + "\" is not an ISO-8601 UTC timestamp such as " +
                           "2025-01-31T10:00:00.123456Z: " + std::string(why));
  };
  std::size_t pos = 0;
  // `count` digits at pos, or -1.
  const auto digits = [&](std::size_t count) -> std::int64_t {
    if (pos + count > text.size()) return -1;
    std::int64_t value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') return -1;
      value = value * 10 + (c - '0');
    }
    pos += count;
    return value;
  };
  const auto expect = [&](char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  const std::int64_t year = digits(4);
  if (year < 0 || !expect('-')) return fail("expected the year as YYYY-");
  const std::int64_t month = digits(2);
  if (month < 0 || !expect('-')) return fail("expected the month as MM-");
  const std::int64_t day = digits(2);
  if (day < 0) return fail("expected the day as DD");
  if (!expect('T')) return fail("expected 'T' between the date and the time");
  const std::int64_t hour = digits(2);
  if (hour < 0 || !expect(':')) return fail("expected the hour as HH:");
  const std::int64_t minute = digits(2);
  if (minute < 0 || !expect(':')) return fail("expected the minute as MM:");
  const std::int64_t second = digits(2);
  if (second < 0) return fail("expected the second as SS");
  std::int64_t micros = 0;
  if (expect('.')) {
    std::size_t count = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++count > 6) return fail("more than 6 fractional digits (cairn keeps microseconds)");
      micros = micros * 10 + (text[pos] - '0');
      ++pos;
    }
    if (count == 0) return fail("expected digits after '.'");
    for (std::size_t i = count; i < 6; ++i) micros *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (expect('Z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos] == '-';
    ++pos;
    const std::int64_t offset_hours = digits(2);
    if (offset_hours < 0 || !expect(':')) return fail("expected the offset as +HH:MM or -HH:MM");
    const std::int64_t offset_mins = digits(2);
    if (offset_mins < 0 || offset_hours > 23 || offset_mins > 59)
      return fail("expected the offset as +HH:MM or -HH:MM");
    offset_minutes = (negative ? -1 : 1) * (offset_hours * 60 + offset_mins);
  } else {
    return fail("expected Z or an offset (+HH:MM) after the time");
  }
  if (pos != text.size()) return fail("unexpected text after the time zone");
  if (year < 1) return fail("year 0000 is out of range");
  if (month < 1 || month > 12) return fail("month out of range");
  static constexpr std::array<int, 12> kDaysInMonth{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day < 1 || day > kDaysInMonth[static_cast<std::size_t>(month - 1)] || (month == 2 && day == 29 && !leap)) {
    return fail("day out of range");
  }
  if (hour > 23 || minute > 59 || second > 59) return fail("time of day out of range");
  const std::int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t local = days * kMicrosPerDay + ((hour * 60 + minute) * 60 + second) * kMicrosPerSecond + micros;
  const std::int64_t utc = local - offset_minutes * 60 * kMicrosPerSecond;
  if (!IsFormattableTimestamp(utc)) return fail("out of range in UTC (years 0001 to 9999)");
  return utc;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t{in[i]} << 16;
    if (rest == 2) v |= std::uint32_t{in[i + 1]} << 8;
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::expected<std::string, std::string> Base64Decode(std::string_view text) {
  const auto fail = [](std::string why) { return std::unexpected("not valid base64: " + why); };
  if (text.size() % 4 != 0) return fail("its length is not a multiple of 4 (padding with '=' is required)");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::size_t padding = 0;
    if (last) padding = text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (k >= 4 - padding) continue;  // '=' already accounted for
      const int value = Base64Value(c);
      if (value < 0) {
        return fail(c == '=' ? "'=' before the end (byte " + std::to_string(i + k) + ")"
                             : "unexpected character at byte " + std::to_string(i + k) +
                                   " (the standard alphabet A-Z a-z 0-9 + / is expected)");
      }
      v |= static_cast<std::uint32_t>(value) << (18 - 6 * k);
    }
    out += static_cast<char>((v >> 16) & 0xff);
    if (padding < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(v & 0xff);
    if ((padding == 1 && (v & 0xff) != 0) || (padding == 2 && (v & 0xffff) != 0)) {
      return fail("non-zero bits in the last character before the padding");
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view text) { return FindInvalidUtf8(text) == std::string_view::npos; }

}  // namespace cairn::detail
