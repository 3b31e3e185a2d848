// Internal: one open LMDB environment of a cairn store, shared by everything in
// this process that uses that store — its backends, readers and subscriptions.
//
// LMDB allows one MDB_env per data file per process ("do not have open an LMDB
// database twice in the same process at the same time"): closing a second
// handle drops the process's fcntl locks on the lock file. So environments
// are looked up by the data file's (device, inode) in a process-wide table and
// shared, and the last user closes the handle. This is the one global in cairn,
// forced by LMDB.
//
// Locks, always taken in this order (no thread takes an earlier one while
// holding a later one):
//   writer_mutex()  one write transaction in this process at a time
//   the write flock  one cairn writer across processes, waited for up to
//                    busy_timeout (LMDB's own writer mutex waits forever)
//   dbi_mutex()      one transaction of this process at a time that may open
//                    a sub-database handle (mdb_dbi_open's rule); only while
//                    the `snapshots` handle is not known yet
//   gate()           shared by every transaction (read or write) for its whole
//                    life; exclusive while the memory map is resized, which
//                    LMDB allows only with no transaction active in the process
#pragma once

#include <lmdb.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>

#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn::detail::lmdb {

// "context: mdb_strerror text", with the ErrorCode that tells the caller what to do.
Error LmdbError(int rc, std::string_view context);

struct EnvCloser {
  void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
};
using EnvHandle = std::unique_ptr<MDB_env, EnvCloser>;

// A transaction that is aborted on destruction unless it was committed.
class Txn {
 public:
  Txn() = default;
  explicit Txn(MDB_txn* txn) : txn_(txn) {}
  Txn(Txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}
  Txn& operator=(Txn&& other) noexcept {
    Abort();
    txn_ = std::exchange(other.txn_, nullptr);
    return *this;
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { Abort(); }

  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }
  void Abort() noexcept {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  // LMDB frees the transaction whether the commit succeeds or not.
  int Commit() noexcept { return mdb_txn_commit(std::exchange(txn_, nullptr)); }

 private:
  MDB_txn* txn_ = nullptr;
};

// A cursor, closed on destruction (before its transaction ends).
class Cursor {
 public:
  static Result<Cursor> Open(MDB_txn* txn, MDB_dbi dbi);
  Cursor(Cursor&& other) noexcept : cursor_(std::exchange(other.cursor_, nullptr)) {}
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  // Returns MDB_SUCCESS, MDB_NOTFOUND (a normal outcome) or an error.
  int Get(MDB_val* key, MDB_val* data, MDB_cursor_op op) { return mdb_cursor_get(cursor_, key, data, op); }

 private:
  explicit Cursor(MDB_cursor* cursor) : cursor_(cursor) {}
  MDB_cursor* cursor_;
};

// The store's sub-databases (docs/lmdb-layout.md).
struct Databases {
  MDB_dbi meta = 0;            // "cairn_meta": magic, format_version, created_at
  MDB_dbi events = 0;          // position (u64 BE) -> Event record
  MDB_dbi stream_index = 0;    // (stream's first position, revision) (u64 BE each) -> position
  MDB_dbi event_ids = 0;       // 16-byte event id -> position
  MDB_dbi category_index = 0;  // category, 0, position (u64 BE) -> empty
  MDB_dbi streams = 0;         // stream name -> Stream record
  // `snapshots` (stream name, 0, revision (u64 BE) -> Snapshot record) is not
  // here: stores made before it existed lack it, and it may appear at any time
  // (another process's first snapshot). See Environment::snapshots_dbi().
};

// The name of the snapshots sub-database.
inline constexpr const char* kSnapshotsDb = "snapshots";

// The name of the schemas sub-database: (event type, 0, registration (u64 BE))
// -> Schema record. Optional like `snapshots`: see Environment::schemas_dbi().
inline constexpr const char* kSchemasDb = "schemas";
// The cairn_meta key of the schema generation (decimal text; absent = 0): raised
// by every schema write, read by every group commit (docs/lmdb-layout.md).
inline constexpr std::string_view kSchemaGenerationKey = "schema_generation";

// The value of cairn_meta's "magic": marks an LMDB environment as a cairn store.
inline constexpr std::string_view kMagic = "cairn event store";
// Format of the store's layout. Do not change the meaning of an existing version.
inline constexpr std::uint32_t kFormatVersion = 1;

class Environment {
 public:
  // The environment of the store at `path` (whose header has been checked):
  // the one already open in this process, or a newly opened one. Refuses an
  // LMDB environment that is not a cairn store, or of a newer format.
  static Result<std::shared_ptr<Environment>> Acquire(const std::string& path, const Options& options);

  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  MDB_env* env() const { return env_.get(); }
  const Databases& dbs() const { return dbs_; }
  bool read_only() const { return read_only_; }
  const std::string& path() const { return path_; }

  std::mutex& writer_mutex() { return writer_mutex_; }
  std::shared_timed_mutex& gate() { return gate_; }

