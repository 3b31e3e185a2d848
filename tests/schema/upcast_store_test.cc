// Upcasting on the backend under test: the aggregate repository folds
// mixed-version streams (with and without snapshots), C++ and SQL projections
// see the newest types, and an old store is read by new code without a rewrite:
// the log, its positions, ids and hashes, and `Verify` are unchanged.
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/snapshot.h"
#include "cairn/sql_projection.h"
#include "cairn/upcast.h"
#include "conformance.h"
#include "projection_test.h"

namespace {

using cairn::EventView;
using cairn_test::Json;
using cairn_test::TestStore;

// order.placed v1 -> v2 (amount is now total, with a currency) -> v3 (the customer moves under buyer).
constexpr std::string_view kOrders = R"({"upcasters": [
  {"type": "order.placed", "from": 1, "steps": [
    {"rename": {"from": "amount", "to": "total"}},
    {"add": {"field": "currency", "default": "EUR"}}]},
  {"type": "order.placed", "from": 2, "steps": [
    {"move": {"from": "customer", "to": "buyer.id"}}]}
]})";

std::shared_ptr<const cairn::Upcasters> Orders() {
  auto parsed = cairn::ParseUpcasters(kOrders, "orders.json");
  CAIRN_REQUIRE_OK(parsed);
  return std::make_shared<const cairn::Upcasters>(std::move(*parsed));
}

// One event of each version, and what each reads as once upcast to v3.
const std::vector<cairn::EventData>& MixedEvents() {
  static const std::vector<cairn::EventData> events{
      Json("order.placed.v1", R"({"amount":5,"customer":"c-1"})"),
      Json("order.placed", R"({"amount":6,"customer":"c-2"})"),
      Json("order.placed.v2", R"({"total":7,"currency":"USD","customer":"c-3"})"),
      Json("order.placed.v3", R"({"total":8,"currency":"USD","buyer":{"id":"c-4"}})"),
  };
  return events;
}
const std::vector<std::string>& MixedAsV3() {
  static const std::vector<std::string> data{
      R"({"total":5,"currency":"EUR","buyer":{"id":"c-1"}})",
      R"({"total":6,"currency":"EUR","buyer":{"id":"c-2"}})",
      R"({"total":7,"currency":"USD","buyer":{"id":"c-3"}})",
      R"({"total":8,"currency":"USD","buyer":{"id":"c-4"}})",
  };
  return data;
}

// An aggregate that keeps "type data" of every event it folds.
struct OrderHistory {
  using State = std::vector<std::string>;
  static constexpr std::uint32_t kSchemaVersion = 1;
  static State Initial() { return {}; }
  static void Apply(State& state, const EventView& event) {
    state.push_back(std::string(event.type) + " " + std::string(event.data));
  }
  static std::string Encode(const State& state) {
    std::string out;
    for (const std::string& line : state) out += line + "\n";
    return out;
  }
  static std::optional<State> Decode(std::string_view bytes) {
    State state;
    while (!bytes.empty()) {
      const std::size_t end = bytes.find('\n');
      if (end == std::string_view::npos) return std::nullopt;
      state.emplace_back(bytes.substr(0, end));
      bytes.remove_prefix(end + 1);
    }
    return state;
  }
};

std::vector<std::string> ExpectedHistory(std::size_t rounds) {
  std::vector<std::string> history;
  for (std::size_t i = 0; i < rounds; ++i) {
    for (const std::string& data : MixedAsV3()) history.push_back("order.placed.v3 " + data);
  }
  return history;
}

void WriteFile(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

}  // namespace

