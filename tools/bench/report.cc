#include "report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

namespace cairn::bench {
namespace {

// The issue's targets. Each reads one number from one scenario's row.
struct TargetSpec {
  const char* name;
  const char* scenario_key;
  const char* unit;
  double (*value)(const ScenarioResult&);
  bool (*pass)(double);
};

constexpr TargetSpec kTargets[] = {
    {"64 writers, 1-event appends: cairn >= 50,000 events/s (durable)", "append_t64_b1", "events/s",
     [](const ScenarioResult& r) { return r.cairn.events_per_s; }, [](double v) { return v >= 50'000; }},
    {"1000-event batches: cairn >= 0.8 x raw", "append_t1_b1000", "x raw",
     [](const ScenarioResult& r) { return r.ratio(); }, [](double v) { return v >= 0.8; }},
    {"read a 1000-event stream (contiguous): cairn < 2 ms", "read_stream_contiguous", "ms",
     [](const ScenarioResult& r) { return r.cairn.mean_ms; }, [](double v) { return v < 2.0; }},
    {"read a 1000-event stream (interleaved): cairn < 2 ms", "read_stream_interleaved", "ms",
     [](const ScenarioResult& r) { return r.cairn.mean_ms; }, [](double v) { return v < 2.0; }},
    {"scan the global log: cairn >= 1,000,000 events/s", "scan_log", "events/s",
     [](const ScenarioResult& r) { return r.cairn.events_per_s; }, [](double v) { return v >= 1'000'000; }},
};

// Above this, other work competed noticeably with the benchmark for CPU.
constexpr double kBusyOthersCpus = 0.2;

// 1234567.8 -> "1,234,568": throughput is read at a glance, not digit by digit.
std::string Grouped(double value) {
  const std::string digits = fmt::format("{:.0f}", std::fabs(value));
  std::string grouped = value < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return grouped;
}

// Mean, p99 and max: a mean far above the p99 means a few operations starved
// (e.g. raw SQLite writers sleeping in the busy handler).
std::string Latency(const Measurement& m) {
  return fmt::format("{:.2f} / {:.2f} / {:.1f}", m.mean_ms, m.p99_ms, m.max_ms);
}

std::string_view KindName(ScenarioKind kind) {
  switch (kind) {
    case ScenarioKind::kAppend: return "append";
    case ScenarioKind::kStreamRead: return "stream_read";
    case ScenarioKind::kLogScan: return "log_scan";
  }
  return "?";
}

void PrintFailures(std::FILE* out, const ScenarioResult& result) {
  for (const auto& [name, m] : {std::pair<const char*, const Measurement*>{"cairn", &result.cairn},
                                std::pair<const char*, const Measurement*>{"raw", &result.raw}}) {
    if (m->failures == 0) continue;
    fmt::print(out, "  ! {} / {}: {} failed operations; first: {}\n", result.title, name, m->failures,
               m->first_error);
  }
}

// Only our own fixed strings and error messages reach JSON; escape what JSON requires.
std::string JsonString(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          quoted += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

std::string JsonMeasurement(const Measurement& m) {
  return fmt::format(
      R"({{"events_per_s": {:.1f}, "events": {:.1f}, "seconds": {:.3f}, "ops": {}, "mean_ms": {:.4f}, )"
      R"("p50_ms": {:.4f}, "p99_ms": {:.4f}, "max_ms": {:.4f}, "failures": {}, "first_error": {}}})",
      m.events_per_s, m.events, m.seconds, m.ops, m.mean_ms, m.p50_ms, m.p99_ms, m.max_ms, m.failures,
      JsonString(m.first_error));
}

}  // namespace

std::vector<TargetCheck> CheckTargets(const std::vector<ScenarioResult>& results) {
  std::vector<TargetCheck> checks;
  for (const TargetSpec& spec : kTargets) {
    TargetCheck check{
        .name = spec.name, .scenario_key = spec.scenario_key, .value = std::nullopt, .unit = spec.unit};
    for (const ScenarioResult& result : results) {
      if (result.key != spec.scenario_key) continue;
      check.value = spec.value(result);
      check.pass = spec.pass(*check.value);
    }
    checks.push_back(std::move(check));
  }
  return checks;
}

namespace {

void PrintTargets(std::FILE* out, const std::vector<TargetCheck>& targets) {
  for (const TargetCheck& t : targets) {
    if (!t.value) {
      fmt::print(out, "  {:<4}  {}  (not run)\n", "-", t.name);
      continue;
    }
    const std::string value = t.unit == "events/s" ? Grouped(*t.value) : fmt::format("{:.3f}", *t.value);
    fmt::print(out, "  {:<4}  {}: measured {} {}\n", t.pass ? "PASS" : "MISS", t.name, value, t.unit);
  }
}

void PrintJsonTargets(std::FILE* out, const std::vector<TargetCheck>& targets) {
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const TargetCheck& t = targets[i];
    fmt::print(out, "    {{\"name\": {}, \"scenario\": {}, \"unit\": {}, \"value\": {}, \"result\": {}}}{}\n",
               JsonString(t.name), JsonString(t.scenario_key), JsonString(t.unit),
               t.value ? fmt::format("{:.4f}", *t.value) : "null",
               JsonString(!t.value ? "not run" : t.pass ? "PASS" : "MISS"), i + 1 < targets.size() ? "," : "");
  }
}

// The LMDB comparison's targets, read from its three-subject rows.
struct LmdbTargetSpec {
  const char* name;
  const char* scenario_key;
  const char* unit;
  double (*value)(const LmdbScenarioResult&);
  bool (*pass)(double);
};

double Over(double a, double b) { return b > 0 ? a / b : 0; }

constexpr LmdbTargetSpec kLmdbTargets[] = {
    {"1000-event batches: cairn-lmdb >= 0.8 x raw-lmdb", "append_t1_b1000", "x raw-lmdb",
     [](const LmdbScenarioResult& r) { return Over(r.cairn_lmdb.events_per_s, r.raw_lmdb.events_per_s); },
     [](double v) { return v >= 0.8; }},
    {"1000-event batches: cairn-lmdb >= 1.5 x cairn-sqlite", "append_t1_b1000", "x cairn-sqlite",
     [](const LmdbScenarioResult& r) { return Over(r.cairn_lmdb.events_per_s, r.cairn_sqlite.events_per_s); },
     [](double v) { return v >= 1.5; }},
    {"64 writers, 1-event appends: cairn-lmdb >= 70,000 events/s (durable)", "append_t64_b1", "events/s",
     [](const LmdbScenarioResult& r) { return r.cairn_lmdb.events_per_s; }, [](double v) { return v >= 70'000; }},
    {"scan the global log (public API): cairn-lmdb >= 4,000,000 events/s", "scan_log", "events/s",
     [](const LmdbScenarioResult& r) { return r.cairn_lmdb.events_per_s; },
     [](double v) { return v >= 4'000'000; }},
    {"read one 1000-event stream: cairn-lmdb time <= 1.2 x raw-lmdb gather", "read_stream", "x raw-lmdb time",
     [](const LmdbScenarioResult& r) { return Over(r.cairn_lmdb.mean_ms, r.raw_lmdb.mean_ms); },
     [](double v) { return v > 0 && v <= 1.2; }},
};

}  // namespace

std::vector<TargetCheck> CheckLmdbTargets(const std::vector<LmdbScenarioResult>& results) {
  std::vector<TargetCheck> checks;
  for (const LmdbTargetSpec& spec : kLmdbTargets) {
    TargetCheck check{
        .name = spec.name, .scenario_key = spec.scenario_key, .value = std::nullopt, .unit = spec.unit};
    for (const LmdbScenarioResult& result : results) {
      if (result.key != spec.scenario_key) continue;
      check.value = spec.value(result);
      check.pass = spec.pass(*check.value);
    }
    checks.push_back(std::move(check));
  }
  return checks;
}

void PrintLmdbTable(std::FILE* out, const RunInfo& info, const std::vector<LmdbScenarioResult>& results,
                    const std::vector<TargetCheck>& targets) {
  fmt::print(out, "cairn_bench --backends lmdb{}: {}, SQLite {}, {} CPUs, {} on {}\n", info.quick ? " --quick" : "",
             info.lmdb_version, info.sqlite_version, info.cpus, info.dir, info.filesystem);
  fmt::print(out,
             "  appends durable everywhere (LMDB synced commit, no MDB_NOSYNC; SQLite WAL synchronous=FULL), "
             "one transaction per append (cairn: per group commit); events: {}-byte JSON data, {}-byte JSON "
             "metadata\n",
             kDataBytes, kMetadataBytes);
  fmt::print(out, "  each measurement: {:.1f} s warm-up, {:.1f} s window; reads on a {}-event log ({} streams)\n",
             info.warmup_s, info.window_s, Grouped(static_cast<double>(info.read_log_events)),
             Grouped(static_cast<double>(info.read_log_streams)));
  fmt::print(out, "  other processes used {:.2f} of {} CPUs on average during the run{}\n\n", info.others_cpus,
             info.cpus,
             info.others_cpus > kBusyOthersCpus ? "  -- noisy: rerun on a quiet machine before publishing" : "");
  fmt::print(out, "{:<34} {:>12} {:>12} {:>12} {:>9} {:>9}  {:>26}\n", "scenario", "cairn-lmdb", "cairn-sqlite",
             "raw-lmdb", "lmdb/raw", "lmdb/sql", "mean ms/op lmdb/sql/raw");
  fmt::print(out, "{:<34} {:>12} {:>12} {:>12}\n", "", "ev/s", "ev/s", "ev/s");
  for (const LmdbScenarioResult& r : results) {
    fmt::print(out, "{:<34} {:>12} {:>12} {:>12} {:>8.2f}x {:>8.2f}x  {:>26}\n", r.title,
               Grouped(r.cairn_lmdb.events_per_s), Grouped(r.cairn_sqlite.events_per_s),
               Grouped(r.raw_lmdb.events_per_s), Over(r.cairn_lmdb.events_per_s, r.raw_lmdb.events_per_s),
               Over(r.cairn_lmdb.events_per_s, r.cairn_sqlite.events_per_s),
               fmt::format("{:.3f} / {:.3f} / {:.3f}", r.cairn_lmdb.mean_ms, r.cairn_sqlite.mean_ms,
                           r.raw_lmdb.mean_ms));
  }
  fmt::print(out, "\np99 / max ms per op:\n");
  for (const LmdbScenarioResult& r : results) {
    fmt::print(out, "  {:<34} cairn-lmdb {:.3f} / {:.1f}   cairn-sqlite {:.3f} / {:.1f}   raw-lmdb {:.3f} / {:.1f}\n",
               r.title, r.cairn_lmdb.p99_ms, r.cairn_lmdb.max_ms, r.cairn_sqlite.p99_ms, r.cairn_sqlite.max_ms,
               r.raw_lmdb.p99_ms, r.raw_lmdb.max_ms);
  }
  for (const LmdbScenarioResult& r : results) {
    for (const auto& [name, m] : {std::pair<const char*, const Measurement*>{"cairn-lmdb", &r.cairn_lmdb},
                                  std::pair<const char*, const Measurement*>{"cairn-sqlite", &r.cairn_sqlite},
                                  std::pair<const char*, const Measurement*>{"raw-lmdb", &r.raw_lmdb}}) {
      if (m->failures == 0) continue;
      fmt::print(out, "  ! {} / {}: {} failed operations; first: {}\n", r.title, name, m->failures, m->first_error);
    }
  }
  fmt::print(out, "\ntargets (issue 3, LMDB):\n");
  PrintTargets(out, targets);
}

void PrintLmdbJson(std::FILE* out, const RunInfo& info, const std::vector<LmdbScenarioResult>& results,
                   const std::vector<TargetCheck>& targets) {
  fmt::print(out,
             "{{\n  \"run\": {{\"mode\": \"lmdb\", \"lmdb_version\": {}, \"sqlite_version\": {}, \"cpus\": {}, "
             "\"filesystem\": {}, \"quick\": {}, ",
             JsonString(info.lmdb_version), JsonString(info.sqlite_version), info.cpus, JsonString(info.filesystem),
             info.quick);
  fmt::print(out,
             "\"warmup_s\": {:.2f}, \"window_s\": {:.2f}, \"data_bytes\": {}, \"metadata_bytes\": {}, "
             "\"read_log_events\": {}, \"read_log_streams\": {}, \"read_stream_events\": {}, "
             "\"others_cpus\": {:.3f}}},\n",
             info.warmup_s, info.window_s, kDataBytes, kMetadataBytes, info.read_log_events, info.read_log_streams,
             info.read_stream_events, info.others_cpus);
  fmt::print(out, "  \"scenarios\": [\n");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const LmdbScenarioResult& r = results[i];
    fmt::print(out, "    {{\"key\": {}, \"title\": {}, \"kind\": {},\n", JsonString(r.key), JsonString(r.title),
               JsonString(KindName(r.kind)));
    fmt::print(out, "     \"cairn_lmdb\": {},\n     \"cairn_sqlite\": {},\n     \"raw_lmdb\": {}}}{}\n",
               JsonMeasurement(r.cairn_lmdb), JsonMeasurement(r.cairn_sqlite), JsonMeasurement(r.raw_lmdb),
               i + 1 < results.size() ? "," : "");
  }
  fmt::print(out, "  ],\n  \"targets\": [\n");
  PrintJsonTargets(out, targets);
  fmt::print(out, "  ]\n}}\n");
}


void PrintTable(std::FILE* out, const RunInfo& info, const std::vector<ScenarioResult>& results,
                const std::vector<TargetCheck>& targets) {
  fmt::print(out, "cairn_bench{}: SQLite {}, {} CPUs, {} on {}\n", info.quick ? " --quick" : "",
             info.sqlite_version, info.cpus, info.dir, info.filesystem);
  fmt::print(out,
             "  appends durable on both sides (WAL, synchronous=FULL, one transaction per append); "
             "events: {}-byte JSON data, {}-byte JSON metadata\n",
             kDataBytes, kMetadataBytes);
  fmt::print(out, "  each measurement: {:.1f} s warm-up, {:.1f} s window; reads on a {}-event log\n",
             info.warmup_s, info.window_s, Grouped(static_cast<double>(info.read_log_events)));
  fmt::print(out, "  other processes used {:.2f} of {} CPUs on average during the run{}\n\n", info.others_cpus,
             info.cpus,
             info.others_cpus > kBusyOthersCpus ? "  -- noisy: rerun on a quiet machine before publishing" : "");
  fmt::print(out, "{:<38} {:>12} {:>12} {:>10}  {:>24}  {:>24}\n", "scenario", "cairn ev/s", "raw ev/s",
             "cairn/raw", "cairn ms/op mean/p99/max", "raw ms/op mean/p99/max");
  for (const ScenarioResult& r : results) {
    fmt::print(out, "{:<38} {:>12} {:>12} {:>9.2f}x  {:>24}  {:>24}\n", r.title, Grouped(r.cairn.events_per_s),
               Grouped(r.raw.events_per_s), r.ratio(), Latency(r.cairn), Latency(r.raw));
  }
  for (const ScenarioResult& r : results) PrintFailures(out, r);
  fmt::print(out, "\ntargets (issue):\n");
  PrintTargets(out, targets);
}

void PrintJson(std::FILE* out, const RunInfo& info, const std::vector<ScenarioResult>& results,
               const std::vector<TargetCheck>& targets) {
  fmt::print(out, "{{\n  \"run\": {{\"sqlite_version\": {}, \"cpus\": {}, \"filesystem\": {}, \"quick\": {}, ",
             JsonString(info.sqlite_version), info.cpus, JsonString(info.filesystem), info.quick);
  fmt::print(out,
             "\"warmup_s\": {:.2f}, \"window_s\": {:.2f}, \"data_bytes\": {}, \"metadata_bytes\": {}, "
             "\"read_log_events\": {}, \"read_stream_events\": {}, \"others_cpus\": {:.3f}, "
             "\"append_durability\": \"WAL, synchronous=FULL, one transaction per append\"}},\n",
             info.warmup_s, info.window_s, kDataBytes, kMetadataBytes, info.read_log_events,
             info.read_stream_events, info.others_cpus);
  fmt::print(out, "  \"scenarios\": [\n");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const ScenarioResult& r = results[i];
    fmt::print(out, "    {{\"key\": {}, \"title\": {}, \"kind\": {}, \"ratio\": {:.4f},\n", JsonString(r.key),
               JsonString(r.title), JsonString(KindName(r.kind)), r.ratio());
    fmt::print(out, "     \"cairn\": {},\n     \"raw\": {}}}{}\n", JsonMeasurement(r.cairn), JsonMeasurement(r.raw),
               i + 1 < results.size() ? "," : "");
  }
  fmt::print(out, "  ],\n  \"targets\": [\n");
  PrintJsonTargets(out, targets);
  fmt::print(out, "  ]\n}}\n");
}

// ---- cairn_bench --snapshots ------------------------------------------------

namespace {

// The target: loading a 100,000-event aggregate with snapshots costs at most
// this many times loading a 10-event one (medians).
constexpr double kSnapshotLoadTarget = 3.0;

// Microseconds from a Measurement's milliseconds: one decimal below 1,000, grouped above.
std::string Micros(double ms) {
  const double us = ms * 1e3;
  return us < 1000 ? fmt::format("{:.1f}", us) : Grouped(us);
}

const SnapshotLoadResult* FindRow(const std::vector<SnapshotLoadResult>& results, std::string_view key) {
  for (const SnapshotLoadResult& r : results) {
    if (r.key == key) return &r;
  }
  return nullptr;
}

}  // namespace

std::vector<TargetCheck> CheckSnapshotTargets(const std::vector<SnapshotLoadResult>& results) {
  struct Case {
    const char* key;
    const char* what;
  };
  constexpr Case kCases[] = {{"load_100k_head", "snapshot at head"},
                             {"load_100k_tail50", "snapshot + 50-event tail"},
                             {"load_100k_tail99", "snapshot + 99-event tail"}};
  std::vector<TargetCheck> checks;
  const SnapshotLoadResult* base = FindRow(results, "load_10");
  for (const char* backend : {"sqlite", "lmdb"}) {
    const bool lmdb = std::string_view(backend) == "lmdb";
    for (const Case& c : kCases) {
      TargetCheck check{.name = fmt::format("{}: load(100,000 events, {}) <= {:.0f} x load(10 events), p50", backend,
                                            c.what, kSnapshotLoadTarget),
                        .scenario_key = c.key,
                        .value = std::nullopt,
                        .unit = "x load(10)"};
      const SnapshotLoadResult* row = FindRow(results, c.key);
      const std::optional<Measurement>* big = row ? (lmdb ? &row->lmdb : &row->sqlite) : nullptr;
      const std::optional<Measurement>* small = base ? (lmdb ? &base->lmdb : &base->sqlite) : nullptr;
      if (big && small && *big && *small && (*small)->p50_ms > 0) {
        check.value = (*big)->p50_ms / (*small)->p50_ms;
        check.pass = *check.value <= kSnapshotLoadTarget;
      }
      checks.push_back(std::move(check));
    }
  }
  return checks;
}

void PrintSnapshotTable(std::FILE* out, const RunInfo& info, const std::vector<SnapshotLoadResult>& results,
                        const std::vector<TargetCheck>& targets) {
  fmt::print(out, "cairn_bench --snapshots{}: SQLite {}, {}, {} CPUs, {} on {}\n", info.quick ? " --quick" : "",
             info.sqlite_version, info.lmdb_version, info.cpus, info.dir, info.filesystem);
  fmt::print(out,
             "  one thread loading through cairn::Repository::Load: the stream's head, its newest snapshot (decoded, "
             "its event hash checked against the log), then the events after it\n");
  fmt::print(out,
             "  snapshotted streams: policy every {} events, keep {}, written with {}-event saves; state: 24 bytes, "
             "fixed encoding; Apply only counts\n",
             kSnapshotEvery, kSnapshotKeep, Grouped(static_cast<double>(kSnapshotBuildBatch)));
  fmt::print(out, "  events: {}-byte JSON data, {}-byte JSON metadata; each measurement: {:.1f} s warm-up, {:.1f} s window\n",
             kDataBytes, kMetadataBytes, info.warmup_s, info.window_s);
  fmt::print(out, "  other processes used {:.2f} of {} CPUs on average during the run{}\n\n", info.others_cpus,
             info.cpus,
             info.others_cpus > kBusyOthersCpus ? "  -- noisy: rerun on a quiet machine before publishing" : "");
  fmt::print(out, "{:<34} {:>9} {:>8}  {:>21}  {:>21}\n", "", "snapshot", "events", "sqlite µs/load",
             "lmdb µs/load");
  fmt::print(out, "{:<34} {:>9} {:>8}  {:>10} {:>10}  {:>10} {:>10}\n", "aggregate", "revision", "folded", "p50",
             "p99", "p50", "p99");
  auto cells = [](const std::optional<Measurement>& m) {
    return m ? fmt::format("{:>10} {:>10}", Micros(m->p50_ms), Micros(m->p99_ms)) : fmt::format("{:>21}", "-");
  };
  for (const SnapshotLoadResult& r : results) {
    fmt::print(out, "{:<34} {:>9} {:>8}  {}  {}\n", r.title,
               r.snapshot_revision ? Grouped(static_cast<double>(*r.snapshot_revision)) : "-",
               Grouped(static_cast<double>(r.folded)), cells(r.sqlite), cells(r.lmdb));
  }
  for (const SnapshotLoadResult& r : results) {
    for (const auto& [name, m] : {std::pair{"sqlite", &r.sqlite}, std::pair{"lmdb", &r.lmdb}}) {
      if (!*m || (*m)->failures == 0) continue;
      fmt::print(out, "  ! {} / {}: {} failed loads; first: {}\n", r.title, name, (*m)->failures, (*m)->first_error);
    }
  }
  fmt::print(out, "\ntargets:\n");
  PrintTargets(out, targets);
}

void PrintSnapshotJson(std::FILE* out, const RunInfo& info, const std::vector<SnapshotLoadResult>& results,
                       const std::vector<TargetCheck>& targets) {
  fmt::print(out,
             "{{\n  \"run\": {{\"mode\": \"snapshots\", \"lmdb_version\": {}, \"sqlite_version\": {}, \"cpus\": {}, "
             "\"filesystem\": {}, \"quick\": {}, ",
             JsonString(info.lmdb_version), JsonString(info.sqlite_version), info.cpus, JsonString(info.filesystem),
             info.quick);
  fmt::print(out,
             "\"warmup_s\": {:.2f}, \"window_s\": {:.2f}, \"data_bytes\": {}, \"metadata_bytes\": {}, "
             "\"snapshot_every\": {}, \"snapshot_keep\": {}, \"build_batch\": {}, \"others_cpus\": {:.3f}}},\n",
             info.warmup_s, info.window_s, kDataBytes, kMetadataBytes, kSnapshotEvery, kSnapshotKeep,
             kSnapshotBuildBatch, info.others_cpus);
  fmt::print(out, "  \"scenarios\": [\n");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const SnapshotLoadResult& r = results[i];
    fmt::print(out, "    {{\"key\": {}, \"title\": {}, \"kind\": \"aggregate_load\", \"events\": {}, ",
               JsonString(r.key), JsonString(r.title), r.events);
    fmt::print(out, "\"snapshot_revision\": {}, \"folded\": {},\n",
               r.snapshot_revision ? fmt::format("{}", *r.snapshot_revision) : "null", r.folded);
    fmt::print(out, "     \"sqlite\": {},\n     \"lmdb\": {}}}{}\n",
               r.sqlite ? JsonMeasurement(*r.sqlite) : "null", r.lmdb ? JsonMeasurement(*r.lmdb) : "null",
               i + 1 < results.size() ? "," : "");
  }
  fmt::print(out, "  ],\n  \"targets\": [\n");
  PrintJsonTargets(out, targets);
  fmt::print(out, "  ]\n}}\n");
}

// ---- cairn_bench --projections ---------------------------------------------

namespace {

constexpr double kRebuildEventsPerSecond = 200'000;
constexpr double kRebuildRawRatio = 0.7;
constexpr double kLagP99Ms = 50;


std::string RatioCell(std::optional<double> ratio) {
  return ratio ? fmt::format("{:.2f}x", *ratio) : std::string("-");
}

std::string JsonRatio(std::optional<double> ratio) {
  return ratio ? fmt::format("{:.4f}", *ratio) : std::string("null");
}

}  // namespace

std::vector<TargetCheck> CheckProjectionTargets(const std::vector<ProjectionBackendResult>& results) {
  std::vector<TargetCheck> checks;
  for (const ProjectionBackendResult& r : results) {
    for (const auto& [key, what] : {std::pair{"rebuild_sql", "SQL projection"}, std::pair{"rebuild_cpp", "C++ projection"}}) {
      const ThroughputRow* row = r.Find(key);
      TargetCheck speed{.name = fmt::format("{}: rebuild from {} events, {} >= {} events/s", r.backend,
                                            Grouped(static_cast<double>(r.events)), what, Grouped(kRebuildEventsPerSecond)),
                        .scenario_key = key,
                        .value = std::nullopt,
                        .unit = "events/s"};
      if (row != nullptr) {
        speed.value = row->events_per_s();
        speed.pass = *speed.value >= kRebuildEventsPerSecond;
      }
      checks.push_back(std::move(speed));
      TargetCheck ratio{.name = fmt::format("{}: rebuild, {} >= {:.1f} x raw SQLite (synchronous=NORMAL, as the shadow)",
                                            r.backend, what, kRebuildRawRatio),
                        .scenario_key = key,
                        .value = row != nullptr ? row->x_raw_normal : std::nullopt,
                        .unit = "x raw"};
      ratio.pass = ratio.value && *ratio.value >= kRebuildRawRatio;
      checks.push_back(std::move(ratio));
    }
    TargetCheck lag{.name = fmt::format("{}: live lag at 10,000 events/s, p99 < {:.0f} ms", r.backend, kLagP99Ms),
                    .scenario_key = "live_lag",
                    .value = std::nullopt,
                    .unit = "ms"};
    if (r.lag) {
      lag.value = r.lag->p99_ms;
      lag.pass = *lag.value < kLagP99Ms;
    }
    checks.push_back(std::move(lag));
  }
  return checks;
}

void PrintProjectionTable(std::FILE* out, const RunInfo& info, const std::vector<ProjectionBackendResult>& results,
                          const std::vector<TargetCheck>& targets) {
  const std::string events = Grouped(static_cast<double>(info.projection_events));
  fmt::print(out, "cairn_bench --projections{}: SQLite {}, {}, {} CPUs, {} on {}\n", info.quick ? " --quick" : "",
             info.sqlite_version, info.lmdb_version, info.cpus, info.dir, info.filesystem);
  for (const ProjectionBackendResult& r : results) {
    fmt::print(out,
               "  {} store: {} events in {} streams \"order-N\" ({} each, appended {} at a time by many threads, "
               "streams interleaved), written in {:.1f} s\n",
               r.backend, Grouped(static_cast<double>(r.events)), Grouped(static_cast<double>(r.streams)),
               r.streams > 0 ? Grouped(static_cast<double>(r.events / r.streams)) : "0", kProjectionAppendEvents,
               r.setup_seconds);
  }
  fmt::print(out,
             "  events: {}-byte JSON data, {}-byte JSON metadata, read with the category filter \"order\" "
             "(every event matches)\n",
             kDataBytes, kMetadataBytes);
  fmt::print(out,
             "  read model: one row per stream, one upsert per event (count, sum of data.total_cents); runner "
             "defaults: batches of {} events or 20 ms\n",
             Grouped(static_cast<double>(kProjectionBatchEvents)));
  fmt::print(out,
             "  rebuild: RunToHead into a new read model, timed call to return: built in a shadow (WAL, "
             "synchronous=NORMAL), swapped into the read model (WAL, synchronous=FULL)\n");
  fmt::print(out,
             "  raw SQLite: ReadLog, the same RapidJSON parse, one prepared upsert, a transaction per {} events; "
             "no checkpoint, savepoints, shadow or swap\n",
             Grouped(static_cast<double>(kProjectionBatchEvents)));
  fmt::print(out, "  other processes used {:.2f} of {} CPUs on average during the run{}\n\n", info.others_cpus,
             info.cpus,
             info.others_cpus > kBusyOthersCpus ? "  -- noisy: rerun on a quiet machine before publishing" : "");

  // The rows, in the order the first backend measured them.
  std::vector<std::pair<std::string, std::string>> keys;
  for (const ProjectionBackendResult& r : results) {
    for (const ThroughputRow& row : r.rows) {
      if (std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.first == row.key; }) == keys.end()) {
        keys.emplace_back(row.key, row.title);
      }
    }
  }
  fmt::print(out, "{:<36}", fmt::format("from {} events", events));
  for (const ProjectionBackendResult& r : results) fmt::print(out, "  {:^46}", r.backend);
  fmt::print(out, "\n{:<36}", "");
  for (std::size_t i = 0; i < results.size(); ++i) {
    fmt::print(out, "  {:>11} {:>6} {:>8} {:>8} {:>9}", "events/s", "s", "x NORMAL", "x FULL", "swap s");
  }
  fmt::print(out, "  {:>15}", "ev/s min-max");
  fmt::print(out, "\n");
  for (const auto& [key, title] : keys) {
    fmt::print(out, "{:<36}", title);
    const bool scan = key.starts_with("scan");
    for (const ProjectionBackendResult& r : results) {
      const ThroughputRow* row = r.Find(key);
      if (row == nullptr) {
        fmt::print(out, "  {:>46}", "-");
        continue;
      }
      fmt::print(out, "  {:>11} {:>6.2f} {:>8} {:>8} {:>9}", Grouped(row->events_per_s()), row->seconds,
                 scan ? "-" : RatioCell(row->x_raw_normal), scan ? "-" : RatioCell(row->x_raw_full),
                 row->swap_seconds ? fmt::format("{:.3f}", *row->swap_seconds) : "-");
    }
    // The spread over the rounds, per backend: "171-185k/190-204k".
    std::string spread;
    for (const ProjectionBackendResult& r : results) {
      const ThroughputRow* row = r.Find(key);
      if (!spread.empty()) spread += '/';
      spread += row == nullptr || row->rounds < 2
                    ? std::string("-")
                    : fmt::format("{:.0f}-{:.0f}k", row->min_events_per_s / 1e3, row->max_events_per_s / 1e3);
    }
    fmt::print(out, "  {:>15}\n", spread);
  }
  fmt::print(out, "  each row: the median of {} round{} (ev/s min-max: the slowest and fastest, per backend); x NORMAL, "
                  "x FULL: events/s over raw SQLite's at synchronous=NORMAL, FULL,\n  in the same round (median of the "
                  "rounds); swap s: from the shadow's last batch commit to RunToHead's return\n",
             info.rounds, info.rounds == 1 ? "" : "s");

