// The Kafka source for projections against the real broker: events appended to
// a store are published as envelopes (key = stream, JSON or Cap'n Proto, the
// relay's headers) to a multi-partition topic, and the read model a Kafka-fed
// runner builds must equal the one a store-fed runner builds — for a C++
// projection that refuses any duplicate or reordered event of a stream, and for
// the example SQL projection; after a stop and restart; with two runners of one
// group splitting the partitions; when `cairn projection run` is killed again
// and again; and a message that is not an envelope is parked or stops the
// projection, as the projection says.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/envelope.h"
#include "cairn/kafka_source.h"
#include "cairn/projection.h"
#include "cairn/relay.h"
#include "cairn/sql_projection.h"
#include "cairn/store.h"
#include "counters_projection.h"
#include "kafka_test_support.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using cairn_test::CounterModel;

struct Deliveries {
  int delivered = 0;
  std::set<std::int32_t> partitions;
  std::vector<std::string> errors;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* deliveries = static_cast<Deliveries*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++deliveries->delivered;
    deliveries->partitions.insert(message->partition);
  } else {
    deliveries->errors.push_back(rd_kafka_err2str(message->err));
  }
}

// Produces one message with `headers` (and flushes nothing).
void Produce(rd_kafka_t* producer, const std::string& topic, const std::string& key, const std::string& value,
             const std::vector<std::pair<std::string, std::string>>& headers) {
  rd_kafka_headers_t* list = rd_kafka_headers_new(headers.size());
  for (const auto& [name, text] : headers) {
    rd_kafka_header_add(list, name.data(), static_cast<ssize_t>(name.size()), text.data(),
                        static_cast<ssize_t>(text.size()));
  }
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_HEADERS(list), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer, 100);
      continue;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(list);
      FAIL("producing to " << topic << ": " << rd_kafka_err2str(err));
    }
    return;  // the producer owns the headers now
  }
}

std::vector<cairn::RecordedEvent> ReadLog(cairn::EventStore& store, std::uint64_t from = 1) {
  std::vector<cairn::RecordedEvent> events;
  CAIRN_REQUIRE_OK(store.ReadLog({.from_position = from}, [&](const cairn::EventView& event) {
    events.push_back(event.ToOwned());
    return true;
  }));
  return events;
}

