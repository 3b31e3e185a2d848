// cairn/projection.h — CQRS projections: read models built from the log.
//
// A projection folds the events it is interested in into a read model, a
// SQLite database of its own (never the event store's file). The runner
// applies events in batches and writes the projection's checkpoint in the
// same read-model transaction, so every event takes effect exactly once,
// whatever crashes. It catches up from the checkpoint, then follows live.
//
//   cairn::Projection totals{
//       .name = "customer_totals",
//       .version = 1,
//       .filter = {.categories = {"order"}},
//       .schema = "CREATE TABLE customer_totals (customer TEXT PRIMARY KEY, total INTEGER NOT NULL);",
//       .handlers = {{"order.placed.v1", [](cairn::ReadModelWriter& model, const cairn::EventView& event) {
//         return model.Execute("INSERT INTO customer_totals VALUES (?1, ?2) "
//                              "ON CONFLICT (customer) DO UPDATE SET total = total + excluded.total",
//                              {std::string(event.stream), std::int64_t{42}});
//       }}}};
//   auto runner = cairn::ProjectionRunner::Open(cairn::StoreSource(*store), "read-model.db");
//   (*runner)->Add(std::move(totals));
//   (*runner)->Start();            // one thread per projection, until Stop()
//
// Rebuilds: a projection whose version differs from its read model's (or one
// asked to rebuild) is built into a shadow database from the start of the log
// while the current model keeps serving readers; once caught up, the shadow's
// tables replace the current ones in one read-model transaction. Readers never
// see a half-built model; a crash mid-rebuild leaves the old model serving and
// the rebuild resumes from the shadow's own checkpoint. A projection's first
// build is a rebuild from nothing: its tables appear once caught up.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"
#include "cairn/store.h"
#include "cairn/upcast.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cairn {

// A value bound to a SQL parameter or read from a result column.
struct SqlBlob {
  std::string bytes;
  friend bool operator==(const SqlBlob&, const SqlBlob&) = default;
};
using SqlValue = std::variant<std::nullptr_t, std::int64_t, double, std::string, SqlBlob>;

