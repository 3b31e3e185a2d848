// The Kafka source for projections (cairn/kafka_source.h): one consumer per
// subscription, partitions sought to the offsets the read model holds, the
// next offsets written in each batch's transaction (SourceProgress).
// docs/projections.md, "Projections fed from Kafka", explains why this gives
// exactly-once effects across crashes and rebalances.
#include "cairn/kafka_source.h"

// librdkafka's type-checking macros are GNU statement expressions, which -Wpedantic rejects in C++.
#define LIBRDKAFKA_TYPECHECKS 0
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "cairn/envelope.h"
#include "read_model.h"

namespace cairn {
namespace {

using namespace projection_detail;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Poll waits in slices of this at most, so that Stop() is noticed soon.
constexpr milliseconds kPollSlice{100};

// Properties the source sets itself (its exactly-once scheme depends on them).
constexpr std::string_view kReservedProperties[] = {"group.id", "enable.auto.commit", "enable.auto.offset.store",
                                                    "enable.partition.eof", "isolation.level"};

struct ConfDestroy {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDestroy>;

// Closing leaves the group (its revoke comes through the rebalance callback) before the handle goes.
struct ConsumerDestroy {
  void operator()(rd_kafka_t* rk) const noexcept {
    (void)rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
using ConsumerPtr = std::unique_ptr<rd_kafka_t, ConsumerDestroy>;

struct MessageDestroy {
  void operator()(rd_kafka_message_t* message) const noexcept { rd_kafka_message_destroy(message); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDestroy>;

struct PartitionListDestroy {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept { rd_kafka_topic_partition_list_destroy(list); }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDestroy>;

struct ErrorDestroy {
  void operator()(rd_kafka_error_t* error) const noexcept { rd_kafka_error_destroy(error); }
};
using KafkaErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDestroy>;

// The consumer configuration of `options` for `group`; kInvalidArgument naming a refused property.
Result<ConfPtr> MakeConf(const KafkaSourceOptions& options, const std::string& group) {
  ConfPtr conf(rd_kafka_conf_new());
  char errstr[512];
  auto set = [&](const std::string& key, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      return Fail(ErrorCode::kInvalidArgument, "Kafka property " + key + "=" + value + ": " + errstr);
    }
    return {};
  };
  for (const auto& [key, value] : options.kafka) {
    if (std::find(std::begin(kReservedProperties), std::end(kReservedProperties), key) != std::end(kReservedProperties)) {
      return Fail(ErrorCode::kInvalidArgument, "Kafka property " + key +
                                                   " is set by the Kafka source itself (offsets are kept in the "
                                                   "read model; the group id is <group_id>.<projection>)");
    }
    if (auto ok = set(key, value); !ok) return Fail(ok.error());
  }
  const std::pair<std::string, std::string> own[] = {
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"isolation.level",
       options.isolation == KafkaIsolation::kReadCommitted ? "read_committed" : "read_uncommitted"},
  };
  for (const auto& [key, value] : own) {
    if (auto ok = set(key, value); !ok) return Fail(ok.error());
  }
  return conf;
}

std::string_view HeaderValue(const rd_kafka_message_t* message, std::string_view name, bool* found) {
  *found = false;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(headers, std::string(name).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return {};
  }
  *found = true;
  return value == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(value), size);
}

// "topic T partition P offset O", for messages.
std::string Where(const rd_kafka_message_t* message) {
  return "topic " + std::string(rd_kafka_topic_name(message->rkt)) + " partition " +
         std::to_string(message->partition) + " offset " + std::to_string(message->offset);
}

// The envelope a message carries, by its content-type header (JSON when it has none,
// as the standards' consumers read a message without headers); kInvalidArgument otherwise.
Result<Envelope> DecodeMessage(const rd_kafka_message_t* message) {
  bool found = false;
  const std::string_view content_type = HeaderValue(message, kHeaderContentType, &found);
  EnvelopeFormat format = EnvelopeFormat::kJson;
  if (found) {
    auto known = EnvelopeFormatOfContentType(content_type);
    if (!known) {
      return Fail(ErrorCode::kInvalidArgument,
                  "content-type \"" + std::string(content_type) + "\" is not an envelope's (" +
                      std::string(kEnvelopeJsonContentType) + " or " + std::string(kEnvelopeCapnpContentType) + ")");
    }
    format = *known;
  }
  if (message->payload == nullptr) return Fail(ErrorCode::kInvalidArgument, "the message has no value");
  const std::string_view value(static_cast<const char*>(message->payload), message->len);
  return format == EnvelopeFormat::kJson ? ParseEnvelopeJson(value) : ParseEnvelopeCapnp(value);
}

class KafkaEventSource;

using PartitionKey = std::pair<std::string, std::int32_t>;  // (topic, partition)

// What a subscription knows of one partition it was assigned.
struct PartitionState {
  bool assigned = false;
  // The next offset as the model holds it (nullopt: no row), what SaveProgress
  // expects to find there: anything else means another runner moved it.
  std::optional<std::int64_t> stored;
  std::int64_t next = 0;  // the next offset to deliver: messages before it were accepted
  bool at_end = false;    // the last thing seen was the partition's end (PARTITION_EOF)
};

// A malformed message parked under OnHandlerFailure::kPark, written by SaveProgress.
struct ParkedMessage {
  std::uint64_t position = 0;
  std::string stream;
  std::string type;
  std::string error;
};

class KafkaSubscription final : public Subscription, public SourceProgress {
 public:
  KafkaSubscription(KafkaEventSource& source, const ModelSubscriptionRequest& request)
      : source_(source),
        projection_(request.projection),
        on_failure_(request.on_failure),
        begin_batch_(request.begin_batch),
        checkpoint_(request.after_position) {}

  ~KafkaSubscription() override {
    closing_ = true;  // the close's revoke must not open a batch nobody commits
    held_.reset();    // every message goes back before its consumer is destroyed
    consumer_.reset();
  }

  Status Connect(const KafkaSourceOptions& options) {
    auto conf = MakeConf(options, options.group_id + "." + projection_);
    if (!conf) return Fail(conf.error());
    rd_kafka_conf_set_rebalance_cb(conf->get(), &KafkaSubscription::OnRebalance);
    rd_kafka_conf_set_opaque(conf->get(), this);
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr, sizeof errstr);
    if (rk == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, "cannot create the Kafka consumer of projection " + projection_ + ": " +
                                                   errstr);
    }
    (void)conf->release();  // rd_kafka_new took it
    consumer_.reset(rk);
    rd_kafka_poll_set_consumer(rk);
    PartitionListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(options.topics.size())));
    for (const std::string& topic : options.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    }
    if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Fail(ErrorCode::kIOError, "projection " + projection_ + ": cannot subscribe to the topics: " +
                                           rd_kafka_err2str(err));
    }
    return {};
  }

