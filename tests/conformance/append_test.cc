// Appends: expected-revision modes, atomic batches, idempotent retries.
#include <set>
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

// Requires `result` to be a conflict on `stream` whose actual revision is `actual`.
void RequireConflict(const cairn::Result<cairn::AppendResult>& result, std::string_view stream,
                     std::optional<std::uint64_t> actual) {
  CAIRN_REQUIRE_ERROR(result, ErrorCode::kConflict);
  const auto& conflict = result.error().conflict();
  REQUIRE(conflict.has_value());
  CHECK(conflict->stream == stream);
  CHECK(conflict->actual_revision == actual);
}

// Appends `count` events to a new stream; returns the result.
cairn::AppendResult Seed(TestStore& store, std::string_view stream, std::size_t count) {
  auto appended = store->Append(stream, ExpectedRevision::Any(), NumberedEvents(count));
  CAIRN_REQUIRE_OK(appended);
  return *appended;
}

TEST_CASE("expected revision any appends to new and existing streams", "[append]") {
  TestStore store;
  auto first = store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1")});
  CAIRN_REQUIRE_OK(first);
  CHECK(first->first_revision == 0);
  CHECK(first->last_revision == 0);
  CHECK(first->first_position == 1);
  CHECK(first->last_position == 1);
  CHECK_FALSE(first->already_committed);

  auto second = store->Append("order-1", ExpectedRevision::Any(), {Json("order.paid.v1")});
  CAIRN_REQUIRE_OK(second);
  CHECK(second->first_revision == 1);
  CHECK(second->last_revision == 1);
  CHECK(second->first_position == 2);
  CHECK(second->last_position == 2);
}

TEST_CASE("expected revision no_stream", "[append]") {
  TestStore store;
  auto created = store->Append("order-1", ExpectedRevision::NoStream(), {Json("order.placed.v1")});
  CAIRN_REQUIRE_OK(created);
  CHECK(created->first_revision == 0);
  CHECK(created->first_position == 1);

  Seed(store, "order-1", 2);  // revisions 1, 2
  const auto head = Head(*store);
  RequireConflict(store->Append("order-1", ExpectedRevision::NoStream(), {Json("order.placed.v1")}),
                  "order-1", 2);
  CHECK(Head(*store) == head);
  auto info = store->GetStreamInfo("order-1");
  CAIRN_REQUIRE_OK(info);
  CHECK(info->head_revision == std::optional<std::uint64_t>(2));
}

TEST_CASE("expected revision stream_exists", "[append]") {
  TestStore store;
  RequireConflict(store->Append("order-1", ExpectedRevision::StreamExists(), {Json("order.paid.v1")}),
                  "order-1", std::nullopt);
  CHECK(Head(*store) == 0);
  auto info = store->GetStreamInfo("order-1");
  CAIRN_REQUIRE_OK(info);
  CHECK_FALSE(info->exists);
  CHECK_FALSE(info->head_revision.has_value());
  CHECK(info->head_position == 0);

  Seed(store, "order-1", 1);
  auto appended = store->Append("order-1", ExpectedRevision::StreamExists(), {Json("order.paid.v1")});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_revision == 1);
  CHECK(appended->first_position == 2);
}

