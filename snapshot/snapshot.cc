#include "cairn/snapshot.h"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace cairn {

std::string_view SnapshotProblemName(SnapshotProblem problem) {
  switch (problem) {
    case SnapshotProblem::kNone: return "none";
    case SnapshotProblem::kDamaged: return "damaged";
    case SnapshotProblem::kSchemaVersion: return "schema-version";
    case SnapshotProblem::kPastHead: return "past-head";
    case SnapshotProblem::kEventHash: return "event-hash";
    case SnapshotProblem::kUndecodable: return "undecodable";
  }
  return "unknown";
}

namespace {

// The hash of `stream`'s event at `revision`; nullopt when it has none there.
Result<std::optional<Hash>> EventHashAt(EventStore& store, std::string_view stream, std::uint64_t revision) {
  std::optional<Hash> hash;
  auto read = store.ReadStream(stream, {.from_revision = revision, .max_count = 1}, [&](const EventView& event) {
    if (event.revision == revision) hash = event.hash;
    return false;
  });
  if (!read) return Fail(read.error());
  return hash;
}

}  // namespace

Result<SnapshotProblem> CheckSnapshot(EventStore& store, const SnapshotView& snapshot) {
  auto info = store.GetStreamInfo(snapshot.stream);
  if (!info) return Fail(info.error());
  if (!info->exists) return Fail(ErrorCode::kNotFound, "stream \"" + std::string(snapshot.stream) + "\" does not exist");
  if (info->deleted) return Fail(ErrorCode::kStreamDeleted, "stream \"" + std::string(snapshot.stream) + "\" is deleted");
  if (!snapshot.intact) return SnapshotProblem::kDamaged;
  if (snapshot.revision > *info->head_revision) return SnapshotProblem::kPastHead;
  auto hash = EventHashAt(store, snapshot.stream, snapshot.revision);
  if (!hash) return Fail(hash.error());
  if (!*hash || **hash != snapshot.event_hash) return SnapshotProblem::kEventHash;
  return SnapshotProblem::kNone;
}

namespace detail {

struct RepositoryCore::Counters {
  std::atomic<std::uint64_t> loads{0};
  std::atomic<std::uint64_t> loads_from_snapshot{0};
  std::atomic<std::uint64_t> events_folded{0};
  std::atomic<std::uint64_t> ignored_damaged{0};
  std::atomic<std::uint64_t> ignored_schema_version{0};
  std::atomic<std::uint64_t> ignored_past_head{0};
  std::atomic<std::uint64_t> ignored_event_hash{0};
  std::atomic<std::uint64_t> ignored_undecodable{0};
  std::atomic<std::uint64_t> snapshots_queued{0};
  std::atomic<std::uint64_t> snapshots_written{0};
  std::atomic<std::uint64_t> snapshot_write_failures{0};
  std::atomic<std::uint64_t> snapshots_dropped{0};
};

// Writes queued snapshots on its own thread, started by the first one queued.
// The caller that triggered a snapshot has already had its answer; a failure
// here is logged and counted, never returned.
class RepositoryCore::Writer {
 public:
  struct Job {
    std::string stream;
    std::uint64_t revision = 0;
    std::uint32_t schema_version = 0;
    std::string state;
  };

  Writer(EventStore& store, std::size_t keep, RepositoryOptions options, Counters& counters)
      : store_(store), keep_(keep), options_(std::move(options)), counters_(counters) {
    if (!options_.log) {
      options_.log = [](std::string_view line) {
        std::fprintf(stderr, "cairn: %.*s\n", static_cast<int>(line.size()), line.data());
      };
    }
  }

