// The aggregate repository on the backend under test: loads equal full folds,
// bad snapshots are never trusted, policies fire when they should, snapshot
// write failures never reach the save that triggered them.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cairn/snapshot.h"
#include "conformance.h"

namespace {

using cairn::ErrorCode;
using cairn::EventView;
using cairn_test::Json;
using cairn_test::TestStore;

// A test aggregate whose state is a digest of every event folded, in order,
// so any missed, repeated or reordered event changes it.
struct Tally {
  std::uint64_t count = 0;
  std::uint64_t digest = 1469598103934665603ull;
  std::uint64_t last_position = 0;
  friend bool operator==(const Tally&, const Tally&) = default;
};

void Mix(std::uint64_t& digest, std::string_view bytes) {
  for (unsigned char c : bytes) digest = (digest ^ c) * 1099511628211ull;
  digest = (digest ^ 0xff) * 1099511628211ull;
}

template <std::uint32_t Version>
struct TallyAggregate {
  using State = Tally;
  static constexpr std::uint32_t kSchemaVersion = Version;
  static State Initial() { return {}; }
  static void Apply(State& state, const EventView& event) {
    ++state.count;
    Mix(state.digest, event.type);
    Mix(state.digest, event.data);
    Mix(state.digest, std::to_string(event.revision));
    state.last_position = event.position;
  }
  static std::string Encode(const State& state) {
    return "tally:" + std::to_string(state.count) + ":" + std::to_string(state.digest) + ":" +
           std::to_string(state.last_position);
  }
  // Strict: anything but exactly what Encode writes does not decode. "throw"
  // throws, like a Cap'n Proto reader given garbage.
  static std::optional<State> Decode(std::string_view bytes) {
    if (bytes == "throw") throw std::runtime_error("malformed");
    if (!bytes.starts_with("tally:")) return std::nullopt;
    bytes.remove_prefix(6);
    State state;
    std::uint64_t* fields[] = {&state.count, &state.digest, &state.last_position};
    for (std::size_t i = 0; i < 3; ++i) {
      auto [end, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), *fields[i]);
      if (ec != std::errc()) return std::nullopt;
      bytes.remove_prefix(static_cast<std::size_t>(end - bytes.data()));
      if (i < 2) {
        if (!bytes.starts_with(':')) return std::nullopt;
        bytes.remove_prefix(1);
      }
    }
    if (!bytes.empty()) return std::nullopt;
    return state;
  }
};
using Agg = TallyAggregate<1>;
static_assert(cairn::Aggregate<Agg>);

// The state a load must equal: every event of the stream folded from Initial().
Tally FullFold(cairn::EventStore& store, std::string_view stream) {
  Tally state;
  auto read = store.ReadStream(stream, {}, [&](const EventView& event) {
    Agg::Apply(state, event);
    return true;
  });
  CAIRN_REQUIRE_OK(read);
  return state;
}

std::vector<cairn::EventData> Events(std::size_t count, std::mt19937_64* random = nullptr) {
  std::vector<cairn::EventData> events;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t n = random ? (*random)() % 1000 : i;
    events.push_back(Json(n % 3 == 0 ? "tally.big.v1" : "tally.small.v1", "{\"n\":" + std::to_string(n) + "}"));
  }
  return events;
}

// Appends `count` events to `stream` outside any repository.
void AppendRaw(cairn::EventStore& store, std::string_view stream, std::size_t count) {
  auto events = Events(count);
  CAIRN_REQUIRE_OK(store.Append(stream, cairn::ExpectedRevision::Any(), events));
}

// Saves a snapshot of the stream's full fold at `revision` directly through the store.
void SaveTrueSnapshot(cairn::EventStore& store, std::string_view stream, std::uint64_t revision,
                      std::uint32_t schema_version = 1, std::optional<std::string> state = std::nullopt) {
  Tally tally;
  cairn::Hash hash{};
  auto read = store.ReadStream(stream, {.max_count = revision + 1}, [&](const EventView& event) {
    Agg::Apply(tally, event);
    hash = event.hash;
    return true;
  });
  CAIRN_REQUIRE_OK(read);
  CAIRN_REQUIRE_OK(store.SaveSnapshot({.stream = std::string(stream),
                                       .revision = revision,
                                       .schema_version = schema_version,
                                       .event_hash = hash,
                                       .state = state.value_or(Agg::Encode(tally))}));
}

