// What is particular to the LMDB backend: views straight into the memory map,
// a map that grows by itself, reader slots of dead processes, a full disk,
// files refused untouched, and backend detection (BackendKind::kAuto).
#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cairn/store.h"
#include "lmdb/lmdb_records.h"  // MisalignedRecordCopies: the alignment design, measured
#include "test_util.h"

namespace cairn_test {
namespace {

using cairn::BackendKind;
using cairn::ErrorCode;
using cairn::ExpectedRevision;
using std::chrono::milliseconds;

std::string HelperPath() { return CAIRN_LMDB_TEST_HELPER; }

cairn::Options LmdbOptions() {
  cairn::Options options;
  options.backend = BackendKind::kLmdb;
  options.create_if_missing = true;
  return options;
}

std::unique_ptr<cairn::EventStore> OpenStore(const std::string& path, const cairn::Options& options) {
  auto opened = cairn::EventStore::Open(path, options);
  CAIRN_REQUIRE_OK(opened);
  return std::move(*opened);
}

cairn::EventData Event(std::string type, std::size_t data_bytes, std::string metadata = "") {
  cairn::EventData event;
  event.type = std::move(type);
  event.data = "{\"pad\":\"" + std::string(data_bytes, 'p') + "\"}";
  event.metadata = std::move(metadata);
  return event;
}

cairn::StoreStats Stats(cairn::EventStore& store) {
  auto stats = store.Stats();
  CAIRN_REQUIRE_OK(stats);
  return *stats;
}

// The address ranges at which this process maps `path` (from /proc/self/maps).
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> MappingsOf(const std::string& path) {
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

bool InRanges(const std::vector<std::pair<std::uintptr_t, std::uintptr_t>>& ranges, std::string_view bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data());
  for (const auto& [low, high] : ranges) {
    if (begin >= low && begin + bytes.size() <= high) return true;
  }
  return false;
}

TEST_CASE("reads hand out views into the memory map, without copying", "[lmdb][zero-copy]") {
  TempDir dir;
  const std::string path = dir.File("store");
  auto store = OpenStore(path, LmdbOptions());
  // Small events share leaf pages; large ones (> ~2 KiB) live on overflow pages.
  for (std::size_t size : {0u, 1u, 7u, 8u, 9u, 100u, 1000u, 2100u, 5000u, 70'000u}) {
    std::vector<cairn::EventData> events;
    for (int i = 0; i < 5; ++i)
      events.push_back(Event("sized.v1", size + static_cast<std::size_t>(i), i % 2 ? R"({"m":1})" : ""));
    CAIRN_REQUIRE_OK(store->Append("order-" + std::to_string(size), ExpectedRevision::Any(), events));
  }
  CAIRN_REQUIRE_OK(store->DeleteStream("order-7", ExpectedRevision::Any()));
  const auto copies_before = cairn::detail::lmdb::MisalignedRecordCopies();
  const auto ranges = MappingsOf(path);
  REQUIRE_FALSE(ranges.empty());

  std::uint64_t checked = 0;
  auto check_view = [&](const cairn::EventView& event) {
    INFO("position " << event.position);
    CHECK(InRanges(ranges, event.stream));
    CHECK(InRanges(ranges, event.type));
    CHECK(InRanges(ranges, event.content_type));
    CHECK(InRanges(ranges, event.data));
    if (!event.metadata.empty()) CHECK(InRanges(ranges, event.metadata));
    ++checked;
    return true;
  };
  CAIRN_REQUIRE_OK(store->ReadLog({}, check_view));
  CAIRN_REQUIRE_OK(store->ReadLog({.filter = {.category = "order"}}, check_view));
  CAIRN_REQUIRE_OK(store->ReadStream("order-5000", {}, check_view));
  CAIRN_REQUIRE_OK(store->ReadStream("order-70000", {.direction = cairn::Direction::kBackward}, check_view));
  CHECK(checked == 51 + 51 + 5 + 5);
  // Every record cairn wrote was 8-byte aligned in the map: nothing was copied.
  CHECK(cairn::detail::lmdb::MisalignedRecordCopies() == copies_before);

  // A view is only good during the visit: ToOwned() keeps a copy that outlives it.
  std::vector<cairn::RecordedEvent> owned;
  CAIRN_REQUIRE_OK(store->ReadLog({}, [&](const cairn::EventView& event) {
    owned.push_back(event.ToOwned());
    CHECK_FALSE(InRanges(ranges, owned.back().data));
    return true;
  }));
  CHECK(owned.size() == 51);
}

// ReadEventRecord reads cairn's own record shape directly from the wire format
// and leaves anything else to the Cap'n Proto library: both must agree, on
// well-formed records and on damaged ones (which must never be read out of bounds).
TEST_CASE("the fast record decoder agrees with the Cap'n Proto library", "[lmdb][records]") {
  namespace records = cairn::detail::lmdb;
  std::mt19937 rng(7);
  std::uint64_t fast_failures_agreed = 0;
  for (int round = 0; round < 400; ++round) {
    const std::string stream = "s-" + std::string(rng() % 40, 'x');
    const std::string type = "t." + std::string(rng() % 30, 'y');
    const std::string data(rng() % 3 == 0 ? 0 : rng() % 3000, 'd');
    const std::string metadata = rng() % 2 ? "" : "{\"k\":\"" + std::string(rng() % 50, 'm') + "\"}";
    cairn::EventView event{.position = rng(),
                           .stream = stream,
                           .revision = rng(),
                           .id = cairn::EventId::NewV7(),
                           .type = type,
                           .recorded_at_us = static_cast<std::int64_t>(rng()),
                           .content_type = "application/json",
                           .data = data,
                           .metadata = metadata};
    event.hash[0] = static_cast<std::uint8_t>(round);
    std::vector<std::uint64_t> record(records::EventRecordSize(event) / 8);
    records::AlignedScratch scratch;
    CAIRN_REQUIRE_OK(records::WriteEventRecord(event, record.data(), scratch));
    // Round 0 mod 4: intact. Otherwise: some bytes mangled, as a damaged file would have them.
    if (round % 4 != 0) {
      auto* bytes = reinterpret_cast<unsigned char*>(record.data());
      for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
        bytes[rng() % (record.size() * 8)] ^= static_cast<unsigned char>(1u << (rng() % 8));
      }
    }
    MDB_val value{record.size() * 8, record.data()};
    cairn::EventView fast, library;
    records::AlignedScratch fast_scratch, library_scratch;
    auto by_fast = records::ReadEventRecord(value, fast_scratch, fast);
    auto by_library = records::ReadEventRecordWithLibrary(value, library_scratch, library);
    INFO("round " << round);
    REQUIRE(by_fast.has_value() == by_library.has_value());
    if (!by_fast) {
      ++fast_failures_agreed;
      continue;
    }
    CHECK(fast.ToOwned() == library.ToOwned());
    if (round % 4 == 0) CHECK(fast.ToOwned() == event.ToOwned());
  }
  CHECK(fast_failures_agreed > 0);

  // A record at a 2-byte aligned address (what LMDB guarantees) is copied into
  // aligned scratch before it is read, and reads the same.
  cairn::EventView event{.position = 9,
                         .stream = "order-1",
                         .revision = 3,
                         .id = cairn::EventId::NewV7(),
                         .type = "a.v1",
                         .recorded_at_us = 1,
                         .content_type = "application/json",
                         .data = "{}"};
  std::vector<std::uint64_t> aligned(records::EventRecordSize(event) / 8);
  records::AlignedScratch scratch;
  CAIRN_REQUIRE_OK(records::WriteEventRecord(event, aligned.data(), scratch));
  std::vector<std::uint64_t> shifted(aligned.size() + 1);
  auto* odd = reinterpret_cast<unsigned char*>(shifted.data()) + 2;
  std::memcpy(odd, aligned.data(), aligned.size() * 8);
  const auto copies = records::MisalignedRecordCopies();
  cairn::EventView read;
  CAIRN_REQUIRE_OK(records::ReadEventRecord(MDB_val{aligned.size() * 8, odd}, scratch, read));
  CHECK(records::MisalignedRecordCopies() == copies + 1);
  CHECK(read.ToOwned() == event.ToOwned());
  // Writing at an odd address builds in scratch and copies: the same bytes.
  std::vector<std::uint64_t> target(aligned.size() + 1);
  auto* odd_target = reinterpret_cast<unsigned char*>(target.data()) + 2;
  CAIRN_REQUIRE_OK(records::WriteEventRecord(event, odd_target, scratch));
  CHECK(std::memcmp(odd_target, aligned.data(), aligned.size() * 8) == 0);
}

TEST_CASE("the map grows on demand from a tiny initial size", "[lmdb][map]") {
  TempDir dir;
  const std::string path = dir.File("store");
  cairn::Options options = LmdbOptions();
  options.lmdb_initial_map_bytes = 64 * 1024;  // 16 pages
  auto store = OpenStore(path, options);
  const auto initial = Stats(*store);
  CHECK(initial.backend == "lmdb");
  CHECK(initial.map_bytes == 64 * 1024);

  SECTION("one append far larger than the whole map (MDB_MAP_FULL, grow, retry)") {
    cairn::EventData blob;
    blob.type = "blob.v1";
    blob.content_type = std::string(cairn::kContentTypeOctets);
    blob.data.assign(6u << 20, 'x');
    auto appended = store->Append("blob-1", ExpectedRevision::NoStream(), {blob});
    CAIRN_REQUIRE_OK(appended);
    CHECK(appended->first_position == 1);
    CHECK(Stats(*store).map_bytes >= (6u << 20));
  }
  SECTION("many appends from several threads while another thread reads") {
    constexpr int kThreads = 4, kAppends = 300;
    std::atomic<bool> writing{true};
    std::atomic<int> failures{0};
    std::atomic<std::uint64_t> reads{0};
    std::thread reader([&] {
      while (writing) {
        auto read = store->ReadLog({}, [&](const cairn::EventView& event) { return !event.data.empty(); });
        if (!read) ++failures;
        ++reads;
      }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < kAppends; ++i) {
          std::vector<cairn::EventData> events(1 + i % 4, Event("grow.v1", 200 + (i * 37) % 900));
          if (!store->Append("grow-" + std::to_string(t), ExpectedRevision::Any(), events)) ++failures;
        }
      });
    }
    for (auto& writer : writers) writer.join();
    writing = false;
    reader.join();
    CHECK(failures == 0);
    CHECK(reads > 0);
    CHECK(Stats(*store).head_position == kThreads * (kAppends / 4) * (1 + 2 + 3 + 4));
  }
  const auto grown = Stats(*store);
  INFO("map " << grown.map_bytes << " used " << grown.map_used_bytes << " file " << grown.file_bytes);
  CHECK(grown.map_bytes > initial.map_bytes);
  CHECK(grown.map_used_bytes <= grown.map_bytes);
  CHECK(grown.file_bytes >= grown.map_used_bytes);
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);

  // Reopened, it maps at the grown size recorded in the file, not the initial one.
  store.reset();
  store = OpenStore(path, options);
  CHECK(Stats(*store).map_bytes >= grown.map_bytes);
  CAIRN_REQUIRE_OK(store->Append("after-1", ExpectedRevision::NoStream(), {Event("after.v1", 10)}));
}

