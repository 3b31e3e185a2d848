// cairn projection run, rebuild, status and parked: SQL projections
// (cairn/sql_projection.h) run into a read model by cairn::ProjectionRunner
// (cairn/projection.h), and what a read model records about them.
// docs/cli.md#projections explains the choices.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cairn/kafka_source.h"
#include "cairn/projection.h"
#include "cairn/sql_projection.h"
#include "commands.h"

namespace cairn::cli {
namespace {

using Clock = std::chrono::steady_clock;

// How often a run looks at SIGINT/SIGTERM (and, with --follow, at the projections' states).
constexpr std::chrono::milliseconds kSignalPoll{50};
// The progress line is redrawn at most this often.
constexpr std::chrono::milliseconds kProgressInterval{100};

CliStatus NeedReadModel(const std::string& read_model) {
  if (read_model.empty()) {
    return UsageError("no read model given: use --read-model PATH or set $CAIRN_READ_MODEL");
  }
  return {};
}

struct LoadedProjection {
  std::string file;
  Projection projection;
};

// Loads and checks every file before anything is opened. A file that is not
// understood is a usage error (exit 2) whose message is the loader's
// "FILE:LINE: what is wrong"; a file that cannot be read is an error (exit 1).
CliResult<std::vector<LoadedProjection>> LoadProjectionFiles(const std::vector<std::string>& files) {
  std::vector<LoadedProjection> loaded;
  for (const std::string& file : files) {
    auto projection = LoadSqlProjection(file);
    if (!projection) {
      const Error& error = projection.error();
      if (error.code() == ErrorCode::kInvalidArgument) return UsageError(error.message());
      return Fail(Failure{kExitError, error.message(), ErrorCodeName(error.code())});
    }
    for (const LoadedProjection& other : loaded) {
      if (other.projection.name == projection->name) {
        return UsageError(fmt::format("{} and {} both declare projection {}: a read model runs each projection once",
                                      other.file, file, projection->name));
      }
    }
    loaded.push_back({file, std::move(*projection)});
  }
  return loaded;
}

// The store (read-only: projections only read it) and a runner on the read
// model with the projections added. The runner is declared last so that it is
// destroyed (stopped and joined) before the store its source reads.
struct OpenedRunner {
  std::unique_ptr<EventStore> store;  // null when fed from Kafka
  std::unique_ptr<ProjectionRunner> runner;
};

// The Kafka source's options of `projection run`'s --kafka-* options; nullopt without --kafka-brokers.
CliResult<std::optional<KafkaSourceOptions>> KafkaOptions(const ProjectionRunCommand& command) {
  if (command.kafka_brokers.empty()) {
    if (!command.kafka_topics.empty() || !command.kafka_group.empty() || !command.kafka_properties.empty()) {
      return UsageError("--kafka-topic, --kafka-group and -X need --kafka-brokers");
    }
    return std::optional<KafkaSourceOptions>();
  }
  if (command.kafka_topics.empty()) return UsageError("--kafka-brokers needs at least one --kafka-topic");
  if (command.kafka_group.empty()) return UsageError("--kafka-brokers needs --kafka-group");
  KafkaSourceOptions options{.topics = command.kafka_topics, .group_id = command.kafka_group};
  options.kafka.emplace_back("bootstrap.servers", command.kafka_brokers);
  for (const std::string& property : command.kafka_properties) {
    const auto equals = property.find('=');
    if (equals == std::string::npos || equals == 0) {
      return UsageError(fmt::format("-X {}: expected KEY=VALUE", property));
    }
    options.kafka.emplace_back(property.substr(0, equals), property.substr(equals + 1));
  }
  return std::optional<KafkaSourceOptions>(std::move(options));
}

CliResult<OpenedRunner> OpenRunner(const GlobalOptions& global, const std::string& read_model,
                                   std::vector<LoadedProjection> projections, RunnerOptions options,
                                   std::optional<KafkaSourceOptions> kafka = std::nullopt) {
  OpenedRunner opened;
  std::unique_ptr<EventSource> source;
  if (kafka) {
    auto made = KafkaSource(std::move(*kafka));
    if (!made) return UsageError(made.error().message());
    source = std::move(*made);
  } else {
    auto store = OpenExistingStore(global, /*read_only=*/true);
    if (!store) return Fail(store.error());
    opened.store = std::move(*store);
    source = StoreSource(*opened.store);
  }
  auto runner = ProjectionRunner::Open(std::move(source), read_model, std::move(options));
  if (!runner) return Fail(StoreFailure(runner.error(), fmt::format("cannot open the read model {}", read_model)));
  opened.runner = std::move(*runner);
  for (LoadedProjection& loaded : projections) {
    const std::string name = loaded.projection.name;
    if (auto ok = opened.runner->Add(std::move(loaded.projection)); !ok) {
      return Fail(
          StoreFailure(ok.error(), fmt::format("cannot run projection {} ({}) in {}", name, loaded.file, read_model)));
    }
  }
  return opened;
}

// "4s", "3m05s", "2h07m".
std::string FormatDuration(double seconds) {
  const auto total = static_cast<std::uint64_t>(std::max(0.0, seconds) + 0.5);
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, total % 3600 / 60);
}

// Progress for a person watching projections catch up or rebuild: one line on
// stderr, redrawn with \r at most every 100 ms, about the projection furthest
// behind. Only when stderr is a terminal: it would litter a log file or a pipe.
// Update() is RunnerOptions::on_batch, called from the projections' threads.
class Progress {
 public:
  explicit Progress(std::size_t projections) : enabled_(isatty(STDERR_FILENO) == 1), projections_(projections) {}
  ~Progress() { Finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return enabled_; }

