// Bridge files: the TOML subset of projections/projection_file.h, read into a
// BridgeConfig with every error at its line (see cairn/bridge_config.h and
// docs/bridge.md "The bridge file").
#include "cairn/bridge_config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cairn/upcast.h"
#include "cairn/file.h"
#include "projection_file.h"

namespace cairn {
namespace {

using detail::TomlTable;
using detail::TomlValue;

constexpr std::size_t kMaxTopicLength = 249;  // Kafka's limit
constexpr std::string_view kTopicPlaceholder = "<topic>";

std::vector<std::string_view> SplitDots(std::string_view text) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t dot = text.find('.');
    parts.push_back(text.substr(0, dot));
    if (dot == std::string_view::npos) return parts;
    text.remove_prefix(dot + 1);
  }
}

bool IsTopicChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// The character rules every topic follows, whatever the convention.
Status CheckTopicSyntax(std::string_view topic) {
  const auto fail = [&](std::string why) {
    return Fail(ErrorCode::kInvalidArgument, "topic " + Quoted(topic) + ": " + std::move(why));
  };
  if (topic.empty()) return fail("a topic name cannot be empty");
  if (topic.size() > kMaxTopicLength) {
    return fail(std::to_string(topic.size()) + " characters, more than Kafka's " + std::to_string(kMaxTopicLength));
  }
  for (const char c : topic) {
    if (IsTopicChar(c) || c == '.') continue;
    if (c == '_') {
      return fail("'_' is not allowed: separate words with '.' or '-' (lower-case a-z, 0-9, '-' and '.' only)");
    }
    if (c >= 'A' && c <= 'Z') return fail("upper case is not allowed (lower-case a-z, 0-9, '-' and '.' only)");
    const auto u = static_cast<unsigned char>(c);
    return fail((u >= 0x20 && u < 0x7f ? "'" + std::string(1, c) + "'"
                                       : std::string("a non-printable or non-ASCII character")) +
                " is not allowed (lower-case a-z, 0-9, '-' and '.' only)");
  }
  for (std::string_view segment : SplitDots(topic)) {
    if (segment.empty()) return fail("empty segment (a leading, trailing or doubled '.')");
  }
  return {};
}

// "*" stands for one segment; anything else must be equal.
bool TypeMatches(std::string_view pattern, std::string_view type) {
  for (;;) {
    const std::size_t p_dot = pattern.find('.');
    const std::size_t t_dot = type.find('.');
    const std::string_view p = pattern.substr(0, p_dot);
    const std::string_view t = type.substr(0, t_dot);
    if (p != "*" && p != t) return false;
    if (p_dot == std::string_view::npos || t_dot == std::string_view::npos) {
      return p_dot == std::string_view::npos && t_dot == std::string_view::npos;
    }
    pattern.remove_prefix(p_dot + 1);
    type.remove_prefix(t_dot + 1);
  }
}

// True when every type `inner` matches is matched by `outer` too.
bool PatternCovers(std::string_view outer, std::string_view inner) {
  const auto a = SplitDots(outer);
  const auto b = SplitDots(inner);
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != "*" && a[i] != b[i]) return false;
  }
  return true;
}

// True when `earlier` matches every event `later` does (so `later` never decides).
bool Shadows(const RouteRule& earlier, const RouteRule& later) {
  if (!earlier.category.empty() && earlier.category != later.category) return false;
  if (earlier.event_type.empty()) return true;
  return !later.event_type.empty() && PatternCovers(earlier.event_type, later.event_type);
}

class Loader : detail::TomlFileChecks {
 public:
  explicit Loader(std::string_view file_name) : TomlFileChecks(file_name) {}

  Result<BridgeConfig> Load(std::string_view text) {
    auto document = detail::ParseToml(text, file_);
    if (!document) return Fail(RenameFileKind(document.error()));
    if (auto read = ReadRoot(*document); !read) return Fail(read.error());
    return std::move(config_);
  }