TEST_CASE("expected revision exact", "[append]") {
  TestStore store;
  SECTION("on a missing stream conflicts with no actual revision") {
    RequireConflict(store->Append("order-1", ExpectedRevision::Exact(0), {Json("order.paid.v1")}),
                    "order-1", std::nullopt);
    CHECK(Head(*store) == 0);
  }
  SECTION("matching the head succeeds, any other revision conflicts") {
    Seed(store, "order-1", 3);  // revisions 0..2, positions 1..3
    Seed(store, "other-1", 1);  // position 4
    for (std::uint64_t wrong : {0ull, 1ull, 3ull, 100ull}) {
      INFO("expected " << wrong);
      RequireConflict(store->Append("order-1", ExpectedRevision::Exact(wrong), {Json("order.paid.v1")}),
                      "order-1", 2);
      CHECK(Head(*store) == 4);
    }
    auto appended = store->Append("order-1", ExpectedRevision::Exact(2),
                                  {Json("order.paid.v1"), Json("order.shipped.v1")});
    CAIRN_REQUIRE_OK(appended);
    CHECK(appended->first_revision == 3);
    CHECK(appended->last_revision == 4);
    CHECK(appended->first_position == 5);
    CHECK(appended->last_position == 6);
    // The revision returned is the one to expect next.
    auto next = store->Append("order-1", ExpectedRevision::Exact(appended->last_revision),
                              {Json("order.closed.v1")});
    CAIRN_REQUIRE_OK(next);
    CHECK(next->first_revision == 5);
  }
}

TEST_CASE("a conflicting append writes nothing", "[append]") {
  TestStore store;
  Seed(store, "order-1", 2);
  const auto before = ReadLogAll(*store);
  const auto events = NumberedEvents(5);
  auto failed = store->Append("order-1", ExpectedRevision::Exact(0), events);
  CAIRN_REQUIRE_ERROR(failed, ErrorCode::kConflict);
  CHECK(ReadLogAll(*store) == before);
  CHECK(Head(*store) == 2);
  // The failed append's ids were not taken: the same events append normally now.
  auto appended = store->Append("order-1", ExpectedRevision::Exact(1), events);
  CAIRN_REQUIRE_OK(appended);
  CHECK_FALSE(appended->already_committed);
  CHECK(appended->first_position == 3);
  CHECK(appended->last_position == 7);
  RequireVerifyOk(*store);
}

TEST_CASE("a multi-event append gets contiguous revisions and positions", "[append][atomic]") {
  TestStore store;
  Seed(store, "other-1", 2);  // positions 1, 2
  Seed(store, "order-1", 1);  // position 3, revision 0
  auto events = NumberedEvents(7, "order.line.v1");
  auto appended = store->Append("order-1", ExpectedRevision::Exact(0), events);
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_revision == 1);
  CHECK(appended->last_revision == 7);
  CHECK(appended->first_position == 4);
  CHECK(appended->last_position == 10);

  auto log = ReadLogAll(*store, {.from_position = 4});
  REQUIRE(log.size() == 7);
  for (std::size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].position == 4 + i);
    CHECK(log[i].stream == "order-1");
    CHECK(log[i].revision == 1 + i);
    CHECK(log[i].id == *events[i].id);
    CHECK(log[i].data == events[i].data);
    CHECK(log[i].type == "order.line.v1");
  }
  RequireGapFreeLog(*store);
}

TEST_CASE("an append with one bad event writes none of its events", "[append][atomic]") {
  TestStore store;
  Seed(store, "order-1", 1);
  const auto before = ReadLogAll(*store);
  auto events = NumberedEvents(5);

  SECTION("invalid JSON in the 3rd event") {
    events[2].data = "{\"n\":";
    CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Exact(0), events),
                        ErrorCode::kInvalidArgument);
    CAIRN_REQUIRE_ERROR(store->Append("new-1", ExpectedRevision::NoStream(), events),
                        ErrorCode::kInvalidArgument);
  }
  SECTION("non-object metadata in the last event") {
    events[4].metadata = "[1,2]";
    CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Exact(0), events),
                        ErrorCode::kInvalidArgument);
  }
  SECTION("an oversized 4th event") {
    store.options().max_event_bytes = 200;
    store.Reopen();
    events[3].data = "\"" + std::string(300, 'x') + "\"";
    CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Exact(0), events),
                        ErrorCode::kInvalidArgument);
  }
  SECTION("a reserved type in the 2nd event") {
    events[1].type = "$stream.deleted";
    CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Exact(0), events),
                        ErrorCode::kInvalidArgument);
  }
  CHECK(ReadLogAll(*store) == before);
  auto info = store->GetStreamInfo("new-1");
  CAIRN_REQUIRE_OK(info);
  CHECK_FALSE(info->exists);
  // None of the rejected events' ids were taken.
  for (auto& event : events) {
    event.data = "{}";
    event.metadata.clear();
    event.type = "test.event.v1";
  }
  auto appended = store->Append("order-1", ExpectedRevision::Exact(0), events);
  CAIRN_REQUIRE_OK(appended);
  CHECK_FALSE(appended->already_committed);
  CHECK(appended->first_position == 2);
  CHECK(appended->last_position == 6);
}

