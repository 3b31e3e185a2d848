// cairn — the command-line tool of the cairn event store.
//
// This file only wires CLI11 to the commands (commands.h): it declares every
// option with its help text, parses, runs the chosen command and turns its
// Failure into "cairn: error: …" on stderr and an exit code (cli.h).
#include <sodium.h>

#include <charconv>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli.h"
#include "commands.h"

namespace cairn::cli {
namespace {

// A --help footer: an optional paragraph, examples, then the exit codes.
std::string Footer(std::string_view intro, std::string_view examples) {
  std::string text = "\n";
  if (!intro.empty()) text += fmt::format("{}\n\n", intro);
  return text + fmt::format("Examples:\n{}\n{}", examples, kExitCodeHelp);
}

// CLI11's own unsigned conversion accepts "-1" (as 2^64-1) and octal "010";
// revisions and positions must be plain decimal numbers.
const CLI::Validator kDecimal(
    [](std::string& text) -> std::string {
      std::uint64_t value = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return fmt::format("must be a non-negative decimal integer, not \"{}\"", text);
      }
      return {};
    },
    /*validator_name=*/"");

std::uint64_t ToUint(const std::string& text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);  // kDecimal has checked it
  return value;
}

CLI::Option* AddOptionalUint(CLI::App* app, const std::string& name, std::optional<std::uint64_t>& target,
                             const std::string& help) {
  return app->add_option_function<std::string>(name, [&target](const std::string& text) { target = ToUint(text); },
                                                help)
      ->check(kDecimal)
      ->type_name("N");
}

CLI::Option* AddOptionalString(CLI::App* app, const std::string& name, std::optional<std::string>& target,
                               const std::string& help) {
  return app->add_option_function<std::string>(name, [&target](const std::string& text) { target = text; }, help);
}

// Repeatable option taking one value per occurrence: --type a --type b.
CLI::Option* AddTypes(CLI::App* app, std::vector<std::string>& types, const std::string& help) {
  return app->add_option("--type", types, help)->allow_extra_args(false)->type_name("TYPE");
}

