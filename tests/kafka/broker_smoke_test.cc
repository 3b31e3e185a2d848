// The test broker works for what the Kafka bridge will need of it, through librdkafka's C API:
// creating topics, an idempotent producer, a consumer group, and transactions that a
// read_committed consumer sees only once committed.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "kafka_test_support.h"

namespace {

using namespace std::chrono_literals;
using kafka_test::Received;

struct Deliveries {
  int delivered = 0;
  std::vector<std::string> errors;
};

// librdkafka calls it from rd_kafka_poll and rd_kafka_flush, on the test's own thread.
void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* deliveries = static_cast<Deliveries*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++deliveries->delivered;
  } else {
    deliveries->errors.push_back(rd_kafka_err2str(message->err));
  }
}

void Produce(rd_kafka_t* producer, const std::string& topic, const std::string& key, const std::string& value) {
  for (;;) {
    const rd_kafka_resp_err_t err =
        rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(key.data(), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer, 100);
      continue;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) FAIL("producing to " << topic << ": " << rd_kafka_err2str(err));
    return;
  }
}

std::vector<std::string> Values(const std::vector<Received>& received) {
  std::vector<std::string> values;
  for (const Received& r : received) values.push_back(r.value);
  return values;
}

bool Contains(const std::vector<Received>& received, const std::string& value) {
  for (const Received& r : received) {
    if (r.value == value) return true;
  }
  return false;
}

