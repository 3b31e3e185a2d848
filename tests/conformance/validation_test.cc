// What Append refuses as kInvalidArgument (names, types, sizes, JSON), and
// that a refused append writes nothing.
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

TEST_CASE("invalid stream names are rejected", "[validation]") {
  TestStore store;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"256 bytes", std::string(256, 'a')},
      {"newline", "order\n42"},
      {"tab", "order\t42"},
      {"\\x01", std::string("order\x01") + "42"},
      {"DEL", "order\x7f"},
      {"NUL", std::string("order\0x", 7)},
      {"lone continuation byte", "order-\x80"},
      {"truncated sequence", "order-\xc3"},
      {"overlong encoding", "order-\xc0\xaf"},
      {"UTF-16 surrogate", "order-\xed\xa0\x80"},
      {"beyond U+10FFFF", "order-\xf4\x90\x80\x80"},
      {"invalid byte 0xff", "order-\xff"},
  };
  for (const auto& [what, name] : bad) {
    INFO(what);
    CAIRN_CHECK_ERROR(store->Append(name, ExpectedRevision::Any(), {Json("test.event.v1")}),
                      ErrorCode::kInvalidArgument);
  }
  CHECK(Head(*store) == 0);
}

TEST_CASE("valid stream names are accepted", "[validation]") {
  TestStore store;
  const std::vector<std::string> good = {
      "a",
      std::string(255, 'b'),
      std::string(253, 'c') + "\xc3\xa9",  // 255 bytes ending in a 2-byte character
      "заказ-42",
      "注文-7",
      "\xf0\x9f\x98\x80-1",  // emoji
      "order-with spaces/and:punctuation",
  };
  std::uint64_t position = 0;
  for (const auto& name : good) {
    INFO(name);
    auto appended = store->Append(name, ExpectedRevision::NoStream(), {Json("test.event.v1")});
    CAIRN_CHECK_OK(appended);
    if (!appended) continue;
    CHECK(appended->first_position == ++position);
    auto events = ReadStreamAll(*store, name);
    CAIRN_CHECK_OK(events);
    if (events) {
      REQUIRE(events->size() == 1);
      CHECK((*events)[0].stream == name);
    }
  }
}

TEST_CASE("invalid event types are rejected", "[validation]") {
  TestStore store;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"256 bytes", std::string(256, 't')},
      {"newline", "order.placed\n"},
      {"\\x01", "order\x01placed"},
      {"reserved $ prefix", "$custom"},
      {"the tombstone type", std::string(cairn::kStreamDeletedType)},
  };
  for (const auto& [what, type] : bad) {
    INFO(what);
    CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json(type)}),
                      ErrorCode::kInvalidArgument);
  }
  CHECK(Head(*store) == 0);
  CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json(std::string(255, 't'))}));
  CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v12")}));
}

TEST_CASE("an empty append is rejected", "[validation]") {
  TestStore store;
  const std::vector<cairn::EventData> none;
  CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Any(), none), ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::NoStream(), none),
                      ErrorCode::kInvalidArgument);
  CHECK(Head(*store) == 0);
}

TEST_CASE("event size limit (Options::max_event_bytes)", "[validation][limits]") {
  TestStore store;
  store.options().max_event_bytes = 100;
  store.Reopen();
  // type + data + metadata bytes: 8 + 2 + 90 = 100.
  cairn::EventData event = Json("abc.v1.x", "{}");
  event.metadata = "{\"k\":\"" + std::string(90 - 8, 'm') + "\"}";
  REQUIRE(event.type.size() + event.data.size() + event.metadata.size() == 100);
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), {event}));

  SECTION("one byte more in data") {
    event.data = "[ ]";
  }
  SECTION("one byte more in metadata") {
    event.metadata = "{\"k\":\"" + std::string(90 - 7, 'm') + "\"}";
  }
  SECTION("one byte more in type") {
    event.type += "y";
  }
  REQUIRE(event.type.size() + event.data.size() + event.metadata.size() == 101);
  CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Any(), {event}),
                      ErrorCode::kInvalidArgument);
  CHECK(Head(*store) == 1);
}

