// The raw-SQLite baseline: the event table a developer would hand-write without
// cairn, at the same durability as cairn's default, so that the README can say
// what cairn costs (or saves) against it.
//
// WHAT IT DOES
//   Schema (exactly):
//     CREATE TABLE events(position INTEGER PRIMARY KEY, stream TEXT NOT NULL,
//       revision INTEGER NOT NULL, event_id BLOB NOT NULL, type TEXT NOT NULL,
//       recorded_at INTEGER NOT NULL, data TEXT NOT NULL, metadata TEXT,
//       UNIQUE(stream, revision))
//   Durability: journal_mode=WAL and synchronous=FULL on every connection (the
//     same as cairn's Durability::kFull); SQLite's default wal_autocheckpoint.
//   Appends: one connection per appending thread with a 10 s busy timeout
//     (cairn's default), prepared statements, and per append:
//     BEGIN IMMEDIATE; one INSERT per event; COMMIT — one transaction and one
//     fsync per append, whatever the number of threads. Concurrent threads
//     simply queue on SQLite's write lock (the busy handler's sleep-and-retry).
//   Ids and times: event_id = 16 random bytes from a per-thread PRNG,
//     recorded_at = system clock in microseconds.
//   Revisions: each appending thread keeps the next revision of its own streams
//     in memory (every thread writes only its own streams), so the transaction
//     reads nothing before it writes.
//   Reads: one connection, statements prepared once and reused, SQLite's
//     default page cache; a stream read is
//     SELECT ... WHERE stream = ? ORDER BY revision (served by the UNIQUE index),
//     a log scan is SELECT ... ORDER BY position; both fetch every column.
//
// WHAT IT DOES NOT DO (all of which cairn does)
//   - no audit hash chain (no BLAKE2b per event, no read of the previous hash);
//   - no event-id index: no idempotent retries, no duplicate-id detection;
//   - no expected-revision check and no streams table: nothing is read before
//     the write, concurrent writers to one stream would fail on the UNIQUE key;
//   - no validation of stream names, types, JSON or sizes;
//   - no group commit: N threads cost N fsyncs;
//   - no content type column, tombstones, subscriptions or verification.
//   Positions are gap-free only because nothing here ever rolls back after an
//   INSERT; a real application would need to care.
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <map>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "subject.h"

namespace cairn::bench {
namespace {

constexpr int kBusyTimeoutMs = 10'000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events(
  position INTEGER PRIMARY KEY,
  stream TEXT NOT NULL,
  revision INTEGER NOT NULL,
  event_id BLOB NOT NULL,
  type TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT,
  UNIQUE(stream, revision))
)sql";

constexpr const char* kInsert =
    "INSERT INTO events(stream, revision, event_id, type, recorded_at, data, metadata) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kSelectStream =
    "SELECT position, stream, revision, event_id, type, recorded_at, data, metadata "
    "FROM events WHERE stream = ?1 ORDER BY revision";
constexpr const char* kSelectLog =
    "SELECT position, stream, revision, event_id, type, recorded_at, data, metadata "
    "FROM events ORDER BY position";

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Maps a failed SQLite call to cairn's error codes, keeping SQLite's own text.
std::unexpected<Error> SqliteFailure(sqlite3* db, std::string_view what) {
  const int code = sqlite3_extended_errcode(db);
  const ErrorCode mapped =
      (code & 0xFF) == SQLITE_BUSY || (code & 0xFF) == SQLITE_LOCKED ? ErrorCode::kBusy : ErrorCode::kIOError;
  return Fail(mapped, fmt::format("raw sqlite: {}: {}", what, sqlite3_errmsg(db)));
}

Status Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return SqliteFailure(db, sql);
  return {};
}

