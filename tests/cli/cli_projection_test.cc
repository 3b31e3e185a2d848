// `cairn projection run|rebuild|status|parked` with the example SQL projection
// (examples/projections/customer_totals.toml), on both backends. Events go in
// through `cairn append`; the read model is read back here with SQLite's C API
// and compared with a fold of the same events computed by the test.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli_runner.h"

#ifndef CAIRN_EXAMPLE_PROJECTION
#error "CAIRN_EXAMPLE_PROJECTION must name examples/projections/customer_totals.toml"
#endif

namespace cairn_test {
namespace {

using namespace std::chrono_literals;

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// True when `text` matches `pattern` character by character, 'D' standing for a decimal digit.
bool MatchesShape(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (pattern[i] == 'D' ? !(text[i] >= '0' && text[i] <= '9') : text[i] != pattern[i]) return false;
  }
  return true;
}

const std::vector<std::string> kStatusKeys{
    "name",       "version",    "state",       "position",          "rebuilding_version", "rebuild_position",
    "head_position", "lag_events", "lag_seconds", "events_per_second", "parked",             "last_error"};

// The example file's text with each `from` replaced by `to` (each must occur exactly once).
std::string ExampleWith(const std::vector<std::pair<std::string, std::string>>& replacements) {
  std::string text = ReadFileBytes(CAIRN_EXAMPLE_PROJECTION);
  REQUIRE_FALSE(text.empty());
  for (const auto& [from, to] : replacements) {
    INFO("replacing: " << from);
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    REQUIRE(text.find(from, at + 1) == std::string::npos);
    text.replace(at, from.size(), to);
  }
  return text;
}

// The 1-based number of the line of `text` where `part` first occurs.
std::size_t LineOf(const std::string& text, std::string_view part) {
  const auto at = text.find(part);
  REQUIRE(at != std::string::npos);
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

// A customer's row of customer_totals: orders placed and not cancelled, and their total.
struct CustomerRow {
  std::int64_t orders = 0;
  std::int64_t total = 0;
  friend bool operator==(const CustomerRow&, const CustomerRow&) = default;
};
using Totals = std::map<std::string, CustomerRow>;

}  // namespace
}  // namespace cairn_test

namespace Catch {
template <>
struct StringMaker<cairn_test::Totals> {
  static std::string convert(const cairn_test::Totals& totals) {
    std::string text = "{";
    for (const auto& [customer, row] : totals) {
      text += " " + customer + ": " + std::to_string(row.orders) + " orders, " + std::to_string(row.total) + ";";
    }
    return text + " }";
  }
};
}  // namespace Catch

namespace cairn_test {
namespace {

// What customer_totals should hold: the example's semantics, folded by hand.
// `scale` is what a placed order's total is multiplied by (the version-2 handler of the rebuild test).
class OrderFold {
 public:
  void Placed(const std::string& stream, const std::string& customer, std::int64_t total) {
    open_[stream] = {customer, total};
    auto& row = totals_[customer];
    row.orders += 1;
    row.total += total;
  }
  void Cancelled(const std::string& stream) {
    auto order = open_.find(stream);
    if (order == open_.end()) return;  // unknown or already cancelled: the handler changes nothing
    auto& row = totals_[order->second.first];
    row.orders -= 1;
    row.total -= order->second.second;
    open_.erase(order);
  }
  Totals Scaled(std::int64_t scale) const {
    Totals scaled = totals_;
    for (auto& [customer, row] : scaled) row.total *= scale;
    return scaled;
  }
  const Totals& totals() const { return totals_; }

 private:
  std::map<std::string, std::pair<std::string, std::int64_t>> open_;  // stream -> (customer, total)
  Totals totals_;
};

// customer_totals as the read model holds it; nullopt while it has no such table
// (before the first build is swapped in) or cannot be read.
std::optional<Totals> ReadTotals(const std::string& read_model) {
  if (!std::filesystem::exists(read_model)) return std::nullopt;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(read_model.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 5000);
  std::optional<Totals> totals;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT customer, orders, total FROM customer_totals ORDER BY customer", -1, &stmt,
                         nullptr) == SQLITE_OK) {
    totals.emplace();
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      // Integer totals stay exact INTEGERs (NUMERIC affinity).
      if (sqlite3_column_type(stmt, 1) != SQLITE_INTEGER || sqlite3_column_type(stmt, 2) != SQLITE_INTEGER) {
        totals.reset();
        break;
      }
      (*totals)[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))] =
          CustomerRow{sqlite3_column_int64(stmt, 1), sqlite3_column_int64(stmt, 2)};
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) totals.reset();
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return totals;
}

