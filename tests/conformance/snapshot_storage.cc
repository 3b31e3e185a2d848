// Snapshot storage: SaveSnapshot, ReadSnapshots, DeleteSnapshots, PruneSnapshots
// (cairn/store.h) on every backend — fields, replacement, order, refusals, and
// stores created before the snapshots table / sub-database existed.
#include <lmdb.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance.h"
#include "tamper.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

// A SnapshotView, owned.
struct StoredSnapshot {
  std::string stream;
  std::uint64_t revision = 0;
  std::uint32_t schema_version = 0;
  cairn::Hash event_hash{};
  std::int64_t taken_at_us = 0;
  std::string state;
  bool intact = true;

  bool operator==(const StoredSnapshot&) const = default;
};

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every snapshot ReadSnapshots(stream) visits, owned, in visiting order (every stream's by default).
std::vector<StoredSnapshot> ReadAll(cairn::EventStore& store, std::optional<std::string_view> stream = std::nullopt) {
  std::vector<StoredSnapshot> snapshots;
  auto read = store.ReadSnapshots(stream, [&](const cairn::SnapshotView& view) {
    snapshots.push_back({.stream = std::string(view.stream),
                         .revision = view.revision,
                         .schema_version = view.schema_version,
                         .event_hash = view.event_hash,
                         .taken_at_us = view.taken_at_us,
                         .state = std::string(view.state),
                         .intact = view.intact});
    return true;
  });
  CAIRN_REQUIRE_OK(read);
  REQUIRE(*read == snapshots.size());
  return snapshots;
}

// (stream, revision) of each, in order.
std::vector<std::pair<std::string, std::uint64_t>> Keys(const std::vector<StoredSnapshot>& snapshots) {
  std::vector<std::pair<std::string, std::uint64_t>> keys;
  for (const auto& snapshot : snapshots) keys.emplace_back(snapshot.stream, snapshot.revision);
  return keys;
}

// The hash of the event of `stream` at `revision`.
cairn::Hash EventHash(cairn::EventStore& store, const std::string& stream, std::uint64_t revision) {
  auto events = ReadStreamAll(store, stream, {.from_revision = revision, .max_count = 1});
  CAIRN_REQUIRE_OK(events);
  REQUIRE(events->size() == 1);
  return events->front().hash;
}

cairn::SnapshotData Snapshot(std::string stream, std::uint64_t revision, std::string state,
                             std::uint32_t schema_version = 1) {
  cairn::SnapshotData snapshot;
  snapshot.stream = std::move(stream);
  snapshot.revision = revision;
  snapshot.schema_version = schema_version;
  snapshot.event_hash.fill(static_cast<std::uint8_t>(revision + 1));
  snapshot.state = std::move(state);
  return snapshot;
}

// Appends `count` events to a new stream.
void MakeStream(cairn::EventStore& store, const std::string& stream, std::size_t count) {
  CAIRN_REQUIRE_OK(store.Append(stream, ExpectedRevision::NoStream(), NumberedEvents(count)));
}

// Removes the snapshots table (SQLite) or sub-database (LMDB) of the closed
// store at `path`, making it look like a format-1 store created before
// snapshots existed.
void DropSnapshotStorage(const std::string& path) {
  if (TestBackend() == cairn::BackendKind::kSqlite) {
    sqlite3* db = nullptr;
    const int opened = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    char* message = nullptr;
    const int dropped =
        opened == SQLITE_OK ? sqlite3_exec(db, "DROP TABLE snapshots", nullptr, nullptr, &message) : opened;
    INFO("sqlite: " << (message != nullptr ? message : sqlite3_errstr(dropped)));
    sqlite3_free(message);
    sqlite3_close_v2(db);
    REQUIRE(dropped == SQLITE_OK);
    return;
  }
  REQUIRE(TestBackend() == cairn::BackendKind::kLmdb);
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 8);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "snapshots", 0, &dbi) == MDB_SUCCESS);
  REQUIRE(mdb_drop(txn, dbi, 1) == MDB_SUCCESS);  // 1: delete it from the environment, not just empty it
  REQUIRE(mdb_txn_commit(txn) == MDB_SUCCESS);
  mdb_env_close(env);
}

