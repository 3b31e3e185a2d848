// The cairn CLI end to end: init, append, read, delete, stats, usage errors.
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace cairn_test {
namespace {

// "YYYY-MM-DDTHH:MM:SS" of now (UTC), to bracket a recorded_at.
std::string UtcSecondsNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  return text;
}

// An independent base64 encoder (RFC 4648, padded), to check the CLI's output.
std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i + 1 == bytes.size()) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// True when `text` matches `pattern` character by character, where in the
// pattern 'D' is a decimal digit and 'x' a lower-case hex digit. (std::regex
// trips GCC 12's -Wmaybe-uninitialized under the sanitizers.)
bool MatchesShape(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool digit = c >= '0' && c <= '9';
    if (pattern[i] == 'D' ? !digit : pattern[i] == 'x' ? !(digit || (c >= 'a' && c <= 'f')) : c != pattern[i]) {
      return false;
    }
  }
  return true;
}

const std::vector<std::string> kEventKeys{"position", "stream",       "revision", "id",       "type",
                                          "recorded_at", "content_type", "data",     "metadata", "hash"};

TEST_CASE("init creates a store and leaves an existing one alone", "[cli][init]") {
  TempDir dir;
  const std::string path = dir.File("new.db");

  CliRun first = RunCairn(dir, {"--store", path, "init"});
  REQUIRE_EXIT(first, 0);
  auto created = ParseJsonLine(first.out);
  CHECK(Str(created, "path") == path);
  CHECK(Bool(created, "created"));
  CHECK(Str(created, "backend") == "sqlite");
  CHECK(U64(created, "head_position") == 0);
  REQUIRE(std::filesystem::exists(path));

  CliStore store(dir, "new.db");  // init again, through the helper
  store.Append("order-1", "order.placed.v1");
  CliRun again = RunCairn(dir, {"--store", path, "init"});
  REQUIRE_EXIT(again, 0);
  auto existing = ParseJsonLine(again.out);
  CHECK_FALSE(Bool(existing, "created"));
  CHECK(U64(existing, "head_position") == 1);  // the event survived
  CHECK(Contains(again.err, "already a cairn store"));
}

TEST_CASE("init refuses a foreign file and does not touch it", "[cli][init]") {
  TempDir dir;
  const std::string path = dir.File("notes.txt");
  const std::string bytes = "these are my notes, not an event store\n";
  WriteFileBytes(path, bytes);

  CliRun run = RunCairn(dir, {"--store", path, "init"});
  REQUIRE_EXIT(run, 1);
  CHECK(run.out.empty());
  CHECK(run.err.starts_with("cairn: error: "));
  CHECK(Contains(run.err, "not a cairn store"));
  CHECK(ReadFileBytes(path) == bytes);
  std::vector<std::string> left;  // besides the runner's own stdio files
  for (const auto& name : ListDir(dir.path())) {
    if (!name.starts_with("run-")) left.push_back(name);
  }
  CHECK(left == std::vector<std::string>{"notes.txt"});  // no -wal, -shm or -journal either

  // Other commands refuse it the same way.
  CliRun read = RunCairn(dir, {"--store", path, "read", "order-1"});
  REQUIRE_EXIT(read, 1);
  CHECK(Contains(read.err, "not a cairn store"));
  CHECK(ReadFileBytes(path) == bytes);
}

#ifdef CAIRN_SQLITE3_SHELL
TEST_CASE("init refuses a SQLite database that is not a cairn store", "[cli][init]") {
  TempDir dir;
  const std::string path = dir.File("other.db");
  const std::string sql = dir.File("make.sql");
  WriteFileBytes(sql, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);\n"
                      "INSERT INTO customers VALUES (1, 'ann');\n");
  std::string command = std::string(CAIRN_SQLITE3_SHELL) + " '" + path + "' < '" + sql + "'";
  REQUIRE(std::system(command.c_str()) == 0);
  const std::string before = ReadFileBytes(path);

  CliRun run = RunCairn(dir, {"--store", path, "init"});
  REQUIRE_EXIT(run, 1);
  CHECK(Contains(run.err, "not a cairn store"));
  CHECK(ReadFileBytes(path) == before);
}
#endif

