// cairn bridge run|status|topics: the Kafka relay from the command line.
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "cairn/bridge_config.h"
#include "cairn/relay.h"
#include "commands.h"

namespace cairn::cli {
namespace {

CliResult<BridgeConfig> LoadConfig(const std::string& path) {
  auto config = LoadBridgeConfig(path);
  if (!config) {
    const int code = config.error().code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitError;
    return Fail(Failure{code, config.error().message(), ErrorCodeName(config.error().code())});
  }
  return std::move(*config);
}

// "key=value" → (key, value); a usage error naming the option otherwise.
CliResult<std::pair<std::string, std::string>> SplitProperty(const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return UsageError(fmt::format("-X {}: expected a librdkafka property as key=value", text));
  }
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

void AddStatus(Record& record, const RelayStatus& status) {
  record.Add("bridge", status.bridge)
      .Add("mode", status.mode == DeliveryMode::kExactlyOnce ? "exactly-once" : "idempotent")
      .Add("state", RelayStateName(status.state))
      .Add("checkpoint", status.checkpoint)
      .Add("head_position", status.head_position)
      .Add("lag_events", status.lag_events)
      .AddReal("lag_seconds", status.lag_seconds)
      .Add("published", status.published)
      .Add("retried", status.retried)
      .Add("dead_lettered", status.dead_lettered)
      .Add("failures", status.failures)
      .Add("last_error", status.last_error);
}

}  // namespace

CliStatus RunBridgeRun(const GlobalOptions& global, const BridgeRunCommand& command) {
  auto config = LoadConfig(command.config);
  if (!config) return Fail(config.error());
  RelayOptions options;
  for (const std::string& text : command.kafka_properties) {
    auto property = SplitProperty(text);
    if (!property) return Fail(property.error());
    options.kafka_overrides.push_back(std::move(*property));
  }
  options.log = [](std::string_view line) { std::fprintf(stderr, "cairn: %.*s\n", static_cast<int>(line.size()), line.data()); };
  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  const std::string name = config->name;
  auto relay = Relay::Open(**store, std::move(*config), std::move(options));
  if (!relay) {
    const int code = relay.error().code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitError;
    return Fail(Failure{code, fmt::format("bridge {}: {}", name, relay.error().message()),
                        ErrorCodeName(relay.error().code())});
  }
  Status ran;
  bool interrupted = false;
  {
    // Run blocks this thread; another one turns SIGINT/SIGTERM into Stop().
    StopOnSignal on_signal([&relay] { (*relay)->Stop(); });
    ran = command.to_head ? (*relay)->RunToHead() : (*relay)->Run();
    interrupted = on_signal.interrupted();
  }
  Record record;
  AddStatus(record, (*relay)->status());
  record.Print(global.format);
  if (!ran) return Fail(StoreFailure(ran.error(), fmt::format("bridge {}", name)));
  if (interrupted && command.to_head) {
    return Fail(Failure{kExitError, "interrupted before the head was published (run again to go on)",
                        ErrorCodeName(ErrorCode::kCancelled)});
  }
  return {};
}

CliStatus RunBridgeStatus(const GlobalOptions& global, const BridgeStatusCommand& command) {
  auto config = LoadConfig(command.config);
  if (!config) return Fail(config.error());
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  auto saved = ReadRelayStatus(**store, config->name);
  if (!saved) return Fail(StoreFailure(saved.error(), fmt::format("bridge {}", config->name)));
  auto head = (*store)->HeadPosition();
  if (!head) return Fail(StoreFailure(head.error()));
  // The last status the relay saved, with the lag taken now against the store's head.
  RelayStatus status{.bridge = config->name, .mode = config->mode, .state = RelayState::kStopped};
  std::optional<std::int64_t> saved_at;
  if (*saved) {
    if ((*saved)->status) status = *(*saved)->status;
    status.checkpoint = (*saved)->checkpoint.position;
    saved_at = (*saved)->checkpoint.saved_at_us;
  }
  status.head_position = *head;
  status.lag_events = *head > status.checkpoint ? *head - status.checkpoint : 0;
  status.lag_seconds = 0;
  if (status.lag_events > 0) {
    (*store)->ReadLog({.from_position = status.checkpoint + 1, .max_count = 1}, [&](const EventView& event) {
      const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      status.lag_seconds = std::max(0.0, static_cast<double>(now - event.recorded_at_us) / 1e6);
      return false;
    });
  }
  Record record;
  AddStatus(record, status);
  if (saved_at) {
    record.Add("saved_at", FormatTimestamp(*saved_at));
  } else {
    record.AddNull("saved_at");
  }
  record.Print(global.format);
  return {};
}

CliStatus RunBridgeTopics(const GlobalOptions& global, const BridgeTopicsCommand& command) {
  auto config = LoadConfig(command.config);
  if (!config) return Fail(config.error());
  const auto print = [&](const std::string& topic, std::string_view role) {
    Record().Add("topic", topic).Add("role", role).Print(global.format);
  };
  for (const std::string& topic : config->Topics()) {
    bool routed = false;
    for (const RouteRule& rule : config->routes) routed = routed || rule.topic == topic;
    print(topic, routed ? "route" : topic == config->default_topic ? "default" : "dead-letter");
  }
  if (config->mode == DeliveryMode::kExactlyOnce) print(config->CheckpointTopic(), "checkpoint");
  return {};
}

}  // namespace cairn::cli
