// `cairn schema add|list|show|delete`, `cairn catalog` and `cairn replay
// --since/--until`. The catalog and time tests run on a store built through the
// library's Import with known recorded_at times, so that their output is exact.
#include <map>
#include <string>
#include <vector>

#include "cairn/audit.h"
#include "cairn/store.h"
#include "cli_runner.h"

namespace cairn_test {
namespace {

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

constexpr const char* kPlacedSchema =
    R"({"$id":"urn:acme:order-placed","type":"object","required":["order_id","total"],)"
    R"("properties":{"order_id":{"type":"string"},"total":{"type":"number","minimum":0}}})";

TEST_CASE("schema add, list, show and delete", "[cli][schemas]") {
  TempDir dir;
  CliStore store(dir);
  WriteFileBytes(dir.File("placed.json"), kPlacedSchema);

  CliRun run = store.Run({"schema", "add", "acme.orders.order.placed.v1", dir.File("placed.json")});
  REQUIRE_EXIT(run, 0);
  CHECK(run.out == "{\"event_type\":\"acme.orders.order.placed.v1\",\"registration\":1}\n");
  run = store.Run({"schema", "add", "acme.orders.order.placed.v1", "--file", "-"},
                  WithStdin(R"({"type":"object","required":["order_id"]})"));
  REQUIRE_EXIT(run, 0);
  CHECK(run.out == "{\"event_type\":\"acme.orders.order.placed.v1\",\"registration\":2}\n");

  run = store.Run({"schema", "list"});
  REQUIRE_EXIT(run, 0);
  REQUIRE(run.Lines().size() == 1);
  auto listed = ParseJsonLine(run.Lines()[0]);
  CHECK(KeysOf(listed) ==
        std::vector<std::string>{"event_type", "registration", "registered_at", "current", "label", "schema_bytes"});
  CHECK(U64(listed, "registration") == 2);
  run = store.Run({"schema", "list", "--history"});
  REQUIRE_EXIT(run, 0);
  REQUIRE(run.Lines().size() == 2);
  auto oldest = ParseJsonLine(run.Lines()[1]);
  CHECK(U64(oldest, "registration") == 1);
  CHECK_FALSE(Bool(oldest, "current"));
  CHECK(std::string(oldest["label"].GetString()) == "urn:acme:order-placed");
  run = store.Run({"schema", "list", "--history", "--format", "table"});
  REQUIRE_EXIT(run, 0);
  CHECK(run.Lines().size() == 3);
  CHECK(run.Lines()[0].starts_with("event_type"));

  run = store.Run({"schema", "show", "acme.orders.order.placed.v1"});
  REQUIRE_EXIT(run, 0);
  auto shown = ParseJsonLine(run.out);
  REQUIRE(shown["schema"].IsObject());
  CHECK(shown["schema"]["required"][0] == "order_id");

  // The CLI's appends are checked.
  run = store.Run({"append", "order-1", "--type", "acme.orders.order.placed.v1", "--data", R"({"total":1})"});
  REQUIRE_EXIT(run, 1);
  CHECK(Contains(run.err, "acme.orders.order.placed.v1"));
  CHECK(Contains(run.err, "required"));
  store.Append("order-1", "acme.orders.order.placed.v1", R"({"order_id":"o-1"})");

  // A document that is no draft-4 schema is refused, saying where.
  run = store.Run({"schema", "add", "acme.orders.order.paid.v1", "-"}, WithStdin(R"({"properties":{"n":{"type":"int"}}})"));
  REQUIRE_EXIT(run, 1);
  CHECK(Contains(run.err, "/properties/n/type"));
  run = store.Run({"schema", "add", "acme.orders.order.paid.v1"});
  REQUIRE_EXIT(run, 2);
  run = store.Run({"schema", "show", "acme.orders.order.paid.v1"});
  REQUIRE_EXIT(run, 1);
  CHECK(Contains(run.err, "has no schema"));

  run = store.Run({"schema", "delete", "acme.orders.order.placed.v1"});
  REQUIRE_EXIT(run, 0);
  CHECK(run.out == "{\"event_type\":\"acme.orders.order.placed.v1\",\"deleted\":2}\n");
  run = store.Run({"schema", "list"});
  REQUIRE_EXIT(run, 0);
  CHECK(run.out.empty());
  store.Append("order-1", "acme.orders.order.placed.v1", R"({"total":1})");
}

// 2026-11-23T10:00:00Z and steps from it, in microseconds.
constexpr std::int64_t kT0 = 1'795'428'000'000'000;
constexpr std::int64_t kSecond = 1'000'000;

struct KnownEvent {
  std::string stream;
  std::string type;
  std::string data;
  std::int64_t recorded_at_us;
};

// Imports `events` (positions 1, 2, …) into a new store at `path`.
void MakeKnownStore(const std::string& path, const std::vector<KnownEvent>& events) {
  cairn::Options options;
  options.create_if_missing = true;
  auto store = cairn::EventStore::Open(path, options);
  CAIRN_REQUIRE_OK(store);
  std::map<std::string, std::uint64_t> revisions;
  cairn::Hash hash = cairn::kGenesisHash;
  std::vector<cairn::RecordedEvent> recorded;
  for (std::size_t i = 0; i < events.size(); ++i) {
    cairn::RecordedEvent event;
    event.position = i + 1;
    event.stream = events[i].stream;
    event.revision = revisions[events[i].stream]++;
    event.id = cairn::EventId::NewV7();
    event.type = events[i].type;
    event.recorded_at_us = events[i].recorded_at_us;
    event.content_type = std::string(cairn::kContentTypeJson);
    event.data = events[i].data;
    event.hash = hash = cairn::ChainHash(hash, event.view());
    recorded.push_back(std::move(event));
  }
  std::size_t next = 0;
  CAIRN_REQUIRE_OK((*store)->Import([&](cairn::RecordedEvent& event) -> cairn::Result<bool> {
    if (next == recorded.size()) return false;
    event = recorded[next++];
    return true;
  }));
}

std::vector<KnownEvent> KnownEvents() {
  return {
      {"order-1", "acme.orders.order.placed.v1", R"({"order_id":"o-1","total":10})", kT0},
      {"order-1", "acme.orders.order.paid.v1", R"({"amount":10.5})", kT0 + kSecond},
      {"order-2", "acme.orders.order.placed.v1", R"({"order_id":"o-2","total":7,"note":"gift"})", kT0 + kSecond},
      {"order-2", "acme.orders.order.placed.v2", R"({"order_id":"o-2","total":{"amount":7}})", kT0 + kSecond},
      {"customer-9", "acme.customers.customer.registered", R"({"name":"Ann"})", kT0 + 2 * kSecond},
      {"order-1", "acme.orders.order.refunded.v1", R"({"amount":10.5})", kT0 + 3 * kSecond},
  };
}

TEST_CASE("catalog of a known store, in markdown, JSON Lines and with a bridge file", "[cli][catalog]") {
  TempDir dir;
  const std::string path = dir.File("known.db");
  MakeKnownStore(path, KnownEvents());
  {
    cairn::Options options;
    auto store = cairn::EventStore::Open(path, options);
    CAIRN_REQUIRE_OK(store);
    CAIRN_REQUIRE_OK((*store)->PutSchema("acme.orders.order.placed.v1", kPlacedSchema));
    CAIRN_REQUIRE_OK((*store)->PutSchema("acme.orders.order.cancelled.v1", R"({"title":"cancel"})"));
  }

  SECTION("markdown") {
    CliRun run = RunCairn(dir, {"--store", path, "catalog", "--format", "markdown", "--sample", "10"});
    REQUIRE_EXIT(run, 0);
    const std::string expected =
        "# Event Catalog\n"
        "\n"
        "Generated by `cairn catalog` from `" + path + "`: 6 events, positions 1-6. Event = the base type, Version = "
        "its `.vN` suffix (none = 1). Partition Key: the Kafka message key is the stream name. Retention: the store "
        "keeps every event; a topic's retention is set on the Kafka cluster, not in the bridge file. Fields: "
        "top-level members of the data of up to the first 10 events of each type (`?`: not in all of them).\n"
        "\n"
        "## Domain: customers\n"
        "\n"
        "| Event | Version | Topic | Partition Key | Retention | Events | Positions | Recorded | Schema | Fields |\n"
        "|-------|---------|-------|---------------|-----------|--------|-----------|----------|--------|--------|\n"
        "| `acme.customers.customer.registered` | v1 | - | stream (customer-*) | - | 1 | 5-5 | "
        "2026-11-23T10:00:02.000000Z - 2026-11-23T10:00:02.000000Z | - | name: string |\n"
        "\n"
        "## Domain: orders\n"
        "\n"
        "| Event | Version | Topic | Partition Key | Retention | Events | Positions | Recorded | Schema | Fields |\n"
        "|-------|---------|-------|---------------|-----------|--------|-----------|----------|--------|--------|\n"
        "| `acme.orders.order.paid` | v1 | - | stream (order-*) | - | 1 | 2-2 | "
        "2026-11-23T10:00:01.000000Z - 2026-11-23T10:00:01.000000Z | - | amount: number |\n"
        "| `acme.orders.order.placed` | v1 | - | stream (order-*) | - | 2 | 1-3 | "
        "2026-11-23T10:00:00.000000Z - 2026-11-23T10:00:01.000000Z | registration 1 (urn:acme:order-placed) | "
        "order_id: string, total: integer, note?: string |\n"
        "| `acme.orders.order.placed` | v2 | - | stream (order-*) | - | 1 | 4-4 | "
        "2026-11-23T10:00:01.000000Z - 2026-11-23T10:00:01.000000Z | - | order_id: string, total: object |\n"
        "| `acme.orders.order.refunded` | v1 | - | stream (order-*) | - | 1 | 6-6 | "
        "2026-11-23T10:00:03.000000Z - 2026-11-23T10:00:03.000000Z | - | amount: number |\n"
        "\n"
        "## Schemas without events\n"
        "\n"
        "| Event type | Schema |\n"
        "|------------|--------|\n"
        "| `acme.orders.order.cancelled.v1` | registration 1 (cancel) |\n";
    CHECK(run.out == expected);
  }

  SECTION("JSON Lines") {
    CliRun run = RunCairn(dir, {"--store", path, "catalog"});
    REQUIRE_EXIT(run, 0);
    const auto lines = run.Lines();
    REQUIRE(lines.size() == 5);
    CHECK(lines[2] ==
          R"({"event_type":"acme.orders.order.placed.v1","base_type":"acme.orders.order.placed","version":1,)"
          R"("events":2,"first_position":1,"last_position":3,"first_recorded_at":"2026-11-23T10:00:00.000000Z",)"
          R"("last_recorded_at":"2026-11-23T10:00:01.000000Z","categories":["order"],"partition_key":"stream",)"
          R"("fields":[{"name":"order_id","types":["string"],"seen":2},{"name":"total","types":["integer"],"seen":2},)"
          R"({"name":"note","types":["string"],"seen":1}],"sampled":2,"non_json":0,)"
          R"("schema":{"registration":1,"registered_at":")" +
              std::string(ParseJsonLine(lines[2])["schema"]["registered_at"].GetString()) +
              R"(","label":"urn:acme:order-placed"}})");
    CHECK(ParseJsonLine(lines[3])["schema"].IsNull());
    CHECK(U64(ParseJsonLine(lines[3]), "version") == 2);
  }

  SECTION("with the example bridge file: topics per route") {
    CliRun run = RunCairn(dir, {"--store", path, "catalog", "--bridge", CAIRN_EXAMPLE_BRIDGE});
    REQUIRE_EXIT(run, 0);
    const auto lines = run.Lines();
    REQUIRE(lines.size() == 5);
    auto topics = [&](std::size_t line) {
      std::vector<std::string> names;
      auto entry = ParseJsonLine(lines[line]);
      for (const auto& topic : entry["topics"].GetArray()) names.emplace_back(topic.GetString());
      return names;
    };
    CHECK(topics(0) == std::vector<std::string>{"acme.prod.customers.customer"});
    CHECK(topics(1) == std::vector<std::string>{"acme.prod.orders.order"});
    CHECK(topics(4) == std::vector<std::string>{"acme.prod.payments.refund"});
    run = RunCairn(dir, {"--store", path, "catalog", "--bridge", CAIRN_EXAMPLE_BRIDGE, "--format", "markdown"});
    REQUIRE_EXIT(run, 0);
    CHECK(Contains(run.out, "| `acme.orders.order.refunded` | v1 | acme.prod.payments.refund | stream (order-*) |"));
  }

  SECTION("a bridge file that is not understood is a usage error") {
    WriteFileBytes(dir.File("bad.toml"), "[bridge]\nname = 7\n");
    CliRun run = RunCairn(dir, {"--store", path, "catalog", "--bridge", dir.File("bad.toml")});
    REQUIRE_EXIT(run, 2);
    CHECK(Contains(run.err, "bad.toml:2"));
  }
}

