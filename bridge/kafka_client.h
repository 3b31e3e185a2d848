// Internal: RAII for librdkafka's C handles and the bits of its API the relay
// and its tools share (building a configuration, checking topics, creating one).
#pragma once

// librdkafka's type-checking macros are GNU statement expressions, which -Wpedantic rejects in C++.
#define LIBRDKAFKA_TYPECHECKS 0
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"

namespace cairn::detail {

struct KafkaDestroy {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDestroy>;

struct KafkaConfDestroy {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, KafkaConfDestroy>;

struct KafkaErrorDestroy {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
using KafkaError = std::unique_ptr<rd_kafka_error_t, KafkaErrorDestroy>;

struct KafkaHeadersDestroy {
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
using KafkaHeaders = std::unique_ptr<rd_kafka_headers_t, KafkaHeadersDestroy>;

struct KafkaEventDestroy {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
using KafkaEvent = std::unique_ptr<rd_kafka_event_t, KafkaEventDestroy>;

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

// Runs one admin request of kind `op`: `issue(options, queue)` sends it (it may
// set more options first), then its result event is awaited up to `timeout`
// (the request's own timeout, plus 5 s). kIOError "no answer from Kafka", or
// the error Kafka gave for the whole request.
Result<KafkaEvent> RunAdminRequest(rd_kafka_t* client, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout,
                                   const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& issue);

// A configuration with `properties` set in order; kInvalidArgument naming the
// property librdkafka refuses (an unknown name, a bad value).
Result<KafkaConf> MakeKafkaConf(const KafkaProperties& properties);

// The value of `name` in `properties` (the last one given), or empty.
std::string_view FindProperty(const KafkaProperties& properties, std::string_view name);

// "NAME: description" of a librdkafka error.
std::string KafkaErrorText(rd_kafka_resp_err_t err);
std::string KafkaErrorText(const rd_kafka_error_t* error);

// Which of `topics` the cluster does not have. kIOError when the cluster does
// not answer within `timeout` (Kafka unreachable: the caller retries).
Result<std::vector<std::string>> MissingTopics(rd_kafka_t* client, const std::vector<std::string>& topics,
                                               std::chrono::milliseconds timeout);

// Creates `topic` (replication factor: the broker's default) with `config`;
// one that already exists is not an error.
Status CreateTopic(rd_kafka_t* client, const std::string& topic, int partitions, const KafkaProperties& config,
                   std::chrono::milliseconds timeout);

}  // namespace cairn::detail
