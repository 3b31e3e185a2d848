// The Kafka relay (cairn/relay.h). One thread runs it: librdkafka's callbacks
// (delivery reports, errors) are served by rd_kafka_poll/flush calls made from
// that thread, so the relay's state needs no lock except the published status.
#include "cairn/relay.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cairn/envelope.h"
#include "cairn/upcast.h"
#include "kafka_client.h"
#include "text_codec.h"

namespace cairn {
namespace {

using namespace std::chrono_literals;
using detail::KafkaError;
using detail::KafkaErrorText;
using detail::KafkaHandle;
using detail::KafkaHeaders;
using detail::KafkaProperties;

// How long a Kafka request the relay waits on (metadata, transactions, flush at stop) may take.
constexpr auto kKafkaTimeout = 30s;
// Idle, the status is saved this often, so `cairn bridge status` sees a recent one.
constexpr auto kIdleStatusInterval = 5s;
// In idempotent mode librdkafka never gives up on a message (message.timeout.ms
// = 0) unless the bridge file says otherwise: a message that expired while Kafka
// was away could be overtaken by a later one of its partition that did not, and
// sending it again would break the stream's order. Kafka away, the producer's
// queue fills and the relay waits; librdkafka reconnects with the bridge file's
// backoff (reconnect.backoff.ms/max.ms from [retry]). In exactly-once mode an
// aborted transaction is all or nothing, so librdkafka's default applies.
constexpr std::string_view kIdempotentMessageTimeoutMs = "0";

std::int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Errors with which Kafka refuses one message for good: that event is poison.
bool IsPoisonError(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
         err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_RECORD;
}

bool IsSizeError(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
         err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

std::string EventName(const EventView& event) {
  return "the event at position " + std::to_string(event.position) + " (stream \"" + std::string(event.stream) +
         "\", revision " + std::to_string(event.revision) + ", type \"" + std::string(event.type) + "\")";
}

// The JSON of a dead-lettered event that has no envelope (it could not be
// made, or it is too large to resend): the event's fields, its data in base64
// only when `with_data`.
std::string EventRecordJson(const EventView& event, bool with_data) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  const auto text = [&json](std::string_view value) {
    json.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  json.StartObject();
  json.Key("stream");
  text(event.stream);
  json.Key("revision");
  json.Uint64(event.revision);
  json.Key("position");
  json.Uint64(event.position);
  json.Key("event_id");
  text(event.id.ToString());
  json.Key("event_type");
  text(event.type);
  json.Key("recorded_at");
  text(FormatTimestamp(event.recorded_at_us));
  json.Key("data_content_type");
  text(event.content_type);
  json.Key("data_bytes");
  json.Uint64(event.data.size());
  json.Key("metadata_bytes");
  json.Uint64(event.metadata.size());
  if (with_data) {
    json.Key("data_base64");
    text(detail::Base64Encode(event.data));
    json.Key("metadata_base64");
    text(detail::Base64Encode(event.metadata));
  }
  json.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

// Held while a relay of one bridge runs on one store (flock on a file beside it).
class RelayLock {
 public:
  static Result<RelayLock> Acquire(const std::string& store_path, const std::string& bridge) {
    const std::string path = store_path + ".bridge-" + bridge + ".lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      if (error == EWOULDBLOCK) {
        return Fail(ErrorCode::kBusy, "bridge \"" + bridge + "\" is already running on " + store_path +
                                          " (it holds " + path + ")");
      }
      return Fail(ErrorCode::kIOError, "cannot lock " + path + ": " + std::strerror(error));
    }
    return RelayLock(fd);
  }
  RelayLock(RelayLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  RelayLock& operator=(RelayLock&&) = delete;
  ~RelayLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

 private:
  explicit RelayLock(int fd) : fd_(fd) {}
  int fd_;
};

// One event produced and not yet confirmed, in position order.
struct InFlight {
  std::uint64_t position = 0;
  std::int64_t recorded_at_us = 0;
  const std::string* topic = nullptr;  // where it was routed (in config_), for its dead-letter message
  enum class State : std::uint8_t { kSent, kDelivered, kFailed } state = State::kSent;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string error;        // why it failed (kFailed), or why it was dead-lettered
  bool dead_letter = false;  // the message in flight is the event's dead-letter message
  bool reference = false;    // … carrying only a reference to the event (it was too large)
  bool upcast_failed = false;  // … because an upcaster failed on it (publish = "newest")
};

class RelayImpl final : public Relay {
 public:
  RelayImpl(EventStore& store, BridgeConfig config, RelayOptions options, RelayLock lock, KafkaProperties properties)
      : store_(store),
        config_(std::move(config)),
        options_(std::move(options)),
        lock_(std::move(lock)),
        properties_(std::move(properties)),
        checkpoint_name_(RelayCheckpointName(config_.name)),
        random_(std::random_device{}()) {
    status_.bridge = config_.name;
    status_.mode = config_.mode;
  }

  ~RelayImpl() override { producer_.reset(); }

  Status CreateProducer() {
    auto conf = detail::MakeKafkaConf(properties_);
    if (!conf) return Fail(conf.error());
    rd_kafka_conf_set_opaque(conf->get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &RelayImpl::OnDelivery);
    rd_kafka_conf_set_error_cb(conf->get(), &RelayImpl::OnError);
    rd_kafka_conf_set_log_cb(conf->get(), &RelayImpl::OnLog);
    char error[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), error, sizeof error);
    if (rk == nullptr) return Fail(ErrorCode::kInvalidArgument, std::string("creating the Kafka producer: ") + error);
    (void)conf->release();  // rd_kafka_new took it
    producer_.reset(rk);
    producer_fatal_ = false;
    return {};
  }

  Status Run() override { return Execute(std::nullopt); }

  Status RunToHead() override {
    auto head = store_.HeadPosition();
    if (!head) return Fail(head.error());
    return Execute(*head);
  }

  void Stop() override { stop_.store(true, std::memory_order_relaxed); }

  RelayStatus status() const override {
    std::lock_guard lock(status_mutex_);
    return status_;
  }

 private:
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }

