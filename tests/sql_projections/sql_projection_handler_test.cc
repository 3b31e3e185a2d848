// SQL projection handlers applied to a read model through a minimal
// ReadModelWriter (sql_test_support.h): what each JSON value binds as, paths,
// built-ins, several statements, failures.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cairn/sql_projection.h"
#include "sql_test_support.h"
#include "test_util.h"

namespace {

using cairn::SqlBlob;
using cairn::SqlValue;
using sql_test::MakeEvent;
using sql_test::Parse;
using sql_test::RequireApplied;
using sql_test::TestWriter;

using Row = std::vector<SqlValue>;
using Rows = std::vector<Row>;

SqlValue Text(std::string text) { return SqlValue(std::move(text)); }
SqlValue Int(std::int64_t value) { return SqlValue(value); }
const SqlValue kNull = SqlValue(nullptr);

// A projection that stores (name, value, typeof(value)) for each param: the
// value column has no type, so it keeps exactly what was bound.
cairn::Projection ValuesProjection(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string values;
  std::string table;
  for (const auto& [name, source] : params) {
    if (!values.empty()) values += ", ";
    values += "('" + name + "', :" + name + ", typeof(:" + name + "))";
    table += name + " = '" + source + "'\n";
  }
  return Parse(
      "[projection]\nname = \"values\"\nversion = 1\n"
      "[schema]\nsql = \"CREATE TABLE v (name TEXT PRIMARY KEY, value, type TEXT)\"\n"
      "[on.e]\nsql = \"INSERT INTO v (name, value, type) VALUES " +
      values + "\"\n[on.e.params]\n" + table);
}

// name -> (value, type) after applying `event` to ValuesProjection(params).
std::map<std::string, std::pair<SqlValue, std::string>> Bind(
    const std::vector<std::pair<std::string, std::string>>& params, const cairn::RecordedEvent& event) {
  const cairn::Projection projection = ValuesProjection(params);
  TestWriter writer;
  writer.Create(projection);
  RequireApplied(projection, writer, event);
  std::map<std::string, std::pair<SqlValue, std::string>> bound;
  for (const Row& row : writer.Rows("SELECT name, value, type FROM v")) {
    bound[std::get<std::string>(row[0])] = {row[1], std::get<std::string>(row[2])};
  }
  REQUIRE(bound.size() == params.size());
  return bound;
}

}  // namespace

TEST_CASE("the example projection builds customer totals") {
  auto loaded = cairn::LoadSqlProjection(CAIRN_EXAMPLE_PROJECTIONS_DIR "/customer_totals.toml");
  INFO(cairn_test::Describe(loaded));
  REQUIRE(loaded.has_value());
  const cairn::Projection& projection = *loaded;
  TestWriter writer;
  writer.Create(projection);
  RequireApplied(projection, writer,
                 MakeEvent(1, "order-42", 0, "order.placed.v1",
                           R"x({"customer":"c-7","items":[{"sku":"tea","qty":2}],"total":18.5})x",
                           R"x({"correlation_id":"req-1","actor":"alice"})x"));
  RequireApplied(projection, writer,
                 MakeEvent(3, "order-43", 0, "order.placed.v1", R"x({"customer":"c-9","total":7})x"));
  RequireApplied(projection, writer,
                 MakeEvent(5, "order-44", 0, "order.placed.v1",
                           R"x({"customer":"c-7","items":[{"sku":"a"},{"sku":"b"}],"total":1500})x"));
  RequireApplied(projection, writer,
                 MakeEvent(6, "order-42", 2, "order.cancelled.v1", R"x({"reason":"changed mind"})x"));
  // A second cancellation of the same order changes nothing.
  RequireApplied(projection, writer, MakeEvent(7, "order-42", 3, "order.cancelled.v1", "{}"));

  CHECK(writer.Rows("SELECT customer, orders, total FROM customer_totals ORDER BY customer") ==
        Rows{{Text("c-7"), Int(1), Int(1500)}, {Text("c-9"), Int(1), Int(7)}});
  CHECK(writer.Rows("SELECT stream, customer, items, placed_at, correlation_id, cancelled_at, cancel_reason "
                    "FROM orders ORDER BY stream") ==
        Rows{{Text("order-42"), Text("c-7"), Int(1), Text("2024-05-01T12:34:56.123456Z"), Text("req-1"),
              Text("2024-05-01T12:34:56.123456Z"), Text("changed mind")},
             {Text("order-43"), Text("c-9"), Int(0), Text("2024-05-01T12:34:56.123456Z"), kNull, kNull, kNull},
             {Text("order-44"), Text("c-7"), Int(2), Text("2024-05-01T12:34:56.123456Z"), kNull, kNull, kNull}});
  CHECK(writer.Value("SELECT total FROM orders WHERE stream = 'order-42'") == SqlValue(18.5));
}

