// Rebuilds: a version bump or RequestRebuild builds a shadow while the old
// model serves readers, then swaps it in atomically; the crash cases.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "projection_test.h"

namespace cairn_test {
namespace {

using std::chrono::milliseconds;

// What a reader saw in one read transaction.
struct Observation {
  std::uint32_t version = 0;
  std::optional<CounterModel> model;
};

TEST_CASE("raising the version rebuilds in a shadow, and a concurrent reader sees the old model or the new one, never a mix",
          "[projections]") {
  ProjectionFixture fx;
  std::mt19937 rng(5);
  CAIRN_REQUIRE_OK(AppendRandom(*fx.store, rng, 150, 8));
  const auto head = fx.HeadPosition();
  const auto log = fx.Log();
  const auto old_model = FoldCounters(log, 1, head);
  const auto new_model = FoldCounters(log, 2, head);
  REQUIRE_FALSE(old_model == new_model);
  {
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }

  // A reader on its own connection, one read transaction per look.
  std::atomic<bool> stop{false};
  std::atomic<int> looks{0};
  std::vector<Observation> seen;
  std::string reader_error;
  std::thread reader([&] {
    try {
      Db db(fx.model);
      while (!stop) {
        auto live = ReadLiveCounters(db);
        seen.push_back({live.version, live.model});
        ++looks;
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
      ++looks;
    }
  });
  REQUIRE(WaitUntil([&] { return looks > 0; }));

  std::mutex mutex;
  std::vector<cairn::ProjectionStatus> batches;
  auto runner = fx.Runner({.max_batch_events = 20, .on_batch = [&](const cairn::ProjectionStatus& status) {
                             std::lock_guard lock(mutex);
                             batches.push_back(status);
                           }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(2)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  const int looks_at_swap = looks;
  REQUIRE(WaitUntil([&] { return looks > looks_at_swap + 2; }));
  stop = true;
  reader.join();

  REQUIRE(reader_error.empty());
  std::size_t old_seen = 0, new_seen = 0;
  for (const auto& observation : seen) {
    if (observation.version == 1 && observation.model == old_model) {
      ++old_seen;
    } else if (observation.version == 2 && observation.model == new_model) {
      ++new_seen;
    } else {
      FAIL("the reader saw version " << observation.version << " with "
                                     << (observation.model ? std::to_string(observation.model->applied_count) : "no")
                                     << " applied events");
    }
  }
  INFO(old_seen << " looks at the old model, " << new_seen << " at the new one");
  CHECK(old_seen > 0);
  CHECK(new_seen > 0);
  {
    std::lock_guard lock(mutex);
    REQUIRE(batches.size() >= 10);
    // While rebuilding, the old version serves readers and the shadow's progress is reported.
    CHECK(batches.front().version == 1);
    CHECK(batches.front().position == head);
    CHECK(batches.front().rebuilding_version == std::optional<std::uint32_t>(2));
    CHECK(batches.front().rebuild_position == 20);
    CHECK(batches.front().state == cairn::ProjectionState::kRebuilding);
    CHECK(batches.front().lag_events == head - 20);
  }
  auto status = runner->Statuses().at(0);
  CHECK(status.version == 2);
  CHECK(status.position == head);
  CHECK_FALSE(status.rebuilding_version);
  CHECK(fx.ShadowFiles().empty());
  Db db(fx.model);
  CHECK(db.Rows("SELECT version, position, generation FROM cairn_projections") ==
        std::vector<std::vector<std::string>>{{"2", std::to_string(head), "2"}});
  // Version 2 added a view; the index came back after the copy.
  CHECK(db.Rows("SELECT type, name FROM cairn_projection_objects WHERE projection = 'counters' ORDER BY name") ==
        std::vector<std::vector<std::string>>{{"table", "applied"},
                                              {"table", "counters"},
                                              {"index", "counters_by_balance"},
                                              {"view", "totals"}});
  CHECK(db.Int("SELECT events FROM totals") == static_cast<std::int64_t>(new_model.applied_count));
  CHECK(db.HasTable("counters_by_balance"));
}

TEST_CASE("a projection's first build is invisible until it is complete", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 300, 100);
  std::vector<std::string> problems;
  int checks = 0;
  auto runner = fx.Runner({.max_batch_events = 50, .on_batch = [&](const cairn::ProjectionStatus& status) {
                             if (!status.rebuilding_version) return;
                             // Mid-build: the read model has the row (version 0) but no table yet.
                             Db db(fx.model);
                             ++checks;
                             if (db.HasTable("counters")) problems.push_back("counters is visible mid-build");
                             if (db.Int("SELECT version FROM cairn_projections WHERE name = 'counters'") != 0) {
                               problems.push_back("a version is recorded mid-build");
                             }
                           }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  CHECK(problems.empty());
  CHECK(checks == 6);
  Db db(fx.model);
  CHECK(ReadLiveCounters(db).model == FoldCounters(fx.Log(), 1, 300));
}

TEST_CASE("RequestRebuild rebuilds at the same version, and survives until a run does it", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 50);
  {
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
    CAIRN_REQUIRE_ERROR(runner->RequestRebuild("nope"), cairn::ErrorCode::kNotFound);
  }
  const auto expected = FoldCounters(fx.Log(), 1, 50);
  {
    Db writable(fx.model, /*writable=*/true);
    writable.Exec("UPDATE counters SET balance = -1");  // damage the model
  }
  {
    // Asked for, but this runner never runs: the request is recorded in the read model.
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RequestRebuild("counters"));
  }
  Db db(fx.model);
  CHECK(db.Int("SELECT rebuild_requested FROM cairn_projections") == 1);
  std::atomic<bool> rebuilt{false};
  auto runner = fx.Runner({.on_batch = [&](const cairn::ProjectionStatus& status) {
    if (status.rebuilding_version == std::optional<std::uint32_t>(1)) rebuilt = true;
  }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  CHECK(rebuilt);
  CHECK(ReadLiveCounters(db).model == expected);
  CHECK(db.Rows("SELECT version, generation, rebuild_requested FROM cairn_projections") ==
        std::vector<std::vector<std::string>>{{"1", "2", "0"}});
  // Done once: the next run does not rebuild again.
  rebuilt = false;
  CAIRN_REQUIRE_OK(runner->RunToHead());
  CHECK_FALSE(rebuilt);
  CHECK(db.Int("SELECT generation FROM cairn_projections") == 2);
}

TEST_CASE("a rebuild stopped half-way leaves the old model serving and resumes from the shadow's checkpoint",
          "[projections]") {
  ProjectionFixture fx;
  std::mt19937 rng(9);
  CAIRN_REQUIRE_OK(AppendRandom(*fx.store, rng, 100, 8));
  const auto head = fx.HeadPosition();
  {
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  std::uint64_t stopped_at = 0;
  {
    cairn::ProjectionRunner* self = nullptr;
    auto runner = fx.Runner({.max_batch_events = 25, .on_batch = [&](const cairn::ProjectionStatus& status) {
                               if (status.rebuild_position >= head / 2 && stopped_at == 0) {
                                 stopped_at = status.rebuild_position;
                                 self->Stop();
                               }
                             }});
    self = runner.get();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(2)));
    CAIRN_REQUIRE_ERROR(runner->RunToHead(), cairn::ErrorCode::kCancelled);
  }
  REQUIRE(stopped_at > 0);
  REQUIRE(stopped_at < head);
  {
    // The old model serves, whole; the shadow holds the rebuild's progress.
    Db db(fx.model);
    auto live = ReadLiveCounters(db);
    CHECK(live.version == 1);
    CHECK(live.model == FoldCounters(fx.Log(), 1, head));
    CHECK(fx.ShadowFiles() == std::vector<std::string>{"model.db.counters.v2.shadow"});
    auto statuses = cairn::ReadProjectionStatuses(fx.model);
    CAIRN_REQUIRE_OK(statuses);
    REQUIRE(statuses->size() == 1);
    CHECK(statuses->at(0).version == 1);
    CHECK(statuses->at(0).position == head);
    CHECK(statuses->at(0).state == cairn::ProjectionState::kStopped);
    CHECK(statuses->at(0).rebuilding_version == std::optional<std::uint32_t>(2));
    CHECK(statuses->at(0).rebuild_position == stopped_at);
  }
  std::vector<std::uint64_t> resumed;
  auto runner = fx.Runner({.max_batch_events = 25, .on_batch = [&](const cairn::ProjectionStatus& status) {
                             if (status.rebuilding_version) resumed.push_back(status.rebuild_position);
                           }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(2)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  REQUIRE_FALSE(resumed.empty());
  CHECK(resumed.front() == stopped_at + 25);  // from the shadow's checkpoint, not from 0
  Db db(fx.model);
  auto live = ReadLiveCounters(db);
  CHECK(live.version == 2);
  CHECK(live.model == FoldCounters(fx.Log(), 2, head));
  CHECK(fx.ShadowFiles().empty());
}

// Copies a database file and its write-ahead log (the committed state of a WAL database).
void CopyDatabase(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  if (fs::exists(from + "-wal")) {
    fs::copy_file(from + "-wal", to + "-wal", fs::copy_options::overwrite_existing);
  } else {
    fs::remove(to + "-wal");
  }
}

TEST_CASE("a shadow left behind by a crash after the swap committed is deleted, not applied again", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 100, 50);
  const std::string shadow = fx.model + ".counters.v1.shadow";
  const std::string saved = fx.store.dir().File("saved-shadow");
  {
    // Keeps a copy of the shadow as it was after its last batch: what a crash
    // between the swap's commit and the deletion of the shadow leaves.
    auto runner = fx.Runner({.max_batch_events = 30, .on_batch = [&](const cairn::ProjectionStatus& status) {
                               if (status.rebuilding_version) CopyDatabase(shadow, saved);
                             }});
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  REQUIRE(fx.ShadowFiles().empty());
  {
    Db copy(saved);
    REQUIRE(copy.Int("SELECT position FROM cairn_projections") == 100);
  }
  CopyDatabase(saved, shadow);
  // And a shadow of a version nobody builds any more, and what a process killed
  // while creating a shadow leaves (a pid that no process has).
  CopyDatabase(saved, fx.model + ".counters.v7.shadow");
  WriteFileBytes(fx.model + ".counters.v3.shadow.creating-2147483646", "half-written");
  REQUIRE(fx.ShadowFiles().size() == 2);
  auto statuses = cairn::ReadProjectionStatuses(fx.model);
  CAIRN_REQUIRE_OK(statuses);
  CHECK_FALSE(statuses->at(0).rebuilding_version);  // a stale shadow is no rebuild in progress

  AppendMany(*fx.store, "acct-1", "deposited.v1", 10);
  bool rebuilt = false;
  auto runner = fx.Runner({.on_batch = [&](const cairn::ProjectionStatus& status) {
    rebuilt = rebuilt || status.rebuilding_version.has_value();
  }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  CHECK_FALSE(rebuilt);
  CHECK(fx.ShadowFiles().empty());
  CHECK_FALSE(std::filesystem::exists(fx.model + ".counters.v3.shadow.creating-2147483646"));
  Db db(fx.model);
  CHECK(ReadLiveCounters(db).model == FoldCounters(fx.Log(), 1, 110));
  CHECK(db.Int("SELECT generation FROM cairn_projections") == 1);
}

TEST_CASE("a swap that fails leaves the old model serving and the shadow intact", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 60);
  {
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  const auto old_model = FoldCounters(fx.Log(), 1, 60);
  {
    // While the rebuild runs, someone creates a table the new version wants: the swap must refuse it.
    bool created = false;
    auto runner = fx.Runner({.max_batch_events = 20, .on_batch = [&](const cairn::ProjectionStatus& status) {
                               if (!status.rebuilding_version || created) return;
                               Db db(fx.model, /*writable=*/true);
                               db.Exec("CREATE VIEW totals AS SELECT 1");
                               created = true;
                             }});
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(2)));
    auto run = runner->RunToHead();
    REQUIRE_FALSE(run.has_value());
    CHECK(run.error().code() == cairn::ErrorCode::kInvalidArgument);
    CHECK(run.error().message().find("totals") != std::string::npos);
    CHECK(runner->Statuses().at(0).state == cairn::ProjectionState::kFailed);
  }
  {
    Db db(fx.model, /*writable=*/true);
    auto live = ReadLiveCounters(db);
    CHECK(live.version == 1);
    CHECK(live.model == old_model);
    CHECK(db.Rows("SELECT state FROM cairn_projections").at(0).at(0) == "failed");
    auto statuses = cairn::ReadProjectionStatuses(fx.model);
    CAIRN_REQUIRE_OK(statuses);
    CHECK(statuses->at(0).rebuilding_version == std::optional<std::uint32_t>(2));
    CHECK(statuses->at(0).rebuild_position == 60);
    db.Exec("DROP VIEW totals");
  }
  // Once the obstacle is gone, the finished shadow is swapped in without processing anything again.
  bool processed = false;
  auto runner = fx.Runner({.on_batch = [&](const cairn::ProjectionStatus&) { processed = true; }});
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(2)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  CHECK_FALSE(processed);
  Db db(fx.model);
  auto live = ReadLiveCounters(db);
  CHECK(live.version == 2);
  CHECK(live.model == FoldCounters(fx.Log(), 2, 60));
  CHECK(fx.ShadowFiles().empty());
}

TEST_CASE("lowering the version rebuilds too, and the tables of the other version go", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "misc-1", "noted.v1", 5);
  AppendMany(*fx.store, "acct-1", "deposited.v1", 5);
  for (std::uint32_t version : {2u, 1u}) {
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(version)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
    Db db(fx.model);
    auto live = ReadLiveCounters(db);
    CHECK(live.version == version);
    CHECK(live.model == FoldCounters(fx.Log(), version, 10));
    CHECK(db.HasTable("totals") == (version == 2));
  }
}

}  // namespace
}  // namespace cairn_test
