// projections/read_model.h — internal: the read-model database, its shadows and
// the SQLite plumbing the runner uses (docs/projections.md describes the layout).
//
// A read model is one SQLite file (WAL, synchronous=FULL) holding the tables of
// one or more projections beside three meta tables. A shadow is a file of the
// same format next to it, `<read model>.<projection>.v<version>.shadow`, in which
// one projection's model is built from position 0; SwapIn() replaces the live
// objects with the shadow's in one read-model transaction.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/projection.h"

namespace cairn::projection_detail {

// ---- SQLite plumbing -------------------------------------------------------

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using StatementHandle = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// An Error for SQLite result `rc`, keeping sqlite3_errmsg: busy/locked → kBusy,
// corrupt/not-a-database → kCorruption, I/O, full, permission, cannot-open →
// kIOError, anything else (SQL errors, constraints) → kInvalidArgument.
Error SqliteError(sqlite3* db, int rc, std::string_view context);

// Runs a script of statements without parameters.
Status Exec(sqlite3* db, const std::string& sql, std::string_view context);

// Double-quotes an SQL identifier.
std::string QuoteIdentifier(std::string_view name);

// Binds params to ?1, ?2, … (kInvalidArgument when there are more than the statement has).
Status BindValues(sqlite3* db, sqlite3_stmt* stmt, std::span<const SqlValue> params);
SqlValue ColumnValue(sqlite3_stmt* stmt, int column);

// A statement for the runner's own queries: bind, step (row / done / error), read columns.
// Finalized on destruction.
class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);
  Statement(Statement&&) = default;
  Statement& operator=(Statement&&) = default;

  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::uint64_t value);
  Statement& Bind(int index, std::string_view text);
  // True: a row is there to read; false: done.
  Result<bool> Step(std::string_view context);
  // Steps to the end.
  Status Run(std::string_view context);
  void Reset();

  std::int64_t Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  std::uint64_t Uint(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }

 private:
  Statement(sqlite3* db, StatementHandle stmt) : db_(db), stmt_(std::move(stmt)) {}
  sqlite3* db_;
  StatementHandle stmt_;
};

// Opens a connection to an existing file (or creates it with `create`), with
// a busy timeout and, for a read model, WAL + synchronous=FULL (a shadow uses
// synchronous=NORMAL: losing its last batches to a power cut only costs time).
enum class OpenMode { kDurable, kRelaxed, kReadOnly };
Result<SqliteHandle> OpenConnection(const std::string& path, OpenMode mode, bool create = false);

// The ReadModelWriter handed to handlers: statements are prepared once per
// connection and cached by their text.
class SqlWriter final : public ReadModelWriter {
 public:
  explicit SqlWriter(sqlite3* db) : db_(db) {}
  ~SqlWriter() override = default;
  SqlWriter(const SqlWriter&) = delete;
  SqlWriter& operator=(const SqlWriter&) = delete;

  Status Execute(std::string_view sql, std::span<const SqlValue> params) override;
  Result<std::vector<std::vector<SqlValue>>> Query(std::string_view sql, std::span<const SqlValue> params) override;
  Result<sqlite3_stmt*> Prepare(std::string_view sql) override;
  sqlite3* db() override { return db_; }

  // After each handler call: resets what Prepare handed out, and trims the
  // cache when a handler keeps making new statements (never dropping one that
  // Prepare handed out: those stay valid for the connection's life).
  void AfterHandler();

 private:
  struct Cached {
    StatementHandle stmt;
    bool handed_out = false;  // by Prepare
  };
  Result<Cached*> Find(std::string_view sql);

  sqlite3* db_;
  std::map<std::string, Cached, std::less<>> cache_;
  std::vector<sqlite3_stmt*> handed_out_;
};

// ---- The file format -------------------------------------------------------

// 'crdm' — PRAGMA application_id of a read model or shadow. Do not change.
inline constexpr std::int32_t kReadModelApplicationId = 0x6372646d;
// PRAGMA user_version and cairn_read_model.format_version.
inline constexpr std::int32_t kReadModelFormat = 1;

// Decides from the first 100 bytes of an existing file, before SQLite touches
// it, whether it is a read-model database: kCorruption for anything else,
// kInvalidArgument for an event store (SQLite or LMDB), kNotSupported for a
// newer format, kNotFound when there is no file.
Status CheckReadModelFile(const std::string& path);

// Creates a read model at `path` atomically (written beside it, then linked
// into place); an existing file is left alone.
Status CreateReadModelFile(const std::string& path);

