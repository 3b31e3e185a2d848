// tools/bench/bridge_scenarios.h — cairn_bench --bridge: the relay's publish
// rate and commit-to-consumer latency against a real Kafka broker.
//
// The broker is the caller's (--kafka HOST:PORT; tools/kafka/kafka.sh start DIR
// gives one). A SQLite store holds `events` events of the benchmark's usual
// 300 bytes (200-byte JSON data, 100-byte JSON metadata), 100 to an append,
// over 1,000 streams. Then, each on a fresh topic of `partitions` partitions:
//
//   - raw librdkafka: the same messages — the relay's own envelopes, keys and
//     headers, made beforehand — produced by one idempotent producer, from the
//     first produce to the last delivery report: the rate librdkafka itself
//     reaches here, the baseline the relay is held to;
//   - the relay, idempotent mode: Relay::RunToHead from an empty checkpoint;
//   - the relay, exactly-once mode: the same with Kafka transactions.
//
// Then latency: a relay runs live (idempotent) while one thread appends 10
// events every millisecond (10,000 events/s) for `live_seconds`; a consumer
// (read_committed, fetch.wait.max.ms = 5) reads the topic, and each event's
// latency is the time from its recorded_at (the commit) to its arrival.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "report.h"

namespace cairn::bench {

struct BridgeRunOptions {
  std::string dir;        // where the store is created
  std::string bootstrap;  // the broker
  std::uint64_t events = 500'000;
  int partitions = 6;
  std::chrono::duration<double> live_seconds{10.0};
  std::function<void(std::string_view)> progress;
};

struct BridgeThroughputRow {
  std::string key;    // raw_producer, relay_idempotent, relay_exactly_once
  std::string title;
  std::uint64_t events = 0;
  double seconds = 0;
  double events_per_s() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
};

struct BridgeLatency {
  std::uint64_t events = 0;  // appended and read back
  double appended_per_s = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

struct BridgeResult {
  std::uint64_t message_bytes = 0;  // the mean envelope (value) size
  std::vector<BridgeThroughputRow> rows;
  std::optional<BridgeLatency> latency;
};

// Every published topic is read back and counted before a number is reported:
// a missing or extra message is an error, not a rate.
Status RunBridgeScenarios(const BridgeRunOptions& options, BridgeResult& result);

void PrintBridgeTable(std::FILE* out, const RunInfo& info, const BridgeRunOptions& options, const BridgeResult& result);
void PrintBridgeJson(std::FILE* out, const RunInfo& info, const BridgeRunOptions& options, const BridgeResult& result);

}  // namespace cairn::bench