  Result<std::size_t> Poll(const EventVisitor& visit, std::size_t max_events, milliseconds timeout) override;

  void Stop() override { stopped_ = true; }

  // The highest store position accepted (at least the model's checkpoint):
  // informative, for the checkpoint row and the lag.
  std::uint64_t checkpoint() const override { return checkpoint_; }

  Status SaveProgress(sqlite3* db) override;

  bool HasUnsavedProgress() const override { return !unsaved_.empty() || !parked_.empty(); }

  bool ReachedHead() const override {
    if (!assigned_ || held_) return false;
    return std::all_of(partitions_.begin(), partitions_.end(),
                       [](const auto& entry) { return !entry.second.assigned || entry.second.at_end; });
  }

 private:
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                          void* opaque) noexcept {
    auto* self = static_cast<KafkaSubscription*>(opaque);
    try {
      self->Rebalance(rk, err, partitions);
    } catch (const std::exception& e) {
      self->Failed(Error(ErrorCode::kIOError, "projection " + self->projection_ + ": rebalance: " + e.what()));
      (void)rd_kafka_assign(rk, nullptr);
    } catch (...) {
      self->Failed(Error(ErrorCode::kIOError, "projection " + self->projection_ + ": rebalance failed"));
      (void)rd_kafka_assign(rk, nullptr);
    }
  }

  void Failed(Error error) {
    if (!error_) error_ = std::move(error);
  }

  bool Cooperative(rd_kafka_t* rk) const { return std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"; }

  // Applies an assignment's change, by the group protocol's rules.
  void Apply(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions, bool assign) {
    if (Cooperative(rk)) {
      KafkaErrorPtr error(assign ? rd_kafka_incremental_assign(rk, partitions)
                                 : rd_kafka_incremental_unassign(rk, partitions));
      if (error) {
        Failed(Error(ErrorCode::kIOError, "projection " + projection_ + ": cannot change the assignment: " +
                                              rd_kafka_error_string(error.get())));
      }
      return;
    }
    const rd_kafka_resp_err_t err = rd_kafka_assign(rk, assign ? partitions : nullptr);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Failed(Error(ErrorCode::kIOError, "projection " + projection_ + ": cannot change the assignment: " +
                                            rd_kafka_err2str(err)));
    }
  }

  void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      Assign(rk, partitions);
      return;
    }
    // Revoked (or lost). Events of these partitions accepted in the open batch
    // stay in it, with their offsets: the batch's transaction must hold the write
    // lock before the partitions go, so that their new owner, which reads the
    // offsets under that lock, sees them committed.
    bool unsaved = false;
    for (int i = 0; i < partitions->cnt; ++i) {
      const PartitionKey key{partitions->elems[i].topic, partitions->elems[i].partition};
      unsaved = unsaved || unsaved_.contains(key);
      partitions_[key].assigned = false;
      if (held_ && PartitionKey{rd_kafka_topic_name(held_->rkt), held_->partition} == key) held_.reset();
    }
    if (unsaved && !closing_) {
      if (auto db = begin_batch_(); !db) Failed(db.error());
    }
    if (!Cooperative(rk) || partitions->cnt == 0) assigned_ = false;
    Apply(rk, partitions, /*assign=*/false);
  }

  // Seeks each assigned partition to the next offset the model holds (its
  // beginning when none), read inside the model's batch transaction.
  void Assign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
    auto looked_up = LookUp(partitions);
    if (!looked_up) {
      Failed(looked_up.error());
      // Take nothing: the projection fails, and its consumer leaves the group.
      PartitionListPtr none(rd_kafka_topic_partition_list_new(0));
      Apply(rk, none.get(), /*assign=*/true);
      return;
    }
    for (int i = 0; i < partitions->cnt; ++i) {
      rd_kafka_topic_partition_t& partition = partitions->elems[i];
      const PartitionKey key{partition.topic, partition.partition};
      PartitionState& state = partitions_[key];
      state.stored = (*looked_up)[static_cast<std::size_t>(i)];
      // Accepted in this open batch, not yet saved: go on after them.
      const auto unsaved = unsaved_.find(key);
      state.next = unsaved != unsaved_.end() ? unsaved->second : state.stored.value_or(0);
      state.assigned = true;
      state.at_end = false;
      partition.offset = unsaved != unsaved_.end() || state.stored ? state.next : RD_KAFKA_OFFSET_BEGINNING;
    }
    Apply(rk, partitions, /*assign=*/true);
    assigned_ = true;
  }

  Result<std::vector<std::optional<std::int64_t>>> LookUp(rd_kafka_topic_partition_list_t* partitions) {
    auto db = begin_batch_();
    if (!db) return Fail(db.error());
    if (auto ok = EnsureTable(*db); !ok) return Fail(ok.error());
    auto select = Statement::Prepare(
        *db, "SELECT next_offset FROM cairn_source_offsets WHERE projection = ?1 AND topic = ?2 AND partition = ?3");
    if (!select) return Fail(select.error());
    std::vector<std::optional<std::int64_t>> found;
    for (int i = 0; i < partitions->cnt; ++i) {
      select->Bind(1, projection_)
          .Bind(2, std::string_view(partitions->elems[i].topic))
          .Bind(3, std::int64_t{partitions->elems[i].partition});
      auto row = select->Step("reading the Kafka offsets of projection " + projection_);
      if (!row) return Fail(row.error());
      found.push_back(*row ? std::optional<std::int64_t>(select->Int(0)) : std::nullopt);
      select->Reset();
    }
    return found;
  }

  Status EnsureTable(sqlite3* db) {
    if (table_ready_) return {};
    if (auto ok = Exec(db, std::string(kSourceOffsetsSchema), "creating cairn_source_offsets"); !ok) return ok;
    table_ready_ = true;
    return {};
  }

  // Handles one message from the consumer. True when it was an event the visitor accepted.
  Result<bool> Handle(MessagePtr message, const EventVisitor& visit);

  KafkaEventSource& source_;
  const std::string projection_;
  const OnHandlerFailure on_failure_;
  const std::function<Result<sqlite3*>()> begin_batch_;
  ConsumerPtr consumer_;  // closed in the destructor's body, while what the rebalance callback uses is alive
  std::atomic<bool> stopped_{false};
  bool closing_ = false;

  // Used from the polling thread only (the rebalance callback runs inside Poll or the close).
  std::map<PartitionKey, PartitionState> partitions_;
  std::map<PartitionKey, std::int64_t> unsaved_;  // next offsets accepted since the last SaveProgress
  std::vector<ParkedMessage> parked_;
  MessagePtr held_;  // refused by the visitor: delivered again by the next Poll
  std::optional<Error> error_;
  bool assigned_ = false;  // an assignment is in force
  bool table_ready_ = false;
  std::uint64_t checkpoint_ = 0;
};

