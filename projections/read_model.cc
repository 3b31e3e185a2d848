// The read-model database: its format, its shadows, the swap, and reading it
// without running anything (ReadProjectionStatuses, ListParkedEvents).
#include "read_model.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

namespace cairn {
namespace projection_detail {

namespace {

// The meta tables, in a read model and in each shadow. Do not change existing
// columns: other processes (the CLI) read them.
constexpr const char* kMetaSchema = R"sql(
CREATE TABLE cairn_read_model (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE cairn_projections (
  name              TEXT PRIMARY KEY,
  version           INTEGER NOT NULL,
  position          INTEGER NOT NULL,
  state             TEXT NOT NULL,
  updated_at_us     INTEGER NOT NULL,
  last_error        TEXT NOT NULL DEFAULT '',
  generation        INTEGER NOT NULL DEFAULT 0,
  rebuild_requested INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE cairn_parked (
  projection   TEXT NOT NULL,
  position     INTEGER NOT NULL,
  stream       TEXT NOT NULL,
  revision     INTEGER NOT NULL,
  type         TEXT NOT NULL,
  error        TEXT NOT NULL,
  attempts     INTEGER NOT NULL,
  parked_at_us INTEGER NOT NULL,
  PRIMARY KEY (projection, position)
) WITHOUT ROWID;
CREATE TABLE cairn_projection_objects (
  projection TEXT NOT NULL,
  type       TEXT NOT NULL,
  name       TEXT NOT NULL COLLATE NOCASE,
  PRIMARY KEY (name, type)
) WITHOUT ROWID;
)sql";

constexpr const char* kProjectionColumns =
    "name, version, position, state, updated_at_us, last_error, generation, rebuild_requested";

constexpr std::chrono::milliseconds kBusyTimeout{30'000};

std::uint32_t BigEndian32(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

ProjectionRow RowFrom(const Statement& query) {
  return ProjectionRow{.name = query.Text(0),
                       .version = static_cast<std::uint32_t>(query.Int(1)),
                       .position = query.Uint(2),
                       .state = query.Text(3),
                       .updated_at_us = query.Int(4),
                       .last_error = query.Text(5),
                       .generation = query.Uint(6),
                       .rebuild_requested = query.Int(7) != 0};
}

void SyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// The value of `key` in `schema`.cairn_read_model; empty when missing.
Result<std::string> MetaValue(sqlite3* db, std::string_view schema, std::string_view key) {
  auto query = Statement::Prepare(db, "SELECT value FROM " + std::string(schema) + ".cairn_read_model WHERE key = ?1");
  if (!query) return Fail(query.error());
  query->Bind(1, key);
  auto row = query->Step("reading cairn_read_model");
  if (!row) return Fail(row.error());
  return *row ? query->Text(0) : std::string();
}

// Rolls back an open transaction unless released.
class RollbackGuard {
 public:
  explicit RollbackGuard(sqlite3* db) : db_(db) {}
  ~RollbackGuard() {
    if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) (void)Exec(db_, "ROLLBACK", "rolling back");
  }
  void Release() { db_ = nullptr; }
  RollbackGuard(const RollbackGuard&) = delete;
  RollbackGuard& operator=(const RollbackGuard&) = delete;

 private:
  sqlite3* db_;
};

}  // namespace

// ---- SQLite plumbing -------------------------------------------------------

Error SqliteError(sqlite3* db, int rc, std::string_view context) {
  std::string message = std::string(context) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error(ErrorCode::kBusy, message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error(ErrorCode::kCorruption, message);
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return Error(ErrorCode::kIOError, message);
    default:
      return Error(ErrorCode::kInvalidArgument, message);
  }
}

Status Exec(sqlite3* db, const std::string& sql, std::string_view context) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  Error error = SqliteError(db, rc, context);
  std::string text = std::string(context) + ": " + (message != nullptr ? message : sqlite3_errstr(rc));
  sqlite3_free(message);
  return Fail(Error(error.code(), std::move(text)));
}

std::string QuoteIdentifier(std::string_view name) {
  std::string quoted = "\"";
  for (char c : name) {
    quoted += c;
    if (c == '"') quoted += '"';
  }
  return quoted + "\"";
}

Status BindValues(sqlite3* db, sqlite3_stmt* stmt, std::span<const SqlValue> params) {
  const int count = sqlite3_bind_parameter_count(stmt);
  if (params.size() > static_cast<std::size_t>(count)) {
    return Fail(ErrorCode::kInvalidArgument, std::to_string(params.size()) + " parameters for a statement with " +
                                                 std::to_string(count) + ": " + sqlite3_sql(stmt));
  }
  static constexpr char kEmpty = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    int rc = std::visit(
        [&](const auto& value) -> int {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            return sqlite3_bind_null(stmt, index);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            return sqlite3_bind_int64(stmt, index, value);
          } else if constexpr (std::is_same_v<T, double>) {
            return sqlite3_bind_double(stmt, index, value);
          } else if constexpr (std::is_same_v<T, std::string>) {
            return sqlite3_bind_text64(stmt, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
          } else {
            // A null pointer would bind NULL: an empty blob needs a real one.
            return sqlite3_bind_blob64(stmt, index, value.bytes.empty() ? &kEmpty : value.bytes.data(),
                                       value.bytes.size(), SQLITE_STATIC);
          }
        },
        params[i]);
    if (rc != SQLITE_OK) return Fail(SqliteError(db, rc, "binding parameter " + std::to_string(index)));
  }
  return {};
}

SqlValue ColumnValue(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return std::int64_t{sqlite3_column_int64(stmt, column)};
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, column);
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      return std::string(text != nullptr ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
    }
    case SQLITE_BLOB: {
      const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt, column));
      return SqlBlob{std::string(bytes != nullptr ? bytes : "",
                                 static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)))};
    }
    default:
      return nullptr;
  }
}

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StatementHandle stmt(raw);
  if (rc != SQLITE_OK) return Fail(SqliteError(db, rc, "preparing \"" + std::string(sql) + "\""));
  return Statement(db, std::move(stmt));
}

