// tools/bench/upcast_scenarios.h — cairn_bench --upcast: what upcasting on read
// costs. A store of events stored as order.placed.v1 is replayed (EventStore::
// ReadLog over the whole log) as stored and through a two-step declarative
// chain (v1 -> v2: rename a field, add one with a default; v2 -> v3: move a
// field into a new object), on cairn's SQLite and LMDB backends, with three
// consumers: one that only counts the events it is handed (the data's bytes are
// never read: the store's bare cost), one that reads each event's data once (a
// byte sum: the least any real consumer does) and one that parses it as JSON
// (what every projection does). The target compares the reading consumers.
//
//   std::vector<UpcastBackendResult> results;
//   if (Status run = RunUpcastScenarios(options, results); !run) { … }
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn::bench {

// One replay row: the median of the rounds.
struct UpcastRow {
  std::string key;    // "visit", "plain", "upcast", "plain_json", "upcast_json"
  std::string title;  // for the table
  double events_per_s = 0;
  double seconds = 0;
  double min_events_per_s = 0;
  double max_events_per_s = 0;
};

struct UpcastBackendResult {
  std::string backend;  // "sqlite" or "lmdb"
  std::uint64_t events = 0;
  double setup_seconds = 0;
  std::vector<UpcastRow> rows;
  // upcast / plain, upcast_json / plain_json and upcast / visit events/s, each
  // the median of the same-round ratios.
  double ratio = 0;
  double ratio_json = 0;
  double ratio_visit = 0;
};

struct UpcastRunOptions {
  std::string dir;
  std::vector<BackendKind> backends;
  std::uint64_t events = 1'000'000;
  int rounds = 3;
  std::function<void(std::string_view)> progress;
};

// Builds one store per backend (at Durability::kRelaxed, 100 events per
// append), then runs each row `rounds` times, rows interleaved per round. A
// replay whose events do not come out as expected (count, types, the upcast
// data's new fields) is an error.
Status RunUpcastScenarios(const UpcastRunOptions& options, std::vector<UpcastBackendResult>& results);

// The table (with the target upcast >= 0.5 x plain) or JSON, on `out`.
void PrintUpcastTable(std::FILE* out, const std::vector<UpcastBackendResult>& results, double others_cpus);
void PrintUpcastJson(std::FILE* out, const std::vector<UpcastBackendResult>& results, double others_cpus);

}  // namespace cairn::bench