TEST_CASE("a map grown by another process is adopted (MDB_MAP_RESIZED)", "[lmdb][map][multiprocess]") {
  TempDir dir;
  const std::string path = dir.File("store");
  cairn::Options options = LmdbOptions();
  options.lmdb_initial_map_bytes = 256 * 1024;
  auto store = OpenStore(path, options);
  CAIRN_REQUIRE_OK(store->Append("mine-1", ExpectedRevision::NoStream(), {Event("mine.v1", 10)}));
  const auto before = Stats(*store).map_bytes;

  ChildProcess child({HelperPath(), "grow", path, "400", "20000"});  // ~8 MB: far past our map
  auto done = child.ReadLine(milliseconds(60'000));
  REQUIRE(done.has_value());
  REQUIRE(done->starts_with("done "));
  REQUIRE(child.WaitSucceeded());
  CHECK(std::stoull(done->substr(5)) > before);

  // Our map is now smaller than the data: reads and writes adopt the new size.
  CHECK(Stats(*store).head_position == 401);
  std::uint64_t seen = 0;
  CAIRN_REQUIRE_OK(store->ReadLog({}, [&](const cairn::EventView&) { return ++seen, true; }));
  CHECK(seen == 401);
  auto appended = store->Append("mine-1", ExpectedRevision::Exact(0), {Event("mine.v1", 10)});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_position == 402);
  CHECK(Stats(*store).map_bytes >= std::stoull(done->substr(5)));
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);
}