Statement& Statement::Bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_.get(), index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::uint64_t value) {
  return Bind(index, static_cast<std::int64_t>(std::min<std::uint64_t>(value, INT64_MAX)));
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Result<bool> Statement::Step(std::string_view context) {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = SqliteError(db_, rc, context);
  sqlite3_reset(stmt_.get());
  return Fail(std::move(error));
}

Status Statement::Run(std::string_view context) {
  for (;;) {
    auto row = Step(context);
    if (!row) return Fail(row.error());
    if (!*row) break;
  }
  Reset();
  return {};
}

void Statement::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::uint64_t Statement::Uint(int column) const {
  const std::int64_t value = Int(column);
  return value < 0 ? 0 : static_cast<std::uint64_t>(value);
}

std::string Statement::Text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), column));
  return std::string(text != nullptr ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column)));
}

Result<SqliteHandle> OpenConnection(const std::string& path, OpenMode mode, bool create) {
  int flags = mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create) flags |= SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_EXRESCODE, nullptr);
  SqliteHandle db(raw);  // owns the handle even when the open failed
  if (rc != SQLITE_OK) return Fail(SqliteError(db.get(), rc, "cannot open " + path));
  sqlite3_busy_timeout(db.get(), static_cast<int>(kBusyTimeout.count()));
  if (mode != OpenMode::kReadOnly && !create) {
    const char* pragmas = mode == OpenMode::kDurable ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                                          : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
    if (auto ok = Exec(db.get(), pragmas, "configuring " + path); !ok) return Fail(ok.error());
  }
  return db;
}

// ---- The handlers' writer ----------------------------------------------------

Result<SqlWriter::Cached*> SqlWriter::Find(std::string_view sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return &it->second;
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw, &tail);
  StatementHandle stmt(raw);
  if (rc != SQLITE_OK) return Fail(SqliteError(db_, rc, "preparing \"" + std::string(sql) + "\""));
  if (!stmt) return Fail(ErrorCode::kInvalidArgument, "no SQL statement in \"" + std::string(sql) + "\"");
  // Only whitespace and comments may follow the statement.
  const std::size_t used = static_cast<std::size_t>(tail - sql.data());
  if (used < sql.size()) {
    sqlite3_stmt* next = nullptr;
    rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(sql.size() - used), &next, nullptr);
    StatementHandle rest(next);
    if (rc != SQLITE_OK || rest) {
      return Fail(ErrorCode::kInvalidArgument, "more than one SQL statement in \"" + std::string(sql) + "\"");
    }
  }
  return &cache_.emplace(std::string(sql), Cached{.stmt = std::move(stmt)}).first->second;
}

Status SqlWriter::Execute(std::string_view sql, std::span<const SqlValue> params) {
  auto cached = Find(sql);
  if (!cached) return Fail(cached.error());
  sqlite3_stmt* stmt = (*cached)->stmt.get();
  Status result = BindValues(db_, stmt, params);
  while (result) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) result = Fail(SqliteError(db_, rc, "executing \"" + std::string(sql) + "\""));
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return result;
}

Result<std::vector<std::vector<SqlValue>>> SqlWriter::Query(std::string_view sql, std::span<const SqlValue> params) {
  auto cached = Find(sql);
  if (!cached) return Fail(cached.error());
  sqlite3_stmt* stmt = (*cached)->stmt.get();
  std::vector<std::vector<SqlValue>> rows;
  Status result = BindValues(db_, stmt, params);
  while (result) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      result = Fail(SqliteError(db_, rc, "querying \"" + std::string(sql) + "\""));
      break;
    }
    const int columns = sqlite3_column_count(stmt);
    auto& row = rows.emplace_back();
    row.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) row.push_back(ColumnValue(stmt, c));
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (!result) return Fail(result.error());
  return rows;
}

Result<sqlite3_stmt*> SqlWriter::Prepare(std::string_view sql) {
  auto cached = Find(sql);
  if (!cached) return Fail(cached.error());
  (*cached)->handed_out = true;
  sqlite3_stmt* stmt = (*cached)->stmt.get();
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  handed_out_.push_back(stmt);
  return stmt;
}

