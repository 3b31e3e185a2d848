// Backend-specific tampering for the verify tests (see tamper.h).
//
// SQLite: the events table (position, stream, revision, event_id, type,
// recorded_at, content_type, data, metadata, hash) is protected by triggers
// that forbid UPDATE and DELETE. Like an attacker, we save the triggers, drop
// them, change the rows and put the triggers back, in one transaction.
#include "tamper.h"

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

cairn::Status SqliteError(sqlite3* db, const std::string& what) {
  return cairn::Fail(ErrorCode::kIOError, what + ": " + sqlite3_errmsg(db));
}

cairn::Status Exec(sqlite3* db, const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "?";
    sqlite3_free(message);
    return cairn::Fail(ErrorCode::kIOError, sql + ": " + text);
  }
  return {};
}

// Runs `sql` with the integer parameters bound in order; requires it to change
// exactly `expected_changes` rows (not checked when negative).
cairn::Status ExecChanging(sqlite3* db, const std::string& sql, const std::vector<std::int64_t>& params,
                           int expected_changes) {
  sqlite3_stmt* raw = nullptr;
  const int prepared = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  Statement statement(raw);
  if (prepared != SQLITE_OK) return SqliteError(db, "prepare " + sql);
  for (std::size_t i = 0; i < params.size(); ++i) {
    sqlite3_bind_int64(raw, static_cast<int>(i + 1), params[i]);
  }
  if (sqlite3_step(raw) != SQLITE_DONE) return SqliteError(db, "step " + sql);
  if (expected_changes >= 0 && sqlite3_changes(db) != expected_changes) {
    return cairn::Fail(ErrorCode::kInvalidArgument,
                       sql + ": changed " + std::to_string(sqlite3_changes(db)) + " rows");
  }
  return {};
}

// Opens the SQLite store at `path` behind cairn's back and runs `body` with its
// triggers dropped, all in one transaction.
cairn::Status WithSqliteTriggersDropped(const std::string& path, const std::function<cairn::Status(sqlite3*)>& body) {
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  SqliteHandle db(raw);  // owned even when the open failed
  if (opened != SQLITE_OK) return SqliteError(raw, "open " + path);
  sqlite3_busy_timeout(raw, 5000);
  if (auto begun = Exec(raw, "BEGIN IMMEDIATE"); !begun) return begun;

  std::vector<std::pair<std::string, std::string>> triggers;  // name, sql
  {
    sqlite3_stmt* listed = nullptr;
    if (sqlite3_prepare_v2(raw, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'", -1, &listed,
                           nullptr) != SQLITE_OK) {
      return SqliteError(raw, "list triggers");
    }
    Statement statement(listed);
    while (sqlite3_step(listed) == SQLITE_ROW) {
      triggers.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(listed, 0)),
                            reinterpret_cast<const char*>(sqlite3_column_text(listed, 1)));
    }
  }
  for (const auto& [name, sql] : triggers) {
    if (auto dropped = Exec(raw, "DROP TRIGGER \"" + name + "\""); !dropped) return dropped;
  }
  if (auto changed = body(raw); !changed) return changed;
  for (const auto& [name, sql] : triggers) {
    if (auto created = Exec(raw, sql); !created) return created;
  }
  return Exec(raw, "COMMIT");
}

// An expression that changes `column` whether it is stored as a blob or as text.
std::string ChangedValue(const std::string& column, int blob_bytes) {
  const std::string flipped_text = "substr(" + column + ", 1, length(" + column + ") - 1) || CASE substr(" +
                                   column + ", -1) WHEN '0' THEN '1' ELSE '0' END";
  return "CASE typeof(" + column + ") WHEN 'blob' THEN randomblob(" + std::to_string(blob_bytes) + ") ELSE " +
         flipped_text + " END";
}