  // ---- the run, in both modes ----

  Status Execute(std::optional<std::uint64_t> target) {
    target_ = target;
    SetState(RelayState::kStarting);
    Status ran = config_.mode == DeliveryMode::kExactlyOnce ? RunExactlyOnce() : RunIdempotent();
    if (!ran) {
      UpdateStatus([&](RelayStatus& s) {
        s.state = RelayState::kFailed;
        s.last_error = ran.error().message();
      });
    } else {
      SetState(RelayState::kStopped);
    }
    (void)SaveStatus();
    return ran;
  }

  bool ReachedTarget() const { return target_ && confirmed_ >= *target_ && inflight_.empty(); }

  // Waits until every topic the bridge publishes to exists (Kafka unreachable:
  // retries with backoff); kNotFound naming those Kafka does not have.
  Status CheckTopics() {
    while (!stopping()) {
      auto missing = detail::MissingTopics(producer_.get(), config_.Topics(), kKafkaTimeout);
      if (missing) {
        if (missing->empty()) return {};
        std::string names;
        for (const std::string& topic : *missing) names += (names.empty() ? "" : ", ") + topic;
        return Fail(ErrorCode::kNotFound, "Kafka has no topic " + names + ": create " +
                                              (missing->size() == 1 ? "it" : "them") +
                                              " before running bridge \"" + config_.name +
                                              "\" (`cairn bridge topics` lists every topic it needs)");
      }
      BackOff(missing.error().message());
    }
    return {};
  }

  // ---- idempotent mode ----

  Status RunIdempotent() {
    auto saved = store_.ReadCheckpoint(checkpoint_name_);
    if (!saved) return Fail(saved.error());
    confirmed_ = *saved ? (*saved)->position : 0;
    if (auto ok = CheckTopics(); !ok) return ok;
    SetState(RelayState::kLive);
    while (!stopping() && !ReachedTarget()) {
      auto round = IdempotentRound();
      if (!round) {
        Drain();
        return Fail(round.error());
      }
      if (!*round) continue;  // a retry: from the checkpoint again
    }
    Drain();
    return {};
  }

  // Produces from the checkpoint on until a stop (true) or a failure that
  // needs a new round from the checkpoint (false). Errors end the run.
  Result<bool> IdempotentRound() {
    if (producer_fatal_) {
      // The idempotent producer hit a fatal error (librdkafka could not keep its
      // ordering guarantee): a new producer starts a new idempotent session.
      Log("bridge " + config_.name + ": recreating the Kafka producer after a fatal error");
      producer_.reset();
      if (auto ok = CreateProducer(); !ok) return Fail(ok.error());
    }
    auto subscription = store_.Subscribe({.after_position = confirmed_});
    if (!subscription) return Fail(subscription.error());
    isolating_ = confirmed_ < suspects_until_;
    while (!stopping() && !ReachedTarget()) {
      isolating_ = isolating_ && confirmed_ < suspects_until_;
      const std::size_t room = isolating_ ? (inflight_.empty() ? 1 : 0) : options_.max_batch_events - inflight_.size();
      std::size_t produced = 0;
      if (room > 0) {
        auto polled = (*subscription)->Poll(
            [this](const EventView& event) {
              fatal_ = Send(event);
              return !fatal_.has_value();
            },
            room, inflight_.empty() ? 100ms : 0ms);
        if (!polled) return Fail(polled.error());
        produced = *polled;
      }
      if (isolating_ && !inflight_.empty()) {
        rd_kafka_flush(producer_.get(), TimeoutMs());  // alone: its delivery report is its own
      } else {
        rd_kafka_poll(producer_.get(), produced == 0 && !inflight_.empty() ? 5 : 0);
      }
      if (auto handled = HandleFailures(); !handled) return Fail(handled.error());
      if (fatal_) {
        Error error = *std::exchange(fatal_, std::nullopt);
        if (error.code() == ErrorCode::kCancelled) return true;  // stopped
        return Fail(std::move(error));
      }
      PopConfirmed();
      MaybeSaveStatus();
      if (retry_reason_ || producer_fatal_) {
        StartOver(retry_reason_.value_or("the Kafka producer failed"), /*back_off=*/true);
        return false;
      }
      if (restart_now_) {
        StartOver("Kafka refused a batch as too large: sending its events one at a time", /*back_off=*/false);
        return false;
      }
    }
    return true;
  }

