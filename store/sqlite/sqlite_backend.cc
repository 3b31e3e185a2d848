// The SQLite backend: one database file in WAL mode, readable by an auditor
// with the sqlite3 shell. The schema is documented in docs/sqlite-schema.md.
//
// Format version 1 — do not change existing tables or columns; a new format
// gets a new version number and a migration.
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <utility>
#include <vector>

#include "backend.h"
#include "cairn/audit.h"

namespace cairn::detail {
namespace {

// 'cair' — marks a SQLite file as a cairn store (PRAGMA application_id).
constexpr std::int32_t kApplicationId = 0x63616972;
constexpr std::int32_t kFormatVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE cairn_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per stream: its newest revision and position, and whether it is tombstoned.
CREATE TABLE streams (
  stream        TEXT PRIMARY KEY,
  category      TEXT NOT NULL,
  head_revision INTEGER NOT NULL,
  head_position INTEGER NOT NULL,
  deleted       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX streams_by_category ON streams (category);

-- The log: one row per event, keyed by its global position (1, 2, 3, … without gaps).
-- data is TEXT for JSON content types (so json_extract works on it), BLOB otherwise.
CREATE TABLE events (
  position     INTEGER PRIMARY KEY,
  stream       TEXT NOT NULL,
  revision     INTEGER NOT NULL,
  event_id     BLOB NOT NULL,
  type         TEXT NOT NULL,
  recorded_at  INTEGER NOT NULL,  -- microseconds since the Unix epoch, UTC
  content_type TEXT NOT NULL,
  data         BLOB NOT NULL,
  metadata     TEXT,              -- a JSON object, or NULL
  hash         BLOB NOT NULL,     -- BLAKE2b-256 audit chain, see docs/audit-chain.md
  category     TEXT GENERATED ALWAYS AS (
                 CASE WHEN instr(stream, '-') > 0 THEN substr(stream, 1, instr(stream, '-') - 1) ELSE stream END
               ) VIRTUAL
);
CREATE UNIQUE INDEX events_by_stream ON events (stream, revision);
CREATE UNIQUE INDEX events_by_id ON events (event_id);
CREATE INDEX events_by_category ON events (category, position);

-- Events are immutable. (An attacker can drop these; cairn verify still finds the change.)
CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'cairn events are immutable'); END;
CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'cairn events are never deleted'); END;

-- For people with the sqlite3 shell: the log with readable ids and hashes.
CREATE VIEW events_readable AS
  SELECT position, stream, revision, lower(hex(event_id)) AS event_id, type,
         strftime('%Y-%m-%dT%H:%M:%fZ', recorded_at / 1000000.0, 'unixepoch') AS recorded_at,
         content_type, CASE WHEN typeof(data) = 'text' THEN data ELSE '<' || length(data) || ' bytes>' END AS data,
         metadata, lower(hex(hash)) AS hash
  FROM events;
)sql";

// Snapshots (docs/sqlite-schema.md): derived data — a stream's aggregate state
// after `revision` — outside the audit chain and not exported. Rows are replaced
// and deleted freely, so there are no triggers. A rowid table rather than WITHOUT
// ROWID: states are often larger than a page, and the primary key's index then
// stays small while the states sit in the table's own b-tree.
//
// Part of the schema of new stores. Format 1 stores created before it existed
// get it when first opened writable (IF NOT EXISTS); until then — or forever,
// when only opened read-only — they read as having no snapshots.
constexpr const char* kSnapshotsSchema = R"sql(
CREATE TABLE IF NOT EXISTS snapshots (
  stream         TEXT NOT NULL,
  revision       INTEGER NOT NULL,  -- the state includes the stream's events 0..revision
  schema_version INTEGER NOT NULL,  -- the version of the state's encoding
  event_hash     BLOB NOT NULL,     -- 32 bytes: the hash of the event at revision when taken
  taken_at_us    INTEGER NOT NULL,  -- microseconds since the Unix epoch, UTC
  state          BLOB NOT NULL,     -- the encoded state
  checksum       BLOB NOT NULL,     -- 32 bytes: SnapshotChecksum of the columns above (cairn/store.h)
  PRIMARY KEY (stream, revision DESC)  -- newest first within a stream: reads need no sort
);
)sql";

// Schemas (docs/sqlite-schema.md): the JSON Schema of event types, checked on
// append. Configuration like snapshots — outside the audit chain, not exported.
// Each PutSchema adds a registration (1, 2, 3, … per type); the highest is the
// current one, the others are history. DeleteSchema deletes all of a type's.
// cairn_meta's 'schema_generation' counts schema writes, so that a writer sees
// in its own transaction whether the schemas changed since it last read them.
//
// Part of the schema of new stores; format 1 stores created before it existed
// get it when first opened writable, exactly like `snapshots`.
constexpr const char* kSchemasSchema = R"sql(
CREATE TABLE IF NOT EXISTS schemas (
  event_type    TEXT NOT NULL,
  registration  INTEGER NOT NULL,  -- 1 for the type's first schema, +1 per replacement; the highest is current
  registered_at INTEGER NOT NULL,  -- microseconds since the Unix epoch, UTC
  schema        TEXT NOT NULL,     -- the JSON Schema document (draft 4), byte-exact as registered
  PRIMARY KEY (event_type, registration DESC)
) WITHOUT ROWID;
)sql";

constexpr const char* kEventColumns =
    "position, stream, revision, event_id, type, recorded_at, content_type, data, metadata, hash";

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using StatementHandle = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