TEST_CASE("JSON values bind by type, integers are exact over the whole int64 range") {
  const auto event = MakeEvent(1, "s-1", 0, "e", R"x({
    "max": 9223372036854775807, "min": -9223372036854775808, "above_double": 9007199254740993,
    "zero": 0, "negative": -42,
    "fraction": 0.1, "exponent": 1e3, "one_point_zero": 1.0, "too_big": 18446744073709551615,
    "yes": true, "no": false, "nothing": null,
    "text": "Zoë \"quoted\" \u00e9\n", "empty": "",
    "object": { "b" : [1, 2, {"c": "d"}], "n": null },
    "array": [ 1, "x", 2.5, true ]
  })x");
  const auto bound = Bind({{"max", "data.max"},
                           {"min", "data.min"},
                           {"above_double", "data.above_double"},
                           {"zero", "data.zero"},
                           {"negative", "data.negative"},
                           {"fraction", "data.fraction"},
                           {"exponent", "data.exponent"},
                           {"one_point_zero", "data.one_point_zero"},
                           {"too_big", "data.too_big"},
                           {"yes", "data.yes"},
                           {"no", "data.no"},
                           {"nothing", "data.nothing"},
                           {"text", "data.text"},
                           {"empty", "data.empty"},
                           {"object", "data.object"},
                           {"array", "data.array"},
                           {"whole", "data"}},
                          event);
  using Pair = std::pair<SqlValue, std::string>;
  CHECK(bound.at("max") == Pair{Int(INT64_MAX), "integer"});
  CHECK(bound.at("min") == Pair{Int(INT64_MIN), "integer"});
  CHECK(bound.at("above_double") == Pair{Int(9007199254740993), "integer"});  // 2^53 + 1: no double on the way
  CHECK(bound.at("zero") == Pair{Int(0), "integer"});
  CHECK(bound.at("negative") == Pair{Int(-42), "integer"});
  CHECK(bound.at("fraction") == Pair{SqlValue(0.1), "real"});
  CHECK(bound.at("exponent") == Pair{SqlValue(1000.0), "real"});
  CHECK(bound.at("one_point_zero") == Pair{SqlValue(1.0), "real"});
  CHECK(bound.at("too_big") == Pair{SqlValue(18446744073709551615.0), "real"});
  CHECK(bound.at("yes") == Pair{Int(1), "integer"});
  CHECK(bound.at("no") == Pair{Int(0), "integer"});
  CHECK(bound.at("nothing") == Pair{kNull, "null"});
  CHECK(bound.at("text") == Pair{Text("Zo\xC3\xAB \"quoted\" \xC3\xA9\n"), "text"});
  CHECK(bound.at("empty") == Pair{Text(""), "text"});
  CHECK(bound.at("object") == Pair{Text(R"x({"b":[1,2,{"c":"d"}],"n":null})x"), "text"});
  CHECK(bound.at("array") == Pair{Text(R"x([1,"x",2.5,true])x"), "text"});
  const auto& whole = std::get<std::string>(bound.at("whole").first);
  CHECK(whole.starts_with(R"x({"max":9223372036854775807,"min":-9223372036854775808,)x"));
  CHECK(whole.ends_with(R"x("array":[1,"x",2.5,true]})x"));
  CHECK(whole.find('\n') == std::string::npos);  // compact: no whitespace between tokens
}

