// cairn snapshot list, show, delete and prune: the snapshots a store keeps
// beside its log (EventStore::ReadSnapshots & co.), for operators. The CLI
// never takes a snapshot: only an aggregate's code can encode its state.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cairn/snapshot.h"
#include "commands.h"

namespace cairn::cli {
namespace {

// `show --format table` dumps at most this many bytes of the state.
constexpr std::size_t kShownStateBytes = 512;

// A snapshot without its state: what list prints.
struct SnapshotSummary {
  std::string stream;
  std::uint64_t revision = 0;
  std::uint32_t schema_version = 0;
  std::uint64_t state_bytes = 0;
  std::int64_t taken_at_us = 0;
  Hash event_hash{};
  std::optional<SnapshotProblem> problem;  // set by --check

  static SnapshotSummary Of(const SnapshotView& view) {
    return {.stream = std::string(view.stream),
            .revision = view.revision,
            .schema_version = view.schema_version,
            .state_bytes = view.state.size(),
            .taken_at_us = view.taken_at_us,
            .event_hash = view.event_hash};
  }
};

// An owned snapshot: what show prints.
struct OwnedSnapshot {
  std::string stream;
  std::uint64_t revision = 0;
  std::uint32_t schema_version = 0;
  Hash event_hash{};
  std::int64_t taken_at_us = 0;
  std::string state;

  static OwnedSnapshot Of(const SnapshotView& view) {
    return {.stream = std::string(view.stream),
            .revision = view.revision,
            .schema_version = view.schema_version,
            .event_hash = view.event_hash,
            .taken_at_us = view.taken_at_us,
            .state = std::string(view.state)};
  }
  SnapshotView view() const {
    return {.stream = stream,
            .revision = revision,
            .schema_version = schema_version,
            .event_hash = event_hash,
            .taken_at_us = taken_at_us,
            .state = state};
  }
};

// stream, revision, schema_version, state_bytes, taken_at, event_hash[, problem]
void AddSummary(Record& record, const SnapshotSummary& snapshot) {
  record.Add("stream", snapshot.stream)
      .Add("revision", snapshot.revision)
      .Add("schema_version", std::uint64_t{snapshot.schema_version})
      .Add("state_bytes", snapshot.state_bytes)
      .Add("taken_at", FormatTimestamp(snapshot.taken_at_us))
      .Add("event_hash", HashToHex(snapshot.event_hash));
  if (snapshot.problem) record.Add("problem", SnapshotProblemName(*snapshot.problem));
}

// CheckSnapshot's verdict; a stream it cannot read is a Failure naming the snapshot.
CliResult<SnapshotProblem> Check(EventStore& store, const SnapshotView& snapshot) {
  auto problem = CheckSnapshot(store, snapshot);
  if (!problem) {
    return Fail(StoreFailure(problem.error(), fmt::format("cannot check the snapshot of {} at revision {}",
                                                          snapshot.stream, snapshot.revision)));
  }
  return *problem;
}

// "00000000  7b 22 6e 22 3a 31 7d 0a  ...  |{"n":1}.|", as hexdump -C prints it.
std::string HexDump(std::string_view bytes) {
  std::string text;
  for (std::size_t offset = 0; offset < bytes.size(); offset += 16) {
    const std::string_view line = bytes.substr(offset, 16);
    text += fmt::format("{:08x}  ", offset);
    for (std::size_t i = 0; i < 16; ++i) {
      text += i < line.size() ? fmt::format("{:02x} ", static_cast<unsigned char>(line[i])) : std::string("   ");
      if (i == 7) text += ' ';
    }
    text += " |";
    for (char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      text += byte >= 0x20 && byte < 0x7f ? c : '.';
    }
    text += "|\n";
  }
  return text;
}

// The state as people read it: a hex dump of its first kShownStateBytes, and what was left out.
std::string StateDump(std::string_view state) {
  if (state.empty()) return "state: 0 bytes\n";
  const std::string_view shown = state.substr(0, kShownStateBytes);
  std::string text = shown.size() == state.size()
                         ? fmt::format("state ({} bytes):\n", state.size())
                         : fmt::format("state (the first {} of {} bytes):\n", shown.size(), state.size());
  text += HexDump(shown);
  if (shown.size() < state.size()) {
    text += fmt::format("... {} more bytes not shown (the JSON output has them all as state_base64)\n",
                        state.size() - shown.size());
  }
  return text;
}

void WriteStdout(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// A STREAM given on the command line is checked with the store's rules before
// the store is opened, so that a typo is reported as such.
CliStatus CheckStreamName(std::string_view stream, std::string_view context) {
  if (auto ok = ValidateStreamName(stream); !ok) return Fail(StoreFailure(ok.error(), context));
  return {};
}

}  // namespace

CliStatus RunSnapshotList(const GlobalOptions& global, const SnapshotListCommand& command) {
  const std::string stream = command.stream.value_or("");
  const std::string context =
      command.stream ? fmt::format("cannot list the snapshots of {}", stream) : std::string("cannot list snapshots");
  if (command.stream) {
    if (auto ok = CheckStreamName(stream, context); !ok) return ok;
  }
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());

  // JSON Lines without --check go out as they are read. A table needs every
  // row for its widths, and CheckSnapshot reads the stream, which must not
  // happen inside ReadSnapshots' read transaction: those are collected first.
  const bool streaming = global.format == OutputFormat::kJsonLines && !command.check;
  std::vector<SnapshotSummary> snapshots;
  auto read = (*store)->ReadSnapshots(command.stream, [&](const SnapshotView& view) {
    if (!streaming) {
      snapshots.push_back(SnapshotSummary::Of(view));
      return true;
    }
    Record record;
    AddSummary(record, SnapshotSummary::Of(view));
    record.Print(global.format);
    return !std::ferror(stdout);  // stop early when stdout is gone; main() reports it
  });
  if (!read) return Fail(StoreFailure(read.error(), context));
  if (streaming) return {};

