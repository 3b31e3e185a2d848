// `cairn catalog`: the event catalog (catalog.h) as JSON Lines, a table, or the
// markdown table the platform standards ask for (one section per domain with
// Event | Topic | Partition Key | Retention, and what the store knows besides).
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cairn/bridge_config.h"
#include "catalog.h"
#include "commands.h"
#include "json_text.h"

namespace cairn::cli {
namespace {

void WriteStdout(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

std::string JsonArray(const std::vector<std::string>& values) {
  std::string json = "[";
  for (const std::string& value : values) {
    if (json.size() > 1) json += ',';
    json += JsonQuote(value);
  }
  return json + "]";
}

// "order_id: string, total: integer|number, note?: string" — '?' marks a field
// missing from some of the sampled events.
std::string FieldsText(const CatalogEntry& entry) {
  std::string text;
  for (const CatalogField& field : entry.fields) {
    if (!text.empty()) text += ", ";
    text += field.name + (field.seen < entry.sampled ? "?" : "") + ": ";
    for (std::size_t i = 0; i < field.json_types.size(); ++i) text += (i > 0 ? "|" : "") + field.json_types[i];
  }
  return text;
}

// "<category>-*" per category: the streams whose names are the Kafka message keys.
std::string PartitionKeyText(const CatalogEntry& entry) {
  std::string text = "stream";
  for (std::size_t i = 0; i < entry.categories.size(); ++i) {
    text += (i == 0 ? " (" : ", ") + entry.categories[i] + "-*";
  }
  return entry.categories.empty() ? text : text + ")";
}

std::string SchemaText(const CatalogEntry& entry) {
  if (!entry.schema) return "";
  const std::string label = SchemaLabelOf(entry.schema->schema);
  return fmt::format("registration {}{}", entry.schema->registration, label.empty() ? "" : " (" + label + ")");
}

std::string TopicsText(const CatalogEntry& entry, bool routed) {
  if (!routed) return "";
  std::vector<std::string> parts = entry.topics;
  if (!entry.routing_errors.empty()) parts.emplace_back("unroutable");
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

void PrintJsonLines(const Catalog& catalog, bool routed) {
  for (const CatalogEntry& entry : catalog.entries) {
    Record record;
    record.Add("event_type", entry.event_type)
        .Add("base_type", entry.base_type)
        .Add("version", std::uint64_t{entry.version})
        .Add("events", entry.events)
        .Add("first_position", entry.first_position)
        .Add("last_position", entry.last_position)
        .Add("first_recorded_at", FormatTimestamp(entry.first_recorded_at_us))
        .Add("last_recorded_at", FormatTimestamp(entry.last_recorded_at_us))
        .AddJson("categories", JsonArray(entry.categories))
        .Add("partition_key", "stream");
    std::string fields = "[";
    for (const CatalogField& field : entry.fields) {
      if (fields.size() > 1) fields += ',';
      fields += fmt::format("{{\"name\":{},\"types\":{},\"seen\":{}}}", JsonQuote(field.name),
                            JsonArray(field.json_types), field.seen);
    }
    record.AddJson("fields", fields + "]").Add("sampled", entry.sampled).Add("non_json", entry.non_json);
    if (entry.schema) {
      record.AddJson("schema", fmt::format("{{\"registration\":{},\"registered_at\":{},\"label\":{}}}",
                                           entry.schema->registration,
                                           JsonQuote(FormatTimestamp(entry.schema->registered_at_us)),
                                           JsonQuote(SchemaLabelOf(entry.schema->schema))));
    } else {
      record.AddNull("schema");
    }
    if (routed) record.AddJson("topics", JsonArray(entry.topics)).AddJson("routing_errors", JsonArray(entry.routing_errors));
    record.Print(OutputFormat::kJsonLines);
  }
}

void PrintTable(const Catalog& catalog, bool routed) {
  std::vector<TableColumn> columns{{"event_type", false, 50},     {"version", true, 7},
                                   {"events", true, 12},          {"first_position", true, 14},
                                   {"last_position", true, 14},   {"last_recorded_at", false, 27},
                                   {"schema", false, 40}};
  if (routed) columns.push_back({"topics", false, 60});
  columns.push_back({"fields", false, 80});
  std::vector<std::vector<std::string>> rows;
  for (const CatalogEntry& entry : catalog.entries) {
    std::vector<std::string> row{entry.event_type,
                                 std::to_string(entry.version),
                                 std::to_string(entry.events),
                                 std::to_string(entry.first_position),
                                 std::to_string(entry.last_position),
                                 FormatTimestamp(entry.last_recorded_at_us),
                                 SchemaText(entry)};
    if (routed) row.push_back(TopicsText(entry, routed));
    row.push_back(FieldsText(entry));
    rows.push_back(std::move(row));
  }
  WriteStdout(FormatTable(columns, rows));
}

// A markdown table cell: '|' escaped, line breaks flattened.
std::string Cell(std::string_view text) {
  std::string cell;
  for (char c : text) {
    if (c == '|') {
      cell += "\\|";
    } else if (c == '\n' || c == '\r') {
      cell += ' ';
    } else {
      cell += c;
    }
  }
  return cell.empty() ? "-" : cell;
}

std::string Code(std::string_view text) { return text.empty() ? "-" : "`" + Cell(text) + "`"; }

std::string Markdown(const Catalog& catalog, const std::string& store_path, bool routed, std::uint64_t sample) {
  std::string text = "# Event Catalog\n\n";
  text += fmt::format(
      "Generated by `cairn catalog` from `{}`: {} events, positions 1-{}. Event = the base type, Version = its "
      "`.vN` suffix (none = 1). Partition Key: the Kafka message key is the stream name. Retention: the store keeps "
      "every event; a topic's retention is set on the Kafka cluster, not in the bridge file. Fields: top-level "
      "members of the data of up to the first {} events of each type (`?`: not in all of them).\n",
      Cell(store_path), catalog.events, catalog.head_position, sample);
  std::string domain;
  bool first = true;
  for (const CatalogEntry& entry : catalog.entries) {
    const std::string_view entry_domain = DomainOf(entry.base_type);
    if (first || entry_domain != domain) {
      domain = std::string(entry_domain);
      first = false;
      text += fmt::format(
          "\n## Domain: {}\n\n"
          "| Event | Version | Topic | Partition Key | Retention | Events | Positions | Recorded | Schema | Fields |\n"
          "|-------|---------|-------|---------------|-----------|--------|-----------|----------|--------|--------|\n",
          Cell(domain));
    }
    text += fmt::format("| {} | v{} | {} | {} | - | {} | {}-{} | {} - {} | {} | {} |\n", Code(entry.base_type),
                        entry.version, routed ? Cell(TopicsText(entry, routed)) : std::string("-"),
                        Cell(PartitionKeyText(entry)), entry.events, entry.first_position, entry.last_position,
                        FormatTimestamp(entry.first_recorded_at_us), FormatTimestamp(entry.last_recorded_at_us),
                        Cell(SchemaText(entry)), Cell(FieldsText(entry)));
  }
  if (!catalog.schemas_without_events.empty()) {
    text +=
        "\n## Schemas without events\n\n"
        "| Event type | Schema |\n"
        "|------------|--------|\n";
    for (const SchemaInfo& schema : catalog.schemas_without_events) {
      const std::string label = SchemaLabelOf(schema.schema);
      text += fmt::format("| {} | registration {}{} |\n", Code(schema.event_type), schema.registration,
                          label.empty() ? "" : " (" + Cell(label) + ")");
    }
  }
  return text;
}

}  // namespace

CliStatus RunCatalog(const GlobalOptions& global, const CatalogCommand& command) {
  std::optional<BridgeConfig> bridge;
  if (command.bridge) {
    auto loaded = LoadBridgeConfig(*command.bridge);
    if (!loaded) {
      // A file that is not understood is a usage error, as for projection files.
      const int code = loaded.error().code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitError;
      return Fail(Failure{code, fmt::format("--bridge: {}", loaded.error().message())});
    }
    bridge = std::move(*loaded);
  }
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  CatalogOptions options;
  options.sample_per_type = command.sample;
  if (bridge) options.route = [&bridge](const EventView& event) { return bridge->Route(event); };
  auto catalog = BuildCatalog(**store, options);
  if (!catalog) return Fail(StoreFailure(catalog.error(), "cannot build the catalog"));

  const bool routed = bridge.has_value();
  if (command.format == "markdown") {
    WriteStdout(Markdown(*catalog, global.store_path, routed, command.sample));
  } else if (command.format == "table" ||
             (command.format.empty() && global.format == OutputFormat::kTable)) {
    PrintTable(*catalog, routed);
  } else {
    PrintJsonLines(*catalog, routed);
  }
  return {};
}

}  // namespace cairn::cli