TEST_CASE("commands other than init need an existing store", "[cli][init]") {
  TempDir dir;
  const std::string path = dir.File("missing.db");
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"read", "order-1"}, {"append", "order-1", "--type", "t.v1"}, {"verify"}, {"stats"},
        {"replay"}, {"delete", "order-1"}}) {
    std::vector<std::string> args{"--store", path};
    args.insert(args.end(), command.begin(), command.end());
    CliRun run = RunCairn(dir, args);
    INFO("command: " << command[0]);
    REQUIRE_EXIT(run, 1);
    CHECK(run.err == "cairn: error: no store at " + path + " (create it with `cairn init`)\n");
    CHECK_FALSE(std::filesystem::exists(path));
  }
}

TEST_CASE("the store path comes from --store, then $CAIRN_STORE, then ./cairn.db", "[cli][init]") {
  TempDir dir;
  CliRun by_default = RunCairn(dir, {"init"}, InDirectory(dir.path().string()));
  REQUIRE_EXIT(by_default, 0);
  CHECK(std::filesystem::exists(dir.File("cairn.db")));

  const std::string env_path = dir.File("from-env.db");
  CliRun by_env = RunCairn(dir, {"init"}, WithEnv({"CAIRN_STORE=" + env_path}));
  REQUIRE_EXIT(by_env, 0);
  CHECK(std::filesystem::exists(env_path));

  const std::string flag_path = dir.File("from-flag.db");
  CliRun by_flag = RunCairn(dir, {"--store", flag_path, "init"}, WithEnv({"CAIRN_STORE=" + env_path}));
  REQUIRE_EXIT(by_flag, 0);
  CHECK(Bool(ParseJsonLine(by_flag.out), "created"));
  CHECK(std::filesystem::exists(flag_path));
}

