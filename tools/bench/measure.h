// tools/bench/measure.h — timing scenarios against a Subject.
//
// Every measurement runs one operation (an append, a stream read, a log scan)
// in a loop on one or more threads, all released together, for a warm-up and
// then a fixed measuring window. Throughput counts the events of the operations
// that ran inside the window, an operation straddling an edge counting for the
// part of it inside: long operations (a full log scan) and short ones (a
// 1-event append) are measured alike, and stragglers after the window — the
// last commits of 64 threads being stopped — do not dilute the result.
//
//   Window window{.warmup = 0.5s, .measure = 3s};
//   Result<Measurement> m = MeasureAppends(*subject, "bench64", 64, 1, window);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "subject.h"

namespace cairn::bench {

struct Window {
  std::chrono::duration<double> warmup{0.5};
  std::chrono::duration<double> measure{3.0};
};

// What one subject did in one scenario.
struct Measurement {
  double events_per_s = 0;  // events inside the measuring window / its length
  double events = 0;        // events inside the window (pro-rated at its edges)
  double seconds = 0;       // length of the window
  std::uint64_t ops = 0;    // operations overlapping the window
  // Latency of those operations, in milliseconds.
  double mean_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  // Every successful operation, window or not: what the store must now hold.
  std::uint64_t total_events = 0;
  std::uint64_t failures = 0;  // failed operations (any time); the first one's text below
  std::string first_error;
};

// One thread's unit of work: returns how many events it covered.
using Operation = std::function<Result<std::uint64_t>()>;

// Runs each operation in a loop on a thread of its own (one thread per
// element) until the window closes, then lets the current operations finish.
Measurement RunWindowed(std::vector<Operation> per_thread, const Window& window);

// `threads` threads, each appending `batch_size`-event batches to its own
// stream "<prefix>-<thread>" (ExpectedRevision::Any for cairn). Errors: the
// subject could not make an appender, or the log does not hold the events the
// run counted (a benchmark that loses writes must not report a number).
Result<Measurement> MeasureAppends(Subject& subject, std::string_view stream_prefix, int threads,
                                   std::size_t batch_size, const Window& window);

// One thread reading `stream` whole, again and again. A read returning other
// than `expected_events` events counts as a failure.
Result<Measurement> MeasureStreamReads(Subject& subject, std::string_view stream,
                                       std::uint64_t expected_events, const Window& window);

// One thread scanning the whole log, again and again; same check as above.
Result<Measurement> MeasureLogScans(Subject& subject, std::uint64_t expected_events, const Window& window);

// The streams that read scenarios use, in a log written as an application
// would write it over time.
struct ReadFixture {
  // Appended one event at a time, each followed by a batch of other streams'
  // events: its events are spread over the whole file, as a long-lived
  // aggregate's are in a busy store.
  std::string interleaved_stream;
  // Appended as one batch: its events sit side by side.
  std::string contiguous_stream;
  std::uint64_t stream_events = 0;  // events in each of the two streams
  std::uint64_t log_events = 0;     // events in the whole log
};

// Fills an empty subject: `stream_events` rounds of (1 event to the interleaved
// stream, `filler_batch` events to a fresh filler stream), then the contiguous
// stream in one append. Errors: a failed append, or a log of the wrong size.
Result<ReadFixture> BuildReadFixture(Subject& subject, std::uint64_t stream_events, std::size_t filler_batch);

}  // namespace cairn::bench