// One text value of the read model (the first column of the first row), or nullopt.
std::optional<std::string> QueryText(const std::string& read_model, const std::string& sql) {
  sqlite3* db = nullptr;
  std::optional<std::string> value;
  if (sqlite3_open_v2(read_model.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW &&
        sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return value;
}

// Polls the read model until it holds `expected` (true), or `timeout` passes (false).
bool WaitForTotals(const std::string& read_model, const Totals& expected, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ReadTotals(read_model) == expected) return true;
    std::this_thread::sleep_for(50ms);
  }
  return ReadTotals(read_model) == expected;
}

// A store of one backend (`cairn --backend B init`), a read model beside it,
// and the fold of the order events appended so far.
class Orders {
 public:
  explicit Orders(const std::string& backend)
      : store_(dir_.File(backend == "lmdb" ? "events.mdb" : "events.db")), read_model_(dir_.File("rm.db")) {
    CliRun init = RunCairn(dir_, {"--store", store_, "--backend", backend, "init"});
    REQUIRE_EXIT(init, 0);
  }

  const TempDir& dir() const { return dir_; }
  const std::string& store() const { return store_; }
  const std::string& read_model() const { return read_model_; }
  const OrderFold& fold() const { return fold_; }
  std::uint64_t head() const { return head_; }

  // `cairn --store STORE args...`
  CliRun Run(const std::vector<std::string>& args, const RunOptions& options = {}) const {
    std::vector<std::string> full{"--store", store_};
    full.insert(full.end(), args.begin(), args.end());
    return RunCairn(dir_, full, options);
  }
  // `cairn --store STORE projection args... --read-model RM`
  CliRun Projection(std::vector<std::string> args) const {
    args.insert(args.begin(), "projection");
    args.insert(args.end(), {"--read-model", read_model_});
    return Run(args);
  }
  // The JSON lines of a projection command that must succeed.
  std::vector<rapidjson::Document> ProjectionLines(const std::vector<std::string>& args) const {
    CliRun run = Projection(args);
    REQUIRE_EXIT(run, 0);
    std::vector<rapidjson::Document> lines;
    for (const std::string& line : run.Lines()) lines.push_back(ParseJsonLine(line));
    return lines;
  }

  // Appends with `cairn append`; returns the event's position.
  std::uint64_t Append(const std::string& stream, const std::string& type, const std::string& data,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"append", stream, "--type", type, "--data", data};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun run = Run(args);
    REQUIRE_EXIT(run, 0);
    head_ = U64(ParseJsonLine(run.out), "last_position");
    return head_;
  }
  std::uint64_t Place(const std::string& stream, const std::string& customer, std::int64_t total,
                      std::vector<std::string> extra = {}) {
    fold_.Placed(stream, customer, total);
    return Append(
        stream, "order.placed.v1",
        R"({"customer":")" + customer + R"(","items":[{"sku":"tea","qty":2}],"total":)" + std::to_string(total) + "}",
        std::move(extra));
  }
  std::uint64_t Cancel(const std::string& stream) {
    fold_.Cancelled(stream);
    return Append(stream, "order.cancelled.v1", R"({"reason":"changed mind"})");
  }

  // A projection file in the test directory.
  std::string WriteProjection(const std::string& name, const std::string& text) const {
    const std::string path = dir_.File(name);
    WriteFileBytes(path, text);
    return path;
  }

 private:
  TempDir dir_;
  std::string store_;
  std::string read_model_;
  OrderFold fold_;
  std::uint64_t head_ = 0;
};

// The only line of a command's output.
const rapidjson::Document& OnlyLine(const std::vector<rapidjson::Document>& lines) {
  REQUIRE(lines.size() == 1);
  return lines[0];
}

