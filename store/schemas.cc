#include "schemas.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/internal/regex.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/pointer.h>
#include <rapidjson/reader.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include <array>
#include <climits>
#include <optional>

// RapidJSON's own small regex engine implements "pattern", never <regex> (GCC
// 12's is slow to compile and recurses deeply on long inputs). It is the
// default when RAPIDJSON_SCHEMA_USE_INTERNALREGEX is left undefined: 1.1.0's
// schema.h turns a defined one into 0 (and then no pattern is checked at all).
static_assert(RAPIDJSON_SCHEMA_USE_INTERNALREGEX == 1 && RAPIDJSON_SCHEMA_USE_STDREGEX == 0,
              "rapidjson/schema.h must use its internal regex");

namespace cairn::detail {
namespace {

// The JSON Schema draft-4 meta-schema, as published at
// http://json-schema.org/draft-04/schema (the draft RapidJSON implements).
// RapidJSON's SchemaDocument does not report a malformed schema — it ignores
// what it does not understand — so PutSchema validates documents against this.
constexpr const char* kDraft4MetaSchema = R"json({
  "id": "http://json-schema.org/draft-04/schema#",
  "$schema": "http://json-schema.org/draft-04/schema#",
  "description": "Core schema meta-schema",
  "definitions": {
    "schemaArray": { "type": "array", "minItems": 1, "items": { "$ref": "#" } },
    "positiveInteger": { "type": "integer", "minimum": 0 },
    "positiveIntegerDefault0": { "allOf": [ { "$ref": "#/definitions/positiveInteger" }, { "default": 0 } ] },
    "simpleTypes": { "enum": [ "array", "boolean", "integer", "null", "number", "object", "string" ] },
    "stringArray": { "type": "array", "items": { "type": "string" }, "minItems": 1, "uniqueItems": true }
  },
  "type": "object",
  "properties": {
    "id": { "type": "string" },
    "$schema": { "type": "string" },
    "title": { "type": "string" },
    "description": { "type": "string" },
    "default": {},
    "multipleOf": { "type": "number", "minimum": 0, "exclusiveMinimum": true },
    "maximum": { "type": "number" },
    "exclusiveMaximum": { "type": "boolean", "default": false },
    "minimum": { "type": "number" },
    "exclusiveMinimum": { "type": "boolean", "default": false },
    "maxLength": { "$ref": "#/definitions/positiveInteger" },
    "minLength": { "$ref": "#/definitions/positiveIntegerDefault0" },
    "pattern": { "type": "string", "format": "regex" },
    "additionalItems": { "anyOf": [ { "type": "boolean" }, { "$ref": "#" } ], "default": {} },
    "items": { "anyOf": [ { "$ref": "#" }, { "$ref": "#/definitions/schemaArray" } ], "default": {} },
    "maxItems": { "$ref": "#/definitions/positiveInteger" },
    "minItems": { "$ref": "#/definitions/positiveIntegerDefault0" },
    "uniqueItems": { "type": "boolean", "default": false },
    "maxProperties": { "$ref": "#/definitions/positiveInteger" },
    "minProperties": { "$ref": "#/definitions/positiveIntegerDefault0" },
    "required": { "$ref": "#/definitions/stringArray" },
    "additionalProperties": { "anyOf": [ { "type": "boolean" }, { "$ref": "#" } ], "default": {} },
    "definitions": { "type": "object", "additionalProperties": { "$ref": "#" }, "default": {} },
    "properties": { "type": "object", "additionalProperties": { "$ref": "#" }, "default": {} },
    "patternProperties": { "type": "object", "additionalProperties": { "$ref": "#" }, "default": {} },
    "dependencies": {
      "type": "object",
      "additionalProperties": { "anyOf": [ { "$ref": "#" }, { "$ref": "#/definitions/stringArray" } ] }
    },
    "enum": { "type": "array", "minItems": 1, "uniqueItems": true },
    "type": {
      "anyOf": [
        { "$ref": "#/definitions/simpleTypes" },
        { "type": "array", "items": { "$ref": "#/definitions/simpleTypes" }, "minItems": 1, "uniqueItems": true }
      ]
    },
    "format": { "type": "string" },
    "allOf": { "$ref": "#/definitions/schemaArray" },
    "anyOf": { "$ref": "#/definitions/schemaArray" },
    "oneOf": { "$ref": "#/definitions/schemaArray" },
    "not": { "$ref": "#" }
  },
  "dependencies": { "exclusiveMaximum": [ "maximum" ], "exclusiveMinimum": [ "minimum" ] },
  "default": {}
})json";

