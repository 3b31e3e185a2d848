// Versioned event types and upcasters without a store: version parsing, C++
// chains, every declarative step, declarative files valid and invalid (each
// error with its line), failures naming the event and the step, and Apply from
// many threads at once.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "cairn/upcast.h"
#include "test_util.h"

namespace {

using cairn::ErrorCode;
using cairn::EventView;
using cairn::UpcastedEvent;
using cairn::Upcasters;

// A stored event of `type` with `data`, as a read would hand it out.
struct Stored {
  cairn::RecordedEvent event;
  Stored(std::string type, std::string data, std::string metadata = "") {
    event.position = 42;
    event.stream = "order-7";
    event.revision = 3;
    event.id = cairn::EventId::NewV7();
    event.type = std::move(type);
    event.recorded_at_us = 1'700'000'000'000'000;
    event.content_type = std::string(cairn::kContentTypeJson);
    event.data = std::move(data);
    event.metadata = std::move(metadata);
    event.hash[0] = 0xab;
  }
  EventView view() const { return event.view(); }
};

Upcasters Parse(std::string_view text) {
  auto parsed = cairn::ParseUpcasters(text, "orders.json");
  CAIRN_REQUIRE_OK(parsed);
  return std::move(*parsed);
}

// The error message of parsing `text`, which must fail.
std::string ParseError(std::string_view text) {
  auto parsed = cairn::ParseUpcasters(text, "orders.json");
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().code() == ErrorCode::kInvalidArgument);
  return parsed.error().message();
}

// Upcasts `stored` and returns the resulting event (which must have changed).
cairn::RecordedEvent Upcast(const Upcasters& upcasters, const Stored& stored) {
  UpcastedEvent out;
  auto changed = upcasters.Apply(stored.view(), out);
  CAIRN_REQUIRE_OK(changed);
  REQUIRE(*changed);
  return out.view().ToOwned();
}

constexpr std::string_view kOrders = R"({
  "description": "order events, v1 to v3",
  "upcasters": [
    {"type": "order.placed", "from": 1, "steps": [
      {"rename": {"from": "amount", "to": "total"}},
      {"add": {"field": "currency", "default": "EUR"}}
    ]},
    {"type": "order.placed", "from": 2, "steps": [
      {"move": {"from": "customer", "to": "buyer.id"}},
      {"drop": {"field": "legacy"}}
    ]}
  ]
})";

}  // namespace

TEST_CASE("event type versions: the .vN suffix, unversioned types are version 1", "[upcast]") {
  auto check = [](std::string_view type, std::string_view base, std::uint32_t version, bool explicit_suffix) {
    INFO(type);
    const cairn::EventTypeVersion parsed = cairn::ParseEventTypeVersion(type);
    CHECK(parsed.base == base);
    CHECK(parsed.version == version);
    CHECK(parsed.explicit_suffix == explicit_suffix);
  };
  check("order.created.v2", "order.created", 2, true);
  check("order.created.v1", "order.created", 1, true);
  check("order.created", "order.created", 1, false);
  check("acme.orders.order.placed.v10", "acme.orders.order.placed", 10, true);
  check("order.placed.v4294967295", "order.placed", 4294967295u, true);
  check("order.placed.v0", "order.placed", 0, true);
  check("order.placed.v4294967296", "order.placed.v4294967296", 1, false);  // more than 32 bits
  check("order.placed.V2", "order.placed.V2", 1, false);
  check("order.placed.v2a", "order.placed.v2a", 1, false);
  check("order.placed.v", "order.placed.v", 1, false);
  check("v2", "v2", 1, false);  // a suffix follows a dot
  check(".v2", ".v2", 1, false);  // … after a non-empty base
  check("order.v2.placed", "order.v2.placed", 1, false);
  CHECK(cairn::VersionedEventType("order.placed", 3) == "order.placed.v3");
}

