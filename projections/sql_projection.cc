// SQL projections: the meaning of a projection file (keys, names, SQL checks)
// and the handlers that run its statements. The file's syntax is in
// projection_file.cc; the format's reference is docs/sql-projections.md.
#include "cairn/sql_projection.h"
#include "cairn/file.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "projection_file.h"
#include "read_model.h"

namespace cairn {
namespace {

using detail::TomlTable;
using detail::TomlValue;
using projection_detail::SqliteError;
using projection_detail::SqliteHandle;
using projection_detail::StatementHandle;

// ---------------------------------------------------------------------------
// Where a parameter's value comes from.

// Do not reorder without updating kBuiltins.
enum class Builtin : std::uint8_t {
  kStream,
  kRevision,
  kPosition,
  kRecordedAt,
  kRecordedAtUs,
  kType,
  kEventId,
  kCategory,
  kContentType,
};

constexpr std::array<std::pair<std::string_view, Builtin>, 9> kBuiltins{{
    {"stream", Builtin::kStream},
    {"revision", Builtin::kRevision},
    {"position", Builtin::kPosition},
    {"recorded_at", Builtin::kRecordedAt},
    {"recorded_at_us", Builtin::kRecordedAtUs},
    {"type", Builtin::kType},
    {"event_id", Builtin::kEventId},
    {"category", Builtin::kCategory},
    {"content_type", Builtin::kContentType},
}};

std::optional<Builtin> FindBuiltin(std::string_view name) {
  for (const auto& [builtin_name, builtin] : kBuiltins) {
    if (builtin_name == name) return builtin;
  }
  return std::nullopt;
}

std::string BuiltinNames() {
  std::string names;
  for (const auto& [name, builtin] : kBuiltins) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  return names;
}

// One step of a JSON path: a member name or an array index.
struct PathStep {
  std::string key;
  std::optional<std::uint32_t> index;
};

struct Source {
  enum class Kind : std::uint8_t { kBuiltin, kData, kMetadata };
  Kind kind = Kind::kBuiltin;
  Builtin builtin = Builtin::kStream;
  std::vector<PathStep> steps;  // after data / metadata; empty for the whole document
  std::string text;             // as written
};

bool IsBarePathChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool IsIdentifier(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsBarePathChar(c) && c != '-'; });
}

// A built-in name, or data / metadata followed by .key, [index] and ["key"] steps.
// The error is the message, without a location.
std::expected<Source, std::string> ParseSource(std::string_view text) {
  Source source;
  source.text = std::string(text);
  if (auto builtin = FindBuiltin(text)) {
    source.builtin = *builtin;
    return source;
  }
  const std::size_t root_end = std::min(text.find_first_of(".["), text.size());
  const std::string_view root = text.substr(0, root_end);
  if (root == "data") {
    source.kind = Source::Kind::kData;
  } else if (root == "metadata") {
    source.kind = Source::Kind::kMetadata;
  } else {
    return std::unexpected("\"" + std::string(text) + "\" is neither a built-in (" + BuiltinNames() +
                           ") nor a JSON path starting with data or metadata");
  }
  const auto bad = [&](std::size_t at, std::string_view what) {
    return std::unexpected("bad JSON path \"" + std::string(text) + "\" at character " + std::to_string(at + 1) +
                           ": " + std::string(what));
  };
  std::size_t pos = root_end;
  while (pos < text.size()) {
    PathStep step;
    if (text[pos] == '.') {
      const std::size_t start = ++pos;
      while (pos < text.size() && IsBarePathChar(text[pos])) ++pos;
      if (pos == start) return bad(start, "expected a key after '.' (write other keys as [\"key\"])");
      step.key = std::string(text.substr(start, pos - start));
    } else if (text[pos] == '[') {
      ++pos;
      if (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        std::uint64_t index = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          index = index * 10 + static_cast<std::uint64_t>(text[pos] - '0');
          if (index >= UINT32_MAX) return bad(pos, "array index too large");
          ++pos;
        }
        step.index = static_cast<std::uint32_t>(index);
      } else if (pos < text.size() && text[pos] == '"') {
        ++pos;
        for (;;) {
          if (pos >= text.size()) return bad(pos, "unterminated quoted key");
          const char c = text[pos++];
          if (c == '"') break;
          if (c == '\\') {
            if (pos >= text.size() || (text[pos] != '"' && text[pos] != '\\')) {
              return bad(pos, "only \\\" and \\\\ may be escaped in a quoted key");
            }
            step.key.push_back(text[pos++]);
            continue;
          }
          step.key.push_back(c);
        }
      } else {
        return bad(pos, "expected an array index or a quoted key after '['");
      }
      if (pos >= text.size() || text[pos] != ']') return bad(pos, "expected ']'");
      ++pos;
    } else {
      return bad(pos, std::string("unexpected '") + text[pos] + "'");
    }
    source.steps.push_back(std::move(step));
  }
  return source;
}