// Whether the closed store at `path` has its snapshots table / sub-database.
bool HasSnapshotStorage(const std::string& path) {
  if (TestBackend() == cairn::BackendKind::kSqlite) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'snapshots'", -1, &statement,
                               nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
    const bool present = sqlite3_column_int(statement, 0) == 1;
    sqlite3_finalize(statement);
    sqlite3_close_v2(db);
    return present;
  }
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 8);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_RDONLY, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == MDB_SUCCESS);
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn, "snapshots", 0, &dbi);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  REQUIRE((rc == MDB_SUCCESS || rc == MDB_NOTFOUND));
  return rc == MDB_SUCCESS;
}

TEST_CASE("a snapshot round-trips every field", "[snapshots]") {
  TestStore store;
  MakeStream(*store, "order-1", 3);
  const cairn::Hash hash = EventHash(*store, "order-1", 2);
  static constexpr char kState[] = "bin\0ary\xff\x80 state";  // a NUL, and bytes that are not UTF-8
  cairn::SnapshotData saved = Snapshot("order-1", 2, std::string(kState, sizeof kState - 1), 7);
  saved.event_hash = hash;
  const std::int64_t before = NowMicros();
  CAIRN_REQUIRE_OK(store->SaveSnapshot(saved));
  const std::int64_t after = NowMicros();

  const auto read = ReadAll(*store, "order-1");
  REQUIRE(read.size() == 1);
  CHECK(read[0].stream == "order-1");
  CHECK(read[0].revision == 2);
  CHECK(read[0].schema_version == 7);
  CHECK(read[0].event_hash == hash);
  CHECK(read[0].state == saved.state);
  CHECK(read[0].state.size() == 15);
  CHECK(read[0].intact);
  // taken_at is the store's clock at the save, not anything the caller sent.
  CHECK(read[0].taken_at_us != 0);
  CHECK(read[0].taken_at_us >= before - 1'000'000);
  CHECK(read[0].taken_at_us <= after + 1'000'000);
  CHECK(ReadAll(*store) == read);

  // Other streams, existing or not, have none.
  MakeStream(*store, "order-2", 1);
  CHECK(ReadAll(*store, "order-2").empty());
  CHECK(ReadAll(*store, "no-such-stream").empty());

  // An empty state, the largest schema version and revision 0 round-trip too.
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-2", 0, "", UINT32_MAX)));
  const auto empty = ReadAll(*store, "order-2");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].revision == 0);
  CHECK(empty[0].state.empty());
  CHECK(empty[0].schema_version == UINT32_MAX);
  CHECK(empty[0].event_hash == Snapshot("order-2", 0, "").event_hash);

  // Snapshots are not on the log: it is unchanged and verifies.
  CHECK(Head(*store) == 4);
  CHECK(RequireVerifyOk(*store).events_checked == 4);
}

TEST_CASE("saving a snapshot at the same revision replaces it", "[snapshots]") {
  TestStore store;
  MakeStream(*store, "order-1", 5);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 3, "first", 1)));
  const auto first = ReadAll(*store, "order-1");
  REQUIRE(first.size() == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));

  cairn::SnapshotData second = Snapshot("order-1", 3, std::string(5000, 's'), 2);
  second.event_hash.fill(0xab);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(second));
  const auto read = ReadAll(*store, "order-1");
  REQUIRE(read.size() == 1);
  CHECK(read[0].revision == 3);
  CHECK(read[0].schema_version == 2);
  CHECK(read[0].state == second.state);
  CHECK(read[0].event_hash == second.event_hash);
  CHECK(read[0].taken_at_us > first[0].taken_at_us);

  // And back to a smaller one.
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 3, "small", 3)));
  const auto third = ReadAll(*store);
  REQUIRE(third.size() == 1);
  CHECK(third[0].state == "small");
  CHECK(third[0].schema_version == 3);
}

