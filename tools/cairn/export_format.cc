#include "export_format.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/writer.h>

#include <array>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "output.h"

namespace cairn::cli {
namespace {

// A RapidJSON output stream appending to a std::string (input: rapidjson::MemoryStream).
class AppendStream {
 public:
  using Ch = char;
  explicit AppendStream(std::string& out) : out_(out) {}
  void Put(Ch c) { out_.push_back(c); }
  void Flush() {}

 private:
  std::string& out_;
};

struct DiscardStream {
  using Ch = char;
  void Put(Ch) {}
};

using LineWriter = rapidjson::Writer<AppendStream>;

rapidjson::SizeType JsonSize(std::string_view text) { return static_cast<rapidjson::SizeType>(text.size()); }

// Valid UTF-8 exactly as RapidJSON's reader checks it (kParseValidateEncodingFlag),
// so that whatever the writer puts in a string, the importer accepts.
bool IsValidUtf8(std::string_view bytes) {
  rapidjson::MemoryStream in(bytes.data(), bytes.size());
  DiscardStream out;
  while (in.Tell() < bytes.size()) {
    if (!rapidjson::UTF8<>::Validate(in, out)) return false;
  }
  return true;
}

// A byte string as "key": its text, or "key_base64" when it is not UTF-8.
void WriteBytes(LineWriter& writer, std::string_view key, std::string_view key_base64, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    writer.Key(key.data(), JsonSize(key));
    writer.String(bytes.data(), JsonSize(bytes));
  } else {
    writer.Key(key_base64.data(), JsonSize(key_base64));
    const std::string base64 = Base64Encode(bytes);
    writer.String(base64.data(), JsonSize(base64));
  }
}

enum class Field : std::uint8_t {
  kPosition, kStream, kRevision, kId, kType, kRecordedAtUs, kRecordedAt, kContentType, kData, kMetadata, kHash,
};
constexpr std::size_t kFieldCount = 11;

struct KeySpec {
  std::string_view name;
  Field field;
  bool base64;  // the "_base64" spelling of a byte string
};

// In the order the writer emits them.
constexpr std::array<KeySpec, 16> kKeys{{
    {"position", Field::kPosition, false},
    {"stream", Field::kStream, false},
    {"stream_base64", Field::kStream, true},
    {"revision", Field::kRevision, false},
    {"id", Field::kId, false},
    {"type", Field::kType, false},
    {"type_base64", Field::kType, true},
    {"recorded_at_us", Field::kRecordedAtUs, false},
    {"recorded_at", Field::kRecordedAt, false},
    {"content_type", Field::kContentType, false},
    {"content_type_base64", Field::kContentType, true},
    {"data", Field::kData, false},
    {"data_base64", Field::kData, true},
    {"metadata", Field::kMetadata, false},
    {"metadata_base64", Field::kMetadata, true},
    {"hash", Field::kHash, false},
}};

// The spelling of `field` used in messages about a missing key.
std::string_view FieldName(Field field) {
  for (const KeySpec& spec : kKeys) {
    if (spec.field == field) return spec.name;
  }
  return "?";
}

// Fills a RecordedEvent from one line's SAX events; stops at the first fault
// with a message naming the key.
class LineHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, LineHandler> {
 public:
  explicit LineHandler(RecordedEvent& event) : event_(event) {}

  bool StartObject() { return depth_++ == 0 || Wrong("a string or an integer, not an object"); }
  bool EndObject(rapidjson::SizeType) {
    --depth_;
    return true;
  }
  bool StartArray() { return Wrong("a string or an integer, not an array"); }
  bool Null() { return Wrong("a string or an integer, not null"); }
  bool Bool(bool) { return Wrong("a string or an integer, not a boolean"); }
  bool Double(double) { return Wrong("an integer (no fraction or exponent)"); }
  bool Int(int value) { return Integer(value); }
  bool Int64(std::int64_t value) { return Integer(value); }
  bool Uint(unsigned value) { return Unsigned(value); }
  bool Uint64(std::uint64_t value) { return Unsigned(value); }