void SqlWriter::AfterHandler() {
  for (sqlite3_stmt* stmt : handed_out_) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
  handed_out_.clear();
  // A handler that builds its SQL text per event would grow the cache forever.
  constexpr std::size_t kMaxCachedStatements = 256;
  if (cache_.size() > kMaxCachedStatements) {
    std::erase_if(cache_, [](const auto& entry) { return !entry.second.handed_out; });
  }
}

// ---- The file format -------------------------------------------------------

Status CheckReadModelFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no read model at " + path);
    return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kInvalidArgument, path + " is not a regular file");
  if (st.st_size == 0) return Fail(ErrorCode::kCorruption, path + " is an empty file, not a cairn read model");
  std::ifstream file(path, std::ios::binary);
  if (!file) return Fail(ErrorCode::kIOError, "cannot read " + path + ": " + std::strerror(errno));
  unsigned char header[100] = {};
  file.read(reinterpret_cast<char*>(header), sizeof header);
  const auto got = static_cast<std::size_t>(file.gcount());
  if (got < sizeof header || std::memcmp(header, "SQLite format 3", 16) != 0) {
    // LMDB's first meta page: a 16-byte page header, then the magic 0xBEEFC0DE (machine byte order).
    constexpr std::uint32_t kLmdbMagic = 0xBEEFC0DE;
    std::uint32_t magic = 0;
    if (got >= 24) std::memcpy(&magic, header + 16, sizeof magic);
    if (magic == kLmdbMagic) {
      return Fail(ErrorCode::kInvalidArgument,
                  path + " is an LMDB environment (an event store?), not a read model: give the read model a file of its own");
    }
    return Fail(ErrorCode::kCorruption, path + " is not a cairn read model (it is not a SQLite database)");
  }
  const auto application_id = static_cast<std::int32_t>(BigEndian32(header + 68));
  const auto user_version = static_cast<std::int32_t>(BigEndian32(header + 60));
  if (std::memcmp(header + 68, "cair", 4) == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                path + " is a cairn event store, not a read model: give the read model a file of its own");
  }
  if (application_id != kReadModelApplicationId) {
    return Fail(ErrorCode::kCorruption, path + " is a SQLite database but not a cairn read model");
  }
  if (user_version > kReadModelFormat) {
    return Fail(ErrorCode::kNotSupported, path + " is a cairn read model of format " + std::to_string(user_version) +
                                              ", newer than this cairn (format " + std::to_string(kReadModelFormat) +
                                              ")");
  }
  if (user_version < 1) return Fail(ErrorCode::kCorruption, path + " is a cairn read model with no format version");
  return {};
}

namespace {

// Creates a database at `path` atomically: written with one transaction to a
// file beside it (no fsync per step), synced once, switched to WAL, then
// linked into place and the directory synced. A crash leaves the file complete
// or absent (and at worst a "<path>.creating-<pid>" file). The header
// (application id, format) is in the main file before WAL is on. `fill` adds
// what goes into the same transaction after the meta tables.
Status CreateDatabaseFile(const std::string& path, std::string_view role, std::string_view read_model_id,
                          std::string_view projection, const std::function<Status(sqlite3*)>& fill) {
  const std::string temp = path + ".creating-" + std::to_string(::getpid());
  RemoveDatabaseFiles(temp);
  Status written = [&]() -> Status {
    auto db = OpenConnection(temp, OpenMode::kDurable, /*create=*/true);
    if (!db) return Fail(db.error());
    const std::string script = "PRAGMA synchronous = OFF; BEGIN; PRAGMA application_id = " +
                               std::to_string(kReadModelApplicationId) + "; PRAGMA user_version = " +
                               std::to_string(kReadModelFormat) + ";" + kMetaSchema;
    if (auto ok = Exec(db->get(), script, "creating " + path); !ok) return ok;
    auto insert = Statement::Prepare(db->get(), "INSERT INTO cairn_read_model (key, value) VALUES (?1, ?2)");
    if (!insert) return Fail(insert.error());
    const std::pair<std::string_view, std::string> rows[] = {
        {"format_version", std::to_string(kReadModelFormat)},
        {"role", std::string(role)},
        {"id", std::string(read_model_id)},
        {"projection", std::string(projection)},
        {"created_at_us", std::to_string(NowMicros())},
    };
    for (const auto& [key, value] : rows) {
      if (key == "projection" && value.empty()) continue;
      insert->Bind(1, key).Bind(2, value);
      if (auto ok = insert->Run("writing cairn_read_model"); !ok) return ok;
    }
    if (fill) {
      if (auto ok = fill(db->get()); !ok) return ok;
    }
    if (auto ok = Exec(db->get(), "COMMIT; PRAGMA journal_mode = WAL;", "creating " + path); !ok) return ok;
    db->reset();  // closing checkpoints the WAL into the file
    const int fd = ::open(temp.c_str(), O_RDONLY);
    if (fd < 0 || ::fsync(fd) != 0) {
      if (fd >= 0) ::close(fd);
      return Fail(ErrorCode::kIOError, "cannot sync " + temp + ": " + std::strerror(errno));
    }
    ::close(fd);
    return {};
  }();
  if (written && ::link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    written = Fail(ErrorCode::kIOError, "cannot create " + path + ": " + std::strerror(errno));
  }
  RemoveDatabaseFiles(temp);
  if (written) SyncDirectoryOf(path);
  return written;
}

}  // namespace