  // Takes the cross-process cairn write lock (flock on the data file), waiting
  // up to `timeout`: kBusy when another writer keeps it. Release with UnlockWriting.
  Status LockForWriting(std::chrono::milliseconds timeout);
  void UnlockWriting();

  // Before a write transaction (writer_mutex held, gate not held): grows the
  // map when a write found it full (RequestGrowth) — waiting up to `timeout`
  // for this process's readers, else kBusy — or, opportunistically, when it is
  // more than 7/8 used.
  Status GrowIfNeeded(std::chrono::milliseconds timeout);
  void RequestGrowth() { growth_requested_ = true; }
  // After MDB_MAP_RESIZED (another process grew the map past ours; gate not
  // held): adopts the size recorded in the file.
  Status AdoptMapSize(std::chrono::milliseconds timeout);

  // Clears reader slots left by processes that died (mdb_reader_check).
  void ClearStaleReaders();

  // The handle of the `snapshots` sub-database, once this process has one.
  // nullopt: the store had no `snapshots` when last looked at (a store created
  // before it existed, until its first snapshot write): reads then see none,
  // FindSnapshotsDbi looks again, and a write transaction begun without the
  // handle holds dbi_mutex() so that it may open (and create) it.
  std::optional<MDB_dbi> snapshots_dbi() const {
    const std::int64_t dbi = snapshots_dbi_.load(std::memory_order_acquire);
    return dbi < 0 ? std::nullopt : std::optional<MDB_dbi>(static_cast<MDB_dbi>(dbi));
  }
  // Held by a transaction that calls mdb_dbi_open, until it ends (LMDB allows
  // one such transaction per process at a time). Before the gate in lock order.
  std::mutex& dbi_mutex() { return dbi_mutex_; }
  // Records the handle a transaction opened and then committed (dbi_mutex() held).
  void SetSnapshotsDbi(MDB_dbi dbi) { snapshots_dbi_.store(dbi, std::memory_order_release); }
  // Looks again for `snapshots` (another process may have created it): opens
  // its handle in a short read transaction whose commit makes it the
  // environment's. nullopt when the store still has none. Takes dbi_mutex(),
  // then the gate: call with neither held.
  Result<std::optional<MDB_dbi>> FindSnapshotsDbi(std::chrono::milliseconds timeout);

  // The same three for the `schemas` sub-database (stores created before it
  // existed lack it until their first schema write).
  std::optional<MDB_dbi> schemas_dbi() const {
    const std::int64_t dbi = schemas_dbi_.load(std::memory_order_acquire);
    return dbi < 0 ? std::nullopt : std::optional<MDB_dbi>(static_cast<MDB_dbi>(dbi));
  }
  void SetSchemasDbi(MDB_dbi dbi) { schemas_dbi_.store(dbi, std::memory_order_release); }
  Result<std::optional<MDB_dbi>> FindSchemasDbi(std::chrono::milliseconds timeout);

 private:
  Environment(std::string path, dev_t device, ino_t inode, EnvHandle env, const Databases& dbs,
              std::optional<MDB_dbi> snapshots, bool read_only, int write_lock_fd)
      : path_(std::move(path)),
        device_(device),
        inode_(inode),
        env_(std::move(env)),
        dbs_(dbs),
        read_only_(read_only),
        write_lock_fd_(write_lock_fd),
        snapshots_dbi_(snapshots ? static_cast<std::int64_t>(*snapshots) : -1) {}

  Status Resize(std::size_t new_size, std::chrono::milliseconds timeout, std::string_view why);
  // Looks for the optional sub-database `name` (FindSnapshotsDbi, FindSchemasDbi), recording its handle in `slot`.
  Result<std::optional<MDB_dbi>> FindOptionalDbi(const char* name, std::atomic<std::int64_t>& slot,
                                                 std::chrono::milliseconds timeout);

  const std::string path_;
  const dev_t device_;
  const ino_t inode_;
  EnvHandle env_;
  const Databases dbs_;
  const bool read_only_;
  const int write_lock_fd_;  // the data file, opened for flock; -1 when read-only

  std::mutex writer_mutex_;
  std::shared_timed_mutex gate_;
  std::atomic<bool> growth_requested_{false};
  std::mutex dbi_mutex_;
  std::atomic<std::int64_t> snapshots_dbi_;  // -1 until known
  std::atomic<std::int64_t> schemas_dbi_{-1};  // -1 until known (OpenEnv's lookup sets it)
};

// Refuses, without changing anything, a file that is not an LMDB data file in
// good enough shape to map: its meta pages are checked by hand, before LMDB sees it.
Status CheckDataFileHeader(const std::string& path);

// Opens the file without locks (MDB_RDONLY | MDB_NOLOCK: no lock file is
// created) and checks that it is a cairn store this build can open. Only safe
// when no process has the environment open, i.e. when there is no lock file.
Status ProbeUnusedDataFile(const std::string& path);

// Creates a new, empty store at `path` atomically (built beside it, then linked
// into place); a store someone else created first wins.
Status CreateDataFile(const std::string& path, const Options& options);

}  // namespace cairn::detail::lmdb
