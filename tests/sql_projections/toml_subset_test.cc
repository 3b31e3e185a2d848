// The TOML subset of SQL projection files: every construct it accepts, and
// every error with the line it names.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "projection_file.h"
#include "test_util.h"

namespace {

using cairn::detail::ParseToml;
using cairn::detail::TomlTable;
using cairn::detail::TomlValue;
using Kind = cairn::detail::TomlValue::Kind;

TomlTable Parse(std::string_view text) {
  auto parsed = ParseToml(text, "test.toml");
  INFO("result: " << (parsed ? std::string("ok") : parsed.error().ToString()));
  REQUIRE(parsed.has_value());
  return std::move(*parsed);
}

// The error message of a text that must not parse.
std::string ErrorOf(std::string_view text) {
  auto parsed = ParseToml(text, "test.toml");
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().code() == cairn::ErrorCode::kInvalidArgument);
  return parsed.error().message();
}

// Requires `text` to fail at `line` with a message containing `part`.
void RequireError(std::string_view text, int line, std::string_view part) {
  const std::string message = ErrorOf(text);
  INFO("message: " << message);
  const std::string prefix = "test.toml:" + std::to_string(line) + ": ";
  CHECK(message.starts_with(prefix));
  CHECK(message.find(part) != std::string::npos);
}

const TomlValue& Get(const TomlTable& table, std::string_view key) {
  const TomlValue* value = table.Find(key);
  INFO("key: " << key);
  REQUIRE(value != nullptr);
  return *value;
}

const TomlTable& Sub(const TomlTable& table, std::string_view key) {
  const TomlValue& value = Get(table, key);
  REQUIRE(value.kind == Kind::kTable);
  return *value.table;
}

}  // namespace

TEST_CASE("comments, bare and quoted keys, tables") {
  const TomlTable root = Parse(R"x(# a comment on the first line
top = "root value"   # after a value
[projection]
name = "x"
"quoted key" = 1
'literal.key' = 2
bare-key_2 = 3

  # indented comment
[on."order.placed.v1"]
sql = "INSERT"
[ on . 'b' ]
x = true
)x");
  CHECK(Get(root, "top").string == "root value");
  CHECK(Get(root, "top").line == 2);
  const TomlTable& projection = Sub(root, "projection");
  CHECK(projection.line == 3);
  CHECK(Get(projection, "name").string == "x");
  CHECK(Get(projection, "quoted key").integer == 1);
  CHECK(Get(projection, "literal.key").integer == 2);
  CHECK(Get(projection, "bare-key_2").integer == 3);
  const TomlTable& on = Sub(root, "on");
  CHECK(on.origin == TomlTable::Origin::kImplicit);
  const TomlTable& placed = Sub(on, "order.placed.v1");
  CHECK(placed.path == R"x(on."order.placed.v1")x");
  CHECK(placed.line == 10);
  CHECK(Get(placed, "sql").string == "INSERT");
  CHECK(Get(placed, "sql").line == 11);
  CHECK(Get(Sub(on, "b"), "x").boolean);
  // Entries keep the file's order.
  REQUIRE(root.entries.size() == 3);
  CHECK(root.entries[0].first == "top");
  CHECK(root.entries[1].first == "projection");
  CHECK(root.entries[2].first == "on");
}

TEST_CASE("dotted keys create tables, a parent table may be defined after its child") {
  const TomlTable root = Parse(R"x([on."a".params]
x = "data.x"
[on."a"]
sql = "S"
params2 . inner . deep = 'v'
[t]
a.b = 1
a.c = 2
[t.a.d]
e = 3
)x");
  const TomlTable& a = Sub(Sub(root, "on"), "a");
  CHECK(a.origin == TomlTable::Origin::kHeader);
  CHECK(a.line == 3);
  CHECK(Get(Sub(a, "params"), "x").string == "data.x");
  CHECK(Get(a, "sql").string == "S");
  const TomlTable& inner = Sub(Sub(a, "params2"), "inner");
  CHECK(inner.origin == TomlTable::Origin::kDotted);
  CHECK(Get(inner, "deep").string == "v");
  const TomlTable& ta = Sub(Sub(root, "t"), "a");
  CHECK(Get(ta, "b").integer == 1);
  CHECK(Get(ta, "c").integer == 2);
  CHECK(Get(Sub(ta, "d"), "e").integer == 3);
}

