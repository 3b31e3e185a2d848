// SQL projection files: what a valid file becomes, and every kind of invalid
// file rejected with "FILE:LINE: message".
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "cairn/sql_projection.h"
#include "sql_test_support.h"
#include "test_util.h"

namespace {

using sql_test::Parse;

// Lines 1-8; what is appended starts at line 9.
constexpr std::string_view kHead = R"x([projection]
name = "p"
version = 1

[schema]
sql = '''
CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, v);
'''
)x";

std::string WithHead(std::string_view rest) { return std::string(kHead) + std::string(rest); }

// Requires `text` to be rejected (kInvalidArgument) at `line` with a message containing `part`.
void RequireError(std::string_view text, int line, std::string_view part) {
  auto projection = cairn::ParseSqlProjection(text, "bad.toml");
  REQUIRE_FALSE(projection.has_value());
  const std::string& message = projection.error().message();
  INFO("message: " << message);
  CHECK(projection.error().code() == cairn::ErrorCode::kInvalidArgument);
  CHECK(message.starts_with("bad.toml:" + std::to_string(line) + ": "));
  CHECK(message.find(part) != std::string::npos);
}

}  // namespace

TEST_CASE("the example file loads") {
  auto projection = cairn::LoadSqlProjection(CAIRN_EXAMPLE_PROJECTIONS_DIR "/customer_totals.toml");
  INFO(cairn_test::Describe(projection));
  REQUIRE(projection.has_value());
  CHECK(projection->name == "customer_totals");
  CHECK(projection->version == 1);
  CHECK(projection->filter.categories == std::vector<std::string>{"order"});
  CHECK(projection->filter.event_types == std::vector<std::string>{"order.placed.v1", "order.cancelled.v1"});
  CHECK(projection->on_failure == cairn::OnHandlerFailure::kPark);
  CHECK(projection->retry.max_attempts == 3);
  CHECK(projection->schema.find("CREATE TABLE customer_totals") != std::string::npos);
  CHECK(projection->handlers.size() == 2);
  CHECK(projection->handlers.contains("order.placed.v1"));
  CHECK(projection->handlers.contains("order.cancelled.v1"));
}

TEST_CASE("the documentation shows the example file as it is") {
  const std::string example = cairn_test::ReadFileBytes(CAIRN_EXAMPLE_PROJECTIONS_DIR "/customer_totals.toml");
  const std::string docs = cairn_test::ReadFileBytes(CAIRN_DOCS_DIR "/sql-projections.md");
  REQUIRE_FALSE(example.empty());
  CHECK(docs.find("```toml\n" + example + "```\n") != std::string::npos);
}

