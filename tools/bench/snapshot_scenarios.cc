#include "snapshot_scenarios.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cairn/snapshot.h"
#include "cairn/store.h"
#include "subject.h"

namespace cairn::bench {
namespace {

// The benchmark's aggregate. Apply counts events and data bytes and remembers
// the last revision — enough to check every load, cheap enough that what is
// measured is the store and the repository. Its state is 24 bytes in a tiny
// fixed encoding (three little-endian u64s; no Cap'n Proto), as a service
// with a small fixed-size state might write it.
struct BenchState {
  std::uint64_t events = 0;
  std::uint64_t data_bytes = 0;
  std::uint64_t last_revision = 0;
};

struct BenchAggregate {
  using State = BenchState;
  static constexpr std::uint32_t kSchemaVersion = 1;
  static constexpr std::size_t kEncodedBytes = 3 * sizeof(std::uint64_t);

  static State Initial() { return {}; }
  static void Apply(State& state, const EventView& event) {
    ++state.events;
    state.data_bytes += event.data.size();
    state.last_revision = event.revision;
  }
  static std::string Encode(const State& state) {
    std::string bytes(kEncodedBytes, '\0');
    const std::uint64_t fields[3] = {state.events, state.data_bytes, state.last_revision};
    std::memcpy(bytes.data(), fields, kEncodedBytes);  // x86-64: little-endian
    return bytes;
  }
  static std::optional<State> Decode(std::string_view bytes) {
    if (bytes.size() != kEncodedBytes) return std::nullopt;
    std::uint64_t fields[3];
    std::memcpy(fields, bytes.data(), kEncodedBytes);
    return State{.events = fields[0], .data_bytes = fields[1], .last_revision = fields[2]};
  }
};
static_assert(Aggregate<BenchAggregate>);

using BenchRepository = Repository<BenchAggregate>;

// What every load of a row must return.
struct Expected {
  std::uint64_t events = 0;
  std::optional<std::uint64_t> snapshot_revision;
  std::uint64_t folded = 0;
};

Status CheckLoad(const Result<Loaded<BenchState>>& loaded, const std::string& stream, const Expected& expected) {
  if (!loaded) return std::unexpected(loaded.error());
  const bool right = loaded->revision == expected.events - 1 && loaded->events_folded == expected.folded &&
                     loaded->snapshot_revision == expected.snapshot_revision &&
                     loaded->state.events == expected.events && loaded->state.last_revision == expected.events - 1;
  if (right) return {};
  return Fail(ErrorCode::kCorruption,
              fmt::format("{}: loaded revision {}, {} events folded from {}, state of {} events; expected revision "
                          "{}, {} folded from {}",
                          stream, loaded->revision ? fmt::format("{}", *loaded->revision) : "none",
                          loaded->events_folded,
                          loaded->snapshot_revision ? fmt::format("snapshot {}", *loaded->snapshot_revision)
                                                    : "the first event",
                          loaded->state.events, expected.events - 1, expected.folded,
                          expected.snapshot_revision ? fmt::format("snapshot {}", *expected.snapshot_revision)
                                                     : "the first event"));
}

// Loads `stream` again and again on one thread; a wrong load is a failure.
Result<Measurement> MeasureLoads(BenchRepository& repository, const std::string& stream, const Expected& expected,
                                 const Window& window) {
  // A row whose stream is not as planned must not report a number at all.
  if (Status first = CheckLoad(repository.Load(stream), stream, expected); !first) {
    return std::unexpected(first.error());
  }
  std::vector<Operation> ops;
  ops.push_back([&repository, &stream, &expected]() -> Result<std::uint64_t> {
    if (Status ok = CheckLoad(repository.Load(stream), stream, expected); !ok) return std::unexpected(ok.error());
    return 1;  // one load: events_per_s counts loads per second
  });
  return RunWindowed(std::move(ops), window);
}

std::vector<EventData> MakeEvents(std::size_t count) {
  std::vector<EventData> events;
  events.reserve(count);
  // No ids: the store generates one per event on every append.
  for (Payload& payload : MakePayloads(count)) {
    events.push_back(EventData{.type = std::move(payload.type),
                               .data = std::move(payload.data),
                               .metadata = std::move(payload.metadata)});
  }
  return events;
}

// `events` events appended to a new `stream` in appends of at most kSnapshotBuildBatch.
Status AppendPlain(EventStore& store, const std::string& stream, std::uint64_t events,
                   const std::vector<EventData>& batch) {
  for (std::uint64_t written = 0; written < events;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(batch.size(), events - written));
    auto appended = store.Append(stream, ExpectedRevision::Any(), std::span<const EventData>(batch.data(), n));
    if (!appended) return std::unexpected(appended.error());
    written += n;
  }
  return {};
}

// `events` more events saved to `aggregate` through `repository` in saves of
// at most kSnapshotBuildBatch (each save crossing a multiple of the policy's
// N queues a snapshot), then the queued snapshots written.
Status SaveThrough(BenchRepository& repository, Loaded<BenchState>& aggregate, std::uint64_t events,
                   const std::vector<EventData>& batch) {
  for (std::uint64_t written = 0; written < events;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(batch.size(), events - written));
    auto saved = repository.Save(aggregate, std::span<const EventData>(batch.data(), n));
    if (!saved) return std::unexpected(saved.error());
    written += n;
  }
  repository.Flush();
  const SnapshotCounters counters = repository.counters();
  if (counters.snapshot_write_failures > 0 || counters.snapshots_dropped > 0) {
    return Fail(ErrorCode::kIOError, fmt::format("{} snapshot writes failed, {} were dropped",
                                                 counters.snapshot_write_failures, counters.snapshots_dropped));
  }
  return {};
}