std::vector<std::uint64_t> SnapshotRevisions(cairn::EventStore& store, std::string_view stream) {
  std::vector<std::uint64_t> revisions;
  CAIRN_REQUIRE_OK(store.ReadSnapshots(stream, [&](const cairn::SnapshotView& snapshot) {
    revisions.push_back(snapshot.revision);
    return true;
  }));
  return revisions;
}

// Forwards everything to a real store, and lets a test make snapshot writes
// fail or slip extra snapshots (ones a real store would refuse) into reads.
class FaultyStore final : public cairn::EventStore {
 public:
  explicit FaultyStore(cairn::EventStore& inner) : inner_(inner) {}

  std::atomic<bool> fail_snapshot_writes{false};
  std::vector<cairn::SnapshotData> injected;  // visited before the real ones
  std::vector<std::uint64_t> damaged;         // real ones at these revisions read as not intact

  cairn::Result<cairn::AppendResult> Append(std::string_view stream, cairn::ExpectedRevision expected,
                                            std::span<const cairn::EventData> events) override {
    return inner_.Append(stream, expected, events);
  }
  cairn::Result<cairn::AppendResult> DeleteStream(std::string_view stream,
                                                  cairn::ExpectedRevision expected) override {
    return inner_.DeleteStream(stream, expected);
  }
  cairn::Result<std::uint64_t> ReadStream(std::string_view stream, const cairn::ReadStreamOptions& options,
                                          const cairn::EventVisitor& visit) override {
    return inner_.ReadStream(stream, options, visit);
  }
  cairn::Result<std::uint64_t> ReadLog(const cairn::ReadLogOptions& options,
                                       const cairn::EventVisitor& visit) override {
    return inner_.ReadLog(options, visit);
  }
  cairn::Result<cairn::StreamInfo> GetStreamInfo(std::string_view stream) override {
    return inner_.GetStreamInfo(stream);
  }
  cairn::Result<std::uint64_t> HeadPosition() override { return inner_.HeadPosition(); }
  cairn::Result<std::unique_ptr<cairn::Subscription>> Subscribe(const cairn::SubscribeOptions& options) override {
    return inner_.Subscribe(options);
  }
  cairn::Result<cairn::VerifyReport> Verify(const cairn::VerifyOptions& options) override {
    return inner_.Verify(options);
  }
  cairn::Result<cairn::StoreStats> Stats() override { return inner_.Stats(); }
  cairn::Result<cairn::ImportStats> Import(const cairn::ImportSource& next,
                                           const cairn::ImportOptions& options) override {
    return inner_.Import(next, options);
  }
  cairn::Status SaveSnapshot(const cairn::SnapshotData& snapshot, std::size_t keep_newest) override {
    if (fail_snapshot_writes) return cairn::Fail(ErrorCode::kIOError, "injected: disk full");
    return inner_.SaveSnapshot(snapshot, keep_newest);
  }
  cairn::Result<std::uint64_t> ReadSnapshots(std::optional<std::string_view> stream,
                                             const cairn::SnapshotVisitor& visit) override {
    std::uint64_t visited = 0;
    for (const auto& snapshot : injected) {
      if (stream && snapshot.stream != *stream) continue;
      ++visited;
      if (!visit({.stream = snapshot.stream,
                  .revision = snapshot.revision,
                  .schema_version = snapshot.schema_version,
                  .event_hash = snapshot.event_hash,
                  .state = snapshot.state})) {
        return visited;
      }
    }
    auto real = inner_.ReadSnapshots(stream, [&](const cairn::SnapshotView& snapshot) {
      cairn::SnapshotView view = snapshot;
      if (std::find(damaged.begin(), damaged.end(), view.revision) != damaged.end()) view.intact = false;
      return visit(view);
    });
    if (!real) return real;
    return visited + *real;
  }
  cairn::Result<std::uint64_t> DeleteSnapshots(std::string_view stream,
                                               std::optional<std::uint64_t> revision) override {
    return inner_.DeleteSnapshots(stream, revision);
  }
  cairn::Result<std::uint64_t> PruneSnapshots(std::optional<std::string_view> stream, std::size_t keep) override {
    return inner_.PruneSnapshots(stream, keep);
  }
  cairn::Result<std::uint64_t> PutSchema(std::string_view event_type, std::string_view schema_json) override {
    return inner_.PutSchema(event_type, schema_json);
  }
  cairn::Result<cairn::SchemaInfo> GetSchema(std::string_view event_type) override {
    return inner_.GetSchema(event_type);
  }
  cairn::Result<std::uint64_t> ReadSchemas(const cairn::SchemaVisitor& visit,
                                           const cairn::ReadSchemasOptions& options) override {
    return inner_.ReadSchemas(visit, options);
  }
  cairn::Result<std::uint64_t> DeleteSchema(std::string_view event_type) override {
    return inner_.DeleteSchema(event_type);
  }
  cairn::Result<std::uint64_t> PositionAtOrAfter(std::int64_t recorded_at_us) override {
    return inner_.PositionAtOrAfter(recorded_at_us);
  }
  cairn::Status SaveCheckpoint(std::string_view name, std::uint64_t position, std::string_view detail) override {
    return inner_.SaveCheckpoint(name, position, detail);
  }
  cairn::Result<std::optional<cairn::Checkpoint>> ReadCheckpoint(std::string_view name) override {
    return inner_.ReadCheckpoint(name);
  }
  cairn::Result<std::vector<cairn::Checkpoint>> ListCheckpoints() override { return inner_.ListCheckpoints(); }
  cairn::Result<bool> DeleteCheckpoint(std::string_view name) override { return inner_.DeleteCheckpoint(name); }
  const std::string& path() const override { return inner_.path(); }

