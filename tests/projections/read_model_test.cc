// The read-model database: what Open accepts and refuses, what Add checks,
// the writer handed to handlers, and reading a read model without a runner.
#include "projection_test.h"

namespace cairn_test {
namespace {

using std::chrono::milliseconds;

// Copies the shadow at `from` to `to` (once), folding its write-ahead log into the copy.
void CopyShadowOnce(const std::string& from, const std::string& to) {
  if (std::filesystem::exists(to)) return;
  std::filesystem::copy_file(from, to);
  if (std::filesystem::exists(from + "-wal")) std::filesystem::copy_file(from + "-wal", to + "-wal");
  Db copy(to, /*writable=*/true);
  copy.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

cairn::Result<std::unique_ptr<cairn::ProjectionRunner>> OpenRunner(cairn::EventStore& store, const std::string& path) {
  return cairn::ProjectionRunner::Open(cairn::StoreSource(store), path);
}

TEST_CASE("Open creates a read model, and refuses files that are not one without touching them", "[projections]") {
  ProjectionFixture fx;
  SECTION("a new read model: the meta tables, WAL, marked as a read model") {
    auto runner = fx.Runner();
    Db db(fx.model);
    CHECK(db.Int("PRAGMA application_id") == 0x6372646d);
    CHECK(db.Int("PRAGMA user_version") == 1);
    CHECK(db.Rows("PRAGMA journal_mode").at(0).at(0) == "wal");
    for (const char* table : {"cairn_read_model", "cairn_projections", "cairn_parked", "cairn_projection_objects"}) {
      INFO(table);
      CHECK(db.HasTable(table));
    }
    CHECK(db.Rows("SELECT value FROM cairn_read_model WHERE key = 'role'").at(0).at(0) == "read-model");
    // Opened again, it is the same read model.
    auto again = OpenRunner(*fx.store, fx.model);
    CAIRN_CHECK_OK(again);
  }
  SECTION("refusals") {
    const std::string path = fx.store.dir().File("other");
    auto refused = [&](cairn::ErrorCode code) {
      const std::string before = ReadFileBytes(path);
      auto runner = OpenRunner(*fx.store, path);
      CAIRN_CHECK_ERROR(runner, code);
      CHECK(ReadFileBytes(path) == before);
      CAIRN_CHECK_ERROR(cairn::ReadProjectionStatuses(path), code);
      CAIRN_CHECK_ERROR(cairn::ListParkedEvents(path), code);
      CHECK(ReadFileBytes(path) == before);
    };
    SECTION("a SQLite database that is not a read model") {
      sqlite3* raw = nullptr;
      REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
      REQUIRE(sqlite3_exec(raw, "CREATE TABLE mine (x); INSERT INTO mine VALUES (1);", nullptr, nullptr, nullptr) ==
              SQLITE_OK);
      sqlite3_close(raw);
      refused(cairn::ErrorCode::kCorruption);
    }
    SECTION("text") {
      WriteFileBytes(path, "hello, this is not a database at all; it is a text file of more than 100 bytes ...........");
      refused(cairn::ErrorCode::kCorruption);
    }
    SECTION("an empty file") {
      WriteFileBytes(path, "");
      refused(cairn::ErrorCode::kCorruption);
    }
    SECTION("a read model of a newer format") {
      { auto runner = OpenRunner(*fx.store, path); CAIRN_REQUIRE_OK(runner); }
      {
        Db db(path, /*writable=*/true);
        db.Exec("PRAGMA user_version = 2");
        db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
      }
      refused(cairn::ErrorCode::kNotSupported);
    }
    SECTION("a shadow") {
      AppendMany(*fx.store, "acct-1", "deposited.v1", 10);
      auto runner = fx.Runner({.on_batch = [&](const cairn::ProjectionStatus& status) {
        if (status.rebuilding_version) CopyShadowOnce(fx.model + ".counters.v1.shadow", path);
      }});
      CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
      CAIRN_REQUIRE_OK(runner->RunToHead());
      refused(cairn::ErrorCode::kInvalidArgument);
    }
  }
  SECTION("the event store's own file") {
    // The test's store (of the backend under test), and a SQLite and an LMDB store.
    std::vector<std::string> stores = {fx.store.path()};
    for (auto backend : {cairn::BackendKind::kSqlite, cairn::BackendKind::kLmdb}) {
      const std::string path = fx.store.dir().File("store-" + std::to_string(static_cast<int>(backend)));
      cairn::Options options;
      options.backend = backend;
      options.create_if_missing = true;
      auto created = cairn::EventStore::Open(path, options);
      CAIRN_REQUIRE_OK(created);
      CAIRN_REQUIRE_OK((*created)->Append("acct-1", cairn::ExpectedRevision::Any(), {Json("deposited.v1")}));
      stores.push_back(path);
    }
    for (const auto& path : stores) {
      INFO(path);
      const std::string before = ReadFileBytes(path);
      CAIRN_CHECK_ERROR(OpenRunner(*fx.store, path), cairn::ErrorCode::kInvalidArgument);
      CAIRN_CHECK_ERROR(cairn::ReadProjectionStatuses(path), cairn::ErrorCode::kInvalidArgument);
      CHECK(ReadFileBytes(path) == before);
    }
  }
  SECTION("no file: the readers say so and create nothing") {
    CAIRN_CHECK_ERROR(cairn::ReadProjectionStatuses(fx.model), cairn::ErrorCode::kNotFound);
    CAIRN_CHECK_ERROR(cairn::ListParkedEvents(fx.model), cairn::ErrorCode::kNotFound);
    CHECK_FALSE(std::filesystem::exists(fx.model));
  }
}

TEST_CASE("Add checks names, versions, handlers, schemas and who owns which table", "[projections]") {
  ProjectionFixture fx;
  auto runner = fx.Runner();
  auto with = [](std::string name, std::string schema) {
    cairn::Projection projection;
    projection.name = std::move(name);
    projection.schema = std::move(schema);
    return projection;
  };
  for (const char* bad : {"", "Upper", "with-dash", "dot.name", "space name", "é"}) {
    INFO("name \"" << bad << "\"");
    CAIRN_CHECK_ERROR(runner->Add(with(bad, "")), cairn::ErrorCode::kInvalidArgument);
  }
  auto zero = with("zero", "");
  zero.version = 0;
  CAIRN_CHECK_ERROR(runner->Add(zero), cairn::ErrorCode::kInvalidArgument);
  auto empty_handler = with("empty_handler", "");
  empty_handler.handlers["x.v1"] = nullptr;
  CAIRN_CHECK_ERROR(runner->Add(empty_handler), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("bad_sql", "CREATE TABLE (")), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("reserved", "CREATE TABLE cairn_mine (x)")), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("reserved2", "CREATE TABLE t (x); CREATE INDEX CAIRN_i ON t (x)")),
                    cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("txn", "CREATE TABLE t (x); COMMIT;")), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("attach", "ATTACH ':memory:' AS other")), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("temp", "CREATE TEMP TABLE t (x)")), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("virtual", "CREATE VIRTUAL TABLE t USING fts5 (x)")),
                    cairn::ErrorCode::kInvalidArgument);

  CAIRN_REQUIRE_OK(runner->Add(with("first", "CREATE TABLE shared (x); CREATE TABLE first_only (x);")));
  CAIRN_CHECK_ERROR(runner->Add(with("first", "")), cairn::ErrorCode::kInvalidArgument);  // a duplicate
  // Object names are case-insensitive in SQLite.
  CAIRN_CHECK_ERROR(runner->Add(with("second", "CREATE TABLE SHARED (y)")), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(runner->Add(with("second", "CREATE TABLE t (y); CREATE INDEX shared ON t (y)")),
                    cairn::ErrorCode::kInvalidArgument);
  CAIRN_REQUIRE_OK(runner->Add(with("second", "CREATE TABLE second_only (y)")));
  CAIRN_REQUIRE_OK(runner->RunToHead());  // builds both (over an empty log): their tables are on record

  // Another runner, later, on the same read model: the tables belong to their projections.
  auto other = fx.Runner();
  CAIRN_CHECK_ERROR(other->Add(with("third", "CREATE TABLE first_only (z)")), cairn::ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(other->Add(with("third", "CREATE VIEW second_only AS SELECT 1")),
                    cairn::ErrorCode::kInvalidArgument);
  // A table nobody's projection created is not taken over either.
  {
    Db db(fx.model, /*writable=*/true);
    db.Exec("CREATE TABLE hand_made (x)");
  }
  CAIRN_CHECK_ERROR(other->Add(with("third", "CREATE TABLE hand_made (x)")), cairn::ErrorCode::kInvalidArgument);
  // The owner itself, at a new version with a changed schema, is fine.
  auto first_v2 = with("first", "CREATE TABLE shared (x, y); CREATE TABLE first_only (x)");
  first_v2.version = 2;
  CAIRN_CHECK_OK(other->Add(first_v2));
  CAIRN_CHECK_OK(other->Add(with("third", "CREATE TABLE third_only (z)")));
}

TEST_CASE("the writer binds and reads every value type, and prepares statements", "[projections]") {
  ProjectionFixture fx;
  AppendTypes(*fx.store, "misc-1", {"noted.v1"}, R"({"amount":3})");
  std::vector<std::vector<cairn::SqlValue>> queried;
  std::vector<std::string> errors;
  cairn::Projection projection;
  projection.name = "values";
  projection.schema = "CREATE TABLE vals (i INTEGER, r REAL, t TEXT, b BLOB, n);";
  projection.handlers["noted.v1"] = [&](cairn::ReadModelWriter& model, const cairn::EventView& event) -> cairn::Status {
    const std::vector<cairn::SqlValue> row = {std::int64_t{-42}, 2.5, std::string(event.data),
                                              cairn::SqlBlob{std::string("\0\1\2", 3)}, nullptr};
    if (auto ok = model.Execute("INSERT INTO vals VALUES (?1, ?2, ?3, ?4, ?5)", row); !ok) return ok;
    if (auto ok = model.Execute("INSERT INTO vals (i, b) VALUES (?1, ?2)", {std::int64_t{7}, cairn::SqlBlob{}}); !ok) {
      return ok;
    }
    auto rows = model.Query("SELECT i, r, t, b, n FROM vals ORDER BY i");
    if (!rows) return std::unexpected(rows.error());
    queried = *rows;
    // Prepared statements are cached and come back reset, with no bindings.
    auto stmt = model.Prepare("SELECT count(*) FROM vals WHERE i = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    auto again = model.Prepare("SELECT count(*) FROM vals WHERE i = ?1");
    if (!again || *again != *stmt) return cairn::Fail(cairn::ErrorCode::kInvalidArgument, "not cached");
    sqlite3_bind_int64(*stmt, 1, 7);
    if (sqlite3_step(*stmt) != SQLITE_ROW || sqlite3_column_int64(*stmt, 0) != 1) {
      return cairn::Fail(cairn::ErrorCode::kInvalidArgument, "prepared statement");
    }
    // Left mid-step: the runner resets it after the handler.
    if (model.db() == nullptr) return cairn::Fail(cairn::ErrorCode::kInvalidArgument, "no db");
    // Misuse is an error, not a crash.
    for (auto result : {model.Execute("INSERT INTO vals (i) VALUES (1); INSERT INTO vals (i) VALUES (2)"),
                        model.Execute("INSERT INTO nowhere VALUES (1)"),
                        model.Execute("INSERT INTO vals (i) VALUES (?1)", {std::int64_t{1}, std::int64_t{2}}),
                        model.Execute("   ")}) {
      errors.push_back(result ? "ok" : result.error().ToString());
    }
    return {};
  };
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(std::move(projection)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  REQUIRE(queried.size() == 2);
  CHECK(queried[0] == std::vector<cairn::SqlValue>{std::int64_t{-42}, 2.5, std::string(R"({"amount":3})"),
                                                   cairn::SqlBlob{std::string("\0\1\2", 3)}, nullptr});
  CHECK(queried[1] == std::vector<cairn::SqlValue>{std::int64_t{7}, nullptr, nullptr, cairn::SqlBlob{}, nullptr});
  REQUIRE(errors.size() == 4);
  for (const auto& error : errors) {
    INFO(error);
    CHECK(error.starts_with("invalid argument"));
  }
  Db db(fx.model);
  CHECK(db.Int("SELECT count(*) FROM vals") == 2);
  CHECK(db.Int("SELECT count(*) FROM cairn_parked") == 0);
}

TEST_CASE("a handler that ends the batch's transaction fails the projection", "[projections]") {
  ProjectionFixture fx;
  AppendTypes(*fx.store, "misc-1", {"noted.v1"});
  cairn::Projection projection;
  projection.name = "rogue";
  projection.schema = "CREATE TABLE t (x);";
  projection.handlers["noted.v1"] = [](cairn::ReadModelWriter& model, const cairn::EventView&) {
    return model.Execute("COMMIT");
  };
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(std::move(projection)));
  auto run = runner->RunToHead();
  REQUIRE_FALSE(run.has_value());
  CHECK(run.error().message().find("must not begin, commit or roll back") != std::string::npos);
  CHECK(runner->Statuses().at(0).state == cairn::ProjectionState::kFailed);
}

TEST_CASE("two runners cannot advance one projection: the one whose checkpoint moved stops", "[projections]") {
  ProjectionFixture fx;
  AppendMany(*fx.store, "acct-1", "deposited.v1", 10);
  {
    auto runner = fx.Runner();
    CAIRN_REQUIRE_OK(runner->Add(CountersProjection(1)));
    CAIRN_REQUIRE_OK(runner->RunToHead());
  }
  AppendMany(*fx.store, "acct-1", "deposited.v1", 5);
  // After the first runner's first batch, a second runner runs the same projection to the head.
  auto second = fx.Runner();
  CAIRN_REQUIRE_OK(second->Add(CountersProjection(1)));
  cairn::Status second_run;
  bool ran = false;
  auto first = fx.Runner({.max_batch_events = 2, .on_batch = [&](const cairn::ProjectionStatus&) {
                            if (ran) return;
                            ran = true;
                            second_run = second->RunToHead();
                          }});
  CAIRN_REQUIRE_OK(first->Add(CountersProjection(1)));
  auto run = first->RunToHead();
  REQUIRE(ran);
  CAIRN_CHECK_OK(second_run);
  CAIRN_REQUIRE_ERROR(run, cairn::ErrorCode::kBusy);
  CHECK(run.error().message().find("another runner") != std::string::npos);
  Db db(fx.model);
  auto live = ReadLiveCounters(db);
  CHECK(live.position == 15);
  CHECK(live.model == FoldCounters(fx.Log(), 1, 15));
}

}  // namespace
}  // namespace cairn_test
