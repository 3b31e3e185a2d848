#include "kafka_test_support.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

namespace kafka_test {
namespace {

constexpr const char* kBootstrapFileVariable = "CAIRN_KAFKA_BOOTSTRAP_FILE";

std::filesystem::path BootstrapFile() {
  const char* file = std::getenv(kBootstrapFileVariable);
  return file == nullptr ? std::filesystem::path{} : std::filesystem::path{file};
}

// After a failed test case, the broker's side of the story.
class BrokerLogOnFailure : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    if (stats.totals.assertions.failed == 0) return;
    std::cerr << "---- the Kafka broker's log after the failed test case \"" << stats.testInfo.name << "\":\n"
              << BrokerLogTail(40) << std::flush;
  }
};
CATCH_REGISTER_LISTENER(BrokerLogOnFailure)

}  // namespace

std::string BootstrapServers() {
  const std::filesystem::path file = BootstrapFile();
  if (file.empty()) {
    FAIL(kBootstrapFileVariable << " is not set: run the Kafka tests through CTest (ctest -L kafka), whose "
                                   "kafka_broker fixture starts the broker (docs/kafka-tests.md)");
  }
  std::ifstream in(file);
  std::string address;
  if (!(in >> address) || address.empty()) {
    FAIL("no Kafka broker: " << file.string()
                             << " is missing or empty, so the kafka_broker fixture (kafka.broker_start) did not "
                                "start one or it has stopped; see its output and "
                             << (file.parent_path() / "logs").string());
  }
  return address;
}

std::string BrokerLogTail(int lines) {
  const std::filesystem::path file = BootstrapFile();
  if (file.empty()) return "(no broker: CAIRN_KAFKA_BOOTSTRAP_FILE is not set)\n";
  const std::filesystem::path log = file.parent_path() / "logs" / "server.log";
  std::ifstream in(log);
  if (!in) return "(no broker log at " + log.string() + ")\n";
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(std::move(line));
    if (tail.size() > static_cast<size_t>(lines)) tail.pop_front();
  }
  std::string text;
  for (const std::string& line : tail) text += line + '\n';
  return text + "---- (all of it: " + log.string() + ")\n";
}

std::string UniqueName(std::string_view prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  return std::string(prefix) + '-' + std::to_string(::getpid()) + '-' + std::to_string(salt % 100000) + '-' +
         std::to_string(counter.fetch_add(1));
}

void KafkaDestroy::operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }

KafkaPtr NewClient(rd_kafka_type_t type, Config config,
                   void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*), void* opaque) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [name, value] : config) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      FAIL("librdkafka refused " << name << '=' << value << ": " << error);
    }
  }
  if (on_delivery != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  if (opaque != nullptr) rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t* rk = rd_kafka_new(type, conf, error, sizeof error);  // takes conf on success
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    FAIL("rd_kafka_new: " << error);
  }
  return KafkaPtr{rk};
}

void RequireOk(rd_kafka_error_t* error, std::string_view what) {
  if (error == nullptr) return;
  const std::string message =
      std::string(what) + ": " + rd_kafka_error_name(error) + ": " + rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  FAIL(message);
}

void CreateTopic(rd_kafka_t* client, const std::string& topic, int partitions, Config topic_config) {
  char error[512];
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error, sizeof error);
  REQUIRE(new_topic != nullptr);
  for (const auto& [name, value] : topic_config) {
    REQUIRE(rd_kafka_NewTopic_set_config(new_topic, name, value.c_str()) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  // The broker answers once the topic exists on the controller, not just once it is accepted.
  rd_kafka_AdminOptions_set_operation_timeout(options, 30000, error, sizeof error);
  rd_kafka_AdminOptions_set_request_timeout(options, 30000, error, sizeof error);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(client);
  rd_kafka_CreateTopics(client, &new_topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 45000);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(new_topic);
  rd_kafka_queue_destroy(queue);

  std::string failure;
  if (event == nullptr) {
    failure = "no answer within 45 s";
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failure = rd_kafka_event_error_string(event);
  } else {
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    size_t count = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
    if (count != 1) {
      failure = "the broker answered for " + std::to_string(count) + " topics";
    } else if (rd_kafka_topic_result_error(topics[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = std::string(rd_kafka_err2name(rd_kafka_topic_result_error(topics[0]))) + ": " +
                (rd_kafka_topic_result_error_string(topics[0]) ? rd_kafka_topic_result_error_string(topics[0]) : "");
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  if (!failure.empty()) FAIL("creating topic " << topic << " (" << partitions << " partitions): " << failure);
}

std::vector<Received> ConsumeUntil(rd_kafka_t* consumer, const std::function<bool(const std::vector<Received>&)>& done,
                                   std::chrono::milliseconds timeout) {
  std::vector<Received> received;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done(received) && std::chrono::steady_clock::now() < deadline) {
    MessagePtr message{rd_kafka_consumer_poll(consumer, 200)};
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      FAIL("consumer error " << rd_kafka_err2name(message->err) << ": " << rd_kafka_message_errstr(message.get()));
    }
    Received r;
    if (message->key != nullptr) r.key.assign(static_cast<const char*>(message->key), message->key_len);
    if (message->payload != nullptr) r.value.assign(static_cast<const char*>(message->payload), message->len);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
        r.headers.emplace_back(name, value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size));
      }
    }
    r.partition = message->partition;
    r.offset = message->offset;
    received.push_back(std::move(r));
  }
  return received;
}

}  // namespace kafka_test
