#include "kafka_client.h"

#include <algorithm>

namespace cairn::detail {

Result<KafkaConf> MakeKafkaConf(const KafkaProperties& properties) {
  KafkaConf conf(rd_kafka_conf_new());
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      return Fail(ErrorCode::kInvalidArgument, "Kafka property " + name + " = \"" + value + "\": " + error);
    }
  }
  return conf;
}

std::string_view FindProperty(const KafkaProperties& properties, std::string_view name) {
  std::string_view found;
  for (const auto& [key, value] : properties) {
    if (key == name) found = value;
  }
  return found;
}

std::string KafkaErrorText(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
}

std::string KafkaErrorText(const rd_kafka_error_t* error) {
  return std::string(rd_kafka_error_name(error)) + ": " + rd_kafka_error_string(error);
}

Result<std::vector<std::string>> MissingTopics(rd_kafka_t* client, const std::vector<std::string>& topics,
                                               std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(client, /*all_topics=*/1, nullptr, &metadata,
                                              static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Fail(ErrorCode::kIOError, "asking Kafka for its topics: " + KafkaErrorText(err));
  }
  std::vector<std::string> missing;
  for (const std::string& topic : topics) {
    bool found = false;
    for (int i = 0; i < metadata->topic_cnt && !found; ++i) {
      found = metadata->topics[i].topic == topic && metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    if (!found) missing.push_back(topic);
  }
  rd_kafka_metadata_destroy(metadata);
  return missing;
}

Status CreateTopic(rd_kafka_t* client, const std::string& topic, int partitions, const KafkaProperties& config,
                   std::chrono::milliseconds timeout) {
  char error[512];
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, error, sizeof error);
  if (new_topic == nullptr) return Fail(ErrorCode::kInvalidArgument, "topic " + topic + ": " + error);
  for (const auto& [name, value] : config) {
    if (rd_kafka_NewTopic_set_config(new_topic, name.c_str(), value.c_str()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_NewTopic_destroy(new_topic);
      return Fail(ErrorCode::kInvalidArgument, "topic " + topic + ": bad setting " + name);
    }
  }
  auto result = RunAdminRequest(client, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout,
                                [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
                                  char ignored[256];
                                  // The broker answers once the topic exists, not just once it is accepted.
                                  rd_kafka_AdminOptions_set_operation_timeout(
                                      options, static_cast<int>(timeout.count()), ignored, sizeof ignored);
                                  rd_kafka_CreateTopics(client, &new_topic, 1, options, queue);
                                });
  rd_kafka_NewTopic_destroy(new_topic);
  if (!result) return Fail(ErrorCode::kIOError, "creating topic " + topic + ": " + result.error().message());
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(result->get()), &count);
  if (count != 1) {
    return Fail(ErrorCode::kIOError, "creating topic " + topic + ": Kafka answered for " + std::to_string(count) +
                                         " topics");
  }
  const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[0]);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    const char* text = rd_kafka_topic_result_error_string(results[0]);
    return Fail(ErrorCode::kIOError, "creating topic " + topic + ": " + rd_kafka_err2name(err) + ": " +
                                         (text != nullptr ? text : ""));
  }
  return {};
}

Result<KafkaEvent> RunAdminRequest(rd_kafka_t* client, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout,
                                   const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& issue) {
  const int timeout_ms = static_cast<int>(timeout.count());
  char ignored[256];
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(client, op);
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, ignored, sizeof ignored);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(client);
  issue(options, queue);
  KafkaEvent event(rd_kafka_queue_poll(queue, timeout_ms + 5000));
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  if (!event) return Fail(ErrorCode::kIOError, "no answer from Kafka");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Fail(ErrorCode::kIOError, rd_kafka_event_error_string(event.get()));
  }
  return event;
}

}  // namespace cairn::detail