TEST_CASE("a minimal file takes the defaults") {
  const cairn::Projection projection = Parse(WithHead(R"x([on.created]
sql = "INSERT INTO t (id) VALUES (:stream)"
)x"));
  CHECK(projection.name == "p");
  CHECK(projection.filter.categories.empty());
  CHECK(projection.filter.event_types == std::vector<std::string>{"created"});
  CHECK(projection.on_failure == cairn::OnHandlerFailure::kPark);
  const cairn::RetryPolicy defaults;
  CHECK(projection.retry.max_attempts == defaults.max_attempts);
  CHECK(projection.retry.initial_backoff == defaults.initial_backoff);
  CHECK(projection.retry.max_backoff == defaults.max_backoff);
  CHECK(projection.schema == "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, v);\n");
}

TEST_CASE("every [projection] key, and params written three ways") {
  const cairn::Projection projection = Parse(R"x(
[projection]
name = "all_keys_2"
version = 4_000_000_000
categories = ["order", "customer"]
on_failure = "stop"
max_attempts = 7
initial_backoff_ms = 0
max_backoff_ms = 250

[schema]
sql = "CREATE TABLE t (id TEXT, n INTEGER)"

[on."a.v1"]
sql = "INSERT INTO t VALUES (:id, :n)"
params = { id = "data.id", n = 'data.n' }

[on."b.v1"]
sql = ["INSERT INTO t VALUES (:id, 1)", "INSERT INTO t VALUES (:id, 2)"]
params.id = "data.id"

[on."c.v1"]
sql = "INSERT INTO t VALUES (:id, :n)"
[on."c.v1".params]
id = "stream"        # a built-in under another name
n = "metadata.n"

[on."$stream.deleted"]
sql = "DELETE FROM t WHERE id = :stream"
)x");
  CHECK(projection.name == "all_keys_2");
  CHECK(projection.version == 4'000'000'000u);
  CHECK(projection.filter.categories == std::vector<std::string>{"order", "customer"});
  CHECK(projection.filter.event_types == std::vector<std::string>{"a.v1", "b.v1", "c.v1", "$stream.deleted"});
  CHECK(projection.on_failure == cairn::OnHandlerFailure::kStop);
  CHECK(projection.retry.max_attempts == 7);
  CHECK(projection.retry.initial_backoff == std::chrono::milliseconds(0));
  CHECK(projection.retry.max_backoff == std::chrono::milliseconds(250));
  CHECK(projection.handlers.size() == 4);
}

TEST_CASE("the file's syntax errors come with their line") {
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:stream)\n"), 10, "unterminated string");
  RequireError(WithHead("[on.x]\nsql = \"a\"\nsql = \"b\"\n"), 11, "duplicate key on.x.sql (first defined at line 10)");
  RequireError(WithHead("[on.x]\nsql = \"a\"\n[on.x]\n"), 11, "duplicate table [on.x]");
  RequireError(WithHead("[on.x]\nsql = 1.5\n"), 10, "floating-point");
  RequireError("[projection]\nname = \"p\"\nname = \"q\"\n", 3, "duplicate key projection.name");
}

TEST_CASE("unknown keys are errors") {
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\n[extra]\n"), 11,
               "unknown key extra");
  RequireError("[projection]\nname = \"p\"\nversion = 1\ndescription = \"x\"\n", 4,
               "unknown key projection.description (expected name, version");
  RequireError("[projection]\nname = \"p\"\nversion = 1\n[schema]\nsql = 'CREATE TABLE t (x)'\nscript = 'x'\n", 6,
               "unknown key schema.script (expected sql)");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\nparam = { a = 'data.a' }\n"), 11,
               "unknown key on.x.param (expected sql and params)");
  // An unquoted dotted event type nests tables; the message says to quote it.
  RequireError(WithHead("[on.order.placed.v1]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\n"), 9,
               "must be quoted: [on.\"order.placed");
  RequireError("top = 1\n", 1, "unknown key top");
}

TEST_CASE("missing tables and keys") {
  RequireError("", 1, "no [projection] table");
  RequireError("# just a comment\n[schema]\nsql = 'CREATE TABLE t (x)'\n", 1, "no [projection] table");
  RequireError("\n[projection]\nversion = 1\n", 2, "[projection] has no name");
  RequireError("[projection]\nname = \"p\"\n", 1, "[projection] has no version");
  RequireError("[projection]\nname = \"p\"\nversion = 1\n", 1, "no [schema] table");
  RequireError("[projection]\nname = \"p\"\nversion = 1\n[schema]\n", 4, "[schema] has no sql");
  RequireError(std::string(kHead), 1, "no [on.\"EVENT TYPE\"] table");
  RequireError(WithHead("[on]\n"), 9, "no [on.\"EVENT TYPE\"] table");
  RequireError(WithHead("\n[on.x]\nparams = { a = 'data.a' }\n"), 10, "[on.x] has no sql");
}