TEST_CASE("append then read round-trips every field", "[cli][append][read]") {
  TempDir dir;
  CliStore store(dir);
  const std::string id = "0190a5c8-7e1c-7a3b-9f00-0123456789ab";
  const std::string before = UtcSecondsNow();

  CliRun first = store.Run({"append", "order-1", "--type", "order.placed.v1", "--data", R"({"total":42,"items":["a"]})",
                            "--metadata", R"({"actor":"ann","correlation_id":"c-1"})", "--id", id, "--expect",
                            "no-stream"});
  REQUIRE_EXIT(first, 0);
  REQUIRE(first.out == R"({"stream":"order-1","first_revision":0,"last_revision":0,"first_position":1,)"
                       R"("last_position":1,"already_committed":false})" "\n");
  // --data - reads stdin.
  CliRun second = store.Run({"append", "order-1", "--type", "order.paid.v1", "--data", "-"},
                            WithStdin(R"({"paid":true})"));
  REQUIRE_EXIT(second, 0);
  CHECK(U64(ParseJsonLine(second.out), "last_revision") == 1);
  const std::string after = UtcSecondsNow();

  CliRun read = store.Run({"read", "order-1"});
  REQUIRE_EXIT(read, 0);
  auto lines = read.Lines();
  REQUIRE(lines.size() == 2);

  auto placed = ParseJsonLine(lines[0]);
  CHECK(KeysOf(placed) == kEventKeys);
  CHECK(U64(placed, "position") == 1);
  CHECK(Str(placed, "stream") == "order-1");
  CHECK(U64(placed, "revision") == 0);
  CHECK(Str(placed, "id") == id);
  CHECK(Str(placed, "type") == "order.placed.v1");
  const std::string recorded_at = Str(placed, "recorded_at");
  CHECK(MatchesShape(recorded_at, "DDDD-DD-DDTDD:DD:DD.DDDDDDZ"));
  CHECK(recorded_at.substr(0, 19) >= before);
  CHECK(recorded_at.substr(0, 19) <= after);
  CHECK(Str(placed, "content_type") == "application/json");
  REQUIRE(placed["data"].IsObject());
  CHECK(U64(placed["data"], "total") == 42);
  REQUIRE(placed["data"]["items"].IsArray());
  REQUIRE(placed["data"]["items"].Size() == 1);
  CHECK(std::string(placed["data"]["items"][0u].GetString()) == "a");
  REQUIRE(placed["metadata"].IsObject());
  CHECK(Str(placed["metadata"], "actor") == "ann");
  CHECK(Str(placed["metadata"], "correlation_id") == "c-1");
  const std::string hash = Str(placed, "hash");
  CHECK(MatchesShape(hash, std::string(64, 'x')));
  // The stored JSON is embedded as is (it had no line break).
  CHECK(Contains(lines[0], R"("data":{"total":42,"items":["a"]})"));

  auto paid = ParseJsonLine(lines[1]);
  CHECK(KeysOf(paid) == kEventKeys);
  CHECK(U64(paid, "position") == 2);
  CHECK(U64(paid, "revision") == 1);
  CHECK(paid["metadata"].IsNull());
  CHECK(Bool(paid["data"], "paid"));
  CHECK(MatchesShape(Str(paid, "id"), "xxxxxxxx-xxxx-7xxx-xxxx-xxxxxxxxxxxx"));  // a generated UUIDv7
  CHECK(Str(paid, "hash") != hash);

  SECTION("--backwards, --limit, --from and --type select events") {
    CliRun newest = store.Run({"read", "order-1", "--backwards", "--limit", "1"});
    REQUIRE_EXIT(newest, 0);
    CHECK(Positions(newest) == std::vector<std::uint64_t>{2});
    CliRun from = store.Run({"read", "order-1", "--from", "1"});
    REQUIRE_EXIT(from, 0);
    CHECK(Positions(from) == std::vector<std::uint64_t>{2});
    CliRun typed = store.Run({"read", "order-1", "--type", "order.placed.v1"});
    REQUIRE_EXIT(typed, 0);
    CHECK(Positions(typed) == std::vector<std::uint64_t>{1});
    CliRun both = store.Run({"read", "order-1", "--type", "order.placed.v1", "--type", "order.paid.v1"});
    REQUIRE_EXIT(both, 0);
    CHECK(Positions(both) == std::vector<std::uint64_t>{1, 2});
  }

  SECTION("--format table prints aligned columns") {
    CliRun table = store.Run({"read", "order-1", "--format", "table"});
    REQUIRE_EXIT(table, 0);
    auto rows = table.Lines();
    REQUIRE(rows.size() == 3);
    const std::size_t type_column = rows[0].find("type");
    const std::size_t time_column = rows[0].find("recorded_at");
    REQUIRE(rows[0].starts_with("position"));
    REQUIRE(type_column != std::string::npos);
    CHECK(rows[1].find("order.placed.v1") == type_column);
    CHECK(rows[2].find("order.paid.v1") == type_column);
    CHECK(rows[1].find(recorded_at) == time_column);
    CHECK(rows[1].ends_with(R"({"total":42,"items":["a"]})"));
  }

  SECTION("reading a stream that does not exist is an error") {
    CliRun missing = store.Run({"read", "order-404"});
    REQUIRE_EXIT(missing, 1);
    CHECK(missing.out.empty());
    CHECK(missing.err.starts_with("cairn: error: "));
    CHECK(Contains(missing.err, "does not exist"));
  }
}

TEST_CASE("expected revisions any, no-stream, exists and N, with exit 3 on a conflict", "[cli][append]") {
  TempDir dir;
  CliStore store(dir);
  auto append = [&](const std::string& stream, const std::string& expect) {
    return store.Run({"append", stream, "--type", "t.v1", "--expect", expect});
  };

  REQUIRE_EXIT(append("s-1", "no-stream"), 0);
  CliRun twice = append("s-1", "no-stream");
  REQUIRE_EXIT(twice, 3);
  CHECK(twice.out.empty());
  CHECK(twice.err.starts_with("cairn: error: "));
  CHECK(Contains(twice.err, "conflict"));

  REQUIRE_EXIT(append("s-1", "exists"), 0);
  CHECK(U64(ParseJsonLine(append("s-1", "1").out), "last_revision") == 2);
  REQUIRE_EXIT(append("s-1", "1"), 3);  // the stream is at 2 now
  REQUIRE_EXIT(append("s-1", "7"), 3);
  REQUIRE_EXIT(append("s-2", "exists"), 3);
  REQUIRE_EXIT(append("s-2", "0"), 3);
  CHECK(U64(ParseJsonLine(append("s-1", "any").out), "last_revision") == 3);

  // Nothing of a conflicting append was written.
  CliRun read = store.Run({"read", "s-1"});
  REQUIRE_EXIT(read, 0);
  CHECK(Positions(read) == std::vector<std::uint64_t>{1, 2, 3, 4});
  REQUIRE_EXIT(store.Run({"read", "s-2"}), 1);

  for (const std::string& bad : std::vector<std::string>{"bogus", "-1", "1.5", "", "99999999999999999999999"}) {
    CliRun run = append("s-1", bad);
    INFO("--expect " << bad);
    REQUIRE_EXIT(run, 2);
    CHECK(Contains(run.err, "--expect"));
  }
}