  bool Key(const Ch* text, rapidjson::SizeType length, bool /*copy*/) {
    const std::string_view name(text, length);
    for (const KeySpec& spec : kKeys) {
      if (spec.name != name) continue;
      const auto bit = 1u << static_cast<unsigned>(spec.field);
      if ((seen_ & bit) != 0) {
        error_ = fmt::format("\"{}\" given twice (a byte string has one key: \"{}\" or \"{}_base64\")", name,
                             FieldName(spec.field), FieldName(spec.field));
        return false;
      }
      seen_ |= bit;
      key_ = &spec;
      return true;
    }
    error_ = fmt::format("unknown key \"{}\"", name);
    return false;
  }

  bool String(const Ch* text, rapidjson::SizeType length, bool /*copy*/) {
    if (key_ == nullptr) return Wrong("");
    const std::string_view value(text, length);
    std::string* target = nullptr;
    switch (key_->field) {
      case Field::kStream: target = &event_.stream; break;
      case Field::kType: target = &event_.type; break;
      case Field::kContentType: target = &event_.content_type; break;
      case Field::kData: target = &event_.data; break;
      case Field::kMetadata: target = &event_.metadata; break;
      case Field::kId: target = &id_; break;
      case Field::kRecordedAt: target = &recorded_at_; break;
      case Field::kHash: target = &hash_; break;
      case Field::kPosition:
      case Field::kRevision:
      case Field::kRecordedAtUs: return Wrong("an integer, not a string");
    }
    if (key_->base64) {
      auto bytes = Base64Decode(value);
      if (!bytes) return Wrong(bytes.error());
      *target = std::move(*bytes);
    } else {
      target->assign(value);
    }
    key_ = nullptr;
    return true;
  }

  // Everything the parse itself cannot check: presence, id, hash, the two times agreeing.
  std::expected<void, std::string> Finish() {
    for (std::size_t i = 0; i < kFieldCount; ++i) {
      if ((seen_ & (1u << i)) == 0) return std::unexpected(fmt::format("missing \"{}\"", FieldName(Field(i))));
    }
    auto id = EventId::Parse(id_);
    if (!id) return std::unexpected(fmt::format("\"id\": {}", id.error().message()));
    event_.id = *id;
    if (!ParseHash(hash_, event_.hash)) {
      return std::unexpected(std::string("\"hash\" must be 64 hexadecimal digits"));
    }
    if (const std::string expected = FormatTimestamp(event_.recorded_at_us); recorded_at_ != expected) {
      return std::unexpected(fmt::format("\"recorded_at\" is \"{}\" but \"recorded_at_us\" {} is \"{}\"",
                                         recorded_at_, event_.recorded_at_us, expected));
    }
    return {};
  }

  const std::string& error() const { return error_; }

 private:
  bool Wrong(std::string_view expected) {
    if (key_ == nullptr) {
      error_ = "not a JSON object of an event";
    } else if (error_.empty()) {
      error_ = fmt::format("\"{}\" must be {}", key_->name, expected);
    }
    return false;
  }

  bool Unsigned(std::uint64_t value) {
    if (key_ == nullptr) return Wrong("");
    switch (key_->field) {
      case Field::kPosition: event_.position = value; break;
      case Field::kRevision: event_.revision = value; break;
      case Field::kRecordedAtUs:
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return Wrong("a 64-bit signed integer");
        }
        event_.recorded_at_us = static_cast<std::int64_t>(value);
        break;
      default: return Wrong("a string, not a number");
    }
    key_ = nullptr;
    return true;
  }

  bool Integer(std::int64_t value) {
    if (value >= 0) return Unsigned(static_cast<std::uint64_t>(value));
    if (key_ == nullptr) return Wrong("");
    if (key_->field != Field::kRecordedAtUs) {
      return Wrong(key_->field == Field::kPosition || key_->field == Field::kRevision ? "a non-negative integer"
                                                                                      : "a string, not a number");
    }
    event_.recorded_at_us = value;  // before 1970: allowed, if unusual
    key_ = nullptr;
    return true;
  }

