#include "measure.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <latch>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// A spinning thread whose every operation fails (a misconfigured run) would
// otherwise fill memory with records; past this many failures it gives up.
constexpr std::uint64_t kMaxFailuresPerThread = 1000;

struct OpRecord {
  double start = 0;  // seconds since the common start
  double end = 0;
  std::uint64_t events = 0;
};

struct ThreadLog {
  std::vector<OpRecord> ops;  // successful operations only
  std::uint64_t failures = 0;
  std::string first_error;
};

void RunLoop(const Operation& op, Clock::time_point start, const std::atomic<bool>& stop, ThreadLog& log) {
  while (!stop.load(std::memory_order_relaxed)) {
    const Clock::time_point begin = Clock::now();
    Result<std::uint64_t> events = op();
    const Clock::time_point end = Clock::now();
    if (!events) {
      if (log.failures++ == 0) log.first_error = events.error().ToString();
      if (log.failures >= kMaxFailuresPerThread) return;
      continue;
    }
    log.ops.push_back({Seconds(begin - start).count(), Seconds(end - start).count(), *events});
  }
}

// The fraction of [start, end] inside [from, to]; an instantaneous operation
// counts whole when it falls inside.
double OverlapFraction(const OpRecord& op, double from, double to) {
  if (op.end <= op.start) return op.end >= from && op.end <= to ? 1.0 : 0.0;
  const double overlap = std::min(op.end, to) - std::max(op.start, from);
  return std::clamp(overlap / (op.end - op.start), 0.0, 1.0);
}

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

Measurement Summarize(const std::vector<ThreadLog>& logs, double from, double to) {
  Measurement m;
  m.seconds = to - from;
  std::vector<double> latencies_ms;
  for (const ThreadLog& log : logs) {
    m.failures += log.failures;
    if (m.first_error.empty()) m.first_error = log.first_error;
    for (const OpRecord& op : log.ops) {
      m.total_events += op.events;
      const double fraction = OverlapFraction(op, from, to);
      if (fraction <= 0) continue;
      m.events += fraction * static_cast<double>(op.events);
      latencies_ms.push_back((op.end - op.start) * 1e3);
    }
  }
  m.ops = latencies_ms.size();
  m.events_per_s = m.seconds > 0 ? m.events / m.seconds : 0;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  if (!latencies_ms.empty()) {
    double sum = 0;
    for (double ms : latencies_ms) sum += ms;
    m.mean_ms = sum / static_cast<double>(latencies_ms.size());
    m.p50_ms = Percentile(latencies_ms, 0.50);
    m.p99_ms = Percentile(latencies_ms, 0.99);
    m.max_ms = latencies_ms.back();
  }
  return m;
}

// An operation that reads and insists on seeing exactly `expected` events:
// a read that returns less is not faster, it is wrong.
Operation CheckedRead(std::function<Result<ReadTally>()> read, std::uint64_t expected) {
  return [read = std::move(read), expected]() -> Result<std::uint64_t> {
    Result<ReadTally> tally = read();
    if (!tally) return std::unexpected(std::move(tally.error()));
    if (tally->events != expected) {
      return Fail(ErrorCode::kCorruption, fmt::format("read {} events, expected {}", tally->events, expected));
    }
    return tally->events;
  };
}

}  // namespace

Measurement RunWindowed(std::vector<Operation> per_thread, const Window& window) {
  std::vector<ThreadLog> logs(per_thread.size());
  std::atomic<bool> stop{false};
  std::latch ready(static_cast<std::ptrdiff_t>(per_thread.size()) + 1);
  Clock::time_point start;  // written before ready opens, read by threads after
  std::vector<std::jthread> threads;
  threads.reserve(per_thread.size());
  for (std::size_t i = 0; i < per_thread.size(); ++i) {
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      RunLoop(per_thread[i], start, stop, logs[i]);
    });
  }
  start = Clock::now();
  ready.arrive_and_wait();
  const double from = window.warmup.count();
  const double to = from + window.measure.count();
  std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(Seconds(to)));
  stop.store(true, std::memory_order_relaxed);
  threads.clear();  // joins: operations in flight finish and count for their part inside the window
  return Summarize(logs, from, to);
}