Result<DbHandle> OpenConnection(const std::string& path, Durability durability) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  DbHandle db(raw);  // owned before checking rc: SQLite may hand out a handle on failure
  if (rc != SQLITE_OK) {
    return Fail(ErrorCode::kIOError,
                fmt::format("raw sqlite: open {}: {}", path, db ? sqlite3_errmsg(db.get()) : "out of memory"));
  }
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  if (Status s = Exec(db.get(), "PRAGMA journal_mode=WAL"); !s) return std::unexpected(s.error());
  const char* sync = durability == Durability::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (Status s = Exec(db.get(), sync); !s) return std::unexpected(s.error());
  return db;
}

Result<StmtHandle> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteFailure(db, sql);
  return stmt;
}

// Runs a statement without results (BEGIN, COMMIT, ROLLBACK) and resets it.
Status StepDone(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return SqliteFailure(db, what);
  return {};
}

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view ColumnText(sqlite3_stmt* stmt, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  return {text ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

// Steps `stmt` to the end, fetching every column of every row as an
// application would, and resets it.
Result<ReadTally> StepAllRows(sqlite3* db, sqlite3_stmt* stmt) {
  ReadTally tally;
  std::uint64_t checksum = 0;  // keeps the integer and blob fetches observable
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    checksum += static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0));     // position
    const std::string_view stream = ColumnText(stmt, 1);
    checksum += static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 2));     // revision
    checksum += sqlite3_column_blob(stmt, 3) != nullptr ? sqlite3_column_bytes(stmt, 3) : 0;  // event_id
    const std::string_view type = ColumnText(stmt, 4);
    checksum += static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 5));     // recorded_at
    const std::string_view data = ColumnText(stmt, 6);
    const std::string_view metadata = ColumnText(stmt, 7);
    ++tally.events;
    tally.bytes += stream.size() + type.size() + data.size() + metadata.size();
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return SqliteFailure(db, "read");
  asm volatile("" : : "r"(checksum));  // the fetches must not be optimised away
  return tally;
}

class RawAppender final : public Appender {
 public:
  RawAppender(DbHandle db, StmtHandle begin, StmtHandle insert, StmtHandle commit, StmtHandle rollback,
              std::size_t batch_size)
      : db_(std::move(db)),
        begin_(std::move(begin)),
        insert_(std::move(insert)),
        commit_(std::move(commit)),
        rollback_(std::move(rollback)),
        payloads_(MakePayloads(batch_size)),
        rng_(std::random_device{}()) {}

  Status Append(std::string_view stream) override {
    auto next = next_revision_.find(stream);
    if (next == next_revision_.end()) next = next_revision_.emplace(std::string(stream), 0).first;
    if (Status s = StepDone(db_.get(), begin_.get(), "BEGIN IMMEDIATE"); !s) return s;
    Status inserted = InsertBatch(stream, next->second);
    if (inserted) inserted = StepDone(db_.get(), commit_.get(), "COMMIT");
    if (!inserted) {
      (void)StepDone(db_.get(), rollback_.get(), "ROLLBACK");  // the append's error is what matters
      return inserted;
    }
    next->second += payloads_.size();
    return {};
  }