Status CreateReadModelFile(const std::string& path) {
  return CreateDatabaseFile(path, "read-model", EventId::NewV7().ToString(), "", nullptr);
}

Result<std::string> ReadModelId(sqlite3* db, const std::string& path) {
  auto query = Statement::Prepare(db, "PRAGMA application_id");
  if (!query) return Fail(query.error());
  auto row = query->Step("reading the application id");
  if (!row) return Fail(row.error());
  if (!*row || query->Int(0) != kReadModelApplicationId) {
    return Fail(ErrorCode::kCorruption, path + " is not a cairn read model");
  }
  auto role = MetaValue(db, "main", "role");
  if (!role) return Fail(role.error());
  if (*role == "shadow") {
    return Fail(ErrorCode::kInvalidArgument, path + " is a projection's shadow, not a read model");
  }
  if (*role != "read-model") return Fail(ErrorCode::kCorruption, path + " is not a complete cairn read model");
  auto id = MetaValue(db, "main", "id");
  if (!id) return Fail(id.error());
  if (id->empty()) return Fail(ErrorCode::kCorruption, path + " has no read-model id");
  return *id;
}

Result<std::optional<ProjectionRow>> LoadProjectionRow(sqlite3* db, std::string_view name, std::string_view schema) {
  auto query = Statement::Prepare(db, std::string("SELECT ") + kProjectionColumns + " FROM " + std::string(schema) +
                                          ".cairn_projections WHERE name = ?1");
  if (!query) return Fail(query.error());
  query->Bind(1, name);
  auto row = query->Step("reading cairn_projections");
  if (!row) return Fail(row.error());
  if (!*row) return std::optional<ProjectionRow>();
  return std::optional<ProjectionRow>(RowFrom(*query));
}

Result<std::vector<ProjectionRow>> LoadProjectionRows(sqlite3* db) {
  auto query = Statement::Prepare(db, std::string("SELECT ") + kProjectionColumns + " FROM cairn_projections ORDER BY name");
  if (!query) return Fail(query.error());
  std::vector<ProjectionRow> rows;
  for (;;) {
    auto row = query->Step("reading cairn_projections");
    if (!row) return Fail(row.error());
    if (!*row) break;
    rows.push_back(RowFrom(*query));
  }
  return rows;
}

Result<std::uint64_t> CountParked(sqlite3* db, std::string_view projection) {
  auto query = Statement::Prepare(db, "SELECT count(*) FROM cairn_parked WHERE projection = ?1");
  if (!query) return Fail(query.error());
  query->Bind(1, projection);
  auto row = query->Step("counting parked events");
  if (!row) return Fail(row.error());
  return *row ? query->Uint(0) : 0;
}

// ---- Shadows ---------------------------------------------------------------

std::string ShadowPath(const std::string& read_model_path, std::string_view projection, std::uint32_t version) {
  return read_model_path + "." + std::string(projection) + ".v" + std::to_string(version) + ".shadow";
}

namespace {

// Calls `visit(file name without the prefix, full path)` for each file beside
// the read model whose name starts with "<read model>.<projection>.v".
void ForEachShadowFile(const std::string& read_model_path, std::string_view projection,
                       const std::function<void(std::string_view, const std::filesystem::path&)>& visit) {
  const std::filesystem::path model(read_model_path);
  std::filesystem::path dir = model.parent_path();
  if (dir.empty()) dir = ".";
  const std::string prefix = model.filename().string() + "." + std::string(projection) + ".v";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.starts_with(prefix)) visit(std::string_view(file).substr(prefix.size()), entry.path());
  }
}

}  // namespace

std::map<std::uint32_t, std::string> FindShadows(const std::string& read_model_path, std::string_view projection) {
  std::map<std::uint32_t, std::string> found;
  ForEachShadowFile(read_model_path, projection, [&](std::string_view rest, const std::filesystem::path&) {
    constexpr std::string_view kSuffix = ".shadow";  // rest is "<version>.shadow"
    if (!rest.ends_with(kSuffix)) return;
    const std::string_view digits = rest.substr(0, rest.size() - kSuffix.size());
    std::uint32_t version = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
    if (error != std::errc() || end != digits.data() + digits.size() || digits.empty()) return;
    found[version] = ShadowPath(read_model_path, projection, version);
  });
  return found;
}

void RemoveCreationLeftovers(const std::string& read_model_path, std::string_view projection) {
  ForEachShadowFile(read_model_path, projection, [](std::string_view rest, const std::filesystem::path& path) {
    // "<version>.shadow.creating-<pid>" (and its -journal, -wal, -shm), of a dead process only.
    constexpr std::string_view kMarker = ".shadow.creating-";
    const auto marker = rest.find(kMarker);
    if (marker == std::string_view::npos) return;
    const std::string_view pid_text = rest.substr(marker + kMarker.size());
    int pid = 0;
    std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
    if (pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) return;
    ::unlink(path.c_str());
  });
}

