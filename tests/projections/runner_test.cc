// The runner: catch-up then live, filters, batching, threads, status.
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "projection_test.h"

namespace cairn_test {
namespace {

using std::chrono::milliseconds;

TEST_CASE("ProjectionFilter matches categories and event types, and empty lists match everything", "[projections]") {
  cairn::RecordedEvent event;
  event.stream = "order-42";
  event.type = "order.placed.v1";
  const auto view = event.view();
  CHECK(cairn::ProjectionFilter{}.Matches(view));
  CHECK(cairn::ProjectionFilter{.categories = {"order"}}.Matches(view));
  CHECK(cairn::ProjectionFilter{.categories = {"acct", "order"}}.Matches(view));
  CHECK_FALSE(cairn::ProjectionFilter{.categories = {"acct"}}.Matches(view));
  CHECK_FALSE(cairn::ProjectionFilter{.categories = {"order-42"}}.Matches(view));
  CHECK(cairn::ProjectionFilter{.event_types = {"order.placed.v1"}}.Matches(view));
  CHECK_FALSE(cairn::ProjectionFilter{.event_types = {"order.paid.v1"}}.Matches(view));
  CHECK(cairn::ProjectionFilter{.categories = {"order"}, .event_types = {"x", "order.placed.v1"}}.Matches(view));
  CHECK_FALSE(cairn::ProjectionFilter{.categories = {"acct"}, .event_types = {"order.placed.v1"}}.Matches(view));

  CHECK(cairn::ProjectionStateName(cairn::ProjectionState::kCatchingUp) == "catching-up");
  CHECK(cairn::ProjectionStateName(cairn::ProjectionState::kLive) == "live");
  CHECK(cairn::ProjectionStateName(cairn::ProjectionState::kRebuilding) == "rebuilding");
  CHECK(cairn::ProjectionStateName(cairn::ProjectionState::kStopped) == "stopped");
  CHECK(cairn::ProjectionStateName(cairn::ProjectionState::kFailed) == "failed");
}

TEST_CASE("a projection catches up, then follows live, without a gap or a duplicate", "[projections]") {
  ProjectionFixture fx;
  std::mt19937 rng(7);
  CAIRN_REQUIRE_OK(AppendRandom(*fx.store, rng, 50, 6));
  auto runner = fx.Runner({.max_batch_events = 40, .max_batch_delay = milliseconds(5)});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->Start());
  REQUIRE(WaitUntil([&] {
    auto status = runner->Statuses().at(0);
    return status.state == cairn::ProjectionState::kLive && status.position == fx.HeadPosition();
  }));
  {
    // The first build swapped in: the model serves readers and equals the fold.
    Db db(fx.model);
    auto live = ReadLiveCounters(db);
    REQUIRE(live.version == 1);
    REQUIRE(live.model == FoldCounters(fx.Log(), 1, live.position));
  }
  // Appends from two threads while the projection is live.
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (unsigned seed : {11u, 12u}) {
    writers.emplace_back([&, seed] {
      std::mt19937 local(seed);
      for (int i = 0; i < 60; ++i) {
        if (!AppendRandom(*fx.store, local, 1)) ++failures;
        if (i % 10 == 0) std::this_thread::sleep_for(milliseconds(1));
      }
    });
  }
  for (auto& writer : writers) writer.join();
  REQUIRE(failures == 0);
  const auto head = fx.HeadPosition();
  REQUIRE(WaitUntil([&] { return runner->Statuses().at(0).position == head; }));
  runner->Stop();
  runner->Wait();
  auto status = runner->Statuses().at(0);
  CHECK(status.state == cairn::ProjectionState::kStopped);
  CHECK(status.parked == 0);
  CHECK(status.last_error.empty());
  Db db(fx.model);
  auto live = ReadLiveCounters(db);
  CHECK(live.position == head);
  CHECK(live.model == FoldCounters(fx.Log(), 1, head));
  CHECK(db.Rows("SELECT state FROM cairn_projections WHERE name = 'counters'").at(0).at(0) == "stopped");
  CHECK(fx.ShadowFiles().empty());
}

TEST_CASE("filters choose the events, events without a handler are skipped and the checkpoint passes them",
          "[projections]") {
  ProjectionFixture fx;
  AppendTypes(*fx.store, "order-1", {"placed.v1", "noted.v1"});      // 1, 2
  AppendTypes(*fx.store, "acct-1", {"placed.v1"});                   // 3
  AppendTypes(*fx.store, "order-2", {"placed.v1", "paid.v1"});       // 4, 5
  AppendTypes(*fx.store, "ship-1", {"paid.v1", "placed.v1"});        // 6, 7
  AppendTypes(*fx.store, "acct-2", {"noted.v1"});                    // 8: matches no projection below
  auto runner = fx.Runner();
  // One category and no type list: the store filters by category.
  CAIRN_REQUIRE_OK(runner->Add(SeenProjection("orders", {.categories = {"order"}}, {"placed.v1", "paid.v1"})));
  // Types only, every category.
  CAIRN_REQUIRE_OK(runner->Add(SeenProjection("placed", {.event_types = {"placed.v1"}}, {"placed.v1", "paid.v1"})));
  // Two categories and a type; a handler for a type the filter excludes is never called.
  CAIRN_REQUIRE_OK(runner->Add(
      SeenProjection("paid", {.categories = {"order", "ship"}, .event_types = {"paid.v1"}}, {"paid.v1", "placed.v1"})));
  // Everything, but a handler for one type only.
  CAIRN_REQUIRE_OK(runner->Add(SeenProjection("notes", {}, {"noted.v1"})));
  CAIRN_REQUIRE_OK(runner->RunToHead());

  Db db(fx.model);
  CHECK(SeenPositions(db, "orders") == std::vector<std::uint64_t>{1, 4, 5});
  CHECK(SeenPositions(db, "placed") == std::vector<std::uint64_t>{1, 3, 4, 7});
  CHECK(SeenPositions(db, "paid") == std::vector<std::uint64_t>{5, 6});
  CHECK(SeenPositions(db, "notes") == std::vector<std::uint64_t>{2, 8});
  // Every checkpoint is at the head, past the events each one did not apply.
  for (const auto& row : db.Rows("SELECT name, position FROM cairn_projections")) {
    INFO(row[0]);
    CHECK(row[1] == "8");
  }
  for (const auto& status : runner->Statuses()) CHECK(status.position == 8);

  // Later events that none of them wants still move the checkpoints on.
  AppendTypes(*fx.store, "misc-1", {"other.v1", "other.v1"});
  CAIRN_REQUIRE_OK(runner->RunToHead());
  for (const auto& row : db.Rows("SELECT name, position FROM cairn_projections")) {
    INFO(row[0]);
    CHECK(row[1] == "10");
  }
  CHECK(SeenPositions(db, "orders") == std::vector<std::uint64_t>{1, 4, 5});
}

TEST_CASE("batches are bounded by count while catching up", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 1000, 250);
  std::mutex mutex;
  std::vector<cairn::ProjectionStatus> batches;
  auto runner = fx.Runner({.max_batch_events = 64,
                           .max_batch_delay = milliseconds(10'000),
                           .on_batch = [&](const cairn::ProjectionStatus& status) {
                             std::lock_guard lock(mutex);
                             batches.push_back(status);
                           }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  std::lock_guard lock(mutex);
  // The first build runs in a shadow: its checkpoint is rebuild_position.
  std::uint64_t previous = 0;
  std::size_t shadow_batches = 0;
  for (const auto& status : batches) {
    if (!status.rebuilding_version) continue;
    ++shadow_batches;
    INFO("batch ending at " << status.rebuild_position);
    CHECK(status.rebuild_position > previous);
    CHECK(status.rebuild_position - previous <= 64);
    previous = status.rebuild_position;
  }
  CHECK(previous == 1000);
  CHECK(shadow_batches == 16);  // ceil(1000 / 64): full batches, never waiting for the 10 s delay
  CHECK(runner->Statuses().at(0).position == 1000);
}

TEST_CASE("batches are bounded by time once live", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 10);
  std::mutex mutex;
  std::vector<std::uint64_t> committed;  // the live model's checkpoint after each batch
  auto runner = fx.Runner({.max_batch_events = 100'000,
                           .max_batch_delay = milliseconds(20),
                           .on_batch = [&](const cairn::ProjectionStatus& status) {
                             std::lock_guard lock(mutex);
                             if (!status.rebuilding_version) committed.push_back(status.position);
                           }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->Start());
  REQUIRE(WaitUntil([&] { return runner->Statuses().at(0).state == cairn::ProjectionState::kLive; }));
  {
    std::lock_guard lock(mutex);
    committed.clear();
  }
  // 30 events over at least 300 ms, with a 20 ms delay and a count bound out of reach.
  for (int i = 0; i < 30; ++i) {
    AppendTypes(*fx.store, "acct-2", {"deposited.v1"}, R"({"amount":1})");
    std::this_thread::sleep_for(milliseconds(10));
  }
  const auto head = fx.HeadPosition();
  REQUIRE(WaitUntil([&] { return runner->Statuses().at(0).position == head; }));
  runner->Stop();
  runner->Wait();
  std::lock_guard lock(mutex);
  INFO("live batches: " << committed.size());
  CHECK(committed.size() >= 2);  // a batch without the time bound would never have ended
  CHECK(committed.back() == head);
  Db db(fx.model);
  CHECK(ReadLiveCounters(db).model == FoldCounters(fx.Log(), 1, head));
}

TEST_CASE("several projections share one read model and one process", "[projections]") {
  ProjectionFixture fx;
  std::mt19937 rng(3);
  CAIRN_REQUIRE_OK(AppendRandom(*fx.store, rng, 40, 5));
  auto runner = fx.Runner({.max_batch_events = 16, .max_batch_delay = milliseconds(2)});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->Add(SeenProjection("everything", {}, {"deposited.v1", "withdrawn.v1", "noted.v1"})));
  CAIRN_REQUIRE_OK(runner->Add(SeenProjection("misc", {.categories = {"misc"}}, {"noted.v1"})));
  CAIRN_REQUIRE_OK(runner->Start());
  CAIRN_REQUIRE_OK(AppendRandom(*fx.store, rng, 40, 5));
  const auto head = fx.HeadPosition();
  REQUIRE(WaitUntil([&] {
    for (const auto& status : runner->Statuses()) {
      if (status.position != head) return false;
    }
    return true;
  }));
  runner->Stop();
  runner->Wait();

  const auto log = fx.Log();
  Db db(fx.model);
  CHECK(ReadLiveCounters(db).model == FoldCounters(log, 1, head));
  std::vector<std::uint64_t> all, misc_noted;
  for (const auto& event : log) {
    all.push_back(event.position);
    if (cairn::CategoryOf(event.stream) == "misc" && event.type == "noted.v1") misc_noted.push_back(event.position);
  }
  CHECK(SeenPositions(db, "everything") == all);
  CHECK(SeenPositions(db, "misc") == misc_noted);
  // Each projection's objects are on record as its own.
  CHECK(db.Rows("SELECT projection, type, name FROM cairn_projection_objects ORDER BY projection, name") ==
        std::vector<std::vector<std::string>>{{"counters", "table", "applied"},
                                              {"counters", "table", "counters"},
                                              {"counters", "index", "counters_by_balance"},
                                              {"everything", "table", "everything_count"},
                                              {"everything", "table", "everything_seen"},
                                              {"misc", "table", "misc_count"},
                                              {"misc", "table", "misc_seen"}});
}

TEST_CASE("Stop ends the threads cleanly, a runner starts again, and the destructor stops", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 20);
  {
    auto runner = fx.Runner({.max_batch_delay = milliseconds(1)});
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->Start());
    CAIRN_REQUIRE_ERROR(runner->Start(), cairn::ErrorCode::kInvalidArgument);
    CAIRN_REQUIRE_ERROR(runner->RunToHead(), cairn::ErrorCode::kInvalidArgument);
    CAIRN_REQUIRE_ERROR(runner->Add(SeenProjection("late", {}, {})), cairn::ErrorCode::kInvalidArgument);
    REQUIRE(WaitUntil([&] { return runner->Statuses().at(0).state == cairn::ProjectionState::kLive; }));
    // Stop from another thread; Wait returns once the thread has ended.
    std::thread stopper([&] { runner->Stop(); });
    runner->Wait();
    stopper.join();
    runner->Stop();  // idempotent
    CHECK(runner->Statuses().at(0).state == cairn::ProjectionState::kStopped);
    {
      Db db(fx.model);
      CHECK(db.Rows("SELECT state, position FROM cairn_projections") ==
            std::vector<std::vector<std::string>>{{"stopped", "20"}});
    }
    // Started again, it carries on from its checkpoint.
    AppendMany(*fx.store, "acct-1", "deposited.v1", 5);
    CAIRN_REQUIRE_OK(runner->Start());
    REQUIRE(WaitUntil([&] { return runner->Statuses().at(0).position == 25; }));
    // The destructor stops and joins the running thread.
  }
  Db db(fx.model);
  CHECK(db.Rows("SELECT state, position FROM cairn_projections") ==
        std::vector<std::vector<std::string>>{{"stopped", "25"}});
  CHECK(ReadLiveCounters(db).model == FoldCounters(fx.Log(), 1, 25));
}

