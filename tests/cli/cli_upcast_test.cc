// `cairn read --upcast` and `cairn replay --upcast`: events shown as their
// newest version, positions, ids and hashes as stored, the store untouched
// (`cairn verify` passes, a plain read is unchanged), and upcaster files that
// do not load are usage errors naming FILE:LINE.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace cairn_test {
namespace {

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

void Write(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// order-1: v1, unversioned, v2, v3 of order.placed, then an order.paid.v1; user-1: one user event.
void AppendMixed(const CliStore& store) {
  store.Append("order-1", "order.placed.v1", R"({"amount":5,"customer":"c-1","legacy":true})");
  store.Append("order-1", "order.placed", R"({"amount":6,"customer":"c-2"})");
  store.Append("user-1", "user.created.v1", R"({"name":"Ada"})");
  store.Append("order-1", "order.placed.v2", R"({"total":7,"currency":"USD","customer":"c-3"})");
  store.Append("order-1", "order.placed.v3", R"({"total":8,"currency":"USD","buyer":{"id":"c-4"}})");
  store.Append("order-1", "order.paid.v1", R"({"amount":5})");
}

const std::vector<std::string> kV3Data{
    R"("data":{"total":5,"currency":"EUR","buyer":{"id":"c-1"}})",
    R"("data":{"total":6,"currency":"EUR","buyer":{"id":"c-2"}})",
    R"("data":{"total":7,"currency":"USD","buyer":{"id":"c-3"}})",
    R"("data":{"total":8,"currency":"USD","buyer":{"id":"c-4"}})",
};

// Every row of `sql` in the database at `path`, columns joined by '|'.
std::vector<std::string> Rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        std::string row;
        for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
          if (c > 0) row += '|';
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
          row += text != nullptr ? text : "NULL";
        }
        rows.push_back(row);
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return rows;
}

}  // namespace

TEST_CASE("read --upcast shows the newest version with the stored position, id and hash", "[cli][upcast]") {
  TempDir dir;
  CliStore store(dir);
  AppendMixed(store);
  CliRun plain = store.Run({"read", "order-1"});
  REQUIRE_EXIT(plain, 0);
  CliRun upcast = store.Run({"read", "order-1", "--upcast", CAIRN_EXAMPLE_UPCASTERS});
  REQUIRE_EXIT(upcast, 0);
  const auto before = plain.Lines();
  const auto after = upcast.Lines();
  REQUIRE(before.size() == 5);
  REQUIRE(after.size() == 5);
  for (std::size_t i = 0; i < after.size(); ++i) {
    INFO(after[i]);
    const auto stored = ParseJsonLine(before[i]);
    const auto shown = ParseJsonLine(after[i]);
    for (const char* key : {"position", "revision"}) CHECK(U64(shown, key) == U64(stored, key));
    for (const char* key : {"stream", "id", "hash", "recorded_at", "content_type"}) CHECK(Str(shown, key) == Str(stored, key));
    CHECK(KeysOf(shown) == KeysOf(stored));
    if (i < 4) {
      CHECK(Str(shown, "type") == "order.placed.v3");
      CHECK(Contains(after[i], kV3Data[i]));
    } else {
      CHECK(after[i] == before[i]);  // order.paid.v1 has no upcaster
    }
  }

  // --type names the type after upcasting; --limit counts what is shown.
  CliRun typed = store.Run({"read", "order-1", "--upcast", CAIRN_EXAMPLE_UPCASTERS, "--type", "order.placed.v3"});
  REQUIRE_EXIT(typed, 0);
  CHECK(typed.Lines().size() == 4);
  CliRun limited = store.Run({"read", "order-1", "--upcast", CAIRN_EXAMPLE_UPCASTERS, "--backwards", "--limit", "2"});
  REQUIRE_EXIT(limited, 0);
  CHECK(Positions(limited) == std::vector<std::uint64_t>{6, 5});
  CliRun old_type = store.Run({"read", "order-1", "--upcast", CAIRN_EXAMPLE_UPCASTERS, "--type", "order.placed.v1"});
  REQUIRE_EXIT(old_type, 0);
  CHECK(old_type.out.empty());  // every v1 reads as v3

  CliRun table = store.Run({"read", "order-1", "--upcast", CAIRN_EXAMPLE_UPCASTERS, "--format", "table"});
  REQUIRE_EXIT(table, 0);
  CHECK(Contains(table.out, "order.placed.v3"));
  CHECK_FALSE(Contains(table.out, "order.placed.v1"));

  // Nothing was written: verify passes and a plain read is byte-for-byte the same.
  CliRun verify = store.Run({"verify"});
  REQUIRE_EXIT(verify, 0);
  CHECK(Bool(ParseJsonLine(verify.out), "ok"));
  CliRun plain_again = store.Run({"read", "order-1"});
  REQUIRE_EXIT(plain_again, 0);
  CHECK(plain_again.out == plain.out);
}