TEST_CASE("the reader slot of a process killed mid-read is cleared", "[lmdb][readers][multiprocess]") {
  TempDir dir;
  const std::string path = dir.File("store");
  auto store = OpenStore(path, LmdbOptions());
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), {Event("a.v1", 10), Event("b.v1", 10)}));
  const auto slots_before = Stats(*store).reader_slots_used;

  ChildProcess child({HelperPath(), "hold-read", path});
  REQUIRE(child.ReadLine(milliseconds(20'000)) == std::optional<std::string>("reading"));
  CHECK(Stats(*store).reader_slots_used == slots_before + 1);
  child.Kill(SIGKILL);
  const int status = child.Wait();
  REQUIRE(WIFSIGNALED(status));
  // The dead process's slot still pins its snapshot…
  CHECK(Stats(*store).reader_slots_used == slots_before + 1);
  // …until the next write transaction checks the reader table.
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Exact(1), {Event("c.v1", 10)}));
  CHECK(Stats(*store).reader_slots_used == slots_before);
  // Writes go on, and pages freed since can be reused: churn does not grow the file.
  for (int i = 0; i < 200; ++i) {
    CAIRN_REQUIRE_OK(store->Append("order-2", ExpectedRevision::Any(), {Event("d.v1", 50)}));
  }
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);
  CHECK(report->head_position == 203);
}

