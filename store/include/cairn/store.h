// cairn/store.h — the event store.
//
// An EventStore is an append-only, gap-free, tamper-evident log of events,
// grouped into streams (one per aggregate). Appends use optimistic concurrency
// (ExpectedRevision); concurrent appends are committed together by group commit
// (one transaction, one fsync); reads stream events through a visitor.
//
//   auto store = cairn::EventStore::Open("orders.db", {.create_if_missing = true});
//   if (!store) { std::cerr << store.error().ToString() << "\n"; return 1; }
//   std::vector<cairn::EventData> events{{.type = "order.placed.v1", .data = R"({"total":42})"}};
//   auto appended = (*store)->Append("order-42", cairn::ExpectedRevision::NoStream(), events);
//   (*store)->ReadStream("order-42", {}, [](const cairn::EventView& e) {
//     std::cout << e.revision << " " << e.type << "\n";
//     return true;  // keep going
//   });
//
// Thread-safety: every EventStore method may be called from any thread at once.
// A Subscription is used by one thread at a time (Stop() from any thread).
// Several processes may open one store: readers always, writers take turns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn {

// Receives each event of a read. Return true to continue, false to stop early.
// The view and everything it points to are valid only during the call.
// An exception thrown by the visitor ends the read and propagates to the caller;
// the store stays consistent.
using EventVisitor = std::function<bool(const EventView&)>;

enum class Direction : std::uint8_t { kForward, kBackward };

struct ReadStreamOptions {
  Direction direction = Direction::kForward;
  // First revision to return. Default: the stream's first event (forward) or its last (backward).
  std::optional<std::uint64_t> from_revision;
  // Stop after this many events (those filtered out by `types` do not count).
  std::uint64_t max_count = UINT64_MAX;
  // Only events of these types; all when empty.
  std::vector<std::string> types;
};

// Selects events of the global log.
struct LogFilter {
  // Only streams of this category (the part of the name before the first '-'); all when empty.
  std::string category;
  // Only events of these types; all when empty.
  std::vector<std::string> types;

  bool Matches(const EventView& event) const;
};

struct ReadLogOptions {
  std::uint64_t from_position = 1;          // first position to visit (inclusive)
  std::uint64_t to_position = UINT64_MAX;   // last position to visit (inclusive)
  std::uint64_t max_count = UINT64_MAX;     // stop after this many matching events
  LogFilter filter;
};

// A catch-up-then-live reader of the global log (or of a category). It delivers
// every matching event after `after_position` exactly once and in order, first
// those already committed, then new commits as they happen — no gap and no
// duplicate at the seam, whatever is being appended meanwhile.
//
// Owns a read connection; it stays usable after the EventStore that made it is
// destroyed (it then sees no further commits from this process).
class Subscription {
 public:
  virtual ~Subscription() = default;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Visits up to `max_events` matching events committed after the last one
  // delivered. When none is there, waits up to `timeout` for a commit (in this
  // process: woken by the commit itself; in another: noticed within
  // Options::external_poll_interval). Returns how many events were visited:
  // 0 when the timeout passed. kCancelled once Stop() has been called.
  virtual Result<std::size_t> Poll(const EventVisitor& visit, std::size_t max_events,
                                   std::chrono::milliseconds timeout) = 0;
  // Wakes a waiting Poll and makes every later Poll return kCancelled. Any thread.
  virtual void Stop() = 0;
  // The position up to which the log has been examined: every matching event
  // at or before it has been delivered. Store it as a checkpoint.
  virtual std::uint64_t checkpoint() const = 0;

 protected:
  Subscription() = default;
};

struct SubscribeOptions {
  // Deliver events after this position (a checkpoint: 0 = from the beginning).
  std::uint64_t after_position = 0;
  LogFilter filter;
};