 private:
  // The parser is written for SQL projection files and says so in one
  // message; a bridge file has its own way to say what it wants instead.
  static Error RenameFileKind(const Error& error) {
    static constexpr std::string_view kProjectionWords = "are not supported in SQL projection files";
    std::string message = error.message();
    if (const std::size_t at = message.find(kProjectionWords); at != std::string::npos) {
      message.replace(at, kProjectionWords.size(),
                      "are not supported in bridge files: write each route as its own [route.NAME] table");
    }
    return Error(error.code(), std::move(message));
  }


  // One of `choices` (a string); its index.
  Result<std::size_t> ExpectChoice(const TomlValue& value, std::string_view path,
                                   std::initializer_list<std::string_view> choices) const {
    if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return Fail(kind.error());
    std::size_t index = 0;
    std::string list;
    for (std::string_view choice : choices) {
      if (value.string == choice) return index;
      list += (index == 0 ? "" : index + 1 == choices.size() ? " or " : ", ") + Quoted(choice);
      ++index;
    }
    return At(value.line, std::string(path) + " must be " + list + ", not " + Quoted(value.string));
  }

  Status CheckTopic(std::string_view topic, int line, std::string_view path) const {
    if (auto valid = config_.topic_convention.Check(topic); !valid) {
      std::string message = std::string(path) + ": " + valid.error().message();
      if (config_.topic_convention.text() != "dotted") {
        message += " (bridge.topic_convention = " + Quoted(config_.topic_convention.text()) + ", line " +
                   std::to_string(convention_line_) + ")";
      }
      return At(line, std::move(message));
    }
    return {};
  }

  Status ReadRoot(const TomlTable& root) {
    const TomlValue* bridge = nullptr;
    const TomlValue* routes = nullptr;
    for (const auto& [key, value] : root.entries) {
      if (key != "bridge" && key != "route" && key != "kafka" && key != "retry") {
        return At(value.line, "unknown key " + detail::TomlQuoteKey(key) +
                                  " (a bridge file has the tables [bridge], [route.NAME], [kafka] and [retry])");
      }
      if (auto kind = ExpectKind(value, TomlValue::Kind::kTable, key); !kind) return kind;
      if (key == "bridge") {
        bridge = &value;
      } else if (key == "route") {
        routes = &value;  // read after [bridge], whose convention their topics follow
      } else if (key == "kafka") {
        if (auto read = ReadKafka(*value.table, ""); !read) return read;
      } else if (auto read = ReadRetry(*value.table); !read) {
        return read;
      }
    }
    if (bridge == nullptr) return At(1, "no [bridge] table (with name and source_service)");
    if (auto read = ReadBridge(*bridge->table); !read) return read;
    if (routes != nullptr) {
      for (const auto& [name, value] : routes->table->entries) {
        if (auto read = ReadRoute(name, value); !read) return read;
      }
    }
    return CheckWhole(*bridge->table, routes);
  }