// ---------------------------------------------------------------------------
// The compiled form of one [on."TYPE"] table.

struct Statement {
  std::string sql;      // one statement, as prepared at load time
  std::string where;    // "FILE:LINE" of its first token
  std::string excerpt;  // its start, on one line, for messages
  // Each named parameter as written (":total") and the slot of its value.
  std::vector<std::pair<std::string, std::size_t>> binds;
};

// A parameter value for one event: a view into the event or the parsed JSON,
// or text of its own.
struct Bound {
  enum class Kind : std::uint8_t { kNull, kInteger, kReal, kText, kBlob };
  Kind kind = Kind::kNull;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view bytes;
  std::string owned;

  void SetOwnedText(std::string text) {
    kind = Kind::kText;
    owned = std::move(text);
    bytes = owned;
  }
};


void BindJson(const rapidjson::Value& value, Bound& out) {
  if (value.IsNull()) {
    out.kind = Bound::Kind::kNull;
  } else if (value.IsBool()) {
    out.kind = Bound::Kind::kInteger;
    out.integer = value.GetBool() ? 1 : 0;
  } else if (value.IsInt64()) {  // every integer in int64 range, exactly
    out.kind = Bound::Kind::kInteger;
    out.integer = value.GetInt64();
  } else if (value.IsNumber()) {  // fractions, exponents, integers beyond int64
    out.kind = Bound::Kind::kReal;
    out.real = value.GetDouble();
  } else if (value.IsString()) {
    out.kind = Bound::Kind::kText;
    out.bytes = std::string_view(value.GetString(), value.GetStringLength());
  } else {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    value.Accept(writer);
    out.SetOwnedText(std::string(buffer.GetString(), buffer.GetSize()));
  }
}

// Walks `steps` from `root`; nullptr when the path leads nowhere.
const rapidjson::Value* Walk(const rapidjson::Value& root, const std::vector<PathStep>& steps) {
  const rapidjson::Value* value = &root;
  for (const PathStep& step : steps) {
    if (step.index) {
      if (!value->IsArray() || *step.index >= value->Size()) return nullptr;
      value = &(*value)[*step.index];
    } else {
      if (!value->IsObject()) return nullptr;
      const rapidjson::Value name(
          rapidjson::StringRef(step.key.data(), static_cast<rapidjson::SizeType>(step.key.size())));
      const auto member = value->FindMember(name);
      if (member == value->MemberEnd()) return nullptr;
      value = &member->value;
    }
  }
  return value;
}

class Handler {
 public:
  std::string projection;
  std::string event_type;
  std::vector<Source> slots;
  std::vector<Statement> statements;
  bool reads_data = false;      // some slot is a data path
  bool reads_metadata = false;  // some slot is a metadata path