TEST_CASE("basic strings and their escapes") {
  const TomlTable root = Parse(R"x(a = "tab\there \"quoted\" back\\slash"
b = "\b\f\n\r"
c = "\u00e9\U0001F600\u0041"
d = ""
e = 'C:\path\no escapes "here"'
)x");
  CHECK(Get(root, "a").string == "tab\there \"quoted\" back\\slash");
  CHECK(Get(root, "b").string == "\b\f\n\r");
  CHECK(Get(root, "c").string == "\xC3\xA9\xF0\x9F\x98\x80" "A");
  CHECK(Get(root, "d").string.empty());
  CHECK(Get(root, "e").string == R"x(C:\path\no escapes "here")x");
}

TEST_CASE("multi-line strings: basic and literal, trimmed first newline, line-ending backslash, quotes") {
  const TomlTable root = Parse("a = \"\"\"\nline one\n  line \"two\" \\\"three\\\"\n\"\"\"\n"
                               "b = '''\nSELECT 'x' -- \\n stays\nFROM t'''\n"
                               "c = \"\"\"one \\\n      two \\\n\n   three\"\"\"\n"
                               "d = \"\"\"\"quoted\"\"\"\"\n"
                               "e = '''''two quotes'''''\n"
                               "f = \"\"\"no newline\"\"\"\n");
  CHECK(Get(root, "a").string == "line one\n  line \"two\" \"three\"\n");
  CHECK(Get(root, "b").string == "SELECT 'x' -- \\n stays\nFROM t");
  CHECK(Get(root, "c").string == "one two three");
  CHECK(Get(root, "d").string == "\"quoted\"");
  CHECK(Get(root, "e").string == "''two quotes''");
  CHECK(Get(root, "f").string == "no newline");
  CHECK(Get(root, "f").line == 14);
}

TEST_CASE("a multi-line string maps each offset back to its line") {
  const TomlTable root = Parse("# header\nsql = '''\nCREATE TABLE a (x);\n\nCREATE TABLE b (y);\n'''\n"
                               "one = \"\"\"first \\\n\n  second\"\"\"\n");
  const TomlValue& sql = Get(root, "sql");
  CHECK(sql.line == 2);
  CHECK(sql.LineAt(0) == 3);                                  // 'C' of the first CREATE
  CHECK(sql.LineAt(sql.string.find("(x)")) == 3);
  CHECK(sql.LineAt(sql.string.find("CREATE TABLE b")) == 5);
  const TomlValue& one = Get(root, "one");
  CHECK(one.string == "first second");
  CHECK(one.LineAt(0) == 7);
  CHECK(one.LineAt(one.string.find("second")) == 9);
}

TEST_CASE("integers and booleans") {
  const TomlTable root = Parse(R"x(a = 0
b = -5
c = +7
d = 1_000_000
e = 9223372036854775807
f = -9223372036854775808
g = true
h = false
)x");
  CHECK(Get(root, "a").integer == 0);
  CHECK(Get(root, "b").integer == -5);
  CHECK(Get(root, "c").integer == 7);
  CHECK(Get(root, "d").integer == 1000000);
  CHECK(Get(root, "e").integer == INT64_MAX);
  CHECK(Get(root, "f").integer == INT64_MIN);
  CHECK(Get(root, "g").kind == Kind::kBoolean);
  CHECK(Get(root, "g").boolean);
  CHECK_FALSE(Get(root, "h").boolean);
}

