// Handler failures: retry with backoff, park (and retry parked events), stop.
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>

#include "projection_test.h"

namespace cairn_test {
namespace {

using std::chrono::milliseconds;

// A projection whose handler fails while `fail(event)` says so, counting attempts per position.
struct Flaky {
  std::mutex mutex;
  std::map<std::uint64_t, int> attempts;
  std::function<std::optional<std::string>(const cairn::EventView&, int attempt)> fail;
  bool throw_instead = false;

  cairn::Projection Make(const std::string& name, cairn::OnHandlerFailure on_failure, cairn::RetryPolicy retry) {
    cairn::Projection projection = SeenProjection(name, {}, {});
    projection.on_failure = on_failure;
    projection.retry = retry;
    const std::string insert = "INSERT INTO " + name + "_seen (position, stream, type) VALUES (?1, ?2, ?3)";
    for (const char* type : {"deposited.v1", "withdrawn.v1"}) {
      projection.handlers[type] = [this, insert](cairn::ReadModelWriter& model, const cairn::EventView& event) -> cairn::Status {
        // Written before failing: the savepoint must undo it.
        if (auto ok = model.Execute(insert, {static_cast<std::int64_t>(event.position), std::string(event.stream),
                                             std::string(event.type)});
            !ok) {
          return ok;
        }
        int attempt = 0;
        std::optional<std::string> failure;
        {
          std::lock_guard lock(mutex);
          attempt = ++attempts[event.position];
          if (fail) failure = fail(event, attempt);
        }
        if (!failure) return {};
        if (throw_instead) throw std::runtime_error(*failure);
        return cairn::Fail(cairn::ErrorCode::kInvalidArgument, *failure);
      };
    }
    return projection;
  }
  int AttemptsAt(std::uint64_t position) {
    std::lock_guard lock(mutex);
    return attempts[position];
  }
};

TEST_CASE("a failing handler is retried with backoff and takes effect once", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 10);
  Flaky flaky;
  flaky.fail = [](const cairn::EventView& event, int attempt) -> std::optional<std::string> {
    if (event.position == 4 && attempt < 3) return "transient failure " + std::to_string(attempt);
    return std::nullopt;
  };
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(flaky.Make("flaky", cairn::OnHandlerFailure::kStop,
                                          {.max_attempts = 5, .initial_backoff = milliseconds(20),
                                           .max_backoff = milliseconds(30)})));
  const auto started = std::chrono::steady_clock::now();
  CAIRN_REQUIRE_OK(runner->RunToHead());
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(flaky.AttemptsAt(4) == 3);
  CHECK(flaky.AttemptsAt(5) == 1);
  CHECK(took >= milliseconds(20 + 30));  // two waits: 20 ms, then 40 ms capped at 30 ms
  Db db(fx.model);
  CHECK(SeenPositions(db, "flaky") == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(db.Int("SELECT count(*) FROM cairn_parked") == 0);
  auto status = runner->Statuses().at(0);
  CHECK(status.state == cairn::ProjectionState::kStopped);
  CHECK(status.position == 10);
  CHECK(status.last_error.find("transient failure 2") != std::string::npos);
  CHECK(status.last_error.find("position 4") != std::string::npos);
}

TEST_CASE("an event whose handler keeps failing is parked and the projection goes on", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 3);                   // 1-3
  AppendTypes(*fx.store, "acct-bad", {"deposited.v1", "withdrawn.v1"});  // 4, 5
  AppendMany(*fx.store, "acct-2", "deposited.v1", 3);                   // 6-8
  Flaky flaky;
  std::atomic<bool> broken{true};
  flaky.fail = [&](const cairn::EventView& event, int) -> std::optional<std::string> {
    if (broken && event.stream == "acct-bad") return "cannot apply " + std::string(event.type);
    return std::nullopt;
  };
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(flaky.Make("flaky", cairn::OnHandlerFailure::kPark,
                                          {.max_attempts = 3, .initial_backoff = milliseconds(1),
                                           .max_backoff = milliseconds(2)})));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  CHECK(flaky.AttemptsAt(4) == 3);
  CHECK(flaky.AttemptsAt(5) == 3);
  {
    Db db(fx.model);
    CHECK(SeenPositions(db, "flaky") == std::vector<std::uint64_t>{1, 2, 3, 6, 7, 8});
    CHECK(db.Rows("SELECT position, state FROM cairn_projections") ==
          std::vector<std::vector<std::string>>{{"8", "stopped"}});
  }
  auto status = runner->Statuses().at(0);
  CHECK(status.parked == 2);
  CHECK(status.state == cairn::ProjectionState::kStopped);
  CHECK(status.last_error.find("cannot apply withdrawn.v1") != std::string::npos);

  auto parked = cairn::ListParkedEvents(fx.model, "flaky");
  CAIRN_REQUIRE_OK(parked);
  REQUIRE(parked->size() == 2);
  const auto& first = parked->at(0);
  CHECK(first.projection == "flaky");
  CHECK(first.position == 4);
  CHECK(first.stream == "acct-bad");
  CHECK(first.revision == 0);
  CHECK(first.type == "deposited.v1");
  CHECK(first.error == "invalid argument: cannot apply deposited.v1");
  CHECK(first.attempts == 3);
  CHECK(first.parked_at_us > 0);
  CHECK(parked->at(1).position == 5);
  CHECK(parked->at(1).revision == 1);
  auto all = cairn::ListParkedEvents(fx.model);
  CAIRN_REQUIRE_OK(all);
  CHECK(all->size() == 2);
  auto none = cairn::ListParkedEvents(fx.model, "other");
  CAIRN_REQUIRE_OK(none);
  CHECK(none->empty());
  auto statuses = cairn::ReadProjectionStatuses(fx.model);
  CAIRN_REQUIRE_OK(statuses);
  REQUIRE(statuses->size() == 1);
  CHECK(statuses->at(0).parked == 2);
  CHECK(statuses->at(0).last_error.find("cannot apply") != std::string::npos);

  SECTION("retried while still failing: they stay parked with the new error") {
    auto report = runner->RetryParked("flaky");
    CAIRN_REQUIRE_OK(report);
    CHECK(report->retried == 2);
    CHECK(report->succeeded == 0);
    CHECK(report->failed == 2);
    auto again = cairn::ListParkedEvents(fx.model, "flaky");
    CAIRN_REQUIRE_OK(again);
    REQUIRE(again->size() == 2);
    CHECK(again->at(0).attempts == 4);
    Db db(fx.model);
    CHECK(SeenPositions(db, "flaky") == std::vector<std::uint64_t>{1, 2, 3, 6, 7, 8});
  }
  SECTION("retried once the handler works: applied, oldest first, and removed") {
    broken = false;
    auto report = runner->RetryParked("flaky");
    CAIRN_REQUIRE_OK(report);
    CHECK(report->retried == 2);
    CHECK(report->succeeded == 2);
    CHECK(report->failed == 0);
    auto again = cairn::ListParkedEvents(fx.model, "flaky");
    CAIRN_REQUIRE_OK(again);
    CHECK(again->empty());
    CHECK(runner->Statuses().at(0).parked == 0);
    Db db(fx.model);
    CHECK(SeenPositions(db, "flaky") == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(db.Rows("SELECT position FROM flaky_seen ORDER BY rowid") ==
          std::vector<std::vector<std::string>>{{"1"}, {"2"}, {"3"}, {"4"}, {"5"}, {"6"}, {"7"}, {"8"}});
    CHECK(db.Int("SELECT position FROM cairn_projections") == 8);  // the checkpoint does not move
    auto empty = runner->RetryParked("flaky");
    CAIRN_REQUIRE_OK(empty);
    CHECK(empty->retried == 0);
  }
  SECTION("not while running, and not for an unknown projection") {
    CAIRN_REQUIRE_ERROR(runner->RetryParked("nope"), cairn::ErrorCode::kNotFound);
    CAIRN_REQUIRE_OK(runner->Start());
    CAIRN_CHECK_ERROR(runner->RetryParked("flaky"), cairn::ErrorCode::kInvalidArgument);
    runner->Stop();
    runner->Wait();
  }
}