  Status Apply(ReadModelWriter& writer, const EventView& event) const {
    rapidjson::Document data;
    rapidjson::Document metadata;
    const bool data_is_json = IsJsonContentType(event.content_type);
    if (reads_data && data_is_json && !event.data.empty()) {
      if (auto parsed = ParseJson(data, event.data, "data", event); !parsed) return parsed;
    }
    if (reads_metadata && !event.metadata.empty()) {
      if (auto parsed = ParseJson(metadata, event.metadata, "metadata", event); !parsed) return parsed;
    }
    std::vector<Bound> values(slots.size());
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Evaluate(slots[i], event, data_is_json ? &data : nullptr, metadata, values[i]);
    }
    for (std::size_t i = 0; i < statements.size(); ++i) {
      if (auto ran = Run(writer, i, values, event); !ran) return ran;
    }
    return {};
  }

 private:
  std::string Prefix(const EventView& event) const {
    return "projection " + projection + ": " + event_type + " at position " + std::to_string(event.position);
  }

  Status ParseJson(rapidjson::Document& document, std::string_view text, std::string_view what,
                   const EventView& event) const {
    document.Parse<rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
    if (document.HasParseError()) {
      return Fail(ErrorCode::kInvalidArgument, Prefix(event) + ": the event's " + std::string(what) +
                                                   " is not valid JSON at byte " +
                                                   std::to_string(document.GetErrorOffset()) + ": " +
                                                   rapidjson::GetParseError_En(document.GetParseError()));
    }
    return {};
  }

  // `data` is nullptr when the event's data is not JSON. A document that was
  // not parsed (the event's data or metadata is empty) is JSON null: every
  // path into it binds NULL.
  static void Evaluate(const Source& source, const EventView& event, const rapidjson::Value* data,
                       const rapidjson::Value& metadata, Bound& out) {
    switch (source.kind) {
      case Source::Kind::kBuiltin:
        switch (source.builtin) {
          case Builtin::kStream: out.kind = Bound::Kind::kText; out.bytes = event.stream; return;
          case Builtin::kRevision:
            out.kind = Bound::Kind::kInteger;
            out.integer = static_cast<std::int64_t>(event.revision);
            return;
          case Builtin::kPosition:
            out.kind = Bound::Kind::kInteger;
            out.integer = static_cast<std::int64_t>(event.position);
            return;
          case Builtin::kRecordedAt: out.SetOwnedText(FormatTimestamp(event.recorded_at_us)); return;
          case Builtin::kRecordedAtUs: out.kind = Bound::Kind::kInteger; out.integer = event.recorded_at_us; return;
          case Builtin::kType: out.kind = Bound::Kind::kText; out.bytes = event.type; return;
          case Builtin::kEventId: out.SetOwnedText(event.id.ToString()); return;
          case Builtin::kCategory: out.kind = Bound::Kind::kText; out.bytes = CategoryOf(event.stream); return;
          case Builtin::kContentType: out.kind = Bound::Kind::kText; out.bytes = event.content_type; return;
        }
        return;
      case Source::Kind::kData:
        if (data == nullptr) {  // not JSON: the whole data is its bytes; a path into it is NULL
          if (source.steps.empty()) {
            out.kind = Bound::Kind::kBlob;
            out.bytes = event.data;
          }
          return;
        }
        if (const rapidjson::Value* value = Walk(*data, source.steps)) BindJson(*value, out);
        return;
      case Source::Kind::kMetadata:
        if (const rapidjson::Value* value = Walk(metadata, source.steps)) BindJson(*value, out);
        return;
    }
  }

  Status Run(ReadModelWriter& writer, std::size_t index, const std::vector<Bound>& values,
             const EventView& event) const {
    const Statement& statement = statements[index];
    const auto where = [&] {
      return Prefix(event) + ": statement " + std::to_string(index + 1) + " of " + std::to_string(statements.size()) +
             " (" + statement.where + ": " + statement.excerpt + ")";
    };
    auto prepared = writer.Prepare(statement.sql);
    if (!prepared) return Fail(prepared.error().code(), where() + ": " + prepared.error().message());
    sqlite3_stmt* stmt = *prepared;
    const auto failed = [&](int rc) {
      Error error = SqliteError(sqlite3_db_handle(stmt), rc, where());
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
      return Fail(std::move(error));
    };
    for (const auto& [name, slot] : statement.binds) {
      const int at = sqlite3_bind_parameter_index(stmt, name.c_str());
      if (at == 0) {
        sqlite3_clear_bindings(stmt);
        return Fail(ErrorCode::kInvalidArgument, where() + ": the prepared statement has no parameter " + name);
      }
      const Bound& value = values[slot];
      int rc = SQLITE_OK;
      switch (value.kind) {
        case Bound::Kind::kNull: rc = sqlite3_bind_null(stmt, at); break;
        case Bound::Kind::kInteger: rc = sqlite3_bind_int64(stmt, at, value.integer); break;
        case Bound::Kind::kReal: rc = sqlite3_bind_double(stmt, at, value.real); break;
        // The values outlive the statement's use: bindings are cleared before returning.
        case Bound::Kind::kText:
          rc = sqlite3_bind_text64(stmt, at, value.bytes.data(), value.bytes.size(), SQLITE_STATIC, SQLITE_UTF8);
          break;
        case Bound::Kind::kBlob:
          rc = sqlite3_bind_blob64(stmt, at, value.bytes.data(), value.bytes.size(), SQLITE_STATIC);
          break;
      }
      if (rc != SQLITE_OK) return failed(rc);
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return failed(rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return {};
  }
};

// ---------------------------------------------------------------------------
// Checking the file.

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// What SQL may do in the schema and in the statements; SQLite asks while preparing.
struct Authorizer {
  bool schema = true;  // the [schema] script (else an [on.*] statement)
  std::string denial;  // why the last denied action was denied

  static int Callback(void* context, int action, const char* arg1, const char*, const char*,
                      const char*) noexcept {
    auto* self = static_cast<Authorizer*>(context);
    try {
      return self->Decide(action, arg1 != nullptr ? arg1 : "");
    } catch (...) {
      return SQLITE_DENY;
    }
  }

  int Decide(int action, std::string_view arg1) {
    switch (action) {
      case SQLITE_TRANSACTION:
      case SQLITE_SAVEPOINT:
        return Deny("BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not allowed: the runner owns the transaction");
      case SQLITE_ATTACH:
      case SQLITE_DETACH: return Deny("ATTACH and DETACH are not allowed: a read model is one database");
      case SQLITE_PRAGMA: return Deny("PRAGMA " + std::string(arg1) + " is not allowed");
      case SQLITE_CREATE_TEMP_INDEX:
      case SQLITE_CREATE_TEMP_TABLE:
      case SQLITE_CREATE_TEMP_TRIGGER:
      case SQLITE_CREATE_TEMP_VIEW:
        return Deny("temporary tables, views, indexes and triggers are not allowed: they would not persist");
      case SQLITE_CREATE_VTABLE:
        if (!schema) return DenySchemaChange();
        return Deny("virtual tables are not supported in read models");
      case SQLITE_CREATE_TABLE:
      case SQLITE_CREATE_INDEX:
      case SQLITE_CREATE_TRIGGER:
      case SQLITE_CREATE_VIEW:
        if (!schema) return DenySchemaChange();
        if (StartsWithNoCase(arg1, "cairn_")) {
          return Deny("the name " + std::string(arg1) + " is reserved: names starting with cairn_ belong to cairn");
        }
        return SQLITE_OK;
      case SQLITE_DROP_INDEX:
      case SQLITE_DROP_TABLE:
      case SQLITE_DROP_TRIGGER:
      case SQLITE_DROP_VIEW:
      case SQLITE_DROP_VTABLE:
      case SQLITE_DROP_TEMP_INDEX:
      case SQLITE_DROP_TEMP_TABLE:
      case SQLITE_DROP_TEMP_TRIGGER:
      case SQLITE_DROP_TEMP_VIEW:
      case SQLITE_ALTER_TABLE:
      case SQLITE_REINDEX:
      case SQLITE_ANALYZE:
        if (!schema) return DenySchemaChange();
        return SQLITE_OK;
      default: return SQLITE_OK;
    }
  }

  int Deny(std::string why) {
    denial = std::move(why);
    return SQLITE_DENY;
  }
  int DenySchemaChange() { return Deny("statements that change the schema belong in [schema]"); }
};

// Skips whitespace, comments and empty statements (';') from `pos`.
std::size_t SkipSqlSpace(std::string_view sql, std::size_t pos) {
  while (pos < sql.size()) {
    const char c = sql[pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ';') {
      ++pos;
    } else if (sql.substr(pos).starts_with("--")) {
      const std::size_t end = sql.find('\n', pos);
      pos = end == std::string_view::npos ? sql.size() : end + 1;
    } else if (sql.substr(pos).starts_with("/*")) {
      const std::size_t end = sql.find("*/", pos + 2);
      pos = end == std::string_view::npos ? sql.size() : end + 2;
    } else {
      break;
    }
  }
  return pos;
}

// The start of a statement on one line, for messages.
std::string Excerpt(std::string_view sql) {
  std::string excerpt;
  bool space = false;
  for (const char c : sql) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !excerpt.empty();
      continue;
    }
    if (space) excerpt.push_back(' ');
    space = false;
    excerpt.push_back(c);
    if (excerpt.size() >= 60) return excerpt + "…";
  }
  return excerpt;
}