TEST_CASE("append with --id is idempotent when retried", "[cli][append]") {
  TempDir dir;
  CliStore store(dir);
  const std::vector<std::string> args{"append", "order-9", "--type", "order.placed.v1", "--data", R"({"n":1})",
                                      "--id", "0190a5c8-7e1c-7a3b-9f00-00000000abcd", "--expect", "no-stream"};
  CliRun first = store.Run(args);
  REQUIRE_EXIT(first, 0);
  CHECK_FALSE(Bool(ParseJsonLine(first.out), "already_committed"));

  CliRun retry = store.Run(args);
  REQUIRE_EXIT(retry, 0);
  auto result = ParseJsonLine(retry.out);
  CHECK(Bool(result, "already_committed"));
  CHECK(U64(result, "first_position") == 1);
  CHECK(U64(result, "last_revision") == 0);

  CliRun read = store.Run({"read", "order-9"});
  CHECK(Positions(read) == std::vector<std::uint64_t>{1});

  // The same id on another stream is not a retry.
  CliRun elsewhere = store.Run({"append", "order-10", "--type", "order.placed.v1", "--id",
                                "0190a5c8-7e1c-7a3b-9f00-00000000abcd"});
  REQUIRE_EXIT(elsewhere, 1);
  CHECK(Contains(elsewhere.err, "duplicate event id"));

  CliRun bad = store.Run({"append", "order-11", "--type", "t.v1", "--id", "not-a-uuid"});
  REQUIRE_EXIT(bad, 2);
  CHECK(Contains(bad.err, "--id"));
}

TEST_CASE("delete tombstones a stream, then reading or appending it fails", "[cli][delete]") {
  TempDir dir;
  CliStore store(dir);
  store.Append("cart-1", "cart.opened.v1");
  store.Append("cart-1", "cart.item_added.v1");

  REQUIRE_EXIT(store.Run({"delete", "cart-1", "--expect", "0"}), 3);
  CliRun deleted = store.Run({"delete", "cart-1", "--expect", "1"});
  REQUIRE_EXIT(deleted, 0);
  auto result = ParseJsonLine(deleted.out);
  CHECK(Str(result, "stream") == "cart-1");
  CHECK(U64(result, "last_revision") == 2);
  CHECK(U64(result, "last_position") == 3);

  CliRun read = store.Run({"read", "cart-1"});
  REQUIRE_EXIT(read, 1);
  CHECK(Contains(read.err, "deleted"));

  CliRun append = store.Run({"append", "cart-1", "--type", "cart.item_added.v1"});
  REQUIRE_EXIT(append, 1);
  CHECK(Contains(append.err, "cannot append to cart-1: the stream is deleted"));

  REQUIRE_EXIT(store.Run({"delete", "cart-404"}), 1);

  // The log keeps the events and the tombstone.
  CliRun replay = store.Run({"replay", "--stream", "cart-1"});
  REQUIRE_EXIT(replay, 0);
  auto lines = replay.Lines();
  REQUIRE(lines.size() == 3);
  CHECK(Str(ParseJsonLine(lines[2]), "type") == "$stream.deleted");
}