// A store, a topic and what the relay would publish to it.
class Fixture {
 public:
  explicit Fixture(int partitions = 3) : topic_(kafka_test::UniqueName("cairn.test.kafka-source")) {
    auto store = cairn::EventStore::Open(dir_.File("store.db"), {.create_if_missing = true});
    CAIRN_REQUIRE_OK(store);
    store_ = std::move(*store);
    auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_test::BootstrapServers()}});
    kafka_test::CreateTopic(admin.get(), topic_, partitions);
  }

  cairn::EventStore& store() { return *store_; }
  const std::string& topic() const { return topic_; }
  std::string File(std::string_view name) const { return dir_.File(name); }

  // Publishes the store's events after the last one published, as the relay does.
  void Publish(cairn::EnvelopeFormat format = cairn::EnvelopeFormat::kJson) {
    Deliveries deliveries;
    auto producer = kafka_test::NewClient(
        RD_KAFKA_PRODUCER,
        {{"bootstrap.servers", kafka_test::BootstrapServers()}, {"enable.idempotence", "true"}, {"linger.ms", "5"}},
        OnDelivery, &deliveries);
    int sent = 0;
    for (const cairn::RecordedEvent& event : ReadLog(*store_, published_ + 1)) {
      auto envelope = cairn::MakeEnvelope(event.view(), "kafka-source-test");
      CAIRN_REQUIRE_OK(envelope);
      const std::string value =
          format == cairn::EnvelopeFormat::kJson ? cairn::EnvelopeJson(*envelope) : cairn::EnvelopeCapnp(*envelope);
      Produce(producer.get(), topic_, envelope->stream, value, cairn::EnvelopeHeaders(*envelope, format));
      published_ = event.position;
      ++sent;
    }
    REQUIRE(rd_kafka_flush(producer.get(), 30'000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    INFO("delivery errors: " << deliveries.errors.size());
    REQUIRE(deliveries.errors.empty());
    REQUIRE(deliveries.delivered == sent);
    for (auto partition : deliveries.partitions) partitions_.insert(partition);
  }

  // Publishes the store's events with the bridge's relay itself (every
  // event to the fixture's topic), up to the head.
  void PublishWithRelay(cairn::DeliveryMode mode) {
    cairn::BridgeConfig config;
    config.name = relay_name_;  // the same bridge each time: it goes on from its checkpoint
    config.source_service = "kafka-source-test";
    config.mode = mode;
    config.on_unroutable = cairn::OnUnroutable::kDefault;
    config.default_topic = topic_;
    config.kafka = {{"bootstrap.servers", kafka_test::BootstrapServers()}};
    auto relay = cairn::Relay::Open(*store_, config, {.log = [](std::string_view) {}});
    CAIRN_REQUIRE_OK(relay);
    CAIRN_REQUIRE_OK((*relay)->RunToHead());
  }

  // Produces a message as an outside producer might.
  void ProduceRaw(const std::string& key, const std::string& value,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
    Deliveries deliveries;
    auto producer = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_test::BootstrapServers()}},
                                          OnDelivery, &deliveries);
    Produce(producer.get(), topic_, key, value, headers);
    REQUIRE(rd_kafka_flush(producer.get(), 30'000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(deliveries.delivered == 1);
  }

  // The partitions the published messages went to.
  const std::set<std::int32_t>& partitions() const { return partitions_; }

  std::unique_ptr<cairn::ProjectionRunner> StoreRunner(const std::string& model) {
    auto runner = cairn::ProjectionRunner::Open(cairn::StoreSource(*store_), model);
    CAIRN_REQUIRE_OK(runner);
    return std::move(*runner);
  }

  std::unique_ptr<cairn::ProjectionRunner> KafkaRunner(const std::string& model, const std::string& group,
                                                       cairn::RunnerOptions options = {}) {
    auto source = cairn::KafkaSource({.topics = {topic_},
                                      .group_id = group,
                                      .kafka = {{"bootstrap.servers", kafka_test::BootstrapServers()},
                                                {"session.timeout.ms", "6000"},
                                                {"heartbeat.interval.ms", "500"}}});
    CAIRN_REQUIRE_OK(source);
    auto runner = cairn::ProjectionRunner::Open(std::move(*source), model, std::move(options));
    CAIRN_REQUIRE_OK(runner);
    return std::move(*runner);
  }

 private:
  cairn_test::TempDir dir_;
  std::string topic_;
  std::unique_ptr<cairn::EventStore> store_;
  std::uint64_t published_ = 0;
  std::set<std::int32_t> partitions_;
  std::string relay_name_ = kafka_test::UniqueName("relay");
};

// A read-only connection of the test's own.
struct Connection {
  explicit Connection(const std::string& path) {
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    INFO(path << ": " << sqlite3_errstr(rc));
    REQUIRE(rc == SQLITE_OK);
    sqlite3_busy_timeout(db, 30'000);
  }
  ~Connection() { sqlite3_close_v2(db); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  sqlite3* db = nullptr;
};

// A query's rows, each column as text ("NULL" for NULL); nullopt when it cannot be prepared (no such table).
std::optional<std::vector<std::vector<std::string>>> TryRows(const std::string& path, const std::string& sql) {
  Connection connection(path);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(connection.db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::nullopt;
  }
  std::vector<std::vector<std::string>> rows;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto& row = rows.emplace_back();
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
      row.push_back(text != nullptr ? text : "NULL");
    }
  }
  sqlite3_finalize(stmt);
  INFO(sql);
  REQUIRE(rc == SQLITE_DONE);
  return rows;
}

std::vector<std::vector<std::string>> Rows(const std::string& path, const std::string& sql) {
  auto rows = TryRows(path, sql);
  INFO(sql);
  REQUIRE(rows);
  return *rows;
}

