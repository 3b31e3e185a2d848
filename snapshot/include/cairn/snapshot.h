// cairn/snapshot.h — snapshots and the aggregate repository.
//
// Loading an aggregate costs its tail, not its history: the repository starts
// from the newest snapshot it can trust and folds only the events after it.
//
//   struct Account {                        // an Aggregate (see the concept below)
//     using State = AccountState;
//     static constexpr std::uint32_t kSchemaVersion = 1;
//     static State Initial() { return {}; }
//     static void Apply(State& s, const cairn::EventView& e) { ... }
//     static std::string Encode(const State& s) { ... }   // Cap'n Proto recommended
//     static std::optional<State> Decode(std::string_view bytes) { ... }
//   };
//
//   cairn::Repository<Account> accounts(*store, cairn::SnapshotPolicy::EveryEvents(100));
//   auto account = accounts.Load("account-7");          // snapshot + tail
//   if (!account) return account.error();
//   auto saved = accounts.Save(*account, {{.type = "account.credited.v1", .data = R"({"amount":5})"}});
//   if (!saved && saved.error().code() == cairn::ErrorCode::kConflict) { /* load again, decide again */ }
//
// Snapshots are derived data. One is never trusted unless its checksum holds
// (SnapshotView::intact), its schema version is
// the aggregate's, its revision is not past the stream's head, the hash it
// recorded is the hash of the stream's event at its revision (so the events it
// summarises are the ones in the log), and its bytes decode. Otherwise it is
// ignored and counted, and the load falls back to an older snapshot or to the
// start of the stream.
//
// Snapshot writes never block or fail the save that triggered them: they are
// queued and written by the repository's background writer (which rides the
// store's group commit); a failed write is logged and counted, never returned.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "cairn/event.h"
#include "cairn/status.h"
#include "cairn/store.h"
#include "cairn/upcast.h"

namespace cairn {

// A user aggregate, described by a traits type with static members:
//   State                   the aggregate's state: movable
//   kSchemaVersion          the version of Encode's format; bump it when the
//                           format changes and old snapshots are ignored
//   Initial()               the state of a stream with no events
//   Apply(state, event)     folds one event into the state
//   Encode(state)           the state's bytes
//   Decode(bytes)           the state, or nullopt when the bytes do not decode
template <class A>
concept Aggregate = std::movable<typename A::State> &&
                    requires(typename A::State& state, const typename A::State& const_state,
                             const EventView& event, std::string_view bytes) {
                      { A::kSchemaVersion } -> std::convertible_to<std::uint32_t>;
                      { A::Initial() } -> std::same_as<typename A::State>;
                      { A::Apply(state, event) } -> std::same_as<void>;
                      { A::Encode(const_state) } -> std::same_as<std::string>;
                      { A::Decode(bytes) } -> std::same_as<std::optional<typename A::State>>;
                    };

// When to take snapshots. Both triggers may be on at once.
struct SnapshotPolicy {
  // Snapshot after a save that takes the stream across a multiple of this many
  // events (its revision + 1 crossing 100, 200, … for 100). 0 = off.
  std::uint64_t every_events = 0;
  // Snapshot after a load that folded more than this many events (so the next
  // load of that aggregate folds few). 0 = off.
  std::uint64_t when_folded_more_than = 0;
  // After writing a snapshot, keep only the stream's newest `keep`. 0 = keep all.
  std::size_t keep = 3;