class KafkaEventSource final : public EventSource {
 public:
  explicit KafkaEventSource(KafkaSourceOptions options) : options_(std::move(options)) {}

  Result<std::unique_ptr<Subscription>> Subscribe(std::uint64_t /*after_position*/) override {
    return Fail(ErrorCode::kNotSupported,
                "the Kafka source keeps its offsets in a read model: it is used through a ProjectionRunner");
  }

  Result<std::unique_ptr<Subscription>> SubscribeModel(const ModelSubscriptionRequest& request) override {
    if (!request.begin_batch) {
      return Fail(ErrorCode::kInvalidArgument, "a Kafka subscription needs the model's batch transaction");
    }
    auto subscription = std::make_unique<KafkaSubscription>(*this, request);
    if (auto ok = subscription->Connect(options_); !ok) return Fail(ok.error());
    return std::unique_ptr<Subscription>(std::move(subscription));
  }

  Result<std::uint64_t> HeadPosition() override { return head_.load(); }

  Result<std::optional<RecordedEvent>> ReadEvent(std::uint64_t position) override {
    return Fail(ErrorCode::kNotSupported, "the Kafka source cannot read the event at position " +
                                              std::to_string(position) +
                                              " (Kafka has no index by position): parked events of a Kafka-fed "
                                              "projection are retried by a runner fed from the store");
  }