TEST_CASE("an exception thrown by a handler is a failure carrying what()", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 3);
  Flaky flaky;
  flaky.throw_instead = true;
  flaky.fail = [](const cairn::EventView& event, int) -> std::optional<std::string> {
    if (event.position == 2) return "boom at 2";
    return std::nullopt;
  };
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(flaky.Make("thrower", cairn::OnHandlerFailure::kPark,
                                          {.max_attempts = 2, .initial_backoff = milliseconds(1)})));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  auto parked = cairn::ListParkedEvents(fx.model);
  CAIRN_REQUIRE_OK(parked);
  REQUIRE(parked->size() == 1);
  CHECK(parked->at(0).position == 2);
  CHECK(parked->at(0).error == "boom at 2");
  CHECK(parked->at(0).attempts == 2);
  Db db(fx.model);
  CHECK(SeenPositions(db, "thrower") == std::vector<std::uint64_t>{1, 3});
}

TEST_CASE("OnHandlerFailure::kStop commits what came before and fails only that projection", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 3);
  Flaky flaky;
  std::atomic<bool> broken{true};
  flaky.fail = [&](const cairn::EventView& event, int) -> std::optional<std::string> {
    if (broken && event.position == 6) return "poison";
    return std::nullopt;
  };
  // Several events per batch: the one that fails is in the middle of one.
  auto runner = fx.Runner({.max_batch_events = 4});
  CAIRN_REQUIRE_OK(runner->Add(flaky.Make("strict", cairn::OnHandlerFailure::kStop,
                                          {.max_attempts = 2, .initial_backoff = milliseconds(1)})));
  CAIRN_REQUIRE_OK(runner->Add(SeenProjection("calm", {}, {"deposited.v1"})));
  // Built (and swapped in) up to 3 first, so that the failure happens in the live read model.
  CAIRN_REQUIRE_OK(runner->RunToHead());
  AppendMany(*fx.store, "acct-1", "deposited.v1", 7);

  SECTION("RunToHead") {
    auto run = runner->RunToHead();
    REQUIRE_FALSE(run.has_value());
    CHECK(run.error().message().find("poison") != std::string::npos);
    Db db(fx.model);
    CHECK(db.Rows("SELECT name, position, state FROM cairn_projections ORDER BY name") ==
          std::vector<std::vector<std::string>>{{"calm", "10", "stopped"}, {"strict", "5", "failed"}});
    CHECK(db.Rows("SELECT last_error FROM cairn_projections WHERE name = 'strict'").at(0).at(0).find("poison") !=
          std::string::npos);
    CHECK(SeenPositions(db, "calm").size() == 10);
    CHECK(SeenPositions(db, "strict") == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
    CHECK(db.Int("SELECT count(*) FROM cairn_parked") == 0);
    auto statuses = runner->Statuses();
    CHECK(statuses.at(0).state == cairn::ProjectionState::kFailed);
    CHECK(statuses.at(0).position == 5);
    CHECK(statuses.at(0).last_error.find("poison") != std::string::npos);
    CHECK(statuses.at(1).state == cairn::ProjectionState::kStopped);

    // Fixed, it resumes at the event that failed.
    broken = false;
    CAIRN_REQUIRE_OK(runner->RunToHead());
    CHECK(SeenPositions(db, "strict") == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    CHECK(flaky.AttemptsAt(6) == 3);
  }
  SECTION("Start: the failed projection stops, the other one stays live") {
    CAIRN_REQUIRE_OK(runner->Start());
    REQUIRE(WaitUntil([&] {
      auto statuses = runner->Statuses();
      return statuses.at(0).state == cairn::ProjectionState::kFailed &&
             statuses.at(1).state == cairn::ProjectionState::kLive;
    }));
    AppendMany(*fx.store, "acct-1", "deposited.v1", 5);
    REQUIRE(WaitUntil([&] { return runner->Statuses().at(1).position == 15; }));
    CHECK(runner->Statuses().at(0).position == 5);
    runner->Stop();
    runner->Wait();
  }
}

TEST_CASE("Stop during a retry's backoff ends the batch before the failing event", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 6);
  Flaky flaky;
  flaky.fail = [](const cairn::EventView& event, int) -> std::optional<std::string> {
    if (event.position == 4) return "down";
    return std::nullopt;
  };
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(flaky.Make("patient", cairn::OnHandlerFailure::kStop,
                                          {.max_attempts = 1000, .initial_backoff = milliseconds(200),
                                           .max_backoff = milliseconds(60'000)})));
  CAIRN_REQUIRE_OK(runner->Start());
  REQUIRE(WaitUntil([&] { return flaky.AttemptsAt(4) >= 2; }));
  const auto stopping = std::chrono::steady_clock::now();
  runner->Stop();
  runner->Wait();
  CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(5));
  auto status = runner->Statuses().at(0);
  CHECK(status.state == cairn::ProjectionState::kStopped);
  Db db(fx.model);
  // The first build runs in a shadow: it holds the checkpoint, just before the failing event.
  const auto shadow = fx.ShadowFiles();
  REQUIRE(shadow.size() == 1);
  Db shadow_db(fx.store.dir().File(shadow[0]));
  CHECK(shadow_db.Int("SELECT position FROM cairn_projections") == 3);
  CHECK(SeenPositions(shadow_db, "patient") == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(status.rebuild_position == 3);
}

}  // namespace
}  // namespace cairn_test
