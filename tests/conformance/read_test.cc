// Reads: a stream forward/backward, the global log, filters, early stop.
#include <stdexcept>
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::Direction;
using cairn::ErrorCode;
using cairn::ExpectedRevision;

// Revisions visited by ReadStream(stream, options).
std::vector<std::uint64_t> Revisions(cairn::EventStore& store, std::string_view stream,
                                     const cairn::ReadStreamOptions& options) {
  auto events = ReadStreamAll(store, stream, options);
  CAIRN_REQUIRE_OK(events);
  std::vector<std::uint64_t> revisions;
  for (const auto& event : *events) revisions.push_back(event.revision);
  return revisions;
}

// Positions visited by ReadLog(options).
std::vector<std::uint64_t> Positions(cairn::EventStore& store, const cairn::ReadLogOptions& options) {
  std::vector<std::uint64_t> positions;
  for (const auto& event : ReadLogAll(store, options)) positions.push_back(event.position);
  return positions;
}

using V = std::vector<std::uint64_t>;

// order-1: 10 events, types alternating a.v1 (even revisions) / b.v1 (odd).
void AppendOrderStream(TestStore& store) {
  std::vector<cairn::EventData> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back(Json(i % 2 == 0 ? "a.v1" : "b.v1", "{\"i\":" + std::to_string(i) + "}"));
  }
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), events));
}

TEST_CASE("read a stream forward", "[read]") {
  TestStore store;
  AppendOrderStream(store);
  CAIRN_REQUIRE_OK(store->Append("other-1", ExpectedRevision::NoStream(), {Json("a.v1")}));

  CHECK(Revisions(*store, "order-1", {}) == V{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(Revisions(*store, "order-1", {.from_revision = 3, .max_count = 4}) == V{3, 4, 5, 6});
  CHECK(Revisions(*store, "order-1", {.from_revision = 8}) == V{8, 9});
  CHECK(Revisions(*store, "order-1", {.max_count = 1}) == V{0});
  CHECK(Revisions(*store, "order-1", {.from_revision = 10}).empty());
  CHECK(Revisions(*store, "order-1", {.types = {"b.v1"}}) == V{1, 3, 5, 7, 9});
  // Filtered-out events do not count towards max_count.
  CHECK(Revisions(*store, "order-1", {.from_revision = 2, .max_count = 2, .types = {"b.v1"}}) == V{3, 5});
  CHECK(Revisions(*store, "order-1", {.types = {"a.v1", "b.v1"}}).size() == 10);
  CHECK(Revisions(*store, "order-1", {.types = {"c.v1"}}).empty());

  auto events = ReadStreamAll(*store, "order-1");
  CAIRN_REQUIRE_OK(events);
  for (const auto& event : *events) {
    CHECK(event.stream == "order-1");
    CHECK(event.position == event.revision + 1);
    CHECK(event.data == "{\"i\":" + std::to_string(event.revision) + "}");
  }
}

TEST_CASE("read a stream backward", "[read]") {
  TestStore store;
  AppendOrderStream(store);
  const auto backward = [](cairn::ReadStreamOptions options) {
    options.direction = Direction::kBackward;
    return options;
  };
  CHECK(Revisions(*store, "order-1", backward({})) == V{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK(Revisions(*store, "order-1", backward({.from_revision = 5, .max_count = 3})) == V{5, 4, 3});
  CHECK(Revisions(*store, "order-1", backward({.max_count = 1})) == V{9});
  CHECK(Revisions(*store, "order-1", backward({.from_revision = 0})) == V{0});
  CHECK(Revisions(*store, "order-1", backward({.from_revision = 6, .types = {"b.v1"}})) == V{5, 3, 1});
  CHECK(Revisions(*store, "order-1", backward({.max_count = 2, .types = {"a.v1"}})) == V{8, 6});
}

TEST_CASE("read the global log", "[read]") {
  TestStore store;
  // positions: 1 order-1/a, 2 cust-1/b, 3 order-2/a, 4 order-1/b, 5 cust-1/a, 6 order-2/b, 7 orders-9/a
  const std::vector<std::pair<std::string, std::string>> appends = {
      {"order-1", "a.v1"}, {"cust-1", "b.v1"}, {"order-2", "a.v1"}, {"order-1", "b.v1"},
      {"cust-1", "a.v1"},  {"order-2", "b.v1"}, {"orders-9", "a.v1"}};
  for (const auto& [stream, type] : appends) {
    CAIRN_REQUIRE_OK(store->Append(stream, ExpectedRevision::Any(), {Json(type)}));
  }
  CHECK(Positions(*store, {}) == V{1, 2, 3, 4, 5, 6, 7});
  CHECK(Positions(*store, {.from_position = 3}) == V{3, 4, 5, 6, 7});
  CHECK(Positions(*store, {.from_position = 3, .to_position = 5}) == V{3, 4, 5});
  CHECK(Positions(*store, {.from_position = 2, .max_count = 2}) == V{2, 3});
  CHECK(Positions(*store, {.from_position = 8}).empty());
  CHECK(Positions(*store, {.filter = {.category = "order"}}) == V{1, 3, 4, 6});
  CHECK(Positions(*store, {.filter = {.category = "orders"}}) == V{7});
  CHECK(Positions(*store, {.filter = {.category = "cust"}}) == V{2, 5});
  CHECK(Positions(*store, {.filter = {.category = "ord"}}).empty());
  CHECK(Positions(*store, {.filter = {.types = {"b.v1"}}}) == V{2, 4, 6});
  CHECK(Positions(*store, {.filter = {.category = "order", .types = {"a.v1"}}}) == V{1, 3});
  // max_count counts matching events only.
  CHECK(Positions(*store, {.max_count = 2, .filter = {.category = "order"}}) == V{1, 3});
  CHECK(Positions(*store, {.from_position = 2, .to_position = 6, .max_count = 1,
                           .filter = {.category = "order", .types = {"b.v1"}}}) == V{4});

  const auto log = ReadLogAll(*store);
  for (std::size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].stream == appends[i].first);
    CHECK(log[i].type == appends[i].second);
  }
}

TEST_CASE("a visitor returning false stops the read", "[read]") {
  TestStore store;
  AppendOrderStream(store);
  int calls = 0;
  auto stop_at_third = [&](const cairn::EventView&) { return ++calls < 3; };

  auto stream = store->ReadStream("order-1", {}, stop_at_third);
  CAIRN_REQUIRE_OK(stream);
  CHECK(calls == 3);
  CHECK(*stream == 3);

  calls = 0;
  auto log = store->ReadLog({}, stop_at_third);
  CAIRN_REQUIRE_OK(log);
  CHECK(calls == 3);
  CHECK(*log == 3);
}

TEST_CASE("an exception from a visitor propagates and leaves the store usable", "[read]") {
  TestStore store;
  AppendOrderStream(store);
  const auto throwing = [](const cairn::EventView& event) -> bool {
    if (event.revision == 2) throw std::runtime_error("visitor failed");
    return true;
  };
  CHECK_THROWS_AS(store->ReadStream("order-1", {}, throwing), std::runtime_error);
  CHECK_THROWS_AS(store->ReadLog({}, throwing), std::runtime_error);
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Exact(9), {Json("a.v1")}));
  CHECK(RequireGapFreeLog(*store).size() == 11);
  RequireVerifyOk(*store);
}

