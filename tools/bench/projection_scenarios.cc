// cairn_bench --projections (see projection_scenarios.h).
//
// The raw-SQLite baseline (RawUpserts below) is what a developer would write
// by hand to fold the log into the same table without cairn's runner:
//   - it reads the same events from the same store with one EventStore::ReadLog
//     call, with the same category filter the runner's subscription uses;
//   - it extracts data.total_cents with the same RapidJSON parse (a fresh
//     Document per event, full precision) as the C++ projection, and binds it
//     and the stream name to one prepared upsert statement, the same SQL;
//   - it writes a new SQLite file in WAL mode, synchronous=NORMAL (the setting
//     of the shadow a cairn rebuild is written into) or FULL (the read model's),
//     default page and cache sizes like the runner's connections, committing
//     every 1,000 events (the runner's default max_batch_events).
// It does not: keep a checkpoint (nothing to resume from after a crash: an
// interrupted fold must start again, into a new file), wrap each event in a
// savepoint (a failing event cannot be retried, parked or skipped on its own),
// check that no other process is running it, match events against a filter
// and a handler table, build in a shadow and swap it into a live read model
// (readers of the old model would see it half-built), or report status.
#include "projection_scenarios.h"

#include <rapidjson/document.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numeric>
#include <span>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "cairn/projection.h"
#include "cairn/sql_projection.h"
#include "cairn/store.h"
#include "subject.h"

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr const char* kCategory = "order";
constexpr const char* kEventType = "order.placed.v1";  // every payload of MakePayloads
// The store is written by this many threads at once, so that the group commit
// packs many small appends into each transaction and the streams interleave.
constexpr int kSetupThreads = 16;

// The read model: one row per stream. The SQL projection below declares the
// same table and the same upsert with named parameters.
constexpr const char* kSchema =
    "CREATE TABLE order_totals (\n"
    "  stream      TEXT PRIMARY KEY,\n"
    "  events      INTEGER NOT NULL,\n"
    "  total_cents INTEGER NOT NULL\n"
    ");\n";
constexpr const char* kUpsert =
    "INSERT INTO order_totals (stream, events, total_cents) VALUES (?1, 1, ?2) "
    "ON CONFLICT (stream) DO UPDATE SET events = events + 1, total_cents = total_cents + excluded.total_cents";

constexpr std::string_view kSqlProjectionFile = R"toml(# order_totals: events and spend per order stream
[projection]
name = "order_totals"
version = 1
categories = ["order"]
on_failure = "stop"

[schema]
sql = '''
CREATE TABLE order_totals (
  stream      TEXT PRIMARY KEY,
  events      INTEGER NOT NULL,
  total_cents INTEGER NOT NULL
);
'''

[on."order.placed.v1"]
sql = '''
INSERT INTO order_totals (stream, events, total_cents) VALUES (:stream, 1, :total_cents)
ON CONFLICT (stream) DO UPDATE SET events = events + 1, total_cents = total_cents + excluded.total_cents
'''
params = { total_cents = "data.total_cents" }
)toml";

// data.total_cents, read as cairn's SQL projection reads it: RapidJSON, full
// precision, a fresh Document per event. nullopt when it is not an integer.
std::optional<std::int64_t> TotalCents(std::string_view data) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseFullPrecisionFlag>(data.data(), data.size());
  if (document.HasParseError() || !document.IsObject()) return std::nullopt;
  const auto member = document.FindMember("total_cents");
  if (member == document.MemberEnd() || !member->value.IsInt64()) return std::nullopt;
  return member->value.GetInt64();
}

// What a complete fold of the log holds.
struct Totals {
  std::uint64_t streams = 0;
  std::uint64_t events = 0;
  std::int64_t total_cents = 0;
  friend bool operator==(const Totals&, const Totals&) = default;
};

std::string Describe(const Totals& t) {
  return fmt::format("{} streams, {} events, total_cents {}", t.streams, t.events, t.total_cents);
}

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, SqliteCloser>;
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