Result<Measurement> MeasureAppends(Subject& subject, std::string_view stream_prefix, int threads,
                                   std::size_t batch_size, const Window& window) {
  Result<std::uint64_t> before = subject.CountEvents();
  if (!before) return std::unexpected(std::move(before.error()));
  std::vector<Operation> ops;
  for (int t = 0; t < threads; ++t) {
    Result<std::unique_ptr<Appender>> made = subject.NewAppender(batch_size);
    if (!made) return std::unexpected(std::move(made.error()));
    // Shared ownership only because std::function must be copyable.
    std::shared_ptr<Appender> appender = std::move(*made);
    ops.push_back([appender, stream = fmt::format("{}-{}", stream_prefix, t), batch_size]()
                      -> Result<std::uint64_t> {
      if (Status appended = appender->Append(stream); !appended) return std::unexpected(appended.error());
      return batch_size;
    });
  }
  Measurement m = RunWindowed(std::move(ops), window);
  Result<std::uint64_t> after = subject.CountEvents();
  if (!after) return std::unexpected(std::move(after.error()));
  if (*after - *before != m.total_events) {
    return Fail(ErrorCode::kCorruption, fmt::format("{}: the log grew by {} events but {} appends were acknowledged",
                                                    subject.name(), *after - *before, m.total_events));
  }
  return m;
}

Result<Measurement> MeasureStreamReads(Subject& subject, std::string_view stream,
                                       std::uint64_t expected_events, const Window& window) {
  Result<std::unique_ptr<Reader>> made = subject.NewReader();
  if (!made) return std::unexpected(std::move(made.error()));
  std::shared_ptr<Reader> reader = std::move(*made);
  std::vector<Operation> ops;
  ops.push_back(CheckedRead([reader, stream = std::string(stream)] { return reader->ReadStream(stream); },
                            expected_events));
  return RunWindowed(std::move(ops), window);
}

Result<Measurement> MeasureLogScans(Subject& subject, std::uint64_t expected_events, const Window& window) {
  Result<std::unique_ptr<Reader>> made = subject.NewReader();
  if (!made) return std::unexpected(std::move(made.error()));
  std::shared_ptr<Reader> reader = std::move(*made);
  std::vector<Operation> ops;
  ops.push_back(CheckedRead([reader] { return reader->ScanLog(); }, expected_events));
  return RunWindowed(std::move(ops), window);
}

Result<ReadFixture> BuildReadFixture(Subject& subject, std::uint64_t stream_events, std::size_t filler_batch) {
  ReadFixture fixture{.interleaved_stream = "reader-interleaved",
                      .contiguous_stream = "reader-contiguous",
                      .stream_events = stream_events,
                      .log_events = stream_events * (filler_batch + 2)};
  Result<std::unique_ptr<Appender>> single = subject.NewAppender(1);
  Result<std::unique_ptr<Appender>> filler = subject.NewAppender(filler_batch);
  Result<std::unique_ptr<Appender>> whole = subject.NewAppender(stream_events);
  for (const auto* made : {&single, &filler, &whole}) {
    if (!*made) return std::unexpected(made->error());
  }
  for (std::uint64_t round = 0; round < stream_events; ++round) {
    if (Status s = (*single)->Append(fixture.interleaved_stream); !s) return std::unexpected(s.error());
    if (Status s = (*filler)->Append(fmt::format("filler-{}", round)); !s) return std::unexpected(s.error());
  }
  if (Status s = (*whole)->Append(fixture.contiguous_stream); !s) return std::unexpected(s.error());
  Result<std::uint64_t> count = subject.CountEvents();
  if (!count) return std::unexpected(std::move(count.error()));
  if (*count != fixture.log_events) {
    return Fail(ErrorCode::kCorruption, fmt::format("{}: read fixture holds {} events, expected {}",
                                                    subject.name(), *count, fixture.log_events));
  }
  return fixture;
}

}  // namespace cairn::bench
