#include "json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <string>

namespace cairn::detail {
namespace {

// Parses without building a DOM when only validity matters.
struct NullHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, NullHandler> {};

class ViewStream {
 public:
  using Ch = char;
  explicit ViewStream(std::string_view text) : text_(text) {}
  Ch Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  Ch Take() { return pos_ < text_.size() ? text_[pos_++] : '\0'; }
  std::size_t Tell() const { return pos_; }
  // Unused by the reader for input streams, but required by the concept.
  Ch* PutBegin() { return nullptr; }
  void Put(Ch) {}
  void Flush() {}
  std::size_t PutEnd(Ch*) { return 0; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

Status Parse(std::string_view text, std::string_view what, bool require_object) {
  // An embedded NUL would end RapidJSON's stream early and hide trailing bytes.
  if (text.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " is not valid JSON: it contains a NUL byte");
  }
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (require_object && (first == std::string_view::npos || text[first] != '{')) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must be a JSON object");
  }
  ViewStream stream(text);
  NullHandler handler;
  rapidjson::Reader reader;
  rapidjson::ParseResult ok =
      reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseStopWhenDoneFlag>(stream, handler);
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
  return {};
}

}  // namespace

Status ValidateJson(std::string_view text, std::string_view what) { return Parse(text, what, false); }

Status ValidateJsonObject(std::string_view text, std::string_view what) { return Parse(text, what, true); }

}  // namespace cairn::detail