TEST_CASE("an idempotent producer's keyed messages come back to a consumer group, in order per key") {
  const std::string bootstrap = kafka_test::BootstrapServers();
  const std::string topic = kafka_test::UniqueName("cairn-smoke");
  constexpr int kMessages = 100;
  constexpr int kKeys = 7;
  {
    auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
    kafka_test::CreateTopic(admin.get(), topic, 3);
  }

  Deliveries deliveries;
  {
    auto producer = kafka_test::NewClient(RD_KAFKA_PRODUCER,
                                          {{"bootstrap.servers", bootstrap},
                                           {"enable.idempotence", "true"},
                                           {"linger.ms", "5"},
                                           {"message.timeout.ms", "30000"}},
                                          OnDelivery, &deliveries);
    std::map<std::string, int> next_sequence;
    for (int i = 0; i < kMessages; ++i) {
      const std::string key = "key-" + std::to_string(i % kKeys);
      Produce(producer.get(), topic, key, key + "#" + std::to_string(next_sequence[key]++));
      rd_kafka_poll(producer.get(), 0);
    }
    REQUIRE(rd_kafka_flush(producer.get(), 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    // The idempotent producer did not fall back to a plain one, nor fail fatally.
    char reason[256];
    CHECK(rd_kafka_fatal_error(producer.get(), reason, sizeof reason) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  CHECK(deliveries.errors.empty());
  REQUIRE(deliveries.delivered == kMessages);

  auto consumer = kafka_test::NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                            {"group.id", kafka_test::UniqueName("cairn-smoke-group")},
                                                            {"auto.offset.reset", "earliest"},
                                                            {"enable.auto.commit", "false"}});
  rd_kafka_poll_set_consumer(consumer.get());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t subscribed = rd_kafka_subscribe(consumer.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  REQUIRE(subscribed == RD_KAFKA_RESP_ERR_NO_ERROR);

  std::vector<Received> received = kafka_test::ConsumeUntil(
      consumer.get(), [&](const std::vector<Received>& so_far) { return so_far.size() >= kMessages; }, 60s);
  // Anything more (a duplicate) would come right behind.
  const std::vector<Received> more = kafka_test::ConsumeUntil(
      consumer.get(), [](const std::vector<Received>& so_far) { return !so_far.empty(); }, 1s);
  received.insert(received.end(), more.begin(), more.end());
  REQUIRE(rd_kafka_consumer_close(consumer.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);  // leaves the group
  REQUIRE(received.size() == kMessages);

  std::map<std::string, std::vector<Received>> by_key;
  for (const Received& r : received) by_key[r.key].push_back(r);
  REQUIRE(by_key.size() == kKeys);
  for (const auto& [key, messages] : by_key) {
    INFO("key " << key);
    for (size_t sequence = 0; sequence < messages.size(); ++sequence) {
      CHECK(messages[sequence].value == key + "#" + std::to_string(sequence));
      CHECK(messages[sequence].partition == messages.front().partition);  // a key stays on its partition
    }
    CHECK(messages.size() == kMessages / kKeys + (std::stoi(key.substr(4)) < kMessages % kKeys ? 1 : 0));
  }
}

TEST_CASE("a committed transaction is visible to a read_committed consumer, an aborted one is not") {
  const std::string bootstrap = kafka_test::BootstrapServers();
  const std::string topic = kafka_test::UniqueName("cairn-smoke-tx");
  {
    auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
    kafka_test::CreateTopic(admin.get(), topic, 1);
  }

  Deliveries deliveries;
  {
    auto producer = kafka_test::NewClient(
        RD_KAFKA_PRODUCER,
        {{"bootstrap.servers", bootstrap}, {"transactional.id", kafka_test::UniqueName("cairn-smoke-txid")}},
        OnDelivery, &deliveries);
    rd_kafka_t* p = producer.get();
    kafka_test::RequireOk(rd_kafka_init_transactions(p, 30000), "init_transactions");

    kafka_test::RequireOk(rd_kafka_begin_transaction(p), "begin_transaction");
    for (int i = 0; i < 5; ++i) Produce(p, topic, "k", "committed-" + std::to_string(i));
    kafka_test::RequireOk(rd_kafka_commit_transaction(p, 30000), "commit_transaction");

    kafka_test::RequireOk(rd_kafka_begin_transaction(p), "begin_transaction");
    for (int i = 0; i < 5; ++i) Produce(p, topic, "k", "aborted-" + std::to_string(i));
    // Written to the partition before the abort, so that only the abort marker hides them.
    REQUIRE(rd_kafka_flush(p, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(deliveries.delivered == 10);
    kafka_test::RequireOk(rd_kafka_abort_transaction(p, 30000), "abort_transaction");

    kafka_test::RequireOk(rd_kafka_begin_transaction(p), "begin_transaction");
    Produce(p, topic, "k", "last");
    kafka_test::RequireOk(rd_kafka_commit_transaction(p, 30000), "commit_transaction");
  }
  CHECK(deliveries.errors.empty());

  auto read_all = [&](const char* isolation) {
    auto consumer = kafka_test::NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                              {"group.id", kafka_test::UniqueName("cairn-smoke-tx")},
                                                              {"isolation.level", isolation},
                                                              {"enable.auto.commit", "false"}});
    rd_kafka_topic_partition_list_t* partitions = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(partitions, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    const rd_kafka_resp_err_t assigned = rd_kafka_assign(consumer.get(), partitions);
    rd_kafka_topic_partition_list_destroy(partitions);
    REQUIRE(assigned == RD_KAFKA_RESP_ERR_NO_ERROR);
    std::vector<Received> received = kafka_test::ConsumeUntil(
        consumer.get(), [](const std::vector<Received>& so_far) { return Contains(so_far, "last"); }, 60s);
    REQUIRE(rd_kafka_consumer_close(consumer.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);
    return Values(received);
  };

  CHECK(read_all("read_committed") ==
        std::vector<std::string>{"committed-0", "committed-1", "committed-2", "committed-3", "committed-4", "last"});
  // The aborted messages are in the log: a read_uncommitted consumer sees them.
  CHECK(read_all("read_uncommitted") == std::vector<std::string>{"committed-0", "committed-1", "committed-2",
                                                                 "committed-3", "committed-4", "aborted-0", "aborted-1",
                                                                 "aborted-2", "aborted-3", "aborted-4", "last"});
}

}  // namespace