 private:
  cairn::EventStore& inner_;
};

TEST_CASE("a load equals the full fold, for random events and random snapshot points", "[snapshot]") {
  TestStore store;
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 random(seed);
    const std::string stream = "tally-" + std::to_string(seed);
    cairn::Repository<Agg> repository(*store);
    auto aggregate = repository.Load(stream);
    CAIRN_REQUIRE_OK(aggregate);
    REQUIRE_FALSE(aggregate->revision);
    const std::size_t saves = 5 + random() % 25;
    for (std::size_t i = 0; i < saves; ++i) {
      auto events = Events(1 + random() % 40, &random);
      CAIRN_REQUIRE_OK(repository.Save(*aggregate, events));
      REQUIRE(aggregate->state == FullFold(*store, stream));
      if (random() % 3 == 0) CAIRN_REQUIRE_OK(repository.SnapshotNow(*aggregate));
      if (random() % 4 == 0) {
        repository.Flush();
        auto loaded = repository.Load(stream);
        CAIRN_REQUIRE_OK(loaded);
        REQUIRE(loaded->state == aggregate->state);
        REQUIRE(loaded->revision == aggregate->revision);
        aggregate = std::move(loaded);
      }
    }
    repository.Flush();
    auto loaded = repository.Load(stream);
    CAIRN_REQUIRE_OK(loaded);
    CHECK(loaded->state == FullFold(*store, stream));
    CHECK(loaded->revision == store->GetStreamInfo(stream)->head_revision);
    auto snapshots = SnapshotRevisions(*store, stream);
    if (!snapshots.empty()) {
      // The newest snapshot was trusted, and only the tail after it folded.
      CHECK(loaded->snapshot_revision == snapshots.front());
      CHECK(loaded->events_folded == *loaded->revision - snapshots.front());
    } else {
      CHECK_FALSE(loaded->snapshot_revision);
    }
    CHECK(repository.counters().snapshot_write_failures == 0);
  }
}