TEST_CASE("default event size limit is 8 MiB", "[validation][limits]") {
  TestStore store;
  constexpr std::size_t kLimit = 8u << 20;
  cairn::EventData event;
  event.type = "blob.v1";
  event.content_type = std::string(cairn::kContentTypeOctets);
  event.data.assign(kLimit - event.type.size(), 'x');
  CAIRN_REQUIRE_OK(store->Append("blob-1", ExpectedRevision::Any(), {event}));
  event.data.push_back('x');  // 8 MiB + 1
  CAIRN_REQUIRE_ERROR(store->Append("blob-1", ExpectedRevision::Any(), {event}), ErrorCode::kInvalidArgument);
  CHECK(Head(*store) == 1);
}

TEST_CASE("events per append limit (Options::max_append_events)", "[validation][limits]") {
  SECTION("configured") {
    cairn::Options options = TestOptions();
    options.max_append_events = 5;
    TestStore store(options);
    CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Any(), NumberedEvents(6)),
                        ErrorCode::kInvalidArgument);
    CHECK(Head(*store) == 0);
    CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), NumberedEvents(5)));
    CHECK(Head(*store) == 5);
  }
  SECTION("default 10,000") {
    TestStore store;
    std::vector<cairn::EventData> events(10'001, Json("tiny.v1"));
    CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Any(), events), ErrorCode::kInvalidArgument);
    CHECK(Head(*store) == 0);
    events.pop_back();
    auto appended = store->Append("order-1", ExpectedRevision::Any(), events);
    CAIRN_REQUIRE_OK(appended);
    CHECK(appended->last_position == 10'000);
    CHECK(appended->last_revision == 9'999);
  }
}

TEST_CASE("append size limit (Options::max_append_bytes)", "[validation][limits]") {
  cairn::Options options = TestOptions();
  options.max_append_bytes = 1000;
  TestStore store(options);
  std::vector<cairn::EventData> events(3, Json("big.v1", "\"" + std::string(390, 'x') + "\""));
  CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Any(), events), ErrorCode::kInvalidArgument);
  CHECK(Head(*store) == 0);
  events.pop_back();
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), events));
  CHECK(Head(*store) == 2);
}

TEST_CASE("JSON data must be valid JSON", "[validation][json]") {
  TestStore store;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"truncated object", "{\"a\":"},
      {"bare word", "nope"},
      {"missing value", "{\"a\":}"},
      {"trailing garbage", "{} x"},
      {"single quotes", "{'a':1}"},
      {"invalid UTF-8 in a string", "{\"a\":\"\xff\"}"},
  };
  for (const auto& [what, data] : bad) {
    INFO(what);
    CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json("test.v1", data)}),
                      ErrorCode::kInvalidArgument);
    cairn::EventData vendor = Json("test.v1", data);
    vendor.content_type = "application/vnd.acme+json";
    CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {vendor}), ErrorCode::kInvalidArgument);
  }
  CHECK(Head(*store) == 0);
  for (const std::string data : {"{}", "[1,2,3]", "42", "\"text\"", "null", " {\"a\" : [true, false]} "}) {
    INFO(data);
    CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("test.v1", data)}));
  }
  // Opaque content types are not parsed.
  cairn::EventData opaque = Json("test.v1", "not json at all {");
  opaque.content_type = std::string(cairn::kContentTypeOctets);
  CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {opaque}));
}

TEST_CASE("metadata must be empty or a JSON object", "[validation][json]") {
  TestStore store;
  for (const std::string metadata : {"[1]", "42", "\"s\"", "null", "true", "{", "{\"a\":1} x"}) {
    INFO(metadata);
    cairn::EventData event = Json("test.v1");
    event.metadata = metadata;
    CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {event}), ErrorCode::kInvalidArgument);
  }
  CHECK(Head(*store) == 0);
  for (const std::string metadata : {"", "{}", R"({"correlation_id":"c-1","tenant":"t","n":{"x":[1]}})"}) {
    INFO(metadata);
    cairn::EventData event = Json("test.v1");
    event.metadata = metadata;
    CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {event}));
  }
}

}  // namespace
}  // namespace cairn_test