// What Verify found. ok == true means: positions 1..head without a gap, every
// stream's revisions contiguous from 0, every hash recomputed and equal, and the
// streams table consistent with the log.
struct VerifyReport {
  bool ok = true;
  std::uint64_t events_checked = 0;
  std::uint64_t streams_checked = 0;
  std::uint64_t head_position = 0;
  Hash head_hash{};  // publish it elsewhere to detect truncation later
  // First position at which something is wrong (0 when the problem is not tied to one).
  std::uint64_t first_bad_position = 0;
  std::string problem;  // empty when ok
};

struct VerifyOptions {
  // Called now and then with (events checked, head position); may be empty.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct StoreStats {
  std::string backend;  // "sqlite" or "lmdb"
  std::string path;
  std::uint32_t format_version = 0;
  std::uint64_t head_position = 0;
  std::uint64_t stream_count = 0;
  std::uint64_t deleted_stream_count = 0;
  std::uint64_t file_bytes = 0;  // on disk: SQLite with its write-ahead log; LMDB's data file
  std::int64_t first_recorded_at_us = 0;
  std::int64_t last_recorded_at_us = 0;
  // LMDB only; 0 on SQLite. The memory map's current size (it grows on demand,
  // see Options::lmdb_initial_map_bytes), the part of it that holds pages (the
  // data file's high-water mark), and the reader slots held by live processes.
  std::uint64_t map_bytes = 0;
  std::uint64_t map_used_bytes = 0;
  std::uint64_t reader_slots_used = 0;
};

// Produces the events of an import, one per call, in position order: fills
// `event` (reusing its buffers) and returns true, or returns false when there
// are no more. An error ends the import; Import returns it unchanged.
using ImportSource = std::function<Result<bool>(RecordedEvent& event)>;

struct ImportOptions {
  // Events per write transaction (one fsync each). Default: 10,000. A
  // transaction also ends once its events hold Options::max_append_bytes.
  std::size_t batch_events = 10'000;
  // Called after each committed transaction with the number of events imported so far; may be empty.
  std::function<void(std::uint64_t)> progress;
};

// What an Import wrote.
struct ImportStats {
  std::uint64_t events = 0;
  std::uint64_t streams = 0;  // streams created (events at revision 0)
  std::uint64_t head_position = 0;
  Hash head_hash{};  // the hash of the last event imported (kGenesisHash when none)
};

// A snapshot as the store keeps it: the encoded state of one stream's aggregate
// after the event at `revision`. Snapshots are derived data kept in the store
// file beside the log, not on the audit chain and not exported; losing them
// costs only time. The store keeps them; the snapshot module (cairn/snapshot.h)
// decides when to take one and whether one can be trusted.
struct SnapshotView {
  std::string_view stream;
  std::uint64_t revision = 0;        // the state includes the events 0..revision
  std::uint32_t schema_version = 0;  // the version of the state's encoding
  Hash event_hash{};                 // the hash of the event at `revision` when it was taken
  std::int64_t taken_at_us = 0;      // set by the store when saved
  std::string_view state;            // the encoded state
  // SnapshotChecksum of the fields above, computed by the store when saved.
  Hash checksum{};
  // On reads: the stored checksum matches the stored fields. False when the
  // record was damaged (a flipped bit, a torn copy, a malformed record) or
  // edited without recomputing it — a check against accidents, not an attacker
  // who can write the file: snapshots are not on the audit chain.
  bool intact = true;
};

// BLAKE2b-256 over "cairn.snapshot.v1" and the snapshot's stream, revision,
// schema version, event hash, taken_at_us and state (lengths and integers
// big-endian, as in the audit chain's canonical bytes).
Hash SnapshotChecksum(const SnapshotView& snapshot);

// Receives each snapshot of a read; return true to continue. The view is valid only during the call.
using SnapshotVisitor = std::function<bool(const SnapshotView&)>;

struct SnapshotData {
  std::string stream;
  std::uint64_t revision = 0;
  std::uint32_t schema_version = 0;
  Hash event_hash{};
  std::string state;
};

