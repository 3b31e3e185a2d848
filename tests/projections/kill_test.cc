// Exactly-once under kill -9: a child process runs the counters projection
// (counters_projection.h) while this process appends; it is killed with
// SIGKILL at random moments and restarted. After every kill the read model,
// and a shadow if there is one, must equal a fold of the log up to their own
// checkpoints; at the end, run to the head, the fold of the whole log. Set
// CAIRN_PROJECTIONS_SEED to replay a run.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>

#include "projection_test.h"

namespace cairn_test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

unsigned Seed() {
  const char* env = std::getenv("CAIRN_PROJECTIONS_SEED");
  return env != nullptr ? static_cast<unsigned>(std::stoul(env)) : std::random_device{}();
}

// Appends on its own thread (throttled) until stopped; can pause.
class Appender {
 public:
  Appender(cairn::EventStore& store, unsigned seed)
      : thread_([this, &store, seed] {
          std::mt19937 rng(seed);
          while (!stop_) {
            if (paused_) {
              idle_ = true;
              std::this_thread::sleep_for(milliseconds(1));
              continue;
            }
            auto appended = AppendRandom(store, rng, 1);
            if (!appended) {
              error_ = appended.error().ToString();
              idle_ = true;
              return;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(500));
          }
        }) {}
  ~Appender() { Stop(); }
  // Pauses after the append in progress; returns once no append runs.
  void Pause() {
    idle_ = false;
    paused_ = true;
    REQUIRE(WaitUntil([&] { return idle_.load(); }));
  }
  void Resume() { paused_ = false; }
  // Stops and returns the first error ("" when none).
  std::string Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> idle_{false};  // set by the thread once paused (or ended)
  std::string error_;
  std::thread thread_;
};

// What one check after a kill found.
struct Checked {
  std::uint32_t live_version = 0;
  std::uint64_t live_position = 0;
  std::optional<std::uint64_t> shadow_position;  // of the shadow of `shadow_version`, if there is one
};

// Checks the read model and every shadow against the fold of the log up to their checkpoints.
Checked CheckAgainstFold(ProjectionFixture& fx, std::uint32_t shadow_version) {
  Checked checked;
  const auto log = fx.Log();
  if (std::filesystem::exists(fx.model)) {
    Db db(fx.model);
    auto live = ReadLiveCounters(db);
    checked.live_version = live.version;
    checked.live_position = live.position;
    INFO("read model: version " << live.version << " at " << live.position << ", head " << log.size());
    REQUIRE(live.position <= log.size());
    if (live.version == 0) {
      CHECK_FALSE(live.model);  // nothing serves readers before the first swap
    } else {
      REQUIRE(live.model);
      REQUIRE(*live.model == FoldCounters(log, live.version, live.position));
    }
  }
  for (const auto& name : fx.ShadowFiles()) {
    // A shadow killed while being created is incomplete (no checkpoint row),
    // possibly not even readable yet; the next run deletes it.
    LiveCounters shadow;
    try {
      Db db(fx.store.dir().File(name));
      if (!db.HasTable("cairn_projections")) continue;
      shadow = ReadLiveCounters(db);
    } catch (const std::exception& e) {
      WARN("shadow " << name << " is not readable: " << e.what());
      continue;
    }
    if (shadow.version == 0) continue;
    INFO("shadow " << name << ": version " << shadow.version << " at " << shadow.position);
    REQUIRE(shadow.model);
    REQUIRE(*shadow.model == FoldCounters(log, shadow.version, shadow.position));
    if (shadow.version == shadow_version) checked.shadow_position = shadow.position;
  }
  return checked;
}