std::unexpected<Error> SqliteFail(sqlite3* db, std::string_view what) {
  return Fail(ErrorCode::kIOError, fmt::format("{}: {}", what, db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

Result<Db> OpenDb(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return SqliteFail(db.get(), fmt::format("opening {}", path));
  return db;
}

Status Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return SqliteFail(db, sql);
  return {};
}

// The read model's table, summed: what any of the three ways wrote.
Result<Totals> ReadTotals(const std::string& path) {
  Result<Db> db = OpenDb(path, SQLITE_OPEN_READONLY);
  if (!db) return std::unexpected(std::move(db.error()));
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db->get(), "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(total_cents), 0) FROM order_totals",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return SqliteFail(db->get(), fmt::format("reading {}", path));
  }
  Stmt query(raw);
  if (sqlite3_step(query.get()) != SQLITE_ROW) return SqliteFail(db->get(), fmt::format("reading {}", path));
  return Totals{.streams = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 0)),
                .events = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 1)),
                .total_cents = sqlite3_column_int64(query.get(), 2)};
}

Status CheckTotals(const std::string& path, const Totals& expected, std::string_view what) {
  Result<Totals> got = ReadTotals(path);
  if (!got) return std::unexpected(std::move(got.error()));
  if (*got != expected) {
    return Fail(ErrorCode::kCorruption,
                fmt::format("{}: the read model holds {}; the log: {}", what, Describe(*got), Describe(expected)));
  }
  return {};
}

void RemoveDatabase(const std::string& path) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ignored);
}

// Appends of up to kProjectionAppendEvents events cycling through the 64
// payload variants, so that consecutive events differ; with each event's total.
struct SetupBatches {
  std::vector<std::vector<EventData>> batches;
  std::vector<std::vector<std::int64_t>> totals;  // data.total_cents of each event of each batch
};

Result<SetupBatches> MakeSetupBatches() {
  constexpr std::size_t kVariants = 64;
  const std::vector<Payload> payloads = MakePayloads(kVariants);
  // Every 320 events (lcm of 10 and 64) the sequence repeats.
  const std::size_t count = std::lcm(kVariants, kProjectionAppendEvents) / kProjectionAppendEvents;
  SetupBatches out;
  for (std::size_t b = 0; b < count; ++b) {
    std::vector<EventData>& batch = out.batches.emplace_back();
    std::vector<std::int64_t>& totals = out.totals.emplace_back();
    for (std::size_t i = 0; i < kProjectionAppendEvents; ++i) {
      const Payload& payload = payloads[(b * kProjectionAppendEvents + i) % kVariants];
      const std::optional<std::int64_t> total = TotalCents(payload.data);
      if (!total) return Fail(ErrorCode::kInvalidArgument, "a payload without data.total_cents: " + payload.data);
      batch.push_back(EventData{.type = payload.type, .data = payload.data, .metadata = payload.metadata});
      totals.push_back(*total);
    }
  }
  return out;
}

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

class BackendRun {
 public:
  BackendRun(const ProjectionRunOptions& options, BackendKind backend, ProjectionBackendResult& result)
      : options_(options), backend_(backend), result_(result) {}

