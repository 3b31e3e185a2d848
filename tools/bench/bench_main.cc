// cairn_bench — cairn's SQLite backend side by side with hand-written SQLite.
//
//   cairn_bench                 full run (about a minute and a half), table on stdout
//   cairn_bench --quick         a short smoke run; numbers are only indicative
//   cairn_bench --json          the same results as JSON (for the README)
//   cairn_bench --dir /mnt/ssd  put the database files there (in a fresh subdirectory)
//   cairn_bench --backends lmdb issue 3: cairn-lmdb, cairn-sqlite and raw LMDB side by side
//                               (raw_lmdb_subject.cc says what the raw LMDB baseline does)
//   cairn_bench --snapshots     aggregate loads through cairn::Repository, with and without
//                               snapshots, on both backends (snapshot_scenarios.h)
//   cairn_bench --bridge --kafka HOST:PORT
//                               the Kafka relay's publish rate (idempotent, exactly-once) beside
//   cairn_bench --since         replay --since: time to the first event in a 1,000,000-event log,
//                               and the cost of JSON Schema validation on appends (since_scenarios.h)
//                               librdkafka's own, and its commit-to-consumer latency (bridge_scenarios.h)
//   cairn_bench --projections   read-model rebuilds (SQL and C++ projections, raw SQLite) and the
//                               live lag of a projection, on both backends (projection_scenarios.h)
//   cairn_bench --upcast        replay of the log as stored and through a two-step upcaster chain,
//                               on both backends (upcast_scenarios.h)
//   cairn_bench --floor         1000-event transactions by hand on schemas from the raw baseline's
//                               to cairn's, then through cairn (floor_scenarios.h)
//
// Progress goes to stderr. Both subjects run in the same process, one after the
// other for each scenario, on files in the same directory, so they share the
// machine, the disk and the SQLite library. What the raw baseline does and does
// not do is written at the top of raw_sqlite_subject.cc.
#include <lmdb.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bridge_scenarios.h"
#include "measure.h"
#include "projection_scenarios.h"
#include "report.h"
#include "floor_scenarios.h"
#include "since_scenarios.h"
#include "snapshot_scenarios.h"
#include "subject.h"
#include "upcast_scenarios.h"

