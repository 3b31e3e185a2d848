// cairn_bench --bridge (bridge_scenarios.h says what is measured).
#define LIBRDKAFKA_TYPECHECKS 0
#include "bridge_scenarios.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "cairn/bridge_config.h"
#include "cairn/envelope.h"
#include "cairn/relay.h"
#include "cairn/store.h"
#include "subject.h"

namespace cairn::bench {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kStreams = 1000;
constexpr std::size_t kAppendEvents = 100;

struct KafkaDestroy {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDestroy>;

Result<KafkaPtr> NewClient(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& properties,
                           void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*) = nullptr,
                           void* opaque = nullptr) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Fail(ErrorCode::kInvalidArgument, name + ": " + error);
    }
  }
  if (on_delivery != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  if (opaque != nullptr) rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t* rk = rd_kafka_new(type, conf, error, sizeof error);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Fail(ErrorCode::kInvalidArgument, std::string("rd_kafka_new: ") + error);
  }
  return KafkaPtr(rk);
}

Status CreateTopic(const std::string& bootstrap, const std::string& topic, int partitions) {
  auto admin = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
  if (!admin) return Fail(admin.error());
  char error[512];
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error, sizeof error);
  if (new_topic == nullptr) return Fail(ErrorCode::kInvalidArgument, error);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(admin->get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, 30000, error, sizeof error);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(admin->get());
  rd_kafka_CreateTopics(admin->get(), &new_topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 40000);
  std::string failure;
  if (event == nullptr) {
    failure = "no answer";
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_event_error_string(event);
    } else if (count != 1 || rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = count == 1 ? rd_kafka_err2str(rd_kafka_topic_result_error(results[0])) : "no result";
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(new_topic);
  if (!failure.empty()) return Fail(ErrorCode::kIOError, "creating topic " + topic + ": " + failure);
  return {};
}

std::string UniqueTopic(std::string_view what) {
  static const unsigned salt = std::random_device{}() % 1'000'000;
  return fmt::format("cairn.bench.{}.{}", what, salt);
}

// The number of messages on `topic` (read_committed): the sum of its partitions' high watermarks
// would count transaction markers, so the consumer counts the messages themselves.
Result<std::uint64_t> CountMessages(const std::string& bootstrap, const std::string& topic, std::uint64_t expected) {
  auto consumer = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                {"group.id", "cairn-bench-count-" + topic},
                                                {"auto.offset.reset", "earliest"},
                                                {"enable.auto.commit", "false"},
                                                {"isolation.level", "read_committed"}});
  if (!consumer) return Fail(consumer.error());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer->get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  std::uint64_t count = 0;
  auto last_message = Clock::now();
  while (Clock::now() - last_message < (count >= expected ? 2s : 30s)) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer->get(), 100);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++count;
      last_message = Clock::now();
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_consumer_close(consumer->get());
  return count;
}

BridgeConfig MakeConfig(const std::string& name, const std::string& topic, DeliveryMode mode,
                        const std::string& bootstrap) {
  BridgeConfig config;
  config.name = name;
  config.source_service = "bench-service";
  config.mode = mode;
  config.routes.push_back({.name = "orders", .category = "order", .topic = topic});
  config.kafka = {{"bootstrap.servers", bootstrap}};
  return config;
}

struct RawMessage {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct RawDelivery {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};
};

void OnRawDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* delivery = static_cast<RawDelivery*>(opaque);
  (message->err == RD_KAFKA_RESP_ERR_NO_ERROR ? delivery->delivered : delivery->failed).fetch_add(1);
}

// librdkafka alone: the prepared messages through one idempotent producer.
Result<BridgeThroughputRow> MeasureRawProducer(const BridgeRunOptions& options, const std::vector<RawMessage>& messages) {
  const std::string topic = UniqueTopic("raw");
  if (auto ok = CreateTopic(options.bootstrap, topic, options.partitions); !ok) return Fail(ok.error());
  RawDelivery delivery;
  auto producer = NewClient(RD_KAFKA_PRODUCER,
                            {{"bootstrap.servers", options.bootstrap},
                             {"enable.idempotence", "true"},
                             {"partitioner", "murmur2_random"}},
                            &OnRawDelivery, &delivery);
  if (!producer) return Fail(producer.error());
  const auto start = Clock::now();
  for (const RawMessage& message : messages) {
    while (true) {
      rd_kafka_headers_t* headers = rd_kafka_headers_new(message.headers.size());
      for (const auto& [name, value] : message.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      }
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer->get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(const_cast<char*>(message.key.data()), message.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(message.value.data()), message.value.size()),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      rd_kafka_headers_destroy(headers);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return Fail(ErrorCode::kIOError, rd_kafka_err2str(err));
      rd_kafka_poll(producer->get(), 10);
    }
    rd_kafka_poll(producer->get(), 0);
  }
  rd_kafka_flush(producer->get(), 60000);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (delivery.delivered.load() != messages.size() || delivery.failed.load() != 0) {
    return Fail(ErrorCode::kIOError, fmt::format("raw producer: {} delivered, {} failed of {}",
                                                 delivery.delivered.load(), delivery.failed.load(), messages.size()));
  }
  return BridgeThroughputRow{.key = "raw_producer",
                             .title = "librdkafka idempotent producer, prepared messages",
                             .events = messages.size(),
                             .seconds = seconds};
}