// Keywords of later drafts that a draft-4 validator skips without a word: a
// schema using them would look enforced and not be. Refused, with what to use instead.
constexpr std::array<std::pair<std::string_view, std::string_view>, 13> kLaterDraftKeywords = {{
    {"const", "use \"enum\": [value]"},
    {"contains", "not available in draft 4"},
    {"propertyNames", "not available in draft 4"},
    {"if", "use \"oneOf\"/\"anyOf\""},
    {"then", "use \"oneOf\"/\"anyOf\""},
    {"else", "use \"oneOf\"/\"anyOf\""},
    {"dependentRequired", "use \"dependencies\""},
    {"dependentSchemas", "use \"dependencies\""},
    {"prefixItems", "use \"items\": [ ... ]"},
    {"unevaluatedProperties", "use \"additionalProperties\""},
    {"unevaluatedItems", "use \"additionalItems\""},
    {"minContains", "not available in draft 4"},
    {"maxContains", "not available in draft 4"},
}};

std::string Stringify(const rapidjson::Pointer& pointer, bool uri_fragment) {
  rapidjson::StringBuffer buffer;
  if (uri_fragment) {
    pointer.StringifyUriFragment(buffer);
  } else {
    pointer.Stringify(buffer);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

// "at \"/total\": fails \"minimum\" (schema \"#/properties/total\")" for a failed validation.
std::string WhereInvalid(const rapidjson::SchemaValidator& validator) {
  const char* keyword = validator.GetInvalidSchemaKeyword();
  return "at \"" + Stringify(validator.GetInvalidDocumentPointer(), false) + "\": fails \"" +
         std::string(keyword != nullptr ? keyword : "?") + "\" (schema \"" +
         Stringify(validator.GetInvalidSchemaPointer(), true) + "\")";
}

// Parses `text` into `document`; the error (kInvalidArgument) names `what`.
Status ParseDocument(std::string_view text, std::string_view what, rapidjson::Document& document) {
  if (text.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " is not valid JSON: it contains a NUL byte");
  }
  document.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (document.HasParseError()) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " is not valid JSON at byte " +
                                                 std::to_string(document.GetErrorOffset()) + ": " +
                                                 rapidjson::GetParseError_En(document.GetParseError()));
  }
  return {};
}

// The compiled meta-schema and the document it was compiled from.
struct MetaSchemaHolder {
  MetaSchemaHolder() : source(Parsed()), schema(source) {}
  static rapidjson::Document Parsed() {
    rapidjson::Document document;
    document.Parse(kDraft4MetaSchema);
    return document;
  }
  rapidjson::Document source;
  rapidjson::SchemaDocument schema;
};

const rapidjson::SchemaDocument& MetaSchema() {
  // Built on first use (thread-safe), destroyed at exit like any static: a
  // PutSchema still running then is a program ending under its own threads.
  static const MetaSchemaHolder meta;
  return meta.schema;
}

