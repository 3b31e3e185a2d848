// tools/bench/report.h — what cairn_bench prints: a table for people, JSON for
// the README, and the targets marked PASS or MISS.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "measure.h"
#include "projection_scenarios.h"
#include "snapshot_scenarios.h"

namespace cairn::bench {

enum class ScenarioKind : std::uint8_t { kAppend, kStreamRead, kLogScan };

// One row: the same scenario measured on both subjects.
struct ScenarioResult {
  std::string key;    // stable identifier for JSON, e.g. "append_t64_b1"
  std::string title;  // what a person reads, e.g. "64 threads, 1-event appends"
  ScenarioKind kind = ScenarioKind::kAppend;
  Measurement cairn;
  Measurement raw;

  // cairn's events/s over raw's; 0 when raw measured nothing.
  double ratio() const { return raw.events_per_s > 0 ? cairn.events_per_s / raw.events_per_s : 0; }
};

// A target from the issue, checked against what was measured.
struct TargetCheck {
  std::string name;            // e.g. "64 writers, 1-event appends >= 50k events/s"
  std::string scenario_key;    // the row it reads
  std::optional<double> value; // nullopt when that scenario was not run
  std::string unit;            // "events/s", "x raw", "ms"
  bool pass = false;
};

// How the run was set up, printed above the table and into the JSON.
struct RunInfo {
  std::string sqlite_version;
  unsigned cpus = 0;
  std::string dir;
  std::string filesystem;  // e.g. "ext4"; a tmpfs makes every fsync free
  bool quick = false;
  double warmup_s = 0;
  double window_s = 0;
  std::uint64_t read_log_events = 0;     // events in the read/scan fixture
  std::uint64_t read_stream_events = 0;  // events in each read stream
  // CPUs used on average by other processes during the run: other work on the
  // machine (a compiler, another benchmark) makes every number here noisy.
  double others_cpus = 0;
  // --backends lmdb only.
  std::string lmdb_version;
  std::uint64_t read_log_streams = 0;  // streams in the read fixture's history
  // --projections only.
  std::uint64_t projection_events = 0;  // events in each backend's store
  double live_seconds = 0;              // length of the live-lag run
  int rounds = 1;                       // measurements of each throughput row (the median is reported)
};

// One row of the LMDB comparison (cairn_bench --backends lmdb): one scenario
// measured on cairn's LMDB backend, cairn's SQLite backend and raw LMDB.
struct LmdbScenarioResult {
  std::string key;
  std::string title;
  ScenarioKind kind = ScenarioKind::kAppend;
  Measurement cairn_lmdb;
  Measurement cairn_sqlite;
  Measurement raw_lmdb;
};

// The LMDB targets (those whose scenario ran; others get no value).
std::vector<TargetCheck> CheckLmdbTargets(const std::vector<LmdbScenarioResult>& results);

void PrintLmdbTable(std::FILE* out, const RunInfo& info, const std::vector<LmdbScenarioResult>& results,
                    const std::vector<TargetCheck>& targets);

void PrintLmdbJson(std::FILE* out, const RunInfo& info, const std::vector<LmdbScenarioResult>& results,
                   const std::vector<TargetCheck>& targets);

// cairn_bench --snapshots: for each backend, load(100,000 events with
// snapshots: at head, tail of 50, tail of 99) / load(10 events), medians,
// against the target of at most 3x (rows that did not run get no value).
std::vector<TargetCheck> CheckSnapshotTargets(const std::vector<SnapshotLoadResult>& results);

void PrintSnapshotTable(std::FILE* out, const RunInfo& info, const std::vector<SnapshotLoadResult>& results,
                        const std::vector<TargetCheck>& targets);

void PrintSnapshotJson(std::FILE* out, const RunInfo& info, const std::vector<SnapshotLoadResult>& results,
                       const std::vector<TargetCheck>& targets);

// cairn_bench --projections, per backend: rebuilds (SQL and C++ projections)
// >= 200,000 events/s and >= 0.7 x the raw-SQLite fold at the shadow's setting
// (synchronous=NORMAL); live lag p99 < 50 ms at 10,000 events/s.
std::vector<TargetCheck> CheckProjectionTargets(const std::vector<ProjectionBackendResult>& results);

void PrintProjectionTable(std::FILE* out, const RunInfo& info, const std::vector<ProjectionBackendResult>& results,
                          const std::vector<TargetCheck>& targets);

void PrintProjectionJson(std::FILE* out, const RunInfo& info, const std::vector<ProjectionBackendResult>& results,
                         const std::vector<TargetCheck>& targets);

// Checks the targets (those whose scenario ran; others get no value).
std::vector<TargetCheck> CheckTargets(const std::vector<ScenarioResult>& results);

void PrintTable(std::FILE* out, const RunInfo& info, const std::vector<ScenarioResult>& results,
                const std::vector<TargetCheck>& targets);

void PrintJson(std::FILE* out, const RunInfo& info, const std::vector<ScenarioResult>& results,
               const std::vector<TargetCheck>& targets);

}  // namespace cairn::bench