  // Routes, envelopes and produces one event (as its dead-letter message when
  // it is poison), tracking it in flight. An error ends the run; kCancelled
  // means a stop came while librdkafka's queue was full (nothing was tracked).
  std::optional<Error> Send(const EventView& stored) {
    InFlight entry{.position = stored.position, .recorded_at_us = stored.recorded_at_us};
    // publish = "newest": routed, enveloped and published as its upcasters make it.
    std::optional<std::string> upcast_failure;
    const EventView* published = &stored;
    if (config_.upcasters) {
      auto changed = config_.upcasters->Apply(stored, upcast_);
      if (!changed) {
        upcast_failure = changed.error().message();
      } else if (*changed) {
        published = &upcast_.view();
      }
    }
    const EventView& event = *published;
    const std::string* topic = config_.FindTopic(event);
    if (topic == nullptr) {
      return Error(ErrorCode::kInvalidArgument,
                   EventName(event) + " matches no route of bridge \"" + config_.name +
                       "\" (on_unroutable = \"error\"): add a route or a default topic; the relay stops before it");
    }
    entry.topic = topic;
    if (already_delivered_.erase(event.position) > 0) {
      entry.state = InFlight::State::kDelivered;
      inflight_.push_back(std::move(entry));
      return std::nullopt;
    }
    std::optional<Error> failed;
    if (upcast_failure) {
      // Dead-lettered as stored: no newer version of it could be made.
      entry.upcast_failed = true;
      failed = PoisonOrDeadLetter(stored, entry, RD_KAFKA_RESP_ERR_NO_ERROR, *upcast_failure);
    } else if (auto known = poison_.find(event.position); known != poison_.end()) {
      // Kafka refused it in an aborted transaction: this time it goes to the dead-letter topic.
      failed = PoisonOrDeadLetter(event, entry, known->second.first, known->second.second);
    } else if (auto made = FillEnvelope(event, config_.source_service, envelope_); !made) {
      failed = PoisonOrDeadLetter(event, entry, RD_KAFKA_RESP_ERR_NO_ERROR, made.error().message());
    } else {
      if (config_.format == EnvelopeFormat::kJson) {
        WriteEnvelopeJson(envelope_, value_);
      } else {
        value_ = EnvelopeCapnp(envelope_);
      }
      KafkaHeaders headers(rd_kafka_headers_new(12));
      VisitEnvelopeHeaders(envelope_, config_.format, [&headers](std::string_view name, std::string_view value) {
        rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      });
      rd_kafka_resp_err_t err = Produce(*entry.topic, event.position, event.stream, value_, std::move(headers));
      if (IsPoisonError(err)) {
        failed = PoisonOrDeadLetter(event, entry, err, KafkaErrorText(err));
      } else if (err == RD_KAFKA_RESP_ERR__STATE) {
        failed = Error(ErrorCode::kCancelled, "stopped");
      } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failed = Error(ErrorCode::kIOError,
                       "producing " + EventName(event) + " to " + *entry.topic + ": " + KafkaErrorText(err));
      }
    }
    if (failed) return failed;
    inflight_.push_back(std::move(entry));
    return std::nullopt;
  }

  // A poison event: an error that stops the relay before it, or its dead-letter message sent.
  std::optional<Error> PoisonOrDeadLetter(const EventView& event, InFlight& entry, rd_kafka_resp_err_t err,
                                          std::string error) {
    if (config_.on_poison == OnPoison::kStop) {
      return Error(ErrorCode::kInvalidArgument, EventName(event) + " cannot be published to " + *entry.topic + ": " +
                                                    error + " (on_poison = \"stop\"): the relay stops before it");
    }
    entry.dead_letter = true;
    entry.err = err;
    entry.error = std::move(error);
    // Too large for its topic is too large for the dead-letter topic too: send a reference.
    entry.reference = entry.reference || IsSizeError(err);
    entry.state = InFlight::State::kSent;
    rd_kafka_resp_err_t sent = ProduceDeadLetter(event, entry);
    if (sent != RD_KAFKA_RESP_ERR_NO_ERROR && !entry.reference && IsSizeError(sent)) {
      entry.reference = true;
      sent = ProduceDeadLetter(event, entry);
    }
    if (sent == RD_KAFKA_RESP_ERR__STATE) return Error(ErrorCode::kCancelled, "stopped");
    if (sent != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Error(ErrorCode::kIOError, "producing the dead-letter message of " + EventName(event) + " to " +
                                            config_.DlqTopic(*entry.topic) + ": " + KafkaErrorText(sent));
    }
    Log("bridge " + config_.name + ": " + EventName(event) + " dead-lettered to " + config_.DlqTopic(*entry.topic) +
        ": " + entry.error);
    return std::nullopt;
  }

  // The dead-letter message: the original message when it could be made (its
  // value and headers), else a record of the event; plus the error's context
  // in cairn-dlq-* headers, as Kafka Connect's dead-letter queues do.
  rd_kafka_resp_err_t ProduceDeadLetter(const EventView& event, const InFlight& entry) {
    std::string value;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view value_kind;
    auto envelope = MakeEnvelope(event, config_.source_service);
    if (envelope) headers = EnvelopeHeaders(*envelope, config_.format);
    if (entry.reference) {
      value = EventRecordJson(event, false);
      value_kind = "reference";
    } else if (envelope) {
      value = config_.format == EnvelopeFormat::kJson ? EnvelopeJson(*envelope) : EnvelopeCapnp(*envelope);
      value_kind = "envelope";
    } else {
      value = EventRecordJson(event, true);
      value_kind = "event-record";
    }
    if (value_kind != "envelope") {
      // The value is not an envelope: its content-type says so.
      std::erase_if(headers, [](const auto& header) { return header.first == kHeaderContentType; });
      headers.emplace_back(std::string(kHeaderContentType), "application/json");
    }
    const auto attempts = ++attempts_[event.position];
    headers.emplace_back("cairn-dlq-error", entry.error);
    headers.emplace_back("cairn-dlq-error-code",
                         entry.err != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2name(entry.err)
                         : entry.upcast_failed                   ? "UPCAST"
                                                                 : "ENVELOPE");
    headers.emplace_back("cairn-dlq-attempts", std::to_string(attempts));
    headers.emplace_back("cairn-dlq-failed-at", FormatTimestamp(NowUs()));
    headers.emplace_back("cairn-dlq-bridge", config_.name);
    headers.emplace_back("cairn-dlq-topic", *entry.topic);
    headers.emplace_back("cairn-dlq-value", std::string(value_kind));
    if (!envelope) headers.emplace_back(std::string(kHeaderPosition), std::to_string(event.position));
    KafkaHeaders list(rd_kafka_headers_new(headers.size()));
    for (const auto& [name, text] : headers) {
      rd_kafka_header_add(list.get(), name.data(), static_cast<ssize_t>(name.size()), text.data(),
                          static_cast<ssize_t>(text.size()));
    }
    return Produce(config_.DlqTopic(*entry.topic), event.position, event.stream, value, std::move(list));
  }