TEST_CASE("Stop from a projection's own callback ends the run", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 200, 50);
  cairn::ProjectionRunner* self = nullptr;
  auto runner = fx.Runner({.max_batch_events = 10, .on_batch = [&](const cairn::ProjectionStatus& status) {
                             if (status.rebuild_position >= 50) self->Stop();
                           }});
  self = runner.get();
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->Start());
  runner->Wait();
  auto status = runner->Statuses().at(0);
  CHECK(status.state == cairn::ProjectionState::kStopped);
  CHECK(status.rebuilding_version == std::optional<std::uint32_t>(1));
  CHECK(status.rebuild_position == 50);
  CHECK(status.version == 0);  // nothing serves readers yet
}

TEST_CASE("a projection waits for the read model's write lock as long as it takes, until Stop",
          "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 5);
  auto runner = fx.Runner({.max_batch_delay = milliseconds(1)});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  AppendMany(*fx.store, "acct-1", "deposited.v1", 5);
  Db holder(fx.model, /*writable=*/true);
  holder.Exec("BEGIN IMMEDIATE");  // what another projection's long swap looks like
  CAIRN_REQUIRE_OK(runner->Start());
  std::this_thread::sleep_for(milliseconds(300));  // time passing is what is tested: no progress meanwhile
  CHECK(runner->Statuses().at(0).position == 5);
  CHECK(runner->Statuses().at(0).state != cairn::ProjectionState::kFailed);

  SECTION("the lock is released: it goes on") {
    holder.Exec("COMMIT");
    REQUIRE(WaitUntil([&] { return runner->Statuses().at(0).position == 10; }));
    runner->Stop();
    runner->Wait();
  }
  SECTION("Stop: it gives up waiting, stopped rather than failed") {
    const auto stopping = std::chrono::steady_clock::now();
    runner->Stop();
    runner->Wait();
    CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(10));
    CHECK(runner->Statuses().at(0).state == cairn::ProjectionState::kStopped);
    holder.Exec("COMMIT");
    Db db(fx.model);
    CHECK(db.Int("SELECT position FROM cairn_projections") == 5);
  }
}

