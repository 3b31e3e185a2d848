// Backend-specific tampering for the verify tests (see tamper.h).
//
// SQLite: the events table (position, stream, revision, event_id, type,
// recorded_at, content_type, data, metadata, hash) is protected by triggers
// that forbid UPDATE and DELETE. Like an attacker, we save the triggers, drop
// them, change the rows and put the triggers back, in one transaction.
//
// LMDB: the `events` sub-database maps a position (u64 big-endian) to a Cap'n
// Proto Event record (store/lmdb/records.capnp, docs/lmdb-layout.md). Like an
// attacker with the raw LMDB C API, we decode a record, change it and put it
// back, or delete it, in one write transaction. The write lock is cairn's flock
// on the data file, which every cairn writer takes before LMDB's own.
#include "tamper.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "conformance.h"
#include "lmdb/records.capnp.h"

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

struct LmdbEnvCloser {
  void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
};
using LmdbEnvHandle = std::unique_ptr<MDB_env, LmdbEnvCloser>;

cairn::Status LmdbFailure(int rc, const std::string& what) {
  return cairn::Fail(ErrorCode::kIOError, what + ": " + mdb_strerror(rc));
}

// Opens the LMDB store at `path` behind cairn's back and runs `body` on its
// sub-database `name` in one write transaction, committed when `body` succeeds.
cairn::Status WithLmdbDatabase(const std::string& path, const char* name,
                               const std::function<cairn::Status(MDB_txn*, MDB_dbi)>& body) {
  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw); rc != MDB_SUCCESS) return LmdbFailure(rc, "mdb_env_create");
  LmdbEnvHandle env(raw);  // closed even when the open fails
  mdb_env_set_maxdbs(raw, 8);
  if (int rc = mdb_env_open(raw, path.c_str(), MDB_NOSUBDIR, 0644); rc != MDB_SUCCESS) {
    return LmdbFailure(rc, "open " + path);
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(raw, nullptr, 0, &txn); rc != MDB_SUCCESS) return LmdbFailure(rc, "begin");
  MDB_dbi dbi = 0;
  if (int rc = mdb_dbi_open(txn, name, 0, &dbi); rc != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    return LmdbFailure(rc, std::string("open the ") + name + " sub-database");
  }
  if (auto changed = body(txn, dbi); !changed) {
    mdb_txn_abort(txn);
    return changed;
  }
  if (int rc = mdb_txn_commit(txn); rc != MDB_SUCCESS) return LmdbFailure(rc, "commit");
  return {};
}

cairn::Status WithLmdbEvents(const std::string& path, const std::function<cairn::Status(MDB_txn*, MDB_dbi)>& body) {
  return WithLmdbDatabase(path, "events", body);
}

// Flips one byte inside the first occurrence of `marker` in `bytes`; false when it is not there.
bool FlipInside(std::string& bytes, std::string_view marker) {
  auto at = bytes.find(marker);
  if (at == std::string::npos) return false;
  bytes[at + marker.size() / 2] ^= 0x01;
  return true;
}