namespace cairn::bench {
namespace {

constexpr std::string_view kUsage =
    R"(usage: cairn_bench [--quick] [--json] [--dir PATH] [--seconds S] [--filter TEXT] [--keep]
                   [--backends sqlite|lmdb] [--history N] [--snapshots] [--projections] [--upcast] [--since]
                   [--floor] [--bridge --kafka HOST:PORT]
  --quick        short smoke run (0.1 s warm-up, 0.5 s window, smaller read log)
  --json         print results as JSON instead of a table
  --dir PATH     create the scratch directory under PATH (default /tmp); it is removed afterwards
  --seconds S    length of each measuring window (default 3)
  --filter TEXT  run only scenarios whose key contains TEXT (e.g. append_t64, read_, scan)
  --keep         keep the database files
  --backends B   sqlite (default): cairn's SQLite backend against raw SQLite;
                 lmdb: cairn's LMDB backend, its SQLite backend and raw LMDB side by side
                 (1 and 64 threads of 1-event appends, 1000-event appends, one 1000-event
                 stream read, full log scan) with the LMDB targets of issue 3
  --history N    --backends lmdb: events in the read fixture's history; --projections: events in
                 the store (default 1,000,000; 100,000 with --quick), over min(N, 10,000) streams
  --snapshots    aggregate loads through cairn::Repository on SQLite and LMDB: 10, 1,000 and
                 100,000 events, without snapshots and with them (every 100 events, keep 3;
                 100,000 events with the head on a snapshot, then 50 and 99 events past it),
                 against the target load(100,000 with snapshots) <= 3 x load(10);
                 --filter keys: load_10, load_1k, load_1k_snap, load_100k, load_100k_head,
                 load_100k_tail50, load_100k_tail99 (~55 s; ~12 s with --quick)
  --projections  a read model of one row per stream, one upsert per event, rebuilt from the log
                 (--history events: 1,000,000; 100,000 with --quick) as a SQL projection, as a C++
                 projection and as hand-written SQLite, then the live lag of the SQL projection while
                 one thread appends 10,000 events/s (--seconds S: its length; 10 s, 3 s with --quick);
                 --backends sqlite, lmdb or sqlite,lmdb (the default: both); --filter keys: scan,
                 scan_json, raw_normal, raw_full, rebuild_sql, rebuild_cpp, live_lag
  --since        a store of --history events (1,000,000; 100,000 with --quick) in 1,000-event appends:
                 the time to the first event of `replay --since T` (PositionAtOrAfter + the first
                 read) for 200 times spread over the log, with and without opening the store, and
                 from the middle beside a scan from position 1 (target < 50 ms); then 100-event
                 appends for --seconds without and with a JSON Schema for their type; --backends
                 sqlite, lmdb or sqlite,lmdb (the default: both)
  --bridge       the Kafka relay against the broker at --kafka (tools/kafka/kafka.sh start DIR gives
                 one): --history events (500,000; 50,000 with --quick) of 300 bytes published by
                 librdkafka's idempotent producer alone (the same envelopes, made beforehand), by the
                 relay in idempotent mode and in exactly-once mode, each to a new 6-partition topic
                 and counted back; then commit-to-consumer latency while one thread appends 10,000
                 events/s (--seconds S: 10 s, 3 s with --quick)
  --kafka H:P    the broker's bootstrap address, for --bridge
  --upcast       replay of the whole log (--history events stored as order.placed.v1: 1,000,000;
                 100,000 with --quick) as stored and through a two-step declarative upcaster chain
                 (v1->v2->v3); the consumer only counts events, reads each event's data once, or
                 parses it as JSON; 3 rounds (1 with --quick); --backends sqlite, lmdb or sqlite,lmdb
                 (the default: both); against the target upcast replay >= 0.5 x plain replay
  --floor        what cairn's SQLite schema costs before any cairn code runs: 1000-event transactions
                 written by hand on the raw baseline's table, then with the audit columns, the event-id
                 index, the category index and streams row (cairn's tables), the BLAKE2b chain, and
                 finally through EventStore::Append; 3 interleaved rounds of --seconds each (1 with
                 --quick), medians (~60 s)
)";


constexpr std::uint64_t kReadStreamEvents = 1000;

struct Flags {
  bool json = false;
  bool quick = false;
  bool keep = false;
  std::string dir = "/tmp";
  std::optional<double> seconds;
  std::string filter;
  std::string backends = "sqlite";
  bool backends_given = false;
  std::optional<std::uint64_t> history;
  bool snapshots = false;
  bool projections = false;
  bool bridge = false;
  std::string kafka;
  bool upcast = false;
  bool since = false;
  bool floor = false;
};

// Returns nullopt (after printing why) when the command line is not usable.
std::optional<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 < argc) return std::string(argv[++i]);
      fmt::print(stderr, "cairn_bench: {} needs a value\n{}", arg, kUsage);
      return std::nullopt;
    };
    if (arg == "--json") {
      flags.json = true;
    } else if (arg == "--quick") {
      flags.quick = true;
    } else if (arg == "--keep") {
      flags.keep = true;
    } else if (arg == "--snapshots") {
      flags.snapshots = true;
    } else if (arg == "--projections") {
      flags.projections = true;
    } else if (arg == "--bridge") {
      flags.bridge = true;
    } else if (arg == "--kafka") {
      std::optional<std::string> v = value();
      if (!v) return std::nullopt;
      flags.kafka = *v;
    } else if (arg == "--upcast") {
      flags.upcast = true;
    } else if (arg == "--since") {
      flags.since = true;
    } else if (arg == "--floor") {
      flags.floor = true;
    } else if (arg == "--backends" || arg == "--history") {
      std::optional<std::string> v = value();
      if (!v) return std::nullopt;
      if (arg == "--backends") {
        if (*v != "sqlite" && *v != "lmdb" && *v != "sqlite,lmdb" && *v != "lmdb,sqlite") {
          fmt::print(stderr, "cairn_bench: --backends is sqlite, lmdb or (--projections) sqlite,lmdb, not '{}'\n",
                     *v);
          return std::nullopt;
        }
        flags.backends = *v;
        flags.backends_given = true;
      } else {
        char* end = nullptr;
        const unsigned long long history = std::strtoull(v->c_str(), &end, 10);
        if (end == v->c_str() || *end != '\0' || history == 0 || v->starts_with('-')) {
          fmt::print(stderr, "cairn_bench: --history needs a positive number of events, not '{}'\n", *v);
          return std::nullopt;
        }
        flags.history = history;
      }
    } else if (arg == "--dir" || arg == "--filter" || arg == "--seconds") {
      std::optional<std::string> v = value();
      if (!v) return std::nullopt;
      if (arg == "--dir") flags.dir = *v;
      if (arg == "--filter") flags.filter = *v;
      if (arg == "--seconds") {
        char* end = nullptr;
        const double seconds = std::strtod(v->c_str(), &end);
        if (end == v->c_str() || *end != '\0' || !(seconds > 0)) {
          fmt::print(stderr, "cairn_bench: --seconds needs a positive number, not '{}'\n", *v);
          return std::nullopt;
        }
        flags.seconds = seconds;
      }
    } else if (arg == "--help" || arg == "-h") {
      fmt::print(stdout, "{}", kUsage);
      std::exit(0);
    } else {
      fmt::print(stderr, "cairn_bench: unknown argument '{}'\n{}", arg, kUsage);
      return std::nullopt;
    }
  }
  if (flags.bridge && flags.kafka.empty()) {
    fmt::print(stderr, "cairn_bench: --bridge needs --kafka HOST:PORT (tools/kafka/kafka.sh start DIR starts a broker)\n");
    return std::nullopt;
  }
  if (int{flags.snapshots} + int{flags.projections} + int{flags.upcast} + int{flags.bridge} + int{flags.since} +
          int{flags.floor} >
      1) {
    fmt::print(stderr, "cairn_bench: --snapshots, --projections, --upcast, --since, --floor and --bridge are separate runs\n");
    return std::nullopt;
  }
  if (!flags.projections && !flags.upcast && !flags.since && flags.backends.find(',') != std::string::npos) {
    fmt::print(stderr, "cairn_bench: --backends {} only goes with --projections or --upcast\n", flags.backends);
    return std::nullopt;
  }
  return flags;
}