TEST_CASE("reading a missing stream is kNotFound", "[read]") {
  TestStore store;
  CAIRN_REQUIRE_ERROR(store->ReadStream("order-1", {}, [](const cairn::EventView&) { return true; }),
                      ErrorCode::kNotFound);
  CAIRN_REQUIRE_OK(store->Append("order-2", ExpectedRevision::Any(), {Json("a.v1")}));
  CAIRN_REQUIRE_ERROR(store->ReadStream("order-1", {}, [](const cairn::EventView&) { return true; }),
                      ErrorCode::kNotFound);
  auto info = store->GetStreamInfo("order-1");
  CAIRN_REQUIRE_OK(info);
  CHECK_FALSE(info->exists);
  CHECK_FALSE(info->deleted);
}

TEST_CASE("stream info and head position", "[read]") {
  TestStore store;
  CHECK(Head(*store) == 0);
  CHECK(ReadLogAll(*store).empty());
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), NumberedEvents(3)));
  CAIRN_REQUIRE_OK(store->Append("cust-1", ExpectedRevision::Any(), NumberedEvents(2)));
  auto info = store->GetStreamInfo("order-1");
  CAIRN_REQUIRE_OK(info);
  CHECK(info->exists);
  CHECK_FALSE(info->deleted);
  CHECK(info->head_revision == std::optional<std::uint64_t>(2));
  CHECK(info->head_position == 3);
  CHECK(Head(*store) == 5);

  auto stats = store->Stats();
  CAIRN_REQUIRE_OK(stats);
  CHECK(stats->backend == TestBackendName());
  CHECK(stats->path == store.path());
  CHECK(stats->head_position == 5);
  CHECK(stats->stream_count == 2);
  CHECK(stats->deleted_stream_count == 0);
  CHECK(stats->format_version >= 1);
  CHECK(stats->file_bytes > 0);
  CHECK(stats->first_recorded_at_us > 0);
  CHECK(stats->first_recorded_at_us <= stats->last_recorded_at_us);
  CHECK(store->path() == store.path());
}

}  // namespace
}  // namespace cairn_test
