// `cairn export` and `cairn import`: a store's log to JSON Lines and back,
// byte-identical across backends, and every damaged input refused.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cairn/store.h"
#include "cli_runner.h"

namespace cairn_test {
namespace {

using cairn::ExpectedRevision;

// About 4 s in the normal build, 17 s under ASan and UBSan: the same count for both.
constexpr std::size_t kRoundTripEvents = 100'000;

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::unique_ptr<cairn::EventStore> OpenStore(const std::string& path, bool create = false) {
  cairn::Options options;
  options.create_if_missing = create;
  // Only to build test data fast; what is imported and exported is durable as usual.
  options.durability = cairn::Durability::kRelaxed;
  auto store = cairn::EventStore::Open(path, options);
  CAIRN_REQUIRE_OK(store);
  return std::move(*store);
}

// The data of event number `n`: every kind the export must keep byte for byte.
cairn::EventData VariedEvent(std::size_t n) {
  cairn::EventData event;
  event.type = "kind" + std::to_string(n % 8) + ".v1";
  const std::string number = std::to_string(n);
  switch (n % 8) {
    case 0: event.data = R"({"n":)" + number + R"(,"total":18.50})"; break;
    case 1:  // pretty-printed, CRLF, tabs, numbers as written, escapes that must stay escapes
      event.data = "{\r\n\t\"n\" : " + number + ",\r\n\t\"big\": 12345678901234567890123,\n  \"f\": 1.10e+2,"
                   " \"s\": \"caf\\u00e9 \\/ \\\"q\\\"\" ,\"u\":\"\xe2\x80\xa8\xf0\x9f\x98\x80\"\n}\n";
      break;
    case 2:  // binary: NUL, invalid UTF-8, an overlong NUL, a surrogate, past U+10FFFF
      event.content_type = "application/octet-stream";
      event.data = std::string("\0\xff\xfe\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80", 12) + number;
      break;
    case 3:  // valid UTF-8 that is not JSON, with control characters and a NUL
      event.content_type = "text/plain; charset=utf-8";
      event.data = std::string("line one\nline two\t\x01\x7f\0end ", 24) + number;
      break;
    case 4: event.content_type = "application/octet-stream"; break;  // no bytes at all
    case 5: event.data = "[" + number + ", true, null, \"\\u0000\"]"; break;
    case 6:
      event.content_type = "application/vnd.cairn.test+json";
      event.data = "\"just a string " + number + "\"";
      break;
    case 7: event.data = "  {\"n\": " + number + "}  "; break;
  }
  if (n % 3 == 0) event.metadata = R"({"correlation_id":"c-)" + number + R"(","actor":"ann"})";
  if (n % 3 == 1 && n % 2 == 0) event.metadata = "{\n  \"actor\" : \"bob\"\n}";
  return event;
}

// A store of exactly `count` events over many streams (unicode names among
// them), three streams tombstoned at the end. Built through the library: the
// CLI would take minutes for 100,000 events.
void BuildVariedStore(const std::string& path, std::size_t count) {
  auto store = OpenStore(path, /*create=*/true);
  const std::vector<std::string> prefixes{"order-", "客户-", "café-", "emoji😀-", "plain"};
  constexpr std::size_t kStreams = 1500;
  std::size_t written = 0;
  for (std::size_t round = 0; written < count - 3; ++round) {
    const std::size_t stream_number = round % kStreams;
    const std::string stream = prefixes[stream_number % prefixes.size()] + std::to_string(stream_number);
    std::vector<cairn::EventData> events;
    for (std::size_t i = 0; i < 1 + round % 97 && written < count - 3; ++i) events.push_back(VariedEvent(written++));
    CAIRN_REQUIRE_OK(store->Append(stream, ExpectedRevision::Any(), events));
  }
  for (const char* stream : {"order-0", "客户-1", "emoji😀-3"}) {
    CAIRN_REQUIRE_OK(store->DeleteStream(stream, ExpectedRevision::Any()));
  }
  auto head = store->HeadPosition();
  CAIRN_REQUIRE_OK(head);
  REQUIRE(*head == count);
}

// `cairn --store PATH args...`, requiring exit 0.
CliRun RunOk(const TempDir& dir, const std::string& path, std::vector<std::string> args,
             const RunOptions& options = {}) {
  args.insert(args.begin(), {"--store", path});
  CliRun run = RunCairn(dir, args, options);
  REQUIRE_EXIT(run, 0);
  return run;
}

// Requires two exports to be the same bytes; on failure shows the first line that differs.
void RequireSameBytes(const std::string& a, const std::string& b) {
  if (a == b) return;
  std::size_t at = 0;
  while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
  const std::size_t line_start = a.rfind('\n', at) == std::string::npos ? 0 : a.rfind('\n', at) + 1;
  INFO("sizes " << a.size() << " and " << b.size() << "; first difference at byte " << at << ", in line:\n"
                << a.substr(line_start, a.find('\n', at) - line_start) << "\nvs\n"
                << b.substr(line_start, b.find('\n', at) - line_start));
  FAIL("the exports differ");
}

rapidjson::Document VerifyOk(const TempDir& dir, const std::string& path) {
  CliRun run = RunOk(dir, path, {"verify"});
  auto report = ParseJsonLine(run.out);
  CHECK(Bool(report, "ok"));
  return report;
}

TEST_CASE("SQLite -> export -> LMDB -> export -> SQLite keeps every byte", "[cli][export][import]") {
  TempDir dir;
  const std::string source = dir.File("source.db");
  BuildVariedStore(source, kRoundTripEvents);

  const std::string exported = RunOk(dir, source, {"export"}).out;
  const std::string export_file = dir.File("source.jsonl");
  WriteFileBytes(export_file, exported);
  CHECK(exported.starts_with("{\"cairn_export\":1,\"from\":1,\"to\":" + std::to_string(kRoundTripEvents) + "}\n"));
  CHECK(std::count(exported.begin(), exported.end(), '\n') == static_cast<long>(kRoundTripEvents + 1));

  // SQLite -> LMDB, from a file.
  const std::string lmdb = dir.File("copy.mdb");
  auto imported = ParseJsonLine(RunOk(dir, lmdb, {"import", export_file, "--backend", "lmdb"}).out);
  CHECK(Str(imported, "backend") == "lmdb");
  CHECK(U64(imported, "events") == kRoundTripEvents);
  CHECK(U64(imported, "head_position") == kRoundTripEvents);
  const std::string lmdb_export = RunOk(dir, lmdb, {"export"}).out;
  RequireSameBytes(exported, lmdb_export);

  // LMDB -> SQLite, from stdin.
  const std::string sqlite = dir.File("copy.db");
  RunOk(dir, sqlite, {"--backend", "sqlite", "import", "-"}, WithStdin(lmdb_export));
  RequireSameBytes(exported, RunOk(dir, sqlite, {"export"}).out);

  // All three verify, to the same head hash, and agree on their streams.
  const std::string head_hash = Str(VerifyOk(dir, source), "head_hash");
  CHECK(Str(VerifyOk(dir, lmdb), "head_hash") == head_hash);
  CHECK(Str(VerifyOk(dir, sqlite), "head_hash") == head_hash);
  CHECK(Str(imported, "head_hash") == head_hash);
  auto source_stats = ParseJsonLine(RunOk(dir, source, {"stats"}).out);
  for (const std::string& copy : {lmdb, sqlite}) {
    auto stats = ParseJsonLine(RunOk(dir, copy, {"stats"}).out);
    CHECK(U64(stats, "stream_count") == U64(source_stats, "stream_count"));
    CHECK(U64(stats, "deleted_stream_count") == 3);
    CHECK(Str(stats, "first_recorded_at") == Str(source_stats, "first_recorded_at"));
  }

  // And, beyond the exports: the library reads the very same events from both backends.
  std::vector<cairn::RecordedEvent> original;
  CAIRN_REQUIRE_OK(OpenStore(source)->ReadLog({}, [&](const cairn::EventView& event) {
    original.push_back(event.ToOwned());
    return true;
  }));
  std::size_t index = 0;
  std::size_t mismatches = 0;
  CAIRN_REQUIRE_OK(OpenStore(lmdb)->ReadLog({}, [&](const cairn::EventView& event) {
    if (index >= original.size() || !(event.ToOwned() == original[index])) ++mismatches;
    ++index;
    return true;
  }));
  CHECK(index == kRoundTripEvents);
  CHECK(mismatches == 0);
}

// Five events: order-1 (3, the last at position 5), user-1 (2).
std::string SmallStore(const TempDir& dir, const std::string& name = "small.db") {
  CliStore store(dir, name);
  store.Append("order-1", "order.placed.v1", R"({"total": 42})");
  store.Append("user-1", "user.created.v1");
  store.Append("order-1", "order.paid.v1", "{}", {"--metadata", R"({"actor":"ann"})"});
  store.Append("user-1", "user.renamed.v1", R"({"name":"Zoë"})");
  store.Append("order-1", "order.shipped.v1");
  return store.path();
}

TEST_CASE("an export line holds every field, byte strings exact", "[cli][export]") {
  TempDir dir;
  const std::string path = dir.File("store.db");
  {
    auto store = OpenStore(path, /*create=*/true);
    for (std::size_t n : {1, 2, 3, 4}) {
      CAIRN_REQUIRE_OK(store->Append("s-1", ExpectedRevision::Any(), {VariedEvent(n)}));
    }
  }
  CliRun run = RunOk(dir, path, {"export"});
  const auto lines = run.Lines();
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == R"({"cairn_export":1,"from":1,"to":4})");
  const std::vector<std::string> keys{"position",    "stream",       "revision", "id",       "type", "recorded_at_us",
                                      "recorded_at", "content_type", "data",     "metadata", "hash"};
  for (std::size_t i = 1; i <= 4; ++i) {
    auto line = ParseJsonLine(lines[i]);
    const cairn::EventData expected = VariedEvent(i);
    INFO("line " << lines[i]);
    if (i == 2) {  // not UTF-8: base64
      std::vector<std::string> base64_keys = keys;
      base64_keys[8] = "data_base64";
      CHECK(KeysOf(line) == base64_keys);
      continue;
    }
    CHECK(KeysOf(line) == keys);
    CHECK(std::string(line["data"].GetString(), line["data"].GetStringLength()) == expected.data);
    CHECK(Str(line, "metadata") == expected.metadata);
    CHECK(Str(line, "content_type") == expected.content_type);
    CHECK(line["recorded_at_us"].IsInt64());
  }
  CHECK(Contains(lines[3], R"("data":"line one\nline two\t\u0001)"));
  CHECK(Contains(lines[4], R"("data":"","metadata":"{\n  \"actor\" : \"bob\"\n}")"));
}

TEST_CASE("export --from/--to writes a range and a header that says so", "[cli][export]") {
  TempDir dir;
  const std::string path = SmallStore(dir);
  auto positions = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "export");
    CliRun run = RunOk(dir, path, args);
    auto lines = run.Lines();
    REQUIRE_FALSE(lines.empty());
    auto header = ParseJsonLine(lines[0]);
    std::vector<std::uint64_t> result{U64(header, "from"), U64(header, "to")};
    for (std::size_t i = 1; i < lines.size(); ++i) result.push_back(U64(ParseJsonLine(lines[i]), "position"));
    return result;
  };
  using P = std::vector<std::uint64_t>;
  CHECK(positions({}) == P{1, 5, 1, 2, 3, 4, 5});
  CHECK(positions({"--from", "2", "--to", "4"}) == P{2, 4, 2, 3, 4});
  CHECK(positions({"--from", "4"}) == P{4, 5, 4, 5});
  CHECK(positions({"--to", "2"}) == P{1, 2, 1, 2});
  CHECK(positions({"--to", "99"}) == P{1, 5, 1, 2, 3, 4, 5});
  CHECK(positions({"--from", "9"}) == P{9, 8});  // nothing: the header says so
  CHECK(positions({"--from", "0"}) == P{1, 5, 1, 2, 3, 4, 5});

  for (const std::vector<std::string>& bad : {std::vector<std::string>{"export", "--from", "3", "--to", "2"},
                                              {"export", "--from", "x"}, {"--format", "table", "export"}}) {
    std::vector<std::string> args{"--store", path};
    args.insert(args.end(), bad.begin(), bad.end());
    CliRun run = RunCairn(dir, args);
    REQUIRE_EXIT(run, 2);
    CHECK(run.err.starts_with("cairn: error: "));
  }

  // An export up to a position imports as that prefix of the log.
  const std::string prefix = dir.File("prefix.db");
  RunOk(dir, prefix, {"import", "-"}, WithStdin(RunOk(dir, path, {"export", "--to", "3"}).out));
  CHECK(RunOk(dir, prefix, {"export"}).out == RunOk(dir, path, {"export", "--to", "3"}).out);
}

// Lines of `text` (each with its '\n').
std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line;
  return text;
}

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

TEST_CASE("import refuses damaged input, naming the line, and leaves nothing behind", "[cli][import]") {
  TempDir dir;
  const std::string path = SmallStore(dir);
  const auto lines = SplitLines(RunOk(dir, path, {"export"}).out);
  REQUIRE(lines.size() == 6);
  const auto files_before = ListDir(dir.path());

  struct Case {
    std::string name;
    std::string input;
    int exit_code;
    std::vector<std::string> message_parts;
  };
  auto with_line = [&](std::size_t index, const std::string& replacement) {
    auto changed = lines;
    changed[index] = replacement;
    return JoinLines(changed);
  };
  auto without_line = [&](std::size_t index) {
    auto changed = lines;
    changed.erase(changed.begin() + static_cast<long>(index));
    return JoinLines(changed);
  };
  const std::vector<Case> cases{
      {"changed data", with_line(4, Replace(lines[4], "Zoë", "Zoe")), 1,
       {"line 5: position 4: the hash does not match"}},
      {"changed recorded_at_us", with_line(2, Replace(lines[2], "\"recorded_at_us\":1", "\"recorded_at_us\":2")), 2,
       {"line 3: \"recorded_at\" is"}},
      {"a gap", without_line(3), 1, {"line 4: position 3 is missing (the next event is at position 4)"}},
      {"truncated", without_line(5), 1, {"truncated", "positions 1..5", "ends at position 4"}},
      {"an event past the header's range", with_line(0, R"({"cairn_export":1,"from":1,"to":4})" "\n"), 1,
       {"line 6: position 5 is past the last position the header announces (4)"}},
      {"reordered", JoinLines({lines[0], lines[1], lines[3], lines[2], lines[4], lines[5]}), 1,
       {"line 3: position 2 is missing (the next event is at position 3)"}},
      {"no header", without_line(0), 2, {"line 1: not a header"}},
      {"a newer format", with_line(0, R"({"cairn_export":2,"from":1,"to":5})" "\n"), 2, {"export format 2"}},
      {"a malformed line", with_line(3, "{\"position\":3,\n"), 2, {"line 4: not valid JSON"}},
      {"an unknown key", with_line(3, Replace(lines[3], "\"hash\"", "\"hash2\"")), 2,
       {"line 4: unknown key \"hash2\""}},
      {"an empty input", "", 2, {"is empty: not a cairn export"}},
      {"an export that starts later", RunOk(dir, path, {"export", "--from", "2"}).out, 1,
       {"starts at position 2", "only an export from position 1 can be imported"}},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const std::string target = dir.File("imported.db");
      CliRun run = RunCairn(dir, {"--store", target, "import", "-"}, WithStdin(c.input));
      REQUIRE_EXIT(run, c.exit_code);
      for (const auto& part : c.message_parts) {
        INFO("stderr: " << run.err);
        CHECK(Contains(run.err, part));
      }
      CHECK(run.out.empty());
      // No store, no scratch files: only the runner's own stdio files are new.
      std::vector<std::string> leftovers;
      for (const auto& name : ListDir(dir.path())) {
        if (!name.starts_with("run-") &&
            std::find(files_before.begin(), files_before.end(), name) == files_before.end()) {
          leftovers.push_back(name);
        }
      }
      CHECK(leftovers.empty());
    }
  }
}

TEST_CASE("import never writes into an existing store, even an empty one", "[cli][import]") {
  TempDir dir;
  const std::string source = SmallStore(dir);
  const std::string exported = RunOk(dir, source, {"export"}).out;
  CliStore empty(dir, "empty.db");
  for (const std::string& target : {source, empty.path()}) {
    const std::string before = ReadFileBytes(target);
    CliRun run = RunCairn(dir, {"--store", target, "import", "-"}, WithStdin(exported));
    REQUIRE_EXIT(run, 1);
    CHECK(Contains(run.err, "it already exists"));
    CHECK(ReadFileBytes(target) == before);
  }
  CliRun missing = RunCairn(dir, {"--store", dir.File("new.db"), "import", dir.File("no-such.jsonl")});
  REQUIRE_EXIT(missing, 1);
  CHECK(Contains(missing.err, "cannot open"));
  CHECK_FALSE(std::filesystem::exists(dir.File("new.db")));
  CliRun no_file = RunCairn(dir, {"--store", dir.File("new.db"), "import"});
  REQUIRE_EXIT(no_file, 2);
}

}  // namespace
}  // namespace cairn_test