Result<BridgeThroughputRow> MeasureRelay(const BridgeRunOptions& options, EventStore& store, DeliveryMode mode,
                                         std::uint64_t events) {
  const bool exactly_once = mode == DeliveryMode::kExactlyOnce;
  const std::string what = exactly_once ? "eos" : "idempotent";
  const std::string topic = UniqueTopic(what);
  if (auto ok = CreateTopic(options.bootstrap, topic, options.partitions); !ok) return Fail(ok.error());
  RelayOptions relay_options;
  relay_options.log = [](std::string_view) {};
  const auto start = Clock::now();
  auto relay = Relay::Open(store, MakeConfig(topic, topic, mode, options.bootstrap), relay_options);
  if (!relay) return Fail(relay.error());
  if (auto ok = (*relay)->RunToHead(); !ok) return Fail(ok.error());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const RelayStatus status = (*relay)->status();
  if (status.published != events) {
    return Fail(ErrorCode::kIOError, fmt::format("relay ({}): published {} of {}", what, status.published, events));
  }
  auto counted = CountMessages(options.bootstrap, topic, events);
  if (!counted) return Fail(counted.error());
  if (*counted != events) {
    return Fail(ErrorCode::kIOError, fmt::format("relay ({}): {} messages on {}, expected {}", what, *counted, topic, events));
  }
  return BridgeThroughputRow{.key = exactly_once ? "relay_exactly_once" : "relay_idempotent",
                             .title = exactly_once ? "cairn relay, exactly-once (transactions)"
                                                   : "cairn relay, idempotent",
                             .events = events,
                             .seconds = seconds};
}

// The live run: 10 events every millisecond, a relay following, a consumer timing each arrival.
Result<BridgeLatency> MeasureLatency(const BridgeRunOptions& options, const std::vector<Payload>& payloads) {
  auto store = EventStore::Open(options.dir + "/live.db", {.create_if_missing = true});
  if (!store) return Fail(store.error());
  const std::string topic = UniqueTopic("live");
  if (auto ok = CreateTopic(options.bootstrap, topic, options.partitions); !ok) return Fail(ok.error());
  RelayOptions relay_options;
  relay_options.log = [](std::string_view) {};
  auto relay = Relay::Open(**store, MakeConfig(topic, topic, DeliveryMode::kIdempotent, options.bootstrap),
                           relay_options);
  if (!relay) return Fail(relay.error());
  Status relay_ran;
  std::thread relay_thread([&] { relay_ran = (*relay)->Run(); });

  auto consumer = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", options.bootstrap},
                                                {"group.id", "cairn-bench-live-" + topic},
                                                {"auto.offset.reset", "earliest"},
                                                {"isolation.level", "read_committed"},
                                                {"fetch.wait.max.ms", "5"}});
  if (!consumer) return Fail(consumer.error());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer->get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  // Wait for the assignment before the clock starts.
  for (int i = 0; i < 100; ++i) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer->get(), 100);
    if (message != nullptr) rd_kafka_message_destroy(message);
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    rd_kafka_assignment(consumer->get(), &assigned);
    const bool ready = assigned != nullptr && assigned->cnt > 0;
    if (assigned != nullptr) rd_kafka_topic_partition_list_destroy(assigned);
    if (ready) break;
  }

  std::atomic<bool> writing{true};
  std::uint64_t appended = 0;
  double writer_seconds = 0;
  Status writer_failed;
  std::thread writer([&] {
    const auto start = Clock::now();
    auto next = start;
    std::vector<EventData> batch(10);
    std::uint64_t n = 0;
    while (Clock::now() - start < options.live_seconds) {
      for (EventData& event : batch) {
        const Payload& payload = payloads[n % payloads.size()];
        event = {.type = payload.type, .data = payload.data, .metadata = payload.metadata};
        ++n;
      }
      auto result = (*store)->Append(fmt::format("order-{}", (n / 10) % kStreams), ExpectedRevision::Any(), batch);
      if (!result) {
        writer_failed = Fail(result.error());
        break;
      }
      appended += batch.size();
      next += 1ms;
      std::this_thread::sleep_until(next);
    }
    writer_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    writing = false;
  });

  std::vector<double> latencies_ms;
  auto idle_since = Clock::now();
  while (writing.load() || Clock::now() - idle_since < 5s) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer->get(), 50);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      auto envelope = ParseEnvelopeJson(
          std::string_view(static_cast<const char*>(message->payload), message->len));
      if (envelope) latencies_ms.push_back(static_cast<double>(now_us - envelope->event_timestamp_us) / 1000.0);
      idle_since = Clock::now();
    }
    rd_kafka_message_destroy(message);
    if (!writing.load() && latencies_ms.size() >= appended) break;
  }
  writer.join();
  (*relay)->Stop();
  relay_thread.join();
  rd_kafka_consumer_close(consumer->get());
  if (!writer_failed) return Fail(writer_failed.error());
  if (!relay_ran) return Fail(relay_ran.error());
  if (latencies_ms.size() != appended) {
    return Fail(ErrorCode::kIOError, fmt::format("live: {} appended, {} read back", appended, latencies_ms.size()));
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto at = [&](double q) { return latencies_ms[static_cast<std::size_t>(q * (latencies_ms.size() - 1))]; };
  return BridgeLatency{.events = appended,
                       .appended_per_s = static_cast<double>(appended) / writer_seconds,
                       .p50_ms = at(0.50),
                       .p99_ms = at(0.99),
                       .max_ms = latencies_ms.back()};
}

}  // namespace