std::string Escape(std::string_view name) {
  // Names in pointers below are shown as written; '~' and '/' escaped as JSON pointers do.
  std::string out;
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// A recursive-descent check of a "pattern" against the grammar RapidJSON's
// regex implements (internal/regex.h), before RapidJSON sees it: that parser
// asserts — aborting a debug build — on some malformed input (an unclosed
// '(', a quantifier with nothing before it) instead of reporting it, and
// treats '^' and '$' as anchors wherever they appear. Returns what is wrong,
// or an empty string.
class PatternSyntax {
 public:
  static std::string Check(std::string_view pattern) {
    PatternSyntax parser(pattern);
    if (parser.Peek() == '^') ++parser.at_;
    parser.Alternation();
    if (parser.error_.empty() && parser.Peek() == '$' && parser.at_ + 1 == pattern.size()) ++parser.at_;
    if (parser.error_.empty() && parser.at_ != pattern.size()) {
      parser.Refuse(pattern[parser.at_] == ')' ? "a ')' without its '('" : "'^' or '$' inside the pattern");
    }
    return parser.error_;
  }

 private:
  explicit PatternSyntax(std::string_view pattern) : pattern_(pattern) {}

  char Peek() const { return at_ < pattern_.size() ? pattern_[at_] : '\0'; }
  bool AtEnd() const { return at_ >= pattern_.size(); }
  void Refuse(const std::string& why) {
    if (error_.empty()) error_ = why + " at offset " + std::to_string(at_);
  }

  void Alternation() {
    Sequence();
    while (error_.empty() && Peek() == '|') {
      ++at_;
      Sequence();
    }
  }
  void Sequence() {
    bool any = false;
    while (error_.empty() && !AtEnd() && Peek() != '|' && Peek() != ')' &&
           !(Peek() == '$' && at_ + 1 == pattern_.size())) {
      Atom();
      Quantifiers();
      any = true;
    }
    if (!any) Refuse("an empty alternative");
  }
  void Atom() {
    const char c = pattern_[at_++];
    switch (c) {
      case '(':
        Alternation();
        if (error_.empty() && Peek() != ')') Refuse("an unclosed '('");
        ++at_;
        return;
      case '[':
        Class();
        return;
      case '\\':
        Escape(false);
        return;
      case '?':
      case '*':
      case '+':
      case '{':
        --at_;
        Refuse(std::string("'") + c + "' with nothing to repeat");
        return;
      case '^':
      case '$':
        --at_;
        Refuse("'^' or '$' inside the pattern");
        return;
      default:
        return;  // '.', or a literal character (a byte of one)
    }
  }
  void Quantifiers() {
    while (error_.empty()) {
      const char c = Peek();
      if (c == '?' || c == '*' || c == '+') {
        ++at_;
      } else if (c == '{') {
        ++at_;
        auto number = [&]() -> std::optional<unsigned long> {
          std::size_t start = at_;
          unsigned long value = 0;
          while (Peek() >= '0' && Peek() <= '9' && value < 100000) value = value * 10 + (pattern_[at_++] - '0');
          if (at_ == start) return std::nullopt;
          return value;
        };
        auto low = number();
        std::optional<unsigned long> high = low;
        if (low && Peek() == ',') {
          ++at_;
          high = Peek() == '}' ? std::optional<unsigned long>(ULONG_MAX) : number();
        }
        if (!low || !high || Peek() != '}' || *high < *low || *high == 0) {
          Refuse("a malformed {n}, {n,} or {n,m} quantifier");
          return;
        }
        ++at_;
      } else {
        return;
      }
    }
  }
  void Class() {
    if (Peek() == '^') ++at_;
    bool any = false;
    while (error_.empty() && !AtEnd() && Peek() != ']') {
      if (pattern_[at_++] == '\\') Escape(true);
      any = true;
    }
    if (AtEnd()) return Refuse("an unclosed '['");
    if (!any) return Refuse("an empty character class");
    ++at_;
  }
  void Escape(bool in_class) {
    const char c = Peek();
    if (std::string_view("^$|()?*+.[]{}\\fnrtv").find(c) != std::string_view::npos || (in_class && c == 'b')) {
      ++at_;
      return;
    }
    Refuse(std::string("the escape \\") + (AtEnd() ? std::string() : std::string(1, c)) +
           " (RapidJSON's regex has no classes like \\d, \\w or \\s: use [0-9], [A-Za-z0-9_], [ \\t\\n])");
  }

  std::string_view pattern_;
  std::size_t at_ = 0;
  std::string error_;
};

// Walks the sub-schemas of `schema` (at JSON pointer `at`) for what the
// meta-schema cannot see: later-draft keywords, patterns RapidJSON cannot
// compile, references it cannot resolve.
Status CheckSubschemas(const rapidjson::Value& root, const rapidjson::Value& schema, const std::string& at) {
  if (!schema.IsObject()) return {};  // the meta-schema has checked where a schema must be an object
  auto refuse = [&](const std::string& where, const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument,
                "the schema is not usable at \"" + (where.empty() ? std::string("") : where) + "\": " + why);
  };
  for (const auto& [keyword, instead] : kLaterDraftKeywords) {
    if (schema.HasMember(rapidjson::StringRef(keyword.data(), keyword.size()))) {
      return refuse(at, "\"" + std::string(keyword) +
                            "\" is not a draft-4 keyword, and cairn's validator (draft 4) would ignore it; " +
                            std::string(instead));
    }
  }
  // What is wrong with a pattern for RapidJSON's regex; empty when it compiles.
  auto pattern_problem = [](const rapidjson::Value& pattern) -> std::string {
    const std::string_view text(pattern.GetString(), pattern.GetStringLength());
    if (text.find('\0') != std::string_view::npos) return "a NUL character";
    std::string problem = PatternSyntax::Check(text);
    if (!problem.empty()) return problem;
    rapidjson::internal::Regex regex(pattern.GetString());
    return regex.IsValid() ? std::string() : std::string("a construct RapidJSON's regex does not support");
  };
  if (auto it = schema.FindMember("pattern"); it != schema.MemberEnd() && it->value.IsString()) {
    if (std::string problem = pattern_problem(it->value); !problem.empty()) {
      return refuse(at + "/pattern", "the regular expression \"" + std::string(it->value.GetString()) +
                                         "\" cannot be used: " + problem);
    }
  }
  if (auto it = schema.FindMember("$ref"); it != schema.MemberEnd() && it->value.IsString()) {
    std::string_view ref(it->value.GetString(), it->value.GetStringLength());
    if (ref.empty() || ref.front() != '#') {
      return refuse(at + "/$ref", "\"" + std::string(ref) +
                                      "\" refers outside the document; remote schemas are not fetched: copy the "
                                      "schema under \"definitions\" and refer to \"#/definitions/...\"");
    }
    rapidjson::Pointer pointer(ref.data(), ref.size());
    if (!pointer.IsValid() || pointer.Get(root) == nullptr) {
      return refuse(at + "/$ref", "\"" + std::string(ref) + "\" does not point to anything in the document");
    }
  }
  for (const char* map_keyword : {"properties", "patternProperties", "definitions", "dependencies"}) {
    auto it = schema.FindMember(map_keyword);
    if (it == schema.MemberEnd() || !it->value.IsObject()) continue;
    for (const auto& member : it->value.GetObject()) {
      const std::string where = at + "/" + map_keyword + "/" + Escape(member.name.GetString());
      if (std::string_view(map_keyword) == "patternProperties") {
        if (std::string problem = pattern_problem(member.name); !problem.empty()) {
          return refuse(where, "the regular expression \"" + std::string(member.name.GetString()) +
                                   "\" cannot be used: " + problem);
        }
      }
      if (auto ok = CheckSubschemas(root, member.value, where); !ok) return ok;
    }
  }
  for (const char* one : {"additionalItems", "additionalProperties", "not", "items"}) {
    auto it = schema.FindMember(one);
    if (it != schema.MemberEnd() && it->value.IsObject()) {
      if (auto ok = CheckSubschemas(root, it->value, at + "/" + one); !ok) return ok;
    }
  }
  for (const char* list : {"items", "allOf", "anyOf", "oneOf"}) {
    auto it = schema.FindMember(list);
    if (it == schema.MemberEnd() || !it->value.IsArray()) continue;
    for (rapidjson::SizeType i = 0; i < it->value.Size(); ++i) {
      if (auto ok = CheckSubschemas(root, it->value[i], at + "/" + list + "/" + std::to_string(i)); !ok) return ok;
    }
  }
  return {};
}