TEST_CASE("C++ upcasters chain v1 to v2 to v3 and keep position, id and hash", "[upcast]") {
  Upcasters upcasters;
  CAIRN_REQUIRE_OK(upcasters.Register("order.placed", 2, [](cairn::UpcastEvent& event) {
    CHECK(event.from_type == "order.placed.v2");
    CHECK(event.to_type == "order.placed.v3");
    event.data = R"({"v":3})";
    event.metadata = R"({"upcast":true})";
    return cairn::Status{};
  }));
  CAIRN_REQUIRE_OK(upcasters.Register("order.placed", 1, [](cairn::UpcastEvent& event) {
    CHECK(event.stored.position == 42);
    CHECK(event.data == R"({"v":1})");
    event.data = R"({"v":2})";
    return cairn::Status{};
  }));
  CAIRN_REQUIRE_OK(upcasters.Check());
  CHECK(upcasters.size() == 2);

  for (const std::string type : {"order.placed", "order.placed.v1"}) {
    const Stored stored(type, R"({"v":1})");
    const cairn::RecordedEvent upcast = Upcast(upcasters, stored);
    CHECK(upcast.type == "order.placed.v3");
    CHECK(upcast.data == R"({"v":3})");
    CHECK(upcast.metadata == R"({"upcast":true})");
    CHECK(upcast.position == stored.event.position);
    CHECK(upcast.stream == stored.event.stream);
    CHECK(upcast.revision == stored.event.revision);
    CHECK(upcast.id == stored.event.id);
    CHECK(upcast.hash == stored.event.hash);
    CHECK(upcast.recorded_at_us == stored.event.recorded_at_us);
  }
  // From v2, only the last step runs.
  CHECK(Upcast(upcasters, Stored("order.placed.v2", "{}")).data == R"({"v":3})");

  // The newest version and other types are not touched (and out is left as it was).
  UpcastedEvent out;
  for (const std::string type : {"order.placed.v3", "order.paid.v1", "order.placed.v0"}) {
    auto changed = upcasters.Apply(Stored(type, "{}").view(), out);
    CAIRN_REQUIRE_OK(changed);
    CHECK_FALSE(*changed);
  }
  Upcasters none;
  auto changed = none.Apply(Stored("order.placed.v1", "{}").view(), out);
  CAIRN_REQUIRE_OK(changed);
  CHECK_FALSE(*changed);
}

