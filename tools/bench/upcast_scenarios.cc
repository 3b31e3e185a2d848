// cairn_bench --upcast (see upcast_scenarios.h).
#include "upcast_scenarios.h"

#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "cairn/store.h"
#include "cairn/upcast.h"
#include "subject.h"

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kStreams = 10'000;
constexpr std::size_t kAppendEvents = 100;

// The chain under test: two upcasters, four steps, each touching the data.
constexpr std::string_view kChain = R"({"upcasters": [
  {"type": "order.placed", "from": 1, "steps": [
    {"rename": {"from": "total_cents", "to": "amount_cents"}},
    {"add": {"field": "channel", "default": "web"}}]},
  {"type": "order.placed", "from": 2, "steps": [
    {"move": {"from": "customer_id", "to": "customer.id"}},
    {"drop": {"field": "pad"}}]}
]})";

// What the replay does with each event it is handed.
enum class Consumer : std::uint8_t {
  kVisit,  // counts it and adds up its sizes: the data's bytes are never read
  kRead,   // also reads every byte of its data once (a byte sum), as any consumer at least does
  kJson,   // also parses its data as JSON, as projections do
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

class BackendRun {
 public:
  BackendRun(const UpcastRunOptions& options, BackendKind backend, const Upcasters& upcasters,
             UpcastBackendResult& result)
      : options_(options), backend_(backend), upcasters_(upcasters), result_(result) {}

  Status Run() {
    const bool lmdb = backend_ == BackendKind::kLmdb;
    result_.backend = lmdb ? "lmdb" : "sqlite";
    const std::string path = (std::filesystem::path(options_.dir) / (lmdb ? "upcast.mdb" : "upcast.db")).string();
    const std::uint64_t streams = std::min(options_.events, kStreams);
    const std::uint64_t per_stream = options_.events / streams;
    result_.events = streams * per_stream;
    {
      auto created = EventStore::Open(path, Options{.backend = backend_,
                                                    .create_if_missing = true,
                                                    .durability = Durability::kRelaxed,
                                                    .lmdb_initial_map_bytes = std::size_t{16} << 30});
      if (!created) return std::unexpected(created.error());
      const auto started = Clock::now();
      const std::vector<Payload> payloads = MakePayloads(kAppendEvents);
      std::vector<EventData> batch;
      for (const Payload& payload : payloads) {
        batch.push_back({.type = payload.type, .data = payload.data, .metadata = payload.metadata});
      }
      // Streams interleave in the log: round r appends up to kAppendEvents to each stream in turn.
      for (std::uint64_t written = 0; written < per_stream; written += kAppendEvents) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kAppendEvents, per_stream - written));
        for (std::uint64_t s = 0; s < streams; ++s) {
          auto appended = (*created)->Append(fmt::format("order-{}", s), ExpectedRevision::Any(),
                                             std::span<const EventData>(batch.data(), n));
          if (!appended) return std::unexpected(appended.error());
        }
      }
      result_.setup_seconds = std::chrono::duration<double>(Clock::now() - started).count();
      Progress(fmt::format("{}: wrote {} order.placed.v1 events in {} streams: {:.1f} s", result_.backend,
                           result_.events, streams, result_.setup_seconds));
    }
    ::sync();
    auto opened = EventStore::Open(path, Options{.backend = backend_});
    if (!opened) return std::unexpected(opened.error());
    EventStore& store = **opened;
    if (auto warm = Replay(store, false, Consumer::kRead); !warm) return std::unexpected(warm.error());  // page cache

    struct Spec {
      const char* key;
      const char* title;
      bool upcast;
      Consumer consumer;
    };
    const Spec specs[] = {{"visit", "replay as stored, visit only", false, Consumer::kVisit},
                          {"plain", "replay as stored, read the data", false, Consumer::kRead},
                          {"upcast", "replay through the chain, read the data", true, Consumer::kRead},
                          {"plain_json", "replay as stored + JSON parse", false, Consumer::kJson},
                          {"upcast_json", "replay through the chain + JSON parse", true, Consumer::kJson}};
    std::vector<std::vector<double>> rates(std::size(specs));
    std::vector<double> ratios, ratios_json, ratios_visit;
    for (int round = 0; round < options_.rounds; ++round) {
      for (std::size_t i = 0; i < std::size(specs); ++i) {
        auto seconds = Replay(store, specs[i].upcast, specs[i].consumer);
        if (!seconds) return std::unexpected(seconds.error());
        rates[i].push_back(static_cast<double>(result_.events) / *seconds);
        Progress(fmt::format("{}: round {}: {}: {:.0f} events/s", result_.backend, round + 1, specs[i].title,
                             rates[i].back()));
      }
      ratios_visit.push_back(rates[2].back() / rates[0].back());
      ratios.push_back(rates[2].back() / rates[1].back());
      ratios_json.push_back(rates[4].back() / rates[3].back());
    }
    for (std::size_t i = 0; i < std::size(specs); ++i) {
      const double median = Median(rates[i]);
      result_.rows.push_back({.key = specs[i].key,
                              .title = specs[i].title,
                              .events_per_s = median,
                              .seconds = static_cast<double>(result_.events) / median,
                              .min_events_per_s = *std::min_element(rates[i].begin(), rates[i].end()),
                              .max_events_per_s = *std::max_element(rates[i].begin(), rates[i].end())});
    }
    result_.ratio = Median(ratios);
    result_.ratio_json = Median(ratios_json);
    result_.ratio_visit = Median(ratios_visit);
    return {};
  }

 private:
  void Progress(std::string line) const {
    if (options_.progress) options_.progress(line);
  }

  // One replay of the whole log; its duration in seconds. Checks what it saw.
  Result<double> Replay(EventStore& store, bool upcast, Consumer consumer) {
    const bool json = consumer == Consumer::kJson;
    UpcastedEvent upcasted;
    std::optional<Error> failure;
    std::uint64_t seen = 0;
    std::uint64_t bytes = 0;
    std::uint64_t newest = 0;
    std::uint64_t with_channel = 0;
    std::uint64_t sum = 0;
    rapidjson::Document document;
    const auto started = Clock::now();
    auto read = store.ReadLog({}, [&](const EventView& stored) {
      const EventView* event = &stored;
      if (upcast) {
        auto changed = upcasters_.Apply(stored, upcasted);
        if (!changed) {
          failure = changed.error();
          return false;
        }
        if (*changed) event = &upcasted.view();
      }
      ++seen;
      bytes += event->data.size() + event->metadata.size();
      if (consumer == Consumer::kRead) {
        for (const char c : event->data) sum += static_cast<unsigned char>(c);
      }
      if (event->type.back() == '3') ++newest;
      if (json) {
        document.Parse(event->data.data(), event->data.size());
        if (!document.HasParseError() && document.IsObject() && document.HasMember("channel")) ++with_channel;
      }
      return true;
    });
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (!read) return std::unexpected(read.error());
    if (failure) return std::unexpected(*failure);
    const std::uint64_t expected_newest = upcast ? result_.events : 0;
    if (seen != result_.events || newest != expected_newest ||
        with_channel != (upcast && json ? result_.events : 0) || bytes == 0 ||
        (consumer == Consumer::kRead && sum == 0)) {
      return Fail(ErrorCode::kCorruption, fmt::format("replay saw {} events, {} as v3, {} with a channel; expected {}",
                                                      seen, newest, with_channel, result_.events));
    }
    return seconds;
  }

  const UpcastRunOptions& options_;
  BackendKind backend_;
  const Upcasters& upcasters_;
  UpcastBackendResult& result_;
};

}  // namespace

