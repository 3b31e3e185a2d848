// `cairn replay` (filters, --follow) and `cairn verify` (ok, and after tampering).
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace cairn_test {
namespace {

using namespace std::chrono_literals;

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// Five events across two categories:
//   1 order-1 order.placed.v1   2 user-1 user.created.v1   3 order-2 order.placed.v1
//   4 order-1 order.paid.v1     5 user-1 user.renamed.v1
void AppendFiveEvents(const CliStore& store) {
  store.Append("order-1", "order.placed.v1");
  store.Append("user-1", "user.created.v1");
  store.Append("order-2", "order.placed.v1");
  store.Append("order-1", "order.paid.v1");
  store.Append("user-1", "user.renamed.v1");
}

std::vector<std::uint64_t> Replay(const CliStore& store, std::vector<std::string> args) {
  args.insert(args.begin(), "replay");
  CliRun run = store.Run(args);
  REQUIRE_EXIT(run, 0);
  return Positions(run);
}

using P = std::vector<std::uint64_t>;

TEST_CASE("replay walks the global log with filters", "[cli][replay]") {
  TempDir dir;
  CliStore store(dir);
  CHECK(Replay(store, {}).empty());
  AppendFiveEvents(store);

  CHECK(Replay(store, {}) == P{1, 2, 3, 4, 5});
  CHECK(Replay(store, {"--category", "order"}) == P{1, 3, 4});
  CHECK(Replay(store, {"--category", "user"}) == P{2, 5});
  CHECK(Replay(store, {"--category", "invoice"}).empty());
  CHECK(Replay(store, {"--type", "order.placed.v1"}) == P{1, 3});
  CHECK(Replay(store, {"--type", "order.paid.v1", "--type", "user.created.v1"}) == P{2, 4});
  CHECK(Replay(store, {"--from", "2", "--to", "4"}) == P{2, 3, 4});
  CHECK(Replay(store, {"--from", "4"}) == P{4, 5});
  CHECK(Replay(store, {"--to", "1"}) == P{1});
  CHECK(Replay(store, {"--from", "9"}).empty());
  CHECK(Replay(store, {"--stream", "order-1"}) == P{1, 4});
  CHECK(Replay(store, {"--stream", "order-1", "--from", "2"}) == P{4});
  CHECK(Replay(store, {"--category", "order", "--type", "order.placed.v1", "--from", "2"}) == P{3});
  CHECK(Replay(store, {"--stream", "order-404"}).empty());

  CliRun table = store.Run({"replay", "--category", "user", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  auto rows = table.Lines();
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].starts_with("position"));
  CHECK(Contains(rows[2], "user.renamed.v1"));

  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"replay", "--stream", "order-1", "--category", "order"},
        {"replay", "--from", "3", "--to", "2"}, {"replay", "--from", "-1"}, {"replay", "--to", "abc"}}) {
    CliRun run = store.Run(bad);
    REQUIRE_EXIT(run, 2);
    CHECK(run.err.starts_with("cairn: error: "));
  }
}

TEST_CASE("replay --follow streams new commits until SIGINT or SIGTERM", "[cli][replay][follow]") {
  TempDir dir;
  CliStore store(dir);
  std::vector<std::uint64_t> order_positions{U64(store.Append("order-1", "order.placed.v1"), "last_position")};

  for (int signal_number : {SIGINT, SIGTERM}) {
    INFO("signal " << signal_number);
    ChildProcess follower({kCairn, "--store", store.path(), "replay", "--follow", "--category", "order"});
    // First what is already committed...
    for (std::uint64_t expected : order_positions) {
      auto caught_up = follower.ReadLine(10s);
      REQUIRE(caught_up.has_value());
      CHECK(U64(ParseJsonLine(*caught_up), "position") == expected);
    }

    // ...then commits by another process as they happen; other categories are filtered out.
    store.Append("user-1", "user.created.v1");
    auto appended = store.Append("order-1", "order.paid.v1");
    order_positions.push_back(U64(appended, "last_position"));
    auto live = follower.ReadLine(10s);
    REQUIRE(live.has_value());
    auto event = ParseJsonLine(*live);
    CHECK(U64(event, "position") == order_positions.back());
    CHECK(Str(event, "type") == "order.paid.v1");

    follower.Kill(signal_number);
    const int status = follower.Wait();
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(follower.ReadRemainingLines().empty());
  }
}

