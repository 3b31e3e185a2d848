#include "since_scenarios.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include "cairn/store.h"
#include "subject.h"

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

constexpr std::size_t kBuildBatch = 1000;
constexpr std::uint64_t kBuildStreams = 1000;
constexpr std::size_t kAppendBatch = 100;
constexpr int kProbes = 200;

// Fits the benchmark's order.placed.v1 payload (payload.cc) exactly.
constexpr const char* kSchema = R"({
  "$id": "urn:cairn:bench:order-placed",
  "type": "object",
  "required": ["order_id", "customer_id", "currency", "lines", "total_cents"],
  "properties": {
    "order_id": {"type": "string", "pattern": "^ord-[0-9]+$"},
    "customer_id": {"type": "string", "minLength": 1},
    "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
    "lines": {"type": "array", "minItems": 1, "items": {
      "type": "object", "required": ["sku", "qty", "unit_cents"],
      "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1},
                     "unit_cents": {"type": "integer", "minimum": 0}}}},
    "total_cents": {"type": "integer", "minimum": 0},
    "pad": {"type": "string"}
  }
})";

Options StoreOptions(BackendKind backend, Durability durability) {
  Options options;
  options.backend = backend;
  options.create_if_missing = true;
  options.durability = durability;
  options.lmdb_initial_map_bytes = std::size_t{16} << 30;  // address space only, as the other scenarios
  return options;
}

// PositionAtOrAfter(t), then the log from there until one event is visited; returns its position.
Result<std::uint64_t> FirstSince(EventStore& store, std::int64_t t) {
  auto position = store.PositionAtOrAfter(t);
  if (!position) return std::unexpected(position.error());
  std::uint64_t first = 0;
  auto read = store.ReadLog({.from_position = *position, .max_count = 1}, [&](const EventView& event) {
    first = event.position;
    return false;
  });
  if (!read) return std::unexpected(read.error());
  return first;
}