 private:
  Status InsertBatch(std::string_view stream, std::uint64_t first_revision) {
    sqlite3_stmt* insert = insert_.get();
    const std::int64_t recorded_at = NowMicros();
    for (std::size_t i = 0; i < payloads_.size(); ++i) {
      const Payload& payload = payloads_[i];
      const std::array<std::uint64_t, 2> event_id{rng_(), rng_()};
      sqlite3_bind_text(insert, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(first_revision + i));
      sqlite3_bind_blob(insert, 3, event_id.data(), sizeof(event_id), SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 4, payload.type.data(), static_cast<int>(payload.type.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 5, recorded_at);
      sqlite3_bind_text(insert, 6, payload.data.data(), static_cast<int>(payload.data.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, payload.metadata.data(), static_cast<int>(payload.metadata.size()),
                        SQLITE_STATIC);
      if (Status s = StepDone(db_.get(), insert, "INSERT"); !s) return s;
    }
    return {};
  }

  DbHandle db_;  // declared first: destroyed after the statements that belong to it
  StmtHandle begin_;
  StmtHandle insert_;
  StmtHandle commit_;
  StmtHandle rollback_;
  std::vector<Payload> payloads_;
  std::map<std::string, std::uint64_t, std::less<>> next_revision_;
  std::mt19937_64 rng_;
};

class RawReader final : public Reader {
 public:
  RawReader(DbHandle db, StmtHandle select_stream, StmtHandle select_log)
      : db_(std::move(db)), select_stream_(std::move(select_stream)), select_log_(std::move(select_log)) {}

  Result<ReadTally> ReadStream(std::string_view stream) override {
    sqlite3_bind_text(select_stream_.get(), 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
    return StepAllRows(db_.get(), select_stream_.get());
  }

  Result<ReadTally> ScanLog() override { return StepAllRows(db_.get(), select_log_.get()); }

 private:
  DbHandle db_;
  StmtHandle select_stream_;
  StmtHandle select_log_;
};

class RawSqliteSubject final : public Subject {
 public:
  RawSqliteSubject(std::string path, Durability durability) : path_(std::move(path)), durability_(durability) {}

  std::string_view name() const override { return "raw"; }

  Result<std::unique_ptr<Appender>> NewAppender(std::size_t batch_size) override {
    Result<DbHandle> db = OpenConnection(path_, durability_);
    if (!db) return std::unexpected(std::move(db.error()));
    sqlite3* handle = db->get();
    Result<StmtHandle> begin = Prepare(handle, "BEGIN IMMEDIATE");
    Result<StmtHandle> insert = Prepare(handle, kInsert);
    Result<StmtHandle> commit = Prepare(handle, "COMMIT");
    Result<StmtHandle> rollback = Prepare(handle, "ROLLBACK");
    for (const Result<StmtHandle>* stmt : {&begin, &insert, &commit, &rollback}) {
      if (!*stmt) return std::unexpected(stmt->error());
    }
    return std::make_unique<RawAppender>(std::move(*db), std::move(*begin), std::move(*insert),
                                         std::move(*commit), std::move(*rollback), batch_size);
  }

  Result<std::unique_ptr<Reader>> NewReader() override {
    Result<DbHandle> db = OpenConnection(path_, durability_);
    if (!db) return std::unexpected(std::move(db.error()));
    Result<StmtHandle> select_stream = Prepare(db->get(), kSelectStream);
    if (!select_stream) return std::unexpected(std::move(select_stream.error()));
    Result<StmtHandle> select_log = Prepare(db->get(), kSelectLog);
    if (!select_log) return std::unexpected(std::move(select_log.error()));
    return std::make_unique<RawReader>(std::move(*db), std::move(*select_stream), std::move(*select_log));
  }

  Result<std::uint64_t> CountEvents() override {
    Result<DbHandle> db = OpenConnection(path_, durability_);
    if (!db) return std::unexpected(std::move(db.error()));
    Result<StmtHandle> count = Prepare(db->get(), "SELECT count(*) FROM events");
    if (!count) return std::unexpected(std::move(count.error()));
    if (sqlite3_step(count->get()) != SQLITE_ROW) return SqliteFailure(db->get(), "count");
    return static_cast<std::uint64_t>(sqlite3_column_int64(count->get(), 0));
  }

 private:
  std::string path_;
  Durability durability_;
};

}  // namespace

Result<std::unique_ptr<Subject>> OpenRawSqliteSubject(const std::string& path, Durability durability) {
  Result<DbHandle> db = OpenConnection(path, durability);
  if (!db) return std::unexpected(std::move(db.error()));
  if (Status s = Exec(db->get(), kSchema); !s) return std::unexpected(s.error());
  return std::make_unique<RawSqliteSubject>(path, durability);
}

}  // namespace cairn::bench
