// Declarative upcaster files: JSON, checked on load, every error with its line
// (docs/schemas.md is the format's reference).
//
// RapidJSON's document keeps no positions, so the text is read twice: once by
// a SAX handler that records where each value and key ends, then into a
// document whose values are numbered in the same (document) order.
#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>
#include <utility>

#include "cairn/upcast.h"
#include "cairn/file.h"
#include "upcast_internal.h"

namespace cairn {
namespace {

using schema_detail::Path;
using schema_detail::Step;
using schema_detail::Upcaster;

constexpr unsigned kParseFlags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;

using InputStream = rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;

// Records the offset just past each value's first token (for an object or an
// array: its opening bracket) and each key, in document order.
struct OffsetRecorder : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, OffsetRecorder> {
  explicit OffsetRecorder(const InputStream& input) : stream(input) {}
  bool Default() {
    offsets.push_back(stream.Tell());
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return true; }
  bool EndArray(rapidjson::SizeType) { return true; }

  const InputStream& stream;
  std::vector<std::size_t> offsets;
};

class Loader {
 public:
  Loader(std::string_view text, std::string_view file_name) : text_(text), file_(file_name) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') newlines_.push_back(i);
    }
  }

  Result<Upcasters> Load() {
    rapidjson::Document document;
    document.Parse<kParseFlags>(text_.data(), text_.size());
    if (document.HasParseError()) {
      return At(LineOf(document.GetErrorOffset()),
                std::string("not valid JSON: ") + rapidjson::GetParseError_En(document.GetParseError()));
    }
    // The same text again, as the document was parsed (GenericDocument::Parse(text, length)).
    rapidjson::MemoryStream memory(text_.data(), text_.size());
    InputStream stream(memory);
    OffsetRecorder recorder(stream);
    rapidjson::Reader reader;
    if (!reader.Parse<kParseFlags>(stream, recorder)) return At(1, "not valid JSON");
    std::size_t next = 0;
    Number(document, recorder.offsets, next);

    if (!document.IsObject()) {
      return At(Line(document), "an upcaster file is a JSON object with an \"upcasters\" array");
    }
    if (auto keys = CheckKeys(document, {"upcasters", "description"}, "the file"); !keys) return Fail(keys.error());
    const auto list = document.FindMember("upcasters");
    if (list == document.MemberEnd()) return At(Line(document), "no \"upcasters\" array");
    if (!list->value.IsArray()) return At(Line(list->value), "\"upcasters\" must be an array");
    for (const rapidjson::Value& entry : list->value.GetArray()) {
      if (auto read = ReadEntry(entry); !read) return Fail(read.error());
    }
    if (auto checked = upcasters_.Check(); !checked) return Fail(checked.error());
    return std::move(upcasters_);
  }

 private:
  std::unexpected<Error> At(int line, std::string message) const {
    return Fail(ErrorCode::kInvalidArgument, file_ + ":" + std::to_string(line) + ": " + std::move(message));
  }

  int LineOf(std::size_t offset) const {
    return 1 + static_cast<int>(std::lower_bound(newlines_.begin(), newlines_.end(), offset) - newlines_.begin());
  }
  // The line of a value or key; its offset is just past its first token, so step back onto it.
  int Line(const rapidjson::Value& value) const {
    const auto found = offsets_.find(&value);
    if (found == offsets_.end()) return 1;
    return LineOf(found->second == 0 ? 0 : found->second - 1);
  }
  std::string Where(const rapidjson::Value& value) const { return file_ + ":" + std::to_string(Line(value)); }

  // Gives each value and key its offset, in the order the recorder saw them.
  void Number(const rapidjson::Value& value, const std::vector<std::size_t>& offsets, std::size_t& next) {
    if (next < offsets.size()) offsets_[&value] = offsets[next];
    ++next;
    if (value.IsObject()) {
      for (const auto& member : value.GetObject()) {
        if (next < offsets.size()) offsets_[&member.name] = offsets[next];
        ++next;
        Number(member.value, offsets, next);
      }
    } else if (value.IsArray()) {
      for (const rapidjson::Value& element : value.GetArray()) Number(element, offsets, next);
    }
  }

  static std::string_view Name(const rapidjson::Value& key) { return {key.GetString(), key.GetStringLength()}; }

