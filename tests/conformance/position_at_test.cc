// EventStore::PositionAtOrAfter on every backend: the first position recorded
// at or after a time, at every boundary — before the first event, between
// events, on runs of events sharing one recorded_at, after the last, empty store.
#include <cstdint>
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::RecordedEvent;

// An imported log whose recorded_at values are `times` (one event each, one
// stream), so that the test knows every time exactly.
void ImportWithTimes(cairn::EventStore& store, const std::vector<std::int64_t>& times) {
  std::vector<RecordedEvent> events;
  cairn::Hash hash = cairn::kGenesisHash;
  for (std::size_t i = 0; i < times.size(); ++i) {
    RecordedEvent event;
    event.position = i + 1;
    event.stream = "clock-1";
    event.revision = i;
    event.id = cairn::EventId::NewV7();
    event.type = "clock.ticked.v1";
    event.recorded_at_us = times[i];
    event.content_type = std::string(cairn::kContentTypeJson);
    event.data = "{\"i\":" + std::to_string(i) + "}";
    event.hash = hash = cairn::ChainHash(hash, event.view());
    events.push_back(std::move(event));
  }
  std::size_t next = 0;
  CAIRN_REQUIRE_OK(store.Import([&](RecordedEvent& event) -> cairn::Result<bool> {
    if (next == events.size()) return false;
    event = events[next++];
    return true;
  }));
}

std::uint64_t At(cairn::EventStore& store, std::int64_t time) {
  auto position = store.PositionAtOrAfter(time);
  CAIRN_REQUIRE_OK(position);
  return *position;
}

TEST_CASE("PositionAtOrAfter finds the first event at or after a time", "[position-at]") {
  TestStore store;
  CHECK(At(*store, 0) == 1);  // empty store: head + 1
  CHECK(At(*store, INT64_MAX) == 1);

  // Positions:          1    2    3    4    5    6    7    8
  ImportWithTimes(*store, {100, 200, 200, 200, 300, 400, 400, 500});
  CHECK(At(*store, INT64_MIN) == 1);
  CHECK(At(*store, 99) == 1);
  CHECK(At(*store, 100) == 1);
  CHECK(At(*store, 101) == 2);
  CHECK(At(*store, 200) == 2);  // every event of a shared timestamp is included
  CHECK(At(*store, 201) == 5);
  CHECK(At(*store, 300) == 5);
  CHECK(At(*store, 399) == 6);
  CHECK(At(*store, 400) == 6);
  CHECK(At(*store, 401) == 8);
  CHECK(At(*store, 500) == 8);
  CHECK(At(*store, 501) == 9);  // after the last: head + 1
  CHECK(At(*store, INT64_MAX) == 9);
}

TEST_CASE("PositionAtOrAfter agrees with a scan on a long log with runs of equal times", "[position-at]") {
  TestStore store;
  std::vector<std::int64_t> times;
  std::int64_t t = 1'700'000'000'000'000;
  for (int i = 0; i < 1000; ++i) {
    if (i % 7 != 0) t += (i % 3) * 10;  // runs of equal times, steps of 10 and 20
    times.push_back(t);
  }
  ImportWithTimes(*store, times);
  for (std::int64_t probe = times.front() - 5; probe <= times.back() + 5; probe += 3) {
    std::uint64_t expected = times.size() + 1;
    for (std::size_t i = 0; i < times.size(); ++i) {
      if (times[i] >= probe) {
        expected = i + 1;
        break;
      }
    }
    INFO("time " << probe);
    REQUIRE(At(*store, probe) == expected);
  }
}

TEST_CASE("PositionAtOrAfter on appended events: one append shares one recorded_at", "[position-at]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", cairn::ExpectedRevision::NoStream(), NumberedEvents(1)));
  CAIRN_REQUIRE_OK(store->Append("order-2", cairn::ExpectedRevision::NoStream(), NumberedEvents(3)));
  CAIRN_REQUIRE_OK(store->Append("order-3", cairn::ExpectedRevision::NoStream(), NumberedEvents(1)));
  const auto log = ReadLogAll(*store);
  REQUIRE(log.size() == 5);
  CHECK(log[1].recorded_at_us == log[3].recorded_at_us);
  for (const auto& event : log) {
    const std::uint64_t found = At(*store, event.recorded_at_us);
    CHECK(found <= event.position);
    CHECK(log[found - 1].recorded_at_us == event.recorded_at_us);
    if (found > 1) CHECK(log[found - 2].recorded_at_us < event.recorded_at_us);
  }
  CHECK(At(*store, log.back().recorded_at_us + 1) == 6);
}

}  // namespace
}  // namespace cairn_test