// Opens the read model's writable connection after CheckReadModelFile and
// checks through SQLite that it is one (not a shadow). Returns its id.
Result<std::string> ReadModelId(sqlite3* db, const std::string& path);

// The progress of sources that keep their own (SourceProgress; the Kafka
// source: the next offset to read of each partition), one row per projection
// and partition. Created by such a source, in the model it feeds, when it first
// needs it (read models of format 1 made before it lack it); a shadow's rows
// replace the projection's rows in the read model at the swap. Do not change
// existing columns: other processes read them.
inline constexpr std::string_view kSourceOffsetsTable = "cairn_source_offsets";
inline constexpr std::string_view kSourceOffsetsSchema =
    "CREATE TABLE IF NOT EXISTS cairn_source_offsets ("
    "projection TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, "
    "next_offset INTEGER NOT NULL, updated_at_us INTEGER NOT NULL, "
    "PRIMARY KEY (projection, topic, partition)) WITHOUT ROWID";

// A row of cairn_projections.
struct ProjectionRow {
  std::string name;
  std::uint32_t version = 0;
  std::uint64_t position = 0;
  std::string state;
  std::int64_t updated_at_us = 0;
  std::string last_error;
  std::uint64_t generation = 0;  // builds swapped in so far (shadows are made for generation + 1)
  bool rebuild_requested = false;
};
// `schema`: "main" or an attached database's name.
Result<std::optional<ProjectionRow>> LoadProjectionRow(sqlite3* db, std::string_view name,
                                                       std::string_view schema = "main");
Result<std::vector<ProjectionRow>> LoadProjectionRows(sqlite3* db);
Result<std::uint64_t> CountParked(sqlite3* db, std::string_view projection);

// ---- Shadows ---------------------------------------------------------------

std::string ShadowPath(const std::string& read_model_path, std::string_view projection, std::uint32_t version);
// The shadow files of `projection` next to the read model, by version.
std::map<std::uint32_t, std::string> FindShadows(const std::string& read_model_path, std::string_view projection);
// Deletes what a process killed while creating a shadow of `projection` left behind.
void RemoveCreationLeftovers(const std::string& read_model_path, std::string_view projection);
// Deletes a database file and its -wal, -shm and -journal.
void RemoveDatabaseFiles(const std::string& path);

struct ShadowInfo {
  std::uint32_t version = 0;
  std::uint64_t position = 0;
  std::uint64_t generation = 0;
  std::string state;
  std::string last_error;
};
// The shadow's checkpoint row; nullopt when the file is not a complete shadow
// of `projection` made for the read model `read_model_id` (empty: any).
std::optional<ShadowInfo> ReadShadowInfo(const std::string& path, std::string_view projection,
                                         std::string_view read_model_id);

// Creates a shadow for `projection` at `generation` with `schema` and a checkpoint at 0.
Status CreateShadow(const std::string& path, std::string_view read_model_id, const Projection& projection,
                    std::uint64_t generation);

// The objects (tables, indexes, views, triggers) a schema creates, in creation order.
struct SchemaObject {
  std::string type;
  std::string name;
};

// Runs `schema` in a scratch in-memory database; returns the objects it creates.
// kInvalidArgument for SQL errors, reserved names ("cairn_"), virtual tables, and
// transaction control in the script.
Result<std::vector<SchemaObject>> CheckSchema(std::string_view schema);

// kInvalidArgument when one of `objects` exists in the read model and is not `projection`'s.
Status CheckOwnership(sqlite3* db, std::string_view projection, const std::vector<SchemaObject>& objects);

// Replaces `projection`'s objects in the read model (`live`, which must not be in a
// transaction) with the shadow's at `shadow_path`, in one transaction that also
// sets the live checkpoint row to the shadow's version, position and generation
// and copies its parked events and its source offsets (cairn_source_offsets). Returns the shadow's row. kInvalidArgument when an
// object of the shadow belongs to someone else; nothing changes then. When the
// read model already has this generation (a swap that committed before a crash),
// nothing changes and nullopt is returned: the shadow is stale.
Result<std::optional<ShadowInfo>> SwapIn(sqlite3* live, const std::string& shadow_path, std::string_view projection,
                                         std::string_view read_model_id, std::string_view state);

std::optional<ProjectionState> ParseProjectionState(std::string_view text);
std::int64_t NowMicros();

}  // namespace cairn::projection_detail
