// Subscriptions: catch-up then live without gap or duplicate at the seam,
// filters, wake-up on commit, timeouts and Stop().
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// What appender threads acknowledged: event id -> position.
struct Acked {
  std::mutex mutex;
  std::map<cairn::EventId, std::uint64_t> positions;
  std::vector<std::string> errors;
};

// Runs `threads` appenders, each making `appends` appends of 1-3 events to the
// streams chosen by `stream_for(thread, i)` with the type chosen by `type_for(i)`.
std::vector<std::thread> StartAppenders(cairn::EventStore& store, Acked& acked, int threads, int appends,
                                        std::function<std::string(int, int)> stream_for,
                                        std::function<std::string(int)> type_for) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&store, &acked, t, appends, stream_for, type_for] {
      for (int i = 0; i < appends; ++i) {
        std::vector<cairn::EventData> events;
        for (int k = 0; k <= i % 3; ++k) events.push_back(JsonWithId(type_for(i + k)));
        auto appended = store.Append(stream_for(t, i), ExpectedRevision::Any(), events);
        std::lock_guard lock(acked.mutex);
        if (!appended) {
          acked.errors.push_back(appended.error().ToString());
          return;
        }
        for (std::size_t k = 0; k < events.size(); ++k) {
          acked.positions[*events[k].id] = appended->first_position + k;
        }
        if (i % 16 == 0) std::this_thread::yield();
      }
    });
  }
  return workers;
}

TEST_CASE("a subscription sees every event once, in order, across the catch-up/live seam",
          "[subscription]") {
  TestStore store;
  Acked acked;
  // Some history first, so that the subscription starts by catching up.
  for (int i = 0; i < 20; ++i) {
    auto events = NumberedEvents(2);
    auto appended = store->Append("seed-" + std::to_string(i % 3), ExpectedRevision::Any(), events);
    CAIRN_REQUIRE_OK(appended);
    acked.positions[*events[0].id] = appended->first_position;
    acked.positions[*events[1].id] = appended->last_position;
  }
  auto subscription = store->Subscribe({.after_position = 0});
  CAIRN_REQUIRE_OK(subscription);

  constexpr int kThreads = 4;
  constexpr int kAppends = 150;
  std::atomic<bool> done{false};
  auto workers = StartAppenders(
      *store, acked, kThreads, kAppends,
      [](int t, int i) { return (i % 2 == 0 ? "own-" : "shared-") + std::to_string(i % 2 == 0 ? t : 0); },
      [](int) { return std::string("test.event.v1"); });

  std::vector<cairn::RecordedEvent> seen;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  std::thread joiner([&] {
    for (auto& worker : workers) worker.join();
    done = true;
  });
  for (;;) {
    const bool finished = done.load();
    std::size_t expected_total = 0;
    {
      std::lock_guard lock(acked.mutex);
      expected_total = acked.positions.size();
    }
    if (finished && seen.size() >= expected_total) break;
    if (Clock::now() > deadline) break;
    auto polled = (*subscription)->Poll(
        [&](const cairn::EventView& event) {
          seen.push_back(event.ToOwned());
          return true;
        },
        50, milliseconds(100));
    CAIRN_REQUIRE_OK(polled);
  }
  joiner.join();
  {
    std::lock_guard lock(acked.mutex);
    INFO("appender errors: " << (acked.errors.empty() ? "" : acked.errors.front()));
    REQUIRE(acked.errors.empty());
  }
  const std::size_t total = 20 * 2 + kThreads * (kAppends / 3) * (1 + 2 + 3);
  REQUIRE(acked.positions.size() == total);
  REQUIRE(seen.size() == total);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("delivery " << i);
    REQUIRE(seen[i].position == i + 1);  // strictly increasing, no gap, no duplicate
    auto it = acked.positions.find(seen[i].id);
    REQUIRE(it != acked.positions.end());
    REQUIRE(it->second == seen[i].position);
  }
  CHECK((*subscription)->checkpoint() == total);
  // Nothing more to deliver.
  auto more = (*subscription)->Poll([](const cairn::EventView&) { return true; }, 10, milliseconds(50));
  CAIRN_REQUIRE_OK(more);
  CHECK(*more == 0);
  CHECK(ReadLogAll(*store) == seen);
}

// Runs appenders over alpha-/beta- streams with types x.v1/y.v1 while a
// subscription with `filter` polls; it must deliver exactly what ReadLog with
// the same filter returns afterwards.
void CheckFilteredSubscription(const cairn::LogFilter& filter) {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("alpha-0", ExpectedRevision::Any(), {Json("x.v1"), Json("y.v1")}));
  CAIRN_REQUIRE_OK(store->Append("beta-0", ExpectedRevision::Any(), {Json("y.v1")}));
  auto subscription = store->Subscribe({.after_position = 0, .filter = filter});
  CAIRN_REQUIRE_OK(subscription);
  Acked acked;
  auto workers = StartAppenders(
      *store, acked, 2, 120,
      [](int t, int i) { return std::string(i % 3 == 0 ? "alpha-" : "beta-") + std::to_string(t); },
      [](int i) { return std::string(i % 2 == 0 ? "x.v1" : "y.v1"); });
  std::vector<cairn::RecordedEvent> seen;
  const auto poll_once = [&](milliseconds timeout) {
    auto polled = (*subscription)->Poll(
        [&](const cairn::EventView& event) {
          seen.push_back(event.ToOwned());
          return true;
        },
        16, timeout);
    CAIRN_REQUIRE_OK(polled);
    return *polled;
  };
  // Poll while the appenders run, then drain.
  for (int i = 0; i < 20; ++i) poll_once(milliseconds(20));
  for (auto& worker : workers) worker.join();
  REQUIRE(acked.errors.empty());
  const auto expected = ReadLogAll(*store, {.filter = filter});
  REQUIRE(expected.size() > 10);
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (seen.size() < expected.size() && Clock::now() < deadline) poll_once(milliseconds(100));
  CHECK(poll_once(milliseconds(50)) == 0);
  REQUIRE(seen == expected);
  for (const auto& event : seen) CHECK(filter.Matches(event.view()));
  CHECK((*subscription)->checkpoint() >= expected.back().position);
  CHECK((*subscription)->checkpoint() <= Head(*store));
}

