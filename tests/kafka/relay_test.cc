// The relay against the real broker of the kafka_broker fixture: what it
// publishes is read back by a real consumer — envelopes, headers, keys, order,
// one message per event — in both delivery modes, across kill -9, a broker
// restart, poison events and routing errors.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cairn/bridge_config.h"
#include "cairn/envelope.h"
#include "cairn/relay.h"
#include "cairn/store.h"
#include "kafka_test_support.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using cairn::DeliveryMode;
using cairn::ErrorCode;
using cairn::ExpectedRevision;
using kafka_test::Received;

std::unique_ptr<cairn::EventStore> OpenStore(const std::string& path) {
  auto store = cairn::EventStore::Open(path, {.create_if_missing = true});
  CAIRN_REQUIRE_OK(store);
  return std::move(*store);
}

// Appends `per_stream` events to each of `streams` streams "order-<i>",
// round-robin, one append each, with a correlation id in the metadata.
void AppendOrders(cairn::EventStore& store, int streams, int per_stream, int first_stream = 0) {
  for (int n = 0; n < per_stream; ++n) {
    for (int i = first_stream; i < first_stream + streams; ++i) {
      cairn::EventData event{.type = "acme.orders.order.noted.v1",
                             .data = R"({"n":)" + std::to_string(n) + "}",
                             .metadata = R"({"correlation_id":"c-)" + std::to_string(i) + R"(","actor":"ada"})"};
      CAIRN_REQUIRE_OK(store.Append("order-" + std::to_string(i), ExpectedRevision::Any(), {event}));
    }
  }
}

struct BridgeFile {
  std::string name = kafka_test::UniqueName("relay");
  std::string topic;
  std::string mode = "idempotent";
  std::string format = "json";
  std::string extra;  // more [bridge] lines
  std::string bootstrap = kafka_test::BootstrapServers();

  cairn::BridgeConfig Parse() const {
    const std::string text = "[bridge]\nname = \"" + name + "\"\nsource_service = \"orders-service\"\nmode = \"" +
                             mode + "\"\nformat = \"" + format + "\"\n" + extra +
                             "\n[route.orders]\ncategory = \"order\"\ntopic = \"" + topic +
                             "\"\n[kafka]\nbootstrap.servers = \"" + bootstrap + "\"\n" +
                             "[retry]\ninitial_backoff_ms = 50\nmax_backoff_ms = 500\n";
    auto config = cairn::ParseBridgeConfig(text, "test.toml");
    CAIRN_REQUIRE_OK(config);
    return *config;
  }
  std::string Text() const {
    return "[bridge]\nname = \"" + name + "\"\nsource_service = \"orders-service\"\nmode = \"" + mode + "\"\n" +
           extra + "\n[route.orders]\ncategory = \"order\"\ntopic = \"" + topic + "\"\n[kafka]\nbootstrap.servers = \"" +
           bootstrap + "\"\n[retry]\ninitial_backoff_ms = 50\nmax_backoff_ms = 500\n";
  }
};

// A bridge file routing the order category to a new topic `<prefix>.<unique>`
// of `partitions` partitions, created on the test broker.
BridgeFile OnNewTopic(const std::string& prefix, int partitions) {
  BridgeFile file;
  file.topic = kafka_test::UniqueName(prefix);
  auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", file.bootstrap}});
  kafka_test::CreateTopic(admin.get(), file.topic, partitions);
  return file;
}

cairn::RelayOptions QuietOptions() {
  cairn::RelayOptions options;
  options.log = [](std::string_view) {};
  return options;
}

kafka_test::KafkaPtr Consumer(const std::string& topic, bool read_committed = true,
                             const std::string& bootstrap = kafka_test::BootstrapServers()) {
  auto consumer = kafka_test::NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                            {"group.id", kafka_test::UniqueName("reader")},
                                                            {"auto.offset.reset", "earliest"},
                                                            {"enable.partition.eof", "false"},
                                                            {"isolation.level", read_committed ? "read_committed" : "read_uncommitted"}});
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  REQUIRE(rd_kafka_subscribe(consumer.get(), topics) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(topics);
  return consumer;
}