TEST_CASE("paths: nested keys, array indexes, quoted keys, a path that leads nowhere is NULL") {
  const auto event = MakeEvent(1, "s-1", 0, "e", R"x({
    "a": {"b": {"c": "deep"}},
    "items": [{"price": 10}, {"price": 25, "tags": ["x", "y"]}],
    "a.b": "dotted key", "say \"hi\"": "quoted key", "dash-key": 3,
    "matrix": [[1, 2], [3, 4]],
    "dup": 1, "dup": 2
  })x");
  const auto bound = Bind({{"deep", "data.a.b.c"},
                           {"price1", "data.items[1].price"},
                           {"tag", "data.items[1].tags[1]"},
                           {"cell", "data.matrix[1][0]"},
                           {"dotted", "data[\"a.b\"]"},
                           {"quoted", "data[\"say \\\"hi\\\"\"]"},
                           {"dash", "data.dash-key"},
                           {"dup", "data.dup"},
                           {"sub", "data.a.b"},
                           {"missing", "data.nope"},
                           {"missing_deep", "data.a.nope.c"},
                           {"past_end", "data.items[2].price"},
                           {"index_on_object", "data.a[0]"},
                           {"key_on_array", "data.items.price"},
                           {"key_on_string", "data.a.b.c.d"}},
                          event);
  CHECK(bound.at("deep").first == Text("deep"));
  CHECK(bound.at("price1").first == Int(25));
  CHECK(bound.at("tag").first == Text("y"));
  CHECK(bound.at("cell").first == Int(3));
  CHECK(bound.at("dotted").first == Text("dotted key"));
  CHECK(bound.at("quoted").first == Text("quoted key"));
  CHECK(bound.at("dash").first == Int(3));
  CHECK(bound.at("dup").first == Int(1));  // the first of duplicate keys
  CHECK(bound.at("sub").first == Text(R"x({"c":"deep"})x"));
  for (const char* name : {"missing", "missing_deep", "past_end", "index_on_object", "key_on_array",
                           "key_on_string"}) {
    INFO(name);
    CHECK(bound.at(name) == std::pair<SqlValue, std::string>{kNull, "null"});
  }
}

TEST_CASE("metadata paths, and events without metadata") {
  const std::vector<std::pair<std::string, std::string>> params{
      {"correlation", "metadata.correlation_id"}, {"actor", "metadata.actor.name"}, {"all", "metadata"}};
  const auto with = Bind(params, MakeEvent(1, "s-1", 0, "e", "{}",
                                           R"x({"correlation_id": "req-1", "actor": {"name": "alice"}})x"));
  CHECK(with.at("correlation").first == Text("req-1"));
  CHECK(with.at("actor").first == Text("alice"));
  CHECK(with.at("all").first == Text(R"x({"correlation_id":"req-1","actor":{"name":"alice"}})x"));
  const auto without = Bind(params, MakeEvent(1, "s-1", 0, "e", "{}"));
  CHECK(without.at("correlation").first == kNull);
  CHECK(without.at("actor").first == kNull);
  CHECK(without.at("all").first == kNull);
}

TEST_CASE("data that is not JSON: the whole data binds as a BLOB, a path into it as NULL") {
  const std::string bytes("\x00\x01\xFFraw", 6);
  const auto bound = Bind({{"whole", "data"}, {"field", "data.x"}, {"meta", "metadata.m"}},
                          MakeEvent(1, "s-1", 0, "e", bytes, R"x({"m": 5})x", std::string(cairn::kContentTypeOctets)));
  CHECK(bound.at("whole") == std::pair<SqlValue, std::string>{SqlValue(SqlBlob{bytes}), "blob"});
  CHECK(bound.at("field").first == kNull);
  CHECK(bound.at("meta").first == Int(5));
  // A "+json" content type is JSON.
  const auto json = Bind({{"field", "data.x"}},
                         MakeEvent(1, "s-1", 0, "e", R"x({"x": 1})x", "", "application/vnd.acme+json"));
  CHECK(json.at("field").first == Int(1));
}