cairn::Status SqliteModifyEvent(const std::string& path, std::uint64_t position, TamperField field) {
  std::string assignment;
  switch (field) {
    case TamperField::kData:
      assignment = "data = CASE typeof(data) WHEN 'blob' THEN CAST('{\"tampered\":true}' AS BLOB) "
                   "ELSE '{\"tampered\":true}' END";
      break;
    case TamperField::kType:
      assignment = "type = type || '.tampered'";
      break;
    case TamperField::kMetadata:
      assignment = "metadata = '{\"tampered\":true}'";
      break;
    case TamperField::kEventId:
      assignment = "event_id = " + ChangedValue("event_id", 16);
      break;
    case TamperField::kRecordedAt:
      assignment = "recorded_at = recorded_at + 1";
      break;
    case TamperField::kHash:
      assignment = "hash = " + ChangedValue("hash", 32);
      break;
  }
  return WithSqliteTriggersDropped(path, [&](sqlite3* db) {
    return ExecChanging(db, "UPDATE events SET " + assignment + " WHERE position = ?",
                        {static_cast<std::int64_t>(position)}, 1);
  });
}

cairn::Status SqliteDeleteEvent(const std::string& path, std::uint64_t position) {
  return WithSqliteTriggersDropped(path, [&](sqlite3* db) {
    return ExecChanging(db, "DELETE FROM events WHERE position = ?", {static_cast<std::int64_t>(position)}, 1);
  });
}

cairn::Status SqliteSwapData(const std::string& path, std::uint64_t a, std::uint64_t b) {
  return WithSqliteTriggersDropped(path, [&](sqlite3* db) -> cairn::Status {
    const auto pa = static_cast<std::int64_t>(a);
    const auto pb = static_cast<std::int64_t>(b);
    if (auto copied = ExecChanging(db, "CREATE TEMP TABLE swap AS SELECT position, data FROM events "
                                       "WHERE position IN (?, ?)", {pa, pb}, -1);
        !copied) {
      return copied;
    }
    return ExecChanging(db,
                        "UPDATE events SET data = (SELECT s.data FROM temp.swap s WHERE s.position = "
                        "CASE events.position WHEN ?1 THEN ?2 ELSE ?1 END) WHERE position IN (?1, ?2)",
                        {pa, pb}, 2);
  });
}

// An open connection inside BEGIN IMMEDIATE: SQLite's write lock (in WAL mode
// the WAL write lock), which SQLite enforces between connections of one process
// as between processes.
class SqliteWriteLock final : public ExternalWriteLock {
 public:
  explicit SqliteWriteLock(SqliteHandle db) : db_(std::move(db)) {}
  ~SqliteWriteLock() override { (void)Exec(db_.get(), "ROLLBACK"); }

 private:
  SqliteHandle db_;
};

cairn::Result<std::unique_ptr<ExternalWriteLock>> SqliteAcquireWriteLock(const std::string& path) {
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  SqliteHandle db(raw);
  if (opened != SQLITE_OK) return std::unexpected(SqliteError(raw, "open " + path).error());
  sqlite3_busy_timeout(raw, 5000);
  if (auto begun = Exec(raw, "BEGIN IMMEDIATE"); !begun) return std::unexpected(begun.error());
  return std::make_unique<SqliteWriteLock>(std::move(db));
}

cairn::Status NotImplemented() {
  return cairn::Fail(ErrorCode::kNotSupported,
                     "no tamper helper for backend '" + std::string(TestBackendName()) +
                         "': implement it in tests/conformance/tamper.cc");
}

}  // namespace

const char* TamperFieldName(TamperField field) {
  switch (field) {
    case TamperField::kData: return "data";
    case TamperField::kType: return "type";
    case TamperField::kMetadata: return "metadata";
    case TamperField::kEventId: return "event_id";
    case TamperField::kRecordedAt: return "recorded_at";
    case TamperField::kHash: return "hash";
  }
  return "?";
}

cairn::Status TamperModifyEvent(const std::string& path, std::uint64_t position, TamperField field) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteModifyEvent(path, position, field);
    default: return NotImplemented();
  }
}

cairn::Status TamperDeleteEvent(const std::string& path, std::uint64_t position) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteDeleteEvent(path, position);
    default: return NotImplemented();
  }
}

cairn::Status TamperSwapData(const std::string& path, std::uint64_t a, std::uint64_t b) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteSwapData(path, a, b);
    default: return NotImplemented();
  }
}

cairn::Result<std::unique_ptr<ExternalWriteLock>> ExternalWriteLock::Acquire(const std::string& path) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteAcquireWriteLock(path);
    default: return std::unexpected(NotImplemented().error());
  }
}

}  // namespace cairn_test