// The revisions of `stream`'s snapshots, newest first.
Result<std::vector<std::uint64_t>> SnapshotRevisions(EventStore& store, const std::string& stream) {
  std::vector<std::uint64_t> revisions;
  auto read = store.ReadSnapshots(stream, [&](const SnapshotView& snapshot) {
    revisions.push_back(snapshot.revision);
    return true;
  });
  if (!read) return std::unexpected(read.error());
  return revisions;
}

// The rows, in the order they are measured.
struct Row {
  const char* key;
  const char* title;
  Expected expected;
};

constexpr std::uint64_t k100k = 100'000;
constexpr Row kLoad10{"load_10", "10 events, no snapshot", {10, std::nullopt, 10}};
constexpr Row kLoad1k{"load_1k", "1,000 events, no snapshots", {1000, std::nullopt, 1000}};
constexpr Row kLoad1kSnap{"load_1k_snap", "1,000 events, snapshot at head", {1000, 999, 0}};
constexpr Row kLoad100k{"load_100k", "100,000 events, no snapshots", {k100k, std::nullopt, k100k}};
constexpr Row kLoad100kHead{"load_100k_head", "100,000 events, snapshot at head", {k100k, k100k - 1, 0}};
constexpr Row kLoad100kTail50{"load_100k_tail50", "100,000 + 50 events (tail of 50)", {k100k + 50, k100k - 1, 50}};
constexpr Row kLoad100kTail99{"load_100k_tail99", "100,000 + 99 events (tail of 99)", {k100k + 99, k100k - 1, 99}};

class BackendRun {
 public:
  BackendRun(const SnapshotRunOptions& options, BackendKind backend, std::vector<SnapshotLoadResult>& results)
      : options_(options), backend_(backend), results_(results) {}

  Status Run() {
    const bool lmdb = backend_ == BackendKind::kLmdb;
    auto opened = EventStore::Open(fmt::format("{}/snapshots-{}", options_.dir, lmdb ? "lmdb.mdb" : "sqlite.db"),
                                   Options{.backend = backend_,
                                           .create_if_missing = true,
                                           .durability = Durability::kRelaxed,
                                           .lmdb_initial_map_bytes = std::size_t{16} << 30});
    if (!opened) return std::unexpected(opened.error());
    std::unique_ptr<EventStore> store = std::move(*opened);
    // Repositories after the store: destroyed first, writing what they queued into it.
    BenchRepository plain(*store, SnapshotPolicy::Never());
    BenchRepository snapshotted(*store, SnapshotPolicy::EveryEvents(kSnapshotEvery, kSnapshotKeep));
    const std::vector<EventData> batch = MakeEvents(kSnapshotBuildBatch);

    for (const Row* row : {&kLoad10, &kLoad1k, &kLoad100k}) {
      if (!Selected(*row)) continue;
      const std::string stream = fmt::format("plain-{}", row->key);
      if (Status s = Timed(fmt::format("writing {} ({} events)", stream, row->expected.events),
                           [&] { return AppendPlain(*store, stream, row->expected.events, batch); });
          !s) {
        return s;
      }
      if (Status s = Measure(*row, plain, stream); !s) return s;
    }

    if (Selected(kLoad1kSnap)) {
      const std::string stream = "snap-1k";
      auto aggregate = snapshotted.Load(stream);
      if (!aggregate) return std::unexpected(aggregate.error());
      if (Status s = Timed("writing snap-1k (1,000 events through the repository)",
                           [&] { return SaveThrough(snapshotted, *aggregate, 1000, batch); });
          !s) {
        return s;
      }
      if (Status s = Measure(kLoad1kSnap, snapshotted, stream); !s) return s;
    }

    const bool tails = Selected(kLoad100kTail50) || Selected(kLoad100kTail99);
    if (!Selected(kLoad100kHead) && !tails) return {};
    const std::string stream = "snap-100k";
    auto aggregate = snapshotted.Load(stream);
    if (!aggregate) return std::unexpected(aggregate.error());
    if (Status s = Timed("writing snap-100k (100,000 events through the repository)",
                         [&] { return SaveThrough(snapshotted, *aggregate, k100k, batch); });
        !s) {
      return s;
    }
    // Saves of 1,000 cross a multiple of 100 every time: one snapshot each, the newest 3 kept.
    auto kept = SnapshotRevisions(*store, stream);
    if (!kept) return std::unexpected(kept.error());
    if (*kept != std::vector<std::uint64_t>{k100k - 1, k100k - 1001, k100k - 2001}) {
      return Fail(ErrorCode::kCorruption, fmt::format("{}: snapshots at revisions {}, expected 99999, 98999, 97999",
                                                      stream, fmt::join(*kept, ", ")));
    }
    if (Selected(kLoad100kHead)) {
      if (Status s = Measure(kLoad100kHead, snapshotted, stream); !s) return s;
    }
    if (!tails) return {};
    // 50 and then 49 more events: no save crosses 100,100, so no new snapshot.
    if (Status s = SaveThrough(snapshotted, *aggregate, 50, batch); !s) return s;
    if (Selected(kLoad100kTail50)) {
      if (Status s = Measure(kLoad100kTail50, snapshotted, stream); !s) return s;
    }
    if (Status s = SaveThrough(snapshotted, *aggregate, 49, batch); !s) return s;
    if (Selected(kLoad100kTail99)) {
      if (Status s = Measure(kLoad100kTail99, snapshotted, stream); !s) return s;
    }
    return {};
  }

