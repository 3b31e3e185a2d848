#include "floor_scenarios.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cairn/audit.h"
#include "cairn/store.h"
#include "subject.h"

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBatch = 1000;

enum class Rung { kRaw, kAudit, kIdIndex, kCategory, kHashChain, kCairn };

// The raw baseline's table, as raw_sqlite_subject.cc creates it.
constexpr const char* kRawSchema =
    "CREATE TABLE events(position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, "
    "event_id BLOB NOT NULL, type TEXT NOT NULL, recorded_at INTEGER NOT NULL, data TEXT NOT NULL, metadata TEXT, "
    "UNIQUE(stream, revision))";
// cairn's events table and its indexes (store/sqlite/sqlite_backend.cc), built up index by index.
constexpr const char* kAuditSchema =
    "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, "
    "event_id BLOB NOT NULL, type TEXT NOT NULL, recorded_at INTEGER NOT NULL, content_type TEXT NOT NULL, "
    "data BLOB NOT NULL, metadata TEXT, hash BLOB NOT NULL, category TEXT GENERATED ALWAYS AS ("
    "CASE WHEN instr(stream, '-') > 0 THEN substr(stream, 1, instr(stream, '-') - 1) ELSE stream END) VIRTUAL);"
    "CREATE UNIQUE INDEX events_by_stream ON events (stream, revision);";
constexpr const char* kIdIndex = "CREATE UNIQUE INDEX events_by_id ON events (event_id);";
constexpr const char* kCategoryIndex =
    "CREATE INDEX events_by_category ON events (category, position);"
    "CREATE TABLE streams (stream TEXT PRIMARY KEY, category TEXT NOT NULL, head_revision INTEGER NOT NULL, "
    "head_position INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX streams_by_category ON streams (category);";

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Status SqliteFailed(sqlite3* db, std::string_view doing) {
  return Fail(ErrorCode::kIOError, fmt::format("{}: {}", doing, db ? sqlite3_errmsg(db) : "out of memory"));
}

Status Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return SqliteFailed(db, sql);
  return {};
}

Result<Stmt> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    return std::unexpected(SqliteFailed(db, sql).error());
  }
  return Stmt(raw);
}