TEST_CASE("snapshots are read newest first, streams in name byte order", "[snapshots][order]") {
  TestStore store;
  // Names that sort differently as bytes than by length or as signed chars.
  const std::vector<std::string> streams = {"b-1", "a", "a-b", "ab", "a\xc3\xa9", "Z", "a b", "order-10", "order-9"};
  for (const auto& stream : streams) MakeStream(*store, stream, 12);
  // Saved out of order.
  const std::vector<std::uint64_t> revisions = {4, 0, 11, 1, 7};
  for (const auto& stream : streams) {
    for (std::uint64_t revision : revisions) {
      CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot(stream, revision, stream + "@" + std::to_string(revision))));
    }
  }
  // Revisions whose big-endian bytes cross a byte boundary (255, 256).
  MakeStream(*store, "big-1", 300);
  for (std::uint64_t revision : {255u, 1u, 256u, 0u, 299u}) {
    CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("big-1", revision, "big@" + std::to_string(revision))));
  }
  MakeStream(*store, "without-snapshots", 1);

  // One stream: highest revision first.
  using Key = std::pair<std::string, std::uint64_t>;
  CHECK(Keys(ReadAll(*store, "a")) == std::vector<Key>{{"a", 11}, {"a", 7}, {"a", 4}, {"a", 1}, {"a", 0}});
  CHECK(Keys(ReadAll(*store, "big-1")) ==
        std::vector<Key>{{"big-1", 299}, {"big-1", 256}, {"big-1", 255}, {"big-1", 1}, {"big-1", 0}});
  for (const auto& snapshot : ReadAll(*store, "a-b")) {
    CHECK(snapshot.stream == "a-b");
    CHECK(snapshot.state == "a-b@" + std::to_string(snapshot.revision));
  }

  // Every stream: by name as bytes (std::string compares chars as unsigned), each newest first.
  std::vector<std::string> sorted = streams;
  sorted.push_back("big-1");
  std::sort(sorted.begin(), sorted.end());
  std::vector<Key> expected;
  for (const auto& stream : sorted) {
    const std::vector<std::uint64_t> newest_first = stream == "big-1" ? std::vector<std::uint64_t>{299, 256, 255, 1, 0}
                                                                      : std::vector<std::uint64_t>{11, 7, 4, 1, 0};
    for (std::uint64_t revision : newest_first) expected.emplace_back(stream, revision);
  }
  const auto all = ReadAll(*store);
  CHECK(Keys(all) == expected);
  for (const auto& snapshot : all) CHECK(snapshot.state.ends_with("@" + std::to_string(snapshot.revision)));
}

TEST_CASE("a snapshot visitor that returns false stops the read", "[snapshots]") {
  TestStore store;
  MakeStream(*store, "order-1", 5);
  MakeStream(*store, "order-2", 5);
  for (std::uint64_t revision = 0; revision < 5; ++revision) {
    CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", revision, "s")));
    CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-2", revision, "s")));
  }
  for (std::optional<std::string_view> stream : {std::optional<std::string_view>("order-1"),
                                                  std::optional<std::string_view>()}) {
    INFO("stream " << (stream ? std::string(*stream) : std::string("(every stream)")));
    std::vector<std::uint64_t> seen;
    auto read = store->ReadSnapshots(stream, [&](const cairn::SnapshotView& view) {
      seen.push_back(view.revision);
      return seen.size() < 2;
    });
    CAIRN_REQUIRE_OK(read);
    CHECK(*read == 2);
    CHECK(seen == std::vector<std::uint64_t>{4, 3});
  }
  // Stopping at the last one of a stream does not go on to the next stream.
  std::vector<std::string> streams_seen;
  auto read = store->ReadSnapshots(std::nullopt, [&](const cairn::SnapshotView& view) {
    streams_seen.emplace_back(view.stream);
    return streams_seen.size() < 5;
  });
  CAIRN_REQUIRE_OK(read);
  CHECK(*read == 5);
  CHECK(streams_seen == std::vector<std::string>(5, "order-1"));
}