TEST_CASE("the repository folds a mixed-version stream as the newest version", "[upcast]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", cairn::ExpectedRevision::NoStream(), MixedEvents()));

  cairn::Repository<OrderHistory> plain(*store);
  auto as_stored = plain.Load("order-1");
  CAIRN_REQUIRE_OK(as_stored);
  CHECK(as_stored->state.front() == R"(order.placed.v1 {"amount":5,"customer":"c-1"})");

  cairn::Repository<OrderHistory> orders(*store, cairn::SnapshotPolicy::Never(), {.upcasters = Orders()});
  auto loaded = orders.Load("order-1");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->state == ExpectedHistory(1));
  CHECK(loaded->revision == 3u);

  // Save folds the appended events (read back from the log) through the upcasters too.
  CAIRN_REQUIRE_OK(orders.Save(*loaded, MixedEvents()));
  CHECK(loaded->state == ExpectedHistory(2));
  auto again = orders.Load("order-1");
  CAIRN_REQUIRE_OK(again);
  CHECK(again->state == ExpectedHistory(2));
}

TEST_CASE("the repository upcasts the tail after a snapshot", "[upcast]") {
  TestStore store;
  cairn::Repository<OrderHistory> orders(*store, cairn::SnapshotPolicy::EveryEvents(4, 0), {.upcasters = Orders()});
  auto loaded = orders.Load("order-2");
  CAIRN_REQUIRE_OK(loaded);
  CAIRN_REQUIRE_OK(orders.Save(*loaded, MixedEvents()));  // crosses 4: a snapshot at revision 3
  orders.Flush();
  REQUIRE(orders.counters().snapshots_written == 1);
  CAIRN_REQUIRE_OK(store->Append("order-2", cairn::ExpectedRevision::Exact(3), {MixedEvents()[0], MixedEvents()[2]}));

  auto fresh = orders.Load("order-2");
  CAIRN_REQUIRE_OK(fresh);
  CHECK(fresh->snapshot_revision == 3u);
  CHECK(fresh->events_folded == 2);
  std::vector<std::string> expected = ExpectedHistory(1);
  expected.push_back("order.placed.v3 " + MixedAsV3()[0]);
  expected.push_back("order.placed.v3 " + MixedAsV3()[2]);
  CHECK(fresh->state == expected);
}

TEST_CASE("a failing upcaster fails the load with the event's position, type and step", "[upcast]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-3", cairn::ExpectedRevision::NoStream(),
                                 {Json("order.placed.v1", R"({"amount":1,"total":1})")}));
  cairn::Repository<OrderHistory> orders(*store, cairn::SnapshotPolicy::Never(), {.upcasters = Orders()});
  auto loaded = orders.Load("order-3");
  REQUIRE_FALSE(loaded.has_value());
  CHECK(loaded.error().code() == cairn::ErrorCode::kInvalidArgument);
  CHECK(loaded.error().message() ==
        "cannot load stream \"order-3\": position 1 (order.placed.v1): upcaster from order.placed.v1 to "
        "order.placed.v2 (orders.json:2): step 1 (rename amount to total, orders.json:3): the data already has a "
        "field total");
}

TEST_CASE("a C++ projection with upcasters sees only the newest type", "[upcast]") {
  cairn_test::ProjectionFixture fx;
  CAIRN_REQUIRE_OK(fx.store->Append("order-1", cairn::ExpectedRevision::NoStream(), MixedEvents()));
  CAIRN_REQUIRE_OK(fx.store->Append("invoice-1", cairn::ExpectedRevision::NoStream(),
                                    {Json("order.placed.v1", R"({"amount":99})")}));  // another category
  const std::vector<cairn::RecordedEvent> before = fx.Log();

  cairn::Projection projection;
  projection.name = "buyers";
  projection.filter = {.categories = {"order"}, .event_types = {"order.placed.v3"}};
  projection.schema = "CREATE TABLE buyers (position INTEGER PRIMARY KEY, type TEXT, data TEXT)";
  projection.handlers["order.placed.v3"] = [](cairn::ReadModelWriter& model, const EventView& event) {
    return model.Execute("INSERT INTO buyers VALUES (?1, ?2, ?3)",
                         {static_cast<std::int64_t>(event.position), std::string(event.type), std::string(event.data)});
  };
  projection.upcasters = Orders();
  auto runner = fx.Runner();
  cairn::Projection stale = projection;  // a handler of an older version would never run
  stale.name = "stale";
  stale.handlers["order.placed.v2"] = stale.handlers["order.placed.v3"];
  auto refused = runner->Add(std::move(stale));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message() == "projection stale: the handler of order.placed.v2 would never run: its "
                                     "upcasters turn order.placed.v2 into order.placed.v3; handle order.placed.v3 "
                                     "instead");
  CAIRN_REQUIRE_OK(runner->Add(std::move(projection)));
  CAIRN_REQUIRE_OK(runner->RunToHead());

  cairn_test::Db db(fx.model);
  const auto rows = db.Rows("SELECT position, type, data FROM buyers ORDER BY position");
  REQUIRE(rows.size() == 4);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i] == std::vector<std::string>{std::to_string(i + 1), "order.placed.v3", MixedAsV3()[i]});
  }
  CHECK(db.Int("SELECT position FROM cairn_projections WHERE name = 'buyers'") == 5);
  CHECK(fx.Log() == before);  // the log is as it was
}