TEST_CASE("replay --upcast upcasts the log and filters on the newest type", "[cli][upcast]") {
  TempDir dir;
  CliStore store(dir);
  AppendMixed(store);
  CliRun all = store.Run({"replay", "--upcast", CAIRN_EXAMPLE_UPCASTERS});
  REQUIRE_EXIT(all, 0);
  CHECK(Positions(all) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  const auto lines = all.Lines();
  CHECK(Contains(lines[0], kV3Data[0]));
  CHECK(Contains(lines[2], R"("type":"user.created.v1")"));
  CHECK(Contains(lines[4], kV3Data[3]));

  CliRun typed = store.Run({"replay", "--upcast", CAIRN_EXAMPLE_UPCASTERS, "--type", "order.placed.v3", "--category", "order"});
  REQUIRE_EXIT(typed, 0);
  CHECK(Positions(typed) == std::vector<std::uint64_t>{1, 2, 4, 5});
  CliRun stream = store.Run({"replay", "--upcast", CAIRN_EXAMPLE_UPCASTERS, "--stream", "order-1", "--from", "2", "--to", "4"});
  REQUIRE_EXIT(stream, 0);
  CHECK(Positions(stream) == std::vector<std::uint64_t>{2, 4});

  CliRun verify = store.Run({"verify"});
  REQUIRE_EXIT(verify, 0);
}

TEST_CASE("an upcaster file that does not load is a usage error with FILE:LINE, a failing event an error naming it", "[cli][upcast]") {
  TempDir dir;
  CliStore store(dir);
  AppendMixed(store);
  const std::string bad = dir.File("bad.json");
  Write(bad, "{\"upcasters\": [\n  {\"type\": \"order.placed\", \"from\": 1, \"steps\": [\n    {\"rename\": {}}\n]}]}");
  CliRun run = store.Run({"read", "order-1", "--upcast", bad});
  REQUIRE_EXIT(run, 2);
  CHECK(Contains(run.err, bad + ":3: \"rename\" has no \"from\""));
  CHECK(run.out.empty());
  CliRun replay = store.Run({"replay", "--upcast", dir.File("missing.json")});
  REQUIRE_EXIT(replay, 1);
  CHECK(Contains(replay.err, "missing.json"));

  // The second event has no "amount" but a "total" already there: the rename refuses to overwrite it.
  store.Append("order-9", "order.placed.v1", R"({"amount":1})");
  store.Append("order-9", "order.placed.v1", R"({"amount":2,"total":2})");
  CliRun failing = store.Run({"read", "order-9", "--upcast", CAIRN_EXAMPLE_UPCASTERS});
  REQUIRE_EXIT(failing, 1);
  CHECK(failing.Lines().size() == 1);  // what came before it was printed
  CHECK(Contains(failing.err, "position 8 (order.placed.v1): upcaster from order.placed.v1 to order.placed.v2"));
  CHECK(Contains(failing.err, "step 1 (rename amount to total, "));
  CHECK(Contains(failing.err, "the data already has a field total"));
}

TEST_CASE("projection run with a file's upcasters applies every stored version as the newest", "[cli][upcast]") {
  TempDir dir;
  CliStore store(dir);
  AppendMixed(store);
  std::filesystem::create_directories(dir.File("projections"));
  std::filesystem::copy_file(CAIRN_EXAMPLE_UPCASTERS, dir.File("projections/orders.json"));
  Write(dir.File("projections/buyers.toml"), R"([projection]
name = "buyers"
version = 1
categories = ["order"]
upcasters = "orders.json"

[schema]
sql = 'CREATE TABLE buyers (position INTEGER PRIMARY KEY, buyer TEXT, currency TEXT, total INTEGER)'

[on."order.placed.v3"]
sql = 'INSERT INTO buyers VALUES (:position, :buyer, :currency, :total)'
params = { buyer = "data.buyer.id", currency = "data.currency", total = "data.total" }
)");
  const std::string model = dir.File("model.db");
  CliRun run = store.Run({"projection", "run", dir.File("projections/buyers.toml"), "--read-model", model});
  REQUIRE_EXIT(run, 0);
  CHECK(Rows(model, "SELECT position, buyer, currency, total FROM buyers ORDER BY position") ==
        std::vector<std::string>{"1|c-1|EUR|5", "2|c-2|EUR|6", "4|c-3|USD|7", "5|c-4|USD|8"});
}

}  // namespace cairn_test