Status RunBackend(const SinceRunOptions& options, BackendKind backend, SinceBackendResult& result) {
  const std::string name = backend == BackendKind::kLmdb ? "lmdb" : "sqlite";
  result.backend = name;
  const std::string path = options.dir + "/since-" + name + (backend == BackendKind::kLmdb ? ".mdb" : ".db");
  std::vector<std::int64_t> times;
  {
    auto opened = EventStore::Open(path, StoreOptions(backend, Durability::kRelaxed));
    if (!opened) return std::unexpected(opened.error());
    EventStore& store = **opened;
    const auto payloads = MakePayloads(kBuildBatch);
    std::vector<EventData> batch;
    for (const Payload& payload : payloads) {
      batch.push_back({.type = payload.type, .data = payload.data, .metadata = payload.metadata});
    }
    const auto start = Clock::now();
    const std::uint64_t batches = std::max<std::uint64_t>(1, options.events / kBuildBatch);
    for (std::uint64_t i = 0; i < batches; ++i) {
      auto appended = store.Append(fmt::format("order-{}", i % kBuildStreams), ExpectedRevision::Any(), batch);
      if (!appended) return std::unexpected(appended.error());
      if (options.progress && (i + 1) % 100 == 0) {
        options.progress(fmt::format("  {}: {} events appended", name, (i + 1) * kBuildBatch));
      }
    }
    result.build_s = MillisSince(start) / 1000;
    result.events = batches * kBuildBatch;
    // The recorded_at of every batch's first event: the times replays start from.
    auto read = store.ReadLog({}, [&](const EventView& event) {
      if ((event.position - 1) % kBuildBatch == 0) times.push_back(event.recorded_at_us);
      return true;
    });
    if (!read) return std::unexpected(read.error());
  }

  // The middle: the recorded_at of the event at position events/2 + 1 (a batch's first).
  const std::int64_t middle = times[times.size() / 2];
  const std::uint64_t middle_position = (times.size() / 2) * kBuildBatch + 1;
  auto opened = EventStore::Open(path, StoreOptions(backend, Durability::kFull));
  if (!opened) return std::unexpected(opened.error());
  EventStore& store = **opened;

  // Seek on the open store, for times spread over the whole log (each a batch's first event).
  std::vector<double> seeks;
  for (int i = 0; i < kProbes; ++i) {
    const std::size_t at = (static_cast<std::size_t>(i) * 7919) % times.size();
    const auto start = Clock::now();
    auto first = FirstSince(store, times[at]);
    const double ms = MillisSince(start);
    if (!first) return std::unexpected(first.error());
    if (*first != at * kBuildBatch + 1) {
      return Fail(ErrorCode::kCorruption, fmt::format("{}: --since found position {} where {} was expected", name,
                                                      *first, at * kBuildBatch + 1));
    }
    seeks.push_back(ms);
  }
  std::sort(seeks.begin(), seeks.end());
  result.probes = seeks.size();
  result.seek_mean_ms = std::accumulate(seeks.begin(), seeks.end(), 0.0) / static_cast<double>(seeks.size());
  result.seek_p50_ms = seeks[seeks.size() / 2];
  result.seek_max_ms = seeks.back();

  // As the CLI: open the store (read-only), seek, first event.
  std::vector<double> open_seeks;
  for (int i = 0; i < 20; ++i) {
    const std::size_t at = (static_cast<std::size_t>(i) * 104729) % times.size();
    Options read_only = StoreOptions(backend, Durability::kFull);
    read_only.create_if_missing = false;
    read_only.read_only = true;
    const auto start = Clock::now();
    auto cli_store = EventStore::Open(path, read_only);
    if (!cli_store) return std::unexpected(cli_store.error());
    auto first = FirstSince(**cli_store, times[at]);
    const double ms = MillisSince(start);
    if (!first) return std::unexpected(first.error());
    open_seeks.push_back(ms);
  }
  result.open_seek_mean_ms =
      std::accumulate(open_seeks.begin(), open_seeks.end(), 0.0) / static_cast<double>(open_seeks.size());
  result.open_seek_max_ms = *std::max_element(open_seeks.begin(), open_seeks.end());

  {
    auto start = Clock::now();
    auto first = FirstSince(store, middle);
    result.middle_seek_ms = MillisSince(start);
    if (!first || *first != middle_position) return Fail(ErrorCode::kCorruption, name + ": middle seek failed");
    Options read_only = StoreOptions(backend, Durability::kFull);
    read_only.create_if_missing = false;
    read_only.read_only = true;
    start = Clock::now();
    auto cli_store = EventStore::Open(path, read_only);
    if (!cli_store) return std::unexpected(cli_store.error());
    first = FirstSince(**cli_store, middle);
    result.middle_open_seek_ms = MillisSince(start);
    if (!first || *first != middle_position) return Fail(ErrorCode::kCorruption, name + ": middle seek failed");
    // Without the search: scan from position 1 until the first event at or after the time.
    std::uint64_t scanned_to = 0;
    start = Clock::now();
    auto scan = store.ReadLog({}, [&](const EventView& event) {
      if (event.recorded_at_us < middle) return true;
      scanned_to = event.position;
      return false;
    });
    result.middle_scan_ms = MillisSince(start);
    if (!scan || scanned_to != middle_position) return Fail(ErrorCode::kCorruption, name + ": middle scan failed");
  }
  if (options.progress) {
    options.progress(fmt::format("  {}: seek mean {:.3f} ms, middle {:.3f} ms (open+seek {:.3f} ms, scan {:.1f} ms)",
                                 name, result.seek_mean_ms, result.middle_seek_ms, result.middle_open_seek_ms,
                                 result.middle_scan_ms));
  }

  // Validation cost: a store of its own, appended to without and then with a schema.
  const std::string append_path =
      options.dir + "/append-" + name + (backend == BackendKind::kLmdb ? ".mdb" : ".db");
  auto subject = OpenCairnSubject(append_path, Durability::kRelaxed, backend, "cairn-" + name);
  if (!subject) return std::unexpected(subject.error());
  auto plain = MeasureAppends(**subject, "plain", 1, kAppendBatch, options.window);
  if (!plain) return std::unexpected(plain.error());
  result.append_plain = *plain;
  {
    // Registered through another store object, as an operator's `cairn schema add` would be:
    // the subject's store notices it at its next group commit.
    // Relaxed like the subject: on LMDB the strongest durability of any user of an environment wins.
    auto admin = EventStore::Open(append_path, StoreOptions(backend, Durability::kRelaxed));
    if (!admin) return std::unexpected(admin.error());
    auto put = (*admin)->PutSchema("order.placed.v1", kSchema);
    if (!put) return std::unexpected(put.error());
  }
  auto validated = MeasureAppends(**subject, "schema", 1, kAppendBatch, options.window);
  if (!validated) return std::unexpected(validated.error());
  if (validated->failures > 0) {
    return Fail(ErrorCode::kCorruption, name + ": appends failed with the schema: " + validated->first_error);
  }
  result.append_schema = *validated;
  {
    // And without it again: LMDB appends slow down as the file grows, so the
    // order of the two runs alone would pass for a cost of validation.
    auto admin = EventStore::Open(append_path, StoreOptions(backend, Durability::kRelaxed));
    if (!admin) return std::unexpected(admin.error());
    auto deleted = (*admin)->DeleteSchema("order.placed.v1");
    if (!deleted) return std::unexpected(deleted.error());
  }
  auto plain_again = MeasureAppends(**subject, "again", 1, kAppendBatch, options.window);
  if (!plain_again) return std::unexpected(plain_again.error());
  result.append_plain_again = *plain_again;
  if (options.progress) {
    options.progress(fmt::format("  {}: appends {:.0f} events/s without a schema, {:.0f} with, {:.0f} without again",
                                 name, plain->events_per_s, validated->events_per_s, plain_again->events_per_s));
  }
  return {};
}

}  // namespace

