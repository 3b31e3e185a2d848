// Many threads appending at once (group commit): gap-free positions, contiguous
// revisions, every acknowledged event exactly where it was reported, and one
// append's failure never affecting another's.
#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

struct Ack {
  std::string stream;
  std::uint64_t revision = 0;
  std::uint64_t position = 0;
};

TEST_CASE("8 threads appending to shared and own streams", "[concurrency]") {
  TestStore store;
  constexpr int kThreads = 8;
  constexpr int kAppends = 300;
  std::mutex mutex;
  std::map<cairn::EventId, Ack> acked;
  std::vector<std::string> errors;
  std::latch start(kThreads);

  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      const std::string own = "own-" + std::to_string(t);
      std::optional<std::uint64_t> own_head;
      start.arrive_and_wait();
      for (int i = 0; i < kAppends; ++i) {
        const bool to_own = i % 2 == 0;
        const std::string stream = to_own ? own : "shared-" + std::to_string(i % 3);
        std::vector<cairn::EventData> events;
        const int count = 1 + (i * 7 + t) % 3;
        for (int k = 0; k < count; ++k) {
          events.push_back(JsonWithId("test.event.v1", "{\"t\":" + std::to_string(t) + ",\"i\":" +
                                                            std::to_string(i) + ",\"pad\":\"" +
                                                            std::string(static_cast<std::size_t>((i * 37) % 200), 'p') +
                                                            "\"}"));
        }
        const ExpectedRevision expected = !to_own        ? ExpectedRevision::Any()
                                          : own_head     ? ExpectedRevision::Exact(*own_head)
                                                         : ExpectedRevision::NoStream();
        auto appended = store->Append(stream, expected, events);
        std::lock_guard lock(mutex);
        if (!appended) {
          errors.push_back(stream + ": " + appended.error().ToString());
          return;
        }
        if (appended->last_position - appended->first_position + 1 != events.size() ||
            appended->last_revision - appended->first_revision + 1 != events.size() ||
            appended->already_committed) {
          errors.push_back(stream + ": inconsistent AppendResult");
        }
        if (to_own) {
          const std::uint64_t want = own_head ? *own_head + 1 : 0;
          if (appended->first_revision != want) errors.push_back(own + ": unexpected first revision");
          own_head = appended->last_revision;
        }
        for (std::size_t k = 0; k < events.size(); ++k) {
          acked[*events[k].id] = {stream, appended->first_revision + k, appended->first_position + k};
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  INFO("first error: " << (errors.empty() ? std::string() : errors.front()));
  REQUIRE(errors.empty());

  const auto log = RequireGapFreeLog(*store);  // positions exactly 1..N, revisions contiguous per stream
  REQUIRE(log.size() == acked.size());
  std::set<cairn::EventId> ids;
  for (const auto& event : log) {
    auto it = acked.find(event.id);
    REQUIRE(it != acked.end());  // every logged event was acknowledged to someone
    CHECK(it->second.position == event.position);
    CHECK(it->second.stream == event.stream);
    CHECK(it->second.revision == event.revision);
    ids.insert(event.id);
  }
  CHECK(ids.size() == log.size());  // each present exactly once
  for (std::size_t i = 1; i < log.size(); ++i) {
    CHECK(log[i - 1].recorded_at_us <= log[i].recorded_at_us);
  }
  for (int t = 0; t < kThreads; ++t) {
    auto info = store->GetStreamInfo("own-" + std::to_string(t));
    CAIRN_REQUIRE_OK(info);
    CHECK(info->exists);
  }
  const auto report = RequireVerifyOk(*store);
  CHECK(report.events_checked == log.size());
  CHECK(report.head_position == log.size());
  CHECK(report.streams_checked == kThreads + 3);
  CHECK(report.head_hash == RecomputeChain(log));
}

TEST_CASE("concurrent appends expecting the same revision: exactly one wins", "[concurrency]") {
  TestStore store;
  constexpr int kThreads = 8;
  constexpr int kRounds = 15;
  CAIRN_REQUIRE_OK(store->Append("hot-1", ExpectedRevision::NoStream(), {Json("a.v1")}));
  std::uint64_t head = 0;
  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    std::latch start(kThreads);
    std::vector<std::optional<cairn::Result<cairn::AppendResult>>> results(kThreads);
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        // Half of the contenders also append to an unrelated stream in the same burst.
        if (t % 2 == 1) (void)store->Append("calm-" + std::to_string(t), ExpectedRevision::Any(), {Json("b.v1")});
        results[t] = store->Append("hot-1", ExpectedRevision::Exact(head), NumberedEvents(2));
      });
    }
    for (auto& worker : workers) worker.join();
    int winners = 0;
    for (const auto& result : results) {
      REQUIRE(result.has_value());
      if (result->has_value()) {
        ++winners;
        CHECK((*result)->first_revision == head + 1);
      } else {
        CHECK(result->error().code() == ErrorCode::kConflict);
        REQUIRE(result->error().conflict().has_value());
        CHECK(result->error().conflict()->actual_revision == std::optional<std::uint64_t>(head + 2));
      }
    }
    CHECK(winners == 1);
    head += 2;
  }
  const auto log = RequireGapFreeLog(*store);
  CHECK(log.size() == 1 + kRounds * 2 + kRounds * (kThreads / 2));
  auto info = store->GetStreamInfo("hot-1");
  CAIRN_REQUIRE_OK(info);
  CHECK(info->head_revision == std::optional<std::uint64_t>(head));
  RequireVerifyOk(*store);
}

TEST_CASE("the same append sent by several threads at once is committed once", "[concurrency][idempotency]") {
  TestStore store;
  constexpr int kThreads = 8;
  for (int round = 0; round < 10; ++round) {
    INFO("round " << round);
    const std::string stream = "order-" + std::to_string(round);
    const auto events = NumberedEvents(3);
    std::latch start(kThreads);
    std::vector<std::optional<cairn::Result<cairn::AppendResult>>> results(kThreads);
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        results[t] = store->Append(stream, ExpectedRevision::NoStream(), events);
      });
    }
    for (auto& worker : workers) worker.join();
    int fresh = 0;
    for (const auto& result : results) {
      REQUIRE(result.has_value());
      INFO(Describe(*result));
      REQUIRE(result->has_value());
      if (!(*result)->already_committed) ++fresh;
      CHECK((*result)->first_revision == 0);
      CHECK((*result)->last_revision == 2);
      CHECK((*result)->first_position == 1 + 3 * static_cast<std::uint64_t>(round));
    }
    CHECK(fresh == 1);
  }
  CHECK(RequireGapFreeLog(*store).size() == 30);
  RequireVerifyOk(*store);
}

}  // namespace
}  // namespace cairn_test