  // Produces one message, waiting while librdkafka's queue is full. __STATE
  // when a stop interrupted the wait.
  rd_kafka_resp_err_t Produce(const std::string& topic, std::uint64_t position, std::string_view key,
                              std::string_view value, KafkaHeaders headers) {
    // The delivery report finds the event by its position and this round.
    void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>((std::uint64_t{round_} << 48) | position));
    while (true) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_HEADERS(headers.get()),
          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        (void)headers.release();  // the message owns them now
        return err;
      }
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return err;
      if (stopping()) return RD_KAFKA_RESP_ERR__STATE;
      rd_kafka_poll(producer_.get(), 20);  // deliveries make room
    }
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    static_cast<RelayImpl*>(opaque)->Delivered(message);
  }

  void Delivered(const rd_kafka_message_t* message) {
    const auto tag = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(message->_private));
    const std::uint64_t position = tag & ((std::uint64_t{1} << 48) - 1);
    // In flight, positions are contiguous from the front's (every event is tracked, in order).
    if ((tag >> 48) != round_ || inflight_.empty() || position < inflight_.front().position ||
        position - inflight_.front().position >= inflight_.size()) {
      return;  // an earlier round's
    }
    InFlight& entry = inflight_[position - inflight_.front().position];
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      entry.state = InFlight::State::kDelivered;
      return;
    }
    entry.state = InFlight::State::kFailed;
    entry.err = message->err;
    entry.error = KafkaErrorText(message->err);
    ++failed_entries_;
  }

  // librdkafka's own log lines go where the relay's go.
  static void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
    auto* relay = static_cast<RelayImpl*>(rd_kafka_opaque(rk));
    if (relay == nullptr) return;
    relay->Log("bridge " + relay->config_.name + ": librdkafka " + (level <= 3 ? "error " : "") + facility + ": " + text);
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* relay = static_cast<RelayImpl*>(opaque);
    std::string text = std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char detail[512];
      rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, detail, sizeof detail);
      text = "fatal " + std::string(rd_kafka_err2name(fatal)) + ": " + detail;
      relay->producer_fatal_ = true;
      relay->fatal_code_ = fatal;
    }
    relay->Log("bridge " + relay->config_.name + ": Kafka: " + text);
    relay->UpdateStatus([&](RelayStatus& s) {
      s.last_error = text;
      if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__FATAL) {
        s.state = RelayState::kRetrying;  // back to live with the next confirmed delivery
        s.failures += 1;
      }
    });
  }

  // Looks at the failed deliveries: poison ones are dead-lettered (or end the
  // run); any other makes the round start over from the checkpoint.
  Status HandleFailures() {
    if (failed_entries_ == 0) return {};
    failed_entries_ = 0;
    for (InFlight& entry : inflight_) {
      if (entry.state != InFlight::State::kFailed) continue;
      if (!IsPoisonError(entry.err) || (entry.dead_letter && entry.reference)) {
        if (!retry_reason_) {
          retry_reason_ = "publishing position " + std::to_string(entry.position) + " to " +
                          (entry.dead_letter ? config_.DlqTopic(*entry.topic) : *entry.topic) + ": " + entry.error;
        }
        continue;
      }
      if (!entry.dead_letter && !isolating_) {
        // Kafka refuses a whole batch of records for one that is too large:
        // the others in it may be fine. The round starts over and sends each
        // suspect alone, confirmed before the next.
        suspects_until_ = std::max(suspects_until_, entry.position);
        restart_now_ = true;
        continue;
      }
      auto event = ReadEvent(entry.position);
      if (!event) return Fail(event.error());
      // As it was sent: upcast again when the bridge publishes the newest version (an upcast it failed went out as stored).
      const EventView stored = event->view();
      const EventView* sent = &stored;
      if (config_.upcasters && !entry.upcast_failed) {
        auto changed = config_.upcasters->Apply(stored, upcast_);
        if (changed && *changed) sent = &upcast_.view();
      }
      const std::string error = entry.dead_letter ? entry.error : "Kafka refused it: " + entry.error;
      if (auto failed = PoisonOrDeadLetter(*sent, entry, entry.err, error)) return Fail(std::move(*failed));
    }
    return {};
  }

  Result<RecordedEvent> ReadEvent(std::uint64_t position) {
    std::optional<RecordedEvent> found;
    auto read = store_.ReadLog({.from_position = position, .to_position = position, .max_count = 1},
                               [&](const EventView& event) {
                                 found = event.ToOwned();
                                 return false;
                               });
    if (!read) return Fail(read.error());
    if (!found) return Fail(ErrorCode::kCorruption, "position " + std::to_string(position) + " is not in the log");
    return std::move(*found);
  }

  // Advances the checkpoint over the confirmed prefix.
  void PopConfirmed() {
    std::uint64_t published = 0;
    std::uint64_t dead_lettered = 0;
    while (!inflight_.empty() && inflight_.front().state == InFlight::State::kDelivered) {
      const InFlight& entry = inflight_.front();
      confirmed_ = entry.position;
      (entry.dead_letter ? dead_lettered : published) += 1;
      attempts_.erase(entry.position);
      poison_.erase(entry.position);
      inflight_.pop_front();
    }
    if (published + dead_lettered == 0) return;
    consecutive_failures_ = 0;
    UpdateStatus([&](RelayStatus& s) {
      s.published += published;
      s.dead_lettered += dead_lettered;
      if (s.state == RelayState::kRetrying) s.state = RelayState::kLive;
    });
  }

  // Waits for every message in flight (up to the message timeout) and keeps
  // the confirmed prefix.
  void Drain() {
    if (!producer_) return;
    rd_kafka_flush(producer_.get(), static_cast<int>(std::chrono::milliseconds(kKafkaTimeout).count()));
    PopConfirmed();
  }

  // After a failed send: wait for what is in flight, keep the confirmed
  // prefix, back off, and let the next round produce again from the checkpoint.
  void StartOver(const std::string& reason, bool back_off) {
    Drain();
    // Kafka has these already (acknowledged by every in-sync replica): the next round does not send them again.
    std::uint64_t resent = 0;
    for (const InFlight& entry : inflight_) {
      if (entry.state == InFlight::State::kDelivered) {
        already_delivered_.insert(entry.position);
      } else {
        ++resent;
      }
    }
    UpdateStatus([&](RelayStatus& s) { s.retried += resent; });
    inflight_.clear();
    ++round_;
    retry_reason_.reset();
    restart_now_ = false;
    failed_entries_ = 0;
    (void)SaveStatus();
    if (back_off) {
      BackOff(reason);
    } else {
      Log("bridge " + config_.name + ": " + reason);
    }
  }

  // Waits the next backoff (serving librdkafka's callbacks), unless stopped.
  void BackOff(const std::string& reason) {
    const double base = static_cast<double>(config_.retry.initial_backoff.count()) *
                        std::pow(2.0, std::min(consecutive_failures_, 30U));
    const double capped = std::min(base, static_cast<double>(config_.retry.max_backoff.count()));
    const double jitter = capped * config_.retry.jitter_percent / 100.0;
    std::uniform_real_distribution<double> spread(-jitter, jitter);
    const auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(std::max(1.0, capped + spread(random_))));
    ++consecutive_failures_;
    Log("bridge " + config_.name + ": " + reason + "; retrying in " + std::to_string(wait.count()) + " ms");
    UpdateStatus([&](RelayStatus& s) {
      s.state = RelayState::kRetrying;
      s.failures += 1;
      s.last_error = reason;
    });
    const auto until = std::chrono::steady_clock::now() + wait;
    while (!stopping() && std::chrono::steady_clock::now() < until) {
      if (producer_) {
        rd_kafka_poll(producer_.get(), 20);
      } else {
        std::this_thread::sleep_for(20ms);
      }
    }
  }

  // ---- exactly-once mode ----

  std::string GroupId() const { return "cairn-bridge." + config_.name; }

  Status RunExactlyOnce() {
    // Fences any earlier producer of this transactional.id and aborts its open transaction.
    while (!stopping()) {
      KafkaError error(rd_kafka_init_transactions(producer_.get(), TimeoutMs()));
      if (!error) break;
      if (rd_kafka_error_is_fatal(error.get())) {
        return Fail(ErrorCode::kIOError, "starting Kafka transactions: " + KafkaErrorText(error.get()));
      }
      BackOff("starting Kafka transactions: " + KafkaErrorText(error.get()));
    }
    if (stopping()) return {};
    const std::string checkpoint_topic = config_.CheckpointTopic();
    while (!stopping()) {
      auto missing = detail::MissingTopics(producer_.get(), {checkpoint_topic}, kKafkaTimeout);
      if (missing && missing->empty()) break;
      if (missing) {
        // cairn's own topic: one partition, compacted (only the latest offset matters).
        auto created = detail::CreateTopic(producer_.get(), checkpoint_topic, 1, {{"cleanup.policy", "compact"}},
                                           kKafkaTimeout);
        if (created) break;
        BackOff(created.error().message());
      } else {
        BackOff(missing.error().message());
      }
    }
    if (auto ok = CheckTopics(); !ok) return ok;
    std::optional<std::uint64_t> committed;
    while (!stopping()) {
      auto read = ReadKafkaCheckpoint(checkpoint_topic);
      if (read) {
        committed = *read;
        break;
      }
      BackOff(read.error().message());
    }
    if (stopping()) return {};
    if (committed) {
      confirmed_ = *committed;
    } else {
      // First run in this mode: start where an idempotent relay of this bridge got to, if any.
      auto saved = store_.ReadCheckpoint(checkpoint_name_);
      if (!saved) return Fail(saved.error());
      confirmed_ = *saved ? (*saved)->position : 0;
    }
    SetState(RelayState::kLive);
    while (!stopping() && !ReachedTarget()) {
      auto subscription = store_.Subscribe({.after_position = confirmed_});
      if (!subscription) return Fail(subscription.error());
      while (!stopping() && !ReachedTarget()) {
        auto committed_batch = TransactionRound(**subscription, checkpoint_topic);
        if (!committed_batch) return Fail(committed_batch.error());
        if (!*committed_batch) break;  // aborted: from the checkpoint again
      }
    }
    return {};
  }

  int TimeoutMs() const { return static_cast<int>(std::chrono::milliseconds(kKafkaTimeout).count()); }

  // One transaction: the events that come within max_batch_delay (up to
  // max_batch_events) and the checkpoint after them. True when committed (or
  // nothing came), false when aborted (the caller starts over from the checkpoint).
  Result<bool> TransactionRound(Subscription& subscription, const std::string& checkpoint_topic) {
    bool open = false;
    std::uint64_t last = confirmed_;
    std::size_t count = 0;
    const auto visit = [&](const EventView& event) {
      if (!open) {
        KafkaError error(rd_kafka_begin_transaction(producer_.get()));
        if (error) {
          fatal_ = Error(ErrorCode::kIOError, "beginning a Kafka transaction: " + KafkaErrorText(error.get()));
          return false;
        }
        open = true;
      }
      fatal_ = Send(event);
      if (fatal_) return false;
      last = event.position;
      ++count;
      return true;
    };
    const std::size_t limit = confirmed_ < suspects_until_ ? 1 : options_.max_batch_events;
    auto polled = subscription.Poll(visit, limit, 100ms);
    if (!polled) return Fail(polled.error());
    const auto deadline = std::chrono::steady_clock::now() + options_.max_batch_delay;
    while (!fatal_ && count > 0 && count < limit && !stopping()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) break;
      polled = subscription.Poll(visit, limit - count, left);
      if (!polled) return Fail(polled.error());
      rd_kafka_poll(producer_.get(), 0);
    }
    if (fatal_) {
      if (open) KafkaError(rd_kafka_abort_transaction(producer_.get(), TimeoutMs()));
      inflight_.clear();
      ++round_;
      Error error = *std::exchange(fatal_, std::nullopt);
      if (error.code() == ErrorCode::kCancelled) return true;  // stopped: the aborted batch is published next time
      return Fail(std::move(error));
    }
    if (!open) {
      MaybeSaveStatus();
      return true;
    }
    // The checkpoint, as the group's committed offset: the next position to publish.
    rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, checkpoint_topic.c_str(), 0)->offset =
        static_cast<std::int64_t>(last + 1);
    rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata_new(GroupId().c_str());
    KafkaError error(rd_kafka_send_offsets_to_transaction(producer_.get(), offsets, group, TimeoutMs()));
    rd_kafka_consumer_group_metadata_destroy(group);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (!error) {
      error.reset(rd_kafka_commit_transaction(producer_.get(), TimeoutMs()));
      while (error && rd_kafka_error_is_retriable(error.get()) && !stopping()) {
        error.reset(rd_kafka_commit_transaction(producer_.get(), TimeoutMs()));
      }
    }
    if (!error) {
      for (InFlight& entry : inflight_) entry.state = InFlight::State::kDelivered;  // committed: all of them
      PopConfirmed();
      confirmed_ = last;
      MaybeSaveStatus();
      return true;
    }
    const std::string reason = "committing a Kafka transaction of positions " + std::to_string(confirmed_ + 1) +
                               "-" + std::to_string(last) + ": " + KafkaErrorText(error.get());
    if (rd_kafka_error_is_fatal(error.get()) || producer_fatal_) {
      inflight_.clear();
      const bool fenced = rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__FENCED ||
                          fatal_code_ == RD_KAFKA_RESP_ERR__FENCED ||
                          rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                          fatal_code_ == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
      if (fenced) {
        return Fail(ErrorCode::kBusy, "bridge \"" + config_.name +
                                          "\" was fenced: another relay with the same name took over its Kafka "
                                          "transactions (" + reason + ")");
      }
      return Fail(ErrorCode::kIOError, reason);
    }
    // Abortable: remember what Kafka refused for good, abort, start over.
    rd_kafka_poll(producer_.get(), 0);
    for (const InFlight& entry : inflight_) {
      if (entry.state != InFlight::State::kFailed || !IsPoisonError(entry.err) || entry.dead_letter) continue;
      if (count == 1) {
        poison_[entry.position] = {entry.err, "Kafka refused it: " + entry.error};
      } else {
        // Kafka refuses a whole batch for one record that is too large: the
        // suspects go again one per transaction to find the poison ones.
        suspects_until_ = std::max(suspects_until_, entry.position);
      }
    }
    KafkaError aborted(rd_kafka_abort_transaction(producer_.get(), TimeoutMs()));
    UpdateStatus([&](RelayStatus& s) { s.retried += inflight_.size(); });
    inflight_.clear();
    ++round_;
    failed_entries_ = 0;
    if (aborted && rd_kafka_error_is_fatal(aborted.get())) {
      return Fail(ErrorCode::kIOError, "aborting a Kafka transaction: " + KafkaErrorText(aborted.get()));
    }
    const bool found_poison = suspects_until_ > confirmed_ || std::any_of(poison_.begin(), poison_.end(), [&](const auto& item) {
      return item.first > confirmed_ && item.first <= last;
    });
    auto first_poison = poison_.lower_bound(confirmed_ + 1);
    if (first_poison != poison_.end() && first_poison->first <= last && config_.on_poison == OnPoison::kStop) {
      auto event = ReadEvent(first_poison->first);
      if (!event) return Fail(event.error());
      return Fail(ErrorCode::kInvalidArgument, EventName(event->view()) + " cannot be published: " +
                                                   first_poison->second.second +
                                                   " (on_poison = \"stop\"): the relay stops before it");
    }
    if (!found_poison) BackOff(reason);
    return false;
  }

  // The checkpoint Kafka has committed for this bridge; nullopt when none.
  Result<std::optional<std::uint64_t>> ReadKafkaCheckpoint(const std::string& checkpoint_topic) {
    const auto fail = [&](const std::string& why) {
      return Fail(ErrorCode::kIOError,
                  "reading the checkpoint of group " + GroupId() + " on " + checkpoint_topic + ": " + why);
    };
    rd_kafka_topic_partition_list_t* partitions = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(partitions, checkpoint_topic.c_str(), 0);
    rd_kafka_ListConsumerGroupOffsets_t* request = rd_kafka_ListConsumerGroupOffsets_new(GroupId().c_str(), partitions);
    rd_kafka_topic_partition_list_destroy(partitions);
    auto result = detail::RunAdminRequest(
        producer_.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, kKafkaTimeout,
        [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
          // Waits for transactions still open on the checkpoint: a stable offset only.
          KafkaError(rd_kafka_AdminOptions_set_require_stable_offsets(options, 1));
          rd_kafka_ListConsumerGroupOffsets(producer_.get(), &request, 1, options, queue);
        });
    rd_kafka_ListConsumerGroupOffsets_destroy(request);
    if (!result) return fail(result.error().message());
    size_t count = 0;
    const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(result->get()), &count);
    if (count != 1) return fail("Kafka answered for " + std::to_string(count) + " groups");
    if (const rd_kafka_error_t* error = rd_kafka_group_result_error(groups[0])) return fail(KafkaErrorText(error));
    const rd_kafka_topic_partition_list_t* offsets = rd_kafka_group_result_partitions(groups[0]);
    if (offsets == nullptr || offsets->cnt != 1) return fail("Kafka answered without the checkpoint's partition");
    if (offsets->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(KafkaErrorText(offsets->elems[0].err));
    // The committed offset is the next position to publish; none yet is negative.
    if (offsets->elems[0].offset < 1) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(offsets->elems[0].offset) - 1);
  }

  // ---- status ----

  void SetState(RelayState state) {
    UpdateStatus([state](RelayStatus& s) { s.state = state; });
  }

  template <typename Change>
  void UpdateStatus(Change&& change) {
    std::lock_guard lock(status_mutex_);
    change(status_);
  }

  // Saves the checkpoint with the status when it moved and checkpoint_interval
  // passed, or every kIdleStatusInterval.
  void MaybeSaveStatus() {
    const auto now = std::chrono::steady_clock::now();
    const bool moved = confirmed_ != saved_checkpoint_;
    if ((moved && now - last_save_ >= options_.checkpoint_interval) || now - last_save_ >= kIdleStatusInterval) {
      if (auto ok = SaveStatus(); !ok) Log("bridge " + config_.name + ": saving the checkpoint: " + ok.error().message());
    }
  }

  Status SaveStatus() {
    last_save_ = std::chrono::steady_clock::now();
    auto head = store_.HeadPosition();
    if (!head) return Fail(head.error());
    RelayStatus snapshot;
    {
      std::lock_guard lock(status_mutex_);
      status_.checkpoint = confirmed_;
      status_.head_position = *head;
      status_.lag_events = *head > confirmed_ ? *head - confirmed_ : 0;
      status_.lag_seconds = 0;
      status_.updated_at_us = NowUs();
      snapshot = status_;
    }
    if (snapshot.lag_events > 0) {
      auto oldest = ReadEvent(confirmed_ + 1);
      if (oldest) {
        snapshot.lag_seconds = std::max(0.0, static_cast<double>(snapshot.updated_at_us - oldest->recorded_at_us) / 1e6);
        UpdateStatus([&](RelayStatus& s) { s.lag_seconds = snapshot.lag_seconds; });
      }
    }
    auto saved = store_.SaveCheckpoint(checkpoint_name_, confirmed_, snapshot.ToJson());
    if (!saved) return saved;
    saved_checkpoint_ = confirmed_;
    if (options_.on_status) options_.on_status(snapshot);
    return {};
  }

  void Log(const std::string& line) {
    if (options_.log) {
      options_.log(line);
    } else {
      std::cerr << line << '\n';
    }
  }

  EventStore& store_;
  const BridgeConfig config_;
  const RelayOptions options_;
  RelayLock lock_;
  const KafkaProperties properties_;
  const std::string checkpoint_name_;
  KafkaHandle producer_;
  Envelope envelope_;  // reused for every event
  std::string value_;
  UpcastedEvent upcast_;  // publish = "newest": the event as published

  std::atomic<bool> stop_{false};
  std::optional<std::uint64_t> target_;

  std::uint64_t confirmed_ = 0;  // the checkpoint: every position up to it is confirmed
  std::deque<InFlight> inflight_;
  std::uint16_t round_ = 0;  // bumped whenever inflight_ is abandoned: older delivery reports are ignored
  std::size_t failed_entries_ = 0;
  std::optional<std::string> retry_reason_;
  // Kafka refused a batch as too large up to this position: until the
  // checkpoint passes it, events go one at a time (isolating_) to find the poison ones.
  std::uint64_t suspects_until_ = 0;
  bool isolating_ = false;
  bool restart_now_ = false;
  std::optional<Error> fatal_;
  bool producer_fatal_ = false;
  rd_kafka_resp_err_t fatal_code_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  // Positions Kafka refused for good in an aborted transaction, with the error.
  std::map<std::uint64_t, std::pair<rd_kafka_resp_err_t, std::string>> poison_;
  std::map<std::uint64_t, std::uint32_t> attempts_;
  std::set<std::uint64_t> already_delivered_;  // past the checkpoint, confirmed before a round started over  // dead-letter sends per position
  std::uint32_t consecutive_failures_ = 0;
  std::mt19937_64 random_;

  std::uint64_t saved_checkpoint_ = UINT64_MAX;
  std::chrono::steady_clock::time_point last_save_{};

  mutable std::mutex status_mutex_;
  RelayStatus status_;
};

}  // namespace