TEST_CASE("a new stream loads as the initial state with no revision, and saves with no-stream", "[snapshot]") {
  TestStore store;
  cairn::Repository<Agg> repository(*store);
  auto aggregate = repository.Load("tally-new");
  CAIRN_REQUIRE_OK(aggregate);
  CHECK(aggregate->state == Tally{});
  CHECK_FALSE(aggregate->revision);
  CHECK(aggregate->expected() == cairn::ExpectedRevision::NoStream());
  CAIRN_REQUIRE_OK(repository.Save(*aggregate, {Json("tally.small.v1")}));
  CHECK(aggregate->revision == 0u);
  CHECK(aggregate->state.count == 1);
  CAIRN_REQUIRE_ERROR(repository.SnapshotNow(cairn::Loaded<Tally>{.stream = "tally-empty"}),
                      ErrorCode::kInvalidArgument);
}

TEST_CASE("a snapshot of another schema version is ignored", "[snapshot]") {
  TestStore store;
  AppendRaw(*store, "tally-1", 30);
  SaveTrueSnapshot(*store, "tally-1", 9);
  SaveTrueSnapshot(*store, "tally-1", 19, /*schema_version=*/2);
  cairn::Repository<Agg> repository(*store);
  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->snapshot_revision == 9u);
  CHECK(loaded->events_folded == 20);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
  CHECK(repository.counters().ignored_schema_version == 1);

  // The version-2 aggregate trusts only its own.
  cairn::Repository<TallyAggregate<2>> v2(*store);
  auto loaded2 = v2.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded2);
  CHECK(loaded2->snapshot_revision == 19u);
  CHECK(v2.counters().ignored_schema_version == 0);
}

TEST_CASE("a snapshot whose event hash does not match the stream is ignored", "[snapshot]") {
  TestStore store;
  AppendRaw(*store, "tally-1", 30);
  SaveTrueSnapshot(*store, "tally-1", 9);
  // A snapshot claiming revision 19 with the hash of another event: its state
  // summarises events that are not the ones in the log.
  cairn::Hash wrong{};
  CAIRN_REQUIRE_OK(store->ReadStream("tally-1", {.from_revision = 18, .max_count = 1},
                                     [&](const EventView& event) {
                                       wrong = event.hash;
                                       return true;
                                     }));
  CAIRN_REQUIRE_OK(store->SaveSnapshot({.stream = "tally-1",
                                        .revision = 19,
                                        .schema_version = 1,
                                        .event_hash = wrong,
                                        .state = Agg::Encode(Tally{.count = 999})}));
  cairn::Repository<Agg> repository(*store);
  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->snapshot_revision == 9u);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
  CHECK(repository.counters().ignored_event_hash == 1);

  auto views = std::vector<cairn::SnapshotData>{};
  CAIRN_REQUIRE_OK(store->ReadSnapshots("tally-1", [&](const cairn::SnapshotView& snapshot) {
    views.push_back({.stream = std::string(snapshot.stream),
                     .revision = snapshot.revision,
                     .schema_version = snapshot.schema_version,
                     .event_hash = snapshot.event_hash,
                     .state = std::string(snapshot.state)});
    return true;
  }));
  REQUIRE(views.size() == 2);
  cairn::SnapshotView bad{.stream = views[0].stream, .revision = views[0].revision, .event_hash = views[0].event_hash};
  cairn::SnapshotView good{.stream = views[1].stream, .revision = views[1].revision, .event_hash = views[1].event_hash};
  CHECK(cairn::CheckSnapshot(*store, bad) == cairn::SnapshotProblem::kEventHash);
  CHECK(cairn::CheckSnapshot(*store, good) == cairn::SnapshotProblem::kNone);
}

TEST_CASE("a snapshot whose bytes do not decode is ignored, even when decoding throws", "[snapshot]") {
  TestStore store;
  AppendRaw(*store, "tally-1", 40);
  SaveTrueSnapshot(*store, "tally-1", 9);
  SaveTrueSnapshot(*store, "tally-1", 19, 1, std::string("tally:garbage"));
  SaveTrueSnapshot(*store, "tally-1", 29, 1, std::string("throw"));
  cairn::Repository<Agg> repository(*store);
  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->snapshot_revision == 9u);
  CHECK(loaded->events_folded == 30);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
  CHECK(repository.counters().ignored_undecodable == 2);
}