Error SqliteError(sqlite3* db, int rc, std::string_view context) {
  std::string message = std::string(context) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error(ErrorCode::kBusy, message + " (another process holds the store's write lock)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error(ErrorCode::kCorruption, message);
    case SQLITE_FULL:
      return Error(ErrorCode::kIOError, message + " (the disk is full; nothing of this append was committed)");
    case SQLITE_READONLY:
      return Error(ErrorCode::kNotSupported, message);
    case SQLITE_CONSTRAINT:
      return Error(ErrorCode::kCorruption, message + " (the store's state disagrees with its indexes)");
    default:
      return Error(ErrorCode::kIOError, message);
  }
}

std::string_view ColumnBytes(sqlite3_stmt* stmt, int column) {
  const void* bytes = sqlite3_column_blob(stmt, column);
  int size = sqlite3_column_bytes(stmt, column);
  return bytes ? std::string_view(static_cast<const char*>(bytes), static_cast<std::size_t>(size))
               : std::string_view();
}

std::int64_t ToSqlInt(std::uint64_t value) {
  return value > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(value);
}

// A prepared statement, reset when the scope that stepped it ends.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  void Bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void BindText(int index, std::string_view text) {
    sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
  }
  void BindBlob(int index, std::string_view bytes) {
    // A null pointer would bind NULL; an empty view may have one, and is an empty blob.
    static constexpr char kEmpty = 0;
    sqlite3_bind_blob64(stmt_, index, bytes.data() != nullptr ? bytes.data() : &kEmpty, bytes.size(), SQLITE_STATIC);
  }
  void BindNull(int index) { sqlite3_bind_null(stmt_, index); }

  // SQLITE_ROW and SQLITE_DONE are normal outcomes; anything else is an error.
  enum class Step { kRow, kDone };
  Result<Step> Next(sqlite3* db, std::string_view context) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return Step::kRow;
    if (rc == SQLITE_DONE) return Step::kDone;
    return Fail(SqliteError(db, rc, context));
  }

  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

// One SQLite connection with its prepared statements. Used by one thread at a time.
class Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int flags, const Options& options) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
    SqliteHandle db(raw);  // owns the handle even when the open failed
    if (rc != SQLITE_OK) return Fail(SqliteError(db.get(), rc, "cannot open " + path));
    sqlite3_busy_timeout(db.get(), static_cast<int>(options.busy_timeout.count()));
    sqlite3_extended_result_codes(db.get(), 1);
    return std::make_unique<Connection>(std::move(db));
  }

  explicit Connection(SqliteHandle db) : db_(std::move(db)) {}

  sqlite3* db() const { return db_.get(); }

  Status Exec(const char* sql, std::string_view context) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
      std::string text = std::string(context) + ": " + (message ? message : sqlite3_errstr(rc));
      sqlite3_free(message);
      Error error = SqliteError(db_.get(), rc, context);
      return Fail(Error(error.code(), text));
    }
    return {};
  }

  Result<std::int64_t> QueryInt(const char* sql, std::string_view context) {
    auto stmt = Prepare(sql);
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    auto step = query.Next(db(), context);
    if (!step) return Fail(step.error());
    return *step == Statement::Step::kRow ? sqlite3_column_int64(query.get(), 0) : 0;
  }

  // Prepared once per connection and kept: the statement text is the cache key.
  Result<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second.get();
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StatementHandle stmt(raw);
    if (rc != SQLITE_OK) return Fail(SqliteError(db_.get(), rc, "preparing a query"));
    return statements_.emplace(sql, std::move(stmt)).first->second.get();
  }

  Result<ChainHead> GetHead() {
    auto stmt = Prepare("SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    auto step = query.Next(db(), "reading the log's head");
    if (!step) return Fail(step.error());
    ChainHead head;
    if (*step == Statement::Step::kRow) {
      head.position = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 0));
      std::string_view hash = ColumnBytes(query.get(), 1);
      if (hash.size() != head.hash.size()) {
        return Fail(ErrorCode::kCorruption, "the hash of position " + std::to_string(head.position) + " is not 32 bytes");
      }
      std::memcpy(head.hash.data(), hash.data(), hash.size());
      head.recorded_at_us = sqlite3_column_int64(query.get(), 2);
    }
    return head;
  }

  // Whether the store has the snapshots table, which stores created before it
  // existed lack until a writable open adds it (kSnapshotsSchema). Once seen it
  // stays: cairn never drops it.
  Result<bool> HasSnapshotsTable() {
    if (has_snapshots_table_) return true;
    auto count = QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'",
                          "looking for the snapshots table");
    if (!count) return Fail(count.error());
    has_snapshots_table_ = *count > 0;
    return has_snapshots_table_;
  }

  // Whether the store has the schemas table (as HasSnapshotsTable).
  Result<bool> HasSchemasTable() {
    if (has_schemas_table_) return true;
    auto count = QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schemas'",
                          "looking for the schemas table");
    if (!count) return Fail(count.error());
    has_schemas_table_ = *count > 0;
    return has_schemas_table_;
  }

  Result<std::uint64_t> GetSchemaGeneration() {
    auto generation = QueryInt("SELECT CAST(value AS INTEGER) FROM cairn_meta WHERE key = 'schema_generation'",
                               "reading the schema generation");
    if (!generation) return Fail(generation.error());
    return static_cast<std::uint64_t>(*generation);
  }

  // Visits schemas as Reader::ReadSchemas describes; the caller holds a transaction.
  Result<std::uint64_t> ReadSchemas(std::string_view event_type, bool history, const SchemaVisitor& visit) {
    auto present = HasSchemasTable();
    if (!present) return Fail(present.error());
    if (!*present) return 0;  // a store older than the table: no schemas yet
    // Newest first within a type, so the first row of each type is its current schema.
    auto stmt = Prepare(event_type.empty()
                            ? "SELECT event_type, registration, registered_at, schema FROM schemas "
                              "ORDER BY event_type, registration DESC"
                            : "SELECT event_type, registration, registered_at, schema FROM schemas "
                              "WHERE event_type = ?1 ORDER BY registration DESC");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    if (!event_type.empty()) query.BindText(1, event_type);
    std::uint64_t visited = 0;
    std::string previous_type;
    bool first = true;
    while (true) {
      auto step = query.Next(db(), "reading schemas");
      if (!step) return Fail(step.error());
      if (*step == Statement::Step::kDone) return visited;
      SchemaView schema{.event_type = ColumnBytes(query.get(), 0),
                        .registration = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 1)),
                        .registered_at_us = sqlite3_column_int64(query.get(), 2),
                        .schema = ColumnBytes(query.get(), 3)};
      schema.current = first || schema.event_type != previous_type;
      first = false;
      previous_type.assign(schema.event_type);
      if (!schema.current && !history) continue;
      ++visited;
      if (!visit(schema)) return visited;
    }
  }

  Result<std::optional<StreamState>> GetStream(std::string_view stream) {
    auto stmt = Prepare("SELECT head_revision, head_position, deleted FROM streams WHERE stream = ?1");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    query.BindText(1, stream);
    auto step = query.Next(db(), "reading a stream");
    if (!step) return Fail(step.error());
    if (*step == Statement::Step::kDone) return std::optional<StreamState>();
    return StreamState{.head_revision = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 0)),
                       .head_position = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 1)),
                       .deleted = sqlite3_column_int(query.get(), 2) != 0};
  }

 private:
  SqliteHandle db_;
  std::unordered_map<const char*, StatementHandle> statements_;  // keyed by the literal's address
  bool has_snapshots_table_ = false;
  bool has_schemas_table_ = false;
};

