// Internal: the interface every storage backend implements. Users never see it.
//
// The store's logic (validation, expected-revision checks, idempotency, the
// audit chain, group commit, subscriptions, verify) lives once, in store.cc;
// a backend only provides transactions and lookups over its own storage. That is
// what lets one conformance suite hold every backend to the same behaviour.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/event.h"
#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn::detail {

// The newest event of the log, as a writer needs it to extend the chain.
struct ChainHead {
  std::uint64_t position = 0;  // 0 for an empty log
  Hash hash{};                 // kGenesisHash for an empty log
  std::int64_t recorded_at_us = 0;
};

// One stream's row.
struct StreamState {
  std::uint64_t head_revision = 0;
  std::uint64_t head_position = 0;
  bool deleted = false;
};

// Where an event id is committed.
struct EventLocation {
  std::string stream;
  std::uint64_t revision = 0;
  std::uint64_t position = 0;
};

// Names one stored snapshot.
struct SnapshotKey {
  std::string stream;
  std::uint64_t revision = 0;
};

// What a log scan covered.
struct LogScan {
  std::uint64_t visited = 0;
  // Every event at or before this position has been examined (matching or not).
  std::uint64_t scanned_through = 0;
};

// What a schema read covered: how many schemas were visited, and the store's
// schema generation in the same transaction (see WriteTransaction::SetSchemaGeneration).
struct SchemaScan {
  std::uint64_t visited = 0;
  std::uint64_t generation = 0;
};

// A read-only view of the store, used by one thread at a time.
class Reader {
 public:
  virtual ~Reader() = default;

  // Visits the events of one stream, all within one read transaction.
  // Does not check existence or deletion: the caller does (GetStream first).
  virtual Result<std::uint64_t> ReadStream(std::string_view stream, const ReadStreamOptions& options,
                                           const EventVisitor& visit) = 0;
  // Visits the log in position order from options.from_position, within one read
  // transaction; scanned_through is at most the head of that transaction's snapshot.
  virtual Result<LogScan> ReadLog(const ReadLogOptions& options, const EventVisitor& visit) = 0;
  virtual Result<std::optional<StreamState>> GetStream(std::string_view stream) = 0;
  virtual Result<ChainHead> GetHead() = 0;
  // Visits every stream row (name, state) in name order; return false to stop.
  virtual Status ForEachStream(
      const std::function<bool(std::string_view, const StreamState&)>& visit) = 0;
  // Visits snapshots as EventStore::ReadSnapshots describes, in one read
  // transaction, with the checksum as stored (the store checks it). A record too
  // damaged to read is visited with what its key says and the rest left at the
  // defaults, so that its checksum fails: one bad snapshot never fails a read.
  virtual Result<std::uint64_t> ReadSnapshots(std::string_view stream, const SnapshotVisitor& visit) = 0;
  // Visits schemas as EventStore::ReadSchemas describes (`event_type` empty:
  // every type), in one read transaction that also reads the schema generation.
  // A store without the schemas table or sub-database has none (generation 0).
  virtual Result<SchemaScan> ReadSchemas(std::string_view event_type, bool history, const SchemaVisitor& visit) = 0;
  // EventStore::PositionAtOrAfter: a binary search in one read transaction.
  virtual Result<std::uint64_t> PositionAtOrAfter(std::int64_t recorded_at_us) = 0;
  // A number that changes whenever any connection (in any process) commits;
  // cheap to call. Used by subscriptions to notice other processes' commits.
  virtual Result<std::uint64_t> ChangeCounter() = 0;
  // The (key, value) rows of cairn_meta whose key starts with `prefix`, in key
  // order (named checkpoints live there under "checkpoint:").
  virtual Result<std::vector<std::pair<std::string, std::string>>> ReadMeta(std::string_view prefix) = 0;
};

// A write transaction. Destroying it without Commit() rolls back.
class WriteTransaction {
 public:
  virtual ~WriteTransaction() = default;

  virtual Result<ChainHead> GetHead() = 0;
  virtual Result<std::optional<StreamState>> GetStream(std::string_view stream) = 0;
  virtual Result<std::optional<EventLocation>> FindEventId(const EventId& id) = 0;
  // Inserts a fully formed event (position, revision, hash already assigned).
  virtual Status InsertEvent(const EventView& event) = 0;
  virtual Status PutStream(std::string_view stream, const StreamState& state) = 0;
  // Snapshots: stored as given (taken_at_us and checksum included), replacing one at the same (stream, revision).
  virtual Status PutSnapshot(const SnapshotView& snapshot) = 0;
  // The revisions of `stream`'s snapshots, newest first; of every stream when
  // `stream` is empty (stream-name order, newest first within a stream).
  virtual Result<std::vector<SnapshotKey>> ListSnapshots(std::string_view stream) = 0;
  // Deletes one snapshot; absent is not an error.
  virtual Status DeleteSnapshot(std::string_view stream, std::uint64_t revision) = 0;
  // Writes (replacing) or deletes a cairn_meta row; deleting an absent key is not an error.
  virtual Status PutMeta(std::string_view key, std::string_view value) = 0;
  virtual Status DeleteMeta(std::string_view key) = 0;
  // Schemas (EventStore::PutSchema). The generation is a counter kept beside
  // them that every schema write raises, so that a writer notices, in its own
  // transaction, that the schemas changed since it last read them (in any process).
  // 0 for a store that never had a schema.
  virtual Result<std::uint64_t> GetSchemaGeneration() = 0;
  virtual Status SetSchemaGeneration(std::uint64_t generation) = 0;
  // As Reader::ReadSchemas, inside this transaction (the generation is not read).
  virtual Result<std::uint64_t> ReadSchemas(std::string_view event_type, bool history,
                                            const SchemaVisitor& visit) = 0;
  // Stores one registration as given (registered_at_us included); `current` is ignored.
  virtual Status PutSchema(const SchemaView& schema) = 0;
  // Deletes every registration of `event_type`; returns how many there were.
  virtual Result<std::uint64_t> DeleteSchemas(std::string_view event_type) = 0;
  // Commits durably (per Options::durability).
  virtual Status Commit() = 0;

  // True when an operation (or Commit) above failed only because the backend ran
  // out of room that it makes by itself — LMDB's memory map was full. Nothing of
  // the transaction is committed; the store destroys it and runs the whole group
  // again in a new transaction, whose BeginWrite makes the room first. Callers
  // never see the condition. Default: false.
  virtual bool NeedsRetry() const { return false; }
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  // Takes the backend's cross-process write lock (waiting up to busy_timeout) and
  // starts a transaction. kNotSupported for a read-only store.
  virtual Result<std::unique_ptr<WriteTransaction>> BeginWrite() = 0;
  virtual Result<std::unique_ptr<Reader>> OpenReader() = 0;
  virtual Result<StoreStats> Stats() = 0;
};

// Opens or creates the SQLite backend at `path` (see sqlite/sqlite_backend.cc).
Result<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path, const Options& options);
// Opens or creates the LMDB backend at `path` (see lmdb/lmdb_backend.cc).
Result<std::unique_ptr<Backend>> OpenLmdbBackend(const std::string& path, const Options& options);

}  // namespace cairn::detail