  bool any_lag = false;
  for (const ProjectionBackendResult& r : results) any_lag = any_lag || r.lag.has_value();
  if (any_lag) {
    fmt::print(out,
               "\nlive lag: the SQL projection's read model following (Start), one thread appending {} events every "
               "{} ms (durable), {:.0f} s;\n  lag = read-model batch commit (on_batch) - the event's Append return\n",
               kLiveAppendEvents, std::chrono::duration<double, std::milli>(kLiveAppendEvery).count(),
               info.live_seconds);
    fmt::print(out, "{:<8} {:>10} {:>8} {:>6} {:>11} {:>8} {:>9}  {:>8} {:>8} {:>8} {:>8}\n", "backend", "appended",
               "ev/s", "late", "append p99", "batches", "ev/batch", "lag p50", "p99", "max", "mean");
    for (const ProjectionBackendResult& r : results) {
      if (!r.lag) continue;
      const LagResult& l = *r.lag;
      fmt::print(out, "{:<8} {:>10} {:>8} {:>6} {:>8.2f} ms {:>8} {:>9.0f}  {:>5.1f} ms {:>5.1f} ms {:>5.1f} ms {:>5.1f} ms\n",
                 r.backend, Grouped(static_cast<double>(l.events)), Grouped(l.appended_per_s), l.late_appends,
                 l.append_p99_ms, l.batches,
                 l.batches > 0 ? static_cast<double>(l.events) / static_cast<double>(l.batches) : 0.0, l.p50_ms,
                 l.p99_ms, l.max_ms, l.mean_ms);
    }
  }
  fmt::print(out, "\ntargets:\n");
  PrintTargets(out, targets);
}