// Everything on `topic` until `count` messages came (then 2 s more, to catch extras) or 60 s passed.
std::vector<Received> ReadTopic(const std::string& topic, std::size_t count, bool read_committed = true,
                                const std::string& bootstrap = kafka_test::BootstrapServers()) {
  auto consumer = Consumer(topic, read_committed, bootstrap);
  auto received = kafka_test::ConsumeUntil(
      consumer.get(), [count](const std::vector<Received>& got) { return got.size() >= count; }, 60s);
  auto extra = kafka_test::ConsumeUntil(consumer.get(), [](const std::vector<Received>&) { return false; }, 2s);
  received.insert(received.end(), extra.begin(), extra.end());
  rd_kafka_consumer_close(consumer.get());
  return received;
}

std::string Header(const Received& message, std::string_view name) {
  for (const auto& [key, value] : message.headers) {
    if (key == name) return value;
  }
  return "<none>";
}

std::uint64_t PositionOf(const Received& message) { return std::stoull(Header(message, "cairn-position")); }

// Every position 1..head at least once (exactly once when `exactly_once`), and
// within each partition each stream's revisions never go back except where a
// run restarts (at-least-once redelivery), i.e. the first occurrences are in order.
void CheckDelivery(const std::vector<Received>& messages, std::uint64_t head, bool exactly_once) {
  std::map<std::uint64_t, int> seen;
  std::map<std::string, std::vector<std::uint64_t>> revisions_by_stream;
  for (const Received& message : messages) {
    auto envelope = cairn::ParseEnvelopeJson(message.value);
    CAIRN_REQUIRE_OK(envelope);
    REQUIRE(message.key == envelope->stream);
    seen[envelope->position] += 1;
    revisions_by_stream[message.key].push_back(envelope->revision);
  }
  REQUIRE(seen.size() == head);
  REQUIRE(seen.begin()->first == 1);
  REQUIRE(seen.rbegin()->first == head);
  if (exactly_once) {
    for (const auto& [position, times] : seen) {
      INFO("position " << position);
      REQUIRE(times == 1);
    }
  }
  for (const auto& [stream, revisions] : revisions_by_stream) {
    INFO("stream " << stream);
    std::uint64_t next = 0;  // the next revision never seen before
    for (std::uint64_t revision : revisions) {
      REQUIRE(revision <= next);  // a repeat of one seen, or the next one: never a gap
      if (revision == next) ++next;
      if (exactly_once) REQUIRE(revision + 1 == next);
    }
  }
}

TEST_CASE("the relay publishes each event once as its envelope with headers, keyed by stream, in order", "[relay]") {
  cairn_test::TempDir dir;
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file = OnNewTopic("acme.test.relay", 3);
  AppendOrders(*store, 5, 12);  // positions 1..60

  auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(relay);
  CAIRN_REQUIRE_OK((*relay)->RunToHead());
  cairn::RelayStatus status = (*relay)->status();
  CHECK(status.state == cairn::RelayState::kStopped);
  CHECK(status.checkpoint == 60);
  CHECK(status.published == 60);
  CHECK(status.lag_events == 0);
  relay->reset();

  const std::vector<Received> messages = ReadTopic(file.topic, 60);
  REQUIRE(messages.size() == 60);
  CheckDelivery(messages, 60, /*exactly_once=*/true);
  std::map<std::string, int> partition_of;
  for (const Received& message : messages) {
    auto envelope = cairn::ParseEnvelopeJson(message.value);
    CAIRN_REQUIRE_OK(envelope);
    // Byte for byte what MakeEnvelope makes of the stored event, and its headers.
    std::optional<cairn::Envelope> expected;
    CAIRN_REQUIRE_OK(store->ReadLog({.from_position = envelope->position, .to_position = envelope->position},
                                    [&](const cairn::EventView& event) {
                                      auto made = cairn::MakeEnvelope(event, "orders-service");
                                      REQUIRE(made.has_value());
                                      expected = *made;
                                      return true;
                                    }));
    REQUIRE(expected.has_value());
    CHECK(message.value == cairn::EnvelopeJson(*expected));
    CHECK(message.headers == cairn::EnvelopeHeaders(*expected, cairn::EnvelopeFormat::kJson));
    CHECK(envelope->correlation_id == "c-" + message.key.substr(6));
    // One stream, one partition.
    auto [it, inserted] = partition_of.emplace(message.key, message.partition);
    CHECK(it->second == message.partition);
  }

  // The checkpoint is in the store; a new relay publishes only what is new.
  auto saved = cairn::ReadRelayStatus(*store, file.name);
  CAIRN_REQUIRE_OK(saved);
  REQUIRE(saved->has_value());
  CHECK((*saved)->checkpoint.position == 60);
  REQUIRE((*saved)->status.has_value());
  CHECK((*saved)->status->published == 60);
  AppendOrders(*store, 1, 3, 7);  // 61..63
  auto again = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(again);
  CAIRN_REQUIRE_OK((*again)->RunToHead());
  CHECK((*again)->status().published == 3);
  const std::vector<Received> all = ReadTopic(file.topic, 63);
  CHECK(all.size() == 63);
  CheckDelivery(all, 63, /*exactly_once=*/true);
}