int Main(int argc, char** argv) {
  CLI::App app{"cairn: create, write, read, replay, audit, export and import a cairn event store; manage snapshots and\n"
               "JSON Schemas; describe the event catalog; "
               "run projections into read models; publish to Kafka.",
               "cairn"};
  app.set_version_flag("--version", CAIRN_VERSION);
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too: `cairn read s --format table`.
  app.fallthrough();
  app.footer(Footer(
      "The store is ./cairn.db unless --store or $CAIRN_STORE names another; --backend (or\n"
      "$CAIRN_BACKEND) lmdb creates LMDB stores, and auto (the default) opens any store.\n"
      "Output is JSON Lines on stdout (one object per line; --format table for people);\n"
      "errors go to stderr as \"cairn: error: <message>\". Run `cairn COMMAND --help` for more.",
      "  cairn init --store orders.db\n"
             "  cairn append order-42 --type order.placed.v1 --data '{\"total\":42}' --expect no-stream\n"
             "  cairn read order-42 --format table\n"
             "  cairn replay --category order --follow\n"
      "  cairn verify\n"));

  GlobalOptions global;
  std::string format = "jsonl";
  app.add_option("--store", global.store_path, "Path of the store")
      ->envname("CAIRN_STORE")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_option("--format", format, "Output format: jsonl (one JSON object per line) or table")
      ->check(CLI::IsMember({"jsonl", "table"}))
      ->capture_default_str();
  std::string backend = "auto";
  app.add_option("--backend", backend,
                 "Storage backend: auto (an existing store's own; a new store is SQLite), sqlite or lmdb")
      ->envname("CAIRN_BACKEND")
      ->check(CLI::IsMember({"auto", "sqlite", "lmdb"}))
      ->capture_default_str();

  // init
  CLI::App* init = app.add_subcommand("init", "Create a store (an existing cairn store is left as it is)");
  init->footer(Footer("--backend lmdb creates an LMDB store (default: SQLite).",
                      "  cairn init\n  cairn init --store /var/lib/orders/events.db\n"
                      "  cairn init --store orders.mdb --backend lmdb\n"));
  InitCommand init_command;

  // append
  AppendCommand append_command;
  CLI::App* append = app.add_subcommand("append", "Append one event to a stream, or a batch of events from stdin");
  CLI::Option* stream_opt = append->add_option("stream", append_command.stream, "Stream to append to, e.g. order-42");
  CLI::Option* type_opt = append->add_option("--type", append_command.type, "Event type, e.g. order.placed.v1");
  CLI::Option* data_opt = AddOptionalString(append, "--data", append_command.data,
                                            "Event data: JSON text, @FILE (its bytes) or - (stdin). Default: {}");
  CLI::Option* metadata_opt =
      AddOptionalString(append, "--metadata", append_command.metadata, "Metadata: a JSON object");
  CLI::Option* expect_opt = append->add_option("--expect", append_command.expect,
                                               "Expected stream state: any, no-stream, exists or a revision N")
                                ->capture_default_str();
  CLI::Option* id_opt =
      AddOptionalString(append, "--id", append_command.id, "Event id (UUID); re-sending it makes a retry safe");
  CLI::Option* content_type_opt =
      append->add_option("--content-type", append_command.content_type, "Content type of the data")
          ->capture_default_str();
  CLI::Option* batch_opt =
      append->add_flag("--batch", append_command.batch, "Read events as JSON Lines from stdin (no STREAM)");
  append->add_flag("--keep-going", append_command.keep_going, "Batch: go on after a failed line")->needs(batch_opt);
  for (CLI::Option* single : {stream_opt, type_opt, data_opt, metadata_opt, expect_opt, id_opt, content_type_opt}) {
    batch_opt->excludes(single);
  }
  append->footer(Footer(
      "Data: --data is JSON unless --content-type names another type (e.g. application/octet-stream);\n"
      "then the text or @FILE bytes are stored as they are. Without --data: {} (no bytes for non-JSON).\n"
      "--expect N means the stream's last event is at revision N (0-based). Re-sending an append with\n"
      "the same --id is a safe retry: it prints \"already_committed\":true and writes nothing.\n"
      "\n"
      "Batch (--batch): one JSON object per stdin line, one append per line, in order:\n"
      "  {\"stream\":\"order-42\",\"type\":\"order.placed.v1\",\"data\":{...},\"metadata\":{...},\n"
      "   \"id\":\"<uuid>\",\"expect\":\"any\"|\"no-stream\"|\"exists\"|N,\"content_type\":\"...\"}\n"
      "stream and type are required; with a non-JSON content_type, data is a base64 string. Blank lines\n"
      "are skipped. Each line prints one JSON line: its result with \"line\":N, or\n"
      "{\"line\":N,\"error\":KIND,\"message\":...}. A batch is not a transaction: lines before a failure\n"
      "stay committed. The first failing line stops the batch with its exit code (2 malformed line,\n"
      "3 conflict, 1 other error); with --keep-going every line is tried and the exit code is the\n"
      "worst seen (1 > 2 > 3 > 0).",
      "  cairn append order-42 --type order.placed.v1 --data '{\"total\":42}' --expect no-stream\n"
             "  cairn append order-42 --type order.paid.v1 --data @paid.json --expect 0 --metadata '{\"actor\":\"ann\"}'\n"
             "  cairn append scan-7 --type scan.uploaded.v1 --content-type application/pdf --data @scan.pdf\n"
      "  cairn append --batch --keep-going < events.jsonl\n"));

  // delete
  DeleteCommand delete_command;
  CLI::App* del = app.add_subcommand("delete", "Delete (tombstone) a stream: its events stay in the log");
  del->add_option("stream", delete_command.stream, "Stream to delete")->required();
  del->add_option("--expect", delete_command.expect, "Expected stream state: any, exists or a revision N")
      ->capture_default_str();
  del->footer(Footer("The tombstone is itself an event on the audit chain; reads of the stream and appends to it fail\n"
              "from then on.",
              "  cairn delete order-42\n  cairn delete order-42 --expect 7\n"));

  // read
  ReadCommand read_command;
  CLI::App* read = app.add_subcommand("read", "Read the events of one stream");
  read->add_option("stream", read_command.stream, "Stream to read")->required();
  AddOptionalUint(read, "--from", read_command.from_revision,
                  "First revision to read (default: the first, or the last with --backwards)");
  read->add_flag("--backwards", read_command.backwards, "Newest first");
  AddOptionalUint(read, "--limit", read_command.limit, "Read at most N events");
  AddTypes(read, read_command.types, "Only events of this type (repeatable; with --upcast, the type after upcasting)");
  AddOptionalString(read, "--upcast", read_command.upcast,
                    "Upcast events with this declarative upcaster file (JSON, docs/schemas.md) before printing")
      ->type_name("FILE");
  read->footer(Footer("With --upcast, events are shown as their newest version (type, data, metadata); position,\n"
                      "id and hash stay those of the stored event, which is never changed.",
                      "  cairn read order-42\n"
                      "  cairn read order-42 --backwards --limit 1\n"
                      "  cairn read order-42 --type order.paid.v1 --format table\n"
                      "  cairn read order-42 --upcast upcasters/orders.json\n"));

  // replay
  ReplayCommand replay_command;
  CLI::App* replay = app.add_subcommand("replay", "Replay the global log (all streams, a category or one stream)");
  CLI::Option* replay_stream =
      AddOptionalString(replay, "--stream", replay_command.stream, "Only this stream");
  CLI::Option* replay_category =
      AddOptionalString(replay, "--category", replay_command.category, "Only streams of this category (order-*)");
  replay_stream->excludes(replay_category);
  replay->add_option_function<std::string>(
            "--from", [&](const std::string& text) { replay_command.from_position = ToUint(text); },
            "First global position (default: 1)")
      ->check(kDecimal)
      ->type_name("N");
  AddOptionalUint(replay, "--to", replay_command.to_position, "Last global position (inclusive)");
  AddOptionalString(replay, "--since", replay_command.since,
                    "Only events recorded at or after this time (ISO-8601 with Z or an offset; inclusive)")
      ->type_name("TIME");
  AddOptionalString(replay, "--until", replay_command.until,
                    "Only events recorded before this time (ISO-8601 with Z or an offset; exclusive)")
      ->type_name("TIME");
  AddTypes(replay, replay_command.types, "Only events of this type (repeatable; with --upcast, the type after upcasting)");
  AddOptionalString(replay, "--upcast", replay_command.upcast,
                    "Upcast events with this declarative upcaster file (JSON, docs/schemas.md) before printing")
      ->type_name("FILE");
  replay->add_flag("--follow", replay_command.follow,
                   "Keep printing new events as they are committed, until SIGINT/SIGTERM (exit 0)");
  replay->footer(Footer("Positions are places in the global log (1, 2, 3, ... without gaps). Unlike `read`, replay\n"
                 "walks the log: a deleted stream's events and its $stream.deleted tombstone are shown, and a\n"
                 "stream that does not exist simply has none. With --upcast, events are shown as their newest\n"
                 "version; position, id and hash stay those of the stored event.\n"
                 "--since and --until select by recorded time, found by binary search (recorded_at never\n"
                 "decreases along the log): --since T starts at the first event recorded at or after T (every\n"
                 "event recorded at exactly T is included); --until U ends before the first event recorded at\n"
                 "or after U (exclusive), so windows [T, U) and [U, V) never overlap. Times are ISO-8601 with a\n"
                 "zone, as cairn prints them: 2026-11-23T13:45:01.123456Z or 2026-11-23T14:45:01+01:00. They\n"
                 "combine with --from/--to (the narrower bound wins) and the filters.",
                 "  cairn replay\n"
                        "  cairn replay --since 2026-11-23T00:00:00Z --until 2026-11-24T00:00:00Z\n"
                        "  cairn replay --category order --from 1000 --to 2000\n"
                        "  cairn replay --type order.paid.v1 --follow | my-consumer\n"
                        "  cairn replay --category order --upcast upcasters/orders.json\n"));

  // verify
  VerifyCommand verify_command;
  CLI::App* verify = app.add_subcommand("verify", "Recompute the audit chain and check the log (exit 4 if broken)");
  verify->footer(Footer("Prints {\"ok\":true,\"events\":N,\"streams\":M,\"head_position\":P,\"head_hash\":HEX}, or\n"
                 "{\"ok\":false,\"first_bad_position\":P,\"problem\":...} and exits with 4. Keep head_hash\n"
                 "somewhere else to detect a truncated log later. Progress goes to stderr when it is a terminal.",
                 "  cairn verify --store orders.db\n"));

  // stats
  StatsCommand stats_command;
  CLI::App* stats = app.add_subcommand("stats", "Show the store's size, head position and stream counts");
  stats->footer(Footer("", "  cairn stats\n  cairn stats --format table\n"));

  // export
  ExportCommand export_command;
  CLI::App* export_app =
      app.add_subcommand("export", "Write the global log to stdout as JSON Lines, every field byte-exact");
  AddOptionalUint(export_app, "--from", export_command.from_position, "First position (default: 1)");
  AddOptionalUint(export_app, "--to", export_command.to_position, "Last position, inclusive (default: the head)");
  export_app->footer(Footer(
      "The first line is a header, {\"cairn_export\":1,\"from\":F,\"to\":T}: the file holds exactly the\n"
      "positions F..T. Then one object per event: position, stream, revision, id, type, recorded_at_us,\n"
      "recorded_at, content_type, data, metadata, hash. Byte strings are JSON strings of their exact\n"
      "bytes, or <key>_base64 when they are not UTF-8. `cairn import` rebuilds a store from an export\n"
      "that starts at position 1. Progress goes to stderr when it is a terminal.",
      "  cairn export > orders.jsonl\n"
      "  cairn export --from 1000 --to 2000 | gzip > part.jsonl.gz\n"));

  // import
  ImportCommand import_command;
  CLI::App* import_app = app.add_subcommand(
      "import", "Build a new store from an export, refusing any input whose audit chain does not verify");
  import_app->add_option("file", import_command.file, "Export file (from `cairn export`), or - for stdin")
      ->required();
  import_app->footer(Footer(
      "--store names the new store and must not exist; --backend picks its kind (auto: SQLite). Every\n"
      "event keeps its position, revision, id, recorded_at and hash. Each line is checked before it is\n"
      "written: positions 1, 2, 3, ... without a gap, per-stream revisions, the audit chain from the\n"
      "first event, ids, names and JSON. The store is built beside --store and moved into place only\n"
      "when every line has verified: a refused, failed or interrupted import leaves nothing behind.\n"
      "A malformed line exits with 2; a line that does not verify, or a truncated export, with 1.",
      "  cairn import orders.jsonl --store orders.mdb --backend lmdb\n"
      "  cairn --store old.db export | cairn import - --store new.db\n"));

  // snapshot list|show|delete|prune
  CLI::App* snapshot = app.add_subcommand("snapshot", "List, show, delete and prune the snapshots of aggregates");
  snapshot->require_subcommand(1);
  snapshot->footer(Footer(
      "A snapshot is an aggregate's state after the event at its revision, saved by the application\n"
      "(cairn::Repository) beside the log so that a load folds fewer events. Snapshots are derived data:\n"
      "not on the audit chain, not exported. Deleting or pruning them never loses data; a load then\n"
      "folds more events (and falls back past a deleted snapshot to an older one, or to the start).",
      "  cairn snapshot list --check --format table\n"
      "  cairn snapshot show order-42\n"
      "  cairn snapshot delete order-42\n"
      "  cairn snapshot prune --keep 1\n"));

  SnapshotListCommand snapshot_list_command;
  CLI::App* snapshot_list = snapshot->add_subcommand("list", "List snapshots: of one stream, or of every stream");
  AddOptionalString(snapshot_list, "stream", snapshot_list_command.stream, "Only this stream's snapshots");
  snapshot_list->add_flag("--check", snapshot_list_command.check,
                          "Also check each against its stream: adds problem (none, damaged, past-head or event-hash)");
  snapshot_list->footer(Footer(
      "One object per snapshot, by stream name, each stream's newest first: stream, revision,\n"
      "schema_version, state_bytes, taken_at, event_hash (and problem with --check). --check finds\n"
      "snapshots past their stream's head and snapshots whose event at their revision has another hash;\n"
      "it cannot judge the schema version or whether the state decodes: that needs the aggregate's code.",
      "  cairn snapshot list\n"
      "  cairn snapshot list order-42 --check --format table\n"));

  SnapshotShowCommand snapshot_show_command;
  CLI::App* snapshot_show = snapshot->add_subcommand("show", "Show one snapshot of a stream, its state included");
  snapshot_show->add_option("stream", snapshot_show_command.stream, "Stream")->required();
  AddOptionalUint(snapshot_show, "--revision", snapshot_show_command.revision,
                  "The snapshot at this revision (default: the newest)");
  snapshot_show->footer(Footer(
      "Prints list's fields, problem (as list --check) and the state: state_base64 in JSON, a hex dump\n"
      "of its first 512 bytes in a table. A stream with no snapshot (at --revision) is an error (exit 1).",
      "  cairn snapshot show order-42\n"
      "  cairn snapshot show order-42 --revision 99 --format table\n"));

  SnapshotDeleteCommand snapshot_delete_command;
  CLI::App* snapshot_delete =
      snapshot->add_subcommand("delete", "Delete a stream's newest snapshot, the one at a revision, or all");
  snapshot_delete->add_option("stream", snapshot_delete_command.stream, "Stream")->required();
  CLI::Option* delete_revision = AddOptionalUint(snapshot_delete, "--revision", snapshot_delete_command.revision,
                                                 "Delete the snapshot at this revision");
  CLI::Option* delete_all = snapshot_delete->add_flag("--all", snapshot_delete_command.all,
                                                      "Delete every snapshot of the stream");
  delete_revision->excludes(delete_all);
  snapshot_delete->footer(Footer(
      "Without --revision or --all, deletes the newest snapshot: the next load falls back to the one\n"
      "before it (or to the first event). Prints {\"stream\":S,\"deleted\":N}; deleting nothing is not an\n"
      "error. The events are never touched.",
      "  cairn snapshot delete order-42\n"
      "  cairn snapshot delete order-42 --revision 99\n"
      "  cairn snapshot delete order-42 --all\n"));

  SnapshotPruneCommand snapshot_prune_command;
  CLI::App* snapshot_prune =
      snapshot->add_subcommand("prune", "Keep only the newest K snapshots of each stream (or of one)");
  AddOptionalString(snapshot_prune, "stream", snapshot_prune_command.stream, "Only this stream");
  snapshot_prune
      ->add_option_function<std::string>(
          "--keep", [&](const std::string& text) { snapshot_prune_command.keep = ToUint(text); },
          "Snapshots to keep per stream, newest first; 0 deletes them all")
      ->check(kDecimal)
      ->type_name("K")
      ->required();
  snapshot_prune->footer(Footer("Prints {\"deleted\":N}. The events are never touched.",
                                "  cairn snapshot prune --keep 3\n"
                                "  cairn snapshot prune --keep 0 order-42\n"));

  // schema add|list|show|delete
  CLI::App* schema = app.add_subcommand("schema", "Register, list, show and delete the JSON Schemas appends are checked against");
  schema->require_subcommand(1);
  schema->footer(Footer(
      "A JSON Schema (draft 4) registered for an event type is checked on every append of that type:\n"
      "an event whose data does not validate is refused with the JSON pointer and keyword that failed,\n"
      "and nothing of its append is written. Schemas are configuration kept in the store beside the log:\n"
      "not on the audit chain, not exported. Events already in the log are never re-checked.",
      "  cairn schema add order.placed.v1 order-placed.schema.json\n"
      "  cairn schema list --format table\n"
      "  cairn schema show order.placed.v1\n"
      "  cairn schema delete order.placed.v1\n"));

  SchemaAddCommand schema_add_command;
  CLI::App* schema_add = schema->add_subcommand("add", "Register a JSON Schema for an event type (replacing its current one)");
  schema_add->add_option("type", schema_add_command.event_type, "Event type, e.g. order.placed.v1")->required();
  CLI::Option* schema_file_arg =
      schema_add->add_option("file", schema_add_command.file, "The schema's JSON file, or - for stdin")->type_name("FILE");
  CLI::Option* schema_file_opt =
      schema_add->add_option("--file", schema_add_command.file, "The same as FILE")->type_name("FILE");
  schema_file_arg->excludes(schema_file_opt);
  schema_add->footer(Footer(
      "Prints {\"event_type\":T,\"registration\":N}: 1 for the type's first schema, one more for each\n"
      "replacement (older registrations stay as history: schema list --history). The document must be\n"
      "a valid draft-4 JSON Schema (checked against the draft-4 meta-schema); \"$schema\", if given, must\n"
      "be draft 4; keywords of later drafts that draft 4 would silently ignore (const, if/then/else,\n"
      "contains, ...) are refused, and so are patterns RapidJSON cannot compile and \"$ref\"s that do not\n"
      "point inside the document. A refused schema exits with 1 and says what and where.",
      "  cairn schema add order.placed.v1 order-placed.schema.json\n"
      "  cairn schema add order.placed.v1 --file - < order-placed.schema.json\n"));

  SchemaListCommand schema_list_command;
  CLI::App* schema_list = schema->add_subcommand("list", "List the registered schemas");
  schema_list->add_flag("--history", schema_list_command.history, "Every registration, not only the current ones");
  schema_list->footer(Footer(
      "One object per schema, by event type (newest registration first with --history): event_type,\n"
      "registration, registered_at, current, label (its $id, id or title) and schema_bytes.",
      "  cairn schema list\n  cairn schema list --history --format table\n"));

  SchemaShowCommand schema_show_command;
  CLI::App* schema_show = schema->add_subcommand("show", "Show the current schema of an event type");
  schema_show->add_option("type", schema_show_command.event_type, "Event type")->required();
  schema_show->footer(Footer("Prints event_type, registration, registered_at, label and the schema (a JSON value;\n"
                             "the document as registered after a table). A type without a schema exits with 1.",
                             "  cairn schema show order.placed.v1\n"));

  SchemaDeleteCommand schema_delete_command;
  CLI::App* schema_delete =
      schema->add_subcommand("delete", "Delete an event type's schema (all its registrations): it is no longer checked");
  schema_delete->add_option("type", schema_delete_command.event_type, "Event type")->required();
  schema_delete->footer(Footer("Prints {\"event_type\":T,\"deleted\":N}; deleting nothing is not an error.",
                               "  cairn schema delete order.placed.v1\n"));

  // catalog
  CatalogCommand catalog_command;
  CLI::App* catalog = app.add_subcommand("catalog", "Describe the event types the store holds (the event catalog)");
  catalog->add_option("--format", catalog_command.format,
                      "jsonl (or json: one object per type), markdown (the standards' catalog table) or table")
      ->check(CLI::IsMember({"jsonl", "json", "markdown", "table"}));
  AddOptionalString(catalog, "--bridge", catalog_command.bridge,
                    "A bridge file: adds each type's Kafka topic(s) (its routes)")
      ->type_name("FILE");
  catalog
      ->add_option_function<std::string>(
          "--sample", [&](const std::string& text) { catalog_command.sample = ToUint(text); },
          "Events per type whose data is looked at for its fields (default: 100)")
      ->check(kDecimal)
      ->type_name("N");
  catalog->footer(Footer(
      "Scans the log once. Per event type: base type and version (the .vN suffix; none = 1), event count,\n"
      "first and last position and recorded time, the categories of its streams, the top-level fields of\n"
      "the data of its first --sample events with their JSON types (seen: in how many), and its current\n"
      "schema. With --bridge, the topics its events are routed to (\"unroutable\" when a category has no\n"
      "route). The partition key is always the stream name (the bridge's Kafka message key). Markdown\n"
      "groups types by domain (the type's first segment) as the platform standards' event catalog does.",
      "  cairn catalog --format markdown > docs/event-catalog.md\n"
      "  cairn catalog --bridge bridge/orders.toml --format table\n"));

  // projection run|rebuild|status|parked
  CLI::App* projection = app.add_subcommand("projection", "Run SQL projections into a read model; show their status");
  projection->require_subcommand(1);
  projection->footer(Footer(
      "A projection folds the events it is interested in into a read model, a SQLite database of its\n"
      "own (never the store's file). A SQL projection file declares the model's tables and, per event\n"
      "type, the SQL that applies an event (docs/sql-projections.md). Every event takes effect exactly\n"
      "once: the checkpoint is written in the same read-model transaction. A projection whose version\n"
      "changed is rebuilt into a shadow while the old model keeps serving readers, then swapped in.\n"
      "--read-model PATH (or $CAIRN_READ_MODEL) names the read model; the store is --store as usual.\n"
      "A projection file that is not understood exits with 2, with its FILE:LINE.",
      "  cairn projection run customer_totals.toml --read-model read-model.db\n"
      "  cairn projection run customer_totals.toml --read-model read-model.db --follow\n"
      "  cairn projection status --read-model read-model.db --format table\n"
      "  cairn projection parked --read-model read-model.db\n"));
  // Every projection subcommand takes the read model.
  auto add_read_model = [](CLI::App* sub, std::string& target) {
    return sub->add_option("--read-model", target, "The read-model database: a SQLite file of its own, never the store")
        ->envname("CAIRN_READ_MODEL")
        ->type_name("PATH");
  };

  ProjectionRunCommand projection_run_command;
  CLI::App* projection_run =
      projection->add_subcommand("run", "Run SQL projections up to the store's head (or live with --follow)");
  projection_run->add_option("files", projection_run_command.files, "SQL projection files (.toml)")
      ->required()
      ->type_name("FILE");
  add_read_model(projection_run, projection_run_command.read_model);
  projection_run->add_flag("--follow", projection_run_command.follow,
                           "Keep applying new events as they are committed, until SIGINT/SIGTERM (exit 0)");
  projection_run
      ->add_option("--kafka-brokers", projection_run_command.kafka_brokers,
                   "Feed the projections from Kafka envelope topics instead of the store: bootstrap.servers")
      ->type_name("HOST:PORT[,...]");
  projection_run
      ->add_option("--kafka-topic", projection_run_command.kafka_topics, "An envelope topic to consume (repeatable)")
      ->type_name("TOPIC");
  projection_run
      ->add_option("--kafka-group", projection_run_command.kafka_group,
                   "Consumer group id; each projection consumes as <GROUP>.<projection>")
      ->type_name("GROUP");
  projection_run
      ->add_option("-X,--kafka-property", projection_run_command.kafka_properties,
                   "A librdkafka consumer property (repeatable)")
      ->type_name("KEY=VALUE");
  projection_run->footer(Footer(
      "Loads and checks every file first (one that is not understood exits with 2: FILE:LINE: what is\n"
      "wrong), opens the store and the read model (created when missing), then applies the events each\n"
      "projection has not processed yet, up to the store's head as of the start, and exits; a\n"
      "projection whose version changed (or that is new) is first rebuilt from the start of the log\n"
      "and swapped in. With --follow it goes on with new commits until SIGINT/SIGTERM.\n"
      "At the end it prints one object per projection: name, version, state, position,\n"
      "rebuilding_version, rebuild_position, head_position, lag_events, lag_seconds, events_per_second,\n"
      "parked, last_error. A handler that keeps failing parks its event (see `projection parked`), or,\n"
      "with on_failure = \"stop\", stops its projection: exit 1 with its error. Progress goes to stderr\n"
      "when it is a terminal. Without --follow, SIGINT/SIGTERM stop after the current batch (exit 1).\n"
      "With --kafka-brokers the events come from envelope topics (what the bridge publishes) instead\n"
      "of the store: the offsets are kept in the read model (cairn_source_offsets); without --follow it\n"
      "stops once every partition it was assigned is read to its end. Processes running the same\n"
      "files with the same --kafka-group split the partitions (docs/projections.md).",
      "  cairn projection run customer_totals.toml --read-model read-model.db\n"
      "  CAIRN_READ_MODEL=read-model.db cairn projection run a.toml b.toml --follow\n"
      "  cairn projection run customer_totals.toml --read-model read-model.db --follow \\\n"
      "      --kafka-brokers kafka-1:9092 --kafka-topic acme.prod.orders.order --kafka-group orders-rm\n"));

  ProjectionRebuildCommand projection_rebuild_command;
  CLI::App* projection_rebuild = projection->add_subcommand(
      "rebuild", "Rebuild a projection's read model from the start of the log, then swap it in");
  projection_rebuild->add_option("file", projection_rebuild_command.file, "SQL projection file (.toml)")
      ->required()
      ->type_name("FILE");
  add_read_model(projection_rebuild, projection_rebuild_command.read_model);
  projection_rebuild->footer(Footer(
      "Builds the projection into a shadow database beside the read model, from position 1 up to the\n"
      "store's head, while the current model keeps serving readers; then swaps the shadow's tables in\n"
      "in one transaction. Raising the file's version does the same at the next `projection run`.\n"
      "Interrupted (SIGINT/SIGTERM, exit 1), the next run or rebuild resumes the shadow. Prints the\n"
      "projection's status as `run` does.",
      "  cairn projection rebuild customer_totals.toml --read-model read-model.db\n"));

  ProjectionStatusCommand projection_status_command;
  CLI::App* projection_status =
      projection->add_subcommand("status", "Show each projection's version, state, checkpoint and lag");
  add_read_model(projection_status, projection_status_command.read_model);
  projection_status->footer(Footer(
      "Reads what the read model recorded (it runs nothing): one object per projection with run's\n"
      "fields. head_position, lag_events and lag_seconds come from the store (--store) when it exists,\n"
      "else they are null; events_per_second is null (only a running projection measures it). The\n"
      "state is the one last recorded: a projection killed while live still reads \"live\".",
      "  cairn projection status --read-model read-model.db\n"
      "  cairn projection status --read-model read-model.db --format table\n"));

  ProjectionParkedCommand projection_parked_command;
  CLI::App* projection_parked =
      projection->add_subcommand("parked", "List the events projections parked, or retry them");
  add_read_model(projection_parked, projection_parked_command.read_model);
  CLI::Option* parked_projection = AddOptionalString(projection_parked, "--projection",
                                                     projection_parked_command.projection,
                                                     "Only this projection's parked events")
                                       ->type_name("NAME");
  CLI::Option* parked_retry =
      projection_parked
          ->add_option("--retry", projection_parked_command.retry_files,
                       "Retry the parked events of the projections in these files (their handlers are needed)")
          ->type_name("FILE");
  parked_retry->excludes(parked_projection);
  projection_parked->footer(Footer(
      "Lists one object per parked event, by projection and position: projection, position, stream,\n"
      "revision, type, attempts, parked_at, error. An event is parked when its handler still fails after\n"
      "max_attempts tries; the projection went on without it. Fix the cause (the file's SQL, keeping\n"
      "its version, or what the statement depends on), then --retry applies each parked event of those\n"
      "projections again, oldest first: a success removes it, a failure records its new error. It\n"
      "prints {\"projection\",\"retried\",\"succeeded\",\"failed\"} per projection and exits with 1\n"
      "when an event still fails. Do not retry while `projection run --follow` runs the projection.",
      "  cairn projection parked --read-model read-model.db --format table\n"
      "  cairn projection parked --read-model read-model.db --retry customer_totals.toml\n"));

  // bridge run|status|topics
  CLI::App* bridge = app.add_subcommand("bridge", "Publish the store's events to Kafka; show a bridge's status");
  bridge->require_subcommand(1);
  bridge->footer(Footer(
      "A bridge file (docs/bridge.md) routes events to Kafka topics. `bridge run` publishes every\n"
      "committed event as an envelope (key = stream), from the bridge's checkpoint on, with the\n"
      "idempotent producer (mode = \"idempotent\": at least once, in order) or Kafka transactions\n"
      "(mode = \"exactly-once\"). Appends never wait for Kafka.",
      "  cairn bridge topics --config orders.toml\n"
      "  cairn bridge run --config orders.toml -X bootstrap.servers=kafka-1:9092\n"
      "  cairn bridge status --config orders.toml --format table\n"));
  const auto add_config = [](CLI::App* command, std::string& target) {
    command->add_option("--config", target, "The bridge file (.toml)")->required()->type_name("FILE");
  };
  BridgeRunCommand bridge_run_command;
  CLI::App* bridge_run = bridge->add_subcommand("run", "Publish the store's events to Kafka until SIGINT/SIGTERM");
  add_config(bridge_run, bridge_run_command.config);
  bridge_run
      ->add_option("-X", bridge_run_command.kafka_properties,
                   "A librdkafka property (key=value), after the bridge file's [kafka]; repeatable")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
  bridge_run->add_flag("--to-head", bridge_run_command.to_head,
                       "Stop once every event committed before the start is published");
  bridge_run->footer(Footer(
      "Runs until SIGINT or SIGTERM, then waits for what it produced, saves its checkpoint and\n"
      "prints its status (one object: bridge, mode, state, checkpoint, head_position, lag_events,\n"
      "lag_seconds, published, retried, dead_lettered, failures, last_error). Kafka unreachable: it\n"
      "retries with backoff for as long as it takes. It exits 1 on an event it must not skip (no route\n"
      "with on_unroutable = \"error\", a poison event with on_poison = \"stop\"), naming it; on a\n"
      "topic Kafka does not have; or when another relay of the same bridge fenced it. Log lines go to\n"
      "stderr.",
      "  cairn bridge run --config orders.toml\n"
      "  cairn bridge run --config orders.toml -X bootstrap.servers=127.0.0.1:9092 --to-head\n"));
  BridgeStatusCommand bridge_status_command;
  CLI::App* bridge_status =
      bridge->add_subcommand("status", "Show a bridge's checkpoint, lag and counters as its relay last saved them");
  add_config(bridge_status, bridge_status_command.config);
  bridge_status->footer(Footer(
      "Reads the store only. One object with run's fields plus saved_at (when the relay last saved its\n"
      "status; null if it never ran). head_position, lag_events and lag_seconds are taken now; state and\n"
      "the counters are the relay's as of saved_at (a running relay saves them at least every 5 s, so\n"
      "an older saved_at with state \"live\" means the relay is gone).",
      "  cairn bridge status --config orders.toml --format table\n"));
  BridgeTopicsCommand bridge_topics_command;
  CLI::App* bridge_topics =
      bridge->add_subcommand("topics", "List every topic a bridge publishes to (create them before running it)");
  add_config(bridge_topics, bridge_topics_command.config);
  bridge_topics->footer(Footer(
      "One object per topic: topic, role (route, default, dead-letter, checkpoint). The relay creates\n"
      "only its checkpoint topic (exactly-once mode); the others must exist.",
      "  cairn bridge topics --config orders.toml --format table\n"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version end the parse with a "success" code.
    if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(error);
    PrintError(error.what());
    std::fputs("Run `cairn --help` or `cairn COMMAND --help` for usage.\n", stderr);
    return kExitUsage;
  }
  global.format = format == "table" ? OutputFormat::kTable : OutputFormat::kJsonLines;
  global.backend = backend == "sqlite" ? BackendKind::kSqlite
                   : backend == "lmdb" ? BackendKind::kLmdb
                                       : BackendKind::kAuto;

  CliStatus status;
  if (init->parsed()) {
    status = RunInit(global, init_command);
  } else if (append->parsed()) {
    status = RunAppend(global, append_command);
  } else if (del->parsed()) {
    status = RunDelete(global, delete_command);
  } else if (read->parsed()) {
    status = RunRead(global, read_command);
  } else if (replay->parsed()) {
    status = RunReplay(global, replay_command);
  } else if (verify->parsed()) {
    status = RunVerify(global, verify_command);
  } else if (stats->parsed()) {
    status = RunStats(global, stats_command);
  } else if (export_app->parsed()) {
    status = RunExport(global, export_command);
  } else if (import_app->parsed()) {
    status = RunImport(global, import_command);
  } else if (snapshot_list->parsed()) {
    status = RunSnapshotList(global, snapshot_list_command);
  } else if (snapshot_show->parsed()) {
    status = RunSnapshotShow(global, snapshot_show_command);
  } else if (snapshot_delete->parsed()) {
    status = RunSnapshotDelete(global, snapshot_delete_command);
  } else if (snapshot_prune->parsed()) {
    status = RunSnapshotPrune(global, snapshot_prune_command);
  } else if (schema_add->parsed()) {
    if (schema_add_command.file.empty()) {
      PrintError("schema add needs the schema's FILE (or --file FILE, or - for stdin)");
      return kExitUsage;
    }
    status = RunSchemaAdd(global, schema_add_command);
  } else if (schema_list->parsed()) {
    status = RunSchemaList(global, schema_list_command);
  } else if (schema_show->parsed()) {
    status = RunSchemaShow(global, schema_show_command);
  } else if (schema_delete->parsed()) {
    status = RunSchemaDelete(global, schema_delete_command);
  } else if (catalog->parsed()) {
    status = RunCatalog(global, catalog_command);
  } else if (projection_run->parsed()) {
    status = RunProjectionRun(global, projection_run_command);
  } else if (projection_rebuild->parsed()) {
    status = RunProjectionRebuild(global, projection_rebuild_command);
  } else if (projection_status->parsed()) {
    status = RunProjectionStatus(global, projection_status_command);
  } else if (projection_parked->parsed()) {
    status = RunProjectionParked(global, projection_parked_command);
  } else if (bridge_run->parsed()) {
    status = RunBridgeRun(global, bridge_run_command);
  } else if (bridge_status->parsed()) {
    status = RunBridgeStatus(global, bridge_status_command);
  } else if (bridge_topics->parsed()) {
    status = RunBridgeTopics(global, bridge_topics_command);
  }

  // A full disk or a closed pipe must not pass for success.
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    // errno names the cause only when this last flush is what failed.
    const int cause = errno;
    PrintError(cause != 0 ? fmt::format("cannot write to stdout: {}", std::strerror(cause))
                          : std::string("cannot write to stdout"));
    return status ? kExitError : status.error().exit_code;
  }
  if (!status) {
    PrintError(status.error().message);
    return status.error().exit_code;
  }
  return kExitOk;
}

}  // namespace
}  // namespace cairn::cli

int main(int argc, char** argv) {
  // No exception may escape main: report it as an error (exit 1) instead.
  try {
    if (sodium_init() < 0) {
      std::fputs("cairn: error: libsodium failed to initialise\n", stderr);
      return cairn::cli::kExitError;
    }
    return cairn::cli::Main(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cairn: error: unexpected failure: %s\n", error.what());
  } catch (...) {
    std::fputs("cairn: error: unexpected failure\n", stderr);
  }
  return cairn::cli::kExitError;
}