void PrintProjectionJson(std::FILE* out, const RunInfo& info, const std::vector<ProjectionBackendResult>& results,
                         const std::vector<TargetCheck>& targets) {
  fmt::print(out,
             "{{\n  \"run\": {{\"mode\": \"projections\", \"lmdb_version\": {}, \"sqlite_version\": {}, \"cpus\": {}, "
             "\"filesystem\": {}, \"quick\": {}, ",
             JsonString(info.lmdb_version), JsonString(info.sqlite_version), info.cpus, JsonString(info.filesystem),
             info.quick);
  fmt::print(out,
             "\"events\": {}, \"data_bytes\": {}, \"metadata_bytes\": {}, \"append_events\": {}, "
             "\"batch_events\": {}, \"live_seconds\": {:.2f}, \"rounds\": {}, \"live_append_events\": {}, \"live_append_every_us\": {}, "
             "\"others_cpus\": {:.3f}}},\n",
             info.projection_events, kDataBytes, kMetadataBytes, kProjectionAppendEvents, kProjectionBatchEvents,
             info.live_seconds, info.rounds, kLiveAppendEvents, kLiveAppendEvery.count(), info.others_cpus);
  fmt::print(out, "  \"backends\": [\n");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const ProjectionBackendResult& r = results[i];
    fmt::print(out, "    {{\"backend\": {}, \"events\": {}, \"streams\": {}, \"setup_s\": {:.3f},\n     \"rows\": [\n",
               JsonString(r.backend), r.events, r.streams, r.setup_seconds);
    for (std::size_t j = 0; j < r.rows.size(); ++j) {
      const ThroughputRow& row = r.rows[j];
      fmt::print(out,
                 "       {{\"key\": {}, \"title\": {}, \"events\": {}, \"seconds\": {:.4f}, \"events_per_s\": {:.1f}, "
                 "\"commits\": {}, \"swap_s\": {}, \"rounds\": {}, \"min_events_per_s\": {:.1f}, "
                 "\"max_events_per_s\": {:.1f}, \"x_raw_normal\": {}, \"x_raw_full\": {}}}{}\n",
                 JsonString(row.key), JsonString(row.title), row.events, row.seconds, row.events_per_s(), row.commits,
                 row.swap_seconds ? fmt::format("{:.4f}", *row.swap_seconds) : "null", row.rounds,
                 row.min_events_per_s, row.max_events_per_s, JsonRatio(row.x_raw_normal), JsonRatio(row.x_raw_full),
                 j + 1 < r.rows.size() ? "," : "");
    }
    fmt::print(out, "     ],\n     \"live_lag\": ");
    if (r.lag) {
      const LagResult& l = *r.lag;
      fmt::print(out,
                 "{{\"events\": {}, \"writer_s\": {:.3f}, \"appended_per_s\": {:.1f}, \"late_appends\": {}, "
                 "\"append_p99_ms\": {:.4f}, \"batches\": {}, \"mean_ms\": {:.4f}, \"p50_ms\": {:.4f}, "
                 "\"p99_ms\": {:.4f}, \"max_ms\": {:.4f}}}",
                 l.events, l.writer_seconds, l.appended_per_s, l.late_appends, l.append_p99_ms, l.batches, l.mean_ms,
                 l.p50_ms, l.p99_ms, l.max_ms);
    } else {
      fmt::print(out, "null");
    }
    fmt::print(out, "}}{}\n", i + 1 < results.size() ? "," : "");
  }
  fmt::print(out, "  ],\n  \"targets\": [\n");
  PrintJsonTargets(out, targets);
  fmt::print(out, "  ]\n}}\n");
}

}  // namespace cairn::bench