// A fresh directory for the run's databases, removed (unless kept) on every
// way out of main.
class ScratchDir {
 public:
  static std::optional<ScratchDir> Create(const std::string& parent, bool keep) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    std::string pattern = (std::filesystem::path(parent) / "cairn-bench-XXXXXX").string();
    if (ec || ::mkdtemp(pattern.data()) == nullptr) {
      fmt::print(stderr, "cairn_bench: cannot create a directory under {}\n", parent);
      return std::nullopt;
    }
    return ScratchDir(std::move(pattern), keep);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)), keep_(other.keep_) {
    other.path_.clear();
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    if (keep_) {
      fmt::print(stderr, "cairn_bench: kept {}\n", path_);
      return;
    }
    std::error_code ignored;  // a leftover scratch directory is not worth failing over
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  ScratchDir(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  std::string path_;
  bool keep_;
};

// The type of the filesystem holding `path`, from the longest matching mount
// point. Reported because on a tmpfs fsync costs nothing and durable numbers
// would mean nothing.
std::string FilesystemOf(const std::string& path) {
  std::error_code ec;
  const std::string target = std::filesystem::canonical(path, ec).string();
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  std::string best_mount;
  std::string best_type = "unknown";
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, mount_point, type;
    if (!(fields >> device >> mount_point >> type)) continue;
    const bool contains = target == mount_point ||
                          (target.starts_with(mount_point) &&
                           (mount_point == "/" || target[mount_point.size()] == '/'));
    if (contains && mount_point.size() >= best_mount.size()) {
      best_mount = mount_point;
      best_type = type;
    }
  }
  return best_type;
}

// Measures how much CPU other processes used while the benchmark ran: the
// machine's busy time (/proc/stat) minus this process's own (getrusage).
class OthersCpuMeter {
 public:
  OthersCpuMeter() : machine_busy_(MachineBusySeconds()), self_(SelfSeconds()), start_(Clock::now()) {}

  // CPUs used on average by everything else since construction; 0 when /proc/stat is unreadable.
  double OthersCpus() const {
    const double wall = std::chrono::duration<double>(Clock::now() - start_).count();
    const double others = (MachineBusySeconds() - machine_busy_) - (SelfSeconds() - self_);
    return wall > 0 ? std::max(0.0, others / wall) : 0;
  }

 private:
  using Clock = std::chrono::steady_clock;

  // user + nice + system + irq + softirq + steal, summed over all CPUs.
  static double MachineBusySeconds() {
    std::ifstream stat("/proc/stat");
    std::string cpu;
    std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") {
      return 0;
    }
    const std::uint64_t busy_ticks = user + nice + system + irq + softirq + steal;
    return static_cast<double>(busy_ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

  static double SelfSeconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) {
      return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
  }

  double machine_busy_;
  double self_;
  Clock::time_point start_;
};

// The two subjects of one group of scenarios, on their own files.
struct Subjects {
  std::unique_ptr<Subject> cairn;
  std::unique_ptr<Subject> raw;
};

