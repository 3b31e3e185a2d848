// cairn schema add, list, show and delete: the JSON Schemas a store checks
// appends against (EventStore::PutSchema & co.).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catalog.h"
#include "commands.h"
#include "json_text.h"

namespace cairn::cli {
namespace {

void WriteStdout(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

CliResult<std::string> ReadFile(const std::string& file) {
  std::FILE* in = file == "-" ? stdin : std::fopen(file.c_str(), "rb");
  if (in == nullptr) return Fail(Failure{kExitError, fmt::format("cannot open {}: {}", file, std::strerror(errno))});
  std::string bytes;
  char chunk[1 << 16];
  std::size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, in)) > 0) bytes.append(chunk, got);
  const bool failed = std::ferror(in) != 0;
  if (in != stdin) std::fclose(in);
  if (failed) return Fail(Failure{kExitError, fmt::format("cannot read {}: {}", file, std::strerror(errno))});
  return bytes;
}

// A TYPE given on the command line is checked with the store's rules before the store is opened.
CliStatus CheckType(std::string_view type, std::string_view context) {
  if (auto ok = ValidateEventType(type); !ok) return Fail(StoreFailure(ok.error(), context));
  return {};
}

}  // namespace

CliStatus RunSchemaAdd(const GlobalOptions& global, const SchemaAddCommand& command) {
  const std::string context = fmt::format("cannot register a schema for {}", command.event_type);
  if (auto ok = CheckType(command.event_type, context); !ok) return ok;
  auto document = ReadFile(command.file);
  if (!document) return Fail(document.error());
  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  auto registration = (*store)->PutSchema(command.event_type, *document);
  if (!registration) return Fail(StoreFailure(registration.error(), context));
  Record().Add("event_type", command.event_type).Add("registration", *registration).Print(global.format);
  return {};
}

CliStatus RunSchemaList(const GlobalOptions& global, const SchemaListCommand& command) {
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  std::vector<std::vector<std::string>> rows;
  auto read = (*store)->ReadSchemas(
      [&](const SchemaView& schema) {
        const std::string label = SchemaLabelOf(schema.schema);
        if (global.format == OutputFormat::kJsonLines) {
          Record record;
          record.Add("event_type", schema.event_type)
              .Add("registration", schema.registration)
              .Add("registered_at", FormatTimestamp(schema.registered_at_us))
              .Add("current", schema.current)
              .Add("label", label)
              .Add("schema_bytes", std::uint64_t{schema.schema.size()});
          record.Print(global.format);
          return !std::ferror(stdout);
        }
        rows.push_back({std::string(schema.event_type), std::to_string(schema.registration),
                        FormatTimestamp(schema.registered_at_us), schema.current ? "yes" : "no", label,
                        std::to_string(schema.schema.size())});
        return true;
      },
      ReadSchemasOptions{.history = command.history});
  if (!read) return Fail(StoreFailure(read.error(), "cannot list schemas"));
  if (global.format == OutputFormat::kTable) {
    const TableColumn columns[] = {{"event_type", false, 60}, {"registration", true, 12}, {"registered_at", false, 27},
                                   {"current", false, 7},     {"label", false, 60},       {"schema_bytes", true, 12}};
    WriteStdout(FormatTable(columns, rows));
  }
  return {};
}

CliStatus RunSchemaShow(const GlobalOptions& global, const SchemaShowCommand& command) {
  const std::string context = fmt::format("cannot show the schema of {}", command.event_type);
  if (auto ok = CheckType(command.event_type, context); !ok) return ok;
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  auto schema = (*store)->GetSchema(command.event_type);
  if (!schema) return Fail(StoreFailure(schema.error(), context));
  Record record;
  record.Add("event_type", schema->event_type)
      .Add("registration", schema->registration)
      .Add("registered_at", FormatTimestamp(schema->registered_at_us))
      .Add("label", SchemaLabelOf(schema->schema));
  if (global.format == OutputFormat::kJsonLines) {
    // The document as a JSON value on the one line (it was valid JSON when registered).
    auto compact = CompactJson(schema->schema);
    if (!compact) return Fail(Failure{kExitError, fmt::format("{}: the stored schema is not JSON: {}", context,
                                                              compact.error())});
    record.AddJson("schema", *compact);
    record.Print(global.format);
    return {};
  }
  record.Print(global.format);
  WriteStdout("\n" + schema->schema + (schema->schema.ends_with('\n') ? "" : "\n"));
  return {};
}

CliStatus RunSchemaDelete(const GlobalOptions& global, const SchemaDeleteCommand& command) {
  const std::string context = fmt::format("cannot delete the schema of {}", command.event_type);
  if (auto ok = CheckType(command.event_type, context); !ok) return ok;
  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  auto deleted = (*store)->DeleteSchema(command.event_type);
  if (!deleted) return Fail(StoreFailure(deleted.error(), context));
  Record().Add("event_type", command.event_type).Add("deleted", *deleted).Print(global.format);
  return {};
}

}  // namespace cairn::cli