TEST_CASE("DeleteSnapshots deletes one revision or all of a stream", "[snapshots]") {
  TestStore store;
  MakeStream(*store, "order-1", 6);
  MakeStream(*store, "order-2", 2);
  for (std::uint64_t revision : {1u, 3u, 5u}) CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", revision, "x")));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-2", 1, "y")));

  auto deleted = store->DeleteSnapshots("order-1", 3);
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 1);
  using Key = std::pair<std::string, std::uint64_t>;
  CHECK(Keys(ReadAll(*store)) == std::vector<Key>{{"order-1", 5}, {"order-1", 1}, {"order-2", 1}});

  // Absent: nothing deleted, not an error (also for a stream that does not exist).
  deleted = store->DeleteSnapshots("order-1", 3);
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 0);
  deleted = store->DeleteSnapshots("order-1", 4);
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 0);
  deleted = store->DeleteSnapshots("no-such-stream");
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 0);

  deleted = store->DeleteSnapshots("order-1");
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 2);
  CHECK(Keys(ReadAll(*store)) == std::vector<Key>{{"order-2", 1}});
  deleted = store->DeleteSnapshots("order-1");
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 0);

  // The stream itself is untouched, and can get snapshots again.
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 5, "again")));
  CHECK(ReadAll(*store, "order-1").size() == 1);
  CHECK(Head(*store) == 8);
}

TEST_CASE("PruneSnapshots keeps the newest K of each stream", "[snapshots][prune]") {
  TestStore store;
  // counts of snapshots: a-1: 5, b-1: 2, c-1: 4, d-1: 1
  const std::vector<std::pair<std::string, std::size_t>> counts = {{"c-1", 4}, {"a-1", 5}, {"d-1", 1}, {"b-1", 2}};
  for (const auto& [stream, count] : counts) {
    MakeStream(*store, stream, 10);
    // Saved oldest last, so that save order is not what decides.
    for (std::size_t i = count; i-- > 0;) {
      CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot(stream, 2 * i, stream)));
    }
  }
  auto count_of = [&](const std::string& stream) { return ReadAll(*store, stream).size(); };

  auto pruned = store->PruneSnapshots(std::nullopt, 3);  // every stream
  CAIRN_REQUIRE_OK(pruned);
  CHECK(*pruned == 2 + 0 + 1 + 0);
  using Key = std::pair<std::string, std::uint64_t>;
  CHECK(Keys(ReadAll(*store)) == std::vector<Key>{{"a-1", 8},
                                                  {"a-1", 6},
                                                  {"a-1", 4},
                                                  {"b-1", 2},
                                                  {"b-1", 0},
                                                  {"c-1", 6},
                                                  {"c-1", 4},
                                                  {"c-1", 2},
                                                  {"d-1", 0}});
  // Again: nothing more to prune.
  pruned = store->PruneSnapshots(std::nullopt, 3);
  CAIRN_REQUIRE_OK(pruned);
  CHECK(*pruned == 0);

  // One stream only.
  pruned = store->PruneSnapshots("a-1", 1);
  CAIRN_REQUIRE_OK(pruned);
  CHECK(*pruned == 2);
  CHECK(Keys(ReadAll(*store, "a-1")) == std::vector<Key>{{"a-1", 8}});
  CHECK(count_of("c-1") == 3);

  // keep 0 deletes them all.
  pruned = store->PruneSnapshots("c-1", 0);
  CAIRN_REQUIRE_OK(pruned);
  CHECK(*pruned == 3);
  CHECK(count_of("c-1") == 0);
  pruned = store->PruneSnapshots(std::nullopt, 0);
  CAIRN_REQUIRE_OK(pruned);
  CHECK(*pruned == 1 + 2 + 1);
  CHECK(ReadAll(*store).empty());
  CHECK(RequireVerifyOk(*store).events_checked == 40);
}