  void Update(const ProjectionStatus& status) {
    std::lock_guard lock(mutex_);
    if (!enabled_ || finished_) return;
    latest_[status.name] = status;
    const auto now = Clock::now();
    if (now - last_drawn_ < kProgressInterval) return;
    last_drawn_ = now;
    Draw();
  }

  // Erases the line (before something else is written to stderr); it comes back with the next update.
  void Clear() {
    std::lock_guard lock(mutex_);
    ClearLocked();
  }

  // Erases the line for good.
  void Finish() {
    std::lock_guard lock(mutex_);
    ClearLocked();
    finished_ = true;
  }

 private:
  void ClearLocked() {
    if (!shown_) return;
    fmt::print(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

  void Draw() {
    const ProjectionStatus* behind = nullptr;
    std::size_t caught_up = 0;
    for (const auto& [name, status] : latest_) {
      if (status.lag_events == 0 && !status.rebuilding_version) ++caught_up;
      if (behind == nullptr || status.lag_events > behind->lag_events) behind = &status;
    }
    if (behind == nullptr || behind->lag_events == 0) {  // nothing to wait for
      ClearLocked();
      return;
    }
    const std::uint64_t head = behind->head_position;
    const std::uint64_t done = head - std::min(head, behind->lag_events);
    std::string line = behind->rebuilding_version
                           ? fmt::format("{} (rebuilding v{}): ", behind->name, *behind->rebuilding_version)
                           : fmt::format("{}: ", behind->name);
    line += fmt::format("{}/{} ({:.1f}%)", done, head,
                        head == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(head));
    if (behind->events_per_second > 0) {
      line += fmt::format(", {:.0f} events/s, ETA {}", behind->events_per_second,
                          FormatDuration(static_cast<double>(behind->lag_events) / behind->events_per_second));
    }
    if (projections_ > 1) line += fmt::format("; {} of {} projections caught up", caught_up, projections_);
    // A line longer than the terminal would wrap, and \r would no longer redraw it.
    winsize size{};
    const std::size_t width = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1 ? size.ws_col : 80;
    if (line.size() >= width) line.resize(width - 1);
    fmt::print(stderr, "\r{}\033[K", line);
    std::fflush(stderr);
    shown_ = true;
  }

  const bool enabled_;
  const std::size_t projections_;
  std::mutex mutex_;  // guards what follows
  bool finished_ = false;
  bool shown_ = false;
  Clock::time_point last_drawn_{};
  std::map<std::string, ProjectionStatus, std::less<>> latest_;
};

// A projection's status as printed: what the runner (or the read model) says,
// and whether the head and the rate are known.
struct StatusLine {
  ProjectionStatus status;
  bool head_known = true;  // `status` without a store: no head, hence no lag
  bool rate_known = true;  // only a runner measures events_per_second
};

// name, version, state, position, rebuilding_version, rebuild_position, head_position, lag_events,
// lag_seconds, events_per_second, parked, last_error
void PrintStatuses(const GlobalOptions& global, const std::vector<StatusLine>& lines) {
  if (global.format == OutputFormat::kJsonLines) {
    for (const auto& [status, head_known, rate_known] : lines) {
      Record record;
      record.Add("name", status.name)
          .Add("version", std::uint64_t{status.version})
          .Add("state", ProjectionStateName(status.state))
          .Add("position", status.position);
      if (status.rebuilding_version) {
        record.Add("rebuilding_version", std::uint64_t{*status.rebuilding_version})
            .Add("rebuild_position", status.rebuild_position);
      } else {
        record.AddNull("rebuilding_version").AddNull("rebuild_position");
      }
      if (head_known) {
        record.Add("head_position", status.head_position)
            .Add("lag_events", status.lag_events)
            .AddReal("lag_seconds", status.lag_seconds);
      } else {
        record.AddNull("head_position").AddNull("lag_events").AddNull("lag_seconds");
      }
      if (rate_known) {
        record.AddReal("events_per_second", status.events_per_second, 1);
      } else {
        record.AddNull("events_per_second");
      }
      record.Add("parked", status.parked).Add("last_error", status.last_error).Print(global.format);
    }
    return;
  }
  static constexpr TableColumn kColumns[] = {{"name", false, 40},      {"version", true, 10},  {"state", false, 40},
                                             {"position", true, 20},   {"head", true, 20},     {"lag", true, 20},
                                             {"lag_s", true, 12},      {"events/s", true, 12}, {"parked", true, 20},
                                             {"last_error", false, 80}};
  std::vector<std::vector<std::string>> rows;
  for (const auto& [status, head_known, rate_known] : lines) {
    std::string state(ProjectionStateName(status.state));
    if (status.rebuilding_version) {
      state += fmt::format(" (v{} at {})", *status.rebuilding_version, status.rebuild_position);
    }
    rows.push_back({status.name, std::to_string(status.version), state, std::to_string(status.position),
                    head_known ? std::to_string(status.head_position) : "-",
                    head_known ? std::to_string(status.lag_events) : "-",
                    head_known ? fmt::format("{:.1f}", status.lag_seconds) : "-",
                    rate_known ? fmt::format("{:.0f}", status.events_per_second) : "-", std::to_string(status.parked),
                    status.last_error.empty() ? "-" : status.last_error});
  }
  const std::string table = FormatTable(kColumns, rows);
  std::fwrite(table.data(), 1, table.size(), stdout);
}

void PrintRunnerStatuses(const GlobalOptions& global, const std::vector<ProjectionStatus>& statuses) {
  std::vector<StatusLine> lines;
  for (const ProjectionStatus& status : statuses) lines.push_back({.status = status});
  PrintStatuses(global, lines);
}

// The Failure of a run whose projections (some of them) failed: the first
// failure's message, and how many more there were.
Failure RunFailure(const Error& first, const std::vector<ProjectionStatus>& statuses) {
  const auto failed = static_cast<std::size_t>(std::count_if(
      statuses.begin(), statuses.end(), [](const ProjectionStatus& s) { return s.state == ProjectionState::kFailed; }));
  std::string message = first.message();
  if (failed > 1) message += fmt::format(" (and {} more failed: see their last_error)", failed - 1);
  return Failure{kExitError, std::move(message), ErrorCodeName(first.code())};
}

// Runs the projections up to the store's head as of now: catching up, and
// finishing any rebuild (a new version, a first build, a requested rebuild).
// SIGINT/SIGTERM stop it after the current batch (exit 1: "interrupted").
CliStatus RunToHead(const GlobalOptions& global, OpenedRunner& opened, Progress& progress) {
  ProjectionRunner& runner = *opened.runner;
  bool interrupted = false;
  Status result;
  {
    // RunToHead blocks this thread; another one turns a signal into Stop().
    StopOnSignal on_signal([&runner] { runner.Stop(); });
    result = runner.RunToHead();
    interrupted = on_signal.interrupted();
  }
  progress.Finish();
  const std::vector<ProjectionStatus> statuses = runner.Statuses();
  PrintRunnerStatuses(global, statuses);
  if (result) return {};
  if (interrupted || result.error().code() == ErrorCode::kCancelled) {
    return Fail(Failure{kExitError, "interrupted before every projection reached the head (run again to go on)",
                        ErrorCodeName(ErrorCode::kCancelled)});
  }
  return Fail(RunFailure(result.error(), statuses));
}

bool Running(ProjectionState state) {
  return state == ProjectionState::kCatchingUp || state == ProjectionState::kLive ||
         state == ProjectionState::kRebuilding;
}

// Runs the projections live until SIGINT/SIGTERM (or until every one has
// failed). A projection that fails is reported at once; the others go on.
CliStatus Follow(const GlobalOptions& global, OpenedRunner& opened, Progress& progress) {
  ProjectionRunner& runner = *opened.runner;
  InstallStopHandlers();
  if (auto ok = runner.Start(); !ok) return Fail(StoreFailure(ok.error(), "cannot start the projections"));
  std::atomic<bool> ended{false};
  std::jthread waiter([&runner, &ended] {
    runner.Wait();  // returns by itself only when every projection has failed
    ended = true;
  });
  std::set<std::string, std::less<>> seen_running;
  std::set<std::string, std::less<>> reported;
  while (!StopRequested() && !ended) {
    std::this_thread::sleep_for(kSignalPoll);
    bool all_live = true;
    for (const ProjectionStatus& status : runner.Statuses()) {
      all_live = all_live && status.state == ProjectionState::kLive;
      // A projection added in the failed state (its last run failed) reads
      // kFailed until its thread starts: only a failure after running counts here.
      if (Running(status.state)) seen_running.insert(status.name);
      if (status.state == ProjectionState::kFailed && seen_running.contains(status.name) &&
          reported.insert(status.name).second) {
        progress.Clear();
        PrintError(fmt::format("projection {} failed; the others go on: {}", status.name, status.last_error));
      }
    }
    if (all_live) progress.Finish();  // caught up: live batches need no progress line
  }
  runner.Stop();
  waiter.join();  // the projections have stopped
  progress.Finish();
  const std::vector<ProjectionStatus> statuses = runner.Statuses();
  PrintRunnerStatuses(global, statuses);
  for (const ProjectionStatus& status : statuses) {
    if (status.state == ProjectionState::kFailed) {
      return Fail(RunFailure(
          Error(ErrorCode::kInvalidArgument, fmt::format("projection {} failed: {}", status.name, status.last_error)),
          statuses));
    }
  }
  return {};
}

// run and rebuild: load, open, (request the rebuild,) run.
CliStatus RunProjectionFiles(const GlobalOptions& global, const std::vector<std::string>& files,
                             const std::string& read_model, bool follow, bool rebuild,
                             std::optional<KafkaSourceOptions> kafka = std::nullopt) {
  if (auto ok = NeedReadModel(read_model); !ok) return ok;
  auto projections = LoadProjectionFiles(files);
  if (!projections) return Fail(projections.error());
  std::vector<std::string> names;
  for (const LoadedProjection& loaded : *projections) names.push_back(loaded.projection.name);

  Progress progress(projections->size());
  RunnerOptions options;
  if (progress.enabled()) options.on_batch = [&progress](const ProjectionStatus& status) { progress.Update(status); };
  auto opened = OpenRunner(global, read_model, std::move(*projections), std::move(options), std::move(kafka));
  if (!opened) return Fail(opened.error());
  if (rebuild) {
    for (const std::string& name : names) {
      if (auto ok = opened->runner->RequestRebuild(name); !ok) {
        return Fail(StoreFailure(ok.error(), fmt::format("cannot request a rebuild of projection {}", name)));
      }
    }
  }
  return follow ? Follow(global, *opened, progress) : RunToHead(global, *opened, progress);
}

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CliStatus RunProjectionRun(const GlobalOptions& global, const ProjectionRunCommand& command) {
  auto kafka = KafkaOptions(command);
  if (!kafka) return Fail(kafka.error());
  return RunProjectionFiles(global, command.files, command.read_model, command.follow, /*rebuild=*/false,
                            std::move(*kafka));
}

CliStatus RunProjectionRebuild(const GlobalOptions& global, const ProjectionRebuildCommand& command) {
  return RunProjectionFiles(global, {command.file}, command.read_model, /*follow=*/false, /*rebuild=*/true);
}

CliStatus RunProjectionStatus(const GlobalOptions& global, const ProjectionStatusCommand& command) {
  if (auto ok = NeedReadModel(command.read_model); !ok) return ok;
  auto statuses = ReadProjectionStatuses(command.read_model);
  if (!statuses) {
    return Fail(StoreFailure(statuses.error(), fmt::format("cannot read the read model {}", command.read_model)));
  }
  // The head, hence the lag, comes from the store when there is one.
  std::unique_ptr<EventStore> store;
  std::error_code ec;
  if (std::filesystem::exists(global.store_path, ec)) {
    auto opened = OpenExistingStore(global, /*read_only=*/true);
    if (!opened) return Fail(opened.error());
    store = std::move(*opened);
  }
  std::vector<StatusLine> lines;
  if (!store) {
    for (ProjectionStatus& status : *statuses) {
      lines.push_back({.status = std::move(status), .head_known = false, .rate_known = false});
    }
    PrintStatuses(global, lines);
    return {};
  }
  auto head = store->HeadPosition();
  if (!head) return Fail(StoreFailure(head.error(), "cannot read the store's head"));
  auto source = StoreSource(*store);
  for (ProjectionStatus& status : *statuses) {
    // The lag of the model being built: the shadow's while a rebuild is under way.
    const std::uint64_t position = status.rebuilding_version ? status.rebuild_position : status.position;
    status.head_position = *head;
    status.lag_events = *head > position ? *head - position : 0;
    status.lag_seconds = 0;
    if (status.lag_events > 0) {
      // The age of the oldest event not yet processed.
      auto next = source->ReadEvent(position + 1);
      if (!next) return Fail(StoreFailure(next.error(), fmt::format("cannot read position {}", position + 1)));
      if (*next) status.lag_seconds = std::max(0.0, static_cast<double>(NowMicros() - (*next)->recorded_at_us) / 1e6);
    }
    lines.push_back({.status = std::move(status), .head_known = true, .rate_known = false});
  }
  PrintStatuses(global, lines);
  return {};
}

CliStatus RunProjectionParked(const GlobalOptions& global, const ProjectionParkedCommand& command) {
  if (auto ok = NeedReadModel(command.read_model); !ok) return ok;
  if (command.retry_files.empty()) {
    auto parked = ListParkedEvents(command.read_model, command.projection);
    if (!parked) {
      return Fail(StoreFailure(parked.error(), fmt::format("cannot read the read model {}", command.read_model)));
    }
    if (global.format == OutputFormat::kJsonLines) {
      for (const ParkedEvent& event : *parked) {
        Record()
            .Add("projection", event.projection)
            .Add("position", event.position)
            .Add("stream", event.stream)
            .Add("revision", event.revision)
            .Add("type", event.type)
            .Add("attempts", std::uint64_t{event.attempts})
            .Add("parked_at", FormatTimestamp(event.parked_at_us))
            .Add("error", event.error)
            .Print(global.format);
      }
      return {};
    }
    static constexpr TableColumn kColumns[] = {
        {"projection", false, 30}, {"position", true, 20}, {"stream", false, 40},    {"revision", true, 20},
        {"type", false, 40},       {"attempts", true, 10}, {"parked_at", false, 27}, {"error", false, 100}};
    std::vector<std::vector<std::string>> rows;
    for (const ParkedEvent& event : *parked) {
      rows.push_back({event.projection, std::to_string(event.position), event.stream, std::to_string(event.revision),
                      event.type, std::to_string(event.attempts), FormatTimestamp(event.parked_at_us), event.error});
    }
    const std::string table = FormatTable(kColumns, rows);
    std::fwrite(table.data(), 1, table.size(), stdout);
    return {};
  }

  // --retry FILE...: the handlers come from the files.
  if (command.projection) return UsageError("--projection cannot be used with --retry: the files name the projections");
  auto projections = LoadProjectionFiles(command.retry_files);
  if (!projections) return Fail(projections.error());
  std::vector<std::string> names;
  for (const LoadedProjection& loaded : *projections) names.push_back(loaded.projection.name);
  auto opened = OpenRunner(global, command.read_model, std::move(*projections), {});
  if (!opened) return Fail(opened.error());
  std::uint64_t still_failing = 0;
  std::string failing;  // the projections with events still failing, "a, b"
  for (const std::string& name : names) {
    auto report = opened->runner->RetryParked(name);
    if (!report) {
      return Fail(StoreFailure(report.error(), fmt::format("cannot retry the parked events of projection {}", name)));
    }
    Record()
        .Add("projection", name)
        .Add("retried", report->retried)
        .Add("succeeded", report->succeeded)
        .Add("failed", report->failed)
        .Print(global.format);
    std::fflush(stdout);
    if (report->failed > 0) {
      still_failing += report->failed;
      failing += failing.empty() ? name : ", " + name;
    }
  }
  if (still_failing > 0) {
    return Fail(
        Failure{kExitError,
                fmt::format("{} parked event{} of {} still fail{} (`cairn projection parked` shows the errors)",
                            still_failing, still_failing == 1 ? "" : "s", failing, still_failing == 1 ? "s" : ""),
                "parked"});
  }
  return {};
}

}  // namespace cairn::cli
