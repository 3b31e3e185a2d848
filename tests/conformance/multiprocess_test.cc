// Two processes on one store: a reader subscribed in another process sees every
// commit in order; writers in two processes take turns without a gap.
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ExpectedRevision;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST_CASE("a subscriber in another process sees every commit in order", "[multiprocess]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-0", ExpectedRevision::NoStream(), NumberedEvents(3)));
  constexpr int kAppends = 90;
  std::size_t total = 3;
  for (int i = 0; i < kAppends; ++i) total += 1 + i % 3;

  ChildProcess child({HelperPath(), "subscribe", BackendArg(), store.path(), std::to_string(total), "30000"});
  const auto ready = child.ReadLine(milliseconds(20'000));
  REQUIRE(ready == std::optional<std::string>("ready"));

  for (int i = 0; i < kAppends; ++i) {
    auto appended = store->Append("order-" + std::to_string(1 + i % 4), ExpectedRevision::Any(),
                                  NumberedEvents(1 + i % 3));
    CAIRN_REQUIRE_OK(appended);
    if (i % 15 == 14) std::this_thread::sleep_for(milliseconds(30));  // let the child go live
  }
  const auto last_commit = Clock::now();

  std::vector<std::string> lines;
  std::optional<std::string> done;
  while (auto line = child.ReadLine(milliseconds(30'000))) {
    if (line->starts_with("done")) {
      done = line;
      break;
    }
    lines.push_back(*line);
  }
  const auto latency = Clock::now() - last_commit;
  REQUIRE(done == std::optional<std::string>("done " + std::to_string(total)));
  REQUIRE(child.WaitSucceeded());
  // Cross-process commits are noticed within about Options::external_poll_interval
  // (50 ms), not at the end of the child's 5 s Poll timeout.
  CHECK(latency < milliseconds(2500));

  const auto log = ReadLogAll(*store);
  REQUIRE(log.size() == total);
  REQUIRE(lines.size() == total);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO("child line: " << lines[i]);
    std::istringstream in(lines[i]);
    std::string tag, id, stream;
    std::uint64_t position = 0, revision = 0;
    in >> tag >> position >> revision >> id >> stream;
    REQUIRE(tag == "E");
    CHECK(position == i + 1);
    CHECK(revision == log[i].revision);
    CHECK(id == log[i].id.ToString());
    CHECK(stream == log[i].stream);
  }
}

TEST_CASE("two processes append to one store, writers take turns", "[multiprocess]") {
  TestStore store;
  // A subscription in this process must also see the other process's commits.
  auto subscription = store->Subscribe({});
  CAIRN_REQUIRE_OK(subscription);
  constexpr int kAppends = 120;
  ChildProcess child({HelperPath(), "append", BackendArg(), store.path(), "1", std::to_string(kAppends)});

  // Start writing once the child has written, so that both write at once.
  std::vector<std::string> lines;
  auto first = child.ReadLine(milliseconds(20'000));
  REQUIRE(first.has_value());
  lines.push_back(*first);

  std::map<cairn::EventId, AckedEvent> acked;
  std::optional<std::uint64_t> own_head;
  for (int i = 0; i < kAppends; ++i) {
    const bool to_own = i % 2 == 0;
    const std::string stream = to_own ? "parent-own" : "shared-1";
    auto events = NumberedEvents(1 + i % 3, "parent.event.v1");
    const auto expected = !to_own    ? ExpectedRevision::Any()
                          : own_head ? ExpectedRevision::Exact(*own_head)
                                     : ExpectedRevision::NoStream();
    auto appended = store->Append(stream, expected, events);
    CAIRN_REQUIRE_OK(appended);
    if (to_own) {
      CHECK(appended->first_revision == (own_head ? *own_head + 1 : 0));
      own_head = appended->last_revision;
    }
    for (std::size_t k = 0; k < events.size(); ++k) {
      acked[*events[k].id] = {*events[k].id, stream, appended->first_revision + k, appended->first_position + k};
    }
  }
  while (auto line = child.ReadLine(milliseconds(60'000))) {
    if (*line == "done") break;
    lines.push_back(*line);
  }
  REQUIRE(child.WaitSucceeded());
  REQUIRE(lines.size() == static_cast<std::size_t>(kAppends));
  for (const auto& line : lines) {
    for (const auto& event : ParseAckLine(line)) acked[event.id] = event;
  }

  const auto log = RequireGapFreeLog(*store);
  REQUIRE(log.size() == acked.size());
  for (const auto& event : log) {
    auto it = acked.find(event.id);
    REQUIRE(it != acked.end());
    CHECK(it->second.position == event.position);
    CHECK(it->second.stream == event.stream);
    CHECK(it->second.revision == event.revision);
  }
  const auto report = RequireVerifyOk(*store);
  CHECK(report.head_hash == RecomputeChain(log));

  std::vector<cairn::RecordedEvent> seen;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (seen.size() < log.size() && Clock::now() < deadline) {
    auto polled = (*subscription)->Poll(
        [&](const cairn::EventView& event) {
          seen.push_back(event.ToOwned());
          return true;
        },
        256, milliseconds(200));
    CAIRN_REQUIRE_OK(polled);
  }
  CHECK(seen == log);

  // A store reopened after both writers is consistent too.
  store.Reopen();
  CHECK(ReadLogAll(*store) == log);
}

}  // namespace
}  // namespace cairn_test