std::string NameOf(const std::string& event_type, std::uint64_t registration, const rapidjson::Value& document) {
  std::string name = "\"" + event_type + "\" (registration " + std::to_string(registration);
  if (document.IsObject()) {
    for (const char* key : {"$id", "id", "title"}) {
      auto it = document.FindMember(key);
      if (it != document.MemberEnd() && it->value.IsString()) {
        name += std::string(", ") + key + " \"" + it->value.GetString() + "\"";
        break;
      }
    }
  }
  return name + ")";
}

}  // namespace

Status CheckSchemaDocument(std::string_view text) {
  rapidjson::Document document;
  if (auto ok = ParseDocument(text, "the schema", document); !ok) return ok;
  if (!document.IsObject()) return Fail(ErrorCode::kInvalidArgument, "the schema must be a JSON object");
  if (auto it = document.FindMember("$schema"); it != document.MemberEnd() && it->value.IsString()) {
    std::string_view declared(it->value.GetString(), it->value.GetStringLength());
    if (declared != "http://json-schema.org/draft-04/schema#" && declared != "http://json-schema.org/draft-04/schema") {
      return Fail(ErrorCode::kInvalidArgument,
                  "the schema declares \"$schema\": \"" + std::string(declared) +
                      "\", but cairn validates JSON Schema draft 4 only (RapidJSON): declare "
                      "\"http://json-schema.org/draft-04/schema#\" or leave \"$schema\" out");
    }
  }
  rapidjson::SchemaValidator validator(MetaSchema());
  if (!document.Accept(validator)) {
    return Fail(ErrorCode::kInvalidArgument,
                "the schema is not a valid draft-4 JSON Schema: " + WhereInvalid(validator));
  }
  return CheckSubschemas(document, document, "");
}