TEST_CASE("re-sending a committed append is idempotent", "[append][idempotency]") {
  TestStore store;
  Seed(store, "other-1", 1);  // position 1
  const auto events = NumberedEvents(3);

  SECTION("expected no_stream") {
    auto first = store->Append("order-1", ExpectedRevision::NoStream(), events);
    CAIRN_REQUIRE_OK(first);
    CHECK_FALSE(first->already_committed);
    const auto log = ReadLogAll(*store);

    auto retry = store->Append("order-1", ExpectedRevision::NoStream(), events);
    CAIRN_REQUIRE_OK(retry);
    CHECK(retry->already_committed);
    CHECK(retry->first_revision == first->first_revision);
    CHECK(retry->last_revision == first->last_revision);
    CHECK(retry->first_position == first->first_position);
    CHECK(retry->last_position == first->last_position);
    CHECK(ReadLogAll(*store) == log);
  }
  SECTION("expected exact, retried after the stream moved on") {
    Seed(store, "order-1", 2);  // revisions 0, 1; positions 2, 3
    auto first = store->Append("order-1", ExpectedRevision::Exact(1), events);
    CAIRN_REQUIRE_OK(first);
    CHECK(first->first_revision == 2);
    CHECK(first->first_position == 4);
    Seed(store, "order-1", 1);  // someone else appends revision 5
    const auto log = ReadLogAll(*store);

    auto retry = store->Append("order-1", ExpectedRevision::Exact(1), events);
    CAIRN_REQUIRE_OK(retry);
    CHECK(retry->already_committed);
    CHECK(retry->first_revision == 2);
    CHECK(retry->last_revision == 4);
    CHECK(retry->first_position == 4);
    CHECK(retry->last_position == 6);
    CHECK(ReadLogAll(*store) == log);
  }
  SECTION("expected any") {
    auto first = store->Append("order-1", ExpectedRevision::Any(), events);
    CAIRN_REQUIRE_OK(first);
    const auto log = ReadLogAll(*store);
    auto retry = store->Append("order-1", ExpectedRevision::Any(), events);
    CAIRN_REQUIRE_OK(retry);
    CHECK(retry->already_committed);
    CHECK(retry->first_position == first->first_position);
    CHECK(retry->last_position == first->last_position);
    CHECK(ReadLogAll(*store) == log);
  }
  RequireVerifyOk(*store);
}

TEST_CASE("an event id committed elsewhere is a duplicate", "[append][idempotency]") {
  TestStore store;
  const auto events = NumberedEvents(2);
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), events));
  const auto log = ReadLogAll(*store);

  SECTION("same ids to another stream") {
    CAIRN_REQUIRE_ERROR(store->Append("order-2", ExpectedRevision::NoStream(), events),
                        ErrorCode::kDuplicateEventId);
    auto info = store->GetStreamInfo("order-2");
    CAIRN_REQUIRE_OK(info);
    CHECK_FALSE(info->exists);
  }
  SECTION("one committed id among new ones to another stream") {
    auto mixed = NumberedEvents(3);
    mixed[1].id = events[0].id;
    CAIRN_REQUIRE_ERROR(store->Append("order-2", ExpectedRevision::Any(), mixed),
                        ErrorCode::kDuplicateEventId);
  }
  SECTION("a committed id at another revision of the same stream") {
    auto again = NumberedEvents(1);
    again[0].id = events[0].id;
    // Revision 2 is not where the id was committed (revision 0): not a retry.
    auto result = store->Append("order-1", ExpectedRevision::Exact(1), again);
    INFO(Describe(result));
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code() == ErrorCode::kDuplicateEventId);
  }
  CHECK(ReadLogAll(*store) == log);
}