TEST_CASE("built-in parameters") {
  cairn::Projection projection = Parse(R"x([projection]
name = "builtins"
version = 1
[schema]
sql = '''CREATE TABLE b (stream, revision, position, recorded_at, recorded_at_us, type, event_id, category,
                         content_type, alias)'''
[on."thing.happened.v2"]
sql = '''
INSERT INTO b VALUES (:stream, :revision, :position, :recorded_at, :recorded_at_us, :type, :event_id,
                      :category, :content_type, :alias)
'''
params = { alias = "position" }
)x");
  TestWriter writer;
  writer.Create(projection);
  auto event = MakeEvent(9007199254740993, "thing-7-a", 12, "thing.happened.v2", "{}");
  RequireApplied(projection, writer, event);
  event.recorded_at_us = -1'500'000;  // before the epoch: 1969-12-31T23:59:58.500000Z
  event.stream = "nodash";
  RequireApplied(projection, writer, event);
  CHECK(writer.Rows("SELECT * FROM b") ==
        Rows{{Text("thing-7-a"), Int(12), Int(9007199254740993), Text("2024-05-01T12:34:56.123456Z"),
              Int(sql_test::kRecordedAtUs), Text("thing.happened.v2"), Text("0190a5c8-7e1c-7a3b-9f00-0123456789ab"),
              Text("thing"), Text("application/json"), Int(9007199254740993)},
             {Text("nodash"), Int(12), Int(9007199254740993), Text("1969-12-31T23:59:58.500000Z"), Int(-1'500'000),
              Text("thing.happened.v2"), Text("0190a5c8-7e1c-7a3b-9f00-0123456789ab"), Text("nodash"),
              Text("application/json"), Int(9007199254740993)}});
}

TEST_CASE("several statements run in order, :name, @name and $name bind the same param") {
  cairn::Projection projection = Parse(R"x([projection]
name = "multi"
version = 1
[schema]
sql = '''
CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE log (seq INTEGER PRIMARY KEY, name TEXT, n INTEGER, note TEXT);
'''
[on.bump]
sql = [
  "INSERT INTO counters VALUES (:name, 0) ON CONFLICT (name) DO NOTHING",
  "UPDATE counters SET n = n + @by WHERE name = $name",
  # sees the update before it
  "INSERT INTO log (name, n, note) SELECT name, n, :note FROM counters WHERE name = :name",
  # a statement that returns rows is stepped to its end
  "SELECT * FROM counters",
  "UPDATE log SET note = upper(note) WHERE seq = (SELECT max(seq) FROM log) RETURNING seq, note",
]
params = { name = "data.name", by = "data.by", note = "data.note" }
)x");
  TestWriter writer;
  writer.Create(projection);
  RequireApplied(projection, writer, MakeEvent(1, "c-1", 0, "bump", R"x({"name":"a","by":2,"note":"first"})x"));
  RequireApplied(projection, writer, MakeEvent(2, "c-1", 1, "bump", R"x({"name":"a","by":3})x"));
  RequireApplied(projection, writer, MakeEvent(3, "c-1", 2, "bump", R"x({"name":"b","by":-1,"note":"x"})x"));
  CHECK(writer.Rows("SELECT name, n FROM counters ORDER BY name") ==
        Rows{{Text("a"), Int(5)}, {Text("b"), Int(-1)}});
  CHECK(writer.Rows("SELECT name, n, note FROM log ORDER BY seq") ==
        Rows{{Text("a"), Int(2), Text("FIRST")}, {Text("a"), Int(5), kNull}, {Text("b"), Int(-1), Text("X")}});
  // Statements are prepared once through the writer's cache, not once per event.
  CHECK(writer.prepares() == 5 + 2);  // the five statements, and the test's two queries
}

