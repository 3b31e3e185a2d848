// tools/bench/projection_scenarios.h — cairn_bench --projections: rebuilding a
// read model from the log, and the lag of a projection following live appends.
//
// Per backend, one store holds `events` events in min(events, 10,000) streams
// "order-<n>" (appended 10 at a time, streams interleaved), with the
// benchmark's usual 200-byte JSON data and 100-byte JSON metadata. The read
// model keeps one row per stream: the number of its events and the sum of
// their data.total_cents, one upsert per event. That upsert is measured as
//
//   - a SQL projection (ParseSqlProjection), rebuilt with RunToHead into a new
//     read model: the shadow build and the swap, from the first event to
//     RunToHead's return;
//   - the same projection written in C++: a handler parsing the data with
//     RapidJSON and binding ReadModelWriter::Prepare's cached statement;
//   - raw SQLite: what a developer would hand-write without the runner — the
//     same events read with EventStore::ReadLog, the same JSON parse, one
//     prepared upsert, a transaction every 1,000 events (the runner's default
//     batch). projection_scenarios.cc says exactly what it does and does not do.
//
// Then the SQL projection's read model follows the store live (Start) while one
// thread appends at a steady 10,000 events/s; the lag of each event is the time
// from its Append's return to the commit of the read-model batch holding it.
//
//   std::vector<ProjectionBackendResult> results;
//   if (!RunProjectionScenarios(options, results)) return 1;
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn::bench {

// The store: at most this many streams; events are appended this many to an append.
inline constexpr std::uint64_t kProjectionStreams = 10'000;
inline constexpr std::size_t kProjectionAppendEvents = 10;
// The runner's default RunnerOptions::max_batch_events, which the raw baseline copies.
inline constexpr std::size_t kProjectionBatchEvents = 1000;
// Live lag: the writer appends kLiveAppendEvents events every kLiveAppendEvery.
inline constexpr std::size_t kLiveAppendEvents = 10;
inline constexpr std::chrono::microseconds kLiveAppendEvery{1000};

// One way of getting through the whole log once.
struct ThroughputRow {
  std::string key;    // stable identifier for JSON and --filter, e.g. "rebuild_sql"
  std::string title;  // e.g. "SQL projection, RunToHead"
  std::uint64_t events = 0;  // events processed
  double seconds = 0;        // wall time, start to finish
  std::uint64_t commits = 0;  // read-model transactions (0: none, e.g. a scan)
  // Rebuilds: from the shadow's last batch commit to RunToHead's return — the
  // swap (attach, copy, commit) and the end of the run.
  std::optional<double> swap_seconds;
  // Over the rounds: the row reports the median round (by time); these are the extremes.
  std::uint32_t rounds = 1;
  double min_events_per_s = 0;
  double max_events_per_s = 0;
  // events/s over raw SQLite's (synchronous=NORMAL, FULL) in the same round,
  // the median over the rounds; nullopt when the raw row did not run.
  std::optional<double> x_raw_normal;
  std::optional<double> x_raw_full;
  double events_per_s() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
};

// The live run: one writer at a paced rate, one runner following.
struct LagResult {
  std::uint64_t events = 0;     // appended (and each one's lag measured)
  double writer_seconds = 0;    // from the first append to the last one's return
  double appended_per_s = 0;
  double append_p99_ms = 0;     // the writer's Append latency
  std::uint64_t late_appends = 0;  // appends that started more than 1 ms behind schedule
  std::uint64_t batches = 0;    // read-model commits that held events
  double mean_ms = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;  // lag per event
};

struct ProjectionBackendResult {
  std::string backend;  // "sqlite" or "lmdb"
  std::uint64_t events = 0;
  std::uint64_t streams = 0;
  double setup_seconds = 0;
  std::vector<ThroughputRow> rows;  // in the order measured, each the median of its rounds
  std::optional<LagResult> lag;

  const ThroughputRow* Find(std::string_view key) const {
    for (const ThroughputRow& row : rows) {
      if (row.key == key) return &row;
    }
    return nullptr;
  }
};

struct ProjectionRunOptions {
  std::string dir;  // where the stores and read models are created
  std::vector<BackendKind> backends;  // in this order
  std::uint64_t events = 1'000'000;
  std::chrono::duration<double> live_seconds{10.0};
  int rounds = 3;  // every throughput row is measured this many times; the median is reported
  std::string filter;  // run only rows whose key contains it (scan, scan_json, raw_normal, raw_full,
                       // rebuild_sql, rebuild_cpp, live_lag); all when empty
  // Called with a line of progress (no newline) now and then.
  std::function<void(std::string_view)> progress;
};

// Builds each backend's store (at Durability::kRelaxed: the rebuild reads it,
// it does not matter how durably it was written), reopens it at kFull, then
// measures the selected rows `rounds` times (each round runs every row once)
// and the live lag. Every read model is checked
// against the log (its streams, event count and sum) before its time is
// reported; a wrong one is an error, not a number. Errors: a store or read
// model failed, or a result did not match.
Status RunProjectionScenarios(const ProjectionRunOptions& options, std::vector<ProjectionBackendResult>& results);

}  // namespace cairn::bench