TEST_CASE("registering: duplicates, bad types and renamed targets", "[upcast]") {
  Upcasters upcasters;
  auto noop = [](cairn::UpcastEvent&) { return cairn::Status{}; };
  CAIRN_REQUIRE_OK(upcasters.Register("order.placed", 1, noop));
  CAIRN_REQUIRE_ERROR(upcasters.Register("order.placed", 1, noop), ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_ERROR(upcasters.Register("order.placed.v2", 2, noop), ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_ERROR(upcasters.Register("order.placed", 0, noop), ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_ERROR(upcasters.Register("", 1, noop), ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_ERROR(upcasters.Register("order.paid", 1, "order.paid.v3", noop), ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_ERROR(upcasters.Register("order.paid", 1, cairn::UpcastFunction()), ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_OK(upcasters.Register("order.placed", 2, "order.submitted", noop));
  CAIRN_REQUIRE_OK(upcasters.Register("order.submitted", 3, noop));
  CAIRN_REQUIRE_OK(upcasters.Check());
  CHECK(upcasters.TargetType("order.placed") == "order.submitted.v4");
  CHECK(upcasters.TargetType("order.placed.v2") == "order.submitted.v4");
  CHECK(upcasters.TargetType("order.submitted.v3") == "order.submitted.v4");
  CHECK(upcasters.TargetType("order.paid.v1") == "order.paid.v1");
  CHECK(upcasters.SourceTypes("order.submitted.v4") ==
        std::vector<std::string>{"order.submitted.v4", "order.placed", "order.placed.v1", "order.placed.v2",
                                 "order.submitted.v3"});
  CHECK(upcasters.SourceTypes("order.paid.v1") == std::vector<std::string>{"order.paid.v1"});
  CHECK(upcasters.SourceTypes("order.placed.v2").empty());  // never the end of a chain

  CAIRN_REQUIRE_OK(upcasters.Register("order.placed", 5, noop));
  auto gap = upcasters.Check();
  REQUIRE_FALSE(gap.has_value());
  CHECK(gap.error().message().find("gap in the chain of order.placed") != std::string::npos);
}

TEST_CASE("a declarative file: rename, add, move, drop, chained v1 to v3", "[upcast]") {
  const Upcasters upcasters = Parse(kOrders);
  CHECK(upcasters.size() == 2);
  const cairn::RecordedEvent v3 =
      Upcast(upcasters, Stored("order.placed.v1", R"({"amount":18.5,"customer":"c-7","legacy":1,"n":[1,2]})"));
  CHECK(v3.type == "order.placed.v3");
  CHECK(v3.data == R"({"total":18.5,"n":[1,2],"currency":"EUR","buyer":{"id":"c-7"}})");

  // Fields that are missing are left missing (rename, move, drop); a default never replaces a value.
  CHECK(Upcast(upcasters, Stored("order.placed", R"({"currency":"USD"})")).data == R"({"currency":"USD"})");
  // From v2, only the second upcaster.
  CHECK(Upcast(upcasters, Stored("order.placed.v2", R"({"customer":{"k":1},"amount":2})")).data ==
        R"({"amount":2,"buyer":{"id":{"k":1}}})");
  // Numbers keep their values (full precision), unicode its characters.
  CHECK(Upcast(upcasters, Stored("order.placed.v2", R"({"x":12345678901234567890,"y":0.1,"s":"é"})")).data ==
        R"({"x":12345678901234567890,"y":0.1,"s":"é"})");
}

TEST_CASE("top-level steps splice the data: values keep their bytes, an escaped key takes the document", "[upcast]") {
  const Upcasters upcasters = Parse(kOrders);
  // Spliced: each value as it was written, the top level written again without whitespace.
  CHECK(Upcast(upcasters, Stored("order.placed.v1", " { \"amount\" : 1.50 , \"customer\" : \"c\", \"n\" : [ 1, 2 ] } ")).data ==
        R"({"total":1.50,"n":[ 1, 2 ],"currency":"EUR","buyer":{"id":"c"}})");
  CHECK(Upcast(upcasters, Stored("order.placed.v1", "{}")).data == R"({"currency":"EUR"})");
  // An escaped key is compared by the document, which writes the whole data again (same meaning).
  CHECK(Upcast(upcasters, Stored("order.placed.v1", R"({"amo\u0075nt":1.50,"customer":"c"})")).data ==
        R"({"total":1.5,"currency":"EUR","buyer":{"id":"c"}})");
  // A move into an existing object takes the document too.
  CHECK(Upcast(upcasters, Stored("order.placed.v2", R"({"customer":"c","buyer":{"name":"Ada"}})")).data ==
        R"({"buyer":{"name":"Ada","id":"c"}})");
  // … also after an upcaster that spliced: the document starts from the data as it left it.
  CHECK(Upcast(upcasters, Stored("order.placed.v1", R"({"amount":1,"customer":"c","buyer":{"name":"Ada"}})")).data ==
        R"({"total":1,"buyer":{"name":"Ada","id":"c"},"currency":"EUR"})");
  // The same errors either way.
  UpcastedEvent out;
  auto spliced = upcasters.Apply(Stored("order.placed.v1", R"({"amount":1,"total":2})").view(), out);
  auto parsed = upcasters.Apply(Stored("order.placed.v1", R"({"amo\u0075nt":1,"total":2})").view(), out);
  REQUIRE_FALSE(spliced.has_value());
  REQUIRE_FALSE(parsed.has_value());
  CHECK(spliced.error().message() == parsed.error().message());
}

TEST_CASE("a declarative file: the type step renames, JSON pointers, metadata passes through", "[upcast]") {
  const Upcasters upcasters = Parse(R"({"upcasters": [
    {"type": "order.placed", "from": 1, "steps": [{"type": "order.submitted"},
                                                  {"move": {"from": "/a~1b/c", "to": "/d~0e"}}]},
    {"type": "order.submitted", "from": 2, "steps": []}
  ]})");
  const cairn::RecordedEvent upcast =
      Upcast(upcasters, Stored("order.placed.v1", R"({"a/b":{"c":1,"x":2}})", R"({"correlation_id":"r-1"})"));
  CHECK(upcast.type == "order.submitted.v3");
  CHECK(upcast.data == R"({"a/b":{"x":2},"d~e":1})");
  CHECK(upcast.metadata == R"({"correlation_id":"r-1"})");
  CHECK(upcasters.SourceTypes("order.submitted.v3") ==
        std::vector<std::string>{"order.submitted.v3", "order.placed", "order.placed.v1", "order.submitted.v2"});
  // Only a type step and no data step: the data is the stored bytes.
  const Upcasters rename_only = Parse(R"({"upcasters": [{"type": "a.b", "from": 1, "steps": [{"type": "c.d.v2"}]}]})");
  const Stored stored("a.b", R"( { "kept" : "as is" } )");
  UpcastedEvent out;
  REQUIRE(rename_only.Apply(stored.view(), out).value_or(false));
  CHECK(out.view().type == "c.d.v2");
  CHECK(out.view().data.data() == stored.event.data.data());  // not copied
}

TEST_CASE("declared and C++ upcasters mix in one chain", "[upcast]") {
  Upcasters upcasters = Parse(kOrders);  // v1 -> v2 -> v3, declared
  CAIRN_REQUIRE_OK(upcasters.Register("order.placed", 3, [](cairn::UpcastEvent& event) {
    CHECK(event.data == R"({"total":5,"currency":"EUR","buyer":{"id":"c"}})");
    event.data.insert(event.data.size() - 1, R"(,"v4":true)");
    event.metadata = R"({"by":"c++"})";
    return cairn::Status{};
  }));
  CAIRN_REQUIRE_OK(upcasters.Register("order.placed", 4, [](cairn::UpcastEvent& event) {
    event.data.replace(event.data.find("\"v4\""), 4, "\"four\"");
    return cairn::Status{};
  }));
  CAIRN_REQUIRE_OK(upcasters.Check());
  const cairn::RecordedEvent upcast = Upcast(upcasters, Stored("order.placed.v1", R"({"amount":5,"customer":"c"})"));
  CHECK(upcast.type == "order.placed.v5");
  CHECK(upcast.data == R"({"total":5,"currency":"EUR","buyer":{"id":"c"},"four":true})");
  CHECK(upcast.metadata == R"({"by":"c++"})");
}

TEST_CASE("a failing upcaster names the event's position, type, the upcaster and the step", "[upcast]") {
  const Upcasters upcasters = Parse(kOrders);
  UpcastedEvent out;
  auto taken = upcasters.Apply(Stored("order.placed.v1", R"({"amount":1,"total":2})").view(), out);
  REQUIRE_FALSE(taken.has_value());
  CHECK(taken.error().code() == ErrorCode::kInvalidArgument);
  CHECK(taken.error().message() ==
        "position 42 (order.placed.v1): upcaster from order.placed.v1 to order.placed.v2 (orders.json:4): "
        "step 1 (rename amount to total, orders.json:5): the data already has a field total");

  auto not_object = upcasters.Apply(Stored("order.placed.v2", R"([1])").view(), out);
  REQUIRE_FALSE(not_object.has_value());
  CHECK(not_object.error().message().find("step 1 (move customer to buyer.id, orders.json:9): the data is not a JSON "
                                          "object") != std::string::npos);

  auto blocked = upcasters.Apply(Stored("order.placed.v2", R"({"customer":1,"buyer":3})").view(), out);
  REQUIRE_FALSE(blocked.has_value());
  CHECK(blocked.error().message().find("buyer is not an object") != std::string::npos);

  Stored octets("order.placed.v1", "\x01\x02");
  octets.event.content_type = std::string(cairn::kContentTypeOctets);
  auto binary = upcasters.Apply(octets.view(), out);
  REQUIRE_FALSE(binary.has_value());
  CHECK(binary.error().message().find("the data is not JSON (content type application/octet-stream)") !=
        std::string::npos);

  Upcasters cpp;
  CAIRN_REQUIRE_OK(cpp.Register("a.b", 1, [](cairn::UpcastEvent&) -> cairn::Status {
    return cairn::Fail(ErrorCode::kInvalidArgument, "no amount");
  }));
  CAIRN_REQUIRE_OK(cpp.Register("a.b", 2, [](cairn::UpcastEvent&) -> cairn::Status { throw std::runtime_error("boom"); }));
  auto failed = cpp.Apply(Stored("a.b", "{}").view(), out);
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().message() == "position 42 (a.b): upcaster from a.b.v1 to a.b.v2: no amount");
  auto threw = cpp.Apply(Stored("a.b.v2", "{}").view(), out);
  REQUIRE_FALSE(threw.has_value());
  CHECK(threw.error().message() == "position 42 (a.b.v2): upcaster from a.b.v2 to a.b.v3: threw boom");
}

TEST_CASE("declarative files: every error names FILE:LINE", "[upcast]") {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases{
      {"{\n\"upcasters\": [\n  {\"type\": \"a.b\", \"from\": 1, \"steps\": []},\n]\n}",
       "orders.json:4: not valid JSON: Invalid value."},
      {"[]", "orders.json:1: an upcaster file is a JSON object with an \"upcasters\" array"},
      {"{}", "orders.json:1: no \"upcasters\" array"},
      {"{\n \"upcasters\": {}\n}", "orders.json:2: \"upcasters\" must be an array"},
      {"{\n \"upcasters\": [],\n \"extra\": 1\n}",
       "orders.json:3: unknown key \"extra\" in the file (expected upcasters, description)"},
      {"{\"upcasters\": [\n 7\n]}", "orders.json:2: each upcaster is an object with \"type\", \"from\" and \"steps\""},
      {"{\"upcasters\": [\n {\"from\": 1, \"steps\": []}\n]}",
       "orders.json:2: the upcaster has no \"type\" (the base type, e.g. \"order.placed\")"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\",\n  \"from\": 0, \"steps\": []}\n]}",
       "orders.json:3: \"from\" must be an integer from 1 to 4294967294: the version it upcasts"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1,\n  \"steps\": [],\n  \"from\": 2}\n]}",
       "orders.json:4: duplicate key \"from\" in an upcaster (first at line 2)"},
      {"{\"upcasters\": [\n {\"type\": \"a.b.v1\", \"from\": 1, \"steps\": []}\n]}",
       "orders.json:2: \"a.b.v1\" carries a version suffix: give the base type and the version it upcasts from "
       "separately"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"rename\": {\"from\": \"x\"}}\n]}]}",
       "orders.json:3: \"rename\" has no \"to\" (it takes \"from\", \"to\")"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"rename\": {\"from\": \"x\", \"to\": "
       "\"y.z\"}}\n]}]}",
       "orders.json:3: rename.to \"y.z\" is a new name in the same object, not a path; use \"move\" to change where a "
       "field is"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"add\": {\"field\": \"x..y\", "
       "\"default\": 1}}\n]}]}",
       "orders.json:3: add.field \"x..y\" has an empty field name (write a.b or /a/b; a field with dots in its name as "
       "a JSON pointer)"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"drop\": {\"field\": \"/x~2\"}}\n]}]}",
       "orders.json:3: drop.field \"/x~2\": '~' must be followed by 0 or 1 in a JSON pointer"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"move\": {\"from\": \"x\", \"to\": "
       "\"x.y\"}}\n]}]}",
       "orders.json:3: move.to and move.from must not contain one another"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"copy\": {}}\n]}]}",
       "orders.json:3: unknown step \"copy\" (expected rename, add, drop, move or type)"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"drop\": {\"field\": \"x\"}, \"add\": "
       "{}}\n]}]}",
       "orders.json:3: a step is an object with one key: rename, add, drop, move or type"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"type\": \"c\"},\n  {\"type\": "
       "\"d\"}\n]}]}",
       "orders.json:4: a second \"type\" step (the first is at line 3)"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": [\n  {\"type\": \"c.v3\"}\n]}]}",
       "orders.json:3: \"type\": \"c.v3\" is not version 2 (give the new name without a suffix, or with .v2)"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": []},\n {\"type\": \"a.b\", \"from\": 1, "
       "\"steps\": []}\n]}",
       "orders.json:3: duplicate upcaster from a.b.v1 (first declared at orders.json:2)"},
      {"{\"upcasters\": [\n {\"type\": \"a.b\", \"from\": 1, \"steps\": []},\n\n {\"type\": \"a.b\", \"from\": 3, "
       "\"steps\": []}\n]}",
       "orders.json:4: gap in the chain of a.b: upcasters from v1 and from v3 but none from v2"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    CHECK(ParseError(c.text) == c.message);
  }
}

TEST_CASE("upcaster files: missing files, and the example file loads", "[upcast]") {
  auto missing = cairn::LoadUpcasterFile("/nonexistent/orders.json");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code() == ErrorCode::kNotFound);
  auto example = cairn::LoadUpcasterFile(CAIRN_EXAMPLE_UPCASTERS);
  CAIRN_REQUIRE_OK(example);
  CHECK(example->TargetType("order.placed.v1") == "order.placed.v3");
}

TEST_CASE("Apply runs on many threads at once", "[upcast]") {
  const Upcasters upcasters = Parse(kOrders);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      UpcastedEvent out;
      for (int i = 0; i < 2000; ++i) {
        const std::string n = std::to_string(t * 10000 + i);
        const Stored stored("order.placed.v1", R"({"amount":)" + n + R"(,"customer":"c"})");
        auto changed = upcasters.Apply(stored.view(), out);
        if (!changed || !*changed ||
            out.view().data != R"({"total":)" + n + R"(,"currency":"EUR","buyer":{"id":"c"}})") {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}