// Checks a status line of customer_totals at `version`, at the head and caught up.
void CheckCaughtUp(const rapidjson::Value& status, std::uint64_t head, std::uint64_t version) {
  CHECK(KeysOf(status) == kStatusKeys);
  CHECK(Str(status, "name") == "customer_totals");
  CHECK(U64(status, "version") == version);
  CHECK(U64(status, "position") == head);
  CHECK(U64(status, "head_position") == head);
  CHECK(U64(status, "lag_events") == 0);
  REQUIRE(status["lag_seconds"].IsNumber());
  CHECK(status["lag_seconds"].GetDouble() == 0.0);
  CHECK(status["rebuilding_version"].IsNull());
}

TEST_CASE("projection run builds the read model, then applies each new event exactly once", "[cli][projection]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend " << backend);
  Orders orders(backend);
  orders.Place("order-1", "c-1", 1850);
  orders.Append("user-1", "user.created.v1", R"({"name":"ann"})");  // another category: not the projection's
  orders.Place("order-2", "c-2", 500);
  orders.Append("order-1", "order.paid.v1", R"({"amount":1850})");  // a type without a handler: skipped
  orders.Place("order-3", "c-1", 1200, {"--metadata", R"({"correlation_id":"req-7"})"});

  // The first run builds the model from the start of the log.
  CliRun run = orders.Projection({"run", CAIRN_EXAMPLE_PROJECTION});
  REQUIRE_EXIT(run, 0);
  CHECK(run.err.empty());  // no progress line: stderr is not a terminal
  REQUIRE(run.Lines().size() == 1);
  auto status = ParseJsonLine(run.out);
  CheckCaughtUp(status, orders.head(), 1);
  CHECK(Str(status, "state") == "stopped");
  CHECK(U64(status, "parked") == 0);
  CHECK(Str(status, "last_error").empty());
  CHECK(ReadTotals(orders.read_model()) == orders.fold().totals());
  CHECK(QueryText(orders.read_model(), "SELECT correlation_id FROM orders WHERE stream = 'order-3'") == "req-7");
  CHECK(QueryText(orders.read_model(), "SELECT items FROM orders WHERE stream = 'order-1'") == "1");

  // More events, a cancellation among them: the next run applies only those.
  orders.Cancel("order-2");
  orders.Place("order-4", "c-3", 999);
  orders.Place("order-5", "c-2", 1);
  orders.Cancel("order-2");  // a second cancellation changes nothing
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"run", CAIRN_EXAMPLE_PROJECTION})), orders.head(), 1);
  CHECK(ReadTotals(orders.read_model()) == orders.fold().totals());

  // Nothing new: nothing applied twice.
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"run", CAIRN_EXAMPLE_PROJECTION})), orders.head(), 1);
  CHECK(ReadTotals(orders.read_model()) == orders.fold().totals());

  // status reads the read model; the head (and the lag) come from the store.
  auto statuses = orders.ProjectionLines({"status"});
  const auto& recorded = OnlyLine(statuses);
  CheckCaughtUp(recorded, orders.head(), 1);
  CHECK(recorded["events_per_second"].IsNull());  // nothing runs here
  CHECK(U64(recorded, "parked") == 0);

  CliRun table = orders.Projection({"status", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  REQUIRE(table.Lines().size() == 2);
  CHECK(table.Lines()[0].starts_with("name"));
  CHECK(Contains(table.Lines()[1], "customer_totals"));

  // An event not yet processed shows as lag.
  orders.Place("order-6", "c-4", 10);
  statuses = orders.ProjectionLines({"status"});
  REQUIRE(statuses.size() == 1);
  CHECK(U64(statuses[0], "position") == orders.head() - 1);
  CHECK(U64(statuses[0], "head_position") == orders.head());
  CHECK(U64(statuses[0], "lag_events") == 1);
  CHECK(statuses[0]["lag_seconds"].IsNumber());

  // Without a store there is no head: the recorded checkpoint alone.
  CliRun no_store = RunCairn(orders.dir(), {"--store", orders.dir().File("none.db"), "projection", "status",
                                            "--read-model", orders.read_model()});
  REQUIRE_EXIT(no_store, 0);
  auto alone = ParseJsonLine(no_store.out);
  CHECK(U64(alone, "position") == orders.head() - 1);
  CHECK(alone["head_position"].IsNull());
  CHECK(alone["lag_events"].IsNull());
}

TEST_CASE("a projection file that is not understood is exit 2 with its FILE:LINE, before anything is opened",
          "[cli][projection]") {
  Orders orders("sqlite");
  orders.Place("order-1", "c-1", 1);

  const std::string undefined = ExampleWith({{":customer, :total, coalesce", ":customr, :total, coalesce"}});
  const std::string undefined_file = orders.WriteProjection("undefined.toml", undefined);
  CliRun run = orders.Projection({"run", undefined_file});
  REQUIRE_EXIT(run, 2);
  CHECK(run.err.starts_with("cairn: error: " + undefined_file + ":" + std::to_string(LineOf(undefined, ":customr")) +
                            ": "));
  CHECK(Contains(run.err, "customr"));
  CHECK_FALSE(std::filesystem::exists(orders.read_model()));  // refused before the read model was opened

  const std::string misspelt = ExampleWith({{"version = 1 ", "verison = 1 "}});
  const std::string misspelt_file = orders.WriteProjection("misspelt.toml", misspelt);
  run = orders.Projection({"run", CAIRN_EXAMPLE_PROJECTION, misspelt_file});
  REQUIRE_EXIT(run, 2);
  CHECK(Contains(run.err, misspelt_file + ":" + std::to_string(LineOf(misspelt, "verison")) + ": "));
  CHECK_FALSE(std::filesystem::exists(orders.read_model()));

  run = orders.Projection({"rebuild", undefined_file});
  REQUIRE_EXIT(run, 2);
  CHECK(Contains(run.err, undefined_file + ":"));
  run = orders.Projection({"parked", "--retry", undefined_file});
  REQUIRE_EXIT(run, 2);
  CHECK(Contains(run.err, undefined_file + ":"));

  // Two files of the same projection.
  const std::string copy = orders.WriteProjection("copy.toml", ReadFileBytes(CAIRN_EXAMPLE_PROJECTION));
  run = orders.Projection({"run", CAIRN_EXAMPLE_PROJECTION, copy});
  REQUIRE_EXIT(run, 2);
  CHECK(Contains(run.err, "both declare projection customer_totals"));

  // A file that is not there cannot be read: an error, not a misunderstanding.
  run = orders.Projection({"run", orders.dir().File("missing.toml")});
  REQUIRE_EXIT(run, 1);
  CHECK(Contains(run.err, "missing.toml"));
  CHECK_FALSE(std::filesystem::exists(orders.read_model()));
}

TEST_CASE("projection: usage errors exit 2, a refused store or read model 1", "[cli][projection]") {
  Orders orders("sqlite");
  orders.Place("order-1", "c-1", 1);
  const std::string example = CAIRN_EXAMPLE_PROJECTION;

  // No read model: said clearly, for every subcommand.
  for (const std::vector<std::string>& args : {std::vector<std::string>{"projection", "run", example},
                                               {"projection", "rebuild", example},
                                               {"projection", "status"},
                                               {"projection", "parked"}}) {
    CliRun run = orders.Run(args);
    REQUIRE_EXIT(run, 2);
    CHECK(Contains(run.err, "--read-model"));
    CHECK(Contains(run.err, "$CAIRN_READ_MODEL"));
  }
  // $CAIRN_READ_MODEL is the default.
  CliRun from_env = orders.Run({"projection", "run", example}, WithEnv({"CAIRN_READ_MODEL=" + orders.read_model()}));
  REQUIRE_EXIT(from_env, 0);
  CHECK(U64(ParseJsonLine(from_env.out), "position") == orders.head());
  CHECK(ReadTotals(orders.read_model()) == orders.fold().totals());

  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"projection"},
        {"projection", "run", "--read-model", orders.read_model()},  // no FILE
        {"projection", "run", example, "--read-model", orders.read_model(), "--bogus"},
        {"projection", "status", "--read-model", orders.read_model(), "--follow"},
        {"projection", "rebuild", example, example, "--read-model", orders.read_model()},
        {"projection", "parked", "--read-model", orders.read_model(), "--retry", example, "--projection", "x"},
        {"projection", "frobnicate"}}) {
    CliRun run = orders.Run(args);
    REQUIRE_EXIT(run, 2);
    CHECK(run.err.starts_with("cairn: error: "));
  }

  CliRun help = orders.Run({"projection", "--help"});
  REQUIRE_EXIT(help, 0);
  for (const char* word : {"run", "rebuild", "status", "parked", "--read-model", "Exit codes"}) {
    CHECK(Contains(help.out, word));
  }
  CliRun run_help = orders.Run({"projection", "run", "--help"});
  REQUIRE_EXIT(run_help, 0);
  for (const char* word : {"--follow", "--read-model", "CAIRN_READ_MODEL", "FILE:LINE"})
    CHECK(Contains(run_help.out, word));

  // The store must exist; the read model must be one (and never the store itself).
  CliRun no_store = RunCairn(orders.dir(), {"--store", orders.dir().File("none.db"), "projection", "run", example,
                                            "--read-model", orders.dir().File("other.db")});
  REQUIRE_EXIT(no_store, 1);
  CHECK(Contains(no_store.err, "no store at"));
  CHECK_FALSE(std::filesystem::exists(orders.dir().File("other.db")));

  const std::string store_bytes = ReadFileBytes(orders.store());
  CliRun into_store = orders.Run({"projection", "run", example, "--read-model", orders.store()});
  REQUIRE_EXIT(into_store, 1);
  CHECK(Contains(into_store.err, "event store"));
  CHECK(ReadFileBytes(orders.store()) == store_bytes);

  const std::string foreign = orders.WriteProjection("notes.txt", "not a database\n");
  CliRun not_a_model = orders.Run({"projection", "status", "--read-model", foreign});
  REQUIRE_EXIT(not_a_model, 1);
  CHECK(ReadFileBytes(foreign) == "not a database\n");

  CliRun missing_model = orders.Run({"projection", "status", "--read-model", orders.dir().File("nothing.db")});
  REQUIRE_EXIT(missing_model, 1);
  CHECK(Contains(missing_model.err, "nothing.db"));
}