// Ends a read transaction (BEGIN … COMMIT) however the read ends, a throwing visitor included.
class ReadTransaction {
 public:
  static Result<ReadTransaction> Begin(Connection* conn) {
    if (auto ok = conn->Exec("BEGIN", "starting a read"); !ok) return Fail(ok.error());
    return ReadTransaction(conn);
  }
  ReadTransaction(ReadTransaction&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
  ReadTransaction& operator=(ReadTransaction&&) = delete;
  ~ReadTransaction() {
    if (conn_ != nullptr) (void)conn_->Exec("COMMIT", "ending a read");  // a read commits nothing
  }

 private:
  explicit ReadTransaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;
};

// The snapshot of the current row of a `SELECT stream, revision, schema_version,
// event_hash, taken_at_us, state, checksum`, a view into SQLite's buffers. A
// malformed hash or checksum column is left zero: the checksum then fails, and
// the store reports the snapshot as not intact instead of failing the read.
SnapshotView RowToSnapshot(sqlite3_stmt* stmt) {
  SnapshotView snapshot;
  snapshot.stream = ColumnBytes(stmt, 0);
  snapshot.revision = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1));
  snapshot.schema_version = static_cast<std::uint32_t>(sqlite3_column_int64(stmt, 2));
  std::string_view hash = ColumnBytes(stmt, 3);
  if (hash.size() == snapshot.event_hash.size()) std::memcpy(snapshot.event_hash.data(), hash.data(), hash.size());
  snapshot.taken_at_us = sqlite3_column_int64(stmt, 4);
  snapshot.state = ColumnBytes(stmt, 5);
  std::string_view checksum = ColumnBytes(stmt, 6);
  if (checksum.size() == snapshot.checksum.size()) {
    std::memcpy(snapshot.checksum.data(), checksum.data(), checksum.size());
  }
  return snapshot;
}

// Decodes the current row of a `SELECT kEventColumns` into a view into SQLite's buffers.
Result<EventView> RowToEvent(sqlite3_stmt* stmt) {
  EventView event;
  event.position = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0));
  event.stream = ColumnBytes(stmt, 1);
  event.revision = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 2));
  std::string_view id = ColumnBytes(stmt, 3);
  event.type = ColumnBytes(stmt, 4);
  event.recorded_at_us = sqlite3_column_int64(stmt, 5);
  event.content_type = ColumnBytes(stmt, 6);
  event.data = ColumnBytes(stmt, 7);
  event.metadata = ColumnBytes(stmt, 8);
  std::string_view hash = ColumnBytes(stmt, 9);
  if (id.size() != 16 || hash.size() != 32) {
    return Fail(ErrorCode::kCorruption, "the event at position " + std::to_string(event.position) +
                                            " has a malformed id or hash column");
  }
  event.id = EventId::FromBytes(id);
  std::memcpy(event.hash.data(), hash.data(), hash.size());
  return event;
}