// A JSON Schema registered for an event type (EventStore::PutSchema). Like
// snapshots, schemas are configuration kept in the store file beside the log:
// not on the audit chain, not exported. Registering a schema for a type that
// already has one adds a newer registration; the older ones are kept as history.
struct SchemaView {
  std::string_view event_type;
  // 1 for the type's first schema, then one more for each replacement.
  std::uint64_t registration = 0;
  std::int64_t registered_at_us = 0;  // set by the store when saved
  std::string_view schema;            // the JSON Schema document, byte-exact as given
  // True for the type's newest registration: the one appends are checked against.
  bool current = true;
};

// Receives each schema of a read; return true to continue. The view is valid only during the call.
using SchemaVisitor = std::function<bool(const SchemaView&)>;

// An owning copy of a SchemaView.
struct SchemaInfo {
  std::string event_type;
  std::uint64_t registration = 0;
  std::int64_t registered_at_us = 0;
  std::string schema;
};

struct ReadSchemasOptions {
  // Only this event type's schema(s); every type's when empty.
  std::string event_type;
  // Every registration, each type's newest first; only the current ones when false.
  bool history = false;
};

// A named checkpoint: how far a consumer of the log (a bridge relay) has got,
// kept in the store file so that it survives with the log and needs no other
// database. Not on the audit chain and not exported (it is a consumer's state,
// not history). `detail` is the consumer's own text, e.g. a JSON status.
struct Checkpoint {
  std::string name;
  std::uint64_t position = 0;    // every event at or before it has been handled
  std::int64_t saved_at_us = 0;  // set by the store when saved
  std::string detail;
};

class EventStore {
 public:
  // Opens (or, with options.create_if_missing, creates) the store at `path`.
  // Refuses, without modifying it, a file that is not a cairn store
  // (kCorruption) or a store of a newer format (kNotSupported).
  static Result<std::unique_ptr<EventStore>> Open(const std::string& path,
                                                   const Options& options = {});

  virtual ~EventStore() = default;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends `events` to `stream` atomically if the stream is in the `expected`
  // state. On success the events are durable (Options::durability) and have
  // gap-free positions. Expected outcomes come back as errors, and then nothing
  // of this append was written:
  //   kConflict         — the stream is not as expected; error.conflict() has its actual revision
  //   kStreamDeleted    — the stream is tombstoned
  //   kDuplicateEventId — an event id is committed elsewhere (a retry of this
  //                       same append instead succeeds with already_committed)
  //   kInvalidArgument  — bad stream name or type, invalid JSON, over a size limit, empty append,
  //                       data that does not validate against its type's JSON Schema (PutSchema)
  //   kBusy             — another process held the write lock past Options::busy_timeout
  //   kIOError          — the disk failed (full, permission); nothing of it is committed
  virtual Result<AppendResult> Append(std::string_view stream, ExpectedRevision expected,
                                      std::span<const EventData> events) = 0;
  Result<AppendResult> Append(std::string_view stream, ExpectedRevision expected,
                              std::initializer_list<EventData> events) {
    return Append(stream, expected, std::span<const EventData>(events.begin(), events.size()));
  }

  // Tombstones `stream`: a "$stream.deleted" event is appended to it (so the
  // deletion is itself on the audit chain), reads of it then fail with
  // kStreamDeleted and appends to it fail with kStreamDeleted. Its events stay
  // in the global log; its snapshots are deleted in the same transaction.
  // kNotFound when the stream does not exist.
  virtual Result<AppendResult> DeleteStream(std::string_view stream, ExpectedRevision expected) = 0;

  // Visits the events of one stream. Returns how many were visited.
  // kNotFound when the stream does not exist, kStreamDeleted when it is tombstoned.
  virtual Result<std::uint64_t> ReadStream(std::string_view stream, const ReadStreamOptions& options,
                                           const EventVisitor& visit) = 0;