TEST_CASE("replay --follow --to ends by itself once the position is reached", "[cli][replay][follow]") {
  TempDir dir;
  CliStore store(dir);
  store.Append("order-1", "order.placed.v1");
  ChildProcess follower({kCairn, "--store", store.path(), "replay", "--follow", "--to", "3"});
  REQUIRE(follower.ReadLine(10s).has_value());
  store.Append("order-1", "order.paid.v1");
  store.Append("order-1", "order.shipped.v1");
  store.Append("order-1", "order.delivered.v1");  // past --to: never printed
  auto rest = follower.ReadRemainingLines();
  REQUIRE(follower.WaitSucceeded());
  REQUIRE(rest.size() == 2);
  CHECK(U64(ParseJsonLine(rest[1]), "position") == 3);
}

TEST_CASE("verify reports a sound store", "[cli][verify]") {
  TempDir dir;
  CliStore store(dir);
  CliRun empty = store.Run({"verify"});
  REQUIRE_EXIT(empty, 0);
  auto empty_report = ParseJsonLine(empty.out);
  CHECK(Bool(empty_report, "ok"));
  CHECK(U64(empty_report, "events") == 0);
  CHECK(empty.err.empty());  // no progress when stderr is not a terminal

  AppendFiveEvents(store);
  CliRun run = store.Run({"verify"});
  REQUIRE_EXIT(run, 0);
  CHECK(run.err.empty());
  auto report = ParseJsonLine(run.out);
  CHECK(KeysOf(report) == std::vector<std::string>{"ok", "events", "streams", "head_position", "head_hash"});
  CHECK(Bool(report, "ok"));
  CHECK(U64(report, "events") == 5);
  CHECK(U64(report, "streams") == 3);
  CHECK(U64(report, "head_position") == 5);
  // The head hash is the hash of the last event.
  CliRun last = store.Run({"replay", "--from", "5"});
  CHECK(Str(report, "head_hash") == Str(ParseJsonLine(last.out), "hash"));
}

#ifdef CAIRN_SQLITE3_SHELL
// Runs SQL on the store file behind cairn's back, as someone with write access could.
std::string Sqlite(const TempDir& dir, const std::string& db, const std::string& sql) {
  const std::string script = dir.File("tamper.sql");
  const std::string output = dir.File("tamper.out");
  WriteFileBytes(script, sql);
  const std::string command =
      std::string(CAIRN_SQLITE3_SHELL) + " -bail '" + db + "' < '" + script + "' > '" + output + "'";
  INFO("sql: " << sql);
  REQUIRE(std::system(command.c_str()) == 0);
  return ReadFileBytes(output);
}

TEST_CASE("verify fails with exit 4 and names the first bad position after tampering", "[cli][verify]") {
  TempDir dir;
  CliStore store(dir);
  AppendFiveEvents(store);
  REQUIRE_EXIT(store.Run({"verify"}), 0);

  // The events table refuses UPDATE through triggers; an attacker drops them first.
  std::string triggers = Sqlite(dir, store.path(),
                                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events';\n");
  std::string drops;
  for (std::size_t start = 0; start < triggers.size();) {
    std::size_t end = triggers.find('\n', start);
    if (end == std::string::npos) end = triggers.size();
    if (end > start) drops += "DROP TRIGGER \"" + triggers.substr(start, end - start) + "\";\n";
    start = end + 1;
  }
  REQUIRE_FALSE(drops.empty());
  Sqlite(dir, store.path(), drops + "UPDATE events SET data = '{\"tampered\":true}' WHERE position = 3;\n");

  CliRun run = store.Run({"verify"});
  REQUIRE_EXIT(run, 4);
  auto report = ParseJsonLine(run.out);
  CHECK(KeysOf(report) == std::vector<std::string>{"ok", "first_bad_position", "problem"});
  CHECK_FALSE(Bool(report, "ok"));
  CHECK(U64(report, "first_bad_position") == 3);
  CHECK_FALSE(Str(report, "problem").empty());
  CHECK(run.err.starts_with("cairn: error: verification failed at position 3: "));

  // The tampered data is what a read now shows: verify is how one finds out.
  CliRun read = store.Run({"read", "order-2"});
  REQUIRE_EXIT(read, 0);
  CHECK(Contains(read.out, R"("data":{"tampered":true})"));
}
#endif

}  // namespace
}  // namespace cairn_test
