#include "json_text.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fmt/format.h>


namespace cairn::cli {
namespace {

// Strict JSON: valid UTF-8, no comments or trailing commas; iterative so that
// deeply nested input cannot overflow the stack; numbers handed over as text.
constexpr unsigned kParseFlags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseNumbersAsStringsFlag;


// A compact writer that emits each number's original text (RapidJSON's own
// Writer::RawNumber would quote it as a string).
class LexemeWriter : public rapidjson::Writer<rapidjson::StringBuffer> {
 public:
  using Writer::Writer;
  bool RawNumber(const Ch* text, rapidjson::SizeType length, bool /*copy*/) {
    return RawValue(text, length, rapidjson::kNumberType);
  }
};

struct NullHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, NullHandler> {};

// Runs the reader over `text` with `handler`; the error names the byte offset.
template <class Handler>
std::expected<void, std::string> Parse(std::string_view text, Handler& handler) {
  // A NUL would end the stream early and hide whatever follows it.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return std::unexpected(fmt::format("not valid JSON: NUL byte at byte {}", nul));
  }
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Reader reader;
  rapidjson::ParseResult result = reader.Parse<kParseFlags>(stream, handler);
  if (!result) {
    return std::unexpected(fmt::format("not valid JSON at byte {}: {}", result.Offset(),
                                       rapidjson::GetParseError_En(result.Code())));
  }
  return {};
}

// SAX handler that cuts a JSON object into its members, writing each value
// compactly (numbers as written) on its own.
class MemberSplitter : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, MemberSplitter> {
 public:
  MemberSplitter() : writer_(buffer_) {}

  bool Null() { return Scalar([this] { return writer_.Null(); }); }
  bool Bool(bool value) { return Scalar([&] { return writer_.Bool(value); }); }
  bool RawNumber(const Ch* text, rapidjson::SizeType length, bool copy) {
    return Scalar([&] { return writer_.RawNumber(text, length, copy); });
  }
  bool String(const Ch* text, rapidjson::SizeType length, bool copy) {
    return Scalar([&] { return writer_.String(text, length, copy); });
  }
  bool StartObject() {
    if (depth_++ == 0) return true;  // the root object itself is not written
    return writer_.StartObject();
  }
  bool Key(const Ch* text, rapidjson::SizeType length, bool copy) {
    if (depth_ == 1) {
      name_.assign(text, length);
      return true;
    }
    return writer_.Key(text, length, copy);
  }
  bool EndObject(rapidjson::SizeType members) {
    if (--depth_ == 0) return true;
    return writer_.EndObject(members) && MemberDone();
  }
  bool StartArray() {
    if (depth_ == 0) return NotAnObject();
    ++depth_;
    return writer_.StartArray();
  }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return writer_.EndArray(elements) && MemberDone();
  }

  bool root_is_object() const { return root_is_object_; }
  std::vector<JsonMember>& members() { return members_; }

 private:
  template <class Write>
  bool Scalar(Write write) {
    if (depth_ == 0) return NotAnObject();
    return write() && MemberDone();
  }
  bool NotAnObject() {
    root_is_object_ = false;
    return false;  // stops the parse
  }
  // Called after each complete value: at depth 1 it was a member's whole value.
  bool MemberDone() {
    if (depth_ != 1) return true;
    members_.push_back({std::move(name_), std::string(buffer_.GetString(), buffer_.GetSize())});
    name_.clear();
    buffer_.Clear();
    writer_.Reset(buffer_);
    return true;
  }

  rapidjson::StringBuffer buffer_;
  LexemeWriter writer_;
  int depth_ = 0;
  bool root_is_object_ = true;
  std::string name_;
  std::vector<JsonMember> members_;
};

}  // namespace

std::expected<void, std::string> CheckJson(std::string_view text) {
  NullHandler handler;
  return Parse(text, handler);
}

std::expected<void, std::string> CheckJsonObject(std::string_view text) {
  auto valid = CheckJson(text);
  if (!valid) return valid;
  // Valid JSON that starts with '{' is an object.
  if (text[text.find_first_not_of(" \t\r\n")] != '{') return std::unexpected(std::string("not a JSON object"));
  return {};
}

std::expected<std::string, std::string> CompactJson(std::string_view text) {
  rapidjson::StringBuffer buffer;
  LexemeWriter writer(buffer);
  if (auto ok = Parse(text, writer); !ok) return std::unexpected(std::move(ok.error()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::expected<std::vector<JsonMember>, std::string> SplitJsonObject(std::string_view text) {
  MemberSplitter splitter;
  auto ok = Parse(text, splitter);
  if (!splitter.root_is_object()) return std::unexpected(std::string("not a JSON object"));
  if (!ok) return std::unexpected(std::move(ok.error()));
  return std::move(splitter.members());
}

std::expected<std::string, std::string> JsonStringValue(std::string_view json) {
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  if (document.HasParseError() || !document.IsString()) {
    return std::unexpected(std::string("must be a JSON string"));
  }
  return std::string(document.GetString(), document.GetStringLength());
}

std::string JsonQuote(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace cairn::cli