TEST_CASE("a damaged snapshot (its checksum fails) is ignored", "[snapshot]") {
  TestStore store;
  AppendRaw(*store, "tally-1", 30);
  SaveTrueSnapshot(*store, "tally-1", 9);
  SaveTrueSnapshot(*store, "tally-1", 19);
  FaultyStore faulty(*store);
  faulty.damaged = {19};
  cairn::Repository<Agg> repository(faulty);
  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->snapshot_revision == 9u);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
  CHECK(repository.counters().ignored_damaged == 1);
  cairn::SnapshotView damaged{.stream = "tally-1", .revision = 19, .intact = false};
  CHECK(cairn::CheckSnapshot(*store, damaged) == cairn::SnapshotProblem::kDamaged);
}

TEST_CASE("a snapshot past the stream's head is ignored", "[snapshot]") {
  // A store refuses to save one, so it can only come from outside (a restored
  // file, a hand edit): injected here.
  TestStore store;
  AppendRaw(*store, "tally-1", 10);
  SaveTrueSnapshot(*store, "tally-1", 4);
  CAIRN_REQUIRE_ERROR(store->SaveSnapshot({.stream = "tally-1", .revision = 10, .schema_version = 1, .state = "x"}),
                      ErrorCode::kInvalidArgument);
  FaultyStore faulty(*store);
  faulty.injected.push_back({.stream = "tally-1", .revision = 50, .schema_version = 1,
                             .state = Agg::Encode(Tally{.count = 51})});
  cairn::Repository<Agg> repository(faulty);
  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->snapshot_revision == 4u);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
  CHECK(repository.counters().ignored_past_head == 1);
  cairn::SnapshotView past{.stream = "tally-1", .revision = 50};
  CHECK(cairn::CheckSnapshot(*store, past) == cairn::SnapshotProblem::kPastHead);
}

TEST_CASE("with every snapshot bad, the aggregate is folded from the start", "[snapshot]") {
  TestStore store;
  AppendRaw(*store, "tally-1", 25);
  SaveTrueSnapshot(*store, "tally-1", 9, 7);
  SaveTrueSnapshot(*store, "tally-1", 19, 1, std::string("nope"));
  cairn::Repository<Agg> repository(*store);
  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK_FALSE(loaded->snapshot_revision);
  CHECK(loaded->events_folded == 25);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
  auto counters = repository.counters();
  CHECK(counters.ignored_schema_version == 1);
  CHECK(counters.ignored_undecodable == 1);
  CHECK(counters.loads_from_snapshot == 0);
}

TEST_CASE("a tombstoned stream loads as deleted", "[snapshot]") {
  TestStore store;
  cairn::Repository<Agg> repository(*store, cairn::SnapshotPolicy::EveryEvents(5));
  auto aggregate = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(aggregate);
  CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(12)));
  repository.Flush();
  REQUIRE_FALSE(SnapshotRevisions(*store, "tally-1").empty());
  CAIRN_REQUIRE_OK(store->DeleteStream("tally-1", cairn::ExpectedRevision::Any()));
  CAIRN_REQUIRE_ERROR(repository.Load("tally-1"), ErrorCode::kStreamDeleted);
  CAIRN_REQUIRE_ERROR(repository.Save(*aggregate, {Json("tally.small.v1")}), ErrorCode::kStreamDeleted);
  CHECK(SnapshotRevisions(*store, "tally-1").empty());
}

