// init, delete, read, replay, verify and stats. (append lives in append.cc, export and
// import in export_import.cc.)
#include "commands.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "cairn/upcast.h"
#include "time_arg.h"

namespace cairn::cli {
namespace {

constexpr std::chrono::milliseconds kFollowPollTimeout{200};
constexpr std::size_t kFollowBatch = 512;

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

CliResult<ExpectedRevision> ParseExpect(const std::string& text) {
  auto expected = ExpectedRevision::Parse(text);
  if (!expected) return UsageError("--expect: " + expected.error().message());
  return *expected;
}

// --upcast FILE: the upcasters, or none without the option. A file that does
// not parse is a usage error (exit 2) naming FILE:LINE, as projection files are.
CliResult<std::optional<Upcasters>> LoadUpcast(const std::optional<std::string>& file) {
  if (!file) return std::optional<Upcasters>();
  auto loaded = LoadUpcasterFile(*file);
  if (!loaded) {
    const Error& error = loaded.error();
    if (error.code() == ErrorCode::kInvalidArgument) return UsageError("--upcast: " + error.message());
    return Fail(Failure{kExitError, "--upcast: " + error.message(), ErrorCodeName(error.code())});
  }
  return std::optional<Upcasters>(std::move(*loaded));
}

// The stored types to ask the store for, so that `types` (the newest types)
// match after upcasting; `types` itself when a type has no stored source.
std::vector<std::string> StoredTypes(const std::optional<Upcasters>& upcasters, const std::vector<std::string>& types) {
  if (!upcasters || types.empty()) return types;
  std::vector<std::string> stored;
  for (const std::string& type : types) {
    std::vector<std::string> sources = upcasters->SourceTypes(type);
    if (sources.empty()) sources.push_back(type);  // an older version: kept, then never matches
    for (std::string& source : sources) {
      if (std::find(stored.begin(), stored.end(), source) == stored.end()) stored.push_back(std::move(source));
    }
  }
  return stored;
}

// Upcasts each event before it is printed and filters on the upcast type.
// Position, id and hash stay the stored event's; a failing upcaster ends the
// command with its message (which names the position, type and step).
class UpcastingPrinter {
 public:
  UpcastingPrinter(EventPrinter& printer, const std::optional<Upcasters>& upcasters,
                   const std::vector<std::string>& types)
      : printer_(printer), upcasters_(upcasters), types_(types) {}

  // False when the event could not be upcast (see failure()).
  bool Print(const EventView& stored) {
    const EventView* event = &stored;
    if (upcasters_) {
      auto changed = upcasters_->Apply(stored, upcast_);
      if (!changed) {
        failure_ = changed.error();
        return false;
      }
      if (*changed) event = &upcast_.view();
      if (!types_.empty() && std::find(types_.begin(), types_.end(), event->type) == types_.end()) return true;
    }
    printer_.Print(*event);
    return true;
  }
  const std::optional<Error>& failure() const { return failure_; }