// Steps `query` and hands each row to `visit` until it returns false or `limit` rows matched.
struct VisitOutcome {
  std::uint64_t visited = 0;
  std::uint64_t last_position = 0;
  bool stopped_early = false;
};
Result<VisitOutcome> VisitRows(sqlite3* db, Statement& query, std::uint64_t limit,
                               const std::function<bool(const EventView&)>& matches, const EventVisitor& visit) {
  VisitOutcome outcome;
  if (limit == 0) {
    outcome.stopped_early = true;
    return outcome;
  }
  while (true) {
    auto step = query.Next(db, "reading events");
    if (!step) return Fail(step.error());
    if (*step == Statement::Step::kDone) return outcome;
    auto event = RowToEvent(query.get());
    if (!event) return Fail(event.error());
    outcome.last_position = event->position;
    if (matches && !matches(*event)) continue;
    ++outcome.visited;
    if (!visit(*event) || outcome.visited >= limit) {
      outcome.stopped_early = true;
      return outcome;
    }
  }
}

class SqliteReader final : public Reader {
 public:
  explicit SqliteReader(std::unique_ptr<Connection> connection) : conn_(std::move(connection)) {}

  Result<std::uint64_t> ReadStream(std::string_view stream, const ReadStreamOptions& options,
                                   const EventVisitor& visit) override {
    bool forward = options.direction == Direction::kForward;
    auto stmt = conn_->Prepare(forward ? "SELECT position, stream, revision, event_id, type, recorded_at, "
                                         "content_type, data, metadata, hash FROM events "
                                         "WHERE stream = ?1 AND revision >= ?2 ORDER BY revision"
                                       : "SELECT position, stream, revision, event_id, type, recorded_at, "
                                         "content_type, data, metadata, hash FROM events "
                                         "WHERE stream = ?1 AND revision <= ?2 ORDER BY revision DESC");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    query.BindText(1, stream);
    query.Bind(2, ToSqlInt(options.from_revision.value_or(forward ? 0 : UINT64_MAX)));
    std::function<bool(const EventView&)> matches;
    if (!options.types.empty()) {
      matches = [&](const EventView& e) {
        return std::find(options.types.begin(), options.types.end(), e.type) != options.types.end();
      };
    }
    auto outcome = VisitRows(conn_->db(), query, options.max_count, matches, visit);
    if (!outcome) return Fail(outcome.error());
    return outcome->visited;
  }

  Result<LogScan> ReadLog(const ReadLogOptions& options, const EventVisitor& visit) override {
    // One read transaction, so that the head and the scan see the same snapshot.
    // It ends however the scan ends, a throwing visitor included.
    if (auto ok = conn_->Exec("BEGIN", "starting a read"); !ok) return Fail(ok.error());
    struct EndRead {
      Connection* conn;
      ~EndRead() { (void)conn->Exec("COMMIT", "ending a read"); }  // a read commits nothing
    } end_read{conn_.get()};
    return ReadLogInTransaction(options, visit);
  }

  Result<std::optional<StreamState>> GetStream(std::string_view stream) override { return conn_->GetStream(stream); }

  Result<ChainHead> GetHead() override { return conn_->GetHead(); }