 private:
  bool Selected(const Row& row) const {
    return options_.filter.empty() || std::string_view(row.key).find(options_.filter) != std::string_view::npos;
  }

  const char* BackendName() const { return backend_ == BackendKind::kLmdb ? "lmdb" : "sqlite"; }

  template <class Build>
  Status Timed(const std::string& what, Build build) {
    const auto started = std::chrono::steady_clock::now();
    Status built = build();
    if (built && options_.progress) {
      options_.progress(fmt::format("  {:<7} {}: {:.1f} s", BackendName(), what,
                                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()));
    }
    return built;
  }

  Status Measure(const Row& row, BenchRepository& repository, const std::string& stream) {
    Result<Measurement> m = MeasureLoads(repository, stream, row.expected, options_.window);
    if (!m) return Fail(m.error().code(), fmt::format("{} on {}: {}", row.key, BackendName(), m.error().message()));
    if (options_.progress) {
      options_.progress(fmt::format("  {:<7} {:<36} {:>10.1f} µs p50 {:>10.1f} µs p99  ({} loads{})", BackendName(),
                                    row.title, m->p50_ms * 1e3, m->p99_ms * 1e3, m->ops,
                                    m->failures ? fmt::format(", {} failed", m->failures) : ""));
    }
    SnapshotLoadResult* result = nullptr;
    for (SnapshotLoadResult& r : results_) {
      if (r.key == row.key) result = &r;
    }
    if (!result) {
      results_.push_back({.key = row.key,
                          .title = row.title,
                          .events = row.expected.events,
                          .snapshot_revision = row.expected.snapshot_revision,
                          .folded = row.expected.folded});
      result = &results_.back();
    }
    (backend_ == BackendKind::kLmdb ? result->lmdb : result->sqlite) = std::move(*m);
    return {};
  }

  const SnapshotRunOptions& options_;
  BackendKind backend_;
  std::vector<SnapshotLoadResult>& results_;
};

}  // namespace

Status RunSnapshotScenarios(const SnapshotRunOptions& options, std::vector<SnapshotLoadResult>& results) {
  for (BackendKind backend : {BackendKind::kSqlite, BackendKind::kLmdb}) {
    if (Status s = BackendRun(options, backend, results).Run(); !s) return s;
  }
  // Measured in the order the streams are built; reported by size, then by snapshot.
  constexpr const Row* kReportOrder[] = {&kLoad10,        &kLoad1k,         &kLoad1kSnap,    &kLoad100k,
                                         &kLoad100kHead, &kLoad100kTail50, &kLoad100kTail99};
  auto rank = [&](const SnapshotLoadResult& result) {
    return std::find_if(std::begin(kReportOrder), std::end(kReportOrder),
                        [&](const Row* row) { return result.key == row->key; }) -
           std::begin(kReportOrder);
  };
  std::stable_sort(results.begin(), results.end(),
                   [&](const SnapshotLoadResult& a, const SnapshotLoadResult& b) { return rank(a) < rank(b); });
  return {};
}

}  // namespace cairn::bench