Status RunBridgeScenarios(const BridgeRunOptions& options, BridgeResult& result) {
  const auto say = [&](std::string_view line) {
    if (options.progress) options.progress(line);
  };
  auto store = EventStore::Open(options.dir + "/bridge.db", {.create_if_missing = true});
  if (!store) return Fail(store.error());
  const std::vector<Payload> payloads = MakePayloads(64);
  say(fmt::format("bridge: appending {} events", options.events));
  {
    std::vector<EventData> batch;
    for (std::uint64_t n = 0; n < options.events;) {
      batch.clear();
      for (std::size_t i = 0; i < kAppendEvents && n < options.events; ++i, ++n) {
        const Payload& payload = payloads[n % payloads.size()];
        batch.push_back({.type = payload.type, .data = payload.data, .metadata = payload.metadata});
      }
      auto appended = (*store)->Append(fmt::format("order-{}", (n / kAppendEvents) % kStreams), ExpectedRevision::Any(),
                                       batch);
      if (!appended) return Fail(appended.error());
    }
  }
  // The raw producer's messages: exactly what the relay sends.
  std::vector<RawMessage> messages;
  messages.reserve(options.events);
  std::uint64_t bytes = 0;
  auto read = (*store)->ReadLog({}, [&](const EventView& event) {
    auto envelope = MakeEnvelope(event, "bench-service");
    if (!envelope) return false;
    RawMessage message{.key = std::string(event.stream), .value = EnvelopeJson(*envelope),
                       .headers = EnvelopeHeaders(*envelope, EnvelopeFormat::kJson)};
    bytes += message.value.size();
    messages.push_back(std::move(message));
    return true;
  });
  if (!read) return Fail(read.error());
  if (messages.size() != options.events) return Fail(ErrorCode::kIOError, "could not envelope every event");
  result.message_bytes = bytes / messages.size();

  say("bridge: raw librdkafka producer");
  auto raw = MeasureRawProducer(options, messages);
  if (!raw) return Fail(raw.error());
  messages.clear();
  messages.shrink_to_fit();
  result.rows.push_back(*raw);
  say("bridge: relay, idempotent");
  auto idempotent = MeasureRelay(options, **store, DeliveryMode::kIdempotent, options.events);
  if (!idempotent) return Fail(idempotent.error());
  result.rows.push_back(*idempotent);
  say("bridge: relay, exactly-once");
  auto exactly_once = MeasureRelay(options, **store, DeliveryMode::kExactlyOnce, options.events);
  if (!exactly_once) return Fail(exactly_once.error());
  result.rows.push_back(*exactly_once);
  say(fmt::format("bridge: live latency, 10,000 events/s for {:.0f} s", options.live_seconds.count()));
  auto latency = MeasureLatency(options, payloads);
  if (!latency) return Fail(latency.error());
  result.latency = *latency;
  return {};
}