  // Visits events of the global log in position order. Returns how many were visited.
  virtual Result<std::uint64_t> ReadLog(const ReadLogOptions& options, const EventVisitor& visit) = 0;

  virtual Result<StreamInfo> GetStreamInfo(std::string_view stream) = 0;

  // The position of the last committed event (0 for an empty store).
  virtual Result<std::uint64_t> HeadPosition() = 0;

  virtual Result<std::unique_ptr<Subscription>> Subscribe(const SubscribeOptions& options) = 0;

  // Recomputes the audit chain and checks the log's invariants. A damaged or
  // tampered store is an ok == false report, not an error; errors are for
  // failing to read at all.
  virtual Result<VerifyReport> Verify(const VerifyOptions& options = {}) = 0;

  virtual Result<StoreStats> Stats() = 0;

  // Rebuilds a log from recorded events (a `cairn export`, another store's
  // ReadLog), keeping every field as recorded — position, revision, id,
  // recorded_at, hash — where Append would assign them. Only into an empty
  // store. Each event is checked before the next one is pulled from `next`, so
  // when Import fails because of an event, it is the last one `next` produced.
  // An event is refused (kCorruption, the message names its position) unless:
  //   - positions run 1, 2, 3, … without a gap (an input that starts later
  //     cannot be checked against the chain before it);
  //   - its hash is ChainHash(previous event's hash, event) — the audit chain
  //     verifies from kGenesisHash;
  //   - its stream's revisions run 0, 1, 2, … and nothing follows the stream's
  //     tombstone; "$stream.deleted" tombstones the stream (other '$' types are refused);
  //   - recorded_at never decreases; its id is not nil and not already imported;
  //   - stream name, type, JSON data and metadata pass Append's checks (the
  //     size limits do not apply: the events were accepted once).
  // Events are written in transactions of options.batch_events, and stream
  // states (head, deleted) are kept as Append keeps them. Other errors:
  //   kInvalidArgument — the store is not empty, or was written to between two
  //                      of the import's transactions
  //   kNotSupported    — the store is open read-only
  //   kBusy, kIOError  — as for Append
  //   anything `next` returns
  // On an error, the transactions committed before it stay: the store then
  // holds a verified prefix of the input. For all or nothing, import into a new
  // path and move the store into place on success, as `cairn import` does.
  // Thread-safety: reads may run meanwhile; appends (in any process) must not,
  // and make the import fail when one slips between two of its transactions.
  virtual Result<ImportStats> Import(const ImportSource& next, const ImportOptions& options = {}) = 0;

  // Snapshots (see SnapshotView). Writes ride the group commit, so a snapshot
  // saved while appends are running shares their transaction and fsync.
  //
  // Saves `snapshot`, replacing one of the same stream and revision; with
  // `keep_newest` > 0, then deletes all but the stream's newest `keep_newest`
  // in the same transaction. Errors:
  //   kNotFound / kStreamDeleted — the stream does not exist / is tombstoned
  //   kInvalidArgument — bad stream name, a revision past the stream's head, a
  //                      state over Options::max_append_bytes
  //   kNotSupported, kBusy, kIOError — as for Append
  virtual Status SaveSnapshot(const SnapshotData& snapshot, std::size_t keep_newest = 0) = 0;
  // Visits the snapshots of `stream` newest first, or of every stream
  // (std::nullopt) in stream-name order, each stream's newest first, within one
  // read transaction. Returns how many were visited. A stream without
  // snapshots (existing or not) visits none.
  virtual Result<std::uint64_t> ReadSnapshots(std::optional<std::string_view> stream,
                                              const SnapshotVisitor& visit) = 0;
  // Deletes the snapshot of `stream` at `revision`, or all of the stream's when
  // `revision` is empty. Returns how many were deleted (0 is not an error).
  virtual Result<std::uint64_t> DeleteSnapshots(std::string_view stream,
                                                std::optional<std::uint64_t> revision = std::nullopt) = 0;
  // Keeps the newest `keep` snapshots of `stream` (of every stream's, for
  // std::nullopt) and deletes the older ones. Returns how many were deleted.
  virtual Result<std::uint64_t> PruneSnapshots(std::optional<std::string_view> stream, std::size_t keep) = 0;