  static bool ParseHash(std::string_view hex, Hash& hash) {
    if (hex.size() != 2 * hash.size()) return false;
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (std::size_t i = 0; i < hash.size(); ++i) {
      const int high = nibble(hex[2 * i]);
      const int low = nibble(hex[2 * i + 1]);
      if (high < 0 || low < 0) return false;
      hash[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return true;
  }

  RecordedEvent& event_;
  std::string id_;
  std::string recorded_at_;
  std::string hash_;
  const KeySpec* key_ = nullptr;  // the key whose value comes next
  unsigned seen_ = 0;             // bit per Field
  int depth_ = 0;
  std::string error_;
};

}  // namespace

std::string FormatExportHeader(const ExportHeader& header) {
  return fmt::format("{{\"cairn_export\":{},\"from\":{},\"to\":{}}}\n", kExportFormatVersion, header.from,
                     header.to);
}

std::expected<ExportHeader, std::string> ParseExportHeader(std::string_view line) {
  const std::string expected_form = R"(a header like {"cairn_export":1,"from":1,"to":N})";
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(line.data(), line.size());
  if (document.HasParseError() || !document.IsObject() || !document.HasMember("cairn_export")) {
    return std::unexpected("not " + expected_form + ": this is not a cairn export");
  }
  const auto& version = document["cairn_export"];
  if (!version.IsUint64()) return std::unexpected(std::string("\"cairn_export\" must be a format number"));
  if (version.GetUint64() != kExportFormatVersion) {
    return std::unexpected(fmt::format("export format {} is not one this cairn reads (it reads {})",
                                       version.GetUint64(), kExportFormatVersion));
  }
  if (document.MemberCount() != 3 || !document.HasMember("from") || !document.HasMember("to") ||
      !document["from"].IsUint64() || !document["to"].IsUint64()) {
    return std::unexpected("not " + expected_form + " (exactly these three keys, with integers)");
  }
  ExportHeader header{.from = document["from"].GetUint64(), .to = document["to"].GetUint64()};
  if (header.from == 0 || header.to + 1 < header.from) {
    return std::unexpected(fmt::format("the header's range {}..{} is not a range of positions", header.from,
                                       header.to));
  }
  return header;
}

std::string_view ExportLineWriter::Line(const EventView& event) {
  line_.clear();
  AppendStream out(line_);
  LineWriter writer(out);
  writer.StartObject();
  writer.Key("position");
  writer.Uint64(event.position);
  WriteBytes(writer, "stream", "stream_base64", event.stream);
  writer.Key("revision");
  writer.Uint64(event.revision);
  writer.Key("id");
  writer.String(event.id.ToString().c_str());
  WriteBytes(writer, "type", "type_base64", event.type);
  writer.Key("recorded_at_us");
  writer.Int64(event.recorded_at_us);
  writer.Key("recorded_at");
  writer.String(FormatTimestamp(event.recorded_at_us).c_str());
  WriteBytes(writer, "content_type", "content_type_base64", event.content_type);
  WriteBytes(writer, "data", "data_base64", event.data);
  WriteBytes(writer, "metadata", "metadata_base64", event.metadata);
  writer.Key("hash");
  writer.String(HashToHex(event.hash).c_str());
  writer.EndObject();
  line_ += '\n';
  return line_;
}

std::expected<void, std::string> ParseExportLine(std::string_view line, RecordedEvent& event) {
  // A raw NUL would end RapidJSON's stream early and hide what follows (the writer escapes it as \u0000).
  if (auto nul = line.find('\0'); nul != std::string_view::npos) {
    return std::unexpected(fmt::format("not valid JSON: NUL byte at byte {}", nul));
  }
  LineHandler handler(event);
  rapidjson::MemoryStream stream(line.data(), line.size());
  rapidjson::Reader reader;
  rapidjson::ParseResult result =
      reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(stream, handler);
  if (!result) {
    if (!handler.error().empty()) return std::unexpected(handler.error());
    return std::unexpected(fmt::format("not valid JSON at byte {}: {}", result.Offset(),
                                       rapidjson::GetParseError_En(result.Code())));
  }
  return handler.Finish();
}

}  // namespace cairn::cli