TEST_CASE("a full disk fails the append with kIOError and loses nothing committed", "[lmdb][disk-full]") {
  TempDir dir;
  const std::string path = dir.File("store");
  {
    auto store = OpenStore(path, LmdbOptions());
    for (int i = 0; i < 20; ++i) {
      CAIRN_REQUIRE_OK(store->Append("order-" + std::to_string(i % 3), ExpectedRevision::Any(), {Event("a.v1", 300)}));
    }
  }
  const auto size = std::filesystem::file_size(path);
  {
    // The file may not grow by more than a page: a 1 MB event cannot be written.
    ChildProcess child({HelperPath(), "append-limited", path, std::to_string(size + 4096), "1000000"});
    auto line = child.ReadLine(milliseconds(20'000));
    REQUIRE(line.has_value());
    INFO(*line);
    CHECK(line->starts_with("error " + std::string(cairn::ErrorCodeName(ErrorCode::kIOError))));
    REQUIRE(child.WaitSucceeded());
  }
  auto store = OpenStore(path, LmdbOptions());
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);
  CHECK(report->head_position == 20);
  auto info = store->GetStreamInfo("limited-1");
  CAIRN_REQUIRE_OK(info);
  CHECK_FALSE(info->exists);
  // With room again, the same append succeeds.
  cairn::EventData blob;
  blob.type = "blob.v1";
  blob.content_type = std::string(cairn::kContentTypeOctets);
  blob.data.assign(1000000, 'b');
  auto appended = store->Append("limited-1", ExpectedRevision::NoStream(), {blob});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_position == 21);
}