  Status ReadBridge(const TomlTable& table) {
    bool has_name = false;
    bool has_source = false;
    for (const auto& [key, value] : table.entries) {
      const std::string path = Join("bridge", key);
      if (key == "name") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        const std::string& name = value.string;
        const bool valid = !name.empty() && name.size() <= 128 &&
                           std::all_of(name.begin(), name.end(), [](char c) { return IsTopicChar(c) || c == '.'; });
        if (!valid) {
          return At(value.line, "invalid bridge name " + Quoted(name) +
                                    ": use 1 to 128 lower-case letters, digits, '-' and '.' ([a-z0-9.-])");
        }
        config_.name = name;
        has_name = true;
      } else if (key == "source_service") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        if (auto valid = ValidateSourceService(value.string); !valid) {
          return At(value.line, "bridge.source_service " + Quoted(value.string) + ": " + valid.error().message());
        }
        config_.source_service = value.string;
        has_source = true;
      } else if (key == "format") {
        auto choice = ExpectChoice(value, path, {"json", "capnp"});
        if (!choice) return Fail(choice.error());
        config_.format = *choice == 0 ? EnvelopeFormat::kJson : EnvelopeFormat::kCapnp;
      } else if (key == "mode") {
        auto choice = ExpectChoice(value, path, {"idempotent", "exactly-once"});
        if (!choice) return Fail(choice.error());
        config_.mode = *choice == 0 ? DeliveryMode::kIdempotent : DeliveryMode::kExactlyOnce;
      } else if (key == "on_unroutable") {
        auto choice = ExpectChoice(value, path, {"error", "default"});
        if (!choice) return Fail(choice.error());
        config_.on_unroutable = *choice == 0 ? OnUnroutable::kError : OnUnroutable::kDefault;
        on_unroutable_ = &value;
      } else if (key == "default_topic") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        config_.default_topic = value.string;
        default_topic_ = &value;
      } else if (key == "on_poison") {
        auto choice = ExpectChoice(value, path, {"stop", "dlq"});
        if (!choice) return Fail(choice.error());
        config_.on_poison = *choice == 0 ? OnPoison::kStop : OnPoison::kDeadLetter;
        on_poison_ = &value;
      } else if (key == "dlq_topic") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        config_.dlq_topic = value.string;
        dlq_topic_ = &value;
      } else if (key == "publish") {
        auto choice = ExpectChoice(value, path, {"stored", "newest"});
        if (!choice) return Fail(choice.error());
        config_.publish = *choice == 0 ? PublishVersion::kStored : PublishVersion::kNewest;
        publish_ = &value;
      } else if (key == "upcasters") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        // Relative to the bridge file, so that the two travel together.
        std::filesystem::path file = value.string;
        if (file.is_relative()) file = std::filesystem::path(file_).parent_path() / file;
        auto loaded = LoadUpcasterFile(file.string());
        if (!loaded) return At(value.line, path + ": " + loaded.error().message());
        config_.upcasters = std::make_shared<const Upcasters>(std::move(*loaded));
        upcasters_ = &value;
      } else if (key == "checkpoint_topic") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        const std::string& topic = value.string;
        const bool legal = !topic.empty() && topic.size() <= 249 && topic != "." && topic != ".." &&
                           std::all_of(topic.begin(), topic.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                    c == '.' || c == '_' || c == '-';
                           });
        if (!legal) {
          return At(value.line, "bridge.checkpoint_topic " + Quoted(topic) +
                                    " is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-')");
        }
        config_.checkpoint_topic = topic;
        checkpoint_topic_ = &value;
      } else if (key == "topic_convention") {
        if (auto kind = ExpectKind(value, TomlValue::Kind::kString, path); !kind) return kind;
        auto convention = TopicConvention::Parse(value.string);
        if (!convention) return At(value.line, "bridge.topic_convention: " + convention.error().message());
        config_.topic_convention = std::move(*convention);
        convention_line_ = value.line;
      } else {
        return At(value.line, "unknown key " + path +
                                  " (expected name, source_service, format, mode, on_unroutable, default_topic, "
                                  "on_poison, dlq_topic, checkpoint_topic, topic_convention, publish, upcasters)");
      }
    }
    if (!has_name) return At(table.line, "[bridge] has no name");
    if (!has_source) return At(table.line, "[bridge] has no source_service (the envelopes' source_service)");
    if (config_.publish == PublishVersion::kNewest && upcasters_ == nullptr) {
      return At(publish_->line, "bridge.publish = \"newest\" needs bridge.upcasters (the file that says what the newest "
                                "version of each type is)");
    }
    if (upcasters_ != nullptr && config_.publish != PublishVersion::kNewest) {
      return At(upcasters_->line, "bridge.upcasters is used only with publish = \"newest\" (events are published as "
                                  "stored otherwise)");
    }
    if (checkpoint_topic_ != nullptr && config_.mode != DeliveryMode::kExactlyOnce) {
      return At(checkpoint_topic_->line,
                "bridge.checkpoint_topic is used only with mode = \"exactly-once\" (an idempotent relay keeps "
                "its checkpoint in the store)");
    }
    return {};
  }

  Status ReadRoute(const std::string& name, const TomlValue& value) {
    const std::string path = Join("route", name);
    if (value.kind != TomlValue::Kind::kTable) {
      return At(value.line, path + " must be a table ([" + path + "] with topic and category or event_type), not " +
                                std::string(detail::TomlKindName(value.kind)));
    }
    RouteRule rule;
    rule.name = name;
    rule.line = value.table->line;
    bool has_topic = false;
    for (const auto& [key, entry] : value.table->entries) {
      const std::string entry_path = Join(path, key);
      if (key != "category" && key != "event_type" && key != "topic") {
        return At(entry.line, "unknown key " + entry_path + " (expected category, event_type and topic)");
      }
      if (auto kind = ExpectKind(entry, TomlValue::Kind::kString, entry_path); !kind) return kind;
      if (key == "category") {
        if (auto valid = ValidateStreamName(entry.string); !valid) {
          return At(entry.line, "invalid category " + Quoted(entry.string) + ": " + valid.error().message());
        }
        if (entry.string.find('-') != std::string::npos) {
          return At(entry.line, "invalid category " + Quoted(entry.string) +
                                    ": a category is the part of a stream name before its first '-'");
        }
        rule.category = entry.string;
      } else if (key == "event_type") {
        if (auto valid = ValidateEventType(entry.string); !valid) {
          return At(entry.line, "invalid event_type pattern " + Quoted(entry.string) + ": " + valid.error().message());
        }
        for (std::string_view segment : SplitDots(entry.string)) {
          if (segment != "*" && segment.find('*') != std::string_view::npos) {
            return At(entry.line, "invalid event_type pattern " + Quoted(entry.string) + ": '*' stands for a whole " +
                                      "segment (\"order.*.v1\"), not part of one (\"" + std::string(segment) + "\")");
          }
        }
        rule.event_type = entry.string;
      } else {
        if (auto valid = CheckTopic(entry.string, entry.line, entry_path); !valid) return valid;
        rule.topic = entry.string;
        topic_lines_.emplace_back(entry.string, entry.line);
        has_topic = true;
      }
    }
    if (!has_topic) return At(rule.line, "[" + path + "] has no topic");
    if (rule.category.empty() && rule.event_type.empty()) {
      return At(rule.line, "[" + path + "] has neither category nor event_type: give one or both (an event that no " +
                               "route matches goes to bridge.default_topic when on_unroutable = \"default\")");
    }
    for (const RouteRule& earlier : config_.routes) {
      if (Shadows(earlier, rule)) {
        return At(rule.line, "[" + path + "] can never match: [" + Join("route", earlier.name) + "] (line " +
                                 std::to_string(earlier.line) + ") matches every event it does, and the first " +
                                 "matching route wins");
      }
    }
    config_.routes.push_back(std::move(rule));
    return {};
  }

  // [kafka], flattened: `bootstrap.servers = "..."` is a dotted key to TOML
  // (a sub-table), and the librdkafka property "bootstrap.servers" here.
  Status ReadKafka(const TomlTable& table, const std::string& prefix) {
    for (const auto& [key, value] : table.entries) {
      const std::string property = prefix.empty() ? key : prefix + "." + key;
      const std::string path = "kafka." + detail::TomlQuoteKey(property);
      std::string text;
      switch (value.kind) {
        case TomlValue::Kind::kTable:
          if (auto read = ReadKafka(*value.table, property); !read) return read;
          continue;
        case TomlValue::Kind::kString:
          text = value.string;
          break;
        case TomlValue::Kind::kInteger:
          text = std::to_string(value.integer);
          break;
        case TomlValue::Kind::kBoolean:
          text = value.boolean ? "true" : "false";
          break;
        case TomlValue::Kind::kArray:
          return At(value.line, path +
                                    " must be a string, an integer or a boolean; librdkafka takes lists as one "
                                    "comma-separated string");
      }
      if (property == "enable.idempotence" || property == "transactional.id") {
        return At(value.line, path + " is set by the bridge (from bridge.mode and bridge.name); remove it");
      }
      for (std::size_t i = 0; i < config_.kafka.size(); ++i) {
        if (config_.kafka[i].first == property) {
          return At(value.line, "duplicate kafka property " + Quoted(property) + " (first given at line " +
                                    std::to_string(kafka_lines_[i]) + ")");
        }
      }
      config_.kafka.emplace_back(property, std::move(text));
      kafka_lines_.push_back(value.line);
    }
    return {};
  }

  Status ReadRetry(const TomlTable& table) {
    const TomlValue* initial = nullptr;
    const TomlValue* max = nullptr;
    for (const auto& [key, value] : table.entries) {
      const std::string path = Join("retry", key);
      if (key == "initial_backoff_ms") {
        if (auto range = ExpectRange(value, path, 1, 3'600'000); !range) return range;
        config_.retry.initial_backoff = std::chrono::milliseconds(value.integer);
        initial = &value;
      } else if (key == "max_backoff_ms") {
        if (auto range = ExpectRange(value, path, 1, 3'600'000); !range) return range;
        config_.retry.max_backoff = std::chrono::milliseconds(value.integer);
        max = &value;
      } else if (key == "jitter_percent") {
        if (auto range = ExpectRange(value, path, 0, 100); !range) return range;
        config_.retry.jitter_percent = static_cast<std::uint32_t>(value.integer);
      } else {
        return At(value.line, "unknown key " + path + " (expected initial_backoff_ms, max_backoff_ms, jitter_percent)");
      }
    }
    if (config_.retry.max_backoff < config_.retry.initial_backoff) {
      const TomlValue* at = max != nullptr ? max : initial;
      return At(at->line, "retry.max_backoff_ms (" + std::to_string(config_.retry.max_backoff.count()) +
                              (max != nullptr ? "" : ", the default") + ") is less than retry.initial_backoff_ms (" +
                              std::to_string(config_.retry.initial_backoff.count()) + ")");
    }
    return {};
  }

  // What no single key can tell: choices that need another key, and the
  // dead-letter topics.
  Status CheckWhole(const TomlTable& bridge, const TomlValue* routes) {
    if (config_.on_unroutable == OnUnroutable::kDefault) {
      if (default_topic_ == nullptr) {
        return At(on_unroutable_->line, "bridge.on_unroutable = \"default\" needs bridge.default_topic");
      }
      if (auto valid = CheckTopic(config_.default_topic, default_topic_->line, "bridge.default_topic"); !valid) {
        return valid;
      }
      topic_lines_.emplace_back(config_.default_topic, default_topic_->line);
    } else if (default_topic_ != nullptr) {
      return At(default_topic_->line,
                "bridge.default_topic is used only with on_unroutable = \"default\" " +
                    std::string("(unroutable events are errors now); remove it or set on_unroutable"));
    }
    if (config_.routes.empty() && config_.on_unroutable == OnUnroutable::kError) {
      return At(routes != nullptr ? routes->line : bridge.line,
                "no [route.NAME] table and on_unroutable = \"error\": every event would be unroutable");
    }
    if (config_.on_poison != OnPoison::kDeadLetter) {
      if (dlq_topic_ != nullptr) {
        return At(dlq_topic_->line,
                  "bridge.dlq_topic is used only with on_poison = \"dlq\" (poison events stop the "
                  "relay now); remove it or set on_poison");
      }
      return {};
    }
    return CheckDeadLetters(bridge);
  }

  Status CheckDeadLetters(const TomlTable& bridge) {
    const std::string& dlq = config_.dlq_topic;
    const int line = dlq_topic_ != nullptr ? dlq_topic_->line : on_poison_ != nullptr ? on_poison_->line : bridge.line;
    const std::size_t at = dlq.find(kTopicPlaceholder);
    std::string rest = dlq;
    if (at != std::string::npos) rest.erase(at, kTopicPlaceholder.size());
    if (rest.find_first_of("<>") != std::string::npos) {
      return At(line, "bridge.dlq_topic " + Quoted(dlq) + ": the only placeholder is <topic>, used at most once");
    }
    if (at == std::string::npos) {  // one dead-letter topic for all: a topic like any other
      if (auto valid = CheckTopic(dlq, line, "bridge.dlq_topic"); !valid) return valid;
      for (const auto& [topic, topic_line] : topic_lines_) {
        if (topic == dlq) {
          return At(line, "bridge.dlq_topic " + Quoted(dlq) + " is also the topic at line " +
                              std::to_string(topic_line) + ": poison events would go back where they failed");
        }
      }
      return {};
    }
    if (rest.empty()) return At(line, "bridge.dlq_topic \"<topic>\" would dead-letter events into their own topic");
    // The topic itself follows the convention (checked); what the template adds
    // must follow the character rules.
    for (const auto& [topic, topic_line] : topic_lines_) {
      const std::string name = config_.DlqTopic(topic);
      if (auto valid = CheckTopicSyntax(name); !valid) {
        return At(line, "bridge.dlq_topic " + Quoted(dlq) +
                            " makes an invalid dead-letter topic for the topic at line " + std::to_string(topic_line) +
                            ": " + valid.error().message());
      }
      for (const auto& [other, other_line] : topic_lines_) {
        if (other == name) {
          return At(line, "bridge.dlq_topic " + Quoted(dlq) + " makes the dead-letter topic of the topic at line " +
                              std::to_string(topic_line) + " " + Quoted(name) + ", which is the topic at line " +
                              std::to_string(other_line) + ": dead letters and events would mix");
        }
      }
    }
    return {};
  }

  BridgeConfig config_;
  int convention_line_ = 0;
  const TomlValue* on_unroutable_ = nullptr;
  const TomlValue* default_topic_ = nullptr;
  const TomlValue* on_poison_ = nullptr;
  const TomlValue* dlq_topic_ = nullptr;
  const TomlValue* checkpoint_topic_ = nullptr;
  const TomlValue* publish_ = nullptr;
  const TomlValue* upcasters_ = nullptr;
  std::vector<std::pair<std::string, int>> topic_lines_;  // every topic and its line
  std::vector<int> kafka_lines_;                          // parallel to config_.kafka
};

}  // namespace