 private:
  EventPrinter& printer_;
  const std::optional<Upcasters>& upcasters_;
  const std::vector<std::string>& types_;
  UpcastedEvent upcast_;
  std::optional<Error> failure_;
};

Failure UpcastFailure(const Error& error) {
  return Failure{kExitError, "cannot upcast: " + error.message(), ErrorCodeName(error.code())};
}

}  // namespace

void AddAppendResult(Record& record, std::string_view stream, const AppendResult& result) {
  record.Add("stream", stream)
      .Add("first_revision", result.first_revision)
      .Add("last_revision", result.last_revision)
      .Add("first_position", result.first_position)
      .Add("last_position", result.last_position)
      .Add("already_committed", result.already_committed);
}

CliStatus RunInit(const GlobalOptions& global, const InitCommand& /*command*/) {
  const std::string& path = global.store_path;
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  Options options;
  options.create_if_missing = true;
  options.backend = global.backend;
  auto store = EventStore::Open(path, options);
  if (!store) {
    if (store.error().code() == ErrorCode::kCorruption) {
      return Fail(Failure{kExitError,
                          fmt::format("cannot init {}: {}; the file was left untouched", path,
                                      store.error().message()),
                          ErrorCodeName(ErrorCode::kCorruption)});
    }
    return Fail(OpenFailure(global, store.error(),
                            existed ? fmt::format("cannot open {}", path)
                                    : fmt::format("cannot create a store at {}", path)));
  }
  auto stats = (*store)->Stats();
  if (!stats) return Fail(StoreFailure(stats.error(), fmt::format("cannot read {}", path)));
  if (existed) fmt::print(stderr, "cairn: {} is already a cairn store; nothing to do\n", path);
  Record()
      .Add("path", path)
      .Add("created", !existed)
      .Add("backend", stats->backend)
      .Add("format_version", std::uint64_t{stats->format_version})
      .Add("head_position", stats->head_position)
      .Print(global.format);
  return {};
}

CliStatus RunDelete(const GlobalOptions& global, const DeleteCommand& command) {
  auto expected = ParseExpect(command.expect);
  if (!expected) return Fail(expected.error());
  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  auto result = (*store)->DeleteStream(command.stream, *expected);
  if (!result) return Fail(StoreFailure(result.error(), fmt::format("cannot delete {}", command.stream)));
  Record record;
  AddAppendResult(record, command.stream, *result);
  record.Print(global.format);
  return {};
}

CliStatus RunRead(const GlobalOptions& global, const ReadCommand& command) {
  auto upcasters = LoadUpcast(command.upcast);
  if (!upcasters) return Fail(upcasters.error());
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  ReadStreamOptions options;
  options.direction = command.backwards ? Direction::kBackward : Direction::kForward;
  options.from_revision = command.from_revision;
  if (command.limit) options.max_count = *command.limit;
  options.types = StoredTypes(*upcasters, command.types);
  EventPrinter printer(global.format);
  UpcastingPrinter upcasting(printer, *upcasters, command.types);
  auto read = (*store)->ReadStream(command.stream, options, [&](const EventView& event) {
    if (!upcasting.Print(event)) return false;
    return !std::ferror(stdout);  // stop early when stdout is gone; main() reports it
  });
  if (!read) return Fail(StoreFailure(read.error(), fmt::format("cannot read {}", command.stream)));
  printer.Finish();
  if (upcasting.failure()) return Fail(UpcastFailure(*upcasting.failure()));
  return {};
}

CliStatus RunReplay(const GlobalOptions& global, const ReplayCommand& command) {
  std::uint64_t from = std::max<std::uint64_t>(command.from_position, 1);
  std::uint64_t to = command.to_position.value_or(UINT64_MAX);
  if (to < from) return UsageError(fmt::format("--to {} is before --from {}", to, from));
  if (command.stream) {
    if (auto ok = ValidateStreamName(*command.stream); !ok) return Fail(StoreFailure(ok.error(), "--stream"));
  }
  std::optional<std::int64_t> since, until;
  if (command.since) {
    auto parsed = ParseTimestamp(*command.since);
    if (!parsed) return UsageError("--since: " + parsed.error());
    since = *parsed;
  }
  if (command.until) {
    auto parsed = ParseTimestamp(*command.until);
    if (!parsed) return UsageError("--until: " + parsed.error());
    until = *parsed;
  }
  if (since && until && *until < *since) {
    return UsageError(fmt::format("--until {} is before --since {}", *command.until, *command.since));
  }
  auto upcasters = LoadUpcast(command.upcast);
  if (!upcasters) return Fail(upcasters.error());
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  // Times become positions by binary search (recorded_at never decreases along
  // the log): --since is inclusive, --until exclusive, so consecutive windows
  // [a, b) and [b, c) replay every event exactly once.
  if (since) {
    auto position = (*store)->PositionAtOrAfter(*since);
    if (!position) return Fail(StoreFailure(position.error(), "cannot find --since in the log"));
    from = std::max(from, *position);
  }
  if (until && !command.follow) {
    auto position = (*store)->PositionAtOrAfter(*until);
    if (!position) return Fail(StoreFailure(position.error(), "cannot find --until in the log"));
    to = std::min(to, *position - 1);  // may end before `from`: then nothing is in the window
  }

  // The store filters by category and type; a single stream is its category
  // narrowed down here by name.
  LogFilter filter;
  filter.category = command.stream ? std::string(CategoryOf(*command.stream)) : command.category.value_or("");
  filter.types = StoredTypes(*upcasters, command.types);
  EventPrinter printer(global.format);
  UpcastingPrinter upcasting(printer, *upcasters, command.types);
  bool past_end = false;
  auto visit = [&](const EventView& event) {
    if (event.position > to || (until && event.recorded_at_us >= *until)) {
      past_end = true;
      return false;
    }
    if ((!command.stream || event.stream == *command.stream) && !upcasting.Print(event)) return false;
    return !std::ferror(stdout);  // stop early when stdout is gone; main() reports it
  };

  if (!command.follow) {
    ReadLogOptions options;
    options.from_position = from;
    options.to_position = to;
    options.filter = filter;
    auto read = (*store)->ReadLog(options, visit);
    if (!read) return Fail(StoreFailure(read.error(), "cannot replay the log"));
    printer.Finish();
    if (upcasting.failure()) return Fail(UpcastFailure(*upcasting.failure()));
    return {};
  }

  SubscribeOptions subscribe_options;
  subscribe_options.after_position = from - 1;
  subscribe_options.filter = filter;
  auto subscription = (*store)->Subscribe(subscribe_options);
  if (!subscription) return Fail(StoreFailure(subscription.error(), "cannot follow the log"));
  // SIGINT/SIGTERM end the loop; the poll timeout bounds how long that takes.
  InstallStopHandlers();
  while (!StopRequested() && !past_end && (*subscription)->checkpoint() < to) {
    auto polled = (*subscription)->Poll(visit, kFollowBatch, kFollowPollTimeout);
    if (!polled) {
      if (polled.error().code() == ErrorCode::kCancelled) break;
      printer.Finish();
      return Fail(StoreFailure(polled.error(), "cannot follow the log"));
    }
    if (upcasting.failure()) {
      printer.Finish();
      return Fail(UpcastFailure(*upcasting.failure()));
    }
    if (*polled > 0) printer.Flush();
    if (std::ferror(stdout)) break;  // nobody is reading any more; main() reports it
    // --until has passed on this clock: whatever commits from now on is recorded after it.
    if (*polled == 0 && until && NowMicros() >= *until) break;
  }
  // Interrupted by SIGINT/SIGTERM, or --to reached: both are a normal end.
  printer.Finish();
  return {};
}

CliStatus RunVerify(const GlobalOptions& global, const VerifyCommand& /*command*/) {
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  VerifyOptions options;
  // Progress is for a person watching; it would only litter a log file or a pipe.
  const bool show_progress = isatty(STDERR_FILENO) == 1;
  auto last_shown = std::chrono::steady_clock::time_point{};
  if (show_progress) {
    options.progress = [&](std::uint64_t checked, std::uint64_t head) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_shown < std::chrono::milliseconds(100)) return;
      last_shown = now;
      double percent = head == 0 ? 100.0 : 100.0 * static_cast<double>(checked) / static_cast<double>(head);
      fmt::print(stderr, "\rverifying: {}/{} events ({:.1f}%)", checked, head, percent);
      std::fflush(stderr);
    };
  }
  auto report = (*store)->Verify(options);
  if (show_progress) fmt::print(stderr, "\r\033[K");  // erase the progress line
  if (!report) return Fail(StoreFailure(report.error(), "cannot verify"));

  if (report->ok) {
    Record()
        .Add("ok", true)
        .Add("events", report->events_checked)
        .Add("streams", report->streams_checked)
        .Add("head_position", report->head_position)
        .Add("head_hash", HashToHex(report->head_hash))
        .Print(global.format);
    return {};
  }
  Record()
      .Add("ok", false)
      .Add("first_bad_position", report->first_bad_position)
      .Add("problem", report->problem)
      .Print(global.format);
  return Fail(Failure{kExitVerifyFailed,
                      fmt::format("verification failed at position {}: {}", report->first_bad_position,
                                  report->problem),
                      "verification failed"});
}