TEST_CASE("arrays span lines, hold comments, allow a trailing comma") {
  const TomlTable root = Parse(R"x(empty = []
one = ["a"]
many = [
  "first",   # a comment
  'second',
  """third""",

  # between elements
  '''fourth''',
]
nested = [["x"], []]
)x");
  CHECK(Get(root, "empty").kind == Kind::kArray);
  CHECK(Get(root, "empty").array.empty());
  CHECK(Get(root, "one").array.at(0).string == "a");
  const TomlValue& many = Get(root, "many");
  REQUIRE(many.array.size() == 4);
  CHECK(many.array[0].string == "first");
  CHECK(many.array[0].line == 4);
  CHECK(many.array[1].string == "second");
  CHECK(many.array[2].string == "third");
  CHECK(many.array[3].string == "fourth");
  CHECK(many.array[3].line == 9);
  CHECK(Get(root, "nested").array.at(0).array.at(0).string == "x");
}

TEST_CASE("inline tables, with dotted keys inside") {
  const TomlTable root = Parse(R"x(params = { customer = "data.customer", total = 'data.total', x.y = 1 }
empty = {}
)x");
  const TomlTable& params = Sub(root, "params");
  CHECK(params.origin == TomlTable::Origin::kInline);
  CHECK(params.path == "params");
  CHECK(params.line == 1);
  CHECK(Get(params, "customer").string == "data.customer");
  CHECK(Get(params, "total").string == "data.total");
  CHECK(Get(Sub(params, "x"), "y").integer == 1);
  CHECK(Sub(root, "empty").entries.empty());
}

TEST_CASE("CRLF line endings and a byte-order mark") {
  const TomlTable root = Parse("\xEF\xBB\xBF# bom\r\n[t]\r\na = 1\r\nb = '''\r\nx\r\ny'''\r\n");
  const TomlTable& t = Sub(root, "t");
  CHECK(t.line == 2);
  CHECK(Get(t, "a").integer == 1);
  CHECK(Get(t, "b").string == "x\ny");  // newlines in multi-line strings are normalised
  CHECK(Get(t, "b").LineAt(2) == 6);
}

TEST_CASE("duplicates and conflicting definitions are errors with their line") {
  RequireError("a = 1\nb = 2\na = 3\n", 3, "duplicate key a (first defined at line 1)");
  RequireError("[t]\nx = 1\n[u]\n[t]\n", 4, "duplicate table [t] (first defined at line 1)");
  RequireError("[on.\"x.y\"]\nsql = 'a'\n\n[on.\"x.y\"]\n", 4, "duplicate table [on.\"x.y\"]");
  RequireError("t.a = 1\n[t]\n", 2, "already defined by dotted keys at line 1");
  RequireError("a = 1\n[a]\n", 2, "a is already an integer (line 1)");
  RequireError("a = 1\n[a.b]\n", 2, "a is already an integer");
  RequireError("a = 1\na.b = 2\n", 2, "a is already an integer");
  RequireError("[t.u]\nx = 1\n[t]\nu.y = 2\n", 4, "cannot add t.u.y with a dotted key");
  RequireError("t = { a = 1 }\n[t]\n", 2, "cannot extend t: it is an inline table (line 1)");
  RequireError("t = { a = 1 }\n[t.b]\n", 2, "cannot extend t: it is an inline table");
  RequireError("t = { a = 1 }\nt.b = 2\n", 2, "as an inline table");
  RequireError("t = { a = 1, a = 2 }\n", 1, "duplicate key t.a");
  RequireError("[p]\n'k' = 1\n\"k\" = 2\n", 3, "duplicate key p.k");
}

TEST_CASE("what TOML has and the subset does not is refused") {
  RequireError("[t]\n[[items]]\n", 2, "arrays of tables");
  RequireError("a = 1.5\n", 1, "floating-point numbers are not supported");
  RequireError("a = 1e5\n", 1, "floating-point");
  RequireError("a = inf\n", 1, "floating-point");
  RequireError("a = -nan\n", 1, "floating-point");
  RequireError("x = 1\na = 1979-05-27\n", 2, "dates and times are not supported");
  RequireError("a = 07:32:00\n", 1, "dates and times");
  RequireError("a = 0x1f\n", 1, "only decimal integers");
  RequireError("a = 0o17\n", 1, "only decimal integers");
  RequireError("a = 0b1\n", 1, "only decimal integers");
}