TEST_CASE("a C++ projection parks an event whose upcaster fails", "[upcast]") {
  cairn_test::ProjectionFixture fx;
  CAIRN_REQUIRE_OK(fx.store->Append("order-1", cairn::ExpectedRevision::NoStream(),
                                    {Json("order.placed.v1", R"({"amount":1,"total":1})"), MixedEvents()[0]}));
  cairn::Projection projection;
  projection.name = "totals";
  projection.schema = "CREATE TABLE totals (position INTEGER PRIMARY KEY)";
  projection.retry = {.max_attempts = 1};
  projection.handlers["order.placed.v3"] = [](cairn::ReadModelWriter& model, const EventView& event) {
    return model.Execute("INSERT INTO totals VALUES (?1)", {static_cast<std::int64_t>(event.position)});
  };
  projection.upcasters = Orders();
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(std::move(projection)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  cairn_test::Db db(fx.model);
  CHECK(db.Int("SELECT count(*) FROM totals") == 1);
  const auto parked = db.Rows("SELECT position, type, error FROM cairn_parked");
  REQUIRE(parked.size() == 1);
  CHECK(parked[0][0] == "1");
  CHECK(parked[0][1] == "order.placed.v1");  // parked as stored
  CHECK(parked[0][2].find("step 1 (rename amount to total, orders.json:3)") != std::string::npos);
}

TEST_CASE("a SQL projection file names its upcasters, relative to itself", "[upcast]") {
  cairn_test::ProjectionFixture fx;
  CAIRN_REQUIRE_OK(fx.store->Append("order-1", cairn::ExpectedRevision::NoStream(), MixedEvents()));
  const std::string dir = fx.store.dir().path();
  std::filesystem::create_directories(dir + "/projections/upcasters");
  WriteFile(dir + "/projections/upcasters/orders.json", kOrders);
  WriteFile(dir + "/projections/buyer_totals.toml", R"([projection]
name = "buyer_totals"
version = 1
categories = ["order"]
upcasters = "upcasters/orders.json"

[schema]
sql = 'CREATE TABLE buyer_totals (buyer TEXT PRIMARY KEY, currency TEXT, total INTEGER NOT NULL)'

[on."order.placed.v3"]
sql = '''INSERT INTO buyer_totals VALUES (:buyer, :currency, :total)
         ON CONFLICT (buyer) DO UPDATE SET total = total + excluded.total'''
params = { buyer = "data.buyer.id", currency = "data.currency", total = "data.total" }
)");
  auto projection = cairn::LoadSqlProjection(dir + "/projections/buyer_totals.toml");
  CAIRN_REQUIRE_OK(projection);
  REQUIRE(projection->upcasters != nullptr);
  auto runner = fx.Runner();
  CAIRN_REQUIRE_OK(runner->Add(std::move(*projection)));
  CAIRN_REQUIRE_OK(runner->RunToHead());
  cairn_test::Db db(fx.model);
  CHECK(db.Rows("SELECT buyer, currency, total FROM buyer_totals ORDER BY buyer") ==
        std::vector<std::vector<std::string>>{
            {"c-1", "EUR", "5"}, {"c-2", "EUR", "6"}, {"c-3", "USD", "7"}, {"c-4", "USD", "8"}});

  // A handler of a type the upcasters turn into another would never run: a load error with its line.
  WriteFile(dir + "/projections/old.toml", R"([projection]
name = "old"
version = 1
upcasters = "upcasters/orders.json"

[schema]
sql = 'CREATE TABLE old (n INTEGER)'

[on."order.placed.v1"]
sql = 'INSERT INTO old VALUES (1)'
)");
  auto old = cairn::LoadSqlProjection(dir + "/projections/old.toml");
  REQUIRE_FALSE(old.has_value());
  CHECK(old.error().message() == dir + "/projections/old.toml:9: [on.\"order.placed.v1\"]: " + dir +
                                     "/projections/upcasters/orders.json upcasts order.placed.v1 to order.placed.v3, "
                                     "so this handler would never run; handle order.placed.v3 instead");
  // A bad upcaster file is the projection file's error at the key's line, with the upcaster file's own FILE:LINE.
  WriteFile(dir + "/projections/upcasters/bad.json", "{\"upcasters\": [\n  {\"type\": \"a\"}\n]}");
  WriteFile(dir + "/projections/bad.toml", "[projection]\nname = \"bad\"\nversion = 1\nupcasters = \"upcasters/bad.json\"\n");
  auto bad = cairn::LoadSqlProjection(dir + "/projections/bad.toml");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message() == dir + "/projections/bad.toml:4: projection.upcasters: " + dir +
                                     "/projections/upcasters/bad.json:2: the upcaster has no \"from\" (the version it "
                                     "upcasts, e.g. 1)");
}

