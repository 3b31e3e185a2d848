// cairn/kafka_source.h — Kafka topics of envelopes as a source for projections.
//
// The relay publishes every committed event as an envelope (cairn/envelope.h):
// key = stream, value = its JSON or Cap'n Proto form, told apart by the
// content-type header. KafkaSource consumes such topics and hands each message
// to cairn::ProjectionRunner as the EventView it came from, so C++ and SQL
// projections run unchanged:
//
//   auto source = cairn::KafkaSource({.topics = {"acme.prod.orders.order"},
//                                     .group_id = "orders-read-model",
//                                     .kafka = {{"bootstrap.servers", "kafka-1:9092"}}});
//   if (!source) return fail(source.error());           // kInvalidArgument naming the bad option
//   auto runner = cairn::ProjectionRunner::Open(std::move(*source), "read-model.db");
//   (*runner)->Add(std::move(totals));
//   (*runner)->Start();
//
// Exactly once: Kafka's committed offsets are never used. The next offset of
// every partition is written in the read model's table cairn_source_offsets
// in the same transaction as the batch's effects, and a partition assigned to
// the consumer is sought to the offset found there (its beginning when none).
// Several processes running the same projections with the same group id split
// the partitions between them. docs/projections.md ("Projections fed from
// Kafka") describes the guarantees, rebalances, rebuilds and what is not supported.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cairn/projection.h"
#include "cairn/status.h"

namespace cairn {

// Which messages of transactional producers a consumer sees (librdkafka's isolation.level).
enum class KafkaIsolation : std::uint8_t {
  kReadCommitted,    // only committed transactions' messages (what a relay in exactly-once mode needs)
  kReadUncommitted,  // every message, aborted transactions' too
};

struct KafkaSourceOptions {
  // The envelope topics to consume. At least one; each must exist (the
  // source does not create topics). Events of one stream must all be on one
  // topic: their order is kept per partition only.
  std::vector<std::string> topics;
  // Names the consumer groups: each projection consumes in its own group,
  // "<group_id>.<projection>", so that every projection of a runner gets every
  // partition, and runners in several processes with the same group_id split
  // each projection's partitions between them. Required.
  std::string group_id;
  // librdkafka consumer properties, passed as they are, in order:
  // bootstrap.servers (required), security settings, session.timeout.ms, …
  // The source sets these itself and refuses them here (kInvalidArgument):
  // group.id, enable.auto.commit (false), enable.auto.offset.store (false),
  // enable.partition.eof (true), isolation.level (from `isolation`).
  std::vector<std::pair<std::string, std::string>> kafka;
  KafkaIsolation isolation = KafkaIsolation::kReadCommitted;  // Default: read_committed
};

// A source reading the options' topics. Checks the options (kInvalidArgument
// naming what is wrong: no topic, no group id, no bootstrap.servers, a property
// librdkafka refuses or one the source sets itself); nothing connects until a
// projection subscribes. Thread-safe as EventSource requires.
//
// How it differs from the store as a source:
//  - Subscribe and SubscribeMatching: kNotSupported; its subscriptions need a
//    read model to keep their offsets in (the runner calls SubscribeModel).
//  - A subscription starts from the offsets of the model it feeds, not from a
//    position; a shadow (rebuild) has none, so a rebuild reads the topics from
//    their beginning: their retention must still hold every event.
//  - ReadEvent: kNotSupported (Kafka cannot find an event by its position), so
//    ProjectionRunner::RetryParked fails for a Kafka-fed projection.
//  - HeadPosition: the highest cairn-position this source has seen in a
//    message (0 before the first), a lower bound of the store's head.
//  - A message that is not an envelope (no value, an unknown content-type, a
//    value that does not parse) is handled by the projection's on_failure:
//    kStop fails the projection with an error naming the topic, partition and
//    offset (the batch is rolled back; the next run stops there again); kPark
//    records it in cairn_parked (position from its cairn-position header, 0
//    without one; stream = its key) and goes on.
Result<std::unique_ptr<EventSource>> KafkaSource(KafkaSourceOptions options);

}  // namespace cairn