TEST_CASE("values of the wrong type or out of range") {
  RequireError("projection = 1\n", 1, "projection must be a table, not an integer");
  RequireError("[projection]\nname = 1\n", 2, "projection.name must be a string, not an integer");
  RequireError("[projection]\nname = \"p\"\nversion = \"1\"\n", 3, "projection.version must be an integer");
  RequireError("[projection]\nname = \"p\"\nversion = 0\n", 3, "must be from 1 to 4294967295");
  RequireError("[projection]\nname = \"p\"\nversion = 4294967296\n", 3, "must be from 1 to 4294967295");
  RequireError("[projection]\nname = \"p\"\nversion = 1\nmax_attempts = 0\n", 4, "projection.max_attempts = 0");
  RequireError("[projection]\nname = \"p\"\nversion = 1\non_failure = \"retry\"\n", 4,
               "on_failure must be \"park\" or \"stop\"");
  RequireError("[projection]\nname = \"p\"\nversion = 1\ncategories = \"order\"\n", 4,
               "projection.categories must be an array, not a string");
  RequireError("[projection]\nname = \"p\"\nversion = 1\ncategories = [\n  \"order\",\n  7,\n]\n", 6,
               "must be a string, not an integer");
  RequireError("[projection]\nname = \"p\"\nversion = 1\ninitial_backoff_ms = 100\nmax_backoff_ms = 50\n", 5,
               "max_backoff_ms is less than");
  RequireError("[projection]\nname = \"p\"\nversion = 1\n[schema]\nsql = ['CREATE TABLE t (x)']\n", 5,
               "schema.sql must be a string, not an array");
  RequireError(WithHead("[on.x]\nsql = 5\n"), 10, "on.x.sql must be a string or an array of strings");
  RequireError(WithHead("[on.x]\nsql = []\n"), 10, "on.x.sql is an empty array");
  RequireError(WithHead("[on.x]\nsql = [\n  'INSERT INTO t (id) VALUES (:stream)',\n  true,\n]\n"), 12,
               "must be a string or an array of strings");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\nparams = 'data'\n"), 11,
               "on.x.params must be a table, not a string");
  RequireError("on.x = 'INSERT'\n" + std::string(kHead), 1, "on.x must be a table, not a string");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:a)'\nparams = { a = 5 }\n"), 11,
               "on.x.params.a must be a string");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:a)'\nparams.a.b = 'data.b'\n"), 11,
               "on.x.params.a must be a string");
}

TEST_CASE("bad names") {
  RequireError("[projection]\nname = \"Customer-Totals\"\nversion = 1\n", 2, "invalid projection name");
  RequireError("[projection]\nname = \"\"\nversion = 1\n", 2, "invalid projection name");
  RequireError("[projection]\nname = \"" + std::string(129, 'a') + "\"\nversion = 1\n", 2, "invalid projection name");
  std::string longest = WithHead("[on.x]\nsql = 'SELECT 1'\n");
  longest.replace(longest.find("\"p\""), 3, "\"" + std::string(128, 'a') + "\"");
  CHECK(Parse(longest).name == std::string(128, 'a'));
  RequireError(WithHead("[on.\"\"]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\n"), 9,
               "invalid event type: it is empty");
  RequireError(WithHead("[on.\"bad\\ttype\"]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\n"), 9,
               "control character");
  RequireError("[projection]\nname = \"p\"\nversion = 1\ncategories = [\"order-item\"]\n", 4,
               "a category is the part of a stream name before its first '-'");
  RequireError("[projection]\nname = \"p\"\nversion = 1\ncategories = [\"\"]\n", 4, "invalid category");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\nparams.1x = 'data.a'\n"), 11,
               "invalid parameter name on.x.params.1x");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:stream)'\nparams.stream = 'data.s'\n"), 11,
               "would hide the built-in :stream");
}

namespace {

// A file with `schema` as its schema (starting at line 5) and a handler, so
// that it gets as far as its SQL.
std::string WithSchema(std::string_view schema) {
  return "[projection]\nname = \"p\"\nversion = 1\n[schema]\n" + std::string(schema) + "\n[on.x]\nsql = 'SELECT 1'\n";
}

}  // namespace

