// EventId: parsing, printing, UUIDv7 generation.
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/event.h"
#include "test_util.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::EventId;

TEST_CASE("EventId::Parse reads the canonical form and round-trips through ToString", "[event_id]") {
  auto id = EventId::Parse("0190a5c8-7e1c-7a3b-9f00-0123456789ab");
  CAIRN_REQUIRE_OK(id);
  const std::array<std::uint8_t, 16> expected = {0x01, 0x90, 0xa5, 0xc8, 0x7e, 0x1c, 0x7a, 0x3b,
                                                 0x9f, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
  CHECK(id->bytes == expected);
  CHECK(id->ToString() == "0190a5c8-7e1c-7a3b-9f00-0123456789ab");
  CHECK_FALSE(id->IsNil());

  for (const std::string text : {"0190A5C8-7E1C-7A3B-9F00-0123456789AB", "0190a5c87e1c7a3b9f000123456789ab",
                                 "0190A5C87e1c7a3b9F000123456789Ab"}) {
    INFO(text);
    auto parsed = EventId::Parse(text);
    CAIRN_REQUIRE_OK(parsed);
    CHECK(*parsed == *id);
    CHECK(parsed->ToString() == "0190a5c8-7e1c-7a3b-9f00-0123456789ab");
  }
}

TEST_CASE("EventId::Parse rejects malformed text", "[event_id]") {
  const std::vector<std::string> bad = {
      "",
      "0190a5c8-7e1c-7a3b-9f00-0123456789a",    // 31 digits
      "0190a5c8-7e1c-7a3b-9f00-0123456789abc",  // 33 digits
      "0190a5c8-7e1c-7a3b-9f00-0123456789ag",   // not hex
      "0190a5c87e1c7a3b9f000123456789a",        // 31 digits, no hyphens
      "0190a5c87e1c7a3b9f000123456789abcd",     // 34 digits, no hyphens
      "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
      "not an id",
      std::string("0190a5c8-7e1c-7a3b-9f00-0123456789a\0", 36),
  };
  for (const auto& text : bad) {
    INFO("'" << text << "'");
    CAIRN_CHECK_ERROR(EventId::Parse(text), ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("EventId bytes round trip", "[event_id]") {
  const std::string raw("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16);
  const EventId id = EventId::FromBytes(raw);
  CHECK(id.AsBytes() == raw);
  CHECK(id.ToString() == "00112233-4455-6677-8899-aabbccddeeff");
  CHECK(EventId{}.IsNil());
  CHECK(EventId{}.ToString() == "00000000-0000-0000-0000-000000000000");
  CHECK(EventId::FromBytes(std::string(16, '\0')).IsNil());
}

TEST_CASE("EventId::NewV7 makes RFC 9562 version-7 ids from the current time", "[event_id]") {
  const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  const EventId id = EventId::NewV7();
  const auto after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(id.bytes[6] >> 4 == 7);
  CHECK((id.bytes[8] & 0xC0) == 0x80);
  std::int64_t unix_ms = 0;
  for (int i = 0; i < 6; ++i) unix_ms = (unix_ms << 8) | id.bytes[i];
  CHECK(unix_ms >= before_ms);
  // A generator may run a little ahead of the clock to stay monotonic (RFC 9562 6.2).
  CHECK(unix_ms <= after_ms + 1000);
  auto parsed = EventId::Parse(id.ToString());
  CAIRN_REQUIRE_OK(parsed);
  CHECK(*parsed == id);
}

TEST_CASE("EventId::NewV7 is strictly increasing and unique", "[event_id]") {
  std::vector<EventId> ids;
  for (int i = 0; i < 20000; ++i) ids.push_back(EventId::NewV7());
  for (std::size_t i = 1; i < ids.size(); ++i) {
    if (!(ids[i - 1] < ids[i])) {
      FAIL("not increasing at " << i << ": " << ids[i - 1].ToString() << " then " << ids[i].ToString());
    }
  }
  for (const auto& id : ids) {
    if (id.bytes[6] >> 4 != 7 || (id.bytes[8] & 0xC0) != 0x80) FAIL("bad version/variant " << id.ToString());
  }
}

TEST_CASE("EventId::NewV7 from many threads: unique, increasing per thread", "[event_id]") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<EventId>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&per_thread, t] {
      for (int i = 0; i < kPerThread; ++i) per_thread[t].push_back(EventId::NewV7());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<EventId> all;
  for (const auto& ids : per_thread) {
    for (std::size_t i = 1; i < ids.size(); ++i) REQUIRE(ids[i - 1] < ids[i]);
    all.insert(ids.begin(), ids.end());
  }
  CHECK(all.size() == kThreads * kPerThread);
}

}  // namespace
}  // namespace cairn_test