// Makes an LMDB environment at `path` (MDB_NOSUBDIR) that is not a cairn store,
// and removes its lock file unless `keep_lock_file`.
void MakeForeignLmdb(const std::string& path, bool keep_lock_file) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 4);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "customers", MDB_CREATE, &dbi) == MDB_SUCCESS);
  MDB_val key{5, const_cast<char*>("alice")}, value{2, const_cast<char*>("42")};
  REQUIRE(mdb_put(txn, dbi, &key, &value, 0) == MDB_SUCCESS);
  REQUIRE(mdb_txn_commit(txn) == MDB_SUCCESS);
  mdb_env_close(env);
  if (!keep_lock_file) std::filesystem::remove(path + "-lock");
}

// Changes cairn_meta's format_version of the cairn LMDB store at `path`.
void SetFormatVersion(const std::string& path, const std::string& version) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 8);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "cairn_meta", 0, &dbi) == MDB_SUCCESS);
  MDB_val key{14, const_cast<char*>("format_version")}, value{version.size(), const_cast<char*>(version.data())};
  REQUIRE(mdb_put(txn, dbi, &key, &value, 0) == MDB_SUCCESS);
  REQUIRE(mdb_txn_commit(txn) == MDB_SUCCESS);
  mdb_env_close(env);
}

TEST_CASE("a foreign, damaged or newer LMDB file is refused untouched", "[lmdb][foreign]") {
  TempDir dir;
  const std::string path = dir.File("store");
  const std::string kind = GENERATE(as<std::string>{}, "foreign-lmdb", "foreign-lmdb-with-lock", "truncated",
                                    "bad-meta", "newer-format", "newer-format-with-lock");
  const bool read_only = GENERATE(false, true);
  INFO(kind << ", read_only " << read_only);
  ErrorCode expected = ErrorCode::kCorruption;
  if (kind.starts_with("foreign-lmdb")) {
    MakeForeignLmdb(path, kind.ends_with("with-lock"));
  } else {
    {
      auto store = OpenStore(path, LmdbOptions());
      for (int i = 0; i < 50; ++i)
        CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), {Event("a.v1", 500)}));
    }
    if (kind == "truncated") {
      std::filesystem::resize_file(path, 3 * 4096);
    } else if (kind == "bad-meta") {
      std::string bytes = ReadFileBytes(path);
      bytes[16] ^= 0x5A;  // both meta pages' magic
      bytes[4096 + 16] ^= 0x5A;
      WriteFileBytes(path, bytes);
    } else {
      SetFormatVersion(path, "2");
      expected = ErrorCode::kNotSupported;
    }
    if (!kind.ends_with("with-lock")) std::filesystem::remove(path + "-lock");
  }
  const auto old_time = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  std::filesystem::last_write_time(path, old_time);
  const auto bytes = ReadFileBytes(path);
  const auto mtime = std::filesystem::last_write_time(path);
  const auto entries = ListDir(dir.path());

  for (BackendKind backend : {BackendKind::kLmdb, BackendKind::kAuto}) {
    cairn::Options options = LmdbOptions();
    options.backend = backend;
    options.read_only = read_only;
    auto opened = cairn::EventStore::Open(path, options);
    INFO("backend " << static_cast<int>(backend) << ": " << Describe(opened));
    REQUIRE_FALSE(opened.has_value());
    CHECK(opened.error().code() == expected);
    CHECK(opened.error().ToString().find(path) != std::string::npos);
  }
  CHECK(ReadFileBytes(path) == bytes);
  CHECK(std::filesystem::last_write_time(path) == mtime);
  CHECK(ListDir(dir.path()) == entries);  // no lock file where there was none
}

