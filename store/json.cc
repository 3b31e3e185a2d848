#include "json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <array>
#include <string>

namespace cairn::detail {
namespace {

// Parses without building a DOM when only validity matters.
struct NullHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, NullHandler> {};

bool IsWhitespace(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsHex(unsigned char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The fast path, for the JSON that services append: one pass, no allocation.
// It answers kValid only for text that RapidJSON (below) accepts too, and
// leaves everything else to it — anything invalid (for the error message),
// non-ASCII bytes (UTF-8 validation), \u escapes of surrogates, numbers with
// exponents or hundreds of digits (RapidJSON refuses what overflows a double).
// It alone enforces kMaxJsonDepth on the text it reads to the end.
class FastScan {
 public:
  enum class Verdict { kValid, kTooDeep, kAskRapidJson };

  explicit FastScan(std::string_view text)
      : p_(reinterpret_cast<const unsigned char*>(text.data())), end_(p_ + text.size()), begin_(p_) {}

  Verdict Run() {
    std::array<bool, kMaxJsonDepth> in_object{};  // per open container: object (true) or array
    std::size_t depth = 0;
    while (true) {
      // A value is expected here.
      SkipWhitespace();
      if (p_ == end_) return Verdict::kAskRapidJson;
      const unsigned char c = *p_;
      if (c == '{' || c == '[') {
        if (depth == kMaxJsonDepth) return Verdict::kTooDeep;
        in_object[depth++] = c == '{';
        ++p_;
        SkipWhitespace();
        if (p_ != end_ && *p_ == (c == '{' ? '}' : ']')) {
          ++p_;
          --depth;
        } else if (c == '[') {
          continue;  // the array's first value
        } else if (!Key()) {
          return Verdict::kAskRapidJson;
        } else {
          continue;  // the object's first value
        }
      } else if (!Scalar()) {
        return Verdict::kAskRapidJson;
      }
      // After a value: close containers until a ',' asks for the next value.
      while (true) {
        SkipWhitespace();
        if (depth == 0) return p_ == end_ ? Verdict::kValid : Verdict::kAskRapidJson;
        if (p_ == end_) return Verdict::kAskRapidJson;
        const bool object = in_object[depth - 1];
        if (*p_ == ',') {
          ++p_;
          if (object && !Key()) return Verdict::kAskRapidJson;
          break;
        }
        if (*p_ != (object ? '}' : ']')) return Verdict::kAskRapidJson;
        ++p_;
        --depth;
      }
    }
  }

  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }

 private:
  void SkipWhitespace() {
    while (p_ != end_ && IsWhitespace(*p_)) ++p_;
  }

  // `"name"` then `:`.
  bool Key() {
    SkipWhitespace();
    if (p_ == end_ || *p_ != '"' || !String()) return false;
    SkipWhitespace();
    if (p_ == end_ || *p_ != ':') return false;
    ++p_;
    return true;
  }

  bool Scalar() {
    switch (*p_) {
      case '"': return String();
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default: return Number();
    }
  }

  bool Literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size()) return false;
    if (std::string_view(reinterpret_cast<const char*>(p_), word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  // At the opening quote. Printable ASCII and the simple escapes only.
  bool String() {
    ++p_;
    while (p_ != end_) {
      const unsigned char c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;
      if (c != '\\') {
        ++p_;
        continue;
      }
      if (end_ - p_ < 2) return false;
      const unsigned char e = p_[1];
      if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        p_ += 2;
        continue;
      }
      if (e != 'u' || end_ - p_ < 6) return false;
      for (int i = 2; i < 6; ++i) {
        if (!IsHex(p_[i])) return false;
      }
      // D800-DFFF: a surrogate, valid only in pairs.
      const unsigned char first = p_[2] | 0x20;  // lower case; digits stay as they are
      const unsigned char second = p_[3] | 0x20;
      if (first == 'd' && (second == '8' || second == '9' || second >= 'a')) return false;
      p_ += 6;
    }
    return false;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?, without an exponent and with few enough digits
  // that no double overflows.
  bool Number() {
    const unsigned char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) return false;
    return p_ - start <= 300;
  }

  const unsigned char* p_;
  const unsigned char* const end_;
  const unsigned char* const begin_;
};

// How deep `text` nests arrays and objects, outside its strings; for text
// RapidJSON accepted, so that the brackets are the JSON's own.
std::size_t NestingDepth(std::string_view text, std::size_t& deepest_at) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > deepest) {
        deepest = depth;
        deepest_at = i;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

Status TooDeep(std::string_view what, std::size_t offset) {
  return Fail(ErrorCode::kInvalidArgument, std::string(what) + " nests arrays and objects more than " +
                                               std::to_string(kMaxJsonDepth) + " levels deep (at byte " +
                                               std::to_string(offset) + ")");
}

Status Parse(std::string_view text, std::string_view what, bool require_object) {
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (require_object && (first == std::string_view::npos || text[first] != '{')) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must be a JSON object");
  }
  FastScan scan(text);
  switch (scan.Run()) {
    case FastScan::Verdict::kValid: return {};
    case FastScan::Verdict::kTooDeep: return TooDeep(what, scan.offset());
    case FastScan::Verdict::kAskRapidJson: break;
  }
  // An embedded NUL would end RapidJSON's stream early and hide trailing bytes.
  if (text.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " is not valid JSON: it contains a NUL byte");
  }
  rapidjson::MemoryStream stream(text.data(), text.size());
  NullHandler handler;
  rapidjson::Reader reader;
  // Iterative: its stack is on the heap, so no nesting can overflow the thread's.
  rapidjson::ParseResult ok = reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseStopWhenDoneFlag |
                                           rapidjson::kParseIterativeFlag>(stream, handler);
  if (!ok) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + " is not valid JSON at byte " + std::to_string(ok.Offset()) + ": " +
                    rapidjson::GetParseError_En(ok.Code()));
  }
  std::size_t end = stream.Tell();
  if (text.find_first_not_of(" \t\r\n", end) != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + " is not valid JSON: unexpected text after the value at byte " +
                    std::to_string(end));
  }
  std::size_t deepest_at = 0;
  if (NestingDepth(text, deepest_at) > kMaxJsonDepth) return TooDeep(what, deepest_at);
  return {};
}

}  // namespace

Status ValidateJson(std::string_view text, std::string_view what) { return Parse(text, what, false); }

Status ValidateJsonObject(std::string_view text, std::string_view what) { return Parse(text, what, true); }

}  // namespace cairn::detail
