// cairn/relay.h — the Kafka relay: every committed event republished as an envelope.
//
// A Relay reads the store's log from its checkpoint on and produces each event
// to the topic its bridge file routes it to (key = stream, value = the
// envelope, headers = EnvelopeHeaders), with librdkafka's idempotent producer,
// murmur2 partitioning (the Java client's: both agree on key → partition).
//
//  - mode "idempotent": the checkpoint, kept in the store file under the name
//    "bridge:<name>", advances only past events whose delivery Kafka confirmed,
//    in position order; after a failure the relay produces again from it. At
//    least once: a crash may republish the events after the checkpoint.
//  - mode "exactly-once": each batch is one Kafka transaction that also commits
//    the relay's checkpoint (the offset of the group "cairn-bridge.<name>" on
//    the checkpoint topic), so a read_committed consumer sees every event once,
//    crash or not. A second relay with the same name fences the first.
//
// The relay never writes the log: appends go on at full speed whether Kafka is
// up or not. Kafka away: librdkafka keeps every message and reconnects with the
// bridge file's backoff, and the relay waits while its queue is full; what
// fails (a transaction, a send with a finite message.timeout.ms) makes the relay
// back off (capped exponential, jitter: BridgeConfig::retry) and produce again
// from its checkpoint — nothing is skipped, no stream's order is broken.
//
//   auto config = cairn::LoadBridgeConfig("orders.toml");
//   auto relay = cairn::Relay::Open(*store, *config);
//   if (!relay) return fail(relay.error());
//   std::jthread stopper = ...;                 // (*relay)->Stop() on SIGTERM
//   cairn::Status ran = (*relay)->Run();         // until Stop(): flushes, saves the checkpoint
//
// docs/bridge.md "The relay" has the details: delivery, poison events, the
// dead-letter messages, status and metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/bridge_config.h"
#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn {

enum class RelayState : std::uint8_t {
  kStarting,  // connecting, checking topics, reading the checkpoint
  kLive,      // publishing; caught up or catching up
  kRetrying,  // a send failed or Kafka is unreachable: waiting, then producing again from the checkpoint
  kStopped,   // Run returned after Stop() or RunToHead(): everything confirmed is checkpointed
  kFailed,    // Run returned an error (a poison event with on_poison = "stop", an unroutable event, fenced, …)
};
std::string_view RelayStateName(RelayState state);  // "starting", "live", "retrying", "stopped", "failed"

// What a relay reports: Relay::status(), and saved with its checkpoint for
// `cairn bridge status` (ReadRelayStatus).
struct RelayStatus {
  std::string bridge;
  DeliveryMode mode = DeliveryMode::kIdempotent;
  RelayState state = RelayState::kStarting;
  std::uint64_t checkpoint = 0;     // every event at or before it is confirmed published (or dead-lettered)
  std::uint64_t head_position = 0;  // the log's head when last looked at
  std::uint64_t lag_events = 0;     // head_position - checkpoint
  double lag_seconds = 0;           // age of the oldest event not yet confirmed; 0 when caught up
  std::uint64_t published = 0;      // events confirmed, since the relay started
  std::uint64_t retried = 0;        // events produced again after a failure
  std::uint64_t dead_lettered = 0;  // poison events sent to a dead-letter topic
  std::uint64_t failures = 0;       // Kafka lost (all brokers down), and failed sends or transactions that made it back off
  std::string last_error;           // the latest failure, empty when there was none
  std::int64_t updated_at_us = 0;   // when this status was taken

  // One JSON object (the checkpoint's detail; `cairn bridge status` prints it).
  std::string ToJson() const;
};
Result<RelayStatus> ParseRelayStatus(std::string_view json);

struct RelayOptions {
  // librdkafka properties applied after the bridge file's [kafka] (`cairn bridge run -X`).
  std::vector<std::pair<std::string, std::string>> kafka_overrides;
  // At most this many events produced and not yet confirmed (idempotent mode),
  // or per transaction (exactly-once mode).
  std::size_t max_batch_events = 10'000;
  // Exactly-once mode: a transaction commits after this long (or max_batch_events), bounding latency.
  std::chrono::milliseconds max_batch_delay{50};
  // How often the checkpoint and status are saved to the store while events
  // flow (each save is one small durable write). Idle, every 5 s.
  std::chrono::milliseconds checkpoint_interval{250};
  // Called with each status saved, from Run's thread; may be empty.
  std::function<void(const RelayStatus&)> on_status;
  // Receives the relay's log lines (failures, retries, dead-lettering); stderr when empty.
  std::function<void(std::string_view)> log;
};

// Runs one bridge over one store. Run from one thread; Stop() and status() from any.
class Relay {
 public:
  // Checks the configuration against librdkafka (a refused property is
  // kInvalidArgument naming it), creates the producer, and refuses
  // (kBusy) while another relay of the same bridge runs on this store.
  // `store` must outlive the relay and be open for writing.
  static Result<std::unique_ptr<Relay>> Open(EventStore& store, BridgeConfig config, RelayOptions options = {});

  virtual ~Relay() = default;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Publishes from the checkpoint on, then follows new commits, until Stop():
  // then waits for what was produced, saves the checkpoint and returns OK.
  // Errors end it (state kFailed): kNotFound for a topic Kafka does not have,
  // kInvalidArgument for an unroutable event (on_unroutable = "error") or a
  // poison event (on_poison = "stop") — the message names the event, and the
  // checkpoint stays just before it — kAborted when fenced by another relay.
  virtual Status Run() = 0;
  // As Run, but returns once every event committed before the call is confirmed.
  virtual Status RunToHead() = 0;
  // Makes Run return soon, cleanly. Any thread; async-signal-safe.
  virtual void Stop() = 0;
  virtual RelayStatus status() const = 0;

 protected:
  Relay() = default;
};

// The name a bridge's checkpoint has in the store: "bridge:<name>".
std::string RelayCheckpointName(std::string_view bridge_name);

// The checkpoint and last saved status of bridge `bridge_name` in `store`;
// nullopt when it never ran there.
struct SavedRelayStatus {
  Checkpoint checkpoint;
  std::optional<RelayStatus> status;  // nullopt when the detail is not a status (malformed)
};
Result<std::optional<SavedRelayStatus>> ReadRelayStatus(EventStore& store, std::string_view bridge_name);

}  // namespace cairn