TEST_CASE("a Cap'n Proto bridge publishes binary envelopes marked by their content-type", "[relay]") {
  cairn_test::TempDir dir;
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file = OnNewTopic("acme.test.capnp", 1);
  file.format = "capnp";
  AppendOrders(*store, 2, 3);
  auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(relay);
  CAIRN_REQUIRE_OK((*relay)->RunToHead());
  const std::vector<Received> messages = ReadTopic(file.topic, 6);
  REQUIRE(messages.size() == 6);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    CHECK(Header(messages[i], "content-type") == "application/x-capnp");
    auto envelope = cairn::ParseEnvelopeCapnp(messages[i].value);
    CAIRN_REQUIRE_OK(envelope);
    CHECK(envelope->position == i + 1);  // one partition: log order
    CHECK(envelope->stream == messages[i].key);
  }
}

TEST_CASE("exactly-once: read_committed consumers see each event once, and a new relay resumes from Kafka's checkpoint",
          "[relay]") {
  cairn_test::TempDir dir;
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file = OnNewTopic("acme.test.eos", 3);
  file.mode = "exactly-once";
  AppendOrders(*store, 4, 25);  // 1..100
  {
    auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
    CAIRN_REQUIRE_OK(relay);
    CAIRN_REQUIRE_OK((*relay)->RunToHead());
    CHECK((*relay)->status().published == 100);
  }
  // The store's own checkpoint is only informational in this mode: drop it to
  // show the next relay resumes from the checkpoint committed in Kafka.
  CAIRN_REQUIRE_OK(store->DeleteCheckpoint(cairn::RelayCheckpointName(file.name)));
  AppendOrders(*store, 2, 5, 10);  // 101..110
  auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(relay);
  CAIRN_REQUIRE_OK((*relay)->RunToHead());
  CHECK((*relay)->status().published == 10);
  const std::vector<Received> messages = ReadTopic(file.topic, 110);
  CHECK(messages.size() == 110);
  CheckDelivery(messages, 110, /*exactly_once=*/true);
}