  ~Writer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Push(Job job) {
    {
      std::lock_guard lock(mutex_);
      if (queue_.size() >= options_.max_queued_snapshots) {
        counters_.snapshots_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      queue_.push_back(std::move(job));
      counters_.snapshots_queued.fetch_add(1, std::memory_order_relaxed);
      if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    }
    work_.notify_one();
  }

  void Flush() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return queue_.empty() && !writing_; });
  }

  void Run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      // Queued snapshots are written even when stopping: the destructor drains.
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Job job = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      lock.unlock();
      Write(job);
      lock.lock();
      writing_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }

  void ReportFailure(std::string_view stream, std::uint64_t revision, std::string_view why) {
    counters_.snapshot_write_failures.fetch_add(1, std::memory_order_relaxed);
    options_.log("snapshot of stream \"" + std::string(stream) + "\" at revision " + std::to_string(revision) +
                 " not written: " + std::string(why));
  }

 private:
  void Write(const Job& job) {
    auto fail = [&](const Error& error) { ReportFailure(job.stream, job.revision, error.ToString()); };
    auto hash = EventHashAt(store_, job.stream, job.revision);
    if (!hash) return fail(hash.error());
    if (!*hash) {
      return fail(Error(ErrorCode::kNotFound, "the stream has no event at revision " + std::to_string(job.revision)));
    }
    auto saved = store_.SaveSnapshot({.stream = job.stream,
                                      .revision = job.revision,
                                      .schema_version = job.schema_version,
                                      .event_hash = **hash,
                                      .state = job.state},
                                     keep_);
    if (!saved) return fail(saved.error());
    counters_.snapshots_written.fetch_add(1, std::memory_order_relaxed);
  }

  EventStore& store_;
  const std::size_t keep_;
  RepositoryOptions options_;
  Counters& counters_;

  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable idle_;
  std::deque<Job> queue_;
  bool writing_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

RepositoryCore::RepositoryCore(EventStore& store, SnapshotPolicy policy, RepositoryOptions options)
    : store_(store), upcasters_(options.upcasters), policy_(policy), counters_(std::make_unique<Counters>()) {
  writer_ = std::make_unique<Writer>(store, policy.keep, std::move(options), *counters_);
}

RepositoryCore::~RepositoryCore() = default;

namespace {

// Decode may be user code that throws on garbage (Cap'n Proto does): garbage is "does not decode".
bool SafeDecode(const AggregateHooks& hooks, std::string_view bytes) {
  try {
    return hooks.decode(bytes);
  } catch (...) {
    return false;
  }
}

}  // namespace

Status RepositoryCore::Fold(const EventView& event, const AggregateHooks& hooks, UpcastedEvent& scratch) const {
  if (!upcasters_) {
    hooks.apply(event);
    return {};
  }
  auto changed = upcasters_->Apply(event, scratch);
  if (!changed) return Fail(changed.error());
  hooks.apply(*changed ? scratch.view() : event);
  return {};
}

Result<LoadOutcome> RepositoryCore::Load(std::string_view stream, const AggregateHooks& hooks) {
  counters_->loads.fetch_add(1, std::memory_order_relaxed);
  auto count = [](std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); };

  struct Candidate {
    std::uint64_t revision = 0;
    Hash event_hash{};
    std::string state;
  };
  // Snapshots at or above this revision have been tried (or skipped) already.
  std::optional<std::uint64_t> below;
  for (;;) {
    hooks.reset();
    std::optional<Candidate> candidate;
    auto listed = store_.ReadSnapshots(stream, [&](const SnapshotView& snapshot) {
      if (below && snapshot.revision >= *below) return true;
      if (!snapshot.intact) {
        count(counters_->ignored_damaged);
        return true;
      }
      if (snapshot.schema_version != hooks.schema_version) {
        count(counters_->ignored_schema_version);
        return true;
      }
      candidate = Candidate{snapshot.revision, snapshot.event_hash, std::string(snapshot.state)};
      return false;
    });
    if (!listed) return Fail(listed.error());

    // The head is read after the snapshots, so that a snapshot saved meanwhile
    // is never mistaken for one past the head.
    auto info = store_.GetStreamInfo(stream);
    if (!info) return Fail(info.error());
    if (info->deleted) return Fail(ErrorCode::kStreamDeleted, "stream \"" + std::string(stream) + "\" is deleted");
    if (!info->exists) return LoadOutcome{};
    if (candidate && candidate->revision > *info->head_revision) {
      count(counters_->ignored_past_head);
      below = candidate->revision;
      continue;
    }

    LoadOutcome outcome;
    std::optional<std::uint64_t> from;
    if (candidate) {
      if (!SafeDecode(hooks, candidate->state)) {
        count(counters_->ignored_undecodable);
        below = candidate->revision;
        continue;
      }
      outcome.revision = outcome.snapshot_revision = candidate->revision;
      from = candidate->revision;  // read the snapshot's own event too, to check its hash
    }

    bool hash_matches = !candidate;
    UpcastedEvent upcast;
    Status folded;
    auto read = store_.ReadStream(stream, {.from_revision = from}, [&](const EventView& event) {
      if (candidate && event.revision == candidate->revision) {
        hash_matches = event.hash == candidate->event_hash;
        return hash_matches;
      }
      folded = Fold(event, hooks, upcast);
      if (!folded) return false;
      outcome.revision = event.revision;
      ++outcome.events_folded;
      return true;
    });
    if (!read) return Fail(read.error());
    if (!folded) return Fail(ErrorCode::kInvalidArgument, "cannot load stream \"" + std::string(stream) + "\": " +
                                                              folded.error().message());
    if (!hash_matches) {
      count(counters_->ignored_event_hash);
      below = candidate->revision;
      continue;
    }

    if (candidate) count(counters_->loads_from_snapshot);
    counters_->events_folded.fetch_add(outcome.events_folded, std::memory_order_relaxed);
    if (policy_.when_folded_more_than > 0 && outcome.events_folded > policy_.when_folded_more_than) {
      Enqueue(stream, *outcome.revision, hooks);
    }
    return outcome;
  }
}