Result<TopicConvention> TopicConvention::Parse(std::string_view text) {
  TopicConvention convention;
  if (text == "dotted") return convention;
  const auto fail = [&](std::string why) {
    return Fail(ErrorCode::kInvalidArgument,
                Quoted(text) +
                    " is neither \"dotted\" nor a pattern of <name> and literal segments such as "
                    "\"<project>.<env>.<domain>.<entity>\": " +
                    std::move(why));
  };
  if (text.empty()) return fail("it is empty");
  for (std::string_view segment : SplitDots(text)) {
    if (segment.empty()) return fail("empty segment");
    if (segment.front() == '<' && segment.back() == '>' && segment.size() > 2) {
      const std::string_view name = segment.substr(1, segment.size() - 2);
      const bool valid = std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      });
      if (!valid) return fail("placeholder " + std::string(segment) + " may hold only letters, digits, '_' and '-'");
      convention.segments_.emplace_back();
      continue;
    }
    if (!std::all_of(segment.begin(), segment.end(), IsTopicChar)) {
      return fail("segment \"" + std::string(segment) + "\" is neither a whole <name> nor literal text of " +
                  "lower-case a-z, 0-9 and '-'");
    }
    convention.segments_.emplace_back(segment);
  }
  convention.text_ = std::string(text);
  return convention;
}