std::optional<Subjects> OpenSubjects(const ScratchDir& dir, std::string_view group, Durability durability) {
  Result<std::unique_ptr<Subject>> cairn = OpenCairnSubject(dir.File(fmt::format("cairn-{}.db", group)), durability);
  if (!cairn) {
    fmt::print(stderr, "cairn_bench: opening cairn: {}\n", cairn.error().ToString());
    return std::nullopt;
  }
  Result<std::unique_ptr<Subject>> raw = OpenRawSqliteSubject(dir.File(fmt::format("raw-{}.db", group)), durability);
  if (!raw) {
    fmt::print(stderr, "cairn_bench: opening raw sqlite: {}\n", raw.error().ToString());
    return std::nullopt;
  }
  return Subjects{std::move(*cairn), std::move(*raw)};
}

using MeasureFn = std::function<Result<Measurement>(Subject&)>;

// Measures one scenario on cairn, then on raw SQLite, reporting progress.
std::optional<ScenarioResult> RunScenario(Subjects& subjects, std::string key, std::string title,
                                          ScenarioKind kind, const MeasureFn& measure) {
  ScenarioResult result;
  result.key = std::move(key);
  result.title = std::move(title);
  result.kind = kind;
  for (auto [subject, out] :
       {std::pair{subjects.cairn.get(), &result.cairn}, std::pair{subjects.raw.get(), &result.raw}}) {
    fmt::print(stderr, "  {:<40} {:<5} ", result.title, subject->name());
    std::fflush(stderr);
    Result<Measurement> m = measure(*subject);
    if (!m) {
      fmt::print(stderr, "failed: {}\n", m.error().ToString());
      return std::nullopt;
    }
    *out = std::move(*m);
    fmt::print(stderr, "{:>12.0f} events/s{}\n", out->events_per_s,
               out->failures ? fmt::format("  ({} failures)", out->failures) : "");
  }
  return result;
}

bool Selected(const Flags& flags, std::string_view key) {
  return flags.filter.empty() || key.find(flags.filter) != std::string_view::npos;
}

struct AppendScenario {
  int threads;
  std::size_t batch_size;
};

// Scenarios 1-3 of the issue: durable appends, every measured write at kFull.
bool RunAppendScenarios(const Flags& flags, const ScratchDir& dir, const Window& window,
                        std::vector<ScenarioResult>& results) {
  constexpr AppendScenario kScenarios[] = {{1, 1}, {4, 1}, {16, 1}, {64, 1}, {1, 100}, {1, 1000}};
  std::optional<Subjects> subjects;
  for (const AppendScenario& s : kScenarios) {
    const std::string key = fmt::format("append_t{}_b{}", s.threads, s.batch_size);
    if (!Selected(flags, key)) continue;
    if (!subjects && !(subjects = OpenSubjects(dir, "append", Durability::kFull))) return false;
    const std::string title = fmt::format("{} thread{}, {}-event appends", s.threads, s.threads == 1 ? "" : "s",
                                          s.batch_size);
    std::optional<ScenarioResult> result =
        RunScenario(*subjects, key, title, ScenarioKind::kAppend, [&](Subject& subject) {
          return MeasureAppends(subject, key, s.threads, s.batch_size, window);
        });
    if (!result) return false;
    results.push_back(std::move(*result));
  }
  return true;
}

// Scenarios 4-5: reads of a log written beforehand. Its layout, not its
// durability, matters to reads, so it is written with kRelaxed to save time.
bool RunReadScenarios(const Flags& flags, const ScratchDir& dir, const Window& window, std::size_t filler_batch,
                      std::vector<ScenarioResult>& results) {
  const std::string contiguous_key = "read_stream_contiguous";
  const std::string interleaved_key = "read_stream_interleaved";
  const std::string scan_key = "scan_log";
  if (!Selected(flags, contiguous_key) && !Selected(flags, interleaved_key) && !Selected(flags, scan_key)) {
    return true;
  }
  std::optional<Subjects> subjects = OpenSubjects(dir, "read", Durability::kRelaxed);
  if (!subjects) return false;
  ReadFixture fixture;
  for (Subject* subject : {subjects->cairn.get(), subjects->raw.get()}) {
    fmt::print(stderr, "  writing the read fixture ({} events) on {}\n",
               kReadStreamEvents * (filler_batch + 2), subject->name());
    Result<ReadFixture> built = BuildReadFixture(*subject, kReadStreamEvents, filler_batch);
    if (!built) {
      fmt::print(stderr, "cairn_bench: read fixture on {}: {}\n", subject->name(), built.error().ToString());
      return false;
    }
    fixture = std::move(*built);
  }
  struct StreamRead {
    const std::string& key;
    const std::string& stream;
    const char* layout;
  };
  for (const StreamRead& read : {StreamRead{contiguous_key, fixture.contiguous_stream, "contiguous"},
                                 StreamRead{interleaved_key, fixture.interleaved_stream, "interleaved"}}) {
    if (!Selected(flags, read.key)) continue;
    std::optional<ScenarioResult> result = RunScenario(
        *subjects, read.key, fmt::format("read {}-event stream ({})", fixture.stream_events, read.layout),
        ScenarioKind::kStreamRead,
        [&](Subject& subject) { return MeasureStreamReads(subject, read.stream, fixture.stream_events, window); });
    if (!result) return false;
    results.push_back(std::move(*result));
  }
  if (Selected(flags, scan_key)) {
    std::optional<ScenarioResult> result =
        RunScenario(*subjects, scan_key, "scan the global log", ScenarioKind::kLogScan,
                    [&](Subject& subject) { return MeasureLogScans(subject, fixture.log_events, window); });
    if (!result) return false;
    results.push_back(std::move(*result));
  }
  return true;
}