TEST_CASE("two threads saving one aggregate: one wins, the other gets a conflict", "[snapshot]") {
  TestStore store;
  cairn::Repository<Agg> repository(*store, cairn::SnapshotPolicy::EveryEvents(1));
  auto seed = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(seed);
  CAIRN_REQUIRE_OK(repository.Save(*seed, Events(3)));

  for (int round = 0; round < 20; ++round) {
    auto first = repository.Load("tally-1");
    auto second = repository.Load("tally-1");
    CAIRN_REQUIRE_OK(first);
    CAIRN_REQUIRE_OK(second);
    REQUIRE(first->revision == second->revision);
    std::optional<cairn::Result<cairn::AppendResult>> results[2];
    std::atomic<int> ready{0};
    auto save = [&](int which, cairn::Loaded<Tally>& aggregate) {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      results[which] = repository.Save(aggregate, {Json("tally.small.v1", "{\"thread\":" + std::to_string(which) + "}")});
    };
    std::thread a(save, 0, std::ref(*first));
    std::thread b(save, 1, std::ref(*second));
    a.join();
    b.join();
    int wins = 0, conflicts = 0;
    for (auto& result : results) {
      if (*result) ++wins;
      else if (result->error().code() == ErrorCode::kConflict) ++conflicts;
    }
    REQUIRE(wins == 1);
    REQUIRE(conflicts == 1);
    auto& winner = *results[0] ? *first : *second;
    auto& loser = *results[0] ? *second : *first;
    const auto& conflict = (*results[0] ? *results[1] : *results[0]).error().conflict();
    REQUIRE(conflict);
    CHECK(conflict->actual_revision == winner.revision);
    // The loser's aggregate is untouched by the failed save.
    CHECK(loser.revision == *winner.revision - 1);
    repository.Flush();
    auto reloaded = repository.Load("tally-1");
    CAIRN_REQUIRE_OK(reloaded);
    CHECK(reloaded->state == winner.state);
    CHECK(reloaded->state == FullFold(*store, "tally-1"));
  }
}

TEST_CASE("the every-N policy snapshots when a save crosses a multiple of N, and pruning keeps K", "[snapshot]") {
  TestStore store;
  cairn::Repository<Agg> repository(*store, cairn::SnapshotPolicy::EveryEvents(10, /*keep=*/3));
  auto aggregate = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(aggregate);
  CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(9)));  // revisions 0..8: 9 events, no multiple of 10
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1").empty());
  CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(1)));  // the 10th event
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1") == std::vector<std::uint64_t>{9});
  CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(25)));  // 35 events: crosses 20 and 30, one snapshot at its end
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1") == std::vector<std::uint64_t>{34, 9});
  for (int i = 0; i < 65; ++i) CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(1)));  // to 100 events
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1") == std::vector<std::uint64_t>{99, 89, 79});
  auto counters = repository.counters();
  CHECK(counters.snapshots_written == 2 + 7);  // 9, 34, then 39, 49, …, 99
  CHECK(counters.snapshots_queued == counters.snapshots_written);
  CHECK(counters.snapshot_write_failures == 0);

  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->snapshot_revision == 99u);
  CHECK(loaded->events_folded == 0);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
}

TEST_CASE("the folded-more-than policy snapshots after a long load", "[snapshot]") {
  TestStore store;
  AppendRaw(*store, "tally-1", 30);
  cairn::Repository<Agg> repository(*store, cairn::SnapshotPolicy::WhenFoldedMoreThan(20));
  auto first = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(first);
  CHECK(first->events_folded == 30);
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1") == std::vector<std::uint64_t>{29});

  AppendRaw(*store, "tally-1", 15);
  auto second = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(second);
  CHECK(second->snapshot_revision == 29u);
  CHECK(second->events_folded == 15);  // not more than 20: no new snapshot
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1") == std::vector<std::uint64_t>{29});

  AppendRaw(*store, "tally-1", 6);
  auto third = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(third);
  CHECK(third->events_folded == 21);
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1") == std::vector<std::uint64_t>{50, 29});
  CHECK(repository.counters().snapshots_written == 2);
}

TEST_CASE("the never policy takes no snapshot", "[snapshot]") {
  TestStore store;
  cairn::Repository<Agg> repository(*store);
  auto aggregate = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(aggregate);
  for (int i = 0; i < 30; ++i) CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(10)));
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1").empty());
  CHECK(repository.counters().snapshots_queued == 0);
}

