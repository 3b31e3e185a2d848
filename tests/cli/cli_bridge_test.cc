// `cairn bridge topics|status|run` without a broker: what needs no Kafka (topics,
// status, usage errors). Publishing is tested against the real broker in tests/kafka.
#include <string>

#include "cairn/store.h"
#include "cli_runner.h"

namespace cairn_test {
namespace {

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

constexpr std::string_view kBridge = R"([bridge]
name = "orders-prod"
source_service = "orders-service"
mode = "exactly-once"
on_poison = "dlq"
on_unroutable = "default"
default_topic = "acme.prod.orders.unrouted"

[route.orders]
category = "order"
topic = "acme.prod.orders.order"

[kafka]
bootstrap.servers = "127.0.0.1:1"
)";

TEST_CASE("cairn bridge topics lists every topic with its role", "[cli][bridge]") {
  TempDir dir;
  WriteFileBytes(dir.File("orders.toml"), kBridge);
  CliRun run = RunCairn(dir, {"bridge", "topics", "--config", dir.File("orders.toml")});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out ==
        "{\"topic\":\"acme.prod.orders.order\",\"role\":\"route\"}\n"
        "{\"topic\":\"acme.prod.orders.unrouted\",\"role\":\"default\"}\n"
        "{\"topic\":\"acme.prod.orders.order.dlq.v1\",\"role\":\"dead-letter\"}\n"
        "{\"topic\":\"acme.prod.orders.unrouted.dlq.v1\",\"role\":\"dead-letter\"}\n"
        "{\"topic\":\"cairn.bridge.orders-prod.checkpoint\",\"role\":\"checkpoint\"}\n");
}

TEST_CASE("cairn bridge status shows the saved checkpoint and status, and the lag taken now", "[cli][bridge]") {
  TempDir dir;
  CliStore store(dir);
  WriteFileBytes(dir.File("orders.toml"), kBridge);
  store.Append("order-1", "order.placed.v1");
  store.Append("order-1", "order.paid.v1");

  SECTION("never run") {
    CliRun run = store.Run({"bridge", "status", "--config", dir.File("orders.toml")});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    auto status = ParseJsonLine(run.out);
    CHECK(Str(status, "bridge") == "orders-prod");
    CHECK(Str(status, "mode") == "exactly-once");
    CHECK(Str(status, "state") == "stopped");
    CHECK(U64(status, "checkpoint") == 0);
    CHECK(U64(status, "head_position") == 2);
    CHECK(U64(status, "lag_events") == 2);
    CHECK(status["saved_at"].IsNull());
  }
  SECTION("after a relay saved its status") {
    {
      auto opened = cairn::EventStore::Open(store.path());
      CAIRN_REQUIRE_OK(opened);
      CAIRN_REQUIRE_OK((*opened)->SaveCheckpoint(
          "bridge:orders-prod", 1,
          R"({"bridge":"orders-prod","mode":"exactly-once","state":"live","checkpoint":1,"head_position":1,)"
          R"("lag_events":0,"lag_seconds":0,"published":1,"retried":4,"dead_lettered":0,"failures":2,)"
          R"("last_error":"Kafka away","updated_at":"2026-01-01T00:00:00.000000Z"})"));
    }
    CliRun run = store.Run({"bridge", "status", "--config", dir.File("orders.toml")});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    auto status = ParseJsonLine(run.out);
    CHECK(Str(status, "state") == "live");
    CHECK(U64(status, "checkpoint") == 1);
    CHECK(U64(status, "head_position") == 2);
    CHECK(U64(status, "lag_events") == 1);
    CHECK(status["lag_seconds"].GetDouble() >= 0);
    CHECK(U64(status, "retried") == 4);
    CHECK(U64(status, "failures") == 2);
    CHECK(Str(status, "last_error") == "Kafka away");
    CHECK(status["saved_at"].IsString());
  }
}

TEST_CASE("cairn bridge refuses bad input with a clear message", "[cli][bridge]") {
  TempDir dir;
  CliStore store(dir);
  WriteFileBytes(dir.File("orders.toml"), kBridge);

  SECTION("a bridge file that is not understood is exit 2 with FILE:LINE") {
    WriteFileBytes(dir.File("bad.toml"), "[bridge]\nname = \"x\"\nsource_service = \"s\"\ncolour = \"red\"\n");
    CliRun run = store.Run({"bridge", "topics", "--config", dir.File("bad.toml")});
    CHECK(run.exit_code == 2);
    CHECK(Contains(run.err, "bad.toml:4: unknown key bridge.colour"));
  }
  SECTION("a missing bridge file is exit 1") {
    CliRun run = store.Run({"bridge", "status", "--config", dir.File("missing.toml")});
    CHECK(run.exit_code == 1);
    CHECK(Contains(run.err, "missing.toml"));
  }
  SECTION("-X may not set what the mode and name decide") {
    CliRun run = store.Run({"bridge", "run", "--config", dir.File("orders.toml"), "-X", "transactional.id=mine"});
    CHECK(run.exit_code == 2);
    CHECK(Contains(run.err, "transactional.id is set by the bridge"));
  }
  SECTION("-X needs key=value") {
    CliRun run = store.Run({"bridge", "run", "--config", dir.File("orders.toml"), "-X", "linger.ms"});
    CHECK(run.exit_code == 2);
    CHECK(Contains(run.err, "-X linger.ms: expected a librdkafka property as key=value"));
  }
  SECTION("an unknown librdkafka property is named") {
    CliRun run = store.Run({"bridge", "run", "--config", dir.File("orders.toml"), "-X", "no.such.thing=1"});
    CHECK(run.exit_code == 2);
    CHECK(Contains(run.err, "no.such.thing"));
  }
  SECTION("--config is required") {
    CliRun run = store.Run({"bridge", "run"});
    CHECK(run.exit_code == 2);
    CHECK(Contains(run.err, "--config"));
  }
}

}  // namespace
}  // namespace cairn_test