// ---- --backends lmdb: issue 3's comparison ----------------------------------

// The three subjects of one group of LMDB-comparison scenarios, on their own files.
struct LmdbSubjects {
  std::unique_ptr<Subject> cairn_lmdb;
  std::unique_ptr<Subject> cairn_sqlite;
  std::unique_ptr<Subject> raw_lmdb;
};

std::optional<LmdbSubjects> OpenLmdbSubjects(const ScratchDir& dir, std::string_view group, Durability durability) {
  Result<std::unique_ptr<Subject>> cairn_lmdb = OpenCairnSubject(
      dir.File(fmt::format("cairn-lmdb-{}.mdb", group)), durability, BackendKind::kLmdb, "cairn-lmdb");
  Result<std::unique_ptr<Subject>> cairn_sqlite = OpenCairnSubject(
      dir.File(fmt::format("cairn-sqlite-{}.db", group)), durability, BackendKind::kSqlite, "cairn-sqlite");
  Result<std::unique_ptr<Subject>> raw_lmdb =
      OpenRawLmdbSubject(dir.File(fmt::format("raw-lmdb-{}.mdb", group)), durability);
  for (auto [name, made] : {std::pair{"cairn-lmdb", &cairn_lmdb}, std::pair{"cairn-sqlite", &cairn_sqlite},
                            std::pair{"raw-lmdb", &raw_lmdb}}) {
    if (!*made) {
      fmt::print(stderr, "cairn_bench: opening {}: {}\n", name, made->error().ToString());
      return std::nullopt;
    }
  }
  return LmdbSubjects{std::move(*cairn_lmdb), std::move(*cairn_sqlite), std::move(*raw_lmdb)};
}

// Measures one scenario on cairn-lmdb, cairn-sqlite, then raw-lmdb.
std::optional<LmdbScenarioResult> RunLmdbScenario(LmdbSubjects& subjects, std::string key, std::string title,
                                                  ScenarioKind kind, const MeasureFn& measure) {
  LmdbScenarioResult result;
  result.key = std::move(key);
  result.title = std::move(title);
  result.kind = kind;
  for (auto [subject, out] : {std::pair{subjects.cairn_lmdb.get(), &result.cairn_lmdb},
                              std::pair{subjects.cairn_sqlite.get(), &result.cairn_sqlite},
                              std::pair{subjects.raw_lmdb.get(), &result.raw_lmdb}}) {
    fmt::print(stderr, "  {:<34} {:<12} ", result.title, subject->name());
    std::fflush(stderr);
    Result<Measurement> m = measure(*subject);
    if (!m) {
      fmt::print(stderr, "failed: {}\n", m.error().ToString());
      return std::nullopt;
    }
    *out = std::move(*m);
    fmt::print(stderr, "{:>12.0f} events/s  {:.3f} ms/op{}\n", out->events_per_s, out->mean_ms,
               out->failures ? fmt::format("  ({} failures)", out->failures) : "");
  }
  return result;
}

// The LMDB comparison's read fixture: `history` events over min(history, 10,000)
// streams "h-<i>", each stream written in one append of history/streams events
// (100 for the default 1,000,000), then the read stream in one 1,000-event
// append. The history is written by kHistoryThreads threads at once (thread t
// owns the streams i with i % kHistoryThreads == t), so that cairn's group
// commit packs many appends into each transaction: 1,000,000 events take a few
// hundred commits instead of 10,000 (raw LMDB, with no group commit, still
// commits each append: its threads queue on the writer mutex). Written at
// kRelaxed: reads care about layout, not durability. Every append is still
// contiguous in the log; appends of different streams interleave.
constexpr int kHistoryThreads = 16;