std::string_view RelayStateName(RelayState state) {
  switch (state) {
    case RelayState::kStarting: return "starting";
    case RelayState::kLive: return "live";
    case RelayState::kRetrying: return "retrying";
    case RelayState::kStopped: return "stopped";
    case RelayState::kFailed: return "failed";
  }
  return "unknown";
}

std::string RelayCheckpointName(std::string_view bridge_name) { return "bridge:" + std::string(bridge_name); }

std::string RelayStatus::ToJson() const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  const auto text = [&json](std::string_view value) {
    json.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  json.StartObject();
  json.Key("bridge");
  text(bridge);
  json.Key("mode");
  text(mode == DeliveryMode::kExactlyOnce ? "exactly-once" : "idempotent");
  json.Key("state");
  text(RelayStateName(state));
  json.Key("checkpoint");
  json.Uint64(checkpoint);
  json.Key("head_position");
  json.Uint64(head_position);
  json.Key("lag_events");
  json.Uint64(lag_events);
  json.Key("lag_seconds");
  json.Double(std::round(lag_seconds * 1000) / 1000);
  json.Key("published");
  json.Uint64(published);
  json.Key("retried");
  json.Uint64(retried);
  json.Key("dead_lettered");
  json.Uint64(dead_lettered);
  json.Key("failures");
  json.Uint64(failures);
  json.Key("last_error");
  text(last_error);
  json.Key("updated_at");
  text(FormatTimestamp(updated_at_us));
  json.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

Result<RelayStatus> ParseRelayStatus(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  const auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, "a relay status: " + what); };
  if (doc.HasParseError() || !doc.IsObject()) return bad("not a JSON object");
  RelayStatus status;
  const auto string = [&](const char* name, std::string& out) {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsString()) return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
  };
  const auto number = [&](const char* name, std::uint64_t& out) {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsUint64()) return false;
    out = it->value.GetUint64();
    return true;
  };
  std::string mode, state, updated_at;
  if (!string("bridge", status.bridge) || !string("mode", mode) || !string("state", state) ||
      !string("last_error", status.last_error) || !string("updated_at", updated_at)) {
    return bad("a member is missing or not a string");
  }
  if (!number("checkpoint", status.checkpoint) || !number("head_position", status.head_position) ||
      !number("lag_events", status.lag_events) || !number("published", status.published) ||
      !number("retried", status.retried) || !number("dead_lettered", status.dead_lettered) ||
      !number("failures", status.failures)) {
    return bad("a count is missing or not a non-negative integer");
  }
  auto lag = doc.FindMember("lag_seconds");
  if (lag == doc.MemberEnd() || !lag->value.IsNumber()) return bad("lag_seconds is missing");
  status.lag_seconds = lag->value.GetDouble();
  status.mode = mode == "exactly-once" ? DeliveryMode::kExactlyOnce : DeliveryMode::kIdempotent;
  bool known = false;
  for (RelayState candidate : {RelayState::kStarting, RelayState::kLive, RelayState::kRetrying, RelayState::kStopped,
                               RelayState::kFailed}) {
    if (RelayStateName(candidate) == state) {
      status.state = candidate;
      known = true;
    }
  }
  if (!known) return bad("unknown state \"" + state + "\"");
  auto time = detail::ParseIsoTimestamp(updated_at);
  if (!time) return bad("updated_at: " + time.error());
  status.updated_at_us = *time;
  return status;
}