// Appends 1000-event transactions by hand for `seconds`; events/s.
Result<double> MeasureHandWritten(Rung rung, const std::string& path, const std::vector<Payload>& payloads,
                                  double seconds) {
  sqlite3* raw_db = nullptr;
  int rc = sqlite3_open(path.c_str(), &raw_db);
  Db db(raw_db);
  if (rc != SQLITE_OK) return std::unexpected(SqliteFailed(db.get(), "opening " + path).error());
  std::string schema = rung == Rung::kRaw ? kRawSchema : kAuditSchema;
  if (rung >= Rung::kIdIndex) schema += kIdIndex;
  if (rung >= Rung::kCategory) schema += kCategoryIndex;
  for (const std::string& sql : {std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"), schema}) {
    if (Status ok = Exec(db.get(), sql.c_str()); !ok) return std::unexpected(ok.error());
  }
  const bool audit = rung != Rung::kRaw;
  auto insert = Prepare(db.get(), audit ? "INSERT INTO events (position, stream, revision, event_id, type, recorded_at, "
                                          "content_type, data, metadata, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
                                        : "INSERT INTO events (stream, revision, event_id, type, recorded_at, data, "
                                          "metadata) VALUES (?2,?3,?4,?5,?6,?8,?9)");
  if (!insert) return std::unexpected(insert.error());
  Stmt upsert_stream;
  if (rung >= Rung::kCategory) {
    auto prepared = Prepare(db.get(),
                            "INSERT INTO streams (stream, category, head_revision, head_position, deleted) "
                            "VALUES (?1, 'order', ?2, ?3, 0) ON CONFLICT (stream) DO UPDATE SET "
                            "head_revision = excluded.head_revision, head_position = excluded.head_position");
    if (!prepared) return std::unexpected(prepared.error());
    upsert_stream = std::move(*prepared);
  }
  sqlite3_stmt* stmt = insert->get();
  Hash previous{};
  std::uint64_t position = 0;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (std::uint64_t append = 0; Clock::now() < deadline; ++append) {
    if (Status ok = Exec(db.get(), "BEGIN IMMEDIATE"); !ok) return std::unexpected(ok.error());
    const std::string stream = fmt::format("order-{}", append);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    for (std::size_t i = 0; i < kBatch; ++i) {
      const Payload& payload = payloads[i];
      const EventId id = EventId::NewV7();
      ++position;
      Hash hash = previous;
      if (rung >= Rung::kHashChain) {
        EventView event{.position = position, .stream = stream, .revision = i, .id = id, .type = payload.type,
                        .recorded_at_us = now, .content_type = kContentTypeJson, .data = payload.data,
                        .metadata = payload.metadata};
        hash = ChainHash(previous, event);
        previous = hash;
      }
      sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(position));
      sqlite3_bind_text(stmt, 2, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 3, static_cast<sqlite3_int64>(i));
      sqlite3_bind_blob(stmt, 4, id.bytes.data(), static_cast<int>(id.bytes.size()), SQLITE_STATIC);
      sqlite3_bind_text(stmt, 5, payload.type.data(), static_cast<int>(payload.type.size()), SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 6, now);
      sqlite3_bind_text(stmt, 7, kContentTypeJson.data(), static_cast<int>(kContentTypeJson.size()), SQLITE_STATIC);
      sqlite3_bind_text(stmt, 8, payload.data.data(), static_cast<int>(payload.data.size()), SQLITE_STATIC);
      sqlite3_bind_text(stmt, 9, payload.metadata.data(), static_cast<int>(payload.metadata.size()), SQLITE_STATIC);
      sqlite3_bind_blob(stmt, 10, hash.data(), static_cast<int>(hash.size()), SQLITE_STATIC);
      if (sqlite3_step(stmt) != SQLITE_DONE) return std::unexpected(SqliteFailed(db.get(), "inserting").error());
      sqlite3_reset(stmt);
    }
    if (upsert_stream) {
      sqlite3_bind_text(upsert_stream.get(), 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
      sqlite3_bind_int64(upsert_stream.get(), 2, static_cast<sqlite3_int64>(kBatch - 1));
      sqlite3_bind_int64(upsert_stream.get(), 3, static_cast<sqlite3_int64>(position));
      if (sqlite3_step(upsert_stream.get()) != SQLITE_DONE) {
        return std::unexpected(SqliteFailed(db.get(), "upserting the stream").error());
      }
      sqlite3_reset(upsert_stream.get());
    }
    if (Status ok = Exec(db.get(), "COMMIT"); !ok) return std::unexpected(ok.error());
  }
  return static_cast<double>(position) / std::chrono::duration<double>(Clock::now() - start).count();
}

Result<double> MeasureCairn(const std::string& path, const std::vector<Payload>& payloads, double seconds) {
  auto store = EventStore::Open(path, Options{.backend = BackendKind::kSqlite, .create_if_missing = true});
  if (!store) return std::unexpected(store.error());
  std::vector<EventData> events;
  for (const Payload& payload : payloads) {
    events.push_back(EventData{.type = payload.type, .data = payload.data, .metadata = payload.metadata});
  }
  std::uint64_t appended = 0;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (std::uint64_t append = 0; Clock::now() < deadline; ++append) {
    auto result = (*store)->Append(fmt::format("order-{}", append), ExpectedRevision::NoStream(), events);
    if (!result) return std::unexpected(result.error());
    appended += events.size();
  }
  return static_cast<double>(appended) / std::chrono::duration<double>(Clock::now() - start).count();
}

// µs per cairn::ChainHash over the payloads, for about a second.
double MeasureChainHash(const std::vector<Payload>& payloads) {
  Hash previous{};
  const EventId id = EventId::NewV7();
  std::uint64_t hashed = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(1)) {
    for (const Payload& payload : payloads) {
      EventView event{.position = ++hashed, .stream = "order-1", .revision = hashed, .id = id, .type = payload.type,
                      .recorded_at_us = 1'700'000'000'000'000, .content_type = kContentTypeJson,
                      .data = payload.data, .metadata = payload.metadata};
      previous = ChainHash(previous, event);
    }
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / static_cast<double>(hashed);
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

Status RunFloorScenarios(const FloorRunOptions& options, FloorResult& result) {
  std::vector<FloorRung>& rungs = result.rungs;
  std::vector<double> chain_hash_us;
  const std::vector<std::pair<Rung, FloorRung>> ladder = {
      {Rung::kRaw, {"raw", "the raw baseline's table", {}, 0}},
      {Rung::kAudit, {"+audit", "+ position, content type, 32-byte hash", {}, 0}},
      {Rung::kIdIndex, {"+id index", "+ unique event-id index", {}, 0}},
      {Rung::kCategory, {"+category", "+ category index, streams row: cairn's tables", {}, 0}},
      {Rung::kHashChain, {"+hash chain", "+ BLAKE2b chain computed per event", {}, 0}},
      {Rung::kCairn, {"cairn", "EventStore::Append, 1000 events", {}, 0}},
  };
  const std::vector<Payload> payloads = MakePayloads(kBatch);
  rungs.clear();
  for (const auto& [rung, entry] : ladder) rungs.push_back(entry);
  for (int round = 1; round <= options.rounds; ++round) {
    for (std::size_t i = 0; i < ladder.size(); ++i) {
      const Rung rung = ladder[i].first;
      const std::string path = fmt::format("{}/floor-{}-{}.db", options.dir, round, i);
      Result<double> measured = rung == Rung::kCairn ? MeasureCairn(path, payloads, options.seconds)
                                                     : MeasureHandWritten(rung, path, payloads, options.seconds);
      if (!measured) return std::unexpected(measured.error());
      rungs[i].events_per_s.push_back(*measured);
      if (options.progress) {
        options.progress(fmt::format("  round {} {:<12} {:>10.0f} events/s", round, rungs[i].name, *measured));
      }
      std::error_code ignored;
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix, ignored);
    }
    chain_hash_us.push_back(MeasureChainHash(payloads));
  }
  for (FloorRung& rung : rungs) rung.median = Median(rung.events_per_s);
  result.chain_hash_us = Median(chain_hash_us);
  return {};
}

void PrintFloorTable(std::FILE* out, const FloorResult& result) {
  const std::vector<FloorRung>& rungs = result.rungs;
  if (rungs.empty()) return;
  const double raw = rungs.front().median;
  fmt::print(out, "\n{:<12} {:<48} {:>12} {:>8}\n", "rung", "what it adds", "events/s", "x raw");
  for (const FloorRung& rung : rungs) {
    fmt::print(out, "{:<12} {:<48} {:>12} {:>7.2f}x\n", rung.name, rung.what,
               fmt::format("{:.0f}", rung.median), raw > 0 ? rung.median / raw : 0);
  }
  fmt::print(out, "\n1000-event transactions, WAL + synchronous=FULL, medians of {} interleaved rounds.\n",
             rungs.front().events_per_s.size());
  fmt::print(out, "The BLAKE2b chain alone (cairn::ChainHash, no storage): {:.2f} us per event.\n", result.chain_hash_us);
}

}  // namespace cairn::bench