  // JSON Schemas per event type, checked on append. An append whose events
  // include one of a type with a schema fails as a whole (kInvalidArgument,
  // nothing written) unless that event's data is JSON that validates; the
  // message names the event type, the schema ($id, else id, else title) and
  // the JSON pointer and keyword that failed. Types without a schema are not
  // checked. The validator is RapidJSON's, which implements JSON Schema draft 4
  // (docs/schemas.md). Validation runs in the appending thread against
  // compiled schemas cached by the store; a schema registered meanwhile (by this
  // or another process) is noticed in the write transaction, which then checks
  // the append again against the schemas it sees. Writes ride the group commit.
  //
  // Registers `schema_json` for `event_type` (replacing, as current, the one it
  // has) and returns its registration number. Errors:
  //   kInvalidArgument — a bad or reserved ('$') type; a document that is not
  //                      JSON, not a valid draft-4 schema (checked against the
  //                      draft-4 meta-schema), declares another draft in
  //                      "$schema", uses a keyword draft 4 would silently ignore
  //                      (const, if, contains, …), has a "pattern" that does not
  //                      compile or a "$ref" that does not resolve inside the
  //                      document; over Options::max_event_bytes
  //   kNotSupported, kBusy, kIOError — as for Append
  // Events already in the log are not checked against a new schema.
  virtual Result<std::uint64_t> PutSchema(std::string_view event_type, std::string_view schema_json) = 0;
  // The current schema of `event_type`; kNotFound when it has none.
  virtual Result<SchemaInfo> GetSchema(std::string_view event_type) = 0;
  // Visits schemas by event type (byte order), within one read transaction.
  // Returns how many were visited.
  virtual Result<std::uint64_t> ReadSchemas(const SchemaVisitor& visit, const ReadSchemasOptions& options = {}) = 0;
  // Deletes every registration of `event_type`'s schema: its events are no
  // longer checked. Returns how many registrations were deleted (0 is not an error).
  virtual Result<std::uint64_t> DeleteSchema(std::string_view event_type) = 0;

  // Replay from a point in time: the first position whose recorded_at is at or
  // after `recorded_at_us` (microseconds since the Unix epoch, UTC), or the
  // head position + 1 when there is none (an empty store: 1). recorded_at never
  // decreases along the log (an append takes the later of the clock and the
  // previous event's time; Import refuses a log where it decreases), so this is
  // a binary search: O(log n) point reads in one read transaction.
  virtual Result<std::uint64_t> PositionAtOrAfter(std::int64_t recorded_at_us) = 0;

  // Named checkpoints (see Checkpoint). A name is 1-200 printable ASCII
  // characters (no spaces); kInvalidArgument otherwise.
  //
  // Saves (replacing) the checkpoint `name` at `position`, riding the group
  // commit like an append. kInvalidArgument when `position` is past the head.
  virtual Status SaveCheckpoint(std::string_view name, std::uint64_t position, std::string_view detail = {}) = 0;
  // The checkpoint `name`; nullopt when it was never saved (or was deleted).
  virtual Result<std::optional<Checkpoint>> ReadCheckpoint(std::string_view name) = 0;
  // Every checkpoint, in name order.
  virtual Result<std::vector<Checkpoint>> ListCheckpoints() = 0;
  // Deletes the checkpoint `name`; true when there was one.
  virtual Result<bool> DeleteCheckpoint(std::string_view name) = 0;

  virtual const std::string& path() const = 0;

 protected:
  EventStore() = default;
};

}  // namespace cairn