CounterModel ReadCounterModel(const std::string& path) {
  Connection connection(path);
  auto model = cairn_test::ReadCounters(connection.db);
  REQUIRE(model);
  return *model;
}

// The next offsets the read model holds for `projection`, summed over the partitions (0 without any).
std::int64_t StoredOffsets(const std::string& path, const std::string& projection) {
  auto rows = TryRows(path, "SELECT coalesce(sum(next_offset), 0) FROM cairn_source_offsets WHERE projection = '" +
                                projection + "'");
  return rows ? std::stoll((*rows)[0][0]) : 0;
}

// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// As cairn_test::AppendRandom, over 24 streams (acct-N, order-N, misc-N): the 7 streams of
// AppendRandom land on only two of three partitions, and these tests need all of them.
cairn::Result<std::size_t> AppendSpread(cairn::EventStore& store, std::mt19937& rng, std::size_t appends) {
  static const char* kCategories[] = {"acct", "order", "misc"};
  static const char* kTypes[] = {"deposited.v1", "deposited.v1", "withdrawn.v1", "noted.v1"};
  std::size_t appended = 0;
  for (std::size_t i = 0; i < appends; ++i) {
    std::vector<cairn::EventData> events(1 + rng() % 3);
    for (auto& event : events) {
      event.type = kTypes[rng() % std::size(kTypes)];
      event.data = "{\"amount\":" + std::to_string(rng() % 1000) + "}";
    }
    const std::string stream = std::string(kCategories[rng() % 3]) + "-" + std::to_string(rng() % 8);
    auto result = store.Append(stream, cairn::ExpectedRevision::Any(), events);
    if (!result) return std::unexpected(result.error());
    appended += events.size();
  }
  return appended;
}

void AppendOrders(cairn::EventStore& store, std::mt19937& rng, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string stream = "order-" + std::to_string(rng() % 40);
    const std::string metadata = "{\"correlation_id\":\"req-" + std::to_string(i) + "\"}";
    std::vector<cairn::EventData> events;
    if (rng() % 4 == 0) {
      events.push_back({.type = "order.cancelled.v1", .data = "{\"reason\":\"r" + std::to_string(i) + "\"}",
                        .metadata = metadata});
    } else {
      events.push_back({.type = "order.placed.v1",
                        .data = "{\"customer\":\"c-" + std::to_string(rng() % 7) +
                                "\",\"items\":[{\"sku\":\"tea\",\"qty\":2}],\"total\":" + std::to_string(rng() % 100) +
                                "}",
                        .metadata = metadata});
    }
    CAIRN_REQUIRE_OK(store.Append(stream, cairn::ExpectedRevision::Any(), events));
  }
}