// As the runner checks it (ProjectionRunner::Add): 1-128 characters of [a-z0-9_].
bool IsValidProjectionName(std::string_view name) {
  return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A param of an [on.*] table.
struct ParamSpec {
  std::string name;
  Source source;
  int line = 0;
  bool used = false;
};

class Loader : detail::TomlFileChecks {
 public:
  explicit Loader(std::string_view file_name) : TomlFileChecks(file_name) {}

  Result<Projection> Load(std::string_view text) {
    auto document = detail::ParseToml(text, file_);
    if (!document) return Fail(document.error());
    if (auto read = ReadRoot(*document); !read) return Fail(read.error());
    if (auto checked = CheckSql(); !checked) return Fail(checked.error());
    return std::move(projection_);
  }

 private:
  // The SQL of one [on.*] table, until it is checked.
  struct HandlerSpec {
    std::string event_type;
    std::string path;  // on."order.placed.v1"
    std::vector<const TomlValue*> statements;
    std::string statements_path;  // on."order.placed.v1".sql
    bool statements_array = false;  // sql = [ … ]: statements are named sql[0], sql[1], …
    std::vector<ParamSpec> params;
  };


  Status ReadRoot(const TomlTable& root) {
    const TomlValue* projection = nullptr;
    const TomlValue* schema = nullptr;
    const TomlValue* on = nullptr;
    for (const auto& [key, value] : root.entries) {
      if (key == "projection") {
        projection = &value;
      } else if (key == "schema") {
        schema = &value;
      } else if (key == "on") {
        on = &value;
      } else {
        return At(value.line, "unknown key " + detail::TomlQuoteKey(key) +
                                  " (a SQL projection file has the tables [projection], [schema] and "
                                  "[on.\"EVENT TYPE\"])");
      }
      if (auto kind = ExpectKind(value, TomlValue::Kind::kTable, key); !kind) return kind;
    }
    if (projection == nullptr) return At(1, "no [projection] table (with name and version)");
    if (auto read = ReadProjection(*projection->table); !read) return read;
    if (schema == nullptr) return At(1, "no [schema] table (with sql, the script that creates the read model)");
    if (auto read = ReadSchema(*schema->table); !read) return read;
    if (on == nullptr || on->table->entries.empty()) {
      return At(on == nullptr ? 1 : on->line,
                "no [on.\"EVENT TYPE\"] table: the projection would apply no event");
    }
    for (const auto& [type, value] : on->table->entries) {
      if (auto read = ReadHandler(type, value); !read) return read;
    }
    return {};
  }

  Status ReadProjection(const TomlTable& table) {
    bool has_name = false;
    bool has_version = false;
    const TomlValue* max_backoff = nullptr;
    for (const auto& [key, value] : table.entries) {
      const std::string path = Join("projection", key);
      if (key == "name") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        if (!IsValidProjectionName(value.string)) {
          return At(value.line, "invalid projection name \"" + value.string +
                                    "\": use 1 to 128 lower-case letters, digits and _ ([a-z0-9_])");
        }
        projection_.name = value.string;
        has_name = true;
      } else if (key == "version") {
        if (auto range = ExpectRange(value, path, 1, UINT32_MAX); !range) return range;
        projection_.version = static_cast<std::uint32_t>(value.integer);
        has_version = true;
      } else if (key == "categories") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kArray, path); !kind) return kind;
        for (const TomlValue& element : value.array) {
          if (auto kind = ExpectKind(element, TomlValue::Kind::kString, path + " element"); !kind) return kind;
          if (auto valid = ValidateStreamName(element.string); !valid) {
            return At(element.line, "invalid category \"" + element.string + "\": " + valid.error().message());
          }
          if (element.string.find('-') != std::string::npos) {
            return At(element.line, "invalid category \"" + element.string +
                                        "\": a category is the part of a stream name before its first '-'");
          }
          projection_.filter.categories.push_back(element.string);
        }
      } else if (key == "on_failure") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        if (value.string == "park") {
          projection_.on_failure = OnHandlerFailure::kPark;
        } else if (value.string == "stop") {
          projection_.on_failure = OnHandlerFailure::kStop;
        } else {
          return At(value.line, "projection.on_failure must be \"park\" or \"stop\", not \"" + value.string + "\"");
        }
      } else if (key == "max_attempts") {
        if (auto range = ExpectRange(value, path, 1, 1'000'000); !range) return range;
        projection_.retry.max_attempts = static_cast<std::uint32_t>(value.integer);
      } else if (key == "initial_backoff_ms") {
        if (auto range = ExpectRange(value, path, 0, 3'600'000); !range) return range;
        projection_.retry.initial_backoff = std::chrono::milliseconds(value.integer);
      } else if (key == "max_backoff_ms") {
        if (auto range = ExpectRange(value, path, 0, 3'600'000); !range) return range;
        projection_.retry.max_backoff = std::chrono::milliseconds(value.integer);
        max_backoff = &value;
      } else if (key == "upcasters") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        // Relative to the projection file, so that the two travel together.
        std::filesystem::path file = value.string;
        if (file.is_relative()) file = std::filesystem::path(file_).parent_path() / file;
        auto loaded = LoadUpcasterFile(file.string());
        if (!loaded) return At(value.line, path + ": " + loaded.error().message());
        projection_.upcasters = std::make_shared<const Upcasters>(std::move(*loaded));
        upcasters_file_ = file.string();
      } else {
        return At(value.line, "unknown key " + path +
                                  " (expected name, version, categories, on_failure, max_attempts, "
                                  "initial_backoff_ms, max_backoff_ms, upcasters)");
      }
    }
    if (!has_name) return At(table.line, "[projection] has no name");
    if (!has_version) return At(table.line, "[projection] has no version (start with version = 1)");
    if (max_backoff != nullptr && projection_.retry.max_backoff < projection_.retry.initial_backoff) {
      return At(max_backoff->line, "projection.max_backoff_ms is less than projection.initial_backoff_ms");
    }
    return {};
  }

  Status ReadSchema(const TomlTable& table) {
    for (const auto& [key, value] : table.entries) {
      if (key != "sql") return At(value.line, "unknown key " + Join("schema", key) + " (expected sql)");
      if (auto kind = ExpectKind(value, TomlValue::Kind::kString, "schema.sql"); !kind) return kind;
      schema_ = &value;
    }
    if (schema_ == nullptr) return At(table.line, "[schema] has no sql");
    projection_.schema = schema_->string;
    return {};
  }

  Status ReadHandler(const std::string& type, const TomlValue& value) {
    HandlerSpec spec;
    spec.event_type = type;
    spec.path = Join("on", type);
    spec.statements_path = Join(spec.path, "sql");
    if (auto valid = ValidateEventType(type); !valid) return At(value.line, spec.path + ": " + valid.error().message());
    if (auto kind = ExpectKind(value, TomlValue::Kind::kTable, spec.path); !kind) return kind;
    if (projection_.upcasters) {
      // Handlers see upcast events: a handler for an older version would never run.
      if (std::string newest = projection_.upcasters->TargetType(type); newest != type) {
        return At(value.line, "[" + spec.path + "]: " + upcasters_file_ + " upcasts " + type + " to " + newest +
                                  ", so this handler would never run; handle " + newest + " instead");
      }
    }
    bool has_sql = false;
    for (const auto& [key, entry] : value.table->entries) {
      if (key == "sql") {
        has_sql = true;
        if (entry.kind == TomlValue::Kind::kString) {
          spec.statements.push_back(&entry);
        } else if (entry.kind == TomlValue::Kind::kArray) {
          spec.statements_array = true;
          if (entry.array.empty()) return At(entry.line, spec.statements_path + " is an empty array");
          for (const TomlValue& element : entry.array) {
            if (element.kind != TomlValue::Kind::kString) {
              return At(element.line, spec.statements_path + " must be a string or an array of strings");
            }
            spec.statements.push_back(&element);
          }
        } else {
          return At(entry.line, spec.statements_path + " must be a string or an array of strings");
        }
      } else if (key == "params") {
        if (auto kind = ExpectKind(entry, TomlValue::Kind::kTable, Join(spec.path, key)); !kind) return kind;
        for (const auto& [name, param] : entry.table->entries) {
          if (auto read = ReadParam(spec, Join(entry.table->path, name), name, param); !read) return read;
        }
      } else {
        std::string message = "unknown key " + Join(spec.path, key) + " (expected sql and params)";
        if (entry.kind == TomlValue::Kind::kTable) {
          message += "; an event type that contains dots must be quoted: [on.\"" + type + "." + key + "…\"]";
        }
        return At(entry.line, std::move(message));
      }
    }
    if (!has_sql) return At(value.line, "[" + spec.path + "] has no sql");
    projection_.filter.event_types.push_back(type);
    handlers_.push_back(std::move(spec));
    return {};
  }

  Status ReadParam(HandlerSpec& spec, const std::string& path, const std::string& name, const TomlValue& value) {
    if (!IsIdentifier(name)) {
      return At(value.line,
                "invalid parameter name " + path + ": use letters, digits and _, not starting with a digit");
    }
    if (FindBuiltin(name)) {
      return At(value.line, path + " would hide the built-in :" + name + "; choose another name");
    }
    if (value.kind != TomlValue::Kind::kString) {
      return At(value.line, path + " must be a string: a JSON path (\"data.total\") or a built-in name");
    }
    auto source = ParseSource(value.string);
    if (!source) return At(value.line, path + ": " + source.error());
    spec.params.push_back({.name = name, .source = std::move(*source), .line = value.line});
    return {};
  }

  // Runs the schema in an empty in-memory database, then prepares every
  // statement against it and binds its parameters to their sources.
  Status CheckSql() {
    auto opened = projection_detail::OpenConnection(":memory:", projection_detail::OpenMode::kRelaxed, /*create=*/true);
    if (!opened) return Fail(opened.error());
    const SqliteHandle db = std::move(*opened);
    Authorizer authorizer;
    sqlite3_set_authorizer(db.get(), &Authorizer::Callback, &authorizer);
    if (auto ran = RunSchema(db.get(), authorizer); !ran) return ran;
    authorizer.schema = false;
    for (HandlerSpec& spec : handlers_) {
      auto handler = std::make_shared<Handler>();
      handler->projection = projection_.name;
      handler->event_type = spec.event_type;
      std::map<std::string, std::size_t, std::less<>> slot_of;  // by source text
      const auto slot = [&](const Source& source) {
        auto [it, added] = slot_of.try_emplace(source.text, handler->slots.size());
        if (added) {
          handler->slots.push_back(source);
          handler->reads_data |= source.kind == Source::Kind::kData;
          handler->reads_metadata |= source.kind == Source::Kind::kMetadata;
        }
        return it->second;
      };
      for (std::size_t i = 0; i < spec.statements.size(); ++i) {
        const std::string path =
            spec.statements_array ? spec.statements_path + "[" + std::to_string(i) + "]" : spec.statements_path;
        auto statement = CheckStatement(db.get(), authorizer, *spec.statements[i], path, spec, slot);
        if (!statement) return Fail(statement.error());
        handler->statements.push_back(std::move(*statement));
      }
      for (const ParamSpec& param : spec.params) {
        if (!param.used) {
          return At(param.line, Join(Join(spec.path, "params"), param.name) + " is not used by any statement (:" +
                                    param.name + ")");
        }
      }
      projection_.handlers.emplace(spec.event_type, [shared = std::shared_ptr<const Handler>(std::move(handler))](
                                                        ReadModelWriter& writer, const EventView& event) {
        return shared->Apply(writer, event);
      });
    }
    return {};
  }

  // SQLite's message for the last failure, or the authorizer's reason.
  static std::string SqliteMessage(sqlite3* db, Authorizer& authorizer) {
    std::string message = authorizer.denial.empty() ? std::string(sqlite3_errmsg(db)) : authorizer.denial;
    authorizer.denial.clear();
    return message;
  }

  // Where SQLite says the error is, as an offset into `sql`, or `fallback`.
  static std::size_t ErrorOffset([[maybe_unused]] sqlite3* db, std::size_t base, std::size_t fallback) {
#if SQLITE_VERSION_NUMBER >= 3038000
    const int offset = sqlite3_error_offset(db);
    if (offset >= 0) return base + static_cast<std::size_t>(offset);
#endif
    return fallback;
  }

  Status RunSchema(sqlite3* db, Authorizer& authorizer) {
    const std::string& script = schema_->string;
    std::size_t pos = 0;
    int statements = 0;
    for (;;) {
      pos = SkipSqlSpace(script, pos);
      if (pos >= script.size()) break;
      sqlite3_stmt* raw = nullptr;
      const char* tail = nullptr;
      int rc = sqlite3_prepare_v2(db, script.data() + pos, static_cast<int>(script.size() - pos), &raw, &tail);
      StatementHandle stmt(raw);
      if (rc != SQLITE_OK) {
        const std::size_t at = ErrorOffset(db, pos, pos);
        return At(schema_->LineAt(at), "schema.sql: " + SqliteMessage(db, authorizer));
      }
      if (stmt == nullptr) break;
      while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      }
      if (rc != SQLITE_DONE) return At(schema_->LineAt(pos), "schema.sql: " + SqliteMessage(db, authorizer));
      ++statements;
      pos = static_cast<std::size_t>(tail - script.data());
    }
    if (statements == 0) return At(schema_->line, "schema.sql has no SQL statement");
    // ALTER TABLE … RENAME TO is not shown to the authorizer with its new name.
    sqlite3_set_authorizer(db, nullptr, nullptr);
    sqlite3_stmt* raw = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT name FROM sqlite_master WHERE name LIKE 'cairn\\_%' ESCAPE '\\' "
                       "OR tbl_name LIKE 'cairn\\_%' ESCAPE '\\'",
                       -1, &raw, nullptr);
    StatementHandle reserved(raw);
    if (reserved != nullptr && sqlite3_step(reserved.get()) == SQLITE_ROW) {
      return At(schema_->line, "schema.sql creates " +
                                   std::string(reinterpret_cast<const char*>(sqlite3_column_text(reserved.get(), 0))) +
                                   ": names starting with cairn_ are reserved");
    }
    sqlite3_set_authorizer(db, &Authorizer::Callback, &authorizer);
    return {};
  }

  template <class SlotOf>
  Result<Statement> CheckStatement(sqlite3* db, Authorizer& authorizer, const TomlValue& value,
                                   const std::string& path, HandlerSpec& spec, const SlotOf& slot) const {
    const std::string& text = value.string;
    const std::size_t start = SkipSqlSpace(text, 0);
    if (start >= text.size()) return At(value.line, path + " is empty: it has no SQL statement");
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db, text.data() + start, static_cast<int>(text.size() - start), &raw, &tail);
    StatementHandle stmt(raw);
    if (rc != SQLITE_OK) {
      return At(value.LineAt(ErrorOffset(db, start, start)), path + ": " + SqliteMessage(db, authorizer));
    }
    if (stmt == nullptr) return At(value.line, path + " is empty: it has no SQL statement");
    const auto end = static_cast<std::size_t>(tail - text.data());
    if (const std::size_t rest = SkipSqlSpace(text, end); rest < text.size()) {
      return At(value.LineAt(rest), path + " holds more than one statement; write sql = [ … ] with one statement "
                                            "per string");
    }
    Statement statement;
    statement.sql = text.substr(start, end - start);
    while (!statement.sql.empty() && std::strchr(" \t\r\n\f\v", statement.sql.back()) != nullptr) {
      statement.sql.pop_back();
    }
    statement.where = file_ + ":" + std::to_string(value.LineAt(start));
    statement.excerpt = Excerpt(statement.sql);
    const int count = sqlite3_bind_parameter_count(stmt.get());
    for (int i = 1; i <= count; ++i) {
      const char* name = sqlite3_bind_parameter_name(stmt.get(), i);
      if (name == nullptr || name[0] == '?') {
        return At(value.LineAt(start), path + ": positional parameters (?, ?NNN) are not supported; use named "
                                               "parameters such as :total");
      }
      const std::string written = name;
      const std::string bare = written.substr(1);
      const int line = value.LineAt(FindParameter(text, start, written));
      if (!IsIdentifier(bare)) {
        return At(line, path + ": unsupported parameter name " + written + " (use letters, digits and _)");
      }
      auto param = std::find_if(spec.params.begin(), spec.params.end(),
                                [&](const ParamSpec& p) { return p.name == bare; });
      if (param != spec.params.end()) {
        param->used = true;
        statement.binds.emplace_back(written, slot(param->source));
      } else if (auto builtin = FindBuiltin(bare)) {
        Source source;
        source.builtin = *builtin;
        source.text = bare;
        statement.binds.emplace_back(written, slot(source));
      } else {
        return At(line, path + ": undefined parameter " + written + ": not a built-in (" + BuiltinNames() +
                            ") and not in " + Join(spec.path, "params"));
      }
    }
    return statement;
  }

  // Where the parameter `name` (":total") first occurs in `sql` as a whole
  // token, for the line of a message; `fallback` when not found.
  static std::size_t FindParameter(std::string_view sql, std::size_t fallback, std::string_view name) {
    for (std::size_t at = sql.find(name, fallback); at != std::string_view::npos; at = sql.find(name, at + 1)) {
      const std::size_t after = at + name.size();
      if (after >= sql.size() || !(IsBarePathChar(sql[after]) && sql[after] != '-')) return at;
    }
    return fallback;
  }

  Projection projection_;
  std::string upcasters_file_;  // as resolved, for messages
  const TomlValue* schema_ = nullptr;
  std::vector<HandlerSpec> handlers_;
};

}  // namespace

Result<Projection> ParseSqlProjection(std::string_view text, std::string_view file_name) {
  return Loader(file_name).Load(text);
}

Result<Projection> LoadSqlProjection(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text) return Fail(text.error());
  return ParseSqlProjection(*text, path);
}

}  // namespace cairn