  Status ForEachStream(const std::function<bool(std::string_view, const StreamState&)>& visit) override {
    auto stmt = conn_->Prepare("SELECT stream, head_revision, head_position, deleted FROM streams ORDER BY stream");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    while (true) {
      auto step = query.Next(conn_->db(), "reading streams");
      if (!step) return Fail(step.error());
      if (*step == Statement::Step::kDone) return {};
      StreamState state{.head_revision = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 1)),
                        .head_position = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 2)),
                        .deleted = sqlite3_column_int(query.get(), 3) != 0};
      if (!visit(ColumnBytes(query.get(), 0), state)) return {};
    }
  }

  Result<std::uint64_t> ReadSnapshots(std::string_view stream, const SnapshotVisitor& visit) override {
    // One read transaction: the table check and the rows see the same snapshot.
    auto transaction = ReadTransaction::Begin(conn_.get());
    if (!transaction) return Fail(transaction.error());
    auto present = conn_->HasSnapshotsTable();
    if (!present) return Fail(present.error());
    if (!*present) return 0;  // a store older than the table: no snapshots yet
    // Both walk the primary key's (stream, revision DESC) index: no sort, and no state copied into one.
    auto stmt = conn_->Prepare(stream.empty()
                                   ? "SELECT stream, revision, schema_version, event_hash, taken_at_us, state, checksum "
                                     "FROM snapshots ORDER BY stream, revision DESC"
                                   : "SELECT stream, revision, schema_version, event_hash, taken_at_us, state, checksum "
                                     "FROM snapshots WHERE stream = ?1 ORDER BY revision DESC");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    if (!stream.empty()) query.BindText(1, stream);
    std::uint64_t visited = 0;
    while (true) {
      auto step = query.Next(conn_->db(), "reading snapshots");
      if (!step) return Fail(step.error());
      if (*step == Statement::Step::kDone) return visited;
      ++visited;
      if (!visit(RowToSnapshot(query.get()))) return visited;
    }
  }

  Result<SchemaScan> ReadSchemas(std::string_view event_type, bool history, const SchemaVisitor& visit) override {
    // One read transaction: the generation and the rows see the same snapshot.
    auto transaction = ReadTransaction::Begin(conn_.get());
    if (!transaction) return Fail(transaction.error());
    auto generation = conn_->GetSchemaGeneration();
    if (!generation) return Fail(generation.error());
    auto visited = conn_->ReadSchemas(event_type, history, visit);
    if (!visited) return Fail(visited.error());
    return SchemaScan{.visited = *visited, .generation = *generation};
  }

  Result<std::uint64_t> PositionAtOrAfter(std::int64_t recorded_at_us) override {
    auto transaction = ReadTransaction::Begin(conn_.get());
    if (!transaction) return Fail(transaction.error());
    auto head = conn_->GetHead();
    if (!head) return Fail(head.error());
    if (head->position == 0 || head->recorded_at_us < recorded_at_us) return head->position + 1;
    auto stmt = conn_->Prepare("SELECT recorded_at FROM events WHERE position = ?1");
    if (!stmt) return Fail(stmt.error());
    // recorded_at never decreases along positions (1..head, no gaps): the answer is
    // in [low, high], and high's recorded_at is at or after the time.
    std::uint64_t low = 1, high = head->position;
    while (low < high) {
      const std::uint64_t middle = low + (high - low) / 2;
      Statement query(*stmt);
      query.Bind(1, ToSqlInt(middle));
      auto step = query.Next(conn_->db(), "reading the log");
      if (!step) return Fail(step.error());
      if (*step == Statement::Step::kDone) {
        return Fail(ErrorCode::kCorruption, "position " + std::to_string(middle) + " is missing from the log");
      }
      if (sqlite3_column_int64(query.get(), 0) >= recorded_at_us) {
        high = middle;
      } else {
        low = middle + 1;
      }
    }
    return low;
  }

  Result<std::vector<std::pair<std::string, std::string>>> ReadMeta(std::string_view prefix) override {
    auto stmt = conn_->Prepare("SELECT key, value FROM cairn_meta WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    query.BindText(1, prefix);
    std::vector<std::pair<std::string, std::string>> rows;
    while (true) {
      auto step = query.Next(conn_->db(), "reading cairn_meta");
      if (!step) return Fail(step.error());
      if (*step == Statement::Step::kDone) return rows;
      rows.emplace_back(ColumnBytes(query.get(), 0), ColumnBytes(query.get(), 1));
    }
  }

  Result<std::uint64_t> ChangeCounter() override {
    auto version = conn_->QueryInt("PRAGMA data_version", "checking for new commits");
    if (!version) return Fail(version.error());
    return static_cast<std::uint64_t>(*version);
  }

 private:
  Result<LogScan> ReadLogInTransaction(const ReadLogOptions& options, const EventVisitor& visit) {
    auto head = conn_->GetHead();
    if (!head) return Fail(head.error());
    const char* sql = options.filter.category.empty()
                          ? "SELECT position, stream, revision, event_id, type, recorded_at, content_type, data, "
                            "metadata, hash FROM events WHERE position >= ?1 AND position <= ?2 ORDER BY position"
                          : "SELECT position, stream, revision, event_id, type, recorded_at, content_type, data, "
                            "metadata, hash FROM events WHERE category = ?3 AND position >= ?1 AND position <= ?2 "
                            "ORDER BY position";
    auto stmt = conn_->Prepare(sql);
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    query.Bind(1, ToSqlInt(options.from_position));
    query.Bind(2, ToSqlInt(options.to_position));
    if (!options.filter.category.empty()) query.BindText(3, options.filter.category);
    std::function<bool(const EventView&)> matches;
    if (!options.filter.types.empty()) {
      matches = [&](const EventView& e) { return options.filter.Matches(e); };
    }
    auto outcome = VisitRows(conn_->db(), query, options.max_count, matches, visit);
    if (!outcome) return Fail(outcome.error());
    // Stopped early: examined up to the last row read. Otherwise: everything in the snapshot.
    return LogScan{.visited = outcome->visited,
                   .scanned_through = outcome->stopped_early ? outcome->last_position
                                                             : std::min(head->position, options.to_position)};
  }

  std::unique_ptr<Connection> conn_;
};

class SqliteWriteTransaction final : public WriteTransaction {
 public:
  SqliteWriteTransaction(Connection* conn, std::unique_lock<std::mutex> lock)
      : conn_(conn), lock_(std::move(lock)) {}
  ~SqliteWriteTransaction() override {
    if (!finished_) (void)conn_->Exec("ROLLBACK", "rolling back");
  }

  Result<ChainHead> GetHead() override { return conn_->GetHead(); }

  Result<std::optional<StreamState>> GetStream(std::string_view stream) override { return conn_->GetStream(stream); }