TEST_CASE("a version bump rebuilds the model with the new handler, and rebuild rebuilds it in place",
          "[cli][projection]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend " << backend);
  Orders orders(backend);
  orders.Place("order-1", "c-1", 100);
  orders.Place("order-2", "c-2", 20);
  orders.Place("order-3", "c-1", 3);
  orders.Cancel("order-2");
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"run", CAIRN_EXAMPLE_PROJECTION})), orders.head(), 1);
  REQUIRE(ReadTotals(orders.read_model()) == orders.fold().Scaled(1));
  const auto generation = [&] {
    return QueryText(orders.read_model(), "SELECT generation FROM cairn_projections WHERE name = 'customer_totals'");
  };
  CHECK(generation() == "1");

  // Version 2 counts totals ten times over: a new meaning, hence a new version.
  const std::string v2 =
      orders.WriteProjection("customer_totals_v2.toml",
                             ExampleWith({{"version = 1 ", "version = 2 "},
                                          {":customer, :total, coalesce", ":customer, :total * 10, coalesce"},
                                          {"VALUES (:customer, 1, :total)", "VALUES (:customer, 1, :total * 10)"}}));
  orders.Place("order-4", "c-3", 7);
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"run", v2})), orders.head(), 2);
  CHECK(ReadTotals(orders.read_model()) == orders.fold().Scaled(10));
  CHECK(generation() == "2");
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"status"})), orders.head(), 2);
  // No shadow is left behind.
  for (const std::string& name : ListDir(orders.dir().path())) CHECK_FALSE(Contains(name, ".shadow"));

  // Then it goes on incrementally with the new handler.
  orders.Place("order-5", "c-1", 1);
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"run", v2})), orders.head(), 2);
  CHECK(ReadTotals(orders.read_model()) == orders.fold().Scaled(10));
  CHECK(generation() == "2");

  // rebuild builds the same version again from the start, and swaps it in.
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"rebuild", v2})), orders.head(), 2);
  CHECK(ReadTotals(orders.read_model()) == orders.fold().Scaled(10));
  CHECK(generation() == "3");

  // Going back to version 1 is a rebuild too.
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"run", CAIRN_EXAMPLE_PROJECTION})), orders.head(), 1);
  CHECK(ReadTotals(orders.read_model()) == orders.fold().Scaled(1));
}