std::vector<std::uint64_t> ReplayPositions(const TempDir& dir, const std::string& path,
                                           const std::vector<std::string>& args) {
  std::vector<std::string> full{"--store", path, "replay"};
  full.insert(full.end(), args.begin(), args.end());
  CliRun run = RunCairn(dir, full);
  REQUIRE_EXIT(run, 0);
  return Positions(run);
}

TEST_CASE("replay --since and --until select by recorded time", "[cli][replay][since]") {
  TempDir dir;
  const std::string path = dir.File("known.db");
  MakeKnownStore(path, KnownEvents());  // times: 0, 1, 1, 1, 2, 3 seconds after 10:00:00Z
  using Positions = std::vector<std::uint64_t>;
  // --since is inclusive: every event recorded at exactly that time is included.
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:01Z"}) == Positions{2, 3, 4, 5, 6});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:00.000001Z"}) == Positions{2, 3, 4, 5, 6});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T09:00:00Z"}) == Positions{1, 2, 3, 4, 5, 6});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:03.000001Z"}).empty());
  // --until is exclusive: windows [a, b) and [b, c) do not overlap.
  CHECK(ReplayPositions(dir, path, {"--until", "2026-11-23T10:00:01Z"}) == Positions{1});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:01Z", "--until", "2026-11-23T10:00:02Z"}) ==
        Positions{2, 3, 4});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:02Z", "--until", "2026-11-23T10:00:03Z"}) ==
        Positions{5});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:01Z", "--until", "2026-11-23T10:00:01Z"}).empty());
  // Offsets are honoured: 11:00:01+01:00 is 10:00:01Z, 09:00:02-0100 is 10:00:02Z.
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T11:00:01+01:00", "--until", "2026-11-23T09:00:02-0100"}) ==
        Positions{2, 3, 4});
  // With positions and filters, the narrower bound wins.
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:01Z", "--to", "3"}) == Positions{2, 3});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:00Z", "--from", "4", "--category", "order"}) ==
        Positions{4, 6});
  CHECK(ReplayPositions(dir, path, {"--since", "2026-11-23T10:00:01Z", "--follow", "--until", "2026-11-23T10:00:02Z"}) ==
        Positions{2, 3, 4});

  for (const char* bad : {"2026-11-23T10:00:01", "2026-11-23 10:00:01Z", "2026-13-01T00:00:00Z",
                          "2026-11-23T10:00:01.1234567Z", "yesterday"}) {
    INFO(bad);
    CliRun run = RunCairn(dir, {"--store", path, "replay", "--since", bad});
    REQUIRE_EXIT(run, 2);
    CHECK(Contains(run.err, "--since"));
  }
  CliRun run = RunCairn(dir, {"--store", path, "replay", "--since", "2026-11-23T10:00:02Z", "--until",
                              "2026-11-23T10:00:01Z"});
  REQUIRE_EXIT(run, 2);
}

}  // namespace
}  // namespace cairn_test