Status TopicConvention::Check(std::string_view topic) const {
  if (auto syntax = CheckTopicSyntax(topic); !syntax) return syntax;
  const auto segments = SplitDots(topic);
  const auto fail = [&](std::string why) {
    return Fail(ErrorCode::kInvalidArgument, "topic " + Quoted(topic) + ": " + std::move(why));
  };
  if (segments_.empty()) {
    if (segments.size() < 2) {
      return fail(
          "needs at least 2 dot-separated segments, as in <project>.<env>.<domain>.<entity> or "
          "<domain>.<entity>.<event>.v1");
    }
    return {};
  }
  if (segments.size() != segments_.size()) {
    return fail("has " + std::to_string(segments.size()) + " segment" + (segments.size() == 1 ? "" : "s") + ", the " +
                "convention " + text_ + " has " + std::to_string(segments_.size()));
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (!segments_[i].empty() && segments[i] != segments_[i]) {
      return fail("segment " + std::to_string(i + 1) + " is " + Quoted(segments[i]) + ", the convention " + text_ +
                  " requires " + Quoted(segments_[i]));
    }
  }
  return {};
}

bool RouteRule::Matches(const EventView& event) const {
  if (!category.empty() && CategoryOf(event.stream) != category) return false;
  return event_type.empty() || TypeMatches(event_type, event.type);
}