  Result<std::optional<EventLocation>> FindEventId(const EventId& id) override {
    auto stmt = conn_->Prepare("SELECT stream, revision, position FROM events WHERE event_id = ?1");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    query.BindBlob(1, id.AsBytes());
    auto step = query.Next(conn_->db(), "looking up an event id");
    if (!step) return Fail(step.error());
    if (*step == Statement::Step::kDone) return std::optional<EventLocation>();
    return EventLocation{.stream = std::string(ColumnBytes(query.get(), 0)),
                         .revision = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 1)),
                         .position = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 2))};
  }

  Status InsertEvent(const EventView& event) override {
    auto stmt = conn_->Prepare(
        "INSERT INTO events (position, stream, revision, event_id, type, recorded_at, content_type, data, "
        "metadata, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!stmt) return Fail(stmt.error());
    Statement insert(*stmt);
    insert.Bind(1, ToSqlInt(event.position));
    insert.BindText(2, event.stream);
    insert.Bind(3, ToSqlInt(event.revision));
    insert.BindBlob(4, event.id.AsBytes());
    insert.BindText(5, event.type);
    insert.Bind(6, event.recorded_at_us);
    insert.BindText(7, event.content_type);
    // JSON is TEXT so that SQLite's JSON functions work on it; other content stays a BLOB.
    if (IsJsonContentType(event.content_type)) {
      insert.BindText(8, event.data);
    } else {
      insert.BindBlob(8, event.data);
    }
    if (event.metadata.empty()) {
      insert.BindNull(9);
    } else {
      insert.BindText(9, event.metadata);
    }
    insert.BindBlob(10, std::string_view(reinterpret_cast<const char*>(event.hash.data()), event.hash.size()));
    auto step = insert.Next(conn_->db(), "writing an event");
    if (!step) return Fail(step.error());
    return {};
  }

  Status PutStream(std::string_view stream, const StreamState& state) override {
    auto stmt = conn_->Prepare(
        "INSERT INTO streams (stream, category, head_revision, head_position, deleted) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (stream) DO UPDATE SET head_revision = excluded.head_revision, "
        "head_position = excluded.head_position, deleted = excluded.deleted");
    if (!stmt) return Fail(stmt.error());
    Statement upsert(*stmt);
    upsert.BindText(1, stream);
    upsert.BindText(2, CategoryOf(stream));
    upsert.Bind(3, ToSqlInt(state.head_revision));
    upsert.Bind(4, ToSqlInt(state.head_position));
    upsert.Bind(5, state.deleted ? 1 : 0);
    auto step = upsert.Next(conn_->db(), "writing a stream");
    if (!step) return Fail(step.error());
    return {};
  }

  // The writer's connection always has the snapshots table: OpenSqliteBackend
  // adds it to an older store when it opens it writable.
  Status PutSnapshot(const SnapshotView& snapshot) override {
    auto stmt = conn_->Prepare(
        "INSERT INTO snapshots (stream, revision, schema_version, event_hash, taken_at_us, state, checksum) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (stream, revision) DO UPDATE SET schema_version = excluded.schema_version, "
        "event_hash = excluded.event_hash, taken_at_us = excluded.taken_at_us, state = excluded.state, "
        "checksum = excluded.checksum");
    if (!stmt) return Fail(stmt.error());
    Statement upsert(*stmt);
    upsert.BindText(1, snapshot.stream);
    upsert.Bind(2, ToSqlInt(snapshot.revision));
    upsert.Bind(3, static_cast<std::int64_t>(snapshot.schema_version));
    upsert.BindBlob(4, std::string_view(reinterpret_cast<const char*>(snapshot.event_hash.data()),
                                        snapshot.event_hash.size()));
    upsert.Bind(5, snapshot.taken_at_us);
    upsert.BindBlob(6, snapshot.state);
    upsert.BindBlob(7, std::string_view(reinterpret_cast<const char*>(snapshot.checksum.data()),
                                        snapshot.checksum.size()));
    auto step = upsert.Next(conn_->db(), "writing a snapshot");
    if (!step) return Fail(step.error());
    return {};
  }

  Result<std::vector<SnapshotKey>> ListSnapshots(std::string_view stream) override {
    auto stmt = conn_->Prepare(stream.empty()
                                   ? "SELECT stream, revision FROM snapshots ORDER BY stream, revision DESC"
                                   : "SELECT stream, revision FROM snapshots WHERE stream = ?1 ORDER BY revision DESC");
    if (!stmt) return Fail(stmt.error());
    Statement query(*stmt);
    if (!stream.empty()) query.BindText(1, stream);
    std::vector<SnapshotKey> keys;
    while (true) {
      auto step = query.Next(conn_->db(), "listing snapshots");
      if (!step) return Fail(step.error());
      if (*step == Statement::Step::kDone) return keys;
      keys.push_back({.stream = std::string(ColumnBytes(query.get(), 0)),
                      .revision = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 1))});
    }
  }

  Status DeleteSnapshot(std::string_view stream, std::uint64_t revision) override {
    auto stmt = conn_->Prepare("DELETE FROM snapshots WHERE stream = ?1 AND revision = ?2");
    if (!stmt) return Fail(stmt.error());
    Statement erase(*stmt);
    erase.BindText(1, stream);
    erase.Bind(2, ToSqlInt(revision));
    auto step = erase.Next(conn_->db(), "deleting a snapshot");
    if (!step) return Fail(step.error());
    return {};
  }

  Result<std::uint64_t> GetSchemaGeneration() override { return conn_->GetSchemaGeneration(); }

  Status SetSchemaGeneration(std::uint64_t generation) override {
    auto stmt = conn_->Prepare(
        "INSERT INTO cairn_meta (key, value) VALUES ('schema_generation', ?1) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!stmt) return Fail(stmt.error());
    Statement upsert(*stmt);
    const std::string text = std::to_string(generation);
    upsert.BindText(1, text);
    auto step = upsert.Next(conn_->db(), "writing the schema generation");
    if (!step) return Fail(step.error());
    return {};
  }

  Result<std::uint64_t> ReadSchemas(std::string_view event_type, bool history, const SchemaVisitor& visit) override {
    return conn_->ReadSchemas(event_type, history, visit);
  }

  // The writer's connection always has the schemas table: OpenSqliteBackend
  // adds it to an older store when it opens it writable.
  Status PutSchema(const SchemaView& schema) override {
    auto stmt = conn_->Prepare(
        "INSERT INTO schemas (event_type, registration, registered_at, schema) VALUES (?1, ?2, ?3, ?4)");
    if (!stmt) return Fail(stmt.error());
    Statement insert(*stmt);
    insert.BindText(1, schema.event_type);
    insert.Bind(2, ToSqlInt(schema.registration));
    insert.Bind(3, schema.registered_at_us);
    insert.BindText(4, schema.schema);
    auto step = insert.Next(conn_->db(), "writing a schema");
    if (!step) return Fail(step.error());
    return {};
  }

  Result<std::uint64_t> DeleteSchemas(std::string_view event_type) override {
    auto stmt = conn_->Prepare("DELETE FROM schemas WHERE event_type = ?1");
    if (!stmt) return Fail(stmt.error());
    Statement erase(*stmt);
    erase.BindText(1, event_type);
    auto step = erase.Next(conn_->db(), "deleting a schema");
    if (!step) return Fail(step.error());
    return static_cast<std::uint64_t>(sqlite3_changes(conn_->db()));
  }

  Status PutMeta(std::string_view key, std::string_view value) override {
    auto stmt = conn_->Prepare("INSERT INTO cairn_meta (key, value) VALUES (?1, ?2) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!stmt) return Fail(stmt.error());
    Statement upsert(*stmt);
    upsert.BindText(1, key);
    upsert.BindText(2, value);
    auto step = upsert.Next(conn_->db(), "writing cairn_meta");
    if (!step) return Fail(step.error());
    return {};
  }

  Status DeleteMeta(std::string_view key) override {
    auto stmt = conn_->Prepare("DELETE FROM cairn_meta WHERE key = ?1");
    if (!stmt) return Fail(stmt.error());
    Statement erase(*stmt);
    erase.BindText(1, key);
    auto step = erase.Next(conn_->db(), "deleting from cairn_meta");
    if (!step) return Fail(step.error());
    return {};
  }

  Status Commit() override {
    auto ok = conn_->Exec("COMMIT", "committing");
    if (!ok) return ok;  // the destructor rolls back
    finished_ = true;
    return {};
  }

 private:
  Connection* conn_;
  std::unique_lock<std::mutex> lock_;  // one write transaction per store object at a time
  bool finished_ = false;
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend(std::string path, const Options& options, std::unique_ptr<Connection> writer)
      : path_(std::move(path)), options_(options), writer_(std::move(writer)) {}

  std::string_view name() const override { return "sqlite"; }

  Result<std::unique_ptr<WriteTransaction>> BeginWrite() override {
    if (!writer_) return Fail(ErrorCode::kNotSupported, "the store " + path_ + " is open read-only");
    std::unique_lock lock(writer_mutex_);
    // IMMEDIATE takes the cross-process write lock now, waiting up to the busy timeout.
    if (auto ok = writer_->Exec("BEGIN IMMEDIATE", "starting a write"); !ok) return Fail(ok.error());
    return std::unique_ptr<WriteTransaction>(std::make_unique<SqliteWriteTransaction>(writer_.get(), std::move(lock)));
  }

  Result<std::unique_ptr<Reader>> OpenReader() override {
    auto conn = Connection::Open(path_, options_.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, options_);
    if (!conn) return Fail(conn.error());
    // Reads are served from the memory map when the OS allows it.
    if (auto ok = (*conn)->Exec("PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -16384", "configuring a reader");
        !ok) {
      return Fail(ok.error());
    }
    return std::unique_ptr<Reader>(std::make_unique<SqliteReader>(std::move(*conn)));
  }

  Result<StoreStats> Stats() override {
    auto conn = Connection::Open(path_, SQLITE_OPEN_READONLY, options_);
    if (!conn) return Fail(conn.error());
    if (auto ok = (*conn)->Exec("BEGIN", "starting a read"); !ok) return Fail(ok.error());
    StoreStats stats;
    stats.backend = "sqlite";
    stats.format_version = kFormatVersion;
    auto head = (*conn)->GetHead();
    if (!head) return Fail(head.error());
    stats.head_position = head->position;
    stats.last_recorded_at_us = head->recorded_at_us;
    auto streams = (*conn)->QueryInt("SELECT count(*) FROM streams", "counting streams");
    auto deleted = (*conn)->QueryInt("SELECT count(*) FROM streams WHERE deleted", "counting streams");
    auto first = (*conn)->QueryInt("SELECT recorded_at FROM events ORDER BY position LIMIT 1", "reading the log");
    if (!streams) return Fail(streams.error());
    if (!deleted) return Fail(deleted.error());
    if (!first) return Fail(first.error());
    stats.stream_count = static_cast<std::uint64_t>(*streams);
    stats.deleted_stream_count = static_cast<std::uint64_t>(*deleted);
    stats.first_recorded_at_us = *first;
    for (const char* suffix : {"", "-wal"}) {
      struct stat st {};
      if (::stat((path_ + suffix).c_str(), &st) == 0) stats.file_bytes += static_cast<std::uint64_t>(st.st_size);
    }
    return stats;
  }

 private:
  std::string path_;
  Options options_;
  std::mutex writer_mutex_;
  std::unique_ptr<Connection> writer_;  // null when read-only
};

std::uint32_t BigEndian32(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

// Decides from the file's first 100 bytes — without letting SQLite touch it —
// whether `path` is a cairn store this build can open.
Status CheckExistingFile(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kInvalidArgument, path + " is not a regular file");
  if (st.st_size == 0) return Fail(ErrorCode::kCorruption, path + " is an empty file, not a cairn store");
  std::ifstream file(path, std::ios::binary);
  if (!file) return Fail(ErrorCode::kIOError, "cannot read " + path + ": " + std::strerror(errno));
  unsigned char header[100] = {};
  file.read(reinterpret_cast<char*>(header), sizeof header);
  if (file.gcount() < static_cast<std::streamsize>(sizeof header) ||
      std::memcmp(header, "SQLite format 3", 16) != 0) {
    return Fail(ErrorCode::kCorruption, path + " is not a cairn store (it is not a SQLite database)");
  }
  auto application_id = static_cast<std::int32_t>(BigEndian32(header + 68));
  auto user_version = static_cast<std::int32_t>(BigEndian32(header + 60));
  if (application_id != kApplicationId) {
    return Fail(ErrorCode::kCorruption, path + " is a SQLite database but not a cairn store");
  }
  if (user_version > kFormatVersion) {
    return Fail(ErrorCode::kNotSupported, path + " is a cairn store of format " + std::to_string(user_version) +
                                              ", newer than this cairn (format " +
                                              std::to_string(kFormatVersion) + "); upgrade cairn to open it");
  }
  if (user_version < 1) return Fail(ErrorCode::kCorruption, path + " is a cairn store with no format version");
  return {};
}

// Writes the schema into a fresh file in rollback-journal mode, so that the
// header (application id, format version) is in the main file before WAL is on.
Status WriteSchema(const std::string& file, const Options& options) {
  auto conn = Connection::Open(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options);
  if (!conn) return Fail(conn.error());
  std::string ddl = std::string("PRAGMA synchronous = FULL; BEGIN EXCLUSIVE;") + kSchema + kSnapshotsSchema + kSchemasSchema +
                    "PRAGMA application_id = " + std::to_string(kApplicationId) +
                    ";\nPRAGMA user_version = " + std::to_string(kFormatVersion) + ";\n" +
                    "INSERT INTO cairn_meta (key, value) VALUES ('format_version', '" +
                    std::to_string(kFormatVersion) + "'), ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));"
                    "COMMIT;";
  return (*conn)->Exec(ddl.c_str(), "creating the store");
}

// Creates a store at `path` atomically: the schema is written to a temporary
// file beside it, which is then linked into place. A crash leaves either no
// store or a complete one (never an empty file that Open would refuse), and of
// two racing creators one wins and the other opens its store.
Status CreateStoreFile(const std::string& path, const Options& options) {
  std::string temp = path + ".creating-" + std::to_string(::getpid());
  ::unlink(temp.c_str());
  auto written = WriteSchema(temp, options);
  if (written && ::link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    written = Fail(ErrorCode::kIOError, "cannot create " + path + ": " + std::strerror(errno));
  }
  ::unlink(temp.c_str());
  if (!written) return written;
  // Make the new directory entry itself durable.
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path, const Options& options) {
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) {
    return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
  }
  if (exists) {
    if (auto ok = CheckExistingFile(path, st); !ok) return Fail(ok.error());
  } else if (!options.create_if_missing || options.read_only) {
    return Fail(ErrorCode::kNotFound, "no store at " + path);
  }

  if (!exists) {
    if (auto ok = CreateStoreFile(path, options); !ok) return Fail(ok.error());
    // Someone else may have won the race with another kind of file: check what is there now.
    if (::stat(path.c_str(), &st) != 0) return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
    if (auto ok = CheckExistingFile(path, st); !ok) return Fail(ok.error());
  }

  std::unique_ptr<Connection> writer;
  if (!options.read_only) {
    auto conn = Connection::Open(path, SQLITE_OPEN_READWRITE, options);
    if (!conn) return Fail(conn.error());
    writer = std::move(*conn);
    // Re-check through SQLite, which also sees what is still in the write-ahead log.
    auto application_id = writer->QueryInt("PRAGMA application_id", "opening the store");
    if (!application_id) return Fail(application_id.error());
    if (*application_id != kApplicationId) {
      return Fail(ErrorCode::kCorruption, path + " is not a cairn store");
    }
    std::string pragmas = std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = ") +
                          (options.durability == Durability::kFull ? "FULL" : "NORMAL") +
                          "; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;";
    if (auto ok = writer->Exec(pragmas.c_str(), "configuring the store"); !ok) return Fail(ok.error());
    // A format-1 store created before the snapshots table existed gets it now
    // (backward compatible: older cairn builds ignore it). Checked first, so
    // that opening a store that has it never takes the write lock.
    auto has_snapshots = writer->HasSnapshotsTable();
    if (!has_snapshots) return Fail(has_snapshots.error());
    if (!*has_snapshots) {
      if (auto ok = writer->Exec(kSnapshotsSchema, "adding the snapshots table"); !ok) return Fail(ok.error());
      has_snapshots = writer->HasSnapshotsTable();
      if (!has_snapshots) return Fail(has_snapshots.error());
    }
    // The same for the schemas table.
    auto has_schemas = writer->HasSchemasTable();
    if (!has_schemas) return Fail(has_schemas.error());
    if (!*has_schemas) {
      if (auto ok = writer->Exec(kSchemasSchema, "adding the schemas table"); !ok) return Fail(ok.error());
      has_schemas = writer->HasSchemasTable();
      if (!has_schemas) return Fail(has_schemas.error());
    }
  }
  return std::unique_ptr<Backend>(std::make_unique<SqliteBackend>(path, options, std::move(writer)));
}

}  // namespace cairn::detail
