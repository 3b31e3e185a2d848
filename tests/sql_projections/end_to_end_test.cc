// End to end: events appended to a store, the example SQL projection loaded
// from its file, the runner building the read model, rows read back — on
// both backends. Then a version bump rebuilds the model.
#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cairn/projection.h"
#include "cairn/sql_projection.h"
#include "cairn/store.h"
#include "sql_test_support.h"
#include "test_util.h"

namespace {

using cairn::SqlValue;
using Rows = std::vector<std::vector<SqlValue>>;

constexpr const char* kExample = CAIRN_EXAMPLE_PROJECTIONS_DIR "/customer_totals.toml";

void Append(cairn::EventStore& store, const std::string& stream, std::string type, std::string data,
            std::string metadata = "") {
  std::vector<cairn::EventData> events{
      {.type = std::move(type), .data = std::move(data), .metadata = std::move(metadata)}};
  CAIRN_REQUIRE_OK(store.Append(stream, cairn::ExpectedRevision::Any(), events));
}

// The rows of `sql` in the read model at `path`, opened read-only beside the runner.
Rows ReadModelRows(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
  REQUIRE(rc == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  INFO(sql);
  REQUIRE(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  Rows rows;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    auto& row = rows.emplace_back();
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER: row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c))); break;
        case SQLITE_FLOAT: row.emplace_back(sqlite3_column_double(stmt, c)); break;
        case SQLITE_TEXT:
          row.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c))));
          break;
        default: row.emplace_back(nullptr);
      }
    }
  }
  sqlite3_finalize(stmt);
  return rows;
}

}  // namespace

TEST_CASE("end to end: store, SQL projection file, runner, read model") {
  const auto backend = GENERATE(cairn::BackendKind::kSqlite, cairn::BackendKind::kLmdb);
  INFO("backend " << static_cast<int>(backend));
  cairn_test::TempDir dir;
  const std::string model = dir.File("read-model.db");
  auto store = cairn::EventStore::Open(dir.File("events"), {.backend = backend, .create_if_missing = true});
  CAIRN_REQUIRE_OK(store);
  cairn::EventStore& events = **store;

  Append(events, "order-42", "order.placed.v1", R"({"customer":"c-7","items":[{"sku":"tea","qty":2}],"total":18.5})",
         R"({"correlation_id":"req-1"})");
  Append(events, "order-42", "order.paid.v1", R"({"amount":18.5})");  // no handler: not applied
  Append(events, "customer-c-7", "customer.registered.v1", R"({"name":"Ada"})");  // another category
  Append(events, "order-43", "order.placed.v1", R"({"customer":"c-9","total":9007199254740993})");
  Append(events, "order-44", "order.placed.v1", R"({"customer":"c-7","items":[],"total":5})");
  Append(events, "order-42", "order.cancelled.v1", R"({"reason":"changed mind"})");
  Append(events, "order-45", "order.placed.v1", R"({"total":1})");  // no customer: NOT NULL fails, parked
  Append(events, "order-46", "order.placed.v1", R"({"customer":"c-9","total":1})");

  {
    auto projection = cairn::LoadSqlProjection(kExample);
    CAIRN_REQUIRE_OK(projection);
    projection->retry.initial_backoff = std::chrono::milliseconds(1);
    auto runner = cairn::ProjectionRunner::Open(cairn::StoreSource(events), model);
    CAIRN_REQUIRE_OK(runner);
    CAIRN_REQUIRE_OK((*runner)->Add(std::move(*projection)));
    CAIRN_REQUIRE_OK((*runner)->RunToHead());
    const auto statuses = (*runner)->Statuses();
    REQUIRE(statuses.size() == 1);
    CHECK(statuses[0].name == "customer_totals");
    CHECK(statuses[0].version == 1);
    CHECK(statuses[0].position == 8);
    CHECK(statuses[0].parked == 1);
  }

  // Integers stay exact end to end; the cancelled order is out of c-7's totals.
  CHECK(ReadModelRows(model, "SELECT customer, orders, total FROM customer_totals ORDER BY customer") ==
        Rows{{SqlValue("c-7"), SqlValue(std::int64_t{1}), SqlValue(std::int64_t{5})},
             {SqlValue("c-9"), SqlValue(std::int64_t{2}), SqlValue(std::int64_t{9007199254740994})}});
  CHECK(ReadModelRows(model, "SELECT stream, items, correlation_id, cancel_reason FROM orders ORDER BY stream") ==
        Rows{{SqlValue("order-42"), SqlValue(std::int64_t{1}), SqlValue("req-1"), SqlValue("changed mind")},
             {SqlValue("order-43"), SqlValue(std::int64_t{0}), SqlValue(nullptr), SqlValue(nullptr)},
             {SqlValue("order-44"), SqlValue(std::int64_t{0}), SqlValue(nullptr), SqlValue(nullptr)},
             {SqlValue("order-46"), SqlValue(std::int64_t{0}), SqlValue(nullptr), SqlValue(nullptr)}});

  auto parked = cairn::ListParkedEvents(model);
  CAIRN_REQUIRE_OK(parked);
  REQUIRE(parked->size() == 1);
  CHECK((*parked)[0].stream == "order-45");
  CHECK((*parked)[0].position == 7);
  CHECK((*parked)[0].attempts == 3);
  INFO("parked error: " << (*parked)[0].error);
  CHECK((*parked)[0].error.find("projection customer_totals: order.placed.v1 at position 7: statement 1 of 2 (" +
                                std::string(kExample) + ":") != std::string::npos);
  CHECK((*parked)[0].error.find("NOT NULL constraint failed: orders.customer") != std::string::npos);

  // Version 2, loaded from text: the model is rebuilt from the start of the log.
  std::string text = cairn_test::ReadFileBytes(kExample);
  text.replace(text.find("version = 1"), 11, "version = 2");
  Append(events, "order-47", "order.placed.v1", R"({"customer":"c-8","total":3})");
  {
    auto projection = cairn::ParseSqlProjection(text, "customer_totals.v2.toml");
    CAIRN_REQUIRE_OK(projection);
    projection->retry.initial_backoff = std::chrono::milliseconds(1);
    auto runner = cairn::ProjectionRunner::Open(cairn::StoreSource(events), model);
    CAIRN_REQUIRE_OK(runner);
    CAIRN_REQUIRE_OK((*runner)->Add(std::move(*projection)));
    CAIRN_REQUIRE_OK((*runner)->RunToHead());
    const auto statuses = (*runner)->Statuses();
    REQUIRE(statuses.size() == 1);
    CHECK(statuses[0].version == 2);
    CHECK(statuses[0].position == 9);
  }
  CHECK(ReadModelRows(model, "SELECT customer, orders, total FROM customer_totals ORDER BY customer") ==
        Rows{{SqlValue("c-7"), SqlValue(std::int64_t{1}), SqlValue(std::int64_t{5})},
             {SqlValue("c-8"), SqlValue(std::int64_t{1}), SqlValue(std::int64_t{3})},
             {SqlValue("c-9"), SqlValue(std::int64_t{2}), SqlValue(std::int64_t{9007199254740994})}});
}