TEST_CASE("SaveSnapshot refuses a missing or deleted stream and a revision past the head", "[snapshots]") {
  TestStore store;
  MakeStream(*store, "order-1", 3);
  MakeStream(*store, "order-2", 2);
  CAIRN_REQUIRE_OK(store->DeleteStream("order-2", ExpectedRevision::Any()));

  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot("order-9", 0, "x")), ErrorCode::kNotFound);
  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot("order-2", 1, "x")), ErrorCode::kStreamDeleted);
  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot("order-1", 3, "x")), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot("order-1", UINT64_MAX, "x")), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot("", 0, "x")), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot("bad\nname", 0, "x")), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot(std::string(256, 'n'), 0, "x")), ErrorCode::kInvalidArgument);
  CHECK(ReadAll(*store).empty());

  // The head revision itself is fine; so is a stream name of the largest length.
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 2, "x")));
  const std::string longest(255, 'l');
  MakeStream(*store, longest, 1);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot(longest, 0, "long")));
  const auto read = ReadAll(*store, longest);
  REQUIRE(read.size() == 1);
  CHECK(read[0].stream == longest);
  CHECK(ReadAll(*store).size() == 2);

  // An empty name is a bad name, never "every stream": that is std::nullopt.
  CAIRN_CHECK_ERROR(store->ReadSnapshots("", [](const cairn::SnapshotView&) { return true; }),
                    ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->PruneSnapshots("", 0), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->DeleteSnapshots(""), ErrorCode::kInvalidArgument);
  CHECK(ReadAll(*store).size() == 2);
}

TEST_CASE("DeleteStream deletes the stream's snapshots", "[snapshots][tombstone]") {
  TestStore store;
  MakeStream(*store, "order-1", 4);
  MakeStream(*store, "order-2", 2);
  for (std::uint64_t revision = 0; revision < 4; ++revision) {
    CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", revision, "s")));
  }
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-2", 1, "kept")));

  CAIRN_REQUIRE_OK(store->DeleteStream("order-1", ExpectedRevision::Exact(3)));
  CHECK(ReadAll(*store, "order-1").empty());
  const auto rest = ReadAll(*store);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].stream == "order-2");
  CHECK(rest[0].state == "kept");
  store.Reopen();
  CHECK(ReadAll(*store) == rest);
  CHECK(RequireVerifyOk(*store).events_checked == 7);
}

TEST_CASE("snapshots survive closing and reopening the store", "[snapshots][reopen]") {
  TestStore store;
  MakeStream(*store, "order-1", 3);
  MakeStream(*store, "cust-1", 2);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 0, "zero", 1)));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 2, "two", 2)));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("cust-1", 1, "cust", 3)));
  const auto before = ReadAll(*store);
  REQUIRE(before.size() == 3);

  for (int round = 0; round < 2; ++round) {
    INFO("reopen " << round);
    store.Reopen();
    CHECK(ReadAll(*store) == before);
  }
  // Writes go on after the reopen.
  auto deleted = store->DeleteSnapshots("order-1", 0);
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 1);
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Exact(2), {Json("order.paid.v1")}));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 3, "three")));
  store.Reopen();
  using Key = std::pair<std::string, std::uint64_t>;
  CHECK(Keys(ReadAll(*store)) == std::vector<Key>{{"cust-1", 1}, {"order-1", 3}, {"order-1", 2}});
}

TEST_CASE("a read-only store reads snapshots but refuses to write them", "[snapshots][read-only]") {
  TestStore store;
  MakeStream(*store, "order-1", 3);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 1, "one")));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 2, "two")));
  const auto before = ReadAll(*store);
  store.Close();
  const auto bytes_before = ReadFileBytes(store.path());

  cairn::Options options = TestOptions();
  options.create_if_missing = false;
  options.read_only = true;
  auto opened = cairn::EventStore::Open(store.path(), options);
  CAIRN_REQUIRE_OK(opened);
  auto& read_only = **opened;
  CHECK(ReadAll(read_only) == before);
  CHECK(ReadAll(read_only, "order-1") == before);
  CAIRN_CHECK_ERROR(read_only.SaveSnapshot(Snapshot("order-1", 0, "zero")), ErrorCode::kNotSupported);
  CAIRN_CHECK_ERROR(read_only.DeleteSnapshots("order-1", 1), ErrorCode::kNotSupported);
  CAIRN_CHECK_ERROR(read_only.DeleteSnapshots("order-1"), ErrorCode::kNotSupported);
  CAIRN_CHECK_ERROR(read_only.PruneSnapshots(std::nullopt, 0), ErrorCode::kNotSupported);
  CHECK(ReadAll(read_only) == before);
  opened->reset();
  CHECK(ReadFileBytes(store.path()) == bytes_before);
}