struct History {
  std::uint64_t streams = 0;
  std::uint64_t per_stream = 0;
  std::string read_stream = "reader-1000";
  std::uint64_t log_events = 0;
};

History PlanHistory(std::uint64_t history) {
  History plan;
  plan.streams = std::min<std::uint64_t>(history, 10'000);
  plan.per_stream = history / plan.streams;
  plan.log_events = plan.streams * plan.per_stream + kReadStreamEvents;
  return plan;
}

Status BuildHistory(Subject& subject, const History& plan) {
  std::vector<std::unique_ptr<Appender>> appenders;
  for (int t = 0; t < kHistoryThreads; ++t) {
    Result<std::unique_ptr<Appender>> made = subject.NewAppender(plan.per_stream);
    if (!made) return std::unexpected(std::move(made.error()));
    appenders.push_back(std::move(*made));
  }
  std::vector<Status> statuses(kHistoryThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kHistoryThreads; ++t) {
      threads.emplace_back([&, t] {
        const auto ut = static_cast<std::uint64_t>(t);
        for (std::uint64_t i = ut; i < plan.streams; i += kHistoryThreads) {
          statuses[ut] = appenders[ut]->Append(fmt::format("h-{}", i));
          if (!statuses[ut]) return;
        }
      });
    }
  }
  for (Status& s : statuses) {
    if (!s) return s;
  }
  Result<std::unique_ptr<Appender>> whole = subject.NewAppender(kReadStreamEvents);
  if (!whole) return std::unexpected(std::move(whole.error()));
  if (Status s = (*whole)->Append(plan.read_stream); !s) return s;
  Result<std::uint64_t> count = subject.CountEvents();
  if (!count) return std::unexpected(std::move(count.error()));
  if (*count != plan.log_events) {
    return Fail(ErrorCode::kCorruption, fmt::format("{}: the history holds {} events, expected {}", subject.name(),
                                                    *count, plan.log_events));
  }
  return {};
}