TEST_CASE("status reports position, head, lag, rate and state", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 2000, 500);
  std::mutex mutex;
  std::vector<cairn::ProjectionStatus> batches;
  auto runner = fx.Runner({.max_batch_events = 100, .on_batch = [&](const cairn::ProjectionStatus& status) {
                             std::lock_guard lock(mutex);
                             batches.push_back(status);
                           }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  {
    auto before = runner->Statuses().at(0);
    CHECK(before.name == "counters");
    CHECK(before.version == 0);
    CHECK(before.position == 0);
    CHECK(before.state == cairn::ProjectionState::kStopped);
  }
  CAIRN_REQUIRE_OK(runner->RunToHead());
  {
    std::lock_guard lock(mutex);
    REQUIRE(batches.size() >= 20);
    const auto& first = batches.front();
    CHECK(first.state == cairn::ProjectionState::kRebuilding);
    CHECK(first.rebuilding_version == std::optional<std::uint32_t>(1));
    CHECK(first.rebuild_position == 100);
    CHECK(first.head_position == 2000);
    CHECK(first.lag_events == 1900);
    CHECK(first.lag_seconds >= 0);
    bool rate_seen = false;
    for (const auto& status : batches) rate_seen = rate_seen || status.events_per_second > 0;
    CHECK(rate_seen);
  }
  auto status = runner->Statuses().at(0);
  CHECK(status.state == cairn::ProjectionState::kStopped);
  CHECK(status.version == 1);
  CHECK(status.position == 2000);
  CHECK_FALSE(status.rebuilding_version);
  CHECK(status.head_position == 2000);
  CHECK(status.lag_events == 0);
  CHECK(status.lag_seconds == 0);

  // Live: lag in seconds is the age of the oldest event not yet processed.
  AppendMany(*fx.store, "acct-1", "deposited.v1", 10);
  std::this_thread::sleep_for(milliseconds(30));  // the events age (time itself is under test here)
  {
    std::lock_guard lock(mutex);
    batches.clear();
  }
  auto follow = fx.Runner({.max_batch_events = 5, .on_batch = [&](const cairn::ProjectionStatus& batch) {
                             std::lock_guard lock(mutex);
                             batches.push_back(batch);
                           }});
  CAIRN_REQUIRE_OK(follow->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(follow->Start());
  REQUIRE(WaitUntil([&] {
    auto now = follow->Statuses().at(0);
    return now.state == cairn::ProjectionState::kLive && now.position == 2010;
  }));
  follow->Stop();
  follow->Wait();
  std::lock_guard lock(mutex);
  REQUIRE(batches.size() >= 2);
  CHECK(batches.front().state == cairn::ProjectionState::kCatchingUp);
  CHECK(batches.front().position == 2005);
  CHECK(batches.front().lag_events == 5);
  CHECK(batches.front().lag_seconds >= 0.03);
  CHECK(batches.front().lag_seconds < 60);
}

}  // namespace
}  // namespace cairn_test
