// tools/bench/snapshot_scenarios.h — cairn_bench --snapshots: what loading an
// aggregate through cairn::Repository costs, with and without snapshots, on
// cairn's SQLite and LMDB backends.
//
// Each load is Repository<A>::Load as a service calls it: the stream's head,
// its newest snapshot (decoded, its event hash checked against the log), then
// the events after it folded in. The aggregate is the benchmark's own (see
// snapshot_scenarios.cc): Apply only counts, so the numbers are the store's and
// the repository's, not an aggregate's business logic. Events are the
// benchmark's usual 200-byte JSON data and 100-byte JSON metadata.
//
//   std::vector<SnapshotLoadResult> results;
//   if (!RunSnapshotScenarios(options, results)) return 1;
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/options.h"
#include "measure.h"

namespace cairn::bench {

// Snapshot policy of the snapshotted streams: every kSnapshotEvery events, keep kSnapshotKeep.
inline constexpr std::uint64_t kSnapshotEvery = 100;
inline constexpr std::size_t kSnapshotKeep = 3;
// Events per Append (and per Repository::Save) when building a stream.
inline constexpr std::size_t kSnapshotBuildBatch = 1000;

// One row: the same aggregate shape loaded on both backends. A measurement's
// operations are loads: events_per_s is loads/s, latencies are per load.
struct SnapshotLoadResult {
  std::string key;    // stable identifier for JSON and --filter, e.g. "load_100k_tail50"
  std::string title;  // e.g. "100,000 events + 50-event tail"
  std::uint64_t events = 0;                      // events in the stream (its head revision + 1)
  std::optional<std::uint64_t> snapshot_revision;  // where each load starts; nullopt: from the first event
  std::uint64_t folded = 0;                      // events each load folds
  std::optional<Measurement> sqlite;             // nullopt when that backend did not run it
  std::optional<Measurement> lmdb;
};

struct SnapshotRunOptions {
  std::string dir;  // where the two stores are created
  Window window;
  std::string filter;  // run only rows whose key contains it; all when empty
  // Called with a line of progress (no newline) now and then.
  std::function<void(std::string_view)> progress;
};

// Builds the streams (at Durability::kRelaxed: loads care about layout, not
// durability; snapshots are written by the repository as a service's would
// be), then measures each selected row on SQLite, then on LMDB. A load that
// folds another number of events, starts from another snapshot or returns a
// state that does not match its stream counts as a failure. Errors: a store
// could not be built, or a row's precondition did not hold (e.g. the snapshot
// the row needs was not written).
Status RunSnapshotScenarios(const SnapshotRunOptions& options, std::vector<SnapshotLoadResult>& results);

}  // namespace cairn::bench
