// The cairn subcommands. main.cc fills these structs from the command line
// (CLI11) and calls the matching Run function; each returns a CliStatus whose
// Failure main() prints and turns into the exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cairn/event.h"
#include "cli.h"
#include "output.h"

namespace cairn::cli {

struct InitCommand {};

struct AppendCommand {
  std::string stream;
  std::string type;
  std::optional<std::string> data;      // JSON text, "@FILE" or "-" (stdin)
  std::optional<std::string> metadata;  // a JSON object
  std::string expect = "any";
  std::optional<std::string> id;
  std::string content_type = "application/json";
  bool batch = false;       // JSON Lines on stdin, one append per line
  bool keep_going = false;  // batch: report a failed line and go on
};

struct DeleteCommand {
  std::string stream;
  std::string expect = "any";
};

struct ReadCommand {
  std::string stream;
  std::optional<std::uint64_t> from_revision;
  bool backwards = false;
  std::optional<std::uint64_t> limit;
  std::vector<std::string> types;
  std::optional<std::string> upcast;  // a declarative upcaster file (docs/schemas.md)
};

struct ReplayCommand {
  std::optional<std::string> since;  // ISO-8601: the first event recorded at or after it (inclusive)
  std::optional<std::string> until;  // ISO-8601: only events recorded before it (exclusive)
  std::optional<std::string> stream;
  std::optional<std::string> category;
  std::uint64_t from_position = 1;
  std::optional<std::uint64_t> to_position;
  std::vector<std::string> types;
  bool follow = false;
  std::optional<std::string> upcast;  // a declarative upcaster file (docs/schemas.md)
};

struct VerifyCommand {};
struct StatsCommand {};

struct ExportCommand {
  std::optional<std::uint64_t> from_position;  // default: 1
  std::optional<std::uint64_t> to_position;    // default: the head
};

struct ImportCommand {
  std::string file;  // an export file, or "-" for stdin
};

// cairn snapshot list|show|delete|prune
struct SnapshotListCommand {
  std::optional<std::string> stream;  // all streams when absent
  bool check = false;                 // add CheckSnapshot's verdict as "problem"
};

struct SnapshotShowCommand {
  std::string stream;
  std::optional<std::uint64_t> revision;  // default: the newest snapshot
};

struct SnapshotDeleteCommand {
  std::string stream;
  std::optional<std::uint64_t> revision;  // default: the newest snapshot
  bool all = false;                       // every snapshot of the stream
};

struct SnapshotPruneCommand {
  std::optional<std::string> stream;  // all streams when absent
  std::uint64_t keep = 0;             // the newest snapshots to keep per stream
};

// cairn projection run|rebuild|status|parked. read_model is --read-model or
// $CAIRN_READ_MODEL; empty when neither was given (a usage error).
struct ProjectionRunCommand {
  std::vector<std::string> files;  // SQL projection files
  std::string read_model;
  bool follow = false;  // run live until SIGINT/SIGTERM instead of up to the head
  // Fed from Kafka envelope topics instead of the store (cairn/kafka_source.h)
  // when kafka_brokers is set; topics and group are then required.
  std::string kafka_brokers;
  std::vector<std::string> kafka_topics;
  std::string kafka_group;
  std::vector<std::string> kafka_properties;  // -X key=value, librdkafka consumer properties
};

struct ProjectionRebuildCommand {
  std::string file;  // the SQL projection to rebuild
  std::string read_model;
};

struct ProjectionStatusCommand {
  std::string read_model;
};

struct ProjectionParkedCommand {
  std::string read_model;
  std::optional<std::string> projection;  // only this projection's parked events
  std::vector<std::string> retry_files;   // --retry: retry the parked events of these projections
};

// cairn bridge run|status|topics (bridge_commands.cc)
struct BridgeRunCommand {
  std::string config;                     // the bridge file
  std::vector<std::string> kafka_properties;  // -X key=value
  bool to_head = false;                   // stop once the head as of the start is published
};
struct BridgeStatusCommand {
  std::string config;
};
struct BridgeTopicsCommand {
  std::string config;
};

// cairn schema add|list|show|delete
struct SchemaAddCommand {
  std::string event_type;
  std::string file;  // the JSON Schema document's file, or "-" for stdin
};

struct SchemaListCommand {
  bool history = false;  // every registration, not only the current ones
};

struct SchemaShowCommand {
  std::string event_type;
};

struct SchemaDeleteCommand {
  std::string event_type;
};

// cairn catalog
struct CatalogCommand {
  std::string format;                 // jsonl (or json), markdown or table; empty: the global --format
  std::optional<std::string> bridge;  // a bridge file: topics and partition keys
  std::uint64_t sample = 100;         // events per type whose fields are looked at
};

CliStatus RunInit(const GlobalOptions& global, const InitCommand& command);
CliStatus RunAppend(const GlobalOptions& global, const AppendCommand& command);
CliStatus RunDelete(const GlobalOptions& global, const DeleteCommand& command);
CliStatus RunRead(const GlobalOptions& global, const ReadCommand& command);
CliStatus RunReplay(const GlobalOptions& global, const ReplayCommand& command);
CliStatus RunVerify(const GlobalOptions& global, const VerifyCommand& command);
CliStatus RunStats(const GlobalOptions& global, const StatsCommand& command);
// export_import.cc
CliStatus RunExport(const GlobalOptions& global, const ExportCommand& command);
CliStatus RunImport(const GlobalOptions& global, const ImportCommand& command);
// snapshot_commands.cc
CliStatus RunSnapshotList(const GlobalOptions& global, const SnapshotListCommand& command);
CliStatus RunSnapshotShow(const GlobalOptions& global, const SnapshotShowCommand& command);
CliStatus RunSnapshotDelete(const GlobalOptions& global, const SnapshotDeleteCommand& command);
CliStatus RunSnapshotPrune(const GlobalOptions& global, const SnapshotPruneCommand& command);
// projection_commands.cc
CliStatus RunProjectionRun(const GlobalOptions& global, const ProjectionRunCommand& command);
CliStatus RunProjectionRebuild(const GlobalOptions& global, const ProjectionRebuildCommand& command);
CliStatus RunProjectionStatus(const GlobalOptions& global, const ProjectionStatusCommand& command);
CliStatus RunProjectionParked(const GlobalOptions& global, const ProjectionParkedCommand& command);

// schema_commands.cc
CliStatus RunSchemaAdd(const GlobalOptions& global, const SchemaAddCommand& command);
CliStatus RunSchemaList(const GlobalOptions& global, const SchemaListCommand& command);
CliStatus RunSchemaShow(const GlobalOptions& global, const SchemaShowCommand& command);
CliStatus RunSchemaDelete(const GlobalOptions& global, const SchemaDeleteCommand& command);
// catalog_command.cc
CliStatus RunCatalog(const GlobalOptions& global, const CatalogCommand& command);

// bridge_commands.cc
CliStatus RunBridgeRun(const GlobalOptions& global, const BridgeRunCommand& command);
CliStatus RunBridgeStatus(const GlobalOptions& global, const BridgeStatusCommand& command);
CliStatus RunBridgeTopics(const GlobalOptions& global, const BridgeTopicsCommand& command);
// Adds an append (or delete) result to `record`:
// "stream", "first_revision", "last_revision", "first_position", "last_position", "already_committed".
void AddAppendResult(Record& record, std::string_view stream, const AppendResult& result);

}  // namespace cairn::cli