TEST_CASE("non-JSON content types round-trip through base64", "[cli][append][read]") {
  TempDir dir;
  CliStore store(dir);
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  bytes += "\n\r\n";
  WriteFileBytes(dir.File("blob.bin"), bytes);

  REQUIRE_EXIT(store.Run({"append", "file-1", "--type", "file.uploaded.v1", "--content-type",
                          "application/octet-stream", "--data", "@" + dir.File("blob.bin")}),
               0);
  REQUIRE_EXIT(store.Run({"append", "file-1", "--type", "note.v1", "--content-type", "text/plain", "--data",
                          "hello, {not json"}),
               0);
  REQUIRE_EXIT(store.Run({"append", "file-1", "--type", "vendor.v1", "--content-type",
                          "application/vnd.cairn.test+json", "--data", R"({"v":1})"}),
               0);

  CliRun read = store.Run({"read", "file-1"});
  REQUIRE_EXIT(read, 0);
  auto lines = read.Lines();
  REQUIRE(lines.size() == 3);
  auto blob = ParseJsonLine(lines[0]);
  CHECK(Str(blob, "content_type") == "application/octet-stream");
  CHECK(Str(blob, "data") == Base64(bytes));
  auto note = ParseJsonLine(lines[1]);
  CHECK(Str(note, "data") == Base64("hello, {not json"));
  auto vendor = ParseJsonLine(lines[2]);
  REQUIRE(vendor["data"].IsObject());  // a +json type is JSON
  CHECK(U64(vendor["data"], "v") == 1);

  CliRun table = store.Run({"read", "file-1", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  CHECK(Contains(table.out, "<259 bytes application/octet-stream>"));
}

TEST_CASE("pretty-printed JSON is stored as is and printed on one line", "[cli][append][read]") {
  TempDir dir;
  CliStore store(dir);
  const std::string pretty = "{\n  \"amount\": 12345678901234567890123,\r\n  \"price\": 1.50,\n"
                             "  \"note\": \"two\\nlines\"\n}\n";
  WriteFileBytes(dir.File("pretty.json"), pretty);
  REQUIRE_EXIT(store.Run({"append", "pay-1", "--type", "payment.made.v1", "--data", "@" + dir.File("pretty.json"),
                          "--metadata", "{\n  \"actor\": \"ann\"\n}"}),
               0);

  CliRun read = store.Run({"read", "pay-1"});
  REQUIRE_EXIT(read, 0);
  REQUIRE(read.Lines().size() == 1);
  auto event = ParseJsonLine(read.out);
  CHECK(Str(event["data"], "note") == "two\nlines");
  CHECK(Str(event["metadata"], "actor") == "ann");
  // Numbers keep the digits they were written with.
  CHECK(Contains(read.out, R"("data":{"amount":12345678901234567890123,"price":1.50,"note":"two\nlines"})"));
  CHECK(Contains(read.out, R"("metadata":{"actor":"ann"})"));
}

TEST_CASE("bad input is refused with a message naming it", "[cli][usage]") {
  TempDir dir;
  CliStore store(dir);

  SECTION("unknown options, commands and values exit 2") {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"read", "s-1", "--bogus"}, {"frobnicate"}, {}, {"--format", "xml", "stats"},
          {"read"}, {"read", "s-1", "--limit", "-1"}, {"read", "s-1", "--from", "010x"},
          {"append", "--keep-going", "s-1", "--type", "t.v1"}, {"append", "s-1", "--batch"}}) {
      CliRun run = store.Run(args);
      INFO("args: " << (args.empty() ? std::string("(none)") : args[0]));
      REQUIRE_EXIT(run, 2);
      CHECK(run.err.starts_with("cairn: error: "));
      CHECK(run.out.empty());
    }
  }

  SECTION("append needs a stream and a type") {
    CliRun no_type = store.Run({"append", "s-1"});
    REQUIRE_EXIT(no_type, 2);
    CHECK(Contains(no_type.err, "--type"));
    REQUIRE_EXIT(store.Run({"append", "--type", "t.v1"}), 2);
  }

  SECTION("JSON arguments are checked and the flag is named") {
    CliRun data = store.Run({"append", "s-1", "--type", "t.v1", "--data", R"({"a":1,})"});
    REQUIRE_EXIT(data, 2);
    CHECK(Contains(data.err, "--data"));
    CHECK(Contains(data.err, "not valid JSON"));
    CliRun metadata = store.Run({"append", "s-1", "--type", "t.v1", "--metadata", "[1]"});
    REQUIRE_EXIT(metadata, 2);
    CHECK(Contains(metadata.err, "--metadata must be a JSON object"));
    CliRun missing_file = store.Run({"append", "s-1", "--type", "t.v1", "--data", "@" + dir.File("nope.json")});
    REQUIRE_EXIT(missing_file, 1);
    CHECK(Contains(missing_file.err, "nope.json"));
    REQUIRE_EXIT(store.Run({"read", "s-1"}), 1);  // nothing was appended
  }

  SECTION("data nested a million levels deep is refused with exit 1, not a crash") {
    const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
    std::ofstream(dir.File("deep.json")) << deep;
    CliRun run = store.Run({"append", "s-1", "--type", "t.v1", "--data", "@" + dir.File("deep.json")});
    REQUIRE_EXIT(run, 1);
    CHECK(Contains(run.err, "data nests arrays and objects more than 512 levels deep"));
    REQUIRE_EXIT(store.Run({"read", "s-1"}), 1);  // nothing was appended
  }

  SECTION("an invalid stream name or event type is refused by the store: exit 1") {
    for (const std::string& stream : {std::string(256, 'x'), std::string("bad\x01name"), std::string()}) {
      CliRun run = store.Run({"append", stream, "--type", "t.v1"});
      INFO("stream: " << stream);
      // An empty STREAM is a missing argument, the others are refused by the store.
      REQUIRE_EXIT(run, stream.empty() ? 2 : 1);
      CHECK(run.err.starts_with("cairn: error: "));
    }
    REQUIRE_EXIT(store.Run({"read", std::string(256, 'x')}), 1);
    REQUIRE_EXIT(store.Run({"append", "s-1", "--type", "$reserved"}), 1);
  }

  SECTION("an event over 8 MiB is refused with the limit in the message") {
    std::string big = R"({"blob":")" + std::string(9u << 20, 'a') + R"("})";
    WriteFileBytes(dir.File("big.json"), big);
    CliRun run = store.Run({"append", "big-1", "--type", "blob.v1", "--data", "@" + dir.File("big.json")});
    REQUIRE_EXIT(run, 1);
    CHECK(Contains(run.err, std::to_string(big.size() + 7)));  // type + data bytes
    CHECK(Contains(run.err, "over the limit of 8388608"));
    REQUIRE_EXIT(store.Run({"read", "big-1"}), 1);
  }

  SECTION("--help documents commands and exit codes") {
    CliRun help = store.Run({"--help"});
    REQUIRE_EXIT(help, 0);
    for (const char* word : {"init", "append", "delete", "read", "replay", "verify", "stats", "Exit codes",
                             "3  concurrency conflict"}) {
      CHECK(Contains(help.out, word));
    }
    CliRun append_help = store.Run({"append", "--help"});
    REQUIRE_EXIT(append_help, 0);
    CHECK(Contains(append_help.out, "--batch"));
    CHECK(Contains(append_help.out, "stay committed"));
    CHECK(Contains(append_help.out, "Exit codes"));
  }
}

