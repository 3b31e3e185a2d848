// tools/bench/since_scenarios.h — cairn_bench --since: replay from a point in
// time, and what JSON Schema validation costs an append, on cairn's SQLite and
// LMDB backends.
//
// Replay: a store of --history events (1,000,000 by default) appended in
// 1,000-event batches (so about 1,000 distinct recorded_at times, as a store
// written over time has), then the time to the first event of `cairn replay
// --since T` for times T spread over the log: EventStore::PositionAtOrAfter(T)
// (a binary search) and ReadLog from there until the first event is visited.
// Measured on an open store ("seek") and, as the CLI does it, including
// opening the store ("open+seek"); beside them, the same first event found by
// scanning the log from position 1 (what a replay without the search costs).
// Target: the first event of a replay from the middle in < 50 ms.
//
// Validation: one thread appending 100-event batches (the benchmark's 200-byte
// order.placed.v1 JSON) at Durability::kRelaxed — so that the CPU cost shows
// and not the fsync — without a schema, then with a JSON Schema registered for
// the type (every field typed, a pattern, a minimum: kSchema in the .cc), then
// without again (appends slow down as a file grows; the ratio compares the
// schema run with the mean of the two around it).
//
//   std::vector<SinceBackendResult> results;
//   if (!RunSinceScenarios(options, results)) return 1;
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/options.h"
#include "measure.h"

namespace cairn::bench {

struct SinceBackendResult {
  std::string backend;  // "sqlite" or "lmdb"
  std::uint64_t events = 0;
  double build_s = 0;  // appending the store
  // Time to the first event of a replay --since, in milliseconds, over `probes` times spread over the log.
  std::uint64_t probes = 0;
  double seek_mean_ms = 0, seek_p50_ms = 0, seek_max_ms = 0;
  double open_seek_mean_ms = 0, open_seek_max_ms = 0;
  double middle_seek_ms = 0;       // T = the recorded_at of the middle event, on the open store
  double middle_open_seek_ms = 0;  // the same, opening the store first (the CLI's path)
  double middle_scan_ms = 0;       // the same event found by scanning from position 1
  // Appends of 100-event batches, events/s.
  std::optional<Measurement> append_plain;
  std::optional<Measurement> append_schema;
  std::optional<Measurement> append_plain_again;  // after the schema was deleted
};

struct SinceRunOptions {
  std::string dir;
  std::vector<BackendKind> backends;
  std::uint64_t events = 1'000'000;
  Window window;
  std::function<void(std::string_view)> progress;
};

Status RunSinceScenarios(const SinceRunOptions& options, std::vector<SinceBackendResult>& results);
void PrintSinceTable(std::FILE* out, const std::vector<SinceBackendResult>& results);
void PrintSinceJson(std::FILE* out, const std::vector<SinceBackendResult>& results);

}  // namespace cairn::bench