TEST_CASE("a partial retry (some ids committed, some new) is refused and writes nothing",
          "[append][idempotency]") {
  TestStore store;
  auto events = NumberedEvents(2);
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), events));
  const auto log = ReadLogAll(*store);
  events.push_back(JsonWithId("test.event.v1"));
  auto result = store->Append("order-1", ExpectedRevision::NoStream(), events);
  INFO(Describe(result));
  REQUIRE_FALSE(result.has_value());
  CHECK((result.error().code() == ErrorCode::kDuplicateEventId ||
         result.error().code() == ErrorCode::kConflict));
  CHECK(ReadLogAll(*store) == log);
}

TEST_CASE("duplicate ids within one append are invalid", "[append][idempotency]") {
  TestStore store;
  auto events = NumberedEvents(3);
  events[2].id = events[0].id;
  CAIRN_REQUIRE_ERROR(store->Append("order-1", ExpectedRevision::Any(), events),
                      ErrorCode::kInvalidArgument);
  CHECK(Head(*store) == 0);
}

TEST_CASE("generated ids are unique UUIDv7s", "[append][ids]") {
  TestStore store;
  std::vector<cairn::EventData> events(50, Json("test.event.v1"));
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), events));
  CAIRN_REQUIRE_OK(store->Append("order-2", ExpectedRevision::Any(), events));
  const auto log = ReadLogAll(*store);
  REQUIRE(log.size() == 100);
  std::set<cairn::EventId> ids;
  for (const auto& event : log) {
    INFO(event.id.ToString());
    CHECK(event.id.bytes[6] >> 4 == 7);           // version 7
    CHECK((event.id.bytes[8] & 0xC0) == 0x80);    // RFC 9562 variant
    CHECK_FALSE(event.id.IsNil());
    ids.insert(event.id);
  }
  CHECK(ids.size() == 100);
}

TEST_CASE("recorded events keep what was appended", "[append]") {
  TestStore store;
  cairn::EventData json = JsonWithId("order.placed.v1", "{ \"total\" : 42,\n \"name\": \"Zoë ✓\" }");
  json.metadata = R"({"correlation_id":"c-1","actor":"alice"})";
  cairn::EventData bytes;
  bytes.id = cairn::EventId::NewV7();
  bytes.type = "blob.stored.v1";
  bytes.content_type = std::string(cairn::kContentTypeOctets);
  bytes.data = std::string("\0\x01\xff\xfe not json", 14);
  cairn::EventData vendor_json = JsonWithId("order.noted.v2", "[1,2,3]");
  vendor_json.content_type = "application/vnd.acme.note+json";

  const auto before_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), {json, bytes, vendor_json}));
  const auto after_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();

  const auto log = ReadLogAll(*store);
  REQUIRE(log.size() == 3);
  const cairn::EventData* proposed[] = {&json, &bytes, &vendor_json};
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("event " << i);
    CHECK(log[i].id == *proposed[i]->id);
    CHECK(log[i].type == proposed[i]->type);
    CHECK(log[i].data == proposed[i]->data);  // byte-exact
    CHECK(log[i].content_type == proposed[i]->content_type);
    CHECK(log[i].metadata == proposed[i]->metadata);
    CHECK(log[i].recorded_at_us >= before_us - 1'000'000);  // allow for a coarse clock
    CHECK(log[i].recorded_at_us <= after_us + 1'000'000);
    CHECK(log[i].hash != cairn::kGenesisHash);
  }
  CHECK(log[0].recorded_at_us <= log[1].recorded_at_us);
  CHECK(log[1].recorded_at_us <= log[2].recorded_at_us);
}

}  // namespace
}  // namespace cairn_test