// What a handler writes the read model with, inside the batch's transaction.
// Never commit, roll back or begin a transaction through it: the runner owns
// the transaction (and undoes a failed event's writes: docs/projections.md
// "Exactly once" — a handler may be called again for an event whose writes were rolled back).
class ReadModelWriter {
 public:
  virtual ~ReadModelWriter() = default;
  // Runs one statement with ?1, ?2, … bound to `params`.
  virtual Status Execute(std::string_view sql, std::span<const SqlValue> params) = 0;
  Status Execute(std::string_view sql, std::initializer_list<SqlValue> params = {}) {
    return Execute(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }
  // Runs a query; returns its rows.
  virtual Result<std::vector<std::vector<SqlValue>>> Query(std::string_view sql,
                                                           std::span<const SqlValue> params) = 0;
  Result<std::vector<std::vector<SqlValue>>> Query(std::string_view sql,
                                                   std::initializer_list<SqlValue> params = {}) {
    return Query(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }
  // A prepared statement for `sql`, cached for the connection's life, reset
  // and with its bindings cleared. For handlers that bind by name (SQL projections).
  virtual Result<sqlite3_stmt*> Prepare(std::string_view sql) = 0;
  // The connection, for what the calls above do not cover.
  virtual sqlite3* db() = 0;
};

// Applies one event to the read model. An error (or an exception) is a
// handler failure: retried, then parked or stopping the projection, per
// Projection::on_failure.
using ProjectionHandler = std::function<Status(ReadModelWriter&, const EventView&)>;

// The events a projection is interested in. Empty lists match everything.
struct ProjectionFilter {
  std::vector<std::string> categories;   // cairn::CategoryOf(stream) is one of these
  std::vector<std::string> event_types;  // the type is one of these
  bool Matches(const EventView& event) const;
};

struct RetryPolicy {
  std::uint32_t max_attempts = 5;  // including the first
  std::chrono::milliseconds initial_backoff{10};
  std::chrono::milliseconds max_backoff{1000};  // each retry doubles the wait, up to this
};

enum class OnHandlerFailure : std::uint8_t {
  kPark,  // keep the event and its error in the read model (cairn_parked) and go on
  kStop,  // commit what came before it and stop the projection (state kFailed)
};

struct Projection {
  // [a-z0-9_]+, unique within a read model.
  std::string name;
  // Raise it whenever handlers or schema change meaning: the model is rebuilt.
  std::uint32_t version = 1;
  ProjectionFilter filter;
  // SQL script that creates the read model's tables, indexes and views in an
  // empty database. Names starting with "cairn_" are reserved.
  std::string schema;
  // By event type. Matching events of a type without a handler are skipped.
  std::map<std::string, ProjectionHandler, std::less<>> handlers;
  RetryPolicy retry;
  OnHandlerFailure on_failure = OnHandlerFailure::kPark;
  // Upcasters applied before the handlers (cairn/upcast.h): handlers and
  // filter.event_types name the newest types and handlers receive upcast
  // events, while checkpoints and parked events keep the stored positions and
  // types. An upcaster's failure counts as the handler's (retry, park/stop).
  // Add refuses (kInvalidArgument) a handler of a type the upcasters turn into another.
  // Raise `version` when the upcasters change what handlers see. Default: none.
  std::shared_ptr<const Upcasters> upcasters;
};

// What the runner tells a source about the subscription of one projection's
// model (the read model, or its shadow while rebuilding).
struct ModelSubscriptionRequest {
  // The model's checkpoint: deliver events after this position.
  std::uint64_t after_position = 0;
  const ProjectionFilter* filter = nullptr;  // never null; valid for the subscription's life
  std::string_view projection;               // valid for the subscription's life
  OnHandlerFailure on_failure = OnHandlerFailure::kPark;
  // Opens the batch's write transaction on the model's connection if none is
  // open, and returns that connection. A source that keeps its own progress
  // in the model (SourceProgress) reads it through this, from inside Poll:
  // holding the write lock, it sees every batch another runner committed and
  // none can commit meanwhile. Only from the thread that polls; the connection
  // is valid for the subscription's life; never commit or roll back through it.
  std::function<Result<sqlite3*>()> begin_batch;
};

// Implemented, besides Subscription, by a subscription whose progress is not a
// store position: the Kafka source's is the next offset of each partition.
// The runner then writes that progress in every batch's transaction, just
// before the commit, so the batch's effects and the progress are durable
// together; the checkpoint row's position is only informative (the highest
// store position applied) and is not how such a subscription resumes.
class SourceProgress {
 public:
  virtual ~SourceProgress() = default;
  // Writes the progress of the events delivered and accepted (the visitor
  // returned true) since the last call, through `db`, inside the batch's
  // transaction. An error rolls the batch back and fails the projection
  // (kBusy when another runner moved the progress under it).
  virtual Status SaveProgress(sqlite3* db) = 0;
  // True when something was delivered (filtered out or skipped included)
  // that SaveProgress has not written yet: the batch commits even without
  // handler work, so that the progress is kept.
  virtual bool HasUnsavedProgress() const = 0;
  // True when the subscription has processed everything the source held
  // from some moment after the subscription began: RunToHead's target, and
  // "caught up" for a rebuild's swap and the live state.
  virtual bool ReachedHead() const = 0;
};

// Where the runner reads events from. The store is the first source; the
// Kafka bridge adds another (cairn/kafka_source.h). Positions are the store's
// global positions. The runner calls a source from several threads at once
// (one per projection); each Subscription it returns is used by one thread
// (Stop() from any).
class EventSource {
 public:
  virtual ~EventSource() = default;
  // Delivers every event after `after_position`, catching up then live.
  virtual Result<std::unique_ptr<Subscription>> Subscribe(std::uint64_t after_position) = 0;
  // As Subscribe, but the source may leave out events that `filter` does not
  // match (a speed-up: the runner checks every event against the filter
  // anyway); checkpoint() still covers the events left out. What the runner
  // calls. Default: Subscribe(after_position).
  virtual Result<std::unique_ptr<Subscription>> SubscribeMatching(std::uint64_t after_position,
                                                                  const ProjectionFilter& filter);
  // What the runner calls: the subscription of one projection's model.
  // Default: SubscribeMatching(request.after_position, *request.filter).
  virtual Result<std::unique_ptr<Subscription>> SubscribeModel(const ModelSubscriptionRequest& request);
  // The position of the newest event the source knows of (for lag).
  virtual Result<std::uint64_t> HeadPosition() = 0;
  // One event by position (to retry a parked event); nullopt when there is none.
  // kNotSupported from a source that cannot read by position (Kafka).
  virtual Result<std::optional<RecordedEvent>> ReadEvent(std::uint64_t position) = 0;
};

// The store as a source. The store must outlive it.
std::unique_ptr<EventSource> StoreSource(EventStore& store);

enum class ProjectionState : std::uint8_t { kCatchingUp, kLive, kRebuilding, kStopped, kFailed };
std::string_view ProjectionStateName(ProjectionState state);  // "catching-up", "live", …

struct ProjectionStatus {
  std::string name;
  std::uint32_t version = 0;        // of the model serving readers (0: none yet)
  ProjectionState state = ProjectionState::kStopped;
  std::uint64_t position = 0;       // checkpoint of the model serving readers
  std::optional<std::uint32_t> rebuilding_version;  // set while a shadow is being built
  std::uint64_t rebuild_position = 0;               // the shadow's checkpoint
  std::uint64_t head_position = 0;  // the source's head when last looked at
  std::uint64_t lag_events = 0;     // head_position - position of the model being built
  double lag_seconds = 0;           // age of the oldest unprocessed event; 0 when caught up
  double events_per_second = 0;     // processed, over the last few seconds
  std::uint64_t parked = 0;         // parked events not yet retried successfully
  std::string last_error;           // the last handler failure, if any
};

struct RunnerOptions {
  // A batch commits after this many events …
  std::size_t max_batch_events = 1000;
  // … or this long after its first event, whichever comes first: large
  // batches while catching up, low lag once live.
  std::chrono::milliseconds max_batch_delay{20};
  // Called after each committed batch, from the projection's thread; may be empty.
  std::function<void(const ProjectionStatus&)> on_batch;
};

struct ParkedEvent {
  std::string projection;
  std::uint64_t position = 0;
  std::string stream;
  std::uint64_t revision = 0;
  std::string type;
  std::string error;
  std::uint32_t attempts = 0;
  std::int64_t parked_at_us = 0;
};

struct RetryParkedReport {
  std::uint64_t retried = 0;
  std::uint64_t succeeded = 0;  // applied and removed from cairn_parked
  std::uint64_t failed = 0;     // still parked, with the new error
};

// Runs projections into one read-model database.
class ProjectionRunner {
 public:
  // Opens (creating when missing) the read-model database at `read_model_path`.
  // Refuses a file that is not a read-model database (kCorruption) and the
  // event store's own file (kInvalidArgument).
  static Result<std::unique_ptr<ProjectionRunner>> Open(std::unique_ptr<EventSource> source,
                                                        std::string read_model_path, RunnerOptions options = {});
  virtual ~ProjectionRunner() = default;  // stops and joins
  ProjectionRunner(const ProjectionRunner&) = delete;
  ProjectionRunner& operator=(const ProjectionRunner&) = delete;

  // Registers a projection (before Start or RunToHead). kInvalidArgument for a
  // bad name or a duplicate; the schema is checked by running it in a scratch
  // in-memory database.
  virtual Status Add(Projection projection) = 0;
  // Makes the next run rebuild `name` into a shadow even if its version did not change.
  virtual Status RequestRebuild(std::string_view name) = 0;
  // Runs every projection on its own thread, catching up then following live, until Stop().
  virtual Status Start() = 0;
  // Runs every projection until it has processed the source up to its head as
  // of this call (swapping in any rebuild that got there), then returns. The
  // CLI's run without --follow. Returns the first failure.
  virtual Status RunToHead() = 0;
  // Stops the threads after their current batch; any thread; idempotent.
  virtual void Stop() = 0;
  // Blocks until the running projections have stopped (after Stop, or a failure of all).
  virtual void Wait() = 0;
  virtual std::vector<ProjectionStatus> Statuses() = 0;
  // Applies the parked events of `name` again, oldest first; a success removes
  // the event from cairn_parked. Not while the projection runs.
  virtual Result<RetryParkedReport> RetryParked(std::string_view name) = 0;

 protected:
  ProjectionRunner() = default;
};

// Reading a read-model database without running anything (the CLI's status and
// parked commands). The checkpoint, version and state each projection recorded.
Result<std::vector<ProjectionStatus>> ReadProjectionStatuses(const std::string& read_model_path);
Result<std::vector<ParkedEvent>> ListParkedEvents(const std::string& read_model_path,
                                                  std::optional<std::string_view> projection = std::nullopt);

}  // namespace cairn