Result<std::optional<SavedRelayStatus>> ReadRelayStatus(EventStore& store, std::string_view bridge_name) {
  auto checkpoint = store.ReadCheckpoint(RelayCheckpointName(bridge_name));
  if (!checkpoint) return Fail(checkpoint.error());
  if (!*checkpoint) return std::optional<SavedRelayStatus>();
  SavedRelayStatus saved{.checkpoint = std::move(**checkpoint)};
  if (auto status = ParseRelayStatus(saved.checkpoint.detail)) saved.status = std::move(*status);
  return std::optional<SavedRelayStatus>(std::move(saved));
}

Result<std::unique_ptr<Relay>> Relay::Open(EventStore& store, BridgeConfig config, RelayOptions options) {
  if (options.max_batch_events == 0) return Fail(ErrorCode::kInvalidArgument, "max_batch_events must be at least 1");
  // The relay's own settings first, so that the bridge file and -X can tune
  // them; then the two that make the delivery guarantees, which they cannot.
  KafkaProperties properties{
      {"partitioner", "murmur2_random"},
      {"reconnect.backoff.ms", std::to_string(config.retry.initial_backoff.count())},
      {"reconnect.backoff.max.ms", std::to_string(config.retry.max_backoff.count())},
      {"retry.backoff.ms", std::to_string(std::min<std::int64_t>(config.retry.initial_backoff.count(), 300'000))}};
  if (config.mode == DeliveryMode::kIdempotent) {
    properties.emplace_back("message.timeout.ms", std::string(kIdempotentMessageTimeoutMs));
  }
  properties.insert(properties.end(), config.kafka.begin(), config.kafka.end());
  for (const auto& [name, value] : options.kafka_overrides) {
    if (name == "enable.idempotence" || name == "transactional.id") {
      return Fail(ErrorCode::kInvalidArgument, "Kafka property " + name +
                                                   " is set by the bridge (from its mode and name), not by -X");
    }
    properties.emplace_back(name, value);
  }
  if (detail::FindProperty(properties, "bootstrap.servers").empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "bridge \"" + config.name + "\" has no Kafka bootstrap.servers: set it under [kafka] or with -X");
  }
  properties.emplace_back("enable.idempotence", "true");
  if (config.mode == DeliveryMode::kExactlyOnce) properties.emplace_back("transactional.id", "cairn-bridge." + config.name);

  auto lock = RelayLock::Acquire(store.path(), config.name);
  if (!lock) return Fail(lock.error());
  auto relay = std::make_unique<RelayImpl>(store, std::move(config), std::move(options), std::move(*lock),
                                           std::move(properties));
  if (auto ok = relay->CreateProducer(); !ok) return Fail(ok.error());
  return std::unique_ptr<Relay>(std::move(relay));
}

}  // namespace cairn