TEST_CASE("exactly-once: a second relay of the same bridge fences the first", "[relay]") {
  cairn_test::TempDir dir;
  // Two stores (two hosts, say) running the same bridge: Kafka's transactional.id decides.
  auto first_store = OpenStore(dir.File("first.db"));
  auto second_store = OpenStore(dir.File("second.db"));
  BridgeFile file = OnNewTopic("acme.test.fence", 1);
  file.mode = "exactly-once";
  AppendOrders(*first_store, 1, 3);
  AppendOrders(*second_store, 1, 3);

  auto first = cairn::Relay::Open(*first_store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(first);
  cairn::Status first_ran;
  std::thread runner([&] { first_ran = (*first)->Run(); });
  while ((*first)->status().checkpoint < 3) std::this_thread::sleep_for(20ms);

  auto second = cairn::Relay::Open(*second_store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(second);
  CAIRN_REQUIRE_OK((*second)->RunToHead());  // init_transactions fences the first
  AppendOrders(*first_store, 1, 1);            // the first must now try a transaction
  runner.join();
  REQUIRE_FALSE(first_ran.has_value());
  CHECK(first_ran.error().code() == ErrorCode::kBusy);
  CHECK_THAT(first_ran.error().message(), Catch::Contains("fenced"));
  CHECK((*first)->status().state == cairn::RelayState::kFailed);
}

TEST_CASE("two relays of one bridge cannot run on one store", "[relay]") {
  cairn_test::TempDir dir;
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file;
  file.topic = "acme.test.unused";
  auto first = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(first);
  auto second = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code() == ErrorCode::kBusy);
  CHECK_THAT(second.error().message(), Catch::Contains("already running"));
}

TEST_CASE("an oversized event goes to the dead-letter topic with its context, its neighbours to the topic", "[relay]") {
  for (const char* mode : {"idempotent", "exactly-once"}) {
    DYNAMIC_SECTION(mode) {
      cairn_test::TempDir dir;
      auto store = OpenStore(dir.File("store.db"));
      BridgeFile file;
      file.mode = mode;
      file.extra = "on_poison = \"dlq\"\n";
      file.topic = kafka_test::UniqueName("acme.test.small");
      auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_test::BootstrapServers()}});
      // The topic accepts record batches of at most 4 KB.
      kafka_test::CreateTopic(admin.get(), file.topic, 2, {{"max.message.bytes", "4096"}});
      kafka_test::CreateTopic(admin.get(), file.topic + ".dlq.v1", 1);
      AppendOrders(*store, 3, 2);  // 1..6
      const std::string big(10'000, 'x');
      CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(),
                                     {{.type = "acme.orders.order.noted.v1", .data = R"({"big":")" + big + "\"}"}}));  // 7
      AppendOrders(*store, 3, 2);  // 8..13

      auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
      CAIRN_REQUIRE_OK(relay);
      CAIRN_REQUIRE_OK((*relay)->RunToHead());
      CHECK((*relay)->status().checkpoint == 13);
      CHECK((*relay)->status().published == 12);
      CHECK((*relay)->status().dead_lettered == 1);

      const std::vector<Received> published = ReadTopic(file.topic, 12);
      std::set<std::uint64_t> positions;
      for (const Received& message : published) positions.insert(PositionOf(message));
      CHECK(published.size() == 12);
      CHECK(positions.size() == 12);
      CHECK_FALSE(positions.contains(7));

      const std::vector<Received> dead = ReadTopic(file.topic + ".dlq.v1", 1);
      REQUIRE(dead.size() == 1);
      const Received& letter = dead[0];
      CHECK(letter.key == "order-1");
      CHECK(PositionOf(letter) == 7);
      CHECK(Header(letter, "cairn-dlq-error-code") == "MSG_SIZE_TOO_LARGE");
      CHECK_THAT(Header(letter, "cairn-dlq-error"), Catch::Contains("too large"));
      CHECK(Header(letter, "cairn-dlq-attempts") == "1");
      CHECK(Header(letter, "cairn-dlq-bridge") == file.name);
      CHECK(Header(letter, "cairn-dlq-topic") == file.topic);
      CHECK(Header(letter, "cairn-dlq-value") == "reference");
      CHECK(Header(letter, "event_type") == "acme.orders.order.noted.v1");
      CHECK_THAT(letter.value, Catch::Contains(R"("position":7)") && Catch::Contains(R"("data_bytes":10010)"));
    }
  }
}

TEST_CASE("a poison event with on_poison = stop stops the relay just before it", "[relay]") {
  cairn_test::TempDir dir;
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file = OnNewTopic("acme.test.stop", 1);
  AppendOrders(*store, 1, 2);  // 1, 2
  // Metadata whose correlation_id is a number cannot be enveloped.
  CAIRN_REQUIRE_OK(store->Append("order-0", ExpectedRevision::Any(),
                                 {{.type = "acme.orders.order.noted.v1", .data = "{}", .metadata = R"({"correlation_id":7})"}}));
  AppendOrders(*store, 1, 2);  // 4, 5
  auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(relay);
  cairn::Status ran = (*relay)->RunToHead();
  REQUIRE_FALSE(ran.has_value());
  CHECK(ran.error().code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(ran.error().message(), Catch::Contains("position 3") && Catch::Contains("on_poison = \"stop\""));
  CHECK((*relay)->status().checkpoint == 2);
  CHECK((*relay)->status().state == cairn::RelayState::kFailed);
  auto saved = store->ReadCheckpoint(cairn::RelayCheckpointName(file.name));
  CAIRN_REQUIRE_OK(saved);
  REQUIRE(saved->has_value());
  CHECK((*saved)->position == 2);
  CHECK(ReadTopic(file.topic, 2).size() == 2);
}

TEST_CASE("routing errors are reported: an unroutable event and a missing topic", "[relay]") {
  cairn_test::TempDir dir;
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file;
  file.topic = kafka_test::UniqueName("acme.test.route");
  auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_test::BootstrapServers()}});

  SECTION("the topic does not exist") {
    AppendOrders(*store, 1, 1);
    auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
    CAIRN_REQUIRE_OK(relay);
    cairn::Status ran = (*relay)->RunToHead();
    REQUIRE_FALSE(ran.has_value());
    CHECK(ran.error().code() == ErrorCode::kNotFound);
    CHECK_THAT(ran.error().message(), Catch::Contains(file.topic));
  }
  SECTION("an event no route matches, with on_unroutable = error") {
    kafka_test::CreateTopic(admin.get(), file.topic, 1);
    AppendOrders(*store, 1, 1);
    CAIRN_REQUIRE_OK(store->Append("customer-1", ExpectedRevision::Any(), {{.type = "acme.crm.customer.joined.v1", .data = "{}"}}));
    auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
    CAIRN_REQUIRE_OK(relay);
    cairn::Status ran = (*relay)->RunToHead();
    REQUIRE_FALSE(ran.has_value());
    CHECK(ran.error().code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(ran.error().message(), Catch::Contains("position 2") && Catch::Contains("customer-1") &&
                                          Catch::Contains("matches no route"));
    CHECK((*relay)->status().checkpoint == 1);
  }
}