TEST_CASE("snapshots survive reopening the store", "[snapshot]") {
  TestStore store;
  {
    cairn::Repository<Agg> repository(*store, cairn::SnapshotPolicy::EveryEvents(50));
    auto aggregate = repository.Load("tally-1");
    CAIRN_REQUIRE_OK(aggregate);
    CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(120)));
    // No Flush: destroying the repository writes what is queued.
  }
  store.Reopen();
  cairn::Repository<Agg> repository(*store);
  auto loaded = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->snapshot_revision == 119u);
  CHECK(loaded->events_folded == 0);
  CHECK(loaded->state == FullFold(*store, "tally-1"));
}

TEST_CASE("a failed snapshot write is logged and counted, and the save has succeeded", "[snapshot]") {
  TestStore store;
  FaultyStore faulty(*store);
  faulty.fail_snapshot_writes = true;
  std::mutex log_mutex;
  std::vector<std::string> log;
  cairn::Repository<Agg> repository(faulty, cairn::SnapshotPolicy::EveryEvents(5),
                                    {.log = [&](std::string_view line) {
                                      std::lock_guard lock(log_mutex);
                                      log.emplace_back(line);
                                    }});
  auto aggregate = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(aggregate);
  auto saved = repository.Save(*aggregate, Events(5));
  CAIRN_REQUIRE_OK(saved);
  CHECK(saved->last_revision == 4);
  repository.Flush();
  CHECK(repository.counters().snapshot_write_failures == 1);
  CHECK(repository.counters().snapshots_written == 0);
  {
    std::lock_guard lock(log_mutex);
    REQUIRE(log.size() == 1);
    CHECK(log[0].find("tally-1") != std::string::npos);
    CHECK(log[0].find("disk full") != std::string::npos);
  }
  CHECK(store->GetStreamInfo("tally-1")->head_revision == 4u);
  CHECK(SnapshotRevisions(*store, "tally-1").empty());

  faulty.fail_snapshot_writes = false;
  CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(5)));
  repository.Flush();
  CHECK(SnapshotRevisions(*store, "tally-1") == std::vector<std::uint64_t>{9});
}

TEST_CASE("a full snapshot queue drops snapshots instead of holding up saves", "[snapshot]") {
  TestStore store;
  cairn::Repository<Agg> repository(*store, cairn::SnapshotPolicy::EveryEvents(1), {.max_queued_snapshots = 0});
  auto aggregate = repository.Load("tally-1");
  CAIRN_REQUIRE_OK(aggregate);
  for (int i = 0; i < 5; ++i) CAIRN_REQUIRE_OK(repository.Save(*aggregate, Events(1)));
  repository.Flush();
  CHECK(repository.counters().snapshots_dropped == 5);
  CHECK(repository.counters().snapshots_queued == 0);
  CHECK(SnapshotRevisions(*store, "tally-1").empty());
}

TEST_CASE("many threads loading and saving many aggregates stay consistent", "[snapshot]") {
  TestStore store;
  cairn::Repository<Agg> repository(*store, cairn::SnapshotPolicy::EveryEvents(7, 2));
  constexpr int kThreads = 4;
  constexpr int kSaves = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSaves; ++i) {
        // Two threads share each stream, so some saves conflict: retry as a service would.
        const std::string stream = "tally-" + std::to_string(t % 2);
        for (;;) {
          auto aggregate = repository.Load(stream);
          if (!aggregate) {
            failures.fetch_add(1);
            return;
          }
          auto saved = repository.Save(*aggregate, Events(1 + static_cast<std::size_t>(i % 3)));
          if (saved) break;
          if (saved.error().code() != ErrorCode::kConflict) {
            failures.fetch_add(1);
            return;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  repository.Flush();
  REQUIRE(failures == 0);
  for (const char* stream : {"tally-0", "tally-1"}) {
    auto loaded = repository.Load(stream);
    CAIRN_REQUIRE_OK(loaded);
    CHECK(loaded->state == FullFold(*store, stream));
    CHECK(SnapshotRevisions(*store, stream).size() <= 2);
  }
  CHECK(repository.counters().snapshot_write_failures == 0);
}

}  // namespace
