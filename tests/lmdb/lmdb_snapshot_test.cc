// The LMDB backend's `snapshots` sub-database beyond what the conformance suite
// checks on every backend: created late (stores older than it, another process
// creating it while this one has the store open), map growth during a snapshot
// write, and large states read in place from the memory map.
#include <lmdb.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cairn/store.h"
#include "lmdb/lmdb_records.h"  // MisalignedRecordCopies
#include "test_util.h"

namespace cairn_test {
namespace {

using cairn::BackendKind;
using cairn::ExpectedRevision;
using std::chrono::milliseconds;

cairn::Options SnapshotLmdbOptions() {
  cairn::Options options;
  options.backend = BackendKind::kLmdb;
  options.create_if_missing = true;
  return options;
}

std::unique_ptr<cairn::EventStore> OpenLmdbStore(const std::string& path, const cairn::Options& options) {
  auto opened = cairn::EventStore::Open(path, options);
  CAIRN_REQUIRE_OK(opened);
  return std::move(*opened);
}

cairn::EventData JsonEvent(std::string type) {
  cairn::EventData event;
  event.type = std::move(type);
  event.data = "{}";
  return event;
}

cairn::SnapshotData StateSnapshot(std::string stream, std::uint64_t revision, std::string state) {
  cairn::SnapshotData snapshot;
  snapshot.stream = std::move(stream);
  snapshot.revision = revision;
  snapshot.schema_version = 1;
  snapshot.event_hash.fill(0x5a);
  snapshot.state = std::move(state);
  return snapshot;
}

// (stream, revision, state) of every snapshot ReadSnapshots(stream) visits.
struct Seen {
  std::string stream;
  std::uint64_t revision = 0;
  std::string state;
  bool operator==(const Seen&) const = default;
};
std::vector<Seen> Snapshots(cairn::EventStore& store, std::optional<std::string_view> stream = std::nullopt) {
  std::vector<Seen> seen;
  auto read = store.ReadSnapshots(stream, [&](const cairn::SnapshotView& view) {
    seen.push_back({std::string(view.stream), view.revision, std::string(view.state)});
    return true;
  });
  CAIRN_REQUIRE_OK(read);
  REQUIRE(*read == seen.size());
  return seen;
}

// Deletes the `snapshots` sub-database of the closed store at `path` (mdb_drop
// with del = 1), as if the store had been created before it existed.
void DropSnapshotsDb(const std::string& path) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 8);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "snapshots", 0, &dbi) == MDB_SUCCESS);
  REQUIRE(mdb_drop(txn, dbi, 1) == MDB_SUCCESS);
  REQUIRE(mdb_txn_commit(txn) == MDB_SUCCESS);
  mdb_env_close(env);
}

// Makes a store at `path` with `streams` of one event each, whose `snapshots`
// sub-database is then dropped; leaves it closed.
void MakeOldStore(const std::string& path, const std::vector<std::string>& streams,
                  const cairn::Options& options = SnapshotLmdbOptions()) {
  {
    auto store = OpenLmdbStore(path, options);
    for (const auto& stream : streams) {
      CAIRN_REQUIRE_OK(store->Append(stream, ExpectedRevision::NoStream(), {JsonEvent("made.v1")}));
      CAIRN_REQUIRE_OK(store->Append(stream, ExpectedRevision::Exact(0), {JsonEvent("made.v1")}));
    }
  }
  DropSnapshotsDb(path);
}

// Runs the helper's save-snapshot in another process; requires it to succeed.
void SaveInOtherProcess(const std::string& path, const std::string& stream, std::uint64_t revision,
                        const std::string& state) {
  ChildProcess child({CAIRN_LMDB_TEST_HELPER, "save-snapshot", path, stream, std::to_string(revision), state});
  auto line = child.ReadLine(milliseconds(30'000));
  REQUIRE(line.has_value());
  CHECK(*line == "saved");
  REQUIRE(child.WaitSucceeded());
}

// The address ranges at which this process maps `path` (from /proc/self/maps).
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> MappedRanges(const std::string& path) {
  const std::string canonical = std::filesystem::canonical(path).string();
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (!line.ends_with(" " + canonical)) continue;
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream in(line);
    in >> std::hex >> begin >> dash >> end;
    ranges.emplace_back(begin, end);
  }
  return ranges;
}

bool Inside(const std::vector<std::pair<std::uintptr_t, std::uintptr_t>>& ranges, std::string_view bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data());
  for (const auto& [low, high] : ranges) {
    if (begin >= low && begin + bytes.size() <= high) return true;
  }
  return false;
}

TEST_CASE("a snapshot write that finds the map full grows it and runs again", "[lmdb][snapshots][map]") {
  TempDir dir;
  const std::string path = dir.File("store");
  cairn::Options options = SnapshotLmdbOptions();
  options.lmdb_initial_map_bytes = 64 * 1024;  // 16 pages
  const std::string big(6u << 20, 's');

  SECTION("a store with the snapshots sub-database") {
    auto store = OpenLmdbStore(path, options);
    CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), {JsonEvent("a.v1")}));
    CAIRN_REQUIRE_OK(store->SaveSnapshot(StateSnapshot("order-1", 0, big)));
    CHECK(Snapshots(*store) == std::vector<Seen>{{"order-1", 0, big}});
    auto stats = store->Stats();
    CAIRN_REQUIRE_OK(stats);
    CHECK(stats->map_bytes >= big.size());
  }
  SECTION("an old store: the transaction that creates the sub-database is the one run again") {
    MakeOldStore(path, {"order-1"}, options);
    auto store = OpenLmdbStore(path, options);
    CHECK(Snapshots(*store).empty());
    CAIRN_REQUIRE_OK(store->SaveSnapshot(StateSnapshot("order-1", 1, big)));
    CHECK(Snapshots(*store) == std::vector<Seen>{{"order-1", 1, big}});
    CAIRN_REQUIRE_OK(store->SaveSnapshot(StateSnapshot("order-1", 0, "small")));
    CHECK(Snapshots(*store).size() == 2);
  }
  auto store = OpenLmdbStore(path, options);
  CHECK(Snapshots(*store).front().state == big);
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);
}

