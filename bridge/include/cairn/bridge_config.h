// cairn/bridge_config.h — what a Kafka bridge publishes where: its routing file.
//
// A bridge file (TOML subset, docs/bridge.md "The bridge file") names the
// bridge and its source service, the envelope format and delivery mode, the
// routes from events to topics, what to do with an event no route matches and
// with a poison event, the topic naming convention every topic is checked
// against, librdkafka properties, and the retry backoff.
//
//   auto config = cairn::LoadBridgeConfig("bridge/orders.toml");
//   if (!config) {  // kInvalidArgument "bridge/orders.toml:12: route.orders.topic ...", kNotFound, kIOError
//     std::cerr << config.error().message() << "\n";
//     return 1;
//   }
//   auto topic = config->Route(event);     // kNotFound: no route matches and on_unroutable = "error"
//
// A BridgeConfig is a plain value: copy it freely; its const methods are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/envelope.h"
#include "cairn/event.h"
#include "cairn/status.h"

namespace cairn {

class Upcasters;  // cairn/upcast.h

// How the relay delivers (docs/bridge.md).
enum class DeliveryMode : std::uint8_t {
  kIdempotent,   // "idempotent": idempotent producer, ordered, checkpoint advanced past delivered events only
  kExactlyOnce,  // "exactly-once": Kafka transactions, the relay's checkpoint committed in the same transaction
};

// Which version of an event is published.
enum class PublishVersion : std::uint8_t {
  kStored,  // "stored": as it was appended
  kNewest,  // "newest": as its upcasters turn it into its type's newest version (cairn/upcast.h)
};

// What happens to an event no route matches.
enum class OnUnroutable : std::uint8_t {
  kError,    // "error": Route fails with kNotFound naming the event; the relay reports it, never skips it
  kDefault,  // "default": published to BridgeConfig::default_topic
};

// What happens to a poison event (one Kafka refuses for good, e.g. too large, or one without a valid envelope).
enum class OnPoison : std::uint8_t {
  kStop,        // "stop": the relay stops at that event; nothing after it is published
  kDeadLetter,  // "dlq": published with its error to BridgeConfig::DlqTopic(topic), and the relay goes on
};

// The rule topic names must follow.
//
// The default ("dotted") is the standards' form: lower-case segments of
// [a-z0-9-] separated by dots — no underscores, no upper case, no empty
// segment — and at least 2 segments. Not exactly 4: the platform standards show
// both <project>.<env>.<domain>.<entity> topics and domain.entity.event.v1 ones.
//
// A pattern such as "<project>.<env>.<domain>.<entity>" asks for exactly that
// many segments: each "<name>" segment is any segment of [a-z0-9-], any other
// segment is literal text the topic must have there ("acme.<env>.<domain>.<entity>").
//
// Every topic is at most 249 characters (Kafka's limit).
class TopicConvention {
 public:
  // The default, "dotted".
  TopicConvention() = default;
  // "dotted", or a pattern of "<name>" and literal segments. kInvalidArgument
  // when the pattern is neither.
  static Result<TopicConvention> Parse(std::string_view text);

  // kInvalidArgument explaining what `topic` breaks, e.g.
  // "topic \"orders_v1\": '_' is not allowed (lower-case a-z, 0-9, '-' and '.' only)".
  Status Check(std::string_view topic) const;

  // "dotted" or the pattern, as written.
  const std::string& text() const { return text_; }

 private:
  std::string text_ = "dotted";
  // Empty for "dotted"; otherwise one entry per segment: "" for a "<name>"
  // placeholder, else the literal the segment must equal.
  std::vector<std::string> segments_;
};

// One [route.NAME] table. An event matches when it matches every condition
// given (at least one is): its stream's category equals `category`, and its
// type matches `event_type`, a pattern of dot-separated segments in which a
// "*" segment stands for exactly one segment of any content ("order.*.v1"
// matches "order.placed.v1", not "order.placed" nor "order.placed.late.v1").
struct RouteRule {
  std::string name;        // NAME of its [route.NAME] table
  std::string category;    // empty: any category
  std::string event_type;  // empty: any type
  std::string topic;
  int line = 0;  // its table's line in the file, for messages