TEST_CASE("bad integers") {
  RequireError("a = 012\n", 1, "leading zeros");
  RequireError("a = 1__0\n", 1, "underscore");
  RequireError("a = 1_\n", 1, "underscore");
  RequireError("a = 9223372036854775808\n", 1, "out of range");
  RequireError("a = -9223372036854775809\n", 1, "out of range");
  RequireError("a = 12abc\n", 1, "not an integer");
}

TEST_CASE("bad strings") {
  RequireError("a = \"open\nb = 1\n", 1, "unterminated string");
  RequireError("a = 'open\n", 1, "unterminated string");
  RequireError("x = 1\na = \"\"\"\nnever\nclosed\n", 2, "unterminated multi-line string");
  RequireError("a = '''\nnever closed\n", 1, "unterminated multi-line string");
  RequireError("a = \"bad \\q escape\"\n", 1, "invalid escape sequence \\q");
  RequireError("a = \"\\u12\"\n", 1, "\\u needs 4 hexadecimal digits");
  RequireError("a = \"\\uD800\"\n", 1, "not a Unicode scalar value");
  RequireError("a = \"\\U00110000\"\n", 1, "not a Unicode scalar value");
  RequireError("a = \"bell\x07\"\n", 1, "control character U+0007 in a string");
  RequireError("a = 'del\x7f'\n", 1, "control character U+007F in a string");
  RequireError("x = 1\na = '''\nok\nbad\x01'''\n", 4, "control character U+0001");
  RequireError("a = \"\"\"\n\nx \\q\"\"\"\n", 3, "invalid escape");
  RequireError("a = '''x''''''\n", 1, "too many quotes");
}

TEST_CASE("bad keys, values and line ends") {
  RequireError("x = 1\n= 2\n", 2, "expected a key");
  RequireError("a b = 1\n", 1, "expected '=' after the key a");
  RequireError("a = \n", 1, "missing value for a");
  RequireError("a = # nothing\n", 1, "missing value for a");
  RequireError("a = hello\n", 1, "strings must be quoted");
  RequireError("a = truely\n", 1, "strings must be quoted");
  RequireError("a = 1 2\n", 1, "unexpected '2' after the value");
  RequireError("[t] x = 1\n", 1, "after the table header");
  RequireError("[t\n", 1, "expected ']'");
  RequireError("a = @\n", 1, "expected a value for a");
  RequireError("\"\"\"k\"\"\" = 1\n", 1, "a key cannot be a multi-line string");
  RequireError("a.\"b\n", 1, "unterminated string");
}

TEST_CASE("bad arrays and inline tables") {
  RequireError("a = [\n  'x',\n  'y'\n", 1, "unterminated array a");
  RequireError("a = [\n  'x'\n  'y'\n]\n", 3, "expected ',' or ']' in the array a");
  RequireError("a = [,]\n", 1, "expected a value for a[0]");
  RequireError("a = ['x',,]\n", 1, "expected a value for a[1]");
  RequireError("t = { a = 1,\n b = 2 }\n", 1, "must be on one line");
  RequireError("t = { a = 1, }\n", 1, "trailing comma");
  RequireError("t = { a = 1 b = 2 }\n", 1, "expected ',' or '}'");
  RequireError("t = {\n", 1, "must be on one line");
}

TEST_CASE("bad bytes: control characters, lone carriage returns, invalid UTF-8, NUL") {
  RequireError("a = 1\n# bell\x07\n", 2, "in a comment");
  RequireError("a = 1\rb = 2\n", 1, "carriage return without a line feed");
  RequireError("a = 1\n\nb = 'caf\xC3'\n", 3, "not valid UTF-8");
  RequireError("a = 1\nb = '\xC0\xAF'\n", 2, "not valid UTF-8");
  RequireError(std::string_view("a = 1\nb = 2\0\n", 13), 2, "NUL byte");
  // Valid UTF-8 outside ASCII is fine in strings and comments.
  const TomlTable root = Parse("# café\nname = 'Zoë ✓'\n");
  CHECK(Get(root, "name").string == "Zo\xC3\xAB \xE2\x9C\x93");
}

TEST_CASE("an empty file is an empty table") {
  CHECK(Parse("").entries.empty());
  CHECK(Parse("\n# only a comment\n\n").entries.empty());
}