TEST_CASE("large snapshot states are read in place from the memory map", "[lmdb][snapshots][zero-copy]") {
  TempDir dir;
  const std::string path = dir.File("store");
  auto store = OpenLmdbStore(path, SnapshotLmdbOptions());
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), {JsonEvent("a.v1")}));
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Exact(0), {JsonEvent("a.v1")}));
  std::mt19937_64 rng(3);
  std::string big(1u << 20, '\0');
  for (auto& byte : big) byte = static_cast<char>(rng());
  CAIRN_REQUIRE_OK(store->SaveSnapshot(StateSnapshot("order-1", 1, big)));
  // Small ones share leaf pages behind keys of any length: read through a copy, still exact.
  CAIRN_REQUIRE_OK(store->SaveSnapshot(StateSnapshot("order-1", 0, "tiny")));
  const auto copies_before = cairn::detail::lmdb::MisalignedRecordCopies();
  const auto ranges = MappedRanges(path);
  REQUIRE_FALSE(ranges.empty());

  std::uint64_t visited = 0;
  auto read = store->ReadSnapshots("order-1", [&](const cairn::SnapshotView& view) {
    ++visited;
    CHECK(Inside(ranges, view.stream));  // the key, in the map
    if (view.revision == 1) {
      CHECK(view.state == big);
      CHECK(Inside(ranges, view.state));  // an overflow page: aligned, no copy
    } else {
      CHECK(view.state == "tiny");
    }
    return true;
  });
  CAIRN_REQUIRE_OK(read);
  CHECK(visited == 2);
  // Snapshot copies are not counted: the counter is about event records.
  CHECK(cairn::detail::lmdb::MisalignedRecordCopies() == copies_before);
}

TEST_CASE("a snapshots sub-database another process creates is found", "[lmdb][snapshots][multiprocess]") {
  TempDir dir;
  const std::string path = dir.File("store");
  MakeOldStore(path, {"order-1", "order-2"});

  SECTION("by a read-only store that saw none") {
    cairn::Options read_only = SnapshotLmdbOptions();
    read_only.create_if_missing = false;
    read_only.read_only = true;
    auto store = OpenLmdbStore(path, read_only);
    CHECK(Snapshots(*store).empty());
    SaveInOtherProcess(path, "order-1", 1, "from the helper");
    CHECK(Snapshots(*store) == std::vector<Seen>{{"order-1", 1, "from the helper"}});
    CHECK(Snapshots(*store, "order-1").size() == 1);
    SaveInOtherProcess(path, "order-2", 0, "second");
    CHECK(Snapshots(*store).size() == 2);
  }
  SECTION("by a reader of a writable store, which then writes") {
    auto store = OpenLmdbStore(path, SnapshotLmdbOptions());
    CHECK(Snapshots(*store).empty());
    SaveInOtherProcess(path, "order-1", 1, "from the helper");
    CHECK(Snapshots(*store) == std::vector<Seen>{{"order-1", 1, "from the helper"}});
    CAIRN_REQUIRE_OK(store->SaveSnapshot(StateSnapshot("order-1", 0, "mine")));
    CHECK(Snapshots(*store, "order-1") ==
          std::vector<Seen>{{"order-1", 1, "from the helper"}, {"order-1", 0, "mine"}});
  }
  SECTION("by a write transaction before any read") {
    auto store = OpenLmdbStore(path, SnapshotLmdbOptions());
    // A write without the handle: a tombstone lists the stream's snapshots (none, no sub-database).
    CAIRN_REQUIRE_OK(store->DeleteStream("order-2", ExpectedRevision::Any()));
    SaveInOtherProcess(path, "order-1", 0, "from the helper");
    auto deleted = store->DeleteSnapshots("order-1");  // opens the helper's sub-database in the write
    CAIRN_REQUIRE_OK(deleted);
    CHECK(*deleted == 1);
    CHECK(Snapshots(*store).empty());
    SaveInOtherProcess(path, "order-1", 1, "again");
    CHECK(Snapshots(*store) == std::vector<Seen>{{"order-1", 1, "again"}});
  }
  SECTION("by another store object of this process") {
    // Two stores on one path share the environment: a handle one creates is the other's too.
    auto first = OpenLmdbStore(path, SnapshotLmdbOptions());
    auto second = OpenLmdbStore(path, SnapshotLmdbOptions());
    CHECK(Snapshots(*first).empty());
    CAIRN_REQUIRE_OK(second->SaveSnapshot(StateSnapshot("order-2", 1, "second's")));
    CHECK(Snapshots(*first) == std::vector<Seen>{{"order-2", 1, "second's"}});
  }
  auto store = OpenLmdbStore(path, SnapshotLmdbOptions());
  CHECK_FALSE(Snapshots(*store).empty());
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);
}

}  // namespace
}  // namespace cairn_test