cairn::Status SqliteDamageSnapshot(const std::string& path, std::string_view marker) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) return SqliteError(raw, "open " + path);
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(raw, "SELECT rowid, state FROM snapshots", -1, &select, nullptr) != SQLITE_OK) {
    return SqliteError(raw, "select snapshots");
  }
  Statement selecting(select);
  while (sqlite3_step(select) == SQLITE_ROW) {
    std::string state(static_cast<const char*>(sqlite3_column_blob(select, 1)),
                      static_cast<std::size_t>(sqlite3_column_bytes(select, 1)));
    if (!FlipInside(state, marker)) continue;
    const std::int64_t rowid = sqlite3_column_int64(select, 0);
    selecting.reset();
    sqlite3_stmt* update = nullptr;
    if (sqlite3_prepare_v2(raw, "UPDATE snapshots SET state = ?1 WHERE rowid = ?2", -1, &update, nullptr) != SQLITE_OK) {
      return SqliteError(raw, "update snapshots");
    }
    Statement updating(update);
    sqlite3_bind_blob(update, 1, state.data(), static_cast<int>(state.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(update, 2, rowid);
    if (sqlite3_step(update) != SQLITE_DONE) return SqliteError(raw, "update snapshots");
    return {};
  }
  return cairn::Fail(ErrorCode::kNotFound, "no snapshot state holds the marker");
}

cairn::Status LmdbDamageSnapshot(const std::string& path, std::string_view marker) {
  return WithLmdbDatabase(path, "snapshots", [&](MDB_txn* txn, MDB_dbi snapshots) -> cairn::Status {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn, snapshots, &cursor); rc != MDB_SUCCESS) return LmdbFailure(rc, "cursor");
    MDB_val key, value;
    for (int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      std::string record(static_cast<const char*>(value.mv_data), value.mv_size);
      if (!FlipInside(record, marker)) continue;
      std::string key_bytes(static_cast<const char*>(key.mv_data), key.mv_size);
      mdb_cursor_close(cursor);
      MDB_val put_key{key_bytes.size(), key_bytes.data()};
      MDB_val put_value{record.size(), record.data()};
      if (int put = mdb_put(txn, snapshots, &put_key, &put_value, 0); put != MDB_SUCCESS) {
        return LmdbFailure(put, "put the damaged snapshot");
      }
      return {};
    }
    mdb_cursor_close(cursor);
    return cairn::Fail(ErrorCode::kNotFound, "no snapshot record holds the marker");
  });
}

struct PositionKey {
  explicit PositionKey(std::uint64_t position) {
    for (int i = 7; i >= 0; --i, position >>= 8) bytes[i] = static_cast<unsigned char>(position & 0xFF);
  }
  MDB_val val() { return MDB_val{sizeof bytes, bytes}; }
  unsigned char bytes[8];
};

// An event record, decoded into owned fields.
struct LmdbEventRecord {
  std::uint64_t position = 0, revision = 0;
  std::int64_t recorded_at = 0;
  std::string id, hash, stream, type, content_type, data, metadata;
};

cairn::Result<LmdbEventRecord> LmdbReadEvent(MDB_txn* txn, MDB_dbi events, std::uint64_t position) {
  PositionKey key(position);
  MDB_val k = key.val(), v{};
  if (int rc = mdb_get(txn, events, &k, &v); rc != MDB_SUCCESS) {
    return std::unexpected(LmdbFailure(rc, "get position " + std::to_string(position)).error());
  }
  std::vector<capnp::word> words(v.mv_size / sizeof(capnp::word));  // aligned copy
  std::memcpy(words.data(), v.mv_data, words.size() * sizeof(capnp::word));
  capnp::FlatArrayMessageReader message(kj::arrayPtr(words.data(), words.size()));
  auto record = message.getRoot<cairn::detail::lmdb_records::Event>();
  auto bytes = [](capnp::Data::Reader data) {
    return std::string(reinterpret_cast<const char*>(data.begin()), data.size());
  };
  return LmdbEventRecord{.position = record.getPosition(),
                         .revision = record.getRevision(),
                         .recorded_at = record.getRecordedAt(),
                         .id = bytes(record.getId()),
                         .hash = bytes(record.getHash()),
                         .stream = record.getStream(),
                         .type = record.getType(),
                         .content_type = bytes(record.getContentType()),
                         .data = bytes(record.getData()),
                         .metadata = bytes(record.getMetadata())};
}

cairn::Status LmdbWriteEvent(MDB_txn* txn, MDB_dbi events, const LmdbEventRecord& event) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<cairn::detail::lmdb_records::Event>();
  auto data = [](const std::string& bytes) {
    return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(bytes.data()), bytes.size());
  };
  record.setPosition(event.position);
  record.setRevision(event.revision);
  record.setRecordedAt(event.recorded_at);
  record.setId(data(event.id));
  record.setHash(data(event.hash));
  record.setStream(event.stream);
  record.setType(event.type);
  record.setContentType(data(event.content_type));
  record.setData(data(event.data));
  if (!event.metadata.empty()) record.setMetadata(data(event.metadata));
  auto words = capnp::messageToFlatArray(message);
  PositionKey key(event.position);
  MDB_val k = key.val(), v{words.asBytes().size(), words.asBytes().begin()};
  if (int rc = mdb_put(txn, events, &k, &v, 0); rc != MDB_SUCCESS) return LmdbFailure(rc, "put");
  return {};
}