TEST_CASE("stats describes the store", "[cli][stats]") {
  TempDir dir;
  CliStore store(dir);
  CliRun empty = store.Run({"stats"});
  REQUIRE_EXIT(empty, 0);
  auto empty_stats = ParseJsonLine(empty.out);
  CHECK(U64(empty_stats, "head_position") == 0);
  CHECK(empty_stats["first_recorded_at"].IsNull());

  store.Append("a-1", "t.v1");
  store.Append("b-1", "t.v1");
  store.Append("b-1", "t.v1");
  REQUIRE_EXIT(store.Run({"delete", "a-1"}), 0);
  CliRun run = store.Run({"stats"});
  REQUIRE_EXIT(run, 0);
  auto stats = ParseJsonLine(run.out);
  CHECK(KeysOf(stats) == std::vector<std::string>{"backend", "path", "format_version", "head_position",
                                                  "stream_count", "deleted_stream_count", "file_bytes",
                                                  "first_recorded_at", "last_recorded_at"});
  CHECK(Str(stats, "backend") == "sqlite");
  CHECK(U64(stats, "head_position") == 4);
  CHECK(U64(stats, "stream_count") == 2);
  CHECK(U64(stats, "deleted_stream_count") == 1);
  CHECK(U64(stats, "file_bytes") > 0);
  CHECK(Str(stats, "first_recorded_at") <= Str(stats, "last_recorded_at"));

  CliRun table = store.Run({"stats", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  CHECK(Contains(table.out, "\nhead_position         4\n"));  // keys padded to the longest
}

}  // namespace
}  // namespace cairn_test