Result<AppendResult> RepositoryCore::Save(std::string_view stream, LoadOutcome& loaded,
                                          std::span<const EventData> events, const AggregateHooks& hooks) {
  const std::optional<std::uint64_t> before = loaded.revision;
  ExpectedRevision expected = before ? ExpectedRevision::Exact(*before) : ExpectedRevision::NoStream();
  auto appended = store_.Append(stream, expected, events);
  if (!appended) return appended;

  // Fold what the log now holds, not the EventData given: a later load will see
  // exactly these views (ids, times and hashes assigned by the store).
  std::uint64_t next = before ? *before + 1 : 0;
  UpcastedEvent upcast;
  Status folded;
  auto read = store_.ReadStream(stream, {.from_revision = next, .max_count = appended->last_revision - next + 1},
                                [&](const EventView& event) {
                                  folded = Fold(event, hooks, upcast);
                                  if (!folded) return false;
                                  loaded.revision = event.revision;
                                  return true;
                                });
  if (!read) return Fail(read.error());
  if (!folded) {
    return Fail(ErrorCode::kInvalidArgument, "stream \"" + std::string(stream) +
                                                 "\": the events were appended but cannot be folded: " +
                                                 folded.error().message());
  }
  if (loaded.revision != appended->last_revision) {
    return Fail(ErrorCode::kCorruption, "stream \"" + std::string(stream) + "\": revision " +
                                            std::to_string(appended->last_revision) +
                                            " was appended but cannot be read back");
  }

  const std::uint64_t every = policy_.every_events;
  if (every > 0 && (before ? *before + 1 : 0) / every != (appended->last_revision + 1) / every) {
    Enqueue(stream, appended->last_revision, hooks);
  }
  return appended;
}

Status RepositoryCore::SnapshotNow(std::string_view stream, const LoadOutcome& loaded, const AggregateHooks& hooks) {
  if (!loaded.revision) {
    return Fail(ErrorCode::kInvalidArgument,
                "stream \"" + std::string(stream) + "\" has no events: there is nothing to snapshot");
  }
  Enqueue(stream, *loaded.revision, hooks);
  return {};
}

void RepositoryCore::Enqueue(std::string_view stream, std::uint64_t revision, const AggregateHooks& hooks) {
  // Encode is user code: whatever it throws must not fail the load or save that triggered it.
  std::string state;
  try {
    state = hooks.encode();
  } catch (const std::exception& error) {
    return writer_->ReportFailure(stream, revision, std::string("the state did not encode: ") + error.what());
  } catch (...) {
    return writer_->ReportFailure(stream, revision, "the state did not encode");
  }
  writer_->Push({.stream = std::string(stream),
                 .revision = revision,
                 .schema_version = hooks.schema_version,
                 .state = std::move(state)});
}

void RepositoryCore::Flush() { writer_->Flush(); }

SnapshotCounters RepositoryCore::counters() const {
  const Counters& c = *counters_;
  auto get = [](const std::atomic<std::uint64_t>& value) { return value.load(std::memory_order_relaxed); };
  return {.loads = get(c.loads),
          .loads_from_snapshot = get(c.loads_from_snapshot),
          .events_folded = get(c.events_folded),
          .ignored_damaged = get(c.ignored_damaged),
          .ignored_schema_version = get(c.ignored_schema_version),
          .ignored_past_head = get(c.ignored_past_head),
          .ignored_event_hash = get(c.ignored_event_hash),
          .ignored_undecodable = get(c.ignored_undecodable),
          .snapshots_queued = get(c.snapshots_queued),
          .snapshots_written = get(c.snapshots_written),
          .snapshot_write_failures = get(c.snapshot_write_failures),
          .snapshots_dropped = get(c.snapshots_dropped)};
}

}  // namespace detail
}  // namespace cairn