cairn::Status LmdbModifyEvent(const std::string& path, std::uint64_t position, TamperField field) {
  return WithLmdbEvents(path, [&](MDB_txn* txn, MDB_dbi events) -> cairn::Status {
    auto event = LmdbReadEvent(txn, events, position);
    if (!event) return std::unexpected(event.error());
    switch (field) {
      case TamperField::kData: event->data = "{\"tampered\":true}"; break;
      case TamperField::kType: event->type += ".tampered"; break;
      case TamperField::kMetadata: event->metadata = "{\"tampered\":true}"; break;
      case TamperField::kEventId: event->id.back() = static_cast<char>(event->id.back() ^ 0x01); break;
      case TamperField::kRecordedAt: event->recorded_at += 1; break;
      case TamperField::kHash: event->hash.back() = static_cast<char>(event->hash.back() ^ 0x01); break;
    }
    return LmdbWriteEvent(txn, events, *event);
  });
}

cairn::Status LmdbDeleteEvent(const std::string& path, std::uint64_t position) {
  return WithLmdbEvents(path, [&](MDB_txn* txn, MDB_dbi events) -> cairn::Status {
    PositionKey key(position);
    MDB_val k = key.val();
    if (int rc = mdb_del(txn, events, &k, nullptr); rc != MDB_SUCCESS) return LmdbFailure(rc, "del");
    return {};
  });
}

cairn::Status LmdbSwapData(const std::string& path, std::uint64_t a, std::uint64_t b) {
  return WithLmdbEvents(path, [&](MDB_txn* txn, MDB_dbi events) -> cairn::Status {
    auto first = LmdbReadEvent(txn, events, a);
    if (!first) return std::unexpected(first.error());
    auto second = LmdbReadEvent(txn, events, b);
    if (!second) return std::unexpected(second.error());
    std::swap(first->data, second->data);
    if (auto written = LmdbWriteEvent(txn, events, *first); !written) return written;
    return LmdbWriteEvent(txn, events, *second);
  });
}

// cairn's write lock: an exclusive flock on the data file, which every cairn
// writer holds around its LMDB write transaction (flock locks belong to the open
// file, so this conflicts with the store's own writer even in this process).
class LmdbWriteLock final : public ExternalWriteLock {
 public:
  explicit LmdbWriteLock(int fd) : fd_(fd) {}
  ~LmdbWriteLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

cairn::Result<std::unique_ptr<ExternalWriteLock>> LmdbAcquireWriteLock(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cairn::Fail(ErrorCode::kIOError, "open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX) != 0) {
    ::close(fd);
    return cairn::Fail(ErrorCode::kIOError, "flock " + path + ": " + std::strerror(errno));
  }
  return std::make_unique<LmdbWriteLock>(fd);
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
    case cairn::BackendKind::kLmdb: return LmdbModifyEvent(path, position, field);
    default: return NotImplemented();
  }
}

cairn::Status TamperDeleteEvent(const std::string& path, std::uint64_t position) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteDeleteEvent(path, position);
    case cairn::BackendKind::kLmdb: return LmdbDeleteEvent(path, position);
    default: return NotImplemented();
  }
}

cairn::Status TamperDamageSnapshot(const std::string& path, std::string_view marker) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteDamageSnapshot(path, marker);
    case cairn::BackendKind::kLmdb: return LmdbDamageSnapshot(path, marker);
    default: return NotImplemented();
  }
}

cairn::Status TamperSwapData(const std::string& path, std::uint64_t a, std::uint64_t b) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteSwapData(path, a, b);
    case cairn::BackendKind::kLmdb: return LmdbSwapData(path, a, b);
    default: return NotImplemented();
  }
}

cairn::Result<std::unique_ptr<ExternalWriteLock>> ExternalWriteLock::Acquire(const std::string& path) {
  switch (TestBackend()) {
    case cairn::BackendKind::kSqlite: return SqliteAcquireWriteLock(path);
    case cairn::BackendKind::kLmdb: return LmdbAcquireWriteLock(path);
    default: return std::unexpected(NotImplemented().error());
  }
}

}  // namespace cairn_test