TEST_CASE("parked events are listed, and retried once the file is fixed", "[cli][projection]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend " << backend);
  Orders orders(backend);
  // One try per event: an order without a customer breaks `customer TEXT NOT NULL` and is parked.
  const std::string strict =
      orders.WriteProjection("strict.toml", ExampleWith({{"max_attempts = 3 ", "max_attempts = 1 "}}));
  orders.Place("order-1", "c-1", 100);
  const std::uint64_t bad_position = orders.Append("order-2", "order.placed.v1", R"({"total":5})");
  orders.Place("order-3", "c-2", 7);

  auto run = orders.ProjectionLines({"run", strict});
  const auto& status = OnlyLine(run);
  CheckCaughtUp(status, orders.head(), 1);
  CHECK(U64(status, "parked") == 1);
  CHECK(Contains(Str(status, "last_error"), "NOT NULL constraint failed: orders.customer"));
  CHECK(ReadTotals(orders.read_model()) == orders.fold().totals());  // the others went on

  auto parked = orders.ProjectionLines({"parked"});
  REQUIRE(parked.size() == 1);
  CHECK(KeysOf(parked[0]) == std::vector<std::string>{"projection", "position", "stream", "revision", "type",
                                                      "attempts", "parked_at", "error"});
  CHECK(Str(parked[0], "projection") == "customer_totals");
  CHECK(U64(parked[0], "position") == bad_position);
  CHECK(Str(parked[0], "stream") == "order-2");
  CHECK(U64(parked[0], "revision") == 0);
  CHECK(Str(parked[0], "type") == "order.placed.v1");
  CHECK(U64(parked[0], "attempts") == 1);
  CHECK(MatchesShape(Str(parked[0], "parked_at"), "DDDD-DD-DDTDD:DD:DD.DDDDDDZ"));
  CHECK(Contains(Str(parked[0], "error"), "NOT NULL constraint failed: orders.customer"));
  CHECK(orders.ProjectionLines({"parked", "--projection", "customer_totals"}).size() == 1);
  CHECK(orders.ProjectionLines({"parked", "--projection", "other"}).empty());
  CliRun table = orders.Projection({"parked", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  REQUIRE(table.Lines().size() == 2);
  CHECK(table.Lines()[0].starts_with("projection"));
  CHECK(U64(orders.ProjectionLines({"status"})[0], "parked") == 1);

  // Retried with the same handlers, it fails again: exit 1, and it stays parked.
  CliRun again = orders.Projection({"parked", "--retry", strict});
  REQUIRE_EXIT(again, 1);
  auto report = ParseJsonLine(again.out);
  CHECK(KeysOf(report) == std::vector<std::string>{"projection", "retried", "succeeded", "failed"});
  CHECK(U64(report, "retried") == 1);
  CHECK(U64(report, "succeeded") == 0);
  CHECK(U64(report, "failed") == 1);
  CHECK(Contains(again.err, "still fails"));
  parked = orders.ProjectionLines({"parked"});
  REQUIRE(parked.size() == 1);
  CHECK(U64(parked[0], "attempts") == 2);

  // Fixed (same version: the meaning of the other events does not change), it is applied once.
  const std::string fixed = orders.WriteProjection(
      "fixed.toml",
      ExampleWith({{"max_attempts = 3 ", "max_attempts = 1 "},
                   {":customer, :total, coalesce", "coalesce(:customer, 'nobody'), :total, coalesce"},
                   {"VALUES (:customer, 1, :total)", "VALUES (coalesce(:customer, 'nobody'), 1, :total)"}}));
  auto retried = orders.ProjectionLines({"parked", "--retry", fixed});
  REQUIRE(retried.size() == 1);
  CHECK(Str(retried[0], "projection") == "customer_totals");
  CHECK(U64(retried[0], "retried") == 1);
  CHECK(U64(retried[0], "succeeded") == 1);
  CHECK(U64(retried[0], "failed") == 0);
  CHECK(orders.ProjectionLines({"parked"}).empty());
  Totals expected = orders.fold().totals();
  expected["nobody"] = CustomerRow{1, 5};
  CHECK(ReadTotals(orders.read_model()) == expected);
  CHECK(U64(orders.ProjectionLines({"status"})[0], "parked") == 0);

  // Nothing left to retry; and running the fixed file applies nothing twice.
  auto nothing = orders.ProjectionLines({"parked", "--retry", fixed});
  REQUIRE(nothing.size() == 1);
  CHECK(U64(nothing[0], "retried") == 0);
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"run", fixed})), orders.head(), 1);
  CHECK(ReadTotals(orders.read_model()) == expected);
}