namespace {

struct BridgeTarget {
  std::string name;
  double value = 0;
  std::string unit;
  bool pass = false;
};

std::vector<BridgeTarget> Targets(const BridgeResult& result) {
  std::vector<BridgeTarget> targets;
  const auto find = [&](std::string_view key) -> const BridgeThroughputRow* {
    for (const BridgeThroughputRow& row : result.rows) {
      if (row.key == key) return &row;
    }
    return nullptr;
  };
  const BridgeThroughputRow* raw = find("raw_producer");
  const BridgeThroughputRow* idempotent = find("relay_idempotent");
  if (idempotent != nullptr) {
    targets.push_back({"relay, idempotent >= 100,000 events/s", idempotent->events_per_s(), "events/s",
                       idempotent->events_per_s() >= 100'000});
    if (raw != nullptr && raw->events_per_s() > 0) {
      const double ratio = idempotent->events_per_s() / raw->events_per_s();
      targets.push_back({"relay, idempotent >= 0.5 x raw librdkafka", ratio, "x raw", ratio >= 0.5});
    }
  }
  if (result.latency) {
    targets.push_back({"commit-to-consumer p99 < 100 ms at 10,000 events/s", result.latency->p99_ms, "ms",
                       result.latency->p99_ms < 100});
  }
  return targets;
}

}  // namespace

void PrintBridgeTable(std::FILE* out, const RunInfo& info, const BridgeRunOptions& options, const BridgeResult& result) {
  fmt::print(out, "cairn_bench --bridge: librdkafka {}, SQLite {}, {} CPUs, Kafka at {}, store in {} ({})\n",
             rd_kafka_version_str(), info.sqlite_version, info.cpus, options.bootstrap, info.dir, info.filesystem);
  fmt::print(out,
             "  {} events of {}+{} bytes (JSON data + metadata) in {} streams; envelopes of {} bytes on average; "
             "topics of {} partitions\n",
             options.events, kDataBytes, kMetadataBytes, kStreams, result.message_bytes, options.partitions);
  fmt::print(out, "  other processes used {:.2f} of {} CPUs on average during the run\n\n", info.others_cpus, info.cpus);
  fmt::print(out, "  {:<52} {:>10} {:>9} {:>13} {:>7}\n", "", "events", "seconds", "events/s", "x raw");
  const double raw = result.rows.empty() ? 0 : result.rows.front().events_per_s();
  for (const BridgeThroughputRow& row : result.rows) {
    fmt::print(out, "  {:<52} {:>10} {:>9.2f} {:>13.0f} {:>7.2f}\n", row.title, row.events, row.seconds,
               row.events_per_s(), raw > 0 ? row.events_per_s() / raw : 0);
  }
  if (result.latency) {
    fmt::print(out,
               "\n  live: {} events appended at {:.0f} events/s; commit-to-consumer latency p50 {:.1f} ms, p99 {:.1f} "
               "ms, max {:.1f} ms\n",
               result.latency->events, result.latency->appended_per_s, result.latency->p50_ms, result.latency->p99_ms,
               result.latency->max_ms);
  }
  fmt::print(out, "\n  targets (issue 6)\n");
  for (const BridgeTarget& target : Targets(result)) {
    fmt::print(out, "  {:<56} {:>12.2f} {:<9} {}\n", target.name, target.value, target.unit,
               target.pass ? "PASS" : "MISS");
  }
}

void PrintBridgeJson(std::FILE* out, const RunInfo& info, const BridgeRunOptions& options, const BridgeResult& result) {
  fmt::print(out, "{{\"bench\":\"bridge\",\"librdkafka\":\"{}\",\"cpus\":{},\"events\":{},\"message_bytes\":{},"
                  "\"partitions\":{},\"others_cpus\":{:.2f},\"rows\":[",
             rd_kafka_version_str(), info.cpus, options.events, result.message_bytes, options.partitions,
             info.others_cpus);
  for (std::size_t i = 0; i < result.rows.size(); ++i) {
    const BridgeThroughputRow& row = result.rows[i];
    fmt::print(out, "{}{{\"key\":\"{}\",\"events\":{},\"seconds\":{:.3f},\"events_per_s\":{:.0f}}}", i ? "," : "",
               row.key, row.events, row.seconds, row.events_per_s());
  }
  fmt::print(out, "]");
  if (result.latency) {
    fmt::print(out, ",\"live\":{{\"events\":{},\"appended_per_s\":{:.0f},\"p50_ms\":{:.2f},\"p99_ms\":{:.2f},\"max_ms\":{:.2f}}}",
               result.latency->events, result.latency->appended_per_s, result.latency->p50_ms, result.latency->p99_ms,
               result.latency->max_ms);
  }
  fmt::print(out, ",\"targets\":[");
  const std::vector<BridgeTarget> targets = Targets(result);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    fmt::print(out, "{}{{\"name\":\"{}\",\"value\":{:.3f},\"unit\":\"{}\",\"pass\":{}}}", i ? "," : "",
               targets[i].name, targets[i].value, targets[i].unit, targets[i].pass);
  }
  fmt::print(out, "]}}\n");
}

}  // namespace cairn::bench