TEST_CASE("an old store is read as the newest version without a rewrite", "[upcast]") {
  TestStore store;
  for (int i = 0; i < 20; ++i) {
    CAIRN_REQUIRE_OK(store->Append("order-" + std::to_string(i % 3), cairn::ExpectedRevision::Any(),
                                   {Json("order.placed.v1", R"({"amount":)" + std::to_string(i) + R"(,"customer":"c"})"),
                                    Json("order.paid.v1", R"({"amount":1})")}));
  }
  auto verified = store->Verify();
  CAIRN_REQUIRE_OK(verified);
  REQUIRE(verified->ok);
  const std::vector<cairn::RecordedEvent> before = cairn_test::ReadLogAll(*store);

  // New code reads it through the upcasters.
  const auto upcasters = Orders();
  cairn::UpcastedEvent upcast;
  std::vector<cairn::RecordedEvent> read;
  CAIRN_REQUIRE_OK(store->ReadLog({}, [&](const EventView& stored) {
    auto changed = upcasters->Apply(stored, upcast);
    REQUIRE(changed.has_value());
    read.push_back((*changed ? upcast.view() : stored).ToOwned());
    return true;
  }));
  REQUIRE(read.size() == before.size());
  for (std::size_t i = 0; i < read.size(); ++i) {
    CHECK(read[i].position == before[i].position);
    CHECK(read[i].stream == before[i].stream);
    CHECK(read[i].revision == before[i].revision);
    CHECK(read[i].id == before[i].id);
    CHECK(read[i].hash == before[i].hash);
    CHECK(read[i].recorded_at_us == before[i].recorded_at_us);
    if (before[i].type == "order.placed.v1") {
      CHECK(read[i].type == "order.placed.v3");
      CHECK(read[i].data == R"({"total":)" + std::to_string(i / 2) + R"(,"currency":"EUR","buyer":{"id":"c"}})");
    } else {
      CHECK(read[i] == before[i]);
    }
  }

  // And through the repository, after which the store is still byte-for-byte what it was.
  cairn::Repository<OrderHistory> orders(*store, cairn::SnapshotPolicy::WhenFoldedMoreThan(1), {.upcasters = Orders()});
  auto loaded = orders.Load("order-0");
  CAIRN_REQUIRE_OK(loaded);
  CHECK(loaded->state.front().starts_with("order.placed.v3 "));
  orders.Flush();
  CHECK(cairn_test::ReadLogAll(*store) == before);
  auto again = store->Verify();
  CAIRN_REQUIRE_OK(again);
  CHECK(again->ok);
  CHECK(again->head_hash == verified->head_hash);
}
