// Bridge files: every key, routing precedence and wildcards, the topic naming
// convention, dead-letter topics, and every error with the line it names.
#include "cairn/bridge_config.h"
#include "cairn/upcast.h"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_util.h"

namespace {

using cairn::BridgeConfig;
using cairn::RecordedEvent;

constexpr std::string_view kHead = R"([bridge]
name = "orders"
source_service = "orders-service"
)";  // lines 1-3

BridgeConfig Parse(std::string_view text) {
  auto config = cairn::ParseBridgeConfig(text, "bridge.toml");
  INFO("text:\n" << text << "\nresult: " << cairn_test::Describe(config));
  REQUIRE(config.has_value());
  return std::move(*config);
}

// Requires `text` to fail at `line` with a message containing `part`.
void RequireError(std::string_view text, int line, std::string_view part) {
  auto config = cairn::ParseBridgeConfig(text, "bridge.toml");
  INFO("text:\n" << text);
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().code() == cairn::ErrorCode::kInvalidArgument);
  const std::string& message = config.error().message();
  INFO("message: " << message);
  CHECK(message.starts_with("bridge.toml:" + std::to_string(line) + ": "));
  CHECK(message.find(part) != std::string::npos);
}

std::string WithHead(std::string_view rest) { return std::string(kHead) + std::string(rest); }

RecordedEvent Event(std::string stream, std::string type, std::uint64_t position = 9) {
  RecordedEvent event;
  event.stream = std::move(stream);
  event.type = std::move(type);
  event.position = position;
  return event;
}

// The topic an event goes to, or "error: ..." .
std::string RouteOf(const BridgeConfig& config, std::string stream, std::string type) {
  const RecordedEvent event = Event(std::move(stream), std::move(type));
  auto topic = config.Route(event.view());
  if (!topic) return "error: " + std::string(cairn::ErrorCodeName(topic.error().code()));
  return *topic;
}

}  // namespace

TEST_CASE("the example bridge file loads") {
  auto config = cairn::LoadBridgeConfig(CAIRN_EXAMPLE_BRIDGE_DIR "/orders.toml");
  INFO(cairn_test::Describe(config));
  REQUIRE(config.has_value());
  CHECK(config->name == "orders-prod");
  CHECK(config->source_service == "orders-service");
  CHECK(config->format == cairn::EnvelopeFormat::kJson);
  CHECK(config->mode == cairn::DeliveryMode::kIdempotent);
  CHECK(config->topic_convention.text() == "acme.<env>.<domain>.<entity>");
  CHECK(config->on_unroutable == cairn::OnUnroutable::kDefault);
  CHECK(config->default_topic == "acme.prod.orders.unrouted");
  CHECK(config->on_poison == cairn::OnPoison::kDeadLetter);
  REQUIRE(config->routes.size() == 4);
  CHECK(config->routes[0].name == "refunds");
  CHECK(config->routes[1].name == "orders");
  CHECK(config->routes[2].name == "payments");
  CHECK(config->routes[3].name == "customers");
  CHECK(RouteOf(*config, "order-42", "acme.orders.order.placed.v1") == "acme.prod.orders.order");
  CHECK(RouteOf(*config, "order-42", "acme.orders.order.refunded.v2") == "acme.prod.payments.refund");
  CHECK(RouteOf(*config, "payment-7", "acme.payments.payment.captured.v1") == "acme.prod.payments.payment");
  CHECK(RouteOf(*config, "payment-7", "acme.payments.payment.captured.v2") == "acme.prod.orders.unrouted");
  CHECK(RouteOf(*config, "customer-c7", "acme.customers.customer.registered.v1") == "acme.prod.customers.customer");
  CHECK(config->kafka ==
        std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", "kafka-1:9092,kafka-2:9092"},
                                                         {"client.id", "orders-bridge"},
                                                         {"compression.type", "zstd"},
                                                         {"linger.ms", "5"}});
  CHECK(config->retry.initial_backoff == std::chrono::milliseconds(100));
  CHECK(config->retry.max_backoff == std::chrono::milliseconds(30000));
  CHECK(config->retry.jitter_percent == 20);
  CHECK(config->Topics() ==
        std::vector<std::string>{"acme.prod.payments.refund", "acme.prod.orders.order", "acme.prod.payments.payment",
                                 "acme.prod.customers.customer", "acme.prod.orders.unrouted",
                                 "acme.prod.payments.refund.dlq.v1", "acme.prod.orders.order.dlq.v1",
                                 "acme.prod.payments.payment.dlq.v1", "acme.prod.customers.customer.dlq.v1",
                                 "acme.prod.orders.unrouted.dlq.v1"});
}