TEST_CASE("a large snapshot state round-trips byte for byte", "[snapshots][large]") {
  TestStore store;
  MakeStream(*store, "order-1", 2);
  std::mt19937_64 rng(42);
  std::string big(1u << 20, '\0');
  for (auto& byte : big) byte = static_cast<char>(rng());
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 1, big)));
  std::string odd(3 * 4096 + 5, '\0');  // not a whole number of pages or words
  for (auto& byte : odd) byte = static_cast<char>(rng());
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 0, odd)));

  auto check = [&] {
    const auto read = ReadAll(*store, "order-1");
    REQUIRE(read.size() == 2);
    CHECK(read[0].revision == 1);
    CHECK(read[0].state.size() == big.size());
    CHECK(read[0].state == big);
    CHECK(read[1].state == odd);
  };
  check();
  store.Reopen();
  check();

  // A large state replaced by a small one, and the other way round.
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 1, "small")));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 0, big)));
  const auto read = ReadAll(*store, "order-1");
  REQUIRE(read.size() == 2);
  CHECK(read[0].state == "small");
  CHECK(read[1].state == big);

  // Over Options::max_append_bytes: refused.
  store.options().max_append_bytes = 1000;
  store.Reopen();
  CAIRN_CHECK_ERROR(store->SaveSnapshot(Snapshot("order-1", 1, std::string(1001, 'x'))),
                    ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 1, std::string(1000, 'x'))));
}