Status RunUpcastScenarios(const UpcastRunOptions& options, std::vector<UpcastBackendResult>& results) {
  auto upcasters = ParseUpcasters(kChain, "upcast_scenarios.cc");
  if (!upcasters) return std::unexpected(upcasters.error());
  for (BackendKind backend : options.backends) {
    UpcastBackendResult result;
    if (Status run = BackendRun(options, backend, *upcasters, result).Run(); !run) return run;
    results.push_back(std::move(result));
  }
  return {};
}

namespace {
constexpr double kTarget = 0.5;
}  // namespace

void PrintUpcastTable(std::FILE* out, const std::vector<UpcastBackendResult>& results, double others_cpus) {
  for (const UpcastBackendResult& result : results) {
    fmt::print(out, "{}: replay of {} events stored as order.placed.v1 (ReadLog, whole log), median of rounds\n",
               result.backend, result.events);
    fmt::print(out, "  {:<40} {:>12} {:>8} {:>24}\n", "", "events/s", "s", "events/s min-max");
    for (const UpcastRow& row : result.rows) {
      fmt::print(out, "  {:<40} {:>12.0f} {:>8.2f} {:>11.0f}-{:<12.0f}\n", row.title, row.events_per_s, row.seconds,
                 row.min_events_per_s, row.max_events_per_s);
    }
    fmt::print(out, "  upcast / plain (both reading the data): {:.2f}x   upcast+JSON / plain+JSON: {:.2f}x   "
               "upcast / visit only: {:.2f}x\n",
               result.ratio, result.ratio_json, result.ratio_visit);
  }
  fmt::print(out, "\ntargets:\n");
  for (const UpcastBackendResult& result : results) {
    fmt::print(out, "  {}  {}: upcast replay >= {:.1f} x plain replay (both reading the data): measured {:.3f} x\n",
               result.ratio >= kTarget ? "PASS" : "MISS", result.backend, kTarget, result.ratio);
  }
  fmt::print(out, "others_cpus {:.2f} (CPU used by other processes during the run)\n", others_cpus);
}

void PrintUpcastJson(std::FILE* out, const std::vector<UpcastBackendResult>& results, double others_cpus) {
  fmt::print(out, "{{\"scenario\":\"upcast\",\"others_cpus\":{:.3f},\"backends\":[", others_cpus);
  for (std::size_t b = 0; b < results.size(); ++b) {
    const UpcastBackendResult& result = results[b];
    fmt::print(out, "{}{{\"backend\":\"{}\",\"events\":{},\"setup_s\":{:.3f},\"ratio\":{:.4f},\"ratio_json\":{:.4f},"
               "\"ratio_visit\":{:.4f},\"target\":{},\"pass\":{},\"rows\":[",
               b == 0 ? "" : ",", result.backend, result.events, result.setup_seconds, result.ratio, result.ratio_json,
               result.ratio_visit,
               kTarget, result.ratio >= kTarget ? "true" : "false");
    for (std::size_t i = 0; i < result.rows.size(); ++i) {
      const UpcastRow& row = result.rows[i];
      fmt::print(out, "{}{{\"key\":\"{}\",\"events_per_s\":{:.1f},\"seconds\":{:.4f},\"min\":{:.1f},\"max\":{:.1f}}}",
                 i == 0 ? "" : ",", row.key, row.events_per_s, row.seconds, row.min_events_per_s,
                 row.max_events_per_s);
    }
    fmt::print(out, "]}}");
  }
  fmt::print(out, "]}}\n");
}

}  // namespace cairn::bench
