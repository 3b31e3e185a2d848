// A file that is not a cairn store is refused and left exactly as it was.
#include <sqlite3.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;

// Creates a plain SQLite database (rollback journal, not WAL) with `sql`.
void MakeSqliteDatabase(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  const int opened = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> owned(db, sqlite3_close_v2);
  REQUIRE(opened == SQLITE_OK);
  char* error = nullptr;
  const int executed = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  INFO((error != nullptr ? error : ""));
  sqlite3_free(error);
  REQUIRE(executed == SQLITE_OK);
}

std::string RandomBytes(std::size_t size) {
  std::mt19937 rng(42);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(rng() & 0xFF);
  return bytes;
}

TEST_CASE("a foreign file is refused untouched", "[foreign]") {
  TempDir dir;
  const std::string path = dir.File("not-a-store");
  const std::string kind = GENERATE(as<std::string>{}, "text", "empty", "random", "sqlite", "sqlite-lookalike");
  const bool create_if_missing = GENERATE(false, true);
  const bool read_only = GENERATE(false, true);
  INFO(kind << ", create_if_missing " << create_if_missing << ", read_only " << read_only);

  if (kind == "text") {
    WriteFileBytes(path, "order-42,placed,42.00\norder-43,placed,17.50\n");
  } else if (kind == "empty") {
    WriteFileBytes(path, "");
  } else if (kind == "random") {
    WriteFileBytes(path, RandomBytes(16384));
  } else if (kind == "sqlite") {
    MakeSqliteDatabase(path, "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
                             "INSERT INTO customers(name) VALUES ('alice'), ('bob');");
  } else {
    // Tables with cairn's names, but not a cairn store.
    MakeSqliteDatabase(path, "CREATE TABLE events(position INTEGER PRIMARY KEY, stream TEXT, data TEXT);"
                             "CREATE TABLE streams(stream TEXT PRIMARY KEY);"
                             "INSERT INTO events(stream, data) VALUES ('order-1', '{}');");
  }
  // Make the mtime distinguishable from "now" should the store touch the file.
  const auto old_time = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  std::filesystem::last_write_time(path, old_time);
  const auto bytes = ReadFileBytes(path);
  const auto mtime = std::filesystem::last_write_time(path);
  const auto entries = ListDir(dir.path());

  cairn::Options options = TestOptions();
  options.create_if_missing = create_if_missing;
  options.read_only = read_only;
  auto opened = cairn::EventStore::Open(path, options);
  INFO("open: " << Describe(opened));
  REQUIRE_FALSE(opened.has_value());
  CHECK((opened.error().code() == ErrorCode::kCorruption || opened.error().code() == ErrorCode::kNotSupported));
  CHECK(opened.error().ToString().find(path) != std::string::npos);

  CHECK(ReadFileBytes(path) == bytes);
  CHECK(std::filesystem::last_write_time(path) == mtime);
  CHECK(ListDir(dir.path()) == entries);  // no -wal, -shm, -journal or lock file left behind
}

}  // namespace
}  // namespace cairn_test