TEST_CASE("kAuto opens a store with the backend its file names", "[lmdb][auto]") {
  TempDir dir;
  cairn::Options options;
  options.create_if_missing = true;
  CHECK(options.backend == BackendKind::kAuto);  // the default

  // A new store with kAuto is SQLite.
  const std::string sqlite_path = dir.File("new.db");
  CHECK(Stats(*OpenStore(sqlite_path, options)).backend == "sqlite");
  // An LMDB store is opened as LMDB.
  const std::string lmdb_path = dir.File("lmdb.store");
  {
    auto store = OpenStore(lmdb_path, LmdbOptions());
    CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), {Event("a.v1", 5)}));
  }
  {
    auto store = OpenStore(lmdb_path, options);
    CHECK(Stats(*store).backend == "lmdb");
    CHECK(Stats(*store).head_position == 1);
  }
  // An explicit kind that does not match the file is refused, untouched.
  for (const auto& [path, wrong] :
       {std::pair{lmdb_path, BackendKind::kSqlite}, std::pair{sqlite_path, BackendKind::kLmdb}}) {
    const auto bytes = ReadFileBytes(path);
    const auto entries = ListDir(dir.path());
    cairn::Options mismatched = options;
    mismatched.backend = wrong;
    auto opened = cairn::EventStore::Open(path, mismatched);
    INFO(Describe(opened));
    CAIRN_CHECK_ERROR(opened, ErrorCode::kInvalidArgument);
    CHECK(ReadFileBytes(path) == bytes);
    CHECK(ListDir(dir.path()) == entries);
  }
  // A file that is neither is no store at all.
  const std::string text = dir.File("notes.txt");
  WriteFileBytes(text, "hello\n");
  CAIRN_CHECK_ERROR(cairn::EventStore::Open(text, options), ErrorCode::kCorruption);
}

TEST_CASE("one store opened twice in a process shares one environment", "[lmdb][registry]") {
  TempDir dir;
  const std::string path = dir.File("store");
  auto first = OpenStore(path, LmdbOptions());
  auto second = OpenStore(path, LmdbOptions());
  cairn::Options read_only = LmdbOptions();
  read_only.read_only = true;
  auto third = OpenStore(path, read_only);
  CAIRN_REQUIRE_OK(first->Append("order-1", ExpectedRevision::NoStream(), {Event("a.v1", 5)}));
  CAIRN_REQUIRE_OK(second->Append("order-1", ExpectedRevision::Exact(0), {Event("b.v1", 5)}));
  CAIRN_CHECK_ERROR(second->Append("order-1", ExpectedRevision::Exact(0), {Event("c.v1", 5)}), ErrorCode::kConflict);
  CHECK(Stats(*third).head_position == 2);
  CAIRN_CHECK_ERROR(third->Append("order-1", ExpectedRevision::Any(), {Event("d.v1", 5)}), ErrorCode::kNotSupported);
  first.reset();
  CAIRN_REQUIRE_OK(second->Append("order-1", ExpectedRevision::Exact(1), {Event("e.v1", 5)}));
  second.reset();
  CHECK(Stats(*third).head_position == 3);
  third.reset();
  // Read-only first, then a writer in the same process: refused with a clear message.
  auto reader = OpenStore(path, read_only);
  auto writer = cairn::EventStore::Open(path, LmdbOptions());
  CAIRN_CHECK_ERROR(writer, ErrorCode::kInvalidArgument);
}

TEST_CASE("relaxed durability commits and reopens", "[lmdb][durability]") {
  TempDir dir;
  const std::string path = dir.File("store");
  cairn::Options options = LmdbOptions();
  options.durability = cairn::Durability::kRelaxed;
  {
    auto store = OpenStore(path, options);
    for (int i = 0; i < 100; ++i)
      CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), {Event("a.v1", 20)}));
  }
  auto store = OpenStore(path, LmdbOptions());
  CHECK(Stats(*store).head_position == 100);
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);
}

}  // namespace
}  // namespace cairn_test