  static SnapshotPolicy Never() { return {}; }
  static SnapshotPolicy EveryEvents(std::uint64_t n, std::size_t keep = 3) {
    return {.every_events = n, .keep = keep};
  }
  static SnapshotPolicy WhenFoldedMoreThan(std::uint64_t n, std::size_t keep = 3) {
    return {.when_folded_more_than = n, .keep = keep};
  }
};

// Why a snapshot was not trusted.
enum class SnapshotProblem : std::uint8_t {
  kNone = 0,
  kDamaged,        // its stored checksum does not match its fields (SnapshotView::intact)
  kSchemaVersion,  // written by another version of the aggregate's encoding
  kPastHead,       // its revision is past the stream's head revision
  kEventHash,      // the stream's event at its revision has another hash (or is gone)
  kUndecodable,    // Decode refused its bytes
};
std::string_view SnapshotProblemName(SnapshotProblem problem);  // "schema-version", …

// Checks what can be checked without the aggregate's code: that `snapshot` is
// intact, not past its stream's head and that its event hash matches the
// stream's event at its revision. kNone, kDamaged, kPastHead or kEventHash;
// errors are for failing to read (kNotFound / kStreamDeleted for a missing /
// tombstoned stream).
Result<SnapshotProblem> CheckSnapshot(EventStore& store, const SnapshotView& snapshot);

// What the repository did, since it was made. Counters only grow.
struct SnapshotCounters {
  std::uint64_t loads = 0;
  std::uint64_t loads_from_snapshot = 0;
  std::uint64_t events_folded = 0;       // by loads, after their snapshot
  std::uint64_t ignored_damaged = 0;
  std::uint64_t ignored_schema_version = 0;
  std::uint64_t ignored_past_head = 0;
  std::uint64_t ignored_event_hash = 0;
  std::uint64_t ignored_undecodable = 0;
  std::uint64_t snapshots_queued = 0;
  std::uint64_t snapshots_written = 0;
  std::uint64_t snapshot_write_failures = 0;  // logged; the save had succeeded
  std::uint64_t snapshots_dropped = 0;        // the write queue was full
};

struct RepositoryOptions {
  // Snapshot writes waiting for the background writer; when full, new ones are
  // dropped (and counted): a snapshot is an optimisation, never a backlog.
  std::size_t max_queued_snapshots = 1024;
  // Receives a line for each failed snapshot write. Default: stderr.
  std::function<void(std::string_view)> log;
  // Applied to every event before the aggregate's Apply, on loads and saves
  // (cairn/upcast.h), so that Apply sees only the newest version of each type.
  // Stored events are not changed. An upcaster's failure fails the load (or
  // the save's fold, after the append). Snapshots hold state folded from
  // upcast events: raise kSchemaVersion when new upcasters change that state.
  // Default: none.
  std::shared_ptr<const Upcasters> upcasters;
};

// An aggregate as loaded: its state and the revision it reflects.
template <class State>
struct Loaded {
  std::string stream;
  State state;
  // The revision of the last event folded in; nullopt for a stream with no events.
  std::optional<std::uint64_t> revision;
  // The snapshot the load started from; nullopt when it folded from the start.
  std::optional<std::uint64_t> snapshot_revision;
  std::uint64_t events_folded = 0;  // events the load applied after its snapshot

  // What to expect when appending to the stream as loaded.
  ExpectedRevision expected() const {
    return revision ? ExpectedRevision::Exact(*revision) : ExpectedRevision::NoStream();
  }
};

namespace detail {

// The aggregate's code, type-erased over one State object, for the repository core.
struct AggregateHooks {
  std::uint32_t schema_version = 0;
  std::function<void()> reset;                      // state = Initial()
  std::function<bool(std::string_view)> decode;     // state = Decode(bytes); false when it does not decode
  std::function<void(const EventView&)> apply;      // Apply(state, event)
  std::function<std::string()> encode;              // Encode(state)
};

struct LoadOutcome {
  std::optional<std::uint64_t> revision;
  std::optional<std::uint64_t> snapshot_revision;
  std::uint64_t events_folded = 0;
};

// Everything of the repository that does not depend on the aggregate's type.
class RepositoryCore {
 public:
  RepositoryCore(EventStore& store, SnapshotPolicy policy, RepositoryOptions options);
  ~RepositoryCore();  // writes the queued snapshots, then stops the writer
  RepositoryCore(const RepositoryCore&) = delete;
  RepositoryCore& operator=(const RepositoryCore&) = delete;

  Result<LoadOutcome> Load(std::string_view stream, const AggregateHooks& hooks);
  // Appends, folds the appended events into the state (read back from the log,
  // so they are exactly what a later load will see) and snapshots by policy.
  Result<AppendResult> Save(std::string_view stream, LoadOutcome& loaded, std::span<const EventData> events,
                            const AggregateHooks& hooks);
  Status SnapshotNow(std::string_view stream, const LoadOutcome& loaded, const AggregateHooks& hooks);
  void Flush();
  SnapshotCounters counters() const;
  const SnapshotPolicy& policy() const { return policy_; }