TEST_CASE("a projection that stops on a failure makes run exit 1 with its error", "[cli][projection]") {
  Orders orders("sqlite");
  const std::string stopping = orders.WriteProjection(
      "stopping.toml",
      ExampleWith({{"on_failure = \"park\"", "on_failure = \"stop\""}, {"max_attempts = 3 ", "max_attempts = 1 "}}));
  orders.Place("order-1", "c-1", 100);
  const std::uint64_t bad_position = orders.Append("order-2", "order.placed.v1", R"({"total":5})");
  orders.Place("order-3", "c-2", 7);

  CliRun run = orders.Projection({"run", stopping});
  REQUIRE_EXIT(run, 1);
  CHECK(Contains(run.err, "NOT NULL constraint failed: orders.customer"));
  CHECK(Contains(run.err, "position " + std::to_string(bad_position)));
  auto status = ParseJsonLine(run.out);
  CHECK(Str(status, "state") == "failed");
  CHECK(Contains(Str(status, "last_error"), "NOT NULL constraint failed"));
  // A first build stops before its swap: the read model has no table yet, and says so.
  auto recorded = orders.ProjectionLines({"status"});
  REQUIRE(recorded.size() == 1);
  CHECK(Str(recorded[0], "state") == "failed");
  CHECK(U64(recorded[0], "lag_events") > 0);

  // The next run starts again at the failing event, and fails again.
  run = orders.Projection({"run", stopping});
  REQUIRE_EXIT(run, 1);
  CHECK(Contains(run.err, "NOT NULL constraint failed: orders.customer"));
}