  Status Run() {
    const bool lmdb = backend_ == BackendKind::kLmdb;
    result_.backend = BackendName();
    const std::string store_path = File(lmdb ? "store-lmdb.mdb" : "store-sqlite.db");
    result_.streams = std::min<std::uint64_t>(options_.events, kProjectionStreams);
    per_stream_ = options_.events / result_.streams;
    result_.events = result_.streams * per_stream_;

    // Written at kRelaxed (fast), then reopened at kFull for everything measured.
    {
      auto created = EventStore::Open(store_path, Options{.backend = backend_,
                                                          .create_if_missing = true,
                                                          .durability = Durability::kRelaxed,
                                                          .lmdb_initial_map_bytes = std::size_t{16} << 30});
      if (!created) return std::unexpected(created.error());
      const auto started = Clock::now();
      if (Status s = Build(**created); !s) return s;
      result_.setup_seconds = Seconds(Clock::now() - started).count();
      Progress(fmt::format("wrote {} events in {} streams \"order-N\" ({} per append, {} threads): {:.1f} s",
                           result_.events, result_.streams, kProjectionAppendEvents, kSetupThreads,
                           result_.setup_seconds));
    }
    // The setup's writes reach the disk now, not in the kernel's writeback during the measurements.
    ::sync();
    auto opened = EventStore::Open(store_path, Options{.backend = backend_, .durability = Durability::kFull});
    if (!opened) return std::unexpected(opened.error());
    EventStore& store = **opened;

    // A first read brings the log into the page cache for every row alike.
    if (Status s = Scan(store, "warm", "reading the log once (page cache)", /*json=*/false, /*record=*/false); !s) {
      return s;
    }
    // Every row once per round, rounds one after the other: a drift of the
    // machine (the page cache, the disk) touches every row alike.
    const std::string sql_model = File(fmt::format("model-{}-sql.db", BackendName()));
    for (int round = 1; round <= options_.rounds; ++round) {
      if (options_.rounds > 1) Progress(fmt::format("round {} of {}", round, options_.rounds));
      if (Selected("scan")) {
        if (Status s = Scan(store, "scan", "read the log only (ReadLog)", false, true); !s) return s;
      }
      if (Selected("scan_json")) {
        if (Status s = Scan(store, "scan_json", "read + JSON parse", true, true); !s) return s;
      }
      if (Selected("raw_normal")) {
        if (Status s = RawUpserts(store, "raw_normal", "raw SQLite, synchronous=NORMAL", "NORMAL"); !s) return s;
      }
      if (Selected("raw_full")) {
        if (Status s = RawUpserts(store, "raw_full", "raw SQLite, synchronous=FULL", "FULL"); !s) return s;
      }
      if (Selected("rebuild_sql")) {
        auto projection = SqlProjection();
        if (!projection) return std::unexpected(projection.error());
        if (Status s = Rebuild(store, "rebuild_sql", "SQL projection (RunToHead)", std::move(*projection), sql_model,
                               /*keep=*/true);
            !s) {
          return s;
        }
      }
      if (Selected("rebuild_cpp")) {
        if (Status s = Rebuild(store, "rebuild_cpp", "C++ projection (RunToHead)", CppProjection(),
                               File(fmt::format("model-{}-cpp.db", BackendName())), /*keep=*/false);
            !s) {
          return s;
        }
      }
    }
    // Against raw SQLite: the median of the rounds' ratios, each round's rows
    // divided by the same round's raw fold (the rounds drift together).
    auto median_ratio = [&](const std::vector<ThroughputRow>& runs, std::string_view base) -> std::optional<double> {
      auto found = std::find_if(rounds_.begin(), rounds_.end(), [&](const auto& r) { return r.first == base; });
      if (found == rounds_.end() || found->second.size() != runs.size()) return std::nullopt;
      std::vector<double> ratios;
      for (std::size_t i = 0; i < runs.size(); ++i) {
        if (found->second[i].events_per_s() <= 0) return std::nullopt;
        ratios.push_back(runs[i].events_per_s() / found->second[i].events_per_s());
      }
      std::sort(ratios.begin(), ratios.end());
      return ratios[(ratios.size() - 1) / 2];
    };
    std::vector<std::pair<std::optional<double>, std::optional<double>>> ratios;
    for (const auto& [key, runs] : rounds_) {
      ratios.emplace_back(median_ratio(runs, "raw_normal"), median_ratio(runs, "raw_full"));
    }
    // Each row: its median round, with the fastest and slowest rounds' events/s.
    std::size_t index = 0;
    for (auto& [key, runs] : rounds_) {
      std::sort(runs.begin(), runs.end(),
                [](const ThroughputRow& a, const ThroughputRow& b) { return a.seconds < b.seconds; });
      ThroughputRow row = runs[(runs.size() - 1) / 2];
      row.rounds = static_cast<std::uint32_t>(runs.size());
      row.max_events_per_s = runs.front().events_per_s();
      row.min_events_per_s = runs.back().events_per_s();
      std::tie(row.x_raw_normal, row.x_raw_full) = ratios[index++];
      result_.rows.push_back(std::move(row));
    }
    if (Selected("live_lag")) {
      if (!Selected("rebuild_sql")) {  // the live run follows from a read model at the head
        auto projection = SqlProjection();
        if (!projection) return std::unexpected(projection.error());
        if (Status s = Rebuild(store, "rebuild_sql", "SQL projection (RunToHead)", std::move(*projection), sql_model,
                               /*keep=*/true, /*record=*/false);
            !s) {
          return s;
        }
      }
      if (Status s = LiveLag(store, sql_model); !s) return s;
    }
    RemoveDatabase(sql_model);
    return {};
  }