CliStatus RunStats(const GlobalOptions& global, const StatsCommand& /*command*/) {
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  auto stats = (*store)->Stats();
  if (!stats) return Fail(StoreFailure(stats.error(), "cannot read statistics"));
  Record record;
  record.Add("backend", stats->backend)
      .Add("path", stats->path)
      .Add("format_version", std::uint64_t{stats->format_version})
      .Add("head_position", stats->head_position)
      .Add("stream_count", stats->stream_count)
      .Add("deleted_stream_count", stats->deleted_stream_count)
      .Add("file_bytes", stats->file_bytes);
  // An empty store has no recorded-at times; 0 would claim 1970.
  if (stats->head_position == 0) {
    record.AddNull("first_recorded_at").AddNull("last_recorded_at");
  } else {
    record.Add("first_recorded_at", FormatTimestamp(stats->first_recorded_at_us))
        .Add("last_recorded_at", FormatTimestamp(stats->last_recorded_at_us));
  }
  if (stats->backend == "lmdb") {  // the memory map only exists there
    record.Add("map_bytes", stats->map_bytes)
        .Add("map_used_bytes", stats->map_used_bytes)
        .Add("reader_slots_used", stats->reader_slots_used);
  }
  record.Print(global.format);
  return {};
}

}  // namespace cairn::cli
