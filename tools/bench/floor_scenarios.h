// tools/bench/floor_scenarios.h — cairn_bench --floor: what the store's required
// storage work costs in SQLite before any cairn code runs.
//
// 1000-event transactions written by hand with prepared statements (WAL,
// synchronous=FULL, one fsync per transaction, the benchmark's 200-byte data and
// 100-byte metadata), on a ladder of schemas from the raw baseline's to cairn's:
//   raw          the raw baseline's table (raw_sqlite_subject.cc): UNIQUE(stream, revision)
//   +audit       the columns the audit chain needs (explicit position, content type,
//                a 32-byte hash), still one index
//   +id index    the unique event-id index idempotent appends need
//   +category    the category index category reads need, and the streams row per
//                append: cairn's tables exactly (store/sqlite/sqlite_backend.cc)
//   +hash chain  the same, computing the BLAKE2b chain (cairn::ChainHash) per event
//   cairn        EventStore::Append of the same 1000 events
// Also the BLAKE2b chain alone, in µs per event (cairn::ChainHash over the same
// events, no storage): the part of any backend's budget the audit chain takes.
// Each rung: events/s, and its ratio to raw. Rungs run interleaved, --floor-rounds
// times (3), each for --seconds; the medians are reported. The rungs before
// "cairn" are a floor no implementation of cairn's schema can go below.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn::bench {

struct FloorRung {
  std::string name;
  std::string what;
  std::vector<double> events_per_s;  // one per round
  double median = 0;
};

struct FloorRunOptions {
  std::string dir;
  double seconds = 3;
  int rounds = 3;
  std::function<void(std::string_view)> progress;
};

struct FloorResult {
  std::vector<FloorRung> rungs;
  double chain_hash_us = 0;  // cairn::ChainHash per event, median of the rounds
};

Status RunFloorScenarios(const FloorRunOptions& options, FloorResult& result);
void PrintFloorTable(std::FILE* out, const FloorResult& result);

}  // namespace cairn::bench