TEST_CASE("a category subscription delivers only that category", "[subscription]") {
  CheckFilteredSubscription({.category = "alpha"});
}

TEST_CASE("a type subscription delivers only those types", "[subscription]") {
  CheckFilteredSubscription({.types = {"y.v1"}});
}

TEST_CASE("a subscription starts after its checkpoint", "[subscription]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), NumberedEvents(10)));
  auto subscription = store->Subscribe({.after_position = 7});
  CAIRN_REQUIRE_OK(subscription);
  std::vector<std::uint64_t> positions;
  const auto visit = [&](const cairn::EventView& event) {
    positions.push_back(event.position);
    return true;
  };
  auto first = (*subscription)->Poll(visit, 2, milliseconds(0));
  CAIRN_REQUIRE_OK(first);
  CHECK(*first == 2);  // max_events is honoured
  auto second = (*subscription)->Poll(visit, 100, milliseconds(0));
  CAIRN_REQUIRE_OK(second);
  CHECK(*second == 1);
  CHECK(positions == std::vector<std::uint64_t>{8, 9, 10});
  CHECK((*subscription)->checkpoint() == 10);
}

TEST_CASE("a commit in this process wakes a waiting Poll at once", "[subscription]") {
  cairn::Options options = TestOptions();
  // A slow external poll proves the wake-up comes from the commit itself.
  options.external_poll_interval = milliseconds(5000);
  TestStore store(options);
  auto subscription = store->Subscribe({});
  CAIRN_REQUIRE_OK(subscription);
  std::thread appender([&] {
    std::this_thread::sleep_for(milliseconds(150));
    (void)store->Append("order-1", ExpectedRevision::Any(), {Json("a.v1")});
  });
  std::size_t delivered = 0;
  const auto start = Clock::now();
  auto polled = (*subscription)->Poll(
      [&](const cairn::EventView& event) {
        delivered += event.position == 1 ? 1 : 100;
        return true;
      },
      10, milliseconds(10'000));
  const auto elapsed = Clock::now() - start;
  appender.join();
  CAIRN_REQUIRE_OK(polled);
  CHECK(*polled == 1);
  CHECK(delivered == 1);
  CHECK(elapsed < milliseconds(2000));
}

TEST_CASE("Poll with nothing new returns 0 after about the timeout", "[subscription]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("a.v1")}));
  auto subscription = store->Subscribe({.after_position = 1});
  CAIRN_REQUIRE_OK(subscription);
  const auto start = Clock::now();
  auto polled = (*subscription)->Poll([](const cairn::EventView&) { return true; }, 10, milliseconds(300));
  const auto elapsed = Clock::now() - start;
  CAIRN_REQUIRE_OK(polled);
  CHECK(*polled == 0);
  CHECK(elapsed >= milliseconds(280));
  CHECK(elapsed < milliseconds(2000));
  CHECK((*subscription)->checkpoint() == 1);
}

TEST_CASE("Stop wakes a waiting Poll and later Polls are cancelled", "[subscription]") {
  TestStore store;
  auto subscription = store->Subscribe({});
  CAIRN_REQUIRE_OK(subscription);
  std::optional<cairn::Result<std::size_t>> woken;
  Clock::duration waited{};
  std::thread poller([&] {
    const auto start = Clock::now();
    woken = (*subscription)->Poll([](const cairn::EventView&) { return true; }, 10, milliseconds(20'000));
    waited = Clock::now() - start;
  });
  std::this_thread::sleep_for(milliseconds(200));
  (*subscription)->Stop();
  poller.join();
  REQUIRE(woken.has_value());
  CHECK(waited < milliseconds(3000));
  // The woken Poll either reports the cancellation or returns with nothing.
  if (woken->has_value()) {
    CHECK(**woken == 0);
  } else {
    CHECK(woken->error().code() == ErrorCode::kCancelled);
  }
  CAIRN_CHECK_ERROR((*subscription)->Poll([](const cairn::EventView&) { return true; }, 10, milliseconds(0)),
                    ErrorCode::kCancelled);
  // Even with events available.
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("a.v1")}));
  CAIRN_CHECK_ERROR((*subscription)->Poll([](const cairn::EventView&) { return true; }, 10, milliseconds(10)),
                    ErrorCode::kCancelled);
}

TEST_CASE("a subscription outlives its store", "[subscription]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), NumberedEvents(5)));
  auto subscription = store->Subscribe({});
  CAIRN_REQUIRE_OK(subscription);
  store.Close();
  std::vector<std::uint64_t> positions;
  auto polled = (*subscription)->Poll(
      [&](const cairn::EventView& event) {
        positions.push_back(event.position);
        return true;
      },
      100, milliseconds(100));
  CAIRN_REQUIRE_OK(polled);
  CHECK(positions == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  subscription->reset();
}

}  // namespace
}  // namespace cairn_test