// Kills `version`'s runner child `iterations` times; returns how many kills found a shadow in progress.
// At iteration `settle_at`, appends pause until the child has swapped `version` in and caught up
// (so that later kills land in live batches however slow this machine is), then go on.
int KillRepeatedly(ProjectionFixture& fx, Appender& appender, std::mt19937& rng, std::uint32_t version,
                   int iterations, int settle_at, int handler_delay_us) {
  int mid_rebuild = 0;
  std::uint64_t previous_live = 0;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    INFO("iteration " << iteration);
    {
      ChildProcess child({ProjectionsHelperPath(), "run", BackendArg(), fx.store.path(), fx.model,
                          std::to_string(version), std::to_string(rng()), std::to_string(handler_delay_us)});
      if (iteration == settle_at) {
        appender.Pause();
        const auto head = fx.HeadPosition();
        REQUIRE(child.ReadLine(milliseconds(20'000)) == std::optional<std::string>("ready"));
        const bool settled = WaitUntil(
            [&] {
              child.DrainFor(milliseconds(5));
              Db db(fx.model);
              auto live = ReadLiveCounters(db);
              return live.version == version && live.position == head;
            },
            milliseconds(60'000));
        REQUIRE(settled);
        appender.Resume();
        child.DrainFor(milliseconds(rng() % 30));
      } else if (rng() % 6 != 0) {
        // Mostly while it runs; sometimes while it is still opening (recovery, creation).
        const auto ready = child.ReadLine(milliseconds(20'000));
        REQUIRE(ready == std::optional<std::string>("ready"));
        child.DrainFor(milliseconds(5 + rng() % 60));
      } else {
        child.DrainFor(milliseconds(rng() % 15));
      }
      child.Kill(SIGKILL);
      const int status = child.Wait();
      // It must have died of our signal, not of an error of its own (which it prints on stderr).
      REQUIRE(WIFSIGNALED(status));
    }
    const auto checked = CheckAgainstFold(fx, version);
    if (checked.live_version == version) {
      REQUIRE(checked.live_position >= previous_live);  // a committed batch is never lost
      previous_live = checked.live_position;
    }
    if (checked.shadow_position && checked.live_version != version) ++mid_rebuild;
  }
  return mid_rebuild;
}

// Runs to the head in this process and checks the result against the fold of the whole log.
void FinishAndCompare(ProjectionFixture& fx, std::uint32_t version) {
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(CountersProjection(version)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  const auto head = fx.HeadPosition();
  Db db(fx.model);
  auto live = ReadLiveCounters(db);
  REQUIRE(live.version == version);
  REQUIRE(live.position == head);
  REQUIRE(live.model);
  CHECK(*live.model == FoldCounters(fx.Log(), version, head));
  CHECK(db.Int("SELECT count(*) FROM cairn_parked") == 0);
  CHECK(fx.ShadowFiles().empty());
}

TEST_CASE("every event takes effect exactly once while the runner is killed with SIGKILL and restarted",
          "[projections][kill]") {
  const unsigned seed = Seed();
  INFO("CAIRN_PROJECTIONS_SEED=" << seed);
  std::mt19937 rng(seed);
  ProjectionFixture fx;
  Appender appender(*fx.store, rng());
  // The first build (a shadow, then the swap) is among what gets killed.
  KillRepeatedly(fx, appender, rng, 1, 30, /*settle_at=*/10, 0);
  REQUIRE(appender.Stop().empty());
  const auto before_final = CheckAgainstFold(fx, 1);
  INFO("the killed runners got to " << before_final.live_position << " of " << fx.HeadPosition());
  CHECK(before_final.live_version == 1);  // the first build was swapped in along the way
  CHECK(before_final.live_position > 0);
  FinishAndCompare(fx, 1);
}

TEST_CASE("a rebuild killed with SIGKILL again and again resumes from its shadow and swaps in exactly once",
          "[projections][kill]") {
  const unsigned seed = Seed();
  INFO("CAIRN_PROJECTIONS_SEED=" << seed);
  std::mt19937 rng(seed);
  ProjectionFixture fx;
  CAIRN_REQUIRE_OK(AppendRandom(*fx.store, rng, 200, 15));
  {
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  Appender appender(*fx.store, rng());
  // Version 2, slowed down so that the rebuild spans several kills.
  const int mid_rebuild = KillRepeatedly(fx, appender, rng, 2, 30, /*settle_at=*/20, 50);
  REQUIRE(appender.Stop().empty());
  INFO(mid_rebuild << " kills landed during the rebuild");
  CHECK(mid_rebuild >= 1);
  FinishAndCompare(fx, 2);
}

}  // namespace
}  // namespace cairn_test