TEST_CASE("a failing statement names the projection, the event, the statement and SQLite's message") {
  cairn::Projection projection = Parse(R"x([projection]
name = "strict"
version = 1
[schema]
sql = "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)"
[on."item.added.v1"]
sql = [
  "INSERT INTO t (id, n) VALUES (:stream || '-seen', 0) ON CONFLICT (id) DO NOTHING",
  '''
  INSERT INTO t (id, n)
  VALUES (:stream, :n)''',
]
params.n = "data.n"
)x",
                                       "strict.toml");
  TestWriter writer;
  writer.Create(projection);
  RequireApplied(projection, writer, MakeEvent(1, "item-1", 0, "item.added.v1", R"x({"n": 1})x"));

  auto duplicate = sql_test::Apply(projection, writer, MakeEvent(2, "item-1", 1, "item.added.v1", R"x({"n": 2})x"));
  REQUIRE_FALSE(duplicate.has_value());
  CHECK(duplicate.error().code() == cairn::ErrorCode::kInvalidArgument);
  CHECK(duplicate.error().message() ==
        "projection strict: item.added.v1 at position 2: statement 2 of 2 (strict.toml:10: INSERT INTO t (id, n) "
        "VALUES (:stream, :n)): UNIQUE constraint failed: t.id");

  auto missing = sql_test::Apply(projection, writer, MakeEvent(3, "item-2", 0, "item.added.v1", R"x({"m": 2})x"));
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message().ends_with("NOT NULL constraint failed: t.n"));

  // A failed statement leaves nothing bound or running: the next event goes through.
  RequireApplied(projection, writer, MakeEvent(4, "item-3", 0, "item.added.v1", R"x({"n": 3})x"));
  CHECK(writer.Rows("SELECT id, n FROM t WHERE id NOT LIKE '%-seen' ORDER BY id") ==
        Rows{{Text("item-1"), Int(1)}, {Text("item-3"), Int(3)}});

  // Data that is not valid JSON (possible from a source other than the store).
  auto bad_json = sql_test::Apply(projection, writer, MakeEvent(5, "item-4", 0, "item.added.v1", R"x({"n": )x"));
  REQUIRE_FALSE(bad_json.has_value());
  CHECK(bad_json.error().message().starts_with(
      "projection strict: item.added.v1 at position 5: the event's data is not valid JSON at byte"));
}

TEST_CASE("a writer whose Prepare fails: the handler passes its error on") {
  cairn::Projection projection = Parse(R"x([projection]
name = "p"
version = 1
[schema]
sql = "CREATE TABLE t (id TEXT)"
[on.x]
sql = "INSERT INTO t VALUES (:stream)"
)x");
  TestWriter writer;  // without the schema: the table does not exist
  auto applied = sql_test::Apply(projection, writer, MakeEvent(1, "s", 0, "x", "{}"));
  REQUIRE_FALSE(applied.has_value());
  CHECK(applied.error().message() ==
        "projection p: x at position 1: statement 1 of 1 (test.toml:7: INSERT INTO t VALUES (:stream)): no such "
        "table: t");
}

TEST_CASE("handlers are independent of the text they were parsed from") {
  std::string text = R"x([projection]
name = "p"
version = 1
[schema]
sql = "CREATE TABLE t (id TEXT, v)"
[on.x]
sql = "INSERT INTO t VALUES (:stream, :v)"
params.v = "data.v"
)x";
  cairn::Projection projection = Parse(text);
  std::fill(text.begin(), text.end(), '#');
  text.clear();
  text.shrink_to_fit();
  const cairn::Projection copy = projection;  // handlers are copyable and share nothing mutable
  TestWriter writer;
  writer.Create(copy);
  RequireApplied(copy, writer, MakeEvent(1, "s", 0, "x", R"x({"v": [1, {"k": "v"}]})x"));
  CHECK(writer.Value("SELECT v FROM t") == Text(R"x([1,{"k":"v"}])x"));
}