  void Saw(std::uint64_t position) {
    std::uint64_t head = head_.load();
    while (position > head && !head_.compare_exchange_weak(head, position)) {
    }
  }

 private:
  const KafkaSourceOptions options_;
  std::atomic<std::uint64_t> head_{0};
};

Result<std::size_t> KafkaSubscription::Poll(const EventVisitor& visit, std::size_t max_events, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t delivered = 0;
  while (delivered < max_events) {
    if (stopped_) return Fail(ErrorCode::kCancelled, "the subscription was stopped");
    if (error_) return Fail(*error_);
    MessagePtr message = std::move(held_);
    if (!message) {
      // Once something was delivered, take only what is already there.
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      const milliseconds wait = delivered > 0 ? milliseconds(0) : std::clamp(left, milliseconds(0), kPollSlice);
      message.reset(rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(wait.count())));
      if (error_) return Fail(*error_);  // from the rebalance callback
      if (!message) {
        if (delivered > 0 || Clock::now() >= deadline) break;
        continue;
      }
    }
    auto accepted = Handle(std::move(message), visit);
    if (!accepted) return Fail(accepted.error());
    if (held_) break;  // refused by the visitor
    if (*accepted) ++delivered;
  }
  return delivered;
}

Result<bool> KafkaSubscription::Handle(MessagePtr message, const EventVisitor& visit) {
  if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    auto state = partitions_.find({rd_kafka_topic_name(message->rkt), message->partition});
    if (state != partitions_.end() && state->second.assigned && message->offset >= state->second.next) {
      state->second.at_end = true;
    }
    return false;
  }
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const std::string what = rd_kafka_message_errstr(message.get());
    char reason[512];
    if (rd_kafka_fatal_error(consumer_.get(), reason, sizeof reason) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Fail(ErrorCode::kIOError, "projection " + projection_ + ": the Kafka consumer failed: " + reason);
    }
    if (message->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        message->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        message->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
      return Fail(ErrorCode::kInvalidArgument, "projection " + projection_ + ": " + what);
    }
    return false;  // librdkafka retries the others by itself (a broker away, a leader moving)
  }
  const PartitionKey key{rd_kafka_topic_name(message->rkt), message->partition};
  auto found = partitions_.find(key);
  // Fetched before a revoke, or before a seek back: not this consumer's to apply.
  if (found == partitions_.end() || !found->second.assigned || message->offset < found->second.next) return false;
  PartitionState& state = found->second;
  state.at_end = false;

  auto envelope = DecodeMessage(message.get());
  if (!envelope) {
    const std::string error = Where(message.get()) + " is not an envelope: " + envelope.error().message();
    if (on_failure_ == OnHandlerFailure::kStop) {
      held_ = std::move(message);
      return Fail(ErrorCode::kInvalidArgument, "projection " + projection_ + " stopped: " + error);
    }
    bool found_header = false;
    ParkedMessage parked{.error = error};
    const std::string_view position = HeaderValue(message.get(), kHeaderPosition, &found_header);
    (void)std::from_chars(position.data(), position.data() + position.size(), parked.position);
    parked.type = std::string(HeaderValue(message.get(), kHeaderEventType, &found_header));
    if (message->key != nullptr) parked.stream.assign(static_cast<const char*>(message->key), message->key_len);
    parked_.push_back(std::move(parked));
    state.next = message->offset + 1;
    unsaved_[key] = state.next;
    return false;
  }
  const Envelope& e = *envelope;
  const EventView view{.position = e.position,
                       .stream = e.stream,
                       .revision = e.revision,
                       .id = e.event_id,
                       .type = e.event_type,
                       .recorded_at_us = e.event_timestamp_us,
                       .content_type = e.data_content_type,
                       .data = e.data,
                       .metadata = e.metadata};
  source_.Saw(e.position);
  if (!visit(view)) {
    held_ = std::move(message);
    return false;
  }
  state.next = message->offset + 1;
  unsaved_[key] = state.next;
  checkpoint_ = std::max(checkpoint_, e.position);
  return true;
}