TEST_CASE("docs/bridge.md shows the example file as it is") {
  const std::string example = cairn_test::ReadFileBytes(CAIRN_EXAMPLE_BRIDGE_DIR "/orders.toml");
  const std::string docs = cairn_test::ReadFileBytes(CAIRN_DOCS_DIR "/bridge.md");
  REQUIRE_FALSE(example.empty());
  CHECK(docs.find("```toml\n" + example + "```\n") != std::string::npos);
}

TEST_CASE("a minimal file takes the defaults") {
  const BridgeConfig config = Parse(WithHead(R"([route.all-orders]
category = "order"
topic = "shop.orders"
)"));
  CHECK(config.name == "orders");
  CHECK(config.source_service == "orders-service");
  CHECK(config.format == cairn::EnvelopeFormat::kJson);
  CHECK(config.mode == cairn::DeliveryMode::kIdempotent);
  CHECK(config.on_unroutable == cairn::OnUnroutable::kError);
  CHECK(config.default_topic.empty());
  CHECK(config.on_poison == cairn::OnPoison::kStop);
  CHECK(config.dlq_topic == "<topic>.dlq.v1");
  CHECK(config.topic_convention.text() == "dotted");
  CHECK(config.kafka.empty());
  CHECK(config.retry.initial_backoff == std::chrono::milliseconds(100));
  CHECK(config.retry.max_backoff == std::chrono::milliseconds(30000));
  CHECK(config.retry.jitter_percent == 20);
  REQUIRE(config.routes.size() == 1);
  CHECK(config.routes[0].name == "all-orders");
  CHECK(config.routes[0].category == "order");
  CHECK(config.routes[0].event_type.empty());
  CHECK(config.routes[0].topic == "shop.orders");
  CHECK(config.routes[0].line == 4);
  CHECK(config.Topics() == std::vector<std::string>{"shop.orders"});
}

TEST_CASE("every choice is read") {
  const BridgeConfig config = Parse(WithHead(R"(format = "capnp"
mode = "exactly-once"
on_unroutable = "default"
default_topic = "shop.misc"
on_poison = "dlq"
dlq_topic = "shop.dead-letters"
)"));
  CHECK(config.format == cairn::EnvelopeFormat::kCapnp);
  CHECK(config.mode == cairn::DeliveryMode::kExactlyOnce);
  CHECK(config.on_unroutable == cairn::OnUnroutable::kDefault);
  CHECK(config.default_topic == "shop.misc");
  CHECK(config.on_poison == cairn::OnPoison::kDeadLetter);
  CHECK(config.routes.empty());  // everything goes to the default topic
  CHECK(config.DlqTopic("shop.misc") == "shop.dead-letters");
  CHECK(config.Topics() == std::vector<std::string>{"shop.misc", "shop.dead-letters"});
  CHECK(RouteOf(config, "anything-1", "any.type") == "shop.misc");
}

TEST_CASE("routing: the first matching route in file order wins") {
  const BridgeConfig config = Parse(WithHead(R"(on_unroutable = "default"
default_topic = "shop.other"

[route.refund-v1]
category = "order"
event_type = "order.refunded.v1"
topic = "shop.payments.refunds"

[route.any-refund]
event_type = "*.refunded.*"
topic = "shop.refunds"

[route.orders]
category = "order"
topic = "shop.orders"

[route.placed]
event_type = "order.placed.v1"   # order.placed.v1 on an order stream went to shop.orders already
topic = "shop.placed"
)"));
  CHECK(RouteOf(config, "order-1", "order.refunded.v1") == "shop.payments.refunds");
  CHECK(RouteOf(config, "order-1", "order.refunded.v2") == "shop.refunds");
  CHECK(RouteOf(config, "return-1", "order.refunded.v1") == "shop.refunds");  // the category decides too
  CHECK(RouteOf(config, "order-1", "order.placed.v1") == "shop.orders");
  CHECK(RouteOf(config, "order", "order.placed.v1") == "shop.orders");  // a stream without '-' is its own category
  CHECK(RouteOf(config, "cart-9", "order.placed.v1") == "shop.placed");
  CHECK(RouteOf(config, "cart-9", "cart.emptied.v1") == "shop.other");
  CHECK(RouteOf(config, "order-1", "$stream.deleted") == "shop.orders");  // a tombstone follows its category
  CHECK(RouteOf(config, "orders-1", "x") == "shop.other");                // category "orders", not "order"
}

TEST_CASE("routing: '*' stands for exactly one whole segment") {
  const BridgeConfig config = Parse(WithHead(R"(on_unroutable = "default"
default_topic = "shop.none"
[route.a]
event_type = "order.*.v1"
topic = "shop.a"
[route.b]
event_type = "*"
topic = "shop.b"
[route.c]
event_type = "*.*.*.*"
topic = "shop.c"
[route.d]
event_type = "$stream.deleted"
topic = "shop.d"
)"));
  CHECK(RouteOf(config, "x-1", "order.placed.v1") == "shop.a");
  CHECK(RouteOf(config, "x-1", "order..v1") == "shop.a");  // an empty segment is a segment
  CHECK(RouteOf(config, "x-1", "order.placed.v2") == "shop.none");
  CHECK(RouteOf(config, "x-1", "order.placed") == "shop.none");
  CHECK(RouteOf(config, "x-1", "order.placed.late.v1") == "shop.c");
  CHECK(RouteOf(config, "x-1", "Order.placed.v1") == "shop.none");  // types compare exactly
  CHECK(RouteOf(config, "x-1", "single") == "shop.b");
  CHECK(RouteOf(config, "x-1", "a.b.c.d.e") == "shop.none");
  CHECK(RouteOf(config, "x-1", "$stream.deleted") == "shop.d");
}

TEST_CASE("an unroutable event is kNotFound naming it, when on_unroutable is error") {
  const BridgeConfig config = Parse(WithHead(R"([route.orders]
category = "order"
topic = "shop.orders"
)"));
  const RecordedEvent event = Event("cart-9", "cart.emptied.v1", 41);
  auto topic = config.Route(event.view());
  REQUIRE_FALSE(topic.has_value());
  CHECK(topic.error().code() == cairn::ErrorCode::kNotFound);
  CHECK(topic.error().message() ==
        "bridge orders: no route matches the event at position 41 (stream \"cart-9\", category \"cart\", type "
        "\"cart.emptied.v1\") and on_unroutable is \"error\"");
}

TEST_CASE("topic names: the default convention is the standards' dotted lower case") {
  const cairn::TopicConvention dotted;
  for (std::string_view good : {"a.b", "huleedu.essay.spellcheck.requested.v1", "acme.prod.orders.order",
                                "workflow.instance.started.v1", "order-events.v1", "0.9"}) {
    INFO(good);
    CHECK(dotted.Check(good).has_value());
  }
  const std::pair<std::string_view, std::string_view> bad[] = {
      {"orders", "needs at least 2 dot-separated segments"},
      {"huleedu.email.delivery_failed.v1", "'_' is not allowed"},
      {"Acme.orders", "upper case is not allowed"},
      {"acme..orders", "empty segment"},
      {".acme.orders", "empty segment"},
      {"acme.orders.", "empty segment"},
      {"acme.or ders", "' ' is not allowed"},
      {"acme.ordér", "non-ASCII"},
      {"acme/orders.x", "'/' is not allowed"},
      {"", "cannot be empty"},
  };
  for (const auto& [topic, part] : bad) {
    auto checked = dotted.Check(topic);
    INFO(topic);
    REQUIRE_FALSE(checked.has_value());
    INFO(checked.error().message());
    CHECK(checked.error().message().find(part) != std::string::npos);
  }
  std::string long_topic = "a." + std::string(247, 'b');
  CHECK(dotted.Check(long_topic).has_value());  // 249 characters
  long_topic += "c";
  CHECK(dotted.Check(long_topic).error().message().find("250 characters, more than Kafka's 249") != std::string::npos);
}

TEST_CASE("topic names: a pattern asks for exactly its segments") {
  auto convention = cairn::TopicConvention::Parse("<project>.<env>.<domain>.<entity>");
  REQUIRE(convention.has_value());
  CHECK(convention->Check("acme.prod.orders.order").has_value());
  CHECK(convention->Check("acme.prod.orders")
            .error()
            .message()
            .find("has 3 segments, the convention <project>.<env>.<domain>.<entity> has 4") != std::string::npos);
  CHECK(convention->Check("acme.prod.orders.order.v1").error().message().find("has 5 segments") != std::string::npos);
  CHECK(convention->Check("acme.prod.orders.order_lines").error().message().find("'_' is not allowed") !=
        std::string::npos);

  auto fixed = cairn::TopicConvention::Parse("acme.<env>.<domain>.<entity>");
  REQUIRE(fixed.has_value());
  CHECK(fixed->Check("acme.prod.orders.order").has_value());
  CHECK(fixed->Check("other.prod.orders.order")
            .error()
            .message()
            .find("segment 1 is \"other\", the convention acme.<env>.<domain>.<entity> requires \"acme\"") !=
        std::string::npos);

  for (std::string_view bad :
       {"", "<a>..<b>", "<a>.<b c>", "<a>.x<b>", "Acme.<env>", "<>.<b>", "a_b.<c>", "dotted.<x"}) {
    INFO(bad);
    CHECK_FALSE(cairn::TopicConvention::Parse(bad).has_value());
  }
  CHECK(cairn::TopicConvention::Parse("dotted")->text() == "dotted");
}

TEST_CASE("every topic is checked against the convention at load, at its line") {
  RequireError(WithHead(R"([route.x]
category = "order"
topic = "orders_v1"
)"),
               6, "route.x.topic: topic \"orders_v1\": '_' is not allowed");
  RequireError(WithHead(R"(topic_convention = "<project>.<env>.<domain>.<entity>"
[route.x]
category = "order"
topic = "acme.orders"
)"),
               7,
               "has 2 segments, the convention <project>.<env>.<domain>.<entity> has 4 "
               "(bridge.topic_convention = \"<project>.<env>.<domain>.<entity>\", line 4)");
  RequireError(WithHead(R"(on_unroutable = "default"
default_topic = "Misc"
)"),
               5, "bridge.default_topic: topic \"Misc\": upper case");
  RequireError(WithHead(R"(topic_convention = "<a>.<b>.<c>"
on_unroutable = "default"
on_poison = "dlq"
dlq_topic = "dead.letters"
default_topic = "x.y.z"
)"),
               7, "bridge.dlq_topic: topic \"dead.letters\": has 2 segments");
}

TEST_CASE("dead-letter topics: <topic>.dlq.v1 by default, any template, each name checked") {
  const BridgeConfig standard = Parse(WithHead(R"(on_poison = "dlq"
topic_convention = "<project>.<env>.<domain>.<entity>"
[route.orders]
category = "order"
topic = "acme.prod.orders.order"
)"));
  // The template adds segments to a convention-following topic: that is the standards' own DLQ name.
  CHECK(standard.DlqTopic("acme.prod.orders.order") == "acme.prod.orders.order.dlq.v1");

  const BridgeConfig deadletter = Parse(WithHead(R"(on_poison = "dlq"
dlq_topic = "<topic>-deadletter"
[route.orders]
category = "order"
topic = "shop.orders"
)"));
  CHECK(deadletter.DlqTopic("shop.orders") == "shop.orders-deadletter");
  CHECK(deadletter.Topics() == std::vector<std::string>{"shop.orders", "shop.orders-deadletter"});

  const BridgeConfig prefixed = Parse(WithHead(R"(on_poison = "dlq"
dlq_topic = "dlq.<topic>"
[route.orders]
category = "order"
topic = "shop.orders"
)"));
  CHECK(prefixed.DlqTopic("shop.orders") == "dlq.shop.orders");

  const std::string route = R"(
[route.orders]
category = "order"
topic = "shop.orders"
)";
  RequireError(WithHead("on_poison = \"dlq\"\ndlq_topic = \"<topic>_dlq\"\n" + route), 5,
               "bridge.dlq_topic \"<topic>_dlq\" makes an invalid dead-letter topic for the topic at line 9: topic "
               "\"shop.orders_dlq\": '_' is not allowed");
  RequireError(WithHead("on_poison = \"dlq\"\ndlq_topic = \"<topic>.<topic>\"\n" + route), 5,
               "the only placeholder is <topic>, used at most once");
  RequireError(WithHead("on_poison = \"dlq\"\ndlq_topic = \"<topic>.<n>\"\n" + route), 5,
               "the only placeholder is <topic>");
  RequireError(WithHead("on_poison = \"dlq\"\ndlq_topic = \"<topic>\"\n" + route), 5,
               "would dead-letter events into their own topic");
  RequireError(WithHead("on_poison = \"dlq\"\ndlq_topic = \"shop.orders\"\n" + route), 5,
               "bridge.dlq_topic \"shop.orders\" is also the topic at line 9");
  RequireError(WithHead("on_poison = \"dlq\"\n" + route + "[route.dead]\ncategory = \"cart\"\n" +
                        "topic = \"shop.orders.dlq.v1\"\n"),
               4,
               "makes the dead-letter topic of the topic at line 8 \"shop.orders.dlq.v1\", which is the topic at "
               "line 11");
  RequireError(WithHead("on_poison = \"stop\"\ndlq_topic = \"<topic>.dlq.v1\"\n" + route), 5,
               "bridge.dlq_topic is used only with on_poison = \"dlq\"");
  // The default template on a topic that leaves no room for its suffix: the line of on_poison.
  const std::string long_topic = "a." + std::string(245, 'b');  // 247 characters, +7 = 254
  RequireError(WithHead("on_poison = \"dlq\"\n[route.x]\ncategory = \"order\"\ntopic = \"" + long_topic + "\"\n"), 4,
               "254 characters, more than Kafka's 249");
}

TEST_CASE("[kafka]: librdkafka properties, dotted names flattened, values as strings") {
  const BridgeConfig config = Parse(WithHead(R"(on_unroutable = "default"
default_topic = "a.b"
[kafka]
bootstrap.servers = "k1:9092"
"security.protocol" = "SASL_SSL"
linger.ms = 0
enable.ssl.certificate.verification = false
batch.num.messages = -1
[kafka.sasl]
mechanisms = "PLAIN"
username = "bridge"
)"));
  CHECK(config.kafka ==
        std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", "k1:9092"},
                                                         {"security.protocol", "SASL_SSL"},
                                                         {"linger.ms", "0"},
                                                         {"enable.ssl.certificate.verification", "false"},
                                                         {"batch.num.messages", "-1"},
                                                         {"sasl.mechanisms", "PLAIN"},
                                                         {"sasl.username", "bridge"}});
  const std::string head = WithHead("on_unroutable = \"default\"\ndefault_topic = \"a.b\"\n[kafka]\n");  // lines 1-6
  RequireError(head + "bootstrap.servers = \"a\"\n\"bootstrap.servers\" = \"b\"\n", 8,
               "duplicate kafka property \"bootstrap.servers\" (first given at line 7)");
  RequireError(head + "linger.ms = 1\nlinger.ms = 2\n", 8, "duplicate key kafka.linger.ms (first defined at line 7)");
  RequireError(head + "\"sasl.username\" = \"a\"\nsasl.username = \"b\"\n", 8,
               "duplicate kafka property \"sasl.username\" (first given at line 7)");
  RequireError(head + "enable.idempotence = true\n", 7,
               "kafka.\"enable.idempotence\" is set by the bridge (from bridge.mode and bridge.name); remove it");
  RequireError(head + "transactional.id = \"x\"\n", 7, "kafka.\"transactional.id\" is set by the bridge");
  RequireError(head + "bootstrap.servers = [\"a\", \"b\"]\n", 7,
               "kafka.\"bootstrap.servers\" must be a string, an integer or a boolean");
}

TEST_CASE("[retry]: backoff and jitter") {
  const BridgeConfig config = Parse(WithHead(R"(on_unroutable = "default"
default_topic = "a.b"
[retry]
initial_backoff_ms = 5
max_backoff_ms = 5
jitter_percent = 0
)"));
  CHECK(config.retry.initial_backoff == std::chrono::milliseconds(5));
  CHECK(config.retry.max_backoff == std::chrono::milliseconds(5));
  CHECK(config.retry.jitter_percent == 0);
  const std::string head = WithHead("on_unroutable = \"default\"\ndefault_topic = \"a.b\"\n[retry]\n");
  RequireError(head + "initial_backoff_ms = 0\n", 7, "retry.initial_backoff_ms = 0: must be from 1 to 3600000");
  RequireError(head + "jitter_percent = 101\n", 7, "retry.jitter_percent = 101: must be from 0 to 100");
  RequireError(head + "initial_backoff_ms = 500\nmax_backoff_ms = 499\n", 8,
               "retry.max_backoff_ms (499) is less than retry.initial_backoff_ms (500)");
  RequireError(head + "initial_backoff_ms = 60000\n", 7,
               "retry.max_backoff_ms (30000, the default) is less than retry.initial_backoff_ms (60000)");
  RequireError(head + "max_attempts = 3\n", 7,
               "unknown key retry.max_attempts (expected initial_backoff_ms, max_backoff_ms, jitter_percent)");
  RequireError(head + "jitter_percent = \"20\"\n", 7, "retry.jitter_percent must be an integer, not a string");
}

TEST_CASE("every error names its line") {
  const std::string route = "[route.r]\ncategory = \"order\"\ntopic = \"a.b\"\n";
  // The file as a whole.
  RequireError("", 1, "no [bridge] table (with name and source_service)");
  RequireError(route, 1, "no [bridge] table");
  RequireError(WithHead(route + "[routes.x]\ntopic = \"a.b\"\n"), 7,
               "unknown key routes (a bridge file has the tables [bridge], [route.NAME], [kafka] and [retry])");
  RequireError(WithHead("bridge_name = \"x\"\n"), 4, "unknown key bridge.bridge_name");
  RequireError("bridge = 1\n", 1, "bridge must be a table, not an integer");
  RequireError("[bridge]\nsource_service = \"s\"\n" + route, 1, "[bridge] has no name");
  RequireError("\n[bridge]\nname = \"n\"\n" + route, 2, "[bridge] has no source_service");
  RequireError(std::string(kHead), 1,
               "no [route.NAME] table and on_unroutable = \"error\": every event would be unroutable");
  RequireError(WithHead("[route]\n"), 4, "no [route.NAME] table");
  // TOML the subset refuses, in a bridge file's words.
  RequireError(WithHead("[[route]]\ncategory = \"order\"\n"), 4,
               "arrays of tables ([[...]]) are not supported in bridge files: write each route as its own "
               "[route.NAME] table");
  RequireError(WithHead("[retry]\njitter = 0.2\n"), 5, "floating-point numbers are not supported");
  // [bridge] keys.
  const std::pair<std::string, std::string> bridge_errors[] = {
      {"name = \"Orders\"", "invalid bridge name \"Orders\": use 1 to 128 lower-case letters, digits, '-' and '.'"},
      {"name = \"orders_eu\"", "invalid bridge name"},
      {"name = 7", "bridge.name must be a string, not an integer"},
      {"source_service = \"\"", "bridge.source_service \"\": invalid source_service: it is empty"},
      {"source_service = \"a\\u0001\"", "invalid source_service: control character at byte 1"},
      {"format = \"avro\"", "bridge.format must be \"json\" or \"capnp\", not \"avro\""},
      {"mode = \"exactly_once\"", "bridge.mode must be \"idempotent\" or \"exactly-once\", not \"exactly_once\""},
      {"on_unroutable = \"skip\"", "bridge.on_unroutable must be \"error\" or \"default\", not \"skip\""},
      {"on_poison = \"park\"", "bridge.on_poison must be \"stop\" or \"dlq\", not \"park\""},
      {"topic_convention = \"<a>_<b>\"", "bridge.topic_convention: \"<a>_<b>\" is neither \"dotted\" nor a pattern"},
      {"dlq_topic = 1", "bridge.dlq_topic must be a string, not an integer"},
  };
  for (const auto& [line, part] : bridge_errors) {
    // The bad key replaces a good one or comes after them: line 2, 3 or 4.
    std::string text = std::string(kHead);
    int at = 4;
    if (line.starts_with("name")) {
      text = "[bridge]\n" + line + "\nsource_service = \"s\"\n";
      at = 2;
    } else if (line.starts_with("source_service")) {
      text = "[bridge]\nname = \"n\"\n" + line + "\n";
      at = 3;
    } else {
      text += line + "\n";
    }
    RequireError(text + route, at, part);
  }
  // Keys that need another key.
  RequireError(WithHead("on_unroutable = \"default\"\n"), 4,
               "bridge.on_unroutable = \"default\" needs bridge.default_topic");
  RequireError(WithHead("default_topic = \"a.b\"\n" + route), 4,
               "bridge.default_topic is used only with on_unroutable = \"default\"");
  // [route.NAME] tables.
  RequireError(WithHead("[route.r]\ncategory = \"order\"\n"), 4, "[route.r] has no topic");
  RequireError(WithHead("[route.r]\ntopic = \"a.b\"\n"), 4, "[route.r] has neither category nor event_type");
  RequireError(WithHead("[route.r]\ncategory = \"order\"\ntopic = \"a.b\"\npartition = 3\n"), 7,
               "unknown key route.r.partition (expected category, event_type and topic)");
  RequireError(WithHead("[route.r]\ncategory = [\"order\"]\ntopic = \"a.b\"\n"), 5,
               "route.r.category must be a string, not an array");
  RequireError(WithHead("[route.r]\ncategory = \"order-42\"\ntopic = \"a.b\"\n"), 5,
               "invalid category \"order-42\": a category is the part of a stream name before its first '-'");
  RequireError(WithHead("[route.r]\ncategory = \"\"\ntopic = \"a.b\"\n"), 5, "invalid category \"\"");
  RequireError(WithHead("[route.r]\nevent_type = \"order.placed.v*\"\ntopic = \"a.b\"\n"), 5,
               "'*' stands for a whole segment (\"order.*.v1\"), not part of one (\"v*\")");
  RequireError(WithHead("[route.r]\nevent_type = \"\"\ntopic = \"a.b\"\n"), 5, "invalid event_type pattern \"\"");
  RequireError("route.r = \"a.b\"\n" + std::string(kHead), 1,
               "route.r must be a table ([route.r] with topic and category or event_type)");
  RequireError("route = 3\n" + std::string(kHead), 1, "route must be a table, not an integer");
  // A key under [bridge] is a key of [bridge], whatever its name.
  RequireError(WithHead("route.r.topic = \"a.b\"\n"), 4, "unknown key bridge.route");
  // Routes that can never match.
  RequireError(WithHead(route + "[route.s]\ncategory = \"order\"\nevent_type = \"order.placed.v1\"\ntopic = \"c.d\"\n"),
               7, "[route.s] can never match: [route.r] (line 4) matches every event it does");
  RequireError(WithHead("[route.r]\nevent_type = \"order.*.*\"\ntopic = \"a.b\"\n"
                        "[route.s]\ncategory = \"cart\"\nevent_type = \"order.placed.*\"\ntopic = \"c.d\"\n"),
               7, "[route.s] can never match: [route.r] (line 4)");
  RequireError(WithHead(route + "[route.s]\ncategory = \"order\"\ntopic = \"c.d\"\n"), 7, "[route.s] can never match");
  // ... and some that can.
  Parse(
      WithHead("[route.r]\nevent_type = \"order.*.v1\"\ntopic = \"a.b\"\n"
               "[route.s]\nevent_type = \"order.placed.*\"\ntopic = \"c.d\"\n"
               "[route.t]\nevent_type = \"order.*\"\ntopic = \"c.d\"\n"
               "[route.u]\ncategory = \"order\"\ntopic = \"c.d\"\n"));
}

TEST_CASE("routes may be written as inline or dotted tables; order is still the file's") {
  const BridgeConfig config = Parse(WithHead(R"(
[route]
first = { event_type = "order.placed.v1", topic = "a.first" }
second.category = "order"
second.topic = "a.second"
)"));
  REQUIRE(config.routes.size() == 2);
  CHECK(config.routes[0].name == "first");
  CHECK(config.routes[0].line == 6);
  CHECK(config.routes[1].name == "second");
  CHECK(RouteOf(config, "order-1", "order.placed.v1") == "a.first");
  CHECK(RouteOf(config, "order-1", "order.paid.v1") == "a.second");
}

TEST_CASE("LoadBridgeConfig: missing files, directories, names in messages") {
  cairn_test::TempDir dir;
  auto missing = cairn::LoadBridgeConfig(dir.File("none.toml"));
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code() == cairn::ErrorCode::kNotFound);
  auto directory = cairn::LoadBridgeConfig(dir.path().string());
  REQUIRE_FALSE(directory.has_value());
  CHECK(directory.error().code() == cairn::ErrorCode::kInvalidArgument);
  cairn_test::WriteFileBytes(dir.File("bad.toml"), WithHead("format = \"xml\"\n"));
  auto bad = cairn::LoadBridgeConfig(dir.File("bad.toml"));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message().starts_with(dir.File("bad.toml") + ":4: bridge.format must be"));
}

TEST_CASE("checkpoint_topic: exactly-once only, any legal Kafka name, a default from the bridge's name") {
  const std::string route = "[route.orders]\ncategory = \"order\"\ntopic = \"shop.orders\"\n";
  BridgeConfig defaulted = Parse(WithHead("mode = \"exactly-once\"\n" + route));
  CHECK(defaulted.checkpoint_topic.empty());
  CHECK(defaulted.CheckpointTopic() == "cairn.bridge." + defaulted.name + ".checkpoint");
  BridgeConfig named = Parse(WithHead("mode = \"exactly-once\"\ncheckpoint_topic = \"Ops_Checkpoints-1\"\n" + route));
  CHECK(named.CheckpointTopic() == "Ops_Checkpoints-1");
  RequireError(WithHead("checkpoint_topic = \"ops.checkpoints\"\n" + route), 4,
               "bridge.checkpoint_topic is used only with mode = \"exactly-once\"");
  RequireError(WithHead("mode = \"exactly-once\"\ncheckpoint_topic = \"ops checkpoints\"\n" + route), 5,
               "is not a Kafka topic name");
  RequireError(WithHead("mode = \"exactly-once\"\ncheckpoint_topic = \"\"\n" + route), 5, "is not a Kafka topic name");
}

TEST_CASE("publish and upcasters: newest needs an upcaster file, found beside the bridge file") {
  const std::string route = "[route.orders]\ncategory = \"order\"\ntopic = \"shop.orders\"\n";
  BridgeConfig stored = Parse(WithHead(route));
  CHECK(stored.publish == cairn::PublishVersion::kStored);
  CHECK(stored.upcasters == nullptr);

  cairn_test::TempDir dir;
  cairn_test::WriteFileBytes(dir.File("up.json"),
                             R"({"upcasters": [{"type": "order.placed", "from": 1, "steps": [{"drop": {"field": "x"}}]}]})");
  const std::string text = WithHead("publish = \"newest\"\nupcasters = \"up.json\"\n" + route);
  auto newest = cairn::ParseBridgeConfig(text, dir.File("bridge.toml"));
  CAIRN_REQUIRE_OK(newest);
  CHECK(newest->publish == cairn::PublishVersion::kNewest);
  REQUIRE(newest->upcasters != nullptr);
  CHECK(newest->upcasters->TargetType("order.placed.v1") == "order.placed.v2");

  RequireError(WithHead("publish = \"newest\"\n" + route), 4, "bridge.publish = \"newest\" needs bridge.upcasters");
  RequireError(WithHead("publish = \"latest\"\n" + route), 4, "publish");
  auto unused = cairn::ParseBridgeConfig(WithHead("upcasters = \"up.json\"\n" + route), dir.File("bridge.toml"));
  REQUIRE_FALSE(unused.has_value());
  CHECK_THAT(unused.error().message(), Catch::Contains("bridge.toml:4: bridge.upcasters is used only with publish"));
  auto missing = cairn::ParseBridgeConfig(WithHead("publish = \"newest\"\nupcasters = \"none.json\"\n" + route),
                                          dir.File("bridge.toml"));
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error().message(), Catch::Contains("bridge.toml:5: bridge.upcasters: ") && Catch::Contains("none.json"));
}