TEST_CASE("projection run --follow applies new commits within seconds, until SIGINT or SIGTERM",
          "[cli][projection][follow]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend " << backend);
  Orders orders(backend);
  orders.Place("order-1", "c-1", 100);
  int n = 1;
  for (int signal_number : {SIGINT, SIGTERM}) {
    INFO("signal " << signal_number);
    ChildProcess follower({kCairn, "--store", orders.store(), "projection", "run", CAIRN_EXAMPLE_PROJECTION,
                           "--read-model", orders.read_model(), "--follow"});
    REQUIRE(WaitForTotals(orders.read_model(), orders.fold().totals(), 10s));

    // Commits by another process show up in the read model within seconds.
    const std::string stream = "order-" + std::to_string(++n);
    orders.Place(stream, "c-2", n);
    REQUIRE(WaitForTotals(orders.read_model(), orders.fold().totals(), 10s));
    orders.Cancel(stream);
    REQUIRE(WaitForTotals(orders.read_model(), orders.fold().totals(), 10s));

    follower.Kill(signal_number);
    const int status = follower.Wait();
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    auto lines = follower.ReadRemainingLines();
    REQUIRE(lines.size() == 1);
    auto last = ParseJsonLine(lines[0]);
    CHECK(Str(last, "state") == "stopped");
    CHECK(U64(last, "position") == orders.head());
    CHECK(Str(last, "last_error").empty());
  }
  // What the follower recorded is the checkpoint the next run starts from.
  CheckCaughtUp(OnlyLine(orders.ProjectionLines({"status"})), orders.head(), 1);
  CHECK(ReadTotals(orders.read_model()) == orders.fold().totals());
}

}  // namespace
}  // namespace cairn_test