Status KafkaSubscription::SaveProgress(sqlite3* db) {
  if (!HasUnsavedProgress()) return {};
  if (auto ok = EnsureTable(db); !ok) return ok;
  auto select = Statement::Prepare(
      db, "SELECT next_offset FROM cairn_source_offsets WHERE projection = ?1 AND topic = ?2 AND partition = ?3");
  auto upsert = Statement::Prepare(
      db,
      "INSERT INTO cairn_source_offsets (projection, topic, partition, next_offset, updated_at_us) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (projection, topic, partition) DO UPDATE SET "
      "next_offset = excluded.next_offset, updated_at_us = excluded.updated_at_us");
  if (!select || !upsert) return Fail(!select ? select.error() : upsert.error());
  for (const auto& [key, next] : unsaved_) {
    const auto& [topic, partition] = key;
    PartitionState& state = partitions_[key];
    select->Bind(1, projection_).Bind(2, topic).Bind(3, std::int64_t{partition});
    auto row = select->Step("reading the Kafka offsets of projection " + projection_);
    if (!row) return Fail(row.error());
    const std::optional<std::int64_t> current = *row ? std::optional<std::int64_t>(select->Int(0)) : std::nullopt;
    select->Reset();
    if (current != state.stored) {
      auto text = [](const std::optional<std::int64_t>& offset) {
        return offset ? "offset " + std::to_string(*offset) : std::string("no offset");
      };
      return Fail(ErrorCode::kBusy, "projection " + projection_ + ": the read model has " + text(current) +
                                        " for topic " + topic + " partition " + std::to_string(partition) +
                                        " where this consumer expected " + text(state.stored) +
                                        ": another runner consumed the partition meanwhile (its group took it "
                                        "from this one); the batch is rolled back");
    }
    upsert->Bind(1, projection_).Bind(2, topic).Bind(3, std::int64_t{partition}).Bind(4, next).Bind(5, NowMicros());
    if (auto ok = upsert->Run("writing the Kafka offsets of projection " + projection_); !ok) return ok;
  }
  if (!parked_.empty()) {
    auto park = Statement::Prepare(
        db,
        "INSERT OR REPLACE INTO cairn_parked (projection, position, stream, revision, type, error, attempts, "
        "parked_at_us) VALUES (?1, ?2, ?3, 0, ?4, ?5, 1, ?6)");
    if (!park) return Fail(park.error());
    for (const ParkedMessage& parked : parked_) {
      park->Bind(1, projection_)
          .Bind(2, parked.position)
          .Bind(3, parked.stream)
          .Bind(4, parked.type)
          .Bind(5, parked.error)
          .Bind(6, NowMicros());
      if (auto ok = park->Run("parking a message that is not an envelope"); !ok) return ok;
    }
  }
  for (const auto& [key, next] : unsaved_) partitions_[key].stored = next;
  unsaved_.clear();
  parked_.clear();
  return {};
}

}  // namespace

Result<std::unique_ptr<EventSource>> KafkaSource(KafkaSourceOptions options) {
  if (options.topics.empty()) return Fail(ErrorCode::kInvalidArgument, "the Kafka source has no topic to consume");
  for (const std::string& topic : options.topics) {
    if (topic.empty()) return Fail(ErrorCode::kInvalidArgument, "the Kafka source has an empty topic name");
  }
  if (options.group_id.empty()) return Fail(ErrorCode::kInvalidArgument, "the Kafka source has no group id");
  const bool has_bootstrap = std::any_of(options.kafka.begin(), options.kafka.end(), [](const auto& property) {
    return property.first == "bootstrap.servers" || property.first == "metadata.broker.list";
  });
  if (!has_bootstrap) return Fail(ErrorCode::kInvalidArgument, "the Kafka source has no bootstrap.servers property");
  // Every property checked now, not when the first projection subscribes.
  if (auto conf = MakeConf(options, options.group_id); !conf) return Fail(conf.error());
  return std::unique_ptr<EventSource>(std::make_unique<KafkaEventSource>(std::move(options)));
}

}  // namespace cairn