// customer_totals.toml built from the store and from the fixture's topic: the same read model.
void RequireSqlProjectionsEqual(Fixture& fx) {
  auto projection = cairn::LoadSqlProjection(CAIRN_EXAMPLE_PROJECTIONS_DIR "/customer_totals.toml");
  CAIRN_REQUIRE_OK(projection);
  const std::string store_model = fx.File("store-fed.db");
  const std::string kafka_model = fx.File("kafka-fed.db");
  {
    auto runner = fx.StoreRunner(store_model);
    CAIRN_REQUIRE_OK(runner->Add(*projection));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  {
    auto runner = fx.KafkaRunner(kafka_model, kafka_test::UniqueName("group"));
    CAIRN_REQUIRE_OK(runner->Add(*projection));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  for (const std::string sql : {"SELECT * FROM orders ORDER BY stream", "SELECT * FROM customer_totals ORDER BY customer",
                                "SELECT count(*) FROM cairn_parked"}) {
    INFO(sql);
    CHECK(Rows(kafka_model, sql) == Rows(store_model, sql));
  }
  CHECK(Rows(kafka_model, "SELECT count(*) FROM orders")[0][0] != "0");
}

TEST_CASE("a Kafka-fed C++ projection equals the store-fed one, from JSON and from Cap'n Proto envelopes") {
  const auto format = GENERATE(cairn::EnvelopeFormat::kJson, cairn::EnvelopeFormat::kCapnp);
  Fixture fx;
  std::mt19937 rng(7);
  auto appended = AppendSpread(fx.store(), rng, 300);
  CAIRN_REQUIRE_OK(appended);
  fx.Publish(format);
  REQUIRE(fx.partitions().size() == 3);

  const std::string store_model = fx.File("store-fed.db");
  const std::string kafka_model = fx.File("kafka-fed.db");
  {
    auto runner = fx.StoreRunner(store_model);
    CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  {
    auto runner = fx.KafkaRunner(kafka_model, kafka_test::UniqueName("group"));
    CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
    const auto statuses = runner->Statuses();
    REQUIRE(statuses.size() == 1);
    CHECK(statuses[0].last_error.empty());
    CHECK(statuses[0].parked == 0);
    CHECK(statuses[0].position == *appended);  // the highest store position applied
  }
  const CounterModel expected = ReadCounterModel(store_model);
  REQUIRE(expected.applied_count > 0);
  REQUIRE(ReadCounterModel(kafka_model) == expected);
  // Every message's offset + 1, summed over the partitions, is the number of messages.
  CHECK(StoredOffsets(kafka_model, "counters") == static_cast<std::int64_t>(*appended));
}

TEST_CASE("a Kafka-fed SQL projection equals the store-fed one") {
  Fixture fx;
  std::mt19937 rng(11);
  AppendOrders(fx.store(), rng, 200);
  fx.Publish();
  RequireSqlProjectionsEqual(fx);
}

TEST_CASE("a projection fed from what the relay published equals the store-fed one, in both delivery modes") {
  const auto mode = GENERATE(cairn::DeliveryMode::kIdempotent, cairn::DeliveryMode::kExactlyOnce);
  Fixture fx;
  std::mt19937 rng(13);
  AppendOrders(fx.store(), rng, 150);
  fx.PublishWithRelay(mode);
  AppendOrders(fx.store(), rng, 50);  // and what came after a first run
  fx.PublishWithRelay(mode);
  RequireSqlProjectionsEqual(fx);
}

TEST_CASE("a stopped Kafka-fed runner resumes from the read model's offsets, applying nothing twice") {
  Fixture fx;
  std::mt19937 rng(3);
  CAIRN_REQUIRE_OK(AppendSpread(fx.store(), rng, 200));
  fx.Publish();
  const std::string kafka_model = fx.File("kafka-fed.db");
  const std::string group = kafka_test::UniqueName("group");

  // The first build, then a run stopped after its third batch of at most 10 events.
  {
    auto runner = fx.KafkaRunner(kafka_model, group, {.max_batch_events = 10});
    CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  CAIRN_REQUIRE_OK(AppendSpread(fx.store(), rng, 200));
  fx.Publish();
  std::int64_t offsets_when_stopped = 0;
  {
    std::atomic<int> batches{0};
    cairn::ProjectionRunner* self = nullptr;
    auto runner = fx.KafkaRunner(kafka_model, group,
                                 {.max_batch_events = 10, .on_batch = [&](const cairn::ProjectionStatus&) {
                                    if (++batches == 3) self->Stop();
                                  }});
    self = runner.get();
    CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(1)));
    CAIRN_REQUIRE_ERROR(runner->RunToHead(), cairn::ErrorCode::kCancelled);
    offsets_when_stopped = StoredOffsets(kafka_model, "counters");
  }
  const auto all = ReadLog(fx.store());
  CHECK(offsets_when_stopped < static_cast<std::int64_t>(all.size()));

  // The restart goes on from the offsets: the handler fails (and parks) any
  // event of a stream applied twice or out of order, and the fold would differ.
  {
    auto runner = fx.KafkaRunner(kafka_model, group);
    CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
    CHECK(runner->Statuses()[0].last_error.empty());
  }
  CHECK(Rows(kafka_model, "SELECT count(*) FROM cairn_parked")[0][0] == "0");
  CHECK(ReadCounterModel(kafka_model) == cairn_test::FoldCounters(all, 1, all.back().position));
  CHECK(StoredOffsets(kafka_model, "counters") == static_cast<std::int64_t>(all.size()));
}

TEST_CASE("two Kafka-fed runners in one group split the partitions and together equal the store-fed model") {
  Fixture fx;
  std::mt19937 rng(5);
  CAIRN_REQUIRE_OK(AppendSpread(fx.store(), rng, 50));
  fx.Publish();
  const std::string kafka_model = fx.File("kafka-fed.db");
  const std::string group = kafka_test::UniqueName("group");
  // The first build is one runner's (docs/projections.md: builds are not split).
  {
    auto runner = fx.KafkaRunner(kafka_model, group);
    CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }

  // Each runner counts the events its handlers applied.
  std::atomic<int> applied[2] = {0, 0};
  auto counted = [&](int which) {
    cairn::Projection projection = cairn_test::CountersProjection(1);
    for (auto& [type, handler] : projection.handlers) {
      handler = [&applied, which, inner = handler](cairn::ReadModelWriter& model, const cairn::EventView& event) {
        ++applied[which];
        return inner(model, event);
      };
    }
    return projection;
  };
  auto first = fx.KafkaRunner(kafka_model, group);
  auto second = fx.KafkaRunner(kafka_model, group);
  CAIRN_REQUIRE_OK(first->Add(counted(0)));
  CAIRN_REQUIRE_OK(second->Add(counted(1)));
  CAIRN_REQUIRE_OK(first->Start());
  CAIRN_REQUIRE_OK(second->Start());
  auto live = [](cairn::ProjectionRunner& runner) { return runner.Statuses()[0].state == cairn::ProjectionState::kLive; };
  REQUIRE(WaitUntil([&] { return live(*first) && live(*second); }, 60s));
  // Let the group settle: both members joined, each with its share.
  std::this_thread::sleep_for(2s);

  CAIRN_REQUIRE_OK(AppendSpread(fx.store(), rng, 300));
  fx.Publish();
  REQUIRE(fx.partitions().size() == 3);
  const auto all = ReadLog(fx.store());
  const CounterModel expected = cairn_test::FoldCounters(all, 1, all.back().position);
  const bool done = WaitUntil(
      [&] { return StoredOffsets(kafka_model, "counters") == static_cast<std::int64_t>(all.size()); }, 60s);
  first->Stop();
  second->Stop();
  first->Wait();
  second->Wait();
  REQUIRE(done);
  INFO("applied by the first runner: " << applied[0] << ", by the second: " << applied[1]);
  CHECK(applied[0] > 0);
  CHECK(applied[1] > 0);
  CHECK(first->Statuses()[0].last_error.empty());
  CHECK(second->Statuses()[0].last_error.empty());
  CHECK(Rows(kafka_model, "SELECT count(*) FROM cairn_parked")[0][0] == "0");
  CHECK(ReadCounterModel(kafka_model) == expected);
}

TEST_CASE("a message that is not an envelope is parked or stops the Kafka-fed projection") {
  const bool park = GENERATE(true, false);
  Fixture fx(1);
  std::vector<cairn::EventData> deposit{{.type = "deposited.v1", .data = "{\"amount\":5}"}};
  CAIRN_REQUIRE_OK(fx.store().Append("acct-1", cairn::ExpectedRevision::Any(), deposit));
  fx.Publish();  // offset 0
  fx.ProduceRaw("acct-1", "{not an envelope", {{"content-type", "application/json"}, {"cairn-position", "2"},
                                                {"event_type", "deposited.v1"}});  // offset 1
  fx.ProduceRaw("acct-1", "{}", {{"content-type", "text/plain"}});                     // offset 2

  cairn::Projection projection = cairn_test::CountersProjection(1);
  projection.on_failure = park ? cairn::OnHandlerFailure::kPark : cairn::OnHandlerFailure::kStop;
  const std::string kafka_model = fx.File("kafka-fed.db");
  auto runner = fx.KafkaRunner(kafka_model, kafka_test::UniqueName("group"));
  CAIRN_REQUIRE_OK(runner->Add(std::move(projection)));
  auto result = runner->RunToHead();
  if (park) {
    CAIRN_REQUIRE_OK(result);
    const auto parked = Rows(kafka_model, "SELECT position, stream, type, error FROM cairn_parked ORDER BY position");
    REQUIRE(parked.size() == 2);
    CHECK(parked[0][0] == "0");  // no cairn-position header
    CHECK_THAT(parked[0][3], Catch::Contains("offset 2 is not an envelope") && Catch::Contains("text/plain"));
    CHECK(parked[1][0] == "2");
    CHECK(parked[1][1] == "acct-1");
    CHECK(parked[1][2] == "deposited.v1");
    CHECK_THAT(parked[1][3], Catch::Contains("partition 0 offset 1 is not an envelope"));
    CHECK(ReadCounterModel(kafka_model).applied_count == 1);
    CHECK(StoredOffsets(kafka_model, "counters") == 3);
    // Kafka cannot read an event by position: retrying parked events is for a store-fed runner.
    CAIRN_REQUIRE_ERROR(runner->RetryParked("counters"), cairn::ErrorCode::kNotSupported);
  } else {
    CAIRN_REQUIRE_ERROR(result, cairn::ErrorCode::kInvalidArgument);
    CHECK_THAT(result.error().message(), Catch::Contains("projection counters stopped") &&
                                             Catch::Contains("partition 0 offset 1 is not an envelope"));
    const auto statuses = runner->Statuses();
    CHECK(statuses[0].state == cairn::ProjectionState::kFailed);
    // Nothing after the bad message was taken: the next run stops there again.
    CHECK(StoredOffsets(kafka_model, "counters") <= 1);
    CAIRN_REQUIRE_ERROR(runner->RunToHead(), cairn::ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("a Kafka-fed projection's new version is rebuilt from the topics' beginning") {
  Fixture fx;
  std::mt19937 rng(13);
  CAIRN_REQUIRE_OK(AppendSpread(fx.store(), rng, 150));
  fx.Publish();
  const std::string kafka_model = fx.File("kafka-fed.db");
  const std::string group = kafka_test::UniqueName("group");
  for (std::uint32_t version : {1u, 2u}) {
    auto runner = fx.KafkaRunner(kafka_model, group);
    CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(version)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  const auto all = ReadLog(fx.store());
  CHECK(Rows(kafka_model, "SELECT version FROM cairn_projections WHERE name = 'counters'")[0][0] == "2");
  CHECK(ReadCounterModel(kafka_model) == cairn_test::FoldCounters(all, 2, all.back().position));
  CHECK(StoredOffsets(kafka_model, "counters") == static_cast<std::int64_t>(all.size()));
}

#ifdef CAIRN_CLI_PATH
// `cairn projection run` with --kafka-*: the process is killed with SIGKILL at
// random moments — during the first build in a shadow, and live — while more
// events are published; then a run to the end must leave the model the
// store-fed runner builds (a duplicate order.placed would be parked, a lost
// event would change the totals).
TEST_CASE("cairn projection run fed from Kafka, killed with SIGKILL again and again, ends equal to the store-fed model") {
  Fixture fx;
  std::mt19937 rng(17);
  AppendOrders(fx.store(), rng, 300);
  fx.Publish();
  const std::string file = CAIRN_EXAMPLE_PROJECTIONS_DIR "/customer_totals.toml";
  const std::string kafka_model = fx.File("kafka-fed.db");
  const std::string group = kafka_test::UniqueName("group");
  const std::vector<std::string> kafka_args = {
      "--kafka-brokers", kafka_test::BootstrapServers(), "--kafka-topic", fx.topic(), "--kafka-group", group,
      // A member killed without leaving the group holds its partitions this long.
      "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"};
  auto command = [&](bool follow) {
    std::vector<std::string> argv = {CAIRN_CLI_PATH, "projection", "run", file, "--read-model", kafka_model};
    if (follow) argv.push_back("--follow");
    argv.insert(argv.end(), kafka_args.begin(), kafka_args.end());
    return argv;
  };
  for (int round = 0; round < 4; ++round) {
    cairn_test::ChildProcess child(command(/*follow=*/true));
    child.DrainFor(std::chrono::milliseconds(300 + rng() % 2500));
    child.Kill(SIGKILL);
    const int status = child.Wait();
    INFO("round " << round << ": the run ended by itself (status " << status << ")");
    REQUIRE(WIFSIGNALED(status));
    AppendOrders(fx.store(), rng, 40);
    fx.Publish();
  }
  {
    cairn_test::ChildProcess child(command(/*follow=*/false));
    const auto lines = child.ReadRemainingLines();
    const int status = child.Wait();
    INFO("output: " << (lines.empty() ? std::string("(none)") : lines.back()));
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }

  auto projection = cairn::LoadSqlProjection(file);
  CAIRN_REQUIRE_OK(projection);
  const std::string store_model = fx.File("store-fed.db");
  {
    auto runner = fx.StoreRunner(store_model);
    CAIRN_REQUIRE_OK(runner->Add(*projection));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  for (const std::string sql :
       {"SELECT * FROM orders ORDER BY stream", "SELECT * FROM customer_totals ORDER BY customer",
        "SELECT projection, position, stream, revision, type FROM cairn_parked ORDER BY position"}) {
    INFO(sql);
    CHECK(Rows(kafka_model, sql) == Rows(store_model, sql));
  }
  CHECK(StoredOffsets(kafka_model, "customer_totals") == static_cast<std::int64_t>(ReadLog(fx.store()).size()));
}
#endif

TEST_CASE("a Kafka-fed projection of a topic that does not exist fails naming the topic") {
  cairn_test::TempDir dir;
  const std::string missing = kafka_test::UniqueName("cairn.test.missing");
  auto source = cairn::KafkaSource({.topics = {missing},
                                    .group_id = kafka_test::UniqueName("group"),
                                    .kafka = {{"bootstrap.servers", kafka_test::BootstrapServers()}}});
  CAIRN_REQUIRE_OK(source);
  auto runner = cairn::ProjectionRunner::Open(std::move(*source), dir.File("model.db"));
  CAIRN_REQUIRE_OK(runner);
  CAIRN_REQUIRE_OK((*runner)->Add(cairn_test::CountersProjection(1)));
  auto result = (*runner)->RunToHead();
  CAIRN_REQUIRE_ERROR(result, cairn::ErrorCode::kInvalidArgument);
  CHECK_THAT(result.error().message(), Catch::Contains(missing));
}

TEST_CASE("the Kafka source refuses options it cannot run with") {
  auto no_topic = cairn::KafkaSource({.group_id = "g", .kafka = {{"bootstrap.servers", "127.0.0.1:1"}}});
  CAIRN_REQUIRE_ERROR(no_topic, cairn::ErrorCode::kInvalidArgument);
  auto no_group = cairn::KafkaSource({.topics = {"t.t"}, .kafka = {{"bootstrap.servers", "127.0.0.1:1"}}});
  CAIRN_REQUIRE_ERROR(no_group, cairn::ErrorCode::kInvalidArgument);
  auto no_brokers = cairn::KafkaSource({.topics = {"t.t"}, .group_id = "g"});
  CAIRN_REQUIRE_ERROR(no_brokers, cairn::ErrorCode::kInvalidArgument);
  auto reserved = cairn::KafkaSource(
      {.topics = {"t.t"}, .group_id = "g", .kafka = {{"bootstrap.servers", "127.0.0.1:1"}, {"enable.auto.commit", "true"}}});
  CAIRN_REQUIRE_ERROR(reserved, cairn::ErrorCode::kInvalidArgument);
  CHECK_THAT(reserved.error().message(), Catch::Contains("enable.auto.commit"));
  auto unknown = cairn::KafkaSource(
      {.topics = {"t.t"}, .group_id = "g", .kafka = {{"bootstrap.servers", "127.0.0.1:1"}, {"no.such.property", "1"}}});
  CAIRN_REQUIRE_ERROR(unknown, cairn::ErrorCode::kInvalidArgument);
  CHECK_THAT(unknown.error().message(), Catch::Contains("no.such.property"));
}

}  // namespace