  if (command.check) {
    for (SnapshotSummary& snapshot : snapshots) {
      // CheckSnapshot looks at the revision and event hash only, never at the state.
      const SnapshotView view{.stream = snapshot.stream,
                              .revision = snapshot.revision,
                              .schema_version = snapshot.schema_version,
                              .event_hash = snapshot.event_hash,
                              .taken_at_us = snapshot.taken_at_us};
      auto problem = Check(**store, view);
      if (!problem) return Fail(problem.error());
      snapshot.problem = *problem;
    }
  }

  if (global.format == OutputFormat::kJsonLines) {
    for (const SnapshotSummary& snapshot : snapshots) {
      Record record;
      AddSummary(record, snapshot);
      record.Print(global.format);
    }
    return {};
  }
  std::vector<TableColumn> columns{{"stream", false, 40},        {"revision", true, 20},
                                   {"schema_version", true, 10}, {"state_bytes", true, 20},
                                   {"taken_at", false, 27},      {"event_hash", false, 64}};
  if (command.check) columns.push_back({"problem", false, 20});
  std::vector<std::vector<std::string>> rows;
  rows.reserve(snapshots.size());
  for (const SnapshotSummary& snapshot : snapshots) {
    std::vector<std::string> row{snapshot.stream,
                                 std::to_string(snapshot.revision),
                                 std::to_string(snapshot.schema_version),
                                 std::to_string(snapshot.state_bytes),
                                 FormatTimestamp(snapshot.taken_at_us),
                                 HashToHex(snapshot.event_hash)};
    if (snapshot.problem) row.emplace_back(SnapshotProblemName(*snapshot.problem));
    rows.push_back(std::move(row));
  }
  WriteStdout(FormatTable(columns, rows));
  return {};
}

CliStatus RunSnapshotShow(const GlobalOptions& global, const SnapshotShowCommand& command) {
  const std::string context = fmt::format("cannot read the snapshots of {}", command.stream);
  if (auto ok = CheckStreamName(command.stream, context); !ok) return ok;
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  // Newest first: the first one visited, or the one at --revision.
  std::optional<OwnedSnapshot> found;
  auto read = (*store)->ReadSnapshots(command.stream, [&](const SnapshotView& view) {
    if (command.revision && view.revision != *command.revision) return true;
    found = OwnedSnapshot::Of(view);
    return false;
  });
  if (!read) return Fail(StoreFailure(read.error(), context));
  if (!found) {
    return Fail(Failure{kExitError,
                        command.revision ? fmt::format("stream {} has no snapshot at revision {}", command.stream,
                                                       *command.revision)
                                         : fmt::format("stream {} has no snapshots", command.stream),
                        ErrorCodeName(ErrorCode::kNotFound)});
  }
  const SnapshotView view = found->view();
  auto problem = Check(**store, view);
  if (!problem) return Fail(problem.error());

  Record record;
  AddSummary(record, SnapshotSummary{.stream = found->stream,
                                     .revision = found->revision,
                                     .schema_version = found->schema_version,
                                     .state_bytes = found->state.size(),
                                     .taken_at_us = found->taken_at_us,
                                     .event_hash = found->event_hash,
                                     .problem = *problem});
  if (global.format == OutputFormat::kJsonLines) {
    record.Add("state_base64", Base64Encode(found->state));
    record.Print(global.format);
    return {};
  }
  record.Print(global.format);
  WriteStdout("\n" + StateDump(found->state));
  return {};
}

CliStatus RunSnapshotDelete(const GlobalOptions& global, const SnapshotDeleteCommand& command) {
  // main() refuses both at once; this keeps the function honest on its own.
  if (command.all && command.revision) return UsageError("--revision and --all cannot be used together");
  const std::string context = fmt::format("cannot delete the snapshots of {}", command.stream);
  if (auto ok = CheckStreamName(command.stream, context); !ok) return ok;
  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());

  std::optional<std::uint64_t> revision = command.revision;
  if (!command.all && !revision) {
    // The newest one: the first one visited.
    auto read = (*store)->ReadSnapshots(command.stream, [&](const SnapshotView& view) {
      revision = view.revision;
      return false;
    });
    if (!read) return Fail(StoreFailure(read.error(), context));
  }
  std::uint64_t deleted = 0;
  if (command.all || revision) {  // else the stream has no snapshot: nothing to delete
    auto result = (*store)->DeleteSnapshots(command.stream, command.all ? std::nullopt : revision);
    if (!result) return Fail(StoreFailure(result.error(), context));
    deleted = *result;
  }
  Record().Add("stream", command.stream).Add("deleted", deleted).Print(global.format);
  return {};
}

CliStatus RunSnapshotPrune(const GlobalOptions& global, const SnapshotPruneCommand& command) {
  const std::string stream = command.stream.value_or("");
  const std::string context =
      command.stream ? fmt::format("cannot prune the snapshots of {}", stream) : std::string("cannot prune snapshots");
  if (command.stream) {
    if (auto ok = CheckStreamName(stream, context); !ok) return ok;
  }
  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  auto deleted = (*store)->PruneSnapshots(command.stream, static_cast<std::size_t>(command.keep));
  if (!deleted) return Fail(StoreFailure(deleted.error(), context));
  Record().Add("deleted", *deleted).Print(global.format);
  return {};
}

}  // namespace cairn::cli