TEST_CASE("the schema must run in an empty database") {
  RequireError(WithSchema(R"x(sql = '''
CREATE TABLE a (x);

CREATE TABLE b (y,
  z INTEGER NOT NULL DEFAULT,
  w);
''')x"),
               9, "schema.sql: near \",\": syntax error");
  RequireError(WithSchema("sql = '''\nCREATE TABLE a (x);\nCREATE INDEX i ON missing (x);\n'''"), 7, "no such table");
  RequireError(WithSchema("sql = '''\n-- nothing\n'''"), 5, "schema.sql has no SQL statement");
  RequireError(WithSchema("sql = 'CREATE TEMP TABLE a (x)'"), 5, "temporary tables");
  RequireError(WithSchema("sql = '''\nCREATE TABLE a (x);\nCOMMIT;\n'''"), 7, "the runner owns the transaction");
  RequireError(WithSchema("sql = \"ATTACH ':memory:' AS other\""), 5, "ATTACH and DETACH are not allowed");
  RequireError(WithSchema("sql = 'PRAGMA journal_mode = WAL'"), 5, "PRAGMA journal_mode is not allowed");
  RequireError(WithSchema("sql = '''\nCREATE TABLE a (x);\nCREATE VIRTUAL TABLE f USING fts5 (body);\n'''"), 7,
               "virtual tables are not supported");
}

TEST_CASE("names starting with cairn_ are reserved") {
  const auto schema = [](std::string_view sql) {
    return WithSchema("sql = '''\nCREATE TABLE ok (x);\n" + std::string(sql) + "\n'''");
  };
  RequireError(schema("CREATE TABLE cairn_checkpoints (x);"), 7, "the name cairn_checkpoints is reserved");
  RequireError(schema("CREATE TABLE CAIRN_Mine (x);"), 7, "the name CAIRN_Mine is reserved");
  RequireError(schema("CREATE INDEX cairn_ok_x ON ok (x);"), 7, "the name cairn_ok_x is reserved");
  RequireError(schema("CREATE VIEW cairn_v AS SELECT x FROM ok;"), 7, "reserved");
  RequireError(schema("CREATE TRIGGER cairn_t AFTER INSERT ON ok BEGIN SELECT 1; END;"), 7, "reserved");
  RequireError(schema("ALTER TABLE ok RENAME TO cairn_renamed;"), 5, "schema.sql creates cairn_renamed");
  // "cairnish" is not reserved: only the cairn_ prefix is.
  Parse("[projection]\nname = \"p\"\nversion = 1\n[schema]\nsql = 'CREATE TABLE cairnish (x)'\n"
        "[on.x]\nsql = 'INSERT INTO cairnish VALUES (:stream)'\n");
}

TEST_CASE("a statement that does not prepare is an error at its line") {
  RequireError(WithHead(R"x([on.x]
sql = '''
INSERT INTO t (id, n)
VALUES (:stream, :revision
'''
)x"),
               11, "on.x.sql: incomplete input");  // SQLite does not say where: the statement's line
  RequireError(WithHead("[on.x]\nsql = '''\nINSERT INTO t (id)\nSELEC :stream\n'''\n"), 12,
               "near \"SELEC\": syntax error");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO missing (id) VALUES (:stream)'\n"), 10,
               "on.x.sql: no such table: missing");
  RequireError(WithHead("[on.x]\nsql = [\n  'INSERT INTO t (id) VALUES (:stream)',\n\n"
                        "  '''UPDATE t\n     SET nope = 1'''\n]\n"),
               13, "on.x.sql[1]: no such column: nope");
  RequireError(WithHead("[on.x]\nsql = ['INSERT INTO nope VALUES (1)']\n"), 10, "on.x.sql[0]: no such table: nope");
  RequireError(WithHead("[on.x]\nsql = '''\nINSERT INTO t (id) VALUES (:stream);\nDELETE FROM t;\n'''\n"), 12,
               "holds more than one statement");
  RequireError(WithHead("[on.x]\nsql = '''\n  -- only a comment\n'''\n"), 10, "on.x.sql is empty");
  RequireError(WithHead("[on.x]\nsql = ['INSERT INTO t (id) VALUES (:stream)', ' ']\n"), 10, "on.x.sql[1] is empty");
  RequireError(WithHead("[on.x]\nsql = 'BEGIN'\n"), 10, "the runner owns the transaction");
  RequireError(WithHead("[on.x]\nsql = 'SAVEPOINT s'\n"), 10, "the runner owns the transaction");
  RequireError(WithHead("[on.x]\nsql = 'CREATE TABLE u (x)'\n"), 10, "belong in [schema]");
  RequireError(WithHead("[on.x]\nsql = 'DROP TABLE t'\n"), 10, "belong in [schema]");
  RequireError(WithHead("[on.x]\nsql = 'PRAGMA user_version = 3'\n"), 10, "PRAGMA user_version is not allowed");
  RequireError(WithHead("[on.x]\nsql = 'DELETE FROM cairn_checkpoints'\n"), 10, "no such table: cairn_checkpoints");
  // Trailing semicolons and comments are fine.
  Parse(WithHead("[on.x]\nsql = '''\n-- the first\nINSERT INTO t (id) VALUES (:stream); -- done\n;\n'''\n"));
}

TEST_CASE("every parameter must be defined, every param used") {
  RequireError(WithHead(R"x([on.x]
sql = '''
INSERT INTO t (id, n)
VALUES (:stream,
        :count)
'''
params = { cnt = "data.count" }
)x"),
               13, "on.x.sql: undefined parameter :count: not a built-in (stream, revision");
  RequireError(WithHead(R"x([on.x]
sql = "INSERT INTO t (id, n) VALUES (:stream, :n)"
[on.x.params]
n = "data.n"
unused = "data.u"
)x"),
               13, "on.x.params.unused is not used by any statement");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (?)'\n"), 10, "positional parameters");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (?1)'\n"), 10, "positional parameters");
  RequireError(WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES ($a::b)'\n"), 10, "unsupported parameter name $a::b");
  // A param is used by any one statement; :name, @name and $name all name it.
  Parse(WithHead(R"x([on.x]
sql = ["INSERT INTO t (id) VALUES (:a)", "UPDATE t SET n = @b, v = $a WHERE id = :a"]
params = { a = "data.a", b = "data.b" }
)x"));
  // A parameter of one handler is not defined in another.
  RequireError(WithHead(R"x([on.x]
sql = "INSERT INTO t (id) VALUES (:a)"
params.a = "data.a"
[on.y]
sql = "INSERT INTO t (id) VALUES (:a)"
)x"),
               13, "on.y.sql: undefined parameter :a");
}

TEST_CASE("bad JSON paths and sources") {
  const auto with_param = [](std::string_view source) {
    return WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:a)'\nparams.a = '" + std::string(source) + "'\n");
  };
  RequireError(with_param("data..x"), 11, "bad JSON path \"data..x\" at character 6: expected a key after '.'");
  RequireError(with_param("data."), 11, "expected a key after '.'");
  RequireError(with_param("data["), 11, "expected an array index or a quoted key");
  RequireError(with_param("data[abc]"), 11, "expected an array index or a quoted key");
  RequireError(with_param("data[1"), 11, "expected ']'");
  RequireError(with_param("data[\"open"), 11, "unterminated quoted key");
  RequireError(with_param("data[\"a\\n\"]"), 11, "only \\\" and \\\\ may be escaped");
  RequireError(with_param("data[99999999999]"), 11, "array index too large");
  RequireError(with_param("data.a b"), 11, "unexpected ' '");
  RequireError(with_param("payload.x"), 11, "\"payload.x\" is neither a built-in");
  RequireError(with_param("Data.x"), 11, "is neither a built-in");
  RequireError(with_param(""), 11, "is neither a built-in");
  RequireError(with_param("metadata[x]"), 11, "bad JSON path");
  Parse(with_param("data"));
  Parse(with_param("metadata"));
  Parse(with_param("data.items[0].price"));
  Parse(with_param("data[\"a.b\"][2][\"say \\\"hi\\\"\"].c-d_e"));
  Parse(with_param("recorded_at_us"));
}

TEST_CASE("LoadSqlProjection reads a file and names it in errors") {
  cairn_test::TempDir dir;
  const std::string path = dir.File("broken.toml");
  cairn_test::WriteFileBytes(path, WithHead("[on.x]\nsql = 'INSERT INTO t (id) VALUES (:nope)'\n"));
  auto broken = cairn::LoadSqlProjection(path);
  REQUIRE_FALSE(broken.has_value());
  CHECK(broken.error().code() == cairn::ErrorCode::kInvalidArgument);
  CHECK(broken.error().message().starts_with(path + ":10: on.x.sql: undefined parameter :nope"));

  auto missing = cairn::LoadSqlProjection(dir.File("missing.toml"));
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code() == cairn::ErrorCode::kNotFound);
  CHECK(missing.error().message().find("missing.toml") != std::string::npos);

  auto directory = cairn::LoadSqlProjection(dir.path().string());
  REQUIRE_FALSE(directory.has_value());
  CHECK(directory.error().code() == cairn::ErrorCode::kInvalidArgument);
}