void RemoveDatabaseFiles(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

std::optional<ShadowInfo> ReadShadowInfo(const std::string& path, std::string_view projection,
                                         std::string_view read_model_id) {
  if (!CheckReadModelFile(path)) return std::nullopt;
  auto db = OpenConnection(path, OpenMode::kReadOnly);
  if (!db) return std::nullopt;
  auto role = MetaValue(db->get(), "main", "role");
  auto owner = MetaValue(db->get(), "main", "projection");
  auto id = MetaValue(db->get(), "main", "id");
  if (!role || *role != "shadow" || !owner || *owner != projection || !id ||
      (!read_model_id.empty() && *id != read_model_id)) {
    return std::nullopt;
  }
  auto row = LoadProjectionRow(db->get(), projection);
  if (!row || !*row) return std::nullopt;
  return ShadowInfo{.version = (*row)->version,
                    .position = (*row)->position,
                    .generation = (*row)->generation,
                    .state = (*row)->state,
                    .last_error = (*row)->last_error};
}

Status CreateShadow(const std::string& path, std::string_view read_model_id, const Projection& projection,
                    std::uint64_t generation) {
  RemoveDatabaseFiles(path);
  // The meta rows, the projection's schema and the checkpoint commit together.
  return CreateDatabaseFile(path, "shadow", read_model_id, projection.name, [&](sqlite3* db) -> Status {
    if (auto ok = Exec(db, projection.schema, "creating the schema of projection " + projection.name); !ok) return ok;
    auto insert = Statement::Prepare(db, std::string("INSERT INTO cairn_projections (") + kProjectionColumns +
                                             ") VALUES (?1, ?2, 0, 'rebuilding', ?3, '', ?4, 0)");
    if (!insert) return Fail(insert.error());
    insert->Bind(1, projection.name).Bind(2, std::int64_t{projection.version}).Bind(3, NowMicros()).Bind(4, generation);
    return insert->Run("writing the shadow's checkpoint");
  });
}

Result<std::vector<SchemaObject>> CheckSchema(std::string_view schema) {
  auto db = OpenConnection(":memory:", OpenMode::kRelaxed, /*create=*/true);
  if (!db) return Fail(db.error());
  if (auto ok = Exec(db->get(), "BEGIN", "checking the schema"); !ok) return Fail(ok.error());
  if (auto ok = Exec(db->get(), std::string(schema), "the schema fails"); !ok) {
    return Fail(ErrorCode::kInvalidArgument, ok.error().message());
  }
  if (sqlite3_get_autocommit(db->get()) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "the schema must not begin, commit or roll back transactions");
  }
  auto databases = Statement::Prepare(db->get(), "SELECT count(*) FROM pragma_database_list");
  auto temps = Statement::Prepare(db->get(), "SELECT count(*) FROM sqlite_temp_master");
  if (!databases || !temps) return Fail(!databases ? databases.error() : temps.error());
  if (!databases->Step("checking the schema").value_or(false) || databases->Int(0) > 2) {
    return Fail(ErrorCode::kInvalidArgument, "the schema must not attach databases");
  }
  if (!temps->Step("checking the schema").value_or(false) || temps->Int(0) > 0) {
    return Fail(ErrorCode::kInvalidArgument, "the schema must not create temporary objects");
  }
  auto query = Statement::Prepare(
      db->get(), "SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                 "ORDER BY rowid");
  if (!query) return Fail(query.error());
  std::vector<SchemaObject> objects;
  for (;;) {
    auto row = query->Step("listing the schema's objects");
    if (!row) return Fail(row.error());
    if (!*row) break;
    SchemaObject object{.type = query->Text(0), .name = query->Text(1)};
    if (StartsWithNoCase(object.name, "cairn_")) {
      return Fail(ErrorCode::kInvalidArgument,
                  "the schema creates " + object.type + " " + object.name + ": names starting with cairn_ are reserved");
    }
    if (StartsWithNoCase(query->Text(2), "CREATE VIRTUAL TABLE")) {
      return Fail(ErrorCode::kInvalidArgument,
                  "the schema creates virtual table " + object.name + ": virtual tables are not supported in read models");
    }
    objects.push_back(std::move(object));
  }
  return objects;
}

Status CheckOwnership(sqlite3* db, std::string_view projection, const std::vector<SchemaObject>& objects) {
  auto owner = Statement::Prepare(db, "SELECT projection FROM cairn_projection_objects WHERE name = ?1 AND projection <> ?2");
  auto existing = Statement::Prepare(
      db, "SELECT type FROM main.sqlite_master WHERE name = ?1 COLLATE NOCASE AND NOT EXISTS "
          "(SELECT 1 FROM cairn_projection_objects o WHERE o.name = ?1 AND o.projection = ?2)");
  if (!owner || !existing) return Fail(!owner ? owner.error() : existing.error());
  for (const auto& object : objects) {
    owner->Bind(1, object.name).Bind(2, projection);
    auto owned = owner->Step("checking table ownership");
    if (!owned) return Fail(owned.error());
    if (*owned) {
      std::string other = owner->Text(0);
      owner->Reset();
      return Fail(ErrorCode::kInvalidArgument, "projection " + std::string(projection) + " creates " + object.type +
                                                   " " + object.name + ", which belongs to projection " + other);
    }
    owner->Reset();
    existing->Bind(1, object.name).Bind(2, projection);
    auto exists = existing->Step("checking table ownership");
    if (!exists) return Fail(exists.error());
    if (*exists) {
      std::string type = existing->Text(0);
      existing->Reset();
      return Fail(ErrorCode::kInvalidArgument, "projection " + std::string(projection) + " creates " + object.type +
                                                   " " + object.name + ", but the read model already has a " + type +
                                                   " of that name that belongs to no projection");
    }
    existing->Reset();
  }
  return {};
}

namespace {

bool HasTable(sqlite3* db, std::string_view schema, std::string_view table) {
  auto query = Statement::Prepare(db, "SELECT count(*) FROM " + QuoteIdentifier(schema) +
                                          ".sqlite_master WHERE type = 'table' AND name = ?1");
  if (!query) return false;
  query->Bind(1, table);
  auto row = query->Step("looking for a table");
  return row && *row && query->Int(0) > 0;
}

// The model built in the shadow resumes a self-tracked source (Kafka) from the
// shadow's offsets: the read model's rows of the projection are replaced by
// them (or dropped, when the shadow was fed by a source without offsets).
Status ReplaceSourceOffsets(sqlite3* live, std::string_view projection) {
  const bool in_shadow = HasTable(live, "cairn_shadow", kSourceOffsetsTable);
  if (!in_shadow && !HasTable(live, "main", kSourceOffsetsTable)) return {};
  if (in_shadow) {
    std::string create(kSourceOffsetsSchema);
    create.replace(create.find("cairn_source_offsets"), 0, "main.");
    if (auto ok = Exec(live, create, "creating cairn_source_offsets"); !ok) return ok;
  }
  auto forget = Statement::Prepare(live, "DELETE FROM main.cairn_source_offsets WHERE projection = ?1");
  if (!forget) return Fail(forget.error());
  forget->Bind(1, projection);
  if (auto ok = forget->Run("replacing source offsets"); !ok) return ok;
  if (!in_shadow) return {};
  auto copy = Statement::Prepare(live,
                                 "INSERT INTO main.cairn_source_offsets (projection, topic, partition, next_offset, "
                                 "updated_at_us) SELECT projection, topic, partition, next_offset, updated_at_us "
                                 "FROM cairn_shadow.cairn_source_offsets WHERE projection = ?1");
  if (!copy) return Fail(copy.error());
  copy->Bind(1, projection);
  return copy->Run("replacing source offsets");
}

}  // namespace

Result<std::optional<ShadowInfo>> SwapIn(sqlite3* live, const std::string& shadow_path, std::string_view projection,
                                         std::string_view read_model_id, std::string_view state) {
  {
    auto attach = Statement::Prepare(live, "ATTACH DATABASE ?1 AS cairn_shadow");
    if (!attach) return Fail(attach.error());
    attach->Bind(1, shadow_path);
    if (auto ok = attach->Run("attaching the shadow " + shadow_path); !ok) return Fail(ok.error());
  }
  auto swapped = [&]() -> Result<std::optional<ShadowInfo>> {
    const std::string name(projection);
    if (auto ok = Exec(live, "BEGIN IMMEDIATE", "starting the swap"); !ok) return Fail(ok.error());
    RollbackGuard rollback(live);
    auto id = MetaValue(live, "cairn_shadow", "id");
    auto owner = MetaValue(live, "cairn_shadow", "projection");
    if (!id || !owner) return Fail(!id ? id.error() : owner.error());
    if (*id != read_model_id || *owner != projection) {
      return Fail(ErrorCode::kCorruption, shadow_path + " is not a shadow of " + name + " for this read model");
    }
    auto shadow_row = LoadProjectionRow(live, projection, "cairn_shadow");
    if (!shadow_row) return Fail(shadow_row.error());
    if (!*shadow_row) return Fail(ErrorCode::kCorruption, shadow_path + " has no checkpoint row");
    auto live_row = LoadProjectionRow(live, projection);
    if (!live_row) return Fail(live_row.error());
    const ShadowInfo info{.version = (*shadow_row)->version,
                          .position = (*shadow_row)->position,
                          .generation = (*shadow_row)->generation,
                          .state = std::string(state),
                          .last_error = (*shadow_row)->last_error};
    if (*live_row && (*live_row)->generation >= info.generation) return std::optional<ShadowInfo>();  // stale

    // The shadow's objects, in creation order.
    struct Object {
      std::string type, name, sql;
    };
    std::vector<Object> objects;
    {
      auto query = Statement::Prepare(live,
                                      "SELECT type, name, sql FROM cairn_shadow.sqlite_master "
                                      "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'cairn\\_%' ESCAPE '\\' "
                                      "ORDER BY rowid");
      if (!query) return Fail(query.error());
      for (;;) {
        auto row = query->Step("reading the shadow's schema");
        if (!row) return Fail(row.error());
        if (!*row) break;
        objects.push_back({query->Text(0), query->Text(1), query->IsNull(2) ? std::string() : query->Text(2)});
      }
    }
    std::vector<SchemaObject> names;
    for (const auto& object : objects) names.push_back({object.type, object.name});
    if (auto ok = CheckOwnership(live, projection, names); !ok) return Fail(ok.error());

    // Drop the old model: triggers and views first, tables last (their indexes go with them).
    std::vector<SchemaObject> old;
    {
      auto query = Statement::Prepare(live, "SELECT type, name FROM cairn_projection_objects WHERE projection = ?1");
      if (!query) return Fail(query.error());
      query->Bind(1, projection);
      for (;;) {
        auto row = query->Step("reading cairn_projection_objects");
        if (!row) return Fail(row.error());
        if (!*row) break;
        old.push_back({query->Text(0), query->Text(1)});
      }
    }
    for (const char* type : {"trigger", "view", "index", "table"}) {
      for (const auto& object : old) {
        if (object.type != type) continue;
        std::string upper = type;
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        if (auto ok = Exec(live, "DROP " + upper + " IF EXISTS main." + QuoteIdentifier(object.name),
                           "dropping " + object.type + " " + object.name);
            !ok) {
          return Fail(ok.error());
        }
      }
    }

    // Tables, then their rows, then indexes (built once over the copied rows), views and triggers.
    for (const auto& object : objects) {
      if (object.type != "table") continue;
      if (auto ok = Exec(live, object.sql, "creating table " + object.name); !ok) return Fail(ok.error());
      std::string columns;
      {
        auto query = Statement::Prepare(live, "PRAGMA cairn_shadow.table_xinfo(" + QuoteIdentifier(object.name) + ")");
        if (!query) return Fail(query.error());
        for (;;) {
          auto row = query->Step("reading the columns of " + object.name);
          if (!row) return Fail(row.error());
          if (!*row) break;
          if (query->Int(6) != 0) continue;  // hidden: generated columns are computed again
          if (!columns.empty()) columns += ", ";
          columns += QuoteIdentifier(query->Text(1));
        }
      }
      if (columns.empty()) continue;
      const std::string table = QuoteIdentifier(object.name);
      if (auto ok = Exec(live,
                         "INSERT INTO main." + table + " (" + columns + ") SELECT " + columns + " FROM cairn_shadow." +
                             table,
                         "copying the rows of " + object.name);
          !ok) {
        return Fail(ok.error());
      }
    }
    bool shadow_sequence = false;
    {
      auto query = Statement::Prepare(live, "SELECT 1 FROM cairn_shadow.sqlite_master WHERE name = 'sqlite_sequence'");
      if (!query) return Fail(query.error());
      auto row = query->Step("looking for sqlite_sequence");
      if (!row) return Fail(row.error());
      shadow_sequence = *row;
    }
    if (shadow_sequence) {  // AUTOINCREMENT counters carry on where the shadow left them
      for (const auto& object : objects) {
        if (object.type != "table") continue;
        auto erase = Statement::Prepare(live, "DELETE FROM main.sqlite_sequence WHERE name = ?1");
        auto copy = Statement::Prepare(live,
                                       "INSERT INTO main.sqlite_sequence (name, seq) "
                                       "SELECT name, seq FROM cairn_shadow.sqlite_sequence WHERE name = ?1");
        if (!erase || !copy) continue;  // main has no sqlite_sequence: no AUTOINCREMENT table
        erase->Bind(1, object.name);
        copy->Bind(1, object.name);
        if (auto ok = erase->Run("copying AUTOINCREMENT counters"); !ok) return Fail(ok.error());
        if (auto ok = copy->Run("copying AUTOINCREMENT counters"); !ok) return Fail(ok.error());
      }
    }
    for (const char* type : {"index", "view", "trigger"}) {
      for (const auto& object : objects) {
        if (object.type != type || object.sql.empty()) continue;
        if (auto ok = Exec(live, object.sql, "creating " + object.type + " " + object.name); !ok) return Fail(ok.error());
      }
    }

    // Bookkeeping: which objects are the projection's, its parked events, its checkpoint.
    auto forget = Statement::Prepare(live, "DELETE FROM cairn_projection_objects WHERE projection = ?1");
    auto own = Statement::Prepare(live, "INSERT INTO cairn_projection_objects (projection, type, name) VALUES (?1, ?2, ?3)");
    auto unpark = Statement::Prepare(live, "DELETE FROM main.cairn_parked WHERE projection = ?1");
    auto park = Statement::Prepare(
        live,
        "INSERT INTO main.cairn_parked (projection, position, stream, revision, type, error, attempts, parked_at_us) "
        "SELECT projection, position, stream, revision, type, error, attempts, parked_at_us "
        "FROM cairn_shadow.cairn_parked WHERE projection = ?1");
    auto checkpoint = Statement::Prepare(
        live, std::string("INSERT INTO cairn_projections (") + kProjectionColumns +
                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0) ON CONFLICT (name) DO UPDATE SET "
                  "version = excluded.version, position = excluded.position, state = excluded.state, "
                  "updated_at_us = excluded.updated_at_us, last_error = excluded.last_error, "
                  "generation = excluded.generation, rebuild_requested = 0");
    for (auto* stmt : {&forget, &own, &unpark, &park, &checkpoint}) {
      if (!*stmt) return Fail(stmt->error());
    }
    forget->Bind(1, projection);
    if (auto ok = forget->Run("updating cairn_projection_objects"); !ok) return Fail(ok.error());
    for (const auto& object : objects) {
      own->Bind(1, projection).Bind(2, object.type).Bind(3, object.name);
      if (auto ok = own->Run("updating cairn_projection_objects"); !ok) return Fail(ok.error());
    }
    unpark->Bind(1, projection);
    park->Bind(1, projection);
    if (auto ok = unpark->Run("replacing parked events"); !ok) return Fail(ok.error());
    if (auto ok = park->Run("replacing parked events"); !ok) return Fail(ok.error());
    if (auto ok = ReplaceSourceOffsets(live, projection); !ok) return Fail(ok.error());
    checkpoint->Bind(1, projection)
        .Bind(2, std::int64_t{info.version})
        .Bind(3, info.position)
        .Bind(4, state)
        .Bind(5, NowMicros())
        .Bind(6, info.last_error)
        .Bind(7, info.generation);
    if (auto ok = checkpoint->Run("writing the checkpoint"); !ok) return Fail(ok.error());
    if (auto ok = Exec(live, "COMMIT", "committing the swap"); !ok) return Fail(ok.error());
    rollback.Release();
    return std::optional<ShadowInfo>(info);
  }();
  (void)Exec(live, "DETACH DATABASE cairn_shadow", "detaching the shadow");
  return swapped;
}

