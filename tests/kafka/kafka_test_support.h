// tests/kafka/kafka_test_support.h — helpers for tests that run against the real Kafka broker
// of the `kafka_broker` CTest fixture (tests/kafka/CMakeLists.txt, docs/kafka-tests.md).
//
//   const std::string bootstrap = kafka_test::BootstrapServers();   // FAILs (never skips) without a broker
//   const std::string topic = kafka_test::UniqueName("orders");
//   auto admin = kafka_test::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
//   kafka_test::CreateTopic(admin.get(), topic, 3);
//
// The fixture writes the broker's address to the file named by CAIRN_KAFKA_BOOTSTRAP_FILE
// (<build>/kafka-broker/bootstrap); the broker's logs are in logs/ beside it. A failed test
// case prints the tail of the broker's server.log after Catch's report.
#pragma once

// librdkafka's type-checking macros are GNU statement expressions, which -Wpedantic rejects in C++.
#define LIBRDKAFKA_TYPECHECKS 0
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kafka_test {

// The fixture's broker, as librdkafka's bootstrap.servers ("127.0.0.1:PORT").
std::string BootstrapServers();

// The last `lines` lines of the fixture broker's server.log, or why there are none.
std::string BrokerLogTail(int lines);

// A topic, group or transactional id that no other test, process or earlier run uses.
std::string UniqueName(std::string_view prefix);

struct KafkaDestroy {
  void operator()(rd_kafka_t* rk) const;
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDestroy>;

struct MessageDestroy {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDestroy>;

using Config = std::initializer_list<std::pair<const char*, std::string>>;

// A producer or consumer with these properties; FAILs the test if one is refused. A producer
// may pass a delivery-report callback and its opaque.
KafkaPtr NewClient(rd_kafka_type_t type, Config config,
                   void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*) = nullptr,
                   void* opaque = nullptr);

// Creates a topic (replication factor 1) through librdkafka's admin API and waits until the
// broker has it; FAILs the test if it cannot.
void CreateTopic(rd_kafka_t* client, const std::string& topic, int partitions, Config topic_config = {});

// REQUIREs that a librdkafka call returning an rd_kafka_error_t* succeeded (and frees the error).
void RequireOk(rd_kafka_error_t* error, std::string_view what);

struct Received {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;  // in order
  int32_t partition = 0;
  int64_t offset = 0;
};

// Polls `consumer` until `done(received)` is true or `timeout` passes; FAILs on a consumer error
// other than a partition EOF. Returns what it received, in the order it came.
std::vector<Received> ConsumeUntil(rd_kafka_t* consumer, const std::function<bool(const std::vector<Received>&)>& done,
                                   std::chrono::milliseconds timeout);

}  // namespace kafka_test