Status RunSinceScenarios(const SinceRunOptions& options, std::vector<SinceBackendResult>& results) {
  for (BackendKind backend : options.backends) {
    SinceBackendResult result;
    if (Status run = RunBackend(options, backend, result); !run) return run;
    results.push_back(std::move(result));
  }
  return {};
}

void PrintSinceTable(std::FILE* out, const std::vector<SinceBackendResult>& results) {
  fmt::print(out, "replay --since: time to the first event (target: < 50 ms from the middle)\n");
  fmt::print(out, "{:<8} {:>10} {:>9} {:>12} {:>12} {:>12} {:>14} {:>14} {:>12}\n", "backend", "events", "build s",
             "seek mean", "seek p50", "seek max", "open+seek mean", "middle: seek", "middle: scan");
  for (const auto& r : results) {
    fmt::print(out, "{:<8} {:>10} {:>9.1f} {:>9.3f} ms {:>9.3f} ms {:>9.3f} ms {:>11.3f} ms {:>11.3f} ms {:>9.1f} ms\n",
               r.backend, r.events, r.build_s, r.seek_mean_ms, r.seek_p50_ms, r.seek_max_ms, r.open_seek_mean_ms,
               r.middle_seek_ms, r.middle_scan_ms);
  }
  fmt::print(out, "\nappends of {}-event batches, 1 thread, relaxed durability: cost of JSON Schema validation\n",
             kAppendBatch);
  fmt::print(out, "{:<8} {:>16} {:>16} {:>18} {:>8}\n", "backend", "no schema ev/s", "schema ev/s",
             "no schema again", "ratio");
  for (const auto& r : results) {
    if (!r.append_plain || !r.append_schema || !r.append_plain_again) continue;
    // Against the mean of the runs before and after it.
    const double without = (r.append_plain->events_per_s + r.append_plain_again->events_per_s) / 2;
    fmt::print(out, "{:<8} {:>16.0f} {:>16.0f} {:>18.0f} {:>8.2f}\n", r.backend, r.append_plain->events_per_s,
               r.append_schema->events_per_s, r.append_plain_again->events_per_s,
               r.append_schema->events_per_s / without);
  }
}

void PrintSinceJson(std::FILE* out, const std::vector<SinceBackendResult>& results) {
  fmt::print(out, "{{\"since\":[");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    fmt::print(out,
               "{}{{\"backend\":\"{}\",\"events\":{},\"build_s\":{:.3f},\"probes\":{},\"seek_mean_ms\":{:.4f},"
               "\"seek_p50_ms\":{:.4f},\"seek_max_ms\":{:.4f},\"open_seek_mean_ms\":{:.4f},\"open_seek_max_ms\":{:.4f},"
               "\"middle_seek_ms\":{:.4f},\"middle_open_seek_ms\":{:.4f},\"middle_scan_ms\":{:.3f},"
               "\"append_no_schema_events_per_s\":{:.0f},\"append_schema_events_per_s\":{:.0f},"
               "\"append_no_schema_again_events_per_s\":{:.0f}}}",
               i > 0 ? "," : "", r.backend, r.events, r.build_s, r.probes, r.seek_mean_ms, r.seek_p50_ms,
               r.seek_max_ms, r.open_seek_mean_ms, r.open_seek_max_ms, r.middle_seek_ms, r.middle_open_seek_ms,
               r.middle_scan_ms, r.append_plain ? r.append_plain->events_per_s : 0.0,
               r.append_schema ? r.append_schema->events_per_s : 0.0,
               r.append_plain_again ? r.append_plain_again->events_per_s : 0.0);
  }
  fmt::print(out, "]}}\n");
}

}  // namespace cairn::bench