  bool Matches(const EventView& event) const;
};

// The retry backoff of a relay facing a transient failure (Kafka down, a
// broker leaving): wait initial_backoff, then double each time up to
// max_backoff, each wait moved randomly by up to ±jitter_percent of it.
// Retries never end on their own: nothing is skipped while Kafka is away.
struct RetryBackoff {
  std::chrono::milliseconds initial_backoff{100};  // Default: 100 ms
  std::chrono::milliseconds max_backoff{30'000};   // Default: 30 s
  std::uint32_t jitter_percent = 20;               // Default: 20 (0 to 100)
};

struct BridgeConfig {
  // 1-128 characters of [a-z0-9.-]: identifies the bridge, for the relay to key
  // its checkpoint (and, in exactly-once mode, its Kafka transactional.id) on.
  std::string name;
  // The envelopes' source_service.
  std::string source_service;
  EnvelopeFormat format = EnvelopeFormat::kJson;  // Default: JSON
  DeliveryMode mode = DeliveryMode::kIdempotent;  // Default: idempotent
  // In file order: the first rule that matches an event decides its topic.
  std::vector<RouteRule> routes;
  OnUnroutable on_unroutable = OnUnroutable::kError;  // Default: error
  std::string default_topic;                          // set exactly when on_unroutable is kDefault
  OnPoison on_poison = OnPoison::kStop;               // Default: stop
  // The dead-letter topic of a topic: "<topic>" stands for the topic's name;
  // without "<topic>" it is one topic for all. Default: the standards' "<topic>.dlq.v1".
  std::string dlq_topic = "<topic>.dlq.v1";
  TopicConvention topic_convention;
  // Exactly-once mode only: the one-partition topic on whose partition 0 the
  // relay commits its checkpoint, in each Kafka transaction, as the offset of
  // the consumer group "cairn-bridge.<name>". Empty: CheckpointTopic()'s default.
  // Any legal Kafka name (it is cairn's, not an event topic: no convention applies).
  std::string checkpoint_topic;
  // "newest": every event is routed, enveloped and published as the newest
  // version `upcasters` make of it (type, data, metadata, schema_version);
  // its id, stream, revision and position stay the stored event's. An event an
  // upcaster fails on is poison. Default: as stored.
  PublishVersion publish = PublishVersion::kStored;
  // Set exactly when publish is kNewest: the file `upcasters = "FILE"` names
  // (relative to the bridge file).
  std::shared_ptr<const Upcasters> upcasters;
  // librdkafka properties, passed to the producer as they are, in file order
  // (except enable.idempotence and transactional.id, which the bridge sets from `mode` and `name`).
  std::vector<std::pair<std::string, std::string>> kafka;
  RetryBackoff retry;

  // The topic of `event`: the first matching route's, else default_topic when
  // on_unroutable is kDefault. kNotFound naming the event when no route
  // matches and on_unroutable is kError.
  Result<std::string> Route(const EventView& event) const;
  // As Route, without a copy: the topic inside this configuration, or nullptr
  // where Route fails. Valid while the configuration is.
  const std::string* FindTopic(const EventView& event) const;
  // The dead-letter topic of `topic` (dlq_topic with "<topic>" replaced).
  std::string DlqTopic(std::string_view topic) const;
  // checkpoint_topic, or "cairn.bridge.<name>.checkpoint" when it is empty.
  std::string CheckpointTopic() const;
  // Every topic this configuration can publish to, each once, in file order:
  // the routes' topics, the default topic, then their dead-letter topics when
  // on_poison is kDeadLetter (what an operator creates in advance).
  std::vector<std::string> Topics() const;
};

// Parses a bridge file's text. Errors are kInvalidArgument "FILE:LINE: message"
// with FILE = `file_name` (used only in messages); every topic — routes',
// default and dead-letter — is checked against the convention here.
Result<BridgeConfig> ParseBridgeConfig(std::string_view text, std::string_view file_name);
// Reads and parses the file at `path`: kNotFound when it does not exist,
// kIOError when it cannot be read, else as ParseBridgeConfig.
Result<BridgeConfig> LoadBridgeConfig(const std::string& path);

}  // namespace cairn