std::optional<ProjectionState> ParseProjectionState(std::string_view text) {
  for (auto state : {ProjectionState::kCatchingUp, ProjectionState::kLive, ProjectionState::kRebuilding,
                     ProjectionState::kStopped, ProjectionState::kFailed}) {
    if (ProjectionStateName(state) == text) return state;
  }
  return std::nullopt;
}

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace projection_detail

// ---- Reading a read model without running anything -------------------------

namespace {

using namespace projection_detail;

// A read-only connection to an existing read model, and its id.
Result<std::pair<SqliteHandle, std::string>> OpenForReading(const std::string& path) {
  if (auto ok = CheckReadModelFile(path); !ok) return Fail(ok.error());
  auto db = OpenConnection(path, OpenMode::kReadOnly);
  if (!db) return Fail(db.error());
  auto id = ReadModelId(db->get(), path);
  if (!id) return Fail(id.error());
  return std::pair(std::move(*db), std::move(*id));
}

}  // namespace

Result<std::vector<ProjectionStatus>> ReadProjectionStatuses(const std::string& read_model_path) {
  auto opened = OpenForReading(read_model_path);
  if (!opened) return Fail(opened.error());
  sqlite3* db = opened->first.get();
  std::vector<ProjectionStatus> statuses;
  std::vector<std::uint64_t> generations;
  {
    // One read transaction: rows and parked counts from the same snapshot.
    if (auto ok = Exec(db, "BEGIN", "reading the read model"); !ok) return Fail(ok.error());
    RollbackGuard end(db);
    auto rows = LoadProjectionRows(db);
    if (!rows) return Fail(rows.error());
    for (const auto& row : *rows) {
      auto parked = CountParked(db, row.name);
      if (!parked) return Fail(parked.error());
      statuses.push_back(ProjectionStatus{.name = row.name,
                                          .version = row.version,
                                          .state = ParseProjectionState(row.state).value_or(ProjectionState::kStopped),
                                          .position = row.position,
                                          .parked = *parked,
                                          .last_error = row.last_error});
      generations.push_back(row.generation);
    }
  }
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    auto& status = statuses[i];
    // A shadow made for a later generation than the read model's is a rebuild in progress.
    for (const auto& [version, path] : FindShadows(read_model_path, status.name)) {
      auto info = ReadShadowInfo(path, status.name, opened->second);
      if (!info || info->generation <= generations[i]) continue;
      status.rebuilding_version = info->version;
      status.rebuild_position = info->position;
    }
  }
  return statuses;
}

Result<std::vector<ParkedEvent>> ListParkedEvents(const std::string& read_model_path,
                                                  std::optional<std::string_view> projection) {
  auto opened = OpenForReading(read_model_path);
  if (!opened) return Fail(opened.error());
  auto query = Statement::Prepare(opened->first.get(),
                                  "SELECT projection, position, stream, revision, type, error, attempts, parked_at_us "
                                  "FROM cairn_parked WHERE ?1 IS NULL OR projection = ?1 ORDER BY projection, position");
  if (!query) return Fail(query.error());
  if (projection) query->Bind(1, *projection);
  std::vector<ParkedEvent> parked;
  for (;;) {
    auto row = query->Step("reading cairn_parked");
    if (!row) return Fail(row.error());
    if (!*row) break;
    parked.push_back(ParkedEvent{.projection = query->Text(0),
                                 .position = query->Uint(1),
                                 .stream = query->Text(2),
                                 .revision = query->Uint(3),
                                 .type = query->Text(4),
                                 .error = query->Text(5),
                                 .attempts = static_cast<std::uint32_t>(query->Int(6)),
                                 .parked_at_us = query->Int(7)});
  }
  return parked;
}

}  // namespace cairn