bool RunLmdbComparison(const Flags& flags, const ScratchDir& dir, const Window& window, const History& plan,
                       std::vector<LmdbScenarioResult>& results) {
  constexpr AppendScenario kAppends[] = {{1, 1}, {64, 1}, {1, 1000}};
  std::optional<LmdbSubjects> writers;
  for (const AppendScenario& s : kAppends) {
    const std::string key = fmt::format("append_t{}_b{}", s.threads, s.batch_size);
    if (!Selected(flags, key)) continue;
    if (!writers && !(writers = OpenLmdbSubjects(dir, "append", Durability::kFull))) return false;
    const std::string title = fmt::format("{} thread{}, {}-event appends", s.threads, s.threads == 1 ? "" : "s",
                                          s.batch_size);
    std::optional<LmdbScenarioResult> result =
        RunLmdbScenario(*writers, key, title, ScenarioKind::kAppend, [&](Subject& subject) {
          return MeasureAppends(subject, key, s.threads, s.batch_size, window);
        });
    if (!result) return false;
    results.push_back(std::move(*result));
  }
  writers.reset();

  const std::string stream_key = "read_stream";
  const std::string scan_key = "scan_log";
  if (!Selected(flags, stream_key) && !Selected(flags, scan_key)) return true;
  std::optional<LmdbSubjects> readers = OpenLmdbSubjects(dir, "read", Durability::kRelaxed);
  if (!readers) return false;
  for (Subject* subject : {readers->cairn_lmdb.get(), readers->cairn_sqlite.get(), readers->raw_lmdb.get()}) {
    fmt::print(stderr, "  writing the history ({} events, {} streams of {} + one of {}) on {}", plan.log_events,
               plan.streams, plan.per_stream, kReadStreamEvents, subject->name());
    std::fflush(stderr);
    const auto started = std::chrono::steady_clock::now();
    if (Status built = BuildHistory(*subject, plan); !built) {
      fmt::print(stderr, "\ncairn_bench: history on {}: {}\n", subject->name(), built.error().ToString());
      return false;
    }
    fmt::print(stderr, ": {:.1f} s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  if (Selected(flags, stream_key)) {
    std::optional<LmdbScenarioResult> result = RunLmdbScenario(
        *readers, stream_key, fmt::format("read one {}-event stream", kReadStreamEvents), ScenarioKind::kStreamRead,
        [&](Subject& subject) { return MeasureStreamReads(subject, plan.read_stream, kReadStreamEvents, window); });
    if (!result) return false;
    results.push_back(std::move(*result));
  }
  if (Selected(flags, scan_key)) {
    std::optional<LmdbScenarioResult> result =
        RunLmdbScenario(*readers, scan_key, "scan the global log", ScenarioKind::kLogScan,
                        [&](Subject& subject) { return MeasureLogScans(subject, plan.log_events, window); });
    if (!result) return false;
    results.push_back(std::move(*result));
  }
  return true;
}

// --backends of the runs that take several: both by default; a backend named
// alone runs alone; "sqlite,lmdb" keeps the order given.
std::vector<BackendKind> BackendsOf(const Flags& flags) {
  const std::string backends = flags.backends_given ? flags.backends : "sqlite,lmdb";
  std::vector<BackendKind> kinds;
  for (std::size_t at = 0; at < backends.size();) {
    const std::size_t comma = std::min(backends.find(',', at), backends.size());
    kinds.push_back(backends.substr(at, comma - at) == "lmdb" ? BackendKind::kLmdb : BackendKind::kSqlite);
    at = comma + 1;
  }
  return kinds;
}

int Main(int argc, char** argv) {
  std::optional<Flags> flags = ParseFlags(argc, argv);
  if (!flags) return 2;
  std::optional<ScratchDir> dir = ScratchDir::Create(flags->dir, flags->keep);
  if (!dir) return 1;

  const Window window{.warmup = std::chrono::duration<double>(flags->quick ? 0.1 : 0.5),
                      .measure = std::chrono::duration<double>(flags->seconds.value_or(flags->quick ? 0.5 : 3.0))};
  // Quick runs read a 21,000-event log instead of 201,000.
  const std::size_t filler_batch = flags->quick ? 19 : 199;
  const OthersCpuMeter others_cpu;
  RunInfo info{.sqlite_version = sqlite3_libversion(),
                     .cpus = std::thread::hardware_concurrency(),
                     .dir = dir->path(),
                     .filesystem = FilesystemOf(dir->path()),
                     .quick = flags->quick,
                     .warmup_s = window.warmup.count(),
                     .window_s = window.measure.count(),
                     .read_log_events = kReadStreamEvents * (filler_batch + 2),
                     .read_stream_events = kReadStreamEvents};
  fmt::print(stderr, "cairn_bench: databases in {} ({})\n", info.dir, info.filesystem);
  if (info.filesystem == "tmpfs" || info.filesystem == "ramfs") {
    fmt::print(stderr, "cairn_bench: warning: {} ignores fsync; durable-append numbers are meaningless here\n",
               info.filesystem);
  }

  if (flags->snapshots) {
    info.lmdb_version = mdb_version(nullptr, nullptr, nullptr);
    std::vector<SnapshotLoadResult> results;
    const SnapshotRunOptions options{
        .dir = dir->path(),
        .window = window,
        .filter = flags->filter,
        .progress = [](std::string_view line) { fmt::print(stderr, "{}\n", line); }};
    if (Status run = RunSnapshotScenarios(options, results); !run) {
      fmt::print(stderr, "cairn_bench: {}\n", run.error().ToString());
      return 1;
    }
    info.others_cpus = others_cpu.OthersCpus();
    const std::vector<TargetCheck> targets = CheckSnapshotTargets(results);
    if (flags->json) {
      PrintSnapshotJson(stdout, info, results, targets);
    } else {
      PrintSnapshotTable(stdout, info, results, targets);
    }
    return 0;
  }

  if (flags->bridge) {
    BridgeRunOptions options{
        .dir = dir->path(),
        .bootstrap = flags->kafka,
        .events = flags->history.value_or(flags->quick ? 50'000 : 500'000),
        .live_seconds = std::chrono::duration<double>(flags->seconds.value_or(flags->quick ? 3.0 : 10.0)),
        .progress = [](std::string_view line) { fmt::print(stderr, "{}\n", line); }};
    BridgeResult result;
    if (Status run = RunBridgeScenarios(options, result); !run) {
      fmt::print(stderr, "cairn_bench: {}\n", run.error().ToString());
      return 1;
    }
    info.others_cpus = others_cpu.OthersCpus();
    if (flags->json) {
      PrintBridgeJson(stdout, info, options, result);
    } else {
      PrintBridgeTable(stdout, info, options, result);
    }
    return 0;
  }

  if (flags->upcast) {
    UpcastRunOptions options{.dir = dir->path(),
                             .backends = {},
                             .events = flags->history.value_or(flags->quick ? 100'000 : 1'000'000),
                             .rounds = flags->quick ? 1 : 3,
                             .progress = [](std::string_view line) { fmt::print(stderr, "{}\n", line); }};
    options.backends = BackendsOf(*flags);
    std::vector<UpcastBackendResult> results;
    if (Status run = RunUpcastScenarios(options, results); !run) {
      fmt::print(stderr, "cairn_bench: {}\n", run.error().ToString());
      return 1;
    }
    if (flags->json) {
      PrintUpcastJson(stdout, results, others_cpu.OthersCpus());
    } else {
      PrintUpcastTable(stdout, results, others_cpu.OthersCpus());
    }
    return 0;
  }

  if (flags->floor) {
    FloorRunOptions options{.dir = dir->path(),
                            .seconds = flags->seconds.value_or(flags->quick ? 0.5 : 3.0),
                            .rounds = flags->quick ? 1 : 3,
                            .progress = [](std::string_view line) { fmt::print(stderr, "{}\n", line); }};
    FloorResult result;
    if (Status run = RunFloorScenarios(options, result); !run) {
      fmt::print(stderr, "cairn_bench: {}\n", run.error().ToString());
      return 1;
    }
    PrintFloorTable(stdout, result);
    return 0;
  }

  if (flags->since) {
    SinceRunOptions options{.dir = dir->path(),
                            .backends = {},
                            .events = flags->history.value_or(flags->quick ? 100'000 : 1'000'000),
                            .window = window,
                            .progress = [](std::string_view line) { fmt::print(stderr, "{}\n", line); }};
    options.backends = BackendsOf(*flags);
    std::vector<SinceBackendResult> results;
    if (Status run = RunSinceScenarios(options, results); !run) {
      fmt::print(stderr, "cairn_bench: {}\n", run.error().ToString());
      return 1;
    }
    if (flags->json) {
      PrintSinceJson(stdout, results);
    } else {
      PrintSinceTable(stdout, results);
    }
    return 0;
  }

  if (flags->projections) {
    info.lmdb_version = mdb_version(nullptr, nullptr, nullptr);
    ProjectionRunOptions options{
        .dir = dir->path(),
        .backends = {},
        .events = flags->history.value_or(flags->quick ? 100'000 : 1'000'000),
        .live_seconds = std::chrono::duration<double>(flags->seconds.value_or(flags->quick ? 3.0 : 10.0)),
        .rounds = flags->quick ? 1 : 3,
        .filter = flags->filter,
        .progress = [](std::string_view line) { fmt::print(stderr, "{}\n", line); }};
    options.backends = BackendsOf(*flags);
    const std::uint64_t streams = std::min<std::uint64_t>(options.events, kProjectionStreams);
    info.projection_events = streams * (options.events / streams);  // what the stores will hold
    info.live_seconds = options.live_seconds.count();
    info.rounds = options.rounds;
    std::vector<ProjectionBackendResult> results;
    if (Status run = RunProjectionScenarios(options, results); !run) {
      fmt::print(stderr, "cairn_bench: {}\n", run.error().ToString());
      return 1;
    }
    info.others_cpus = others_cpu.OthersCpus();
    const std::vector<TargetCheck> targets = CheckProjectionTargets(results);
    if (flags->json) {
      PrintProjectionJson(stdout, info, results, targets);
    } else {
      PrintProjectionTable(stdout, info, results, targets);
    }
    return 0;
  }

  if (flags->backends == "lmdb") {
    const History plan = PlanHistory(flags->history.value_or(flags->quick ? 100'000 : 1'000'000));
    info.lmdb_version = mdb_version(nullptr, nullptr, nullptr);
    info.read_log_events = plan.log_events;
    info.read_log_streams = plan.streams + 1;
    std::vector<LmdbScenarioResult> results;
    if (!RunLmdbComparison(*flags, *dir, window, plan, results)) return 1;
    info.others_cpus = others_cpu.OthersCpus();
    const std::vector<TargetCheck> targets = CheckLmdbTargets(results);
    if (flags->json) {
      PrintLmdbJson(stdout, info, results, targets);
    } else {
      PrintLmdbTable(stdout, info, results, targets);
    }
    return 0;
  }

  std::vector<ScenarioResult> results;
  if (!RunAppendScenarios(*flags, *dir, window, results)) return 1;
  if (!RunReadScenarios(*flags, *dir, window, filler_batch, results)) return 1;

  info.others_cpus = others_cpu.OthersCpus();
  const std::vector<TargetCheck> targets = CheckTargets(results);
  if (flags->json) {
    PrintJson(stdout, info, results, targets);
  } else {
    PrintTable(stdout, info, results, targets);
  }
  return 0;
}

}  // namespace
}  // namespace cairn::bench

int main(int argc, char** argv) { return cairn::bench::Main(argc, argv); }
