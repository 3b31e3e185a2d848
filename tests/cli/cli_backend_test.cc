// --backend auto|sqlite|lmdb (and $CAIRN_BACKEND): which backend a command creates or opens.
#include <string>
#include <vector>

#include "cli_runner.h"

namespace cairn_test {
namespace {

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// The first bytes of an LMDB data file: a page header, then the meta magic 0xBEEFC0DE (little-endian here).
bool LooksLikeLmdb(const std::string& path) {
  const std::string bytes = ReadFileBytes(path);
  return bytes.size() > 20 && bytes.compare(16, 4, "\xde\xc0\xef\xbe") == 0;
}

TEST_CASE("init --backend lmdb creates an LMDB store that every command then opens by itself", "[cli][backend]") {
  TempDir dir;
  const std::string path = dir.File("events.mdb");
  CliRun init = RunCairn(dir, {"--store", path, "init", "--backend", "lmdb"});
  REQUIRE_EXIT(init, 0);
  CHECK(Str(ParseJsonLine(init.out), "backend") == "lmdb");
  CHECK(LooksLikeLmdb(path));

  // No --backend from here on: auto detects the store's own.
  auto run = [&](std::vector<std::string> args, const RunOptions& options = {}) {
    args.insert(args.begin(), {"--store", path});
    CliRun result = RunCairn(dir, args, options);
    REQUIRE_EXIT(result, 0);
    return result;
  };
  run({"append", "order-1", "--type", "order.placed.v1", "--data", R"({"total":1})"});
  run({"append", "--batch"}, WithStdin(R"({"stream":"order-2","type":"order.placed.v1"})" "\n"));
  run({"delete", "order-2"});
  CHECK(run({"read", "order-1"}).Lines().size() == 1);
  CHECK(Positions(run({"replay"})) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(Bool(ParseJsonLine(run({"verify"}).out), "ok"));
  CHECK(run({"--backend", "lmdb", "verify"}).exit_code == 0);  // explicit and matching

  // stats shows the backend, and for LMDB its memory map.
  auto stats = ParseJsonLine(run({"stats"}).out);
  CHECK(KeysOf(stats) == std::vector<std::string>{"backend", "path", "format_version", "head_position",
                                                  "stream_count", "deleted_stream_count", "file_bytes",
                                                  "first_recorded_at", "last_recorded_at", "map_bytes",
                                                  "map_used_bytes", "reader_slots_used"});
  CHECK(Str(stats, "backend") == "lmdb");
  CHECK(U64(stats, "head_position") == 3);
  CHECK(U64(stats, "deleted_stream_count") == 1);
  CHECK(U64(stats, "map_bytes") >= U64(stats, "map_used_bytes"));
  CHECK(U64(stats, "map_used_bytes") > 0);
  CHECK(Contains(run({"stats", "--format", "table"}).out, "\nmap_bytes "));

  // init again leaves it alone, whatever --backend auto would create.
  CliRun again = RunCairn(dir, {"--store", path, "init"});
  REQUIRE_EXIT(again, 0);
  CHECK(Str(ParseJsonLine(again.out), "backend") == "lmdb");
  CHECK_FALSE(Bool(ParseJsonLine(again.out), "created"));
}

TEST_CASE("$CAIRN_BACKEND is the default for --backend", "[cli][backend]") {
  TempDir dir;
  const std::string path = dir.File("env.mdb");
  CliRun init = RunCairn(dir, {"--store", path, "init"}, WithEnv({"CAIRN_BACKEND=lmdb"}));
  REQUIRE_EXIT(init, 0);
  CHECK(Str(ParseJsonLine(init.out), "backend") == "lmdb");
  // The flag wins over the environment.
  const std::string other = dir.File("flag.db");
  CliRun flag = RunCairn(dir, {"--store", other, "--backend", "sqlite", "init"}, WithEnv({"CAIRN_BACKEND=lmdb"}));
  REQUIRE_EXIT(flag, 0);
  CHECK(Str(ParseJsonLine(flag.out), "backend") == "sqlite");
  CliRun bad_env = RunCairn(dir, {"--store", path, "stats"}, WithEnv({"CAIRN_BACKEND=rocksdb"}));
  REQUIRE_EXIT(bad_env, 2);
}

TEST_CASE("an explicit --backend that does not match the store is an error naming the store's", "[cli][backend]") {
  TempDir dir;
  CliStore sqlite(dir, "events.db");
  sqlite.Append("order-1", "order.placed.v1");
  const std::string lmdb = dir.File("events.mdb");
  REQUIRE_EXIT(RunCairn(dir, {"--store", lmdb, "--backend", "lmdb", "init"}), 0);

  struct Case {
    std::string path;
    std::string backend;
    std::string says;
  };
  for (const Case& c : {Case{sqlite.path(), "lmdb", "it is a SQLite store, not LMDB (use --backend sqlite"},
                        Case{lmdb, "sqlite", "it is an LMDB store, not SQLite (use --backend lmdb"}}) {
    const std::string before = ReadFileBytes(c.path);
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"stats"}, {"read", "order-1"}, {"export"}, {"verify"},
          {"append", "order-1", "--type", "t.v1"}, {"init"}}) {
      std::vector<std::string> args{"--store", c.path, "--backend", c.backend};
      args.insert(args.end(), command.begin(), command.end());
      CliRun run = RunCairn(dir, args);
      INFO("cairn " << command[0] << " --backend " << c.backend << " on " << c.path);
      REQUIRE_EXIT(run, 1);
      CHECK(Contains(run.err, c.says));
      CHECK(run.out.empty());
    }
    CHECK(ReadFileBytes(c.path) == before);
  }

  CliRun unknown = RunCairn(dir, {"--store", sqlite.path(), "--backend", "rocksdb", "stats"});
  REQUIRE_EXIT(unknown, 2);
  CHECK(Contains(unknown.err, "--backend"));
}

}  // namespace
}  // namespace cairn_test