struct CompiledSchema::Compiled {
  explicit Compiled(rapidjson::Document source) : document(std::move(source)), schema(document) {}
  rapidjson::Document document;  // kept alive beside the schema compiled from it
  rapidjson::SchemaDocument schema;
};

CompiledSchema::CompiledSchema(std::string event_type, std::uint64_t registration, std::string_view text)
    : event_type_(std::move(event_type)), registration_(registration), document_(text) {
  rapidjson::Document document;
  Status checked = CheckSchemaDocument(text);
  if (checked) checked = ParseDocument(text, "the schema", document);
  name_ = NameOf(event_type_, registration_, document);
  if (!checked) {
    broken_ = "the stored JSON Schema of " + name_ + " cannot be used: " + checked.error().message();
    return;
  }
  compiled_ = std::make_unique<Compiled>(std::move(document));
  // Conservative: the word anywhere (a property called "pattern" too) only costs an uncontended lock.
  has_patterns_ = text.find("pattern") != std::string_view::npos;
}

CompiledSchema::~CompiledSchema() = default;

std::shared_ptr<const CompiledSchema> CompiledSchema::Compile(std::string_view event_type, std::uint64_t registration,
                                                              std::string_view document) {
  return std::shared_ptr<const CompiledSchema>(new CompiledSchema(std::string(event_type), registration, document));
}

Status CompiledSchema::Validate(std::string_view data) const {
  if (!compiled_) return Fail(ErrorCode::kCorruption, broken_);
  std::unique_lock<std::mutex> patterns;
  if (has_patterns_) patterns = std::unique_lock(pattern_mutex_);
  // Straight from the text into the validator (a SAX handler): no DOM is built.
  rapidjson::SchemaValidator validator(compiled_->schema);
  rapidjson::MemoryStream stream(data.data(), data.size());
  rapidjson::Reader reader;
  rapidjson::ParseResult parsed = reader.Parse<rapidjson::kParseStopWhenDoneFlag>(stream, validator);
  if (!validator.IsValid()) {
    return Fail(ErrorCode::kInvalidArgument,
                "data does not match the JSON Schema of " + name_ + ": " + WhereInvalid(validator));
  }
  if (!parsed) {
    return Fail(ErrorCode::kInvalidArgument, "data is not valid JSON at byte " + std::to_string(parsed.Offset()) +
                                                 ": " + rapidjson::GetParseError_En(parsed.Code()));
  }
  return {};
}

std::shared_ptr<const CompiledSchema> SchemaSet::Reuse(std::string_view type, std::uint64_t registration,
                                                       std::string_view document) const {
  auto it = by_type.find(type);
  // The text too: after DeleteSchema, registration numbers start again at 1.
  if (it != by_type.end() && it->second->registration() == registration && it->second->document() == document) {
    return it->second;
  }
  return CompiledSchema::Compile(type, registration, document);
}

}  // namespace cairn::detail