  // Every key of `object` is one of `allowed` and appears once.
  Status CheckKeys(const rapidjson::Value& object, std::initializer_list<std::string_view> allowed,
                   std::string_view what) const {
    std::unordered_map<std::string_view, int> seen;
    for (const auto& member : object.GetObject()) {
      const std::string_view name = Name(member.name);
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string expected;
        for (const std::string_view key : allowed) expected += (expected.empty() ? "" : ", ") + std::string(key);
        return At(Line(member.name), "unknown key \"" + std::string(name) + "\" in " + std::string(what) +
                                         " (expected " + expected + ")");
      }
      if (auto [it, added] = seen.emplace(name, Line(member.name)); !added) {
        return At(Line(member.name), "duplicate key \"" + std::string(name) + "\" in " + std::string(what) +
                                         " (first at line " + std::to_string(it->second) + ")");
      }
    }
    return {};
  }

  // A field path: "a.b.c" or a JSON pointer "/a/b/c" (~1 is '/', ~0 is '~').
  Result<Path> ReadPath(const rapidjson::Value& value, std::string_view what) const {
    if (!value.IsString()) {
      return At(Line(value), std::string(what) + " must be a string: a field (\"total\", \"buyer.id\" or \"/buyer/id\")");
    }
    const std::string_view text(value.GetString(), value.GetStringLength());
    Path path;
    if (text.starts_with('/')) {
      std::size_t start = 1;
      for (;;) {
        const std::size_t end = std::min(text.find('/', start), text.size());
        std::string part;
        for (std::size_t i = start; i < end; ++i) {
          if (text[i] != '~') {
            part.push_back(text[i]);
          } else if (i + 1 < end && (text[i + 1] == '0' || text[i + 1] == '1')) {
            part.push_back(text[++i] == '0' ? '~' : '/');
          } else {
            return At(Line(value), std::string(what) + " \"" + std::string(text) +
                                       "\": '~' must be followed by 0 or 1 in a JSON pointer");
          }
        }
        path.push_back(std::move(part));
        if (end == text.size()) break;
        start = end + 1;
      }
    } else {
      std::size_t start = 0;
      for (;;) {
        const std::size_t end = std::min(text.find('.', start), text.size());
        path.emplace_back(text.substr(start, end - start));
        if (end == text.size()) break;
        start = end + 1;
      }
    }
    for (const std::string& part : path) {
      if (part.empty()) {
        return At(Line(value), std::string(what) + " \"" + std::string(text) +
                                   "\" has an empty field name (write a.b or /a/b; a field with dots in its name "
                                   "as a JSON pointer)");
      }
    }
    return path;
  }

  static bool IsPrefix(const Path& prefix, const Path& path) {
    return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
  }

  // The object of a step that takes `keys`; each key required.
  Status ExpectObject(const rapidjson::Value& value, std::string_view step,
                      std::initializer_list<std::string_view> keys) const {
    std::string list;
    for (const std::string_view key : keys) list += (list.empty() ? "\"" : ", \"") + std::string(key) + "\"";
    if (!value.IsObject()) return At(Line(value), "\"" + std::string(step) + "\" takes an object with " + list);
    if (auto checked = CheckKeys(value, keys, "\"" + std::string(step) + "\""); !checked) return checked;
    for (const std::string_view key : keys) {
      if (!value.HasMember(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size())))) {
        return At(Line(value), "\"" + std::string(step) + "\" has no \"" + std::string(key) + "\" (it takes " + list + ")");
      }
    }
    return {};
  }

  static const rapidjson::Value& Get(const rapidjson::Value& object, std::string_view key) {
    return object.FindMember(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size())))->value;
  }

  // One {"rename": …}, {"add": …}, {"drop": …}, {"move": …} or {"type": …}.
  Result<Step> ReadStep(const rapidjson::Value& value) const {
    static constexpr std::string_view kKinds = "rename, add, drop, move or type";
    if (!value.IsObject() || value.MemberCount() != 1) {
      return At(Line(value), "a step is an object with one key: " + std::string(kKinds));
    }
    const auto& member = *value.MemberBegin();
    const std::string_view kind = Name(member.name);
    const rapidjson::Value& body = member.value;
    Step step;
    step.where = Where(value);
    if (kind == "rename") {
      step.kind = Step::Kind::kRename;
      if (auto ok = ExpectObject(body, kind, {"from", "to"}); !ok) return Fail(ok.error());
      auto from = ReadPath(Get(body, "from"), "rename.from");
      if (!from) return Fail(from.error());
      const rapidjson::Value& to = Get(body, "to");
      if (!to.IsString() || to.GetStringLength() == 0) {
        return At(Line(to), "rename.to must be a non-empty string: the field's new name");
      }
      const std::string name(to.GetString(), to.GetStringLength());
      if (name.find('.') != std::string::npos || name.find('/') != std::string::npos) {
        return At(Line(to), "rename.to \"" + name +
                                "\" is a new name in the same object, not a path; use \"move\" to change where a "
                                "field is");
      }
      step.from = std::move(*from);
      step.to = step.from;
      step.to.back() = name;
      if (step.to == step.from) return At(Line(to), "rename.to is the field's own name");
    } else if (kind == "add") {
      step.kind = Step::Kind::kAdd;
      if (auto ok = ExpectObject(body, kind, {"field", "default"}); !ok) return Fail(ok.error());
      auto field = ReadPath(Get(body, "field"), "add.field");
      if (!field) return Fail(field.error());
      step.to = std::move(*field);
      auto copy = std::make_shared<rapidjson::Document>();
      copy->CopyFrom(Get(body, "default"), copy->GetAllocator());
      step.value = std::move(copy);
    } else if (kind == "drop") {
      step.kind = Step::Kind::kDrop;
      if (auto ok = ExpectObject(body, kind, {"field"}); !ok) return Fail(ok.error());
      auto field = ReadPath(Get(body, "field"), "drop.field");
      if (!field) return Fail(field.error());
      step.from = std::move(*field);
    } else if (kind == "move") {
      step.kind = Step::Kind::kMove;
      if (auto ok = ExpectObject(body, kind, {"from", "to"}); !ok) return Fail(ok.error());
      auto from = ReadPath(Get(body, "from"), "move.from");
      if (!from) return Fail(from.error());
      auto to = ReadPath(Get(body, "to"), "move.to");
      if (!to) return Fail(to.error());
      if (IsPrefix(*from, *to) || IsPrefix(*to, *from)) {
        return At(Line(Get(body, "to")), "move.to and move.from must not contain one another");
      }
      step.from = std::move(*from);
      step.to = std::move(*to);
    } else if (kind == "type") {
      step.kind = Step::Kind::kType;
      if (!body.IsString() || body.GetStringLength() == 0) {
        return At(Line(body), "\"type\" takes a string: the event type's new name (\"order.submitted\")");
      }
    } else {
      return At(Line(member.name), "unknown step \"" + std::string(kind) + "\" (expected " + std::string(kKinds) + ")");
    }
    return step;
  }

  Status ReadEntry(const rapidjson::Value& entry) {
    if (!entry.IsObject()) {
      return At(Line(entry), "each upcaster is an object with \"type\", \"from\" and \"steps\"");
    }
    if (auto keys = CheckKeys(entry, {"type", "from", "steps", "description"}, "an upcaster"); !keys) return keys;
    const auto type = entry.FindMember("type");
    const auto from = entry.FindMember("from");
    const auto steps = entry.FindMember("steps");
    if (type == entry.MemberEnd()) return At(Line(entry), "the upcaster has no \"type\" (the base type, e.g. \"order.placed\")");
    if (from == entry.MemberEnd()) return At(Line(entry), "the upcaster has no \"from\" (the version it upcasts, e.g. 1)");
    if (steps == entry.MemberEnd()) return At(Line(entry), "the upcaster has no \"steps\" (an array, [] for none)");
    if (!type->value.IsString()) return At(Line(type->value), "\"type\" must be a string: the base type");
    if (!from->value.IsUint() || from->value.GetUint() == 0 || from->value.GetUint() == UINT32_MAX) {
      return At(Line(from->value), "\"from\" must be an integer from 1 to 4294967294: the version it upcasts");
    }
    if (!steps->value.IsArray()) return At(Line(steps->value), "\"steps\" must be an array");

    Upcaster upcaster;
    std::string to_type;
    const rapidjson::Value* type_step = nullptr;
    for (const rapidjson::Value& value : steps->value.GetArray()) {
      auto step = ReadStep(value);
      if (!step) return Fail(step.error());
      if (step->kind == Step::Kind::kType) {
        if (type_step != nullptr) {
          return At(Line(value), "a second \"type\" step (the first is at line " + std::to_string(Line(*type_step)) + ")");
        }
        type_step = &value;
        const rapidjson::Value& name = value.MemberBegin()->value;
        to_type.assign(name.GetString(), name.GetStringLength());
      }
      upcaster.steps.push_back(std::move(*step));
    }
    const std::string base(type->value.GetString(), type->value.GetStringLength());
    if (type_step != nullptr) {  // a bad new name is the type step's error, on its line
      const EventTypeVersion parsed = ParseEventTypeVersion(to_type);
      if (auto valid = ValidateEventType(to_type); !valid) return At(Line(*type_step), valid.error().message());
      if (parsed.explicit_suffix && parsed.version != from->value.GetUint() + 1) {
        return At(Line(*type_step), "\"type\": \"" + to_type + "\" is not version " +
                                        std::to_string(from->value.GetUint() + 1) +
                                        " (give the new name without a suffix, or with .v" +
                                        std::to_string(from->value.GetUint() + 1) + ")");
      }
    }
    return schema_detail::Access::Add(upcasters_, base, from->value.GetUint(), to_type, std::move(upcaster),
                                      Where(entry));
  }

  std::string_view text_;
  std::string file_;
  std::vector<std::size_t> newlines_;
  std::unordered_map<const rapidjson::Value*, std::size_t> offsets_;
  Upcasters upcasters_;
};

}  // namespace

Result<Upcasters> ParseUpcasters(std::string_view text, std::string_view file_name) {
  return Loader(text, file_name).Load();
}

Result<Upcasters> LoadUpcasterFile(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text) return Fail(text.error());
  return ParseUpcasters(*text, path);
}

}  // namespace cairn