 private:
  class Writer;
  void Enqueue(std::string_view stream, std::uint64_t revision, const AggregateHooks& hooks);
  // Folds `event` into the state, upcast first when there are upcasters.
  Status Fold(const EventView& event, const AggregateHooks& hooks, UpcastedEvent& scratch) const;

  EventStore& store_;
  const std::shared_ptr<const Upcasters> upcasters_;
  const SnapshotPolicy policy_;
  struct Counters;
  std::unique_ptr<Counters> counters_;  // before writer_: the writer counts while it drains
  std::unique_ptr<Writer> writer_;
};

}  // namespace detail

// Loads and saves aggregates of type A through snapshots of `store`.
// Thread-safe: Load and Save may run on any threads at once (one Loaded
// object belongs to one thread at a time). The store must outlive it.
template <Aggregate A>
class Repository {
 public:
  using State = typename A::State;

  explicit Repository(EventStore& store, SnapshotPolicy policy = SnapshotPolicy::Never(),
                      RepositoryOptions options = {})
      : core_(store, policy, std::move(options)) {}

  // The aggregate of `stream`: from its newest trusted snapshot plus the events
  // after it. A stream with no events loads as Initial() with no revision.
  // kStreamDeleted for a tombstoned stream; kInvalidArgument for a bad name.
  Result<Loaded<State>> Load(std::string_view stream) {
    Loaded<State> loaded{.stream = std::string(stream), .state = A::Initial()};
    auto outcome = core_.Load(stream, Hooks(loaded.state));
    if (!outcome) return Fail(outcome.error());
    Take(loaded, *outcome);
    return loaded;
  }

  // Appends `events` to the aggregate's stream expecting the revision it was
  // loaded at; a conflict (someone saved meanwhile) is a kConflict value: load
  // again and decide again. On success the events, read back from the log, are
  // folded into `aggregate` (so it is exactly what a load would return) and a
  // snapshot is queued when the policy says so. Give the events ids to make a
  // retry after kBusy or kIOError safe (see EventStore::Append). Should reading
  // the events back fail after they were committed, that error is returned and
  // `aggregate` is no longer valid: load it again.
  Result<AppendResult> Save(Loaded<State>& aggregate, std::span<const EventData> events) {
    LoadOutcome outcome = Outcome(aggregate);
    auto result = core_.Save(aggregate.stream, outcome, events, Hooks(aggregate.state));
    if (result) Take(aggregate, outcome);
    return result;
  }
  Result<AppendResult> Save(Loaded<State>& aggregate, std::initializer_list<EventData> events) {
    return Save(aggregate, std::span<const EventData>(events.begin(), events.size()));
  }

  // Queues a snapshot of `aggregate` as it is, whatever the policy says.
  Status SnapshotNow(const Loaded<State>& aggregate) {
    // Hooks take a mutable state; encode only reads it.
    return core_.SnapshotNow(aggregate.stream, Outcome(aggregate), Hooks(const_cast<State&>(aggregate.state)));
  }

  // Waits until every snapshot queued so far is written (or has failed).
  void Flush() { core_.Flush(); }
  SnapshotCounters counters() const { return core_.counters(); }

 private:
  using LoadOutcome = detail::LoadOutcome;

  static detail::AggregateHooks Hooks(State& state) {
    return {.schema_version = static_cast<std::uint32_t>(A::kSchemaVersion),
            .reset = [&state] { state = A::Initial(); },
            .decode =
                [&state](std::string_view bytes) {
                  auto decoded = A::Decode(bytes);
                  if (!decoded) return false;
                  state = std::move(*decoded);
                  return true;
                },
            .apply = [&state](const EventView& event) { A::Apply(state, event); },
            .encode = [&state] { return A::Encode(state); }};
  }
  static LoadOutcome Outcome(const Loaded<State>& loaded) {
    return {.revision = loaded.revision,
            .snapshot_revision = loaded.snapshot_revision,
            .events_folded = loaded.events_folded};
  }
  static void Take(Loaded<State>& loaded, const LoadOutcome& outcome) {
    loaded.revision = outcome.revision;
    loaded.snapshot_revision = outcome.snapshot_revision;
    loaded.events_folded = outcome.events_folded;
  }

  detail::RepositoryCore core_;
};

}  // namespace cairn