// Runs `cairn bridge run` on `store_path`, kills it with SIGKILL once its
// checkpoint has moved (mid-stream), and returns the checkpoint at the kill.
std::uint64_t RunAndKill(const std::string& store_path, const std::string& config_path, const std::string& name,
                         std::uint64_t head) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::setenv("CAIRN_STORE", store_path.c_str(), 1);
    ::execl(CAIRN_CLI_PATH, "cairn", "bridge", "run", "--config", config_path.c_str(), "-X", "linger.ms=20",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::uint64_t at_kill = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  {
    auto reader = cairn::EventStore::Open(store_path, {.read_only = true});
    CAIRN_REQUIRE_OK(reader);
    while (std::chrono::steady_clock::now() < deadline) {
      auto saved = (*reader)->ReadCheckpoint(cairn::RelayCheckpointName(name));
      CAIRN_REQUIRE_OK(saved);
      if (saved->has_value() && (*saved)->position > 0) {
        at_kill = (*saved)->position;
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  INFO("checkpoint at the kill: " << at_kill << " of " << head);
  REQUIRE(at_kill > 0);
  REQUIRE(at_kill < head);  // mid-stream
  return at_kill;
}

TEST_CASE("kill -9 of the relay mid-stream: at-least-once loses nothing, exactly-once duplicates nothing", "[relay]") {
  for (const char* mode : {"idempotent", "exactly-once"}) {
    DYNAMIC_SECTION(mode) {
      cairn_test::TempDir dir;
      const std::string store_path = dir.File("store.db");
      auto store = OpenStore(store_path);
      BridgeFile file = OnNewTopic("acme.test.crash", 3);
      file.mode = mode;
      const std::uint64_t head = 60'000;
      std::vector<cairn::EventData> batch(100, {.type = "acme.orders.order.noted.v1", .data = R"({"n":1})"});
      for (std::uint64_t i = 0; i < head / 100; ++i) {
        CAIRN_REQUIRE_OK(store->Append("order-" + std::to_string(i % 7), ExpectedRevision::Any(), batch));
      }
      const std::string config_path = dir.File("bridge.toml");
      cairn_test::WriteFileBytes(config_path, file.Text());
      RunAndKill(store_path, config_path, file.name, head);

      // Restarted, it finishes the job.
      auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
      CAIRN_REQUIRE_OK(relay);
      CAIRN_REQUIRE_OK((*relay)->RunToHead());
      CHECK((*relay)->status().checkpoint == head);
      const bool exactly_once = std::string_view(mode) == "exactly-once";
      const std::vector<Received> messages = ReadTopic(file.topic, head);
      if (exactly_once) CHECK(messages.size() == head);
      CheckDelivery(messages, head, exactly_once);
    }
  }
}

// A broker of this test's own (tools/kafka/kafka.sh), stopped at scope exit.
class PrivateBroker {
 public:
  explicit PrivateBroker(std::string dir) : dir_(std::move(dir)) { REQUIRE(Script("start") == 0); }
  ~PrivateBroker() { (void)Script("stop"); }
  int Script(const std::string& command) const {
    return std::system(("bash " CAIRN_KAFKA_SH " " + command + " " + dir_ + " >/dev/null 2>&1").c_str());
  }
  std::string bootstrap() const { return cairn_test::ReadFileBytes(dir_ + "/bootstrap"); }

 private:
  std::string dir_;
};

TEST_CASE("the broker stopped and restarted while events are appended: appends go on, nothing is lost, order is kept",
          "[relay]") {
  cairn_test::TempDir dir;
  PrivateBroker broker(dir.File("broker"));
  std::string bootstrap = broker.bootstrap();
  while (!bootstrap.empty() && std::isspace(static_cast<unsigned char>(bootstrap.back()))) bootstrap.pop_back();
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file;
  file.bootstrap = bootstrap;
  file.topic = kafka_test::UniqueName("acme.test.restart");
  {
    auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
    kafka_test::CreateTopic(admin.get(), file.topic, 3);
  }
  auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(relay);
  cairn::Status ran;
  std::thread runner([&] { ran = (*relay)->Run(); });

  std::atomic<int> appended{0};
  std::atomic<int> failed_appends{0};
  std::thread appender([&] {
    for (int i = 0; i < 3000; ++i) {
      cairn::EventData event{.type = "acme.orders.order.noted.v1", .data = R"({"n":)" + std::to_string(i) + "}"};
      auto result = store->Append("order-" + std::to_string(i % 10), ExpectedRevision::Any(), {event});
      (result.has_value() ? appended : failed_appends).fetch_add(1);
      std::this_thread::sleep_for(3ms);
    }
  });
  while (appended.load() < 500) std::this_thread::sleep_for(10ms);
  REQUIRE(broker.Script("stop") == 0);
  const int at_stop = appended.load();
  std::this_thread::sleep_for(5s);
  CHECK(appended.load() > at_stop + 100);  // appends went on while the broker was down
  REQUIRE(broker.Script("restart") == 0);
  appender.join();
  REQUIRE(failed_appends.load() == 0);  // Kafka being away never fails an append

  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while ((*relay)->status().checkpoint < 3000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  const cairn::RelayStatus status = (*relay)->status();
  (*relay)->Stop();
  runner.join();
  CAIRN_REQUIRE_OK(ran);
  CHECK(status.checkpoint == 3000);
  CHECK(status.failures > 0);  // it noticed Kafka was gone
  const std::vector<Received> messages = ReadTopic(file.topic, 3000, true, bootstrap);
  CheckDelivery(messages, 3000, /*exactly_once=*/false);
}

}  // namespace

namespace {

TEST_CASE("publish = newest: events go out as their newest version, with the stored id and position", "[relay]") {
  cairn_test::TempDir dir;
  auto store = OpenStore(dir.File("store.db"));
  BridgeFile file = OnNewTopic("acme.test.newest", 1);
  file.extra = "publish = \"newest\"\nupcasters = \"" CAIRN_EXAMPLE_UPCASTERS "\"\n";
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(),
                                 {{.type = "order.placed.v1", .data = R"({"customer":"c-7","amount":12,"legacy":true})"},
                                  {.type = "order.placed.v3", .data = R"({"buyer":{"id":"c-8"},"total":5,"currency":"USD"})"},
                                  {.type = "order.paid.v1", .data = R"({"amount":12})"}}));
  auto relay = cairn::Relay::Open(*store, file.Parse(), QuietOptions());
  CAIRN_REQUIRE_OK(relay);
  CAIRN_REQUIRE_OK((*relay)->RunToHead());
  const std::vector<Received> messages = ReadTopic(file.topic, 3);
  REQUIRE(messages.size() == 3);
  std::vector<cairn::Envelope> envelopes;
  for (const Received& message : messages) {
    auto envelope = cairn::ParseEnvelopeJson(message.value);
    CAIRN_REQUIRE_OK(envelope);
    CHECK(Header(message, "event_type") == envelope->event_type);
    envelopes.push_back(*envelope);
  }
  std::vector<cairn::RecordedEvent> stored;
  CAIRN_REQUIRE_OK(store->ReadLog({}, [&](const cairn::EventView& event) {
    stored.push_back(event.ToOwned());
    return true;
  }));
  REQUIRE(stored.size() == 3);
  // v1 upcast to v3: renamed, added, moved, dropped; the id and place are the stored event's.
  CHECK(envelopes[0].event_type == "order.placed.v3");
  CHECK(envelopes[0].schema_version == 3);
  CHECK(envelopes[0].data == R"({"total":12,"currency":"EUR","buyer":{"id":"c-7"}})");
  CHECK(envelopes[0].event_id == stored[0].id);
  CHECK(envelopes[0].position == 1);
  CHECK(envelopes[0].revision == 0);
  // Already the newest, or a type without upcasters: as stored.
  CHECK(envelopes[1].event_type == "order.placed.v3");
  CHECK(envelopes[1].data == stored[1].data);
  CHECK(envelopes[2].event_type == "order.paid.v1");
  CHECK(envelopes[2].data == stored[2].data);
}

}  // namespace