const std::string* BridgeConfig::FindTopic(const EventView& event) const {
  for (const RouteRule& rule : routes) {
    if (rule.Matches(event)) return &rule.topic;
  }
  return on_unroutable == OnUnroutable::kDefault ? &default_topic : nullptr;
}

Result<std::string> BridgeConfig::Route(const EventView& event) const {
  if (const std::string* topic = FindTopic(event)) return *topic;
  return Fail(ErrorCode::kNotFound, "bridge " + name + ": no route matches the event at position " +
                                        std::to_string(event.position) + " (stream " + Quoted(event.stream) +
                                        ", category " + Quoted(CategoryOf(event.stream)) + ", type " +
                                        Quoted(event.type) + ") and on_unroutable is \"error\"");
}

std::string BridgeConfig::DlqTopic(std::string_view topic) const {
  std::string dead_letter = dlq_topic;
  if (const std::size_t at = dead_letter.find(kTopicPlaceholder); at != std::string::npos) {
    dead_letter.replace(at, kTopicPlaceholder.size(), topic);
  }
  return dead_letter;
}

std::string BridgeConfig::CheckpointTopic() const {
  return checkpoint_topic.empty() ? "cairn.bridge." + name + ".checkpoint" : checkpoint_topic;
}

std::vector<std::string> BridgeConfig::Topics() const {
  std::vector<std::string> topics;
  const auto add = [&](std::string topic) {
    if (std::find(topics.begin(), topics.end(), topic) == topics.end()) topics.push_back(std::move(topic));
  };
  for (const RouteRule& rule : routes) add(rule.topic);
  if (on_unroutable == OnUnroutable::kDefault) add(default_topic);
  if (on_poison == OnPoison::kDeadLetter) {
    const std::size_t count = topics.size();
    for (std::size_t i = 0; i < count; ++i) add(DlqTopic(topics[i]));
  }
  return topics;
}

Result<BridgeConfig> ParseBridgeConfig(std::string_view text, std::string_view file_name) {
  return Loader(file_name).Load(text);
}

Result<BridgeConfig> LoadBridgeConfig(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text) return Fail(text.error());
  return ParseBridgeConfig(*text, path);
}

}  // namespace cairn