TEST_CASE("snapshots saved while appends run share the group commit", "[snapshots][concurrency]") {
  TestStore store;
  constexpr int kStreams = 4, kRounds = 40;
  for (int s = 0; s < kStreams; ++s) MakeStream(*store, "order-" + std::to_string(s), 1);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      const std::string stream = "order-" + std::to_string(s);
      for (int round = 0; round < kRounds; ++round) {
        auto appended = store->Append(stream, ExpectedRevision::Any(), {Json("order.changed.v1")});
        if (!appended) {
          ++failures;
          continue;
        }
        if (!store->SaveSnapshot(Snapshot(stream, appended->last_revision, std::to_string(round)))) ++failures;
        if (round % 10 == 9 && !store->PruneSnapshots(stream, 3)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  for (int s = 0; s < kStreams; ++s) {
    const auto read = ReadAll(*store, "order-" + std::to_string(s));
    REQUIRE(read.size() == 3);
    CHECK(read[0].revision == kRounds);
    CHECK(read[0].state == std::to_string(kRounds - 1));
  }
  RequireGapFreeLog(*store);
  RequireVerifyOk(*store);
}

// A format-1 store written before snapshots existed has no snapshots table
// (SQLite) / sub-database (LMDB). It must still open — read-only too — read
// as having no snapshots, and get the table / sub-database on its first write.
TEST_CASE("a store created before snapshots existed opens, reads none and can save one", "[snapshots][old-store]") {
  TestStore store;
  MakeStream(*store, "order-1", 3);
  MakeStream(*store, "order-2", 2);
  MakeStream(*store, "order-3", 1);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 1, "dropped with the table")));
  const auto log = ReadLogAll(*store);
  store.Close();
  DropSnapshotStorage(store.path());
  REQUIRE_FALSE(HasSnapshotStorage(store.path()));

  SECTION("read-only: no snapshots, nothing written") {
    const auto bytes_before = ReadFileBytes(store.path());
    cairn::Options options = TestOptions();
    options.create_if_missing = false;
    options.read_only = true;
    auto opened = cairn::EventStore::Open(store.path(), options);
    CAIRN_REQUIRE_OK(opened);
    CHECK(ReadAll(**opened).empty());
    CHECK(ReadAll(**opened, "order-1").empty());
    CHECK(ReadLogAll(**opened) == log);
    CAIRN_CHECK_ERROR((*opened)->SaveSnapshot(Snapshot("order-1", 0, "x")), ErrorCode::kNotSupported);
    opened->reset();
    CHECK(ReadFileBytes(store.path()) == bytes_before);
    CHECK_FALSE(HasSnapshotStorage(store.path()));
  }

  SECTION("writable: reads none, deletes and prunes nothing, then saves") {
    store.Reopen();
    CHECK(ReadAll(*store).empty());
    CHECK(ReadAll(*store, "order-1").empty());
    CHECK(ReadLogAll(*store) == log);
    auto deleted = store->DeleteSnapshots("order-1");
    CAIRN_REQUIRE_OK(deleted);
    CHECK(*deleted == 0);
    auto pruned = store->PruneSnapshots(std::nullopt, 0);
    CAIRN_REQUIRE_OK(pruned);
    CHECK(*pruned == 0);
    // A tombstone deletes the stream's snapshots: none to delete here.
    CAIRN_REQUIRE_OK(store->DeleteStream("order-3", ExpectedRevision::Any()));
    CAIRN_REQUIRE_OK(store->Append("order-2", ExpectedRevision::Exact(1), {Json("order.paid.v1")}));

    CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-2", 2, "first")));
    CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 2, "second")));
    using Key = std::pair<std::string, std::uint64_t>;
    CHECK(Keys(ReadAll(*store)) == std::vector<Key>{{"order-1", 2}, {"order-2", 2}});
    CHECK(ReadAll(*store, "order-2")[0].state == "first");
    store.Reopen();
    CHECK(Keys(ReadAll(*store)) == std::vector<Key>{{"order-1", 2}, {"order-2", 2}});
    CAIRN_REQUIRE_OK(store->DeleteStream("order-2", ExpectedRevision::Any()));
    CHECK(Keys(ReadAll(*store)) == std::vector<Key>{{"order-1", 2}});
    store.Close();
    CHECK(HasSnapshotStorage(store.path()));
    store.Reopen();
    RequireGapFreeLog(*store);
    CHECK(RequireVerifyOk(*store).events_checked == 9);
  }
}

TEST_CASE("a damaged snapshot reads as not intact, the others as intact", "[snapshots][damage]") {
  TestStore store;
  MakeStream(*store, "order-1", 3);
  MakeStream(*store, "order-2", 3);
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 1, "state of order-1 at 1: MARKER-ONE")));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 2, "state of order-1 at 2: MARKER-TWO")));
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-2", 2, "state of order-2 at 2: MARKER-THREE")));
  const std::string path = store.path();
  store.Close();
  CAIRN_REQUIRE_OK(cairn_test::TamperDamageSnapshot(path, "MARKER-TWO"));
  store.Reopen();

  const auto read = ReadAll(*store);
  REQUIRE(read.size() == 3);
  CHECK(read[0].revision == 2);
  CHECK_FALSE(read[0].intact);  // the damaged one: its state no longer matches its checksum
  CHECK(read[0].state != "state of order-1 at 2: MARKER-TWO");
  CHECK(read[1].intact);
  CHECK(read[1].state == "state of order-1 at 1: MARKER-ONE");
  CHECK(read[2].intact);
  // Damage never fails a read, and the log is untouched.
  RequireVerifyOk(*store);

  // Saving it again makes it whole.
  CAIRN_REQUIRE_OK(store->SaveSnapshot(Snapshot("order-1", 2, "state of order-1 at 2, again")));
  CHECK(ReadAll(*store, "order-1")[0].intact);
}

}  // namespace
}  // namespace cairn_test