 private:
  const char* BackendName() const { return backend_ == BackendKind::kLmdb ? "lmdb" : "sqlite"; }
  std::string File(std::string_view name) const { return (std::filesystem::path(options_.dir) / name).string(); }
  bool Selected(std::string_view key) const {
    return options_.filter.empty() || key.find(options_.filter) != std::string_view::npos;
  }
  void Progress(const std::string& line) const {
    if (options_.progress) options_.progress(fmt::format("  {:<7} {}", BackendName(), line));
  }
  void Report(ThroughputRow row) {
    Progress(fmt::format("{:<38} {:>10.0f} events/s  ({:.2f} s{})", row.title, row.events_per_s(), row.seconds,
                         row.swap_seconds ? fmt::format(", swap {:.3f} s", *row.swap_seconds) : ""));
    auto runs = std::find_if(rounds_.begin(), rounds_.end(), [&](const auto& r) { return r.first == row.key; });
    if (runs == rounds_.end()) runs = rounds_.insert(rounds_.end(), {row.key, {}});
    runs->second.push_back(std::move(row));
  }

  // The store: `streams` streams of `per_stream_` events, appended in rounds of
  // up to kProjectionAppendEvents per stream by kSetupThreads threads (thread t
  // owns the streams s with s % kSetupThreads == t).
  Status Build(EventStore& store) {
    auto made = MakeSetupBatches();
    if (!made) return std::unexpected(made.error());
    const SetupBatches& setup = *made;
    const std::uint64_t streams = result_.streams;
    const std::uint64_t per_stream = per_stream_;
    std::vector<Status> statuses(kSetupThreads);
    std::vector<std::int64_t> sums(kSetupThreads, 0);
    {
      std::vector<std::jthread> threads;
      for (int t = 0; t < kSetupThreads; ++t) {
        threads.emplace_back([&, t] {
          const auto ut = static_cast<std::size_t>(t);
          std::size_t next = ut;  // which batch of `setup` to append next
          for (std::uint64_t written = 0; written < per_stream; written += kProjectionAppendEvents) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kProjectionAppendEvents, per_stream - written));
            for (std::uint64_t s = ut; s < streams; s += kSetupThreads) {
              const std::size_t b = next++ % setup.batches.size();
              auto appended = store.Append(fmt::format("order-{}", s), ExpectedRevision::Any(),
                                           std::span<const EventData>(setup.batches[b].data(), n));
              if (!appended) {
                statuses[ut] = std::unexpected(appended.error());
                return;
              }
              for (std::size_t i = 0; i < n; ++i) sums[ut] += setup.totals[b][i];
            }
          }
        });
      }
    }
    for (Status& s : statuses) {
      if (!s) return s;
    }
    expected_ = Totals{.streams = streams, .events = streams * per_stream, .total_cents = 0};
    for (std::int64_t sum : sums) expected_.total_cents += sum;
    auto head = store.HeadPosition();
    if (!head) return std::unexpected(head.error());
    if (*head != expected_.events) {
      return Fail(ErrorCode::kCorruption, fmt::format("the store holds {} events, expected {}", *head, expected_.events));
    }
    return {};
  }

  // One ReadLog over the log with the runner's category filter; with `json`,
  // each event's data.total_cents is parsed as the C++ projection does.
  Status Scan(EventStore& store, std::string key, std::string title, bool json, bool record) {
    std::uint64_t events = 0;
    std::int64_t sum = 0;
    bool bad = false;
    const auto started = Clock::now();
    auto read = store.ReadLog(ReadLogOptions{.filter = {.category = kCategory}}, [&](const EventView& event) {
      ++events;
      if (json) {
        const std::optional<std::int64_t> total = TotalCents(event.data);
        if (!total) {
          bad = true;
          return false;
        }
        sum += *total;
      } else {
        sum += static_cast<std::int64_t>(event.data.size());  // touch the event
      }
      return true;
    });
    const double seconds = Seconds(Clock::now() - started).count();
    if (!read) return std::unexpected(read.error());
    if (bad || events != expected_.events || (json && sum != expected_.total_cents)) {
      return Fail(ErrorCode::kCorruption, fmt::format("{}: read {} events (total_cents {}), expected {}", key, events,
                                                      sum, Describe(expected_)));
    }
    if (!record) {
      Progress(fmt::format("{}: {:.2f} s", title, seconds));
      return {};
    }
    Report(ThroughputRow{.key = std::move(key), .title = std::move(title), .events = events, .seconds = seconds});
    return {};
  }

  // The hand-written fold; see the top of this file.
  Status RawUpserts(EventStore& store, std::string key, std::string title, const char* synchronous) {
    const std::string path = File(fmt::format("raw-{}-{}.db", BackendName(), key));
    RemoveDatabase(path);
    std::uint64_t commits = 0;
    const auto started = Clock::now();
    {
      Result<Db> db = OpenDb(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
      if (!db) return std::unexpected(std::move(db.error()));
      sqlite3* const conn = db->get();
      const std::string pragmas = fmt::format("PRAGMA journal_mode = WAL; PRAGMA synchronous = {};", synchronous);
      if (Status s = Exec(conn, pragmas.c_str()); !s) return s;
      if (Status s = Exec(conn, kSchema); !s) return s;
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v3(conn, kUpsert, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
        return SqliteFail(conn, "preparing the upsert");
      }
      Stmt upsert(raw);
      if (Status s = Exec(conn, "BEGIN IMMEDIATE"); !s) return s;
      std::size_t in_batch = 0;
      std::optional<Error> failure;
      auto read = store.ReadLog(ReadLogOptions{.filter = {.category = kCategory}}, [&](const EventView& event) {
        const std::optional<std::int64_t> total = TotalCents(event.data);
        if (!total) {
          failure = Error(ErrorCode::kInvalidArgument, fmt::format("event {}: no data.total_cents", event.position));
          return false;
        }
        sqlite3_bind_text64(upsert.get(), 1, event.stream.data(), event.stream.size(), SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_int64(upsert.get(), 2, *total);
        const int rc = sqlite3_step(upsert.get());
        sqlite3_reset(upsert.get());
        if (rc != SQLITE_DONE) {
          failure = SqliteFail(conn, "upserting").error();
          return false;
        }
        if (++in_batch == kProjectionBatchEvents) {
          in_batch = 0;
          ++commits;
          if (Status s = Exec(conn, "COMMIT"); !s) {
            failure = s.error();
            return false;
          }
          if (Status s = Exec(conn, "BEGIN IMMEDIATE"); !s) {
            failure = s.error();
            return false;
          }
        }
        return true;
      });
      if (!read) return std::unexpected(read.error());
      if (failure) return Fail(*failure);
      if (Status s = Exec(conn, "COMMIT"); !s) return s;
      ++commits;
    }  // statement finalized, connection closed (its last checkpoint) inside the time
    const double seconds = Seconds(Clock::now() - started).count();
    if (Status s = CheckTotals(path, expected_, key); !s) return s;
    RemoveDatabase(path);
    Report(ThroughputRow{
        .key = std::move(key), .title = std::move(title), .events = expected_.events, .seconds = seconds, .commits = commits});
    return {};
  }

  static Result<Projection> SqlProjection() { return ParseSqlProjection(kSqlProjectionFile, "order_totals.toml"); }

  // The same fold in C++: RapidJSON for the data, the cached statement of
  // ReadModelWriter::Prepare, sqlite3_bind_*.
  static Projection CppProjection() {
    Projection projection{.name = "order_totals",
                          .version = 1,
                          .filter = {.categories = {kCategory}},
                          .schema = kSchema,
                          .on_failure = OnHandlerFailure::kStop};
    projection.handlers.emplace(kEventType, [](ReadModelWriter& model, const EventView& event) -> Status {
      const std::optional<std::int64_t> total = TotalCents(event.data);
      if (!total) return Fail(ErrorCode::kInvalidArgument, "no data.total_cents");
      Result<sqlite3_stmt*> upsert = model.Prepare(kUpsert);
      if (!upsert) return std::unexpected(upsert.error());
      sqlite3_bind_text64(*upsert, 1, event.stream.data(), event.stream.size(), SQLITE_STATIC, SQLITE_UTF8);
      sqlite3_bind_int64(*upsert, 2, *total);
      if (sqlite3_step(*upsert) != SQLITE_DONE) return SqliteFail(model.db(), "upserting");
      return {};  // the writer resets the statement after the handler
    });
    return projection;
  }

  // A first build of `projection` into a new read model at `path`, timed from
  // RunToHead's call to its return.
  Status Rebuild(EventStore& store, std::string key, std::string title, Projection projection, const std::string& path,
                 bool keep, bool record = true) {
    RemoveDatabase(path);
    std::uint64_t commits = 0;
    std::optional<Clock::time_point> last_shadow_commit;
    RunnerOptions runner_options{.on_batch = [&](const ProjectionStatus& status) {
      ++commits;
      if (status.rebuilding_version) last_shadow_commit = Clock::now();
    }};
    auto runner = ProjectionRunner::Open(StoreSource(store), path, std::move(runner_options));
    if (!runner) return std::unexpected(runner.error());
    if (Status s = (*runner)->Add(std::move(projection)); !s) return s;
    const auto started = Clock::now();
    Status ran = (*runner)->RunToHead();
    const auto finished = Clock::now();
    runner->reset();
    if (!ran) return Fail(ran.error().code(), fmt::format("{}: {}", key, ran.error().message()));
    if (Status s = CheckTotals(path, expected_, key); !s) return s;
    if (!keep) RemoveDatabase(path);
    ThroughputRow row{.key = std::move(key),
                      .title = std::move(title),
                      .events = expected_.events,
                      .seconds = Seconds(finished - started).count(),
                      .commits = commits};
    if (last_shadow_commit) row.swap_seconds = Seconds(finished - *last_shadow_commit).count();
    if (!record) {
      Progress(fmt::format("{} (not measured): {:.2f} s", row.title, row.seconds));
      return {};
    }
    Report(row);
    return {};
  }

  // The SQL projection's read model at `path` (at the head) follows the store
  // while one thread appends kLiveAppendEvents events every kLiveAppendEvery.
  Status LiveLag(EventStore& store, const std::string& path) {
    const auto appends = static_cast<std::uint64_t>(
        std::llround(options_.live_seconds / std::chrono::duration<double>(kLiveAppendEvery)));
    const std::uint64_t planned = appends * kLiveAppendEvents;
    auto made = MakeSetupBatches();
    if (!made) return std::unexpected(made.error());
    const std::vector<EventData>& batch = made->batches.front();
    std::int64_t batch_total = 0;
    for (std::int64_t total : made->totals.front()) batch_total += total;

    auto head = store.HeadPosition();
    if (!head) return std::unexpected(head.error());
    const std::uint64_t base = *head + 1;  // the first position the writer will get
    const auto epoch = Clock::now();
    auto since = [epoch](Clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(t - epoch).count();
    };
    // Each event's Append return (writer thread) and read-model commit (the
    // projection's thread), by position - base; read once both threads ended.
    std::vector<std::int64_t> appended_ns(planned, -1);
    std::vector<std::int64_t> committed_ns(planned, -1);
    std::vector<std::uint64_t> pending;  // applied in the open batch (projection's thread)
    std::uint64_t batches = 0;

    auto projection = SqlProjection();
    if (!projection) return std::unexpected(projection.error());
    // The handler notes each event it applied; on_batch, called right after the
    // batch's commit (and the status refresh: HeadPosition, one ReadEvent), stamps them.
    auto handler = projection->handlers.find(kEventType);
    if (handler == projection->handlers.end()) return Fail(ErrorCode::kInvalidArgument, "no handler");
    handler->second = [inner = std::move(handler->second), &pending](ReadModelWriter& model,
                                                                      const EventView& event) -> Status {
      Status applied = inner(model, event);
      if (applied) pending.push_back(event.position);
      return applied;
    };
    RunnerOptions runner_options{.on_batch = [&](const ProjectionStatus&) {
      if (pending.empty()) return;
      const std::int64_t now = since(Clock::now());
      ++batches;
      for (std::uint64_t position : pending) {
        if (position >= base && position - base < planned) committed_ns[position - base] = now;
      }
      pending.clear();
    }};
    auto runner = ProjectionRunner::Open(StoreSource(store), path, std::move(runner_options));
    if (!runner) return std::unexpected(runner.error());
    if (Status s = (*runner)->Add(std::move(*projection)); !s) return s;
    if (Status s = (*runner)->Start(); !s) return s;
    auto position = [&]() -> std::optional<ProjectionStatus> {
      std::vector<ProjectionStatus> statuses = (*runner)->Statuses();
      if (statuses.empty()) return std::nullopt;
      return statuses.front();
    };
    // Live before the first append: the lag of a caught-up projection is measured, not a catch-up.
    for (const auto deadline = Clock::now() + std::chrono::seconds(10);;) {
      std::optional<ProjectionStatus> status = position();
      if (status && status->state == ProjectionState::kLive) break;
      if ((status && status->state == ProjectionState::kFailed) || Clock::now() > deadline) {
        return Fail(ErrorCode::kBusy, fmt::format("the projection did not go live: {}",
                                                      status ? status->last_error : "no status"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    LagResult lag;
    std::vector<double> append_ms;
    append_ms.reserve(appends);
    Status written;
    Clock::time_point writer_start, writer_end;
    {
      std::jthread writer([&] {
        writer_start = Clock::now();
        writer_end = writer_start;
        for (std::uint64_t k = 0; k < appends; ++k) {
          const auto scheduled = writer_start + k * kLiveAppendEvery;
          std::this_thread::sleep_until(scheduled);
          const auto begin = Clock::now();
          if (begin - scheduled > kLiveAppendEvery) ++lag.late_appends;
          auto appended = store.Append(fmt::format("order-{}", k % result_.streams), ExpectedRevision::Any(), batch);
          const auto end = Clock::now();
          if (!appended) {
            written = std::unexpected(appended.error());
            return;
          }
          if (appended->first_position < base || appended->last_position - base >= planned) {
            written = Fail(ErrorCode::kCorruption, fmt::format("an append got positions {}..{}, outside {}..{}",
                                                               appended->first_position, appended->last_position, base,
                                                               base + planned - 1));
            return;
          }
          for (std::uint64_t p = appended->first_position; p <= appended->last_position; ++p) {
            appended_ns[p - base] = since(end);
          }
          append_ms.push_back(std::chrono::duration<double, std::milli>(end - begin).count());
          writer_end = end;
        }
      });
    }
    // Then until the projection has committed everything (or gives up).
    Status caught_up;
    for (const auto deadline = Clock::now() + std::chrono::seconds(30);;) {
      std::optional<ProjectionStatus> status = position();
      if (status && status->position >= base + planned - 1) break;
      if ((status && status->state == ProjectionState::kFailed) || Clock::now() > deadline) {
        caught_up = Fail(ErrorCode::kBusy, fmt::format("the projection did not catch up with the writer: {}",
                                                           status ? status->last_error : "no status"));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    (*runner)->Stop();
    (*runner)->Wait();
    runner->reset();
    if (!written) return written;
    if (!caught_up) return caught_up;

    std::vector<double> lags_ms;
    lags_ms.reserve(planned);
    for (std::uint64_t i = 0; i < planned; ++i) {
      if (appended_ns[i] < 0 || committed_ns[i] < 0) {
        return Fail(ErrorCode::kCorruption, fmt::format("position {}: no {} time", base + i,
                                                        appended_ns[i] < 0 ? "append" : "read-model commit"));
      }
      lags_ms.push_back(static_cast<double>(committed_ns[i] - appended_ns[i]) / 1e6);
    }
    const Totals expected{.streams = expected_.streams,
                          .events = expected_.events + planned,
                          .total_cents = expected_.total_cents + static_cast<std::int64_t>(appends) * batch_total};
    if (Status s = CheckTotals(path, expected, "live_lag"); !s) return s;
    expected_ = expected;

    std::sort(lags_ms.begin(), lags_ms.end());
    std::sort(append_ms.begin(), append_ms.end());
    double sum = 0;
    for (double ms : lags_ms) sum += ms;
    lag.events = planned;
    lag.writer_seconds = Seconds(writer_end - writer_start).count();
    lag.appended_per_s = lag.writer_seconds > 0 ? static_cast<double>(planned) / lag.writer_seconds : 0;
    lag.append_p99_ms = Percentile(append_ms, 0.99);
    lag.batches = batches;
    lag.mean_ms = sum / static_cast<double>(lags_ms.size());
    lag.p50_ms = Percentile(lags_ms, 0.50);
    lag.p99_ms = Percentile(lags_ms, 0.99);
    lag.max_ms = lags_ms.back();
    Progress(fmt::format("live lag at {:.0f} events/s ({} events, {} read-model batches): p50 {:.1f} ms, p99 {:.1f} ms, "
                         "max {:.1f} ms",
                         lag.appended_per_s, lag.events, lag.batches, lag.p50_ms, lag.p99_ms, lag.max_ms));
    result_.lag = lag;
    return {};
  }

  const ProjectionRunOptions& options_;
  BackendKind backend_;
  ProjectionBackendResult& result_;
  std::uint64_t per_stream_ = 0;
  Totals expected_;
  std::vector<std::pair<std::string, std::vector<ThroughputRow>>> rounds_;  // by key, in the order first measured  // what a fold of the whole log holds
};

}  // namespace

Status RunProjectionScenarios(const ProjectionRunOptions& options, std::vector<ProjectionBackendResult>& results) {
  for (BackendKind backend : options.backends) {
    ProjectionBackendResult& result = results.emplace_back();
    if (Status s = BackendRun(options, backend, result).Run(); !s) {
      return Fail(s.error().code(), fmt::format("{}: {}", backend == BackendKind::kLmdb ? "lmdb" : "sqlite",
                                                s.error().message()));
    }
  }
  return {};
}

}  // namespace cairn::bench
