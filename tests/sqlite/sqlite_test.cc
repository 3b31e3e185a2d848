// What is particular to the SQLite backend: transactions larger than SQLite's
// page cache and single writes, durability switched between opens, readers in
// other connections during commits, the WAL kept bounded by checkpoints while
// appends keep coming, and a full disk failing an append cleanly.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cairn/store.h"
#include "test_util.h"

namespace cairn_test {
namespace {

using cairn::BackendKind;
using cairn::Durability;
using cairn::ErrorCode;
using cairn::ExpectedRevision;

cairn::Options SqliteOptions(Durability durability = Durability::kFull) {
  cairn::Options options;
  options.backend = BackendKind::kSqlite;
  options.create_if_missing = true;
  options.durability = durability;
  return options;
}

std::unique_ptr<cairn::EventStore> OpenStore(const std::string& path, const cairn::Options& options = SqliteOptions()) {
  auto opened = cairn::EventStore::Open(path, options);
  CAIRN_REQUIRE_OK(opened);
  return std::move(*opened);
}

// Opaque bytes, so that big events cost no JSON checks; `seed` makes each one differ.
cairn::EventData Blob(std::size_t bytes, std::uint32_t seed) {
  cairn::EventData event;
  event.type = "blob.v1";
  event.content_type = std::string(cairn::kContentTypeOctets);
  event.data.resize(bytes);
  std::uint32_t x = seed * 2654435761u + 1;
  for (char& c : event.data) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return event;
}

void RequireVerified(cairn::EventStore& store, std::uint64_t head) {
  auto report = store.Verify();
  CAIRN_REQUIRE_OK(report);
  INFO(report->problem);
  CHECK(report->ok);
  CHECK(report->head_position == head);
}

TEST_CASE("appends of many megabytes commit whole and read back byte-exact", "[sqlite][wal]") {
  TempDir dir;
  const std::string path = dir.File("store.db");
  std::vector<cairn::EventData> big;  // 6 MB in one transaction
  for (std::uint32_t i = 0; i < 300; ++i) big.push_back(Blob(20'000, i));
  std::vector<cairn::EventData> huge{Blob(3'000'000, 1000)};  // one event spanning ~730 overflow pages
  {
    auto store = OpenStore(path);
    CAIRN_REQUIRE_OK(store->Append("big-1", ExpectedRevision::NoStream(), big));
    for (int i = 0; i < 50; ++i) {
      CAIRN_REQUIRE_OK(store->Append("small-" + std::to_string(i % 7), ExpectedRevision::Any(), {Blob(100, 2000 + i)}));
    }
    CAIRN_REQUIRE_OK(store->Append("huge-1", ExpectedRevision::NoStream(), huge));
  }
  auto store = OpenStore(path);
  RequireVerified(*store, 351);
  std::size_t seen = 0;
  auto read = store->ReadStream("big-1", {}, [&](const cairn::EventView& event) {
    REQUIRE(seen < big.size());
    CHECK(event.data == big[seen].data);
    ++seen;
    return true;
  });
  CAIRN_REQUIRE_OK(read);
  CHECK(seen == big.size());
  bool huge_matches = false;
  CAIRN_REQUIRE_OK(store->ReadStream("huge-1", {}, [&](const cairn::EventView& event) {
    huge_matches = event.data == huge[0].data;
    return true;
  }));
  CHECK(huge_matches);
}

TEST_CASE("one store opened with full, relaxed, then full durability keeps every append", "[sqlite][wal]") {
  TempDir dir;
  const std::string path = dir.File("store.db");
  std::uint64_t head = 0;
  for (Durability durability : {Durability::kFull, Durability::kRelaxed, Durability::kFull}) {
    auto store = OpenStore(path, SqliteOptions(durability));
    for (int i = 0; i < 40; ++i) {
      auto appended = store->Append("order-" + std::to_string(i % 5), ExpectedRevision::Any(), {Blob(5'000, i)});
      CAIRN_REQUIRE_OK(appended);
      head = appended->last_position;
    }
    RequireVerified(*store, head);
  }
  CHECK(head == 120);
}

TEST_CASE("a reader in another connection sees each commit whole while the writer commits", "[sqlite][wal]") {
  TempDir dir;
  const std::string path = dir.File("store.db");
  auto writer = OpenStore(path);
  auto reader = OpenStore(path, [] {
    cairn::Options options = SqliteOptions();
    options.read_only = true;
    return options;
  }());
  std::atomic<bool> done{false};
  std::thread appender([&] {
    for (std::uint32_t i = 0; i < 200; ++i) {
      std::vector<cairn::EventData> batch;
      for (std::uint32_t j = 0; j < 10; ++j) batch.push_back(Blob(3'000, i * 10 + j));
      auto appended = writer->Append("batch-" + std::to_string(i), ExpectedRevision::NoStream(), batch);
      if (!appended) break;
    }
    done = true;
  });
  // Every read sees whole appends (a multiple of 10 events) whose bytes are the ones written.
  int reads = 0;
  while (!done || reads == 0) {
    std::uint64_t events = 0;
    bool intact = true;
    auto scanned = reader->ReadLog({}, [&](const cairn::EventView& event) {
      ++events;
      const auto batch = (event.position - 1) / 10;
      intact = intact && event.data == Blob(3'000, static_cast<std::uint32_t>(batch * 10 + event.revision)).data;
      return intact;
    });
    CAIRN_REQUIRE_OK(scanned);
    REQUIRE(intact);
    REQUIRE(events % 10 == 0);
    ++reads;
  }
  appender.join();
  RequireVerified(*reader, 2000);
}

TEST_CASE("the WAL stops growing while appends keep coming", "[sqlite][checkpoint]") {
  TempDir dir;
  const std::string path = dir.File("store.db");
  auto store = OpenStore(path);
  // 80 MB of events: without checkpoints that start the WAL over, the WAL would
  // hold all of it.
  for (std::uint32_t i = 0; i < 80; ++i) {
    CAIRN_REQUIRE_OK(store->Append("blob-" + std::to_string(i), ExpectedRevision::NoStream(), {Blob(1'000'000, i)}));
  }
  const auto wal_bytes = std::filesystem::file_size(path + "-wal");
  INFO("WAL file: " << wal_bytes << " bytes");
  CHECK(wal_bytes < 60'000'000);
  RequireVerified(*store, 80);
}

// In a child process (a new process: the file-size limit is per process), with
// the file-size limit at `limit` bytes as if the disk were full, appends `event`
// to `stream` and exits with 0 when it succeeded, 10 + the ErrorCode when it failed.
int AppendWithFileSizeLimit(const std::string& path, std::uintmax_t limit, const std::string& stream,
                            const cairn::EventData& event) {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG, like ENOSPC
    rlimit limit_rlimit{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
    if (::setrlimit(RLIMIT_FSIZE, &limit_rlimit) != 0) ::_exit(2);
    auto store = cairn::EventStore::Open(path, SqliteOptions());
    if (!store) ::_exit(3);
    auto appended = (*store)->Append(stream, ExpectedRevision::NoStream(), {event});
    ::_exit(appended ? 0 : 10 + static_cast<int>(appended.error().code()));
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

TEST_CASE("a full disk fails the append with kIOError and loses nothing committed", "[sqlite][disk-full]") {
  TempDir dir;
  const std::string path = dir.File("store.db");
  {
    auto store = OpenStore(path);
    for (std::uint32_t i = 0; i < 20; ++i) {
      CAIRN_REQUIRE_OK(store->Append("order-" + std::to_string(i % 3), ExpectedRevision::Any(), {Blob(300, i)}));
    }
  }
  // Closed: the WAL is checkpointed and removed. The database may not grow by
  // more than 64 KiB, and a new WAL not beyond that size either: 2 MB cannot be written.
  const auto limit = std::filesystem::file_size(path) + 65'536;
  const cairn::EventData blob = Blob(2'000'000, 99);
  const int exit_code = AppendWithFileSizeLimit(path, limit, "limited-1", blob);
  CHECK(exit_code == 10 + static_cast<int>(ErrorCode::kIOError));

  auto store = OpenStore(path);
  RequireVerified(*store, 20);
  auto info = store->GetStreamInfo("limited-1");
  CAIRN_REQUIRE_OK(info);
  CHECK_FALSE(info->exists);
  // With room again, the same append succeeds.
  auto appended = store->Append("limited-1", ExpectedRevision::NoStream(), {blob});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_position == 21);
  RequireVerified(*store, 21);
}

}  // namespace
}  // namespace cairn_test
