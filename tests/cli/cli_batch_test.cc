// `cairn append --batch`: JSON Lines on stdin, one append per line, in order.
#include <string>
#include <vector>

#include "cli_runner.h"

namespace cairn_test {
namespace {

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// REQUIREs `stream` to hold exactly `count` events (0: the stream does not exist).
void RequireStreamLength(const CliStore& store, const std::string& stream, std::size_t count) {
  CliRun read = store.Run({"read", stream});
  INFO("stream " << stream << ": " << read.err);
  if (count == 0) {
    REQUIRE(read.exit_code == 1);
  } else {
    REQUIRE(read.exit_code == 0);
    REQUIRE(read.Lines().size() == count);
  }
}

TEST_CASE("batch appends one event per line, in order", "[cli][batch]") {
  TempDir dir;
  CliStore store(dir);
  const std::string input = JoinLines({
      R"({"stream":"order-1","type":"order.placed.v1","data":{"total":42},"expect":"no-stream"})",
      R"({"type":"order.paid.v1","stream":"order-1","expect":0,"metadata":{"actor":"ann"},)"
      R"("id":"0190a5c8-7e1c-7a3b-9f00-0000000000b2","data":{"amount":12345678901234567890123,"fee":0.10}})",
      "",  // blank lines are skipped but counted
      R"({"stream":"file-1","type":"file.v1","content_type":"application/octet-stream","data":"AAEC/w=="})",
      "  \t",
      R"({"stream":"order-1","type":"order.shipped.v1","expect":"1"})",
  });
  CliRun run = store.Run({"append", "--batch"}, WithStdin(input));
  REQUIRE_EXIT(run, 0);
  auto lines = run.Lines();
  REQUIRE(lines.size() == 4);
  auto first = ParseJsonLine(lines[0]);
  CHECK(KeysOf(first) == std::vector<std::string>{"line", "stream", "first_revision", "last_revision",
                                                  "first_position", "last_position", "already_committed"});
  CHECK(U64(first, "line") == 1);
  CHECK(U64(ParseJsonLine(lines[1]), "last_revision") == 1);
  CHECK(U64(ParseJsonLine(lines[2]), "line") == 4);
  CHECK(Str(ParseJsonLine(lines[2]), "stream") == "file-1");
  auto last = ParseJsonLine(lines[3]);
  CHECK(U64(last, "line") == 6);
  CHECK(U64(last, "last_revision") == 2);
  CHECK(U64(last, "last_position") == 4);

  CliRun order = store.Run({"read", "order-1"});
  REQUIRE_EXIT(order, 0);
  auto events = order.Lines();
  REQUIRE(events.size() == 3);
  auto paid = ParseJsonLine(events[1]);
  CHECK(Str(paid, "id") == "0190a5c8-7e1c-7a3b-9f00-0000000000b2");
  CHECK(Str(paid["metadata"], "actor") == "ann");
  CHECK(Contains(events[1], R"("data":{"amount":12345678901234567890123,"fee":0.10})"));
  CHECK(Contains(events[2], R"("data":{})"));  // no "data": an empty object

  CliRun file = store.Run({"read", "file-1"});
  REQUIRE_EXIT(file, 0);
  CHECK(Str(ParseJsonLine(file.out), "data") == "AAEC/w==");

  SECTION("re-running the same batch line with its id is a no-op") {
    CliRun retry = store.Run({"append", "--batch"},
                             WithStdin(R"({"stream":"order-1","type":"order.paid.v1","expect":0,)"
                                            R"("metadata":{"actor":"ann"},"id":"0190a5c8-7e1c-7a3b-9f00-0000000000b2",)"
                                            R"("data":{"amount":12345678901234567890123,"fee":0.10}})"));
    REQUIRE_EXIT(retry, 0);
    CHECK(Bool(ParseJsonLine(retry.out), "already_committed"));
    RequireStreamLength(store, "order-1", 3);
  }
}

TEST_CASE("a malformed batch line stops the batch with exit 2, naming the line", "[cli][batch]") {
  TempDir dir;
  CliStore store(dir);
  struct Case {
    std::string line;
    std::string complaint;
  };
  int case_number = 0;
  for (const Case& bad : std::vector<Case>{
           {R"({"stream":"b-1","type":})", "not valid JSON"},
           {R"(["b-1","t.v1"])", "not a JSON object"},
           {R"({"stream":"b-1"})", "missing \"type\""},
           {R"({"stream":"b-1","type":"t.v1","expected":"any"})", "unknown key \"expected\""},
           {R"({"stream":"b-1","type":"t.v1","stream":"b-2"})", "duplicate key \"stream\""},
           {R"({"stream":7,"type":"t.v1"})", "\"stream\" must be a string"},
           {R"({"stream":"b-1","type":"t.v1","expect":"later"})", "\"expect\""},
           {R"({"stream":"b-1","type":"t.v1","expect":-1})", "\"expect\""},
           {R"({"stream":"b-1","type":"t.v1","metadata":[1]})", "\"metadata\" must be a JSON object"},
           {R"({"stream":"b-1","type":"t.v1","id":"xyz"})", "\"id\""},
           {R"({"stream":"b-1","type":"t.v1","content_type":"image/png","data":{"a":1}})", "base64"},
           {R"({"stream":"b-1","type":"t.v1","content_type":"image/png","data":"%%%"})", "base64"},
       }) {
    const std::string stream = "ok-" + std::to_string(++case_number);
    const std::string input = JoinLines({
        R"({"stream":")" + stream + R"(","type":"t.v1"})",
        "",
        bad.line,
        R"({"stream":"after-)" + stream + R"(","type":"t.v1"})",
    });
    CliRun run = store.Run({"append", "--batch"}, WithStdin(input));
    INFO("bad line: " << bad.line);
    REQUIRE_EXIT(run, 2);
    CHECK(run.err.starts_with("cairn: error: line 3: "));
    CHECK(Contains(run.err, bad.complaint));
    auto lines = run.Lines();
    REQUIRE(lines.size() == 2);
    auto failure = ParseJsonLine(lines[1]);
    CHECK(U64(failure, "line") == 3);
    CHECK(Str(failure, "error") == "malformed line");
    CHECK(Contains(Str(failure, "message"), bad.complaint));
    RequireStreamLength(store, stream, 1);             // the line before stays committed
    RequireStreamLength(store, "after-" + stream, 0);  // the line after never ran
  }
}

TEST_CASE("a failing batch line stops the batch with its exit code", "[cli][batch]") {
  TempDir dir;
  CliStore store(dir);
  store.Append("taken-1", "t.v1");

  SECTION("a conflict exits 3") {
    CliRun run = store.Run({"append", "--batch"},
                           WithStdin(JoinLines({R"({"stream":"c-1","type":"t.v1"})",
                                                     R"({"stream":"taken-1","type":"t.v1","expect":"no-stream"})",
                                                     R"({"stream":"c-2","type":"t.v1"})"})));
    REQUIRE_EXIT(run, 3);
    CHECK(run.err.starts_with("cairn: error: line 2: "));
    CHECK(Contains(run.err, "conflict"));
    auto lines = run.Lines();
    REQUIRE(lines.size() == 2);
    CHECK(Str(ParseJsonLine(lines[1]), "error") == "conflict");
    RequireStreamLength(store, "c-1", 1);
    RequireStreamLength(store, "taken-1", 1);
    RequireStreamLength(store, "c-2", 0);
  }

  SECTION("a store error exits 1") {
    REQUIRE_EXIT(store.Run({"delete", "taken-1"}), 0);
    CliRun run = store.Run({"append", "--batch"},
                           WithStdin(JoinLines({R"({"stream":"taken-1","type":"t.v1"})",
                                                     R"({"stream":"c-3","type":"t.v1"})"})));
    REQUIRE_EXIT(run, 1);
    CHECK(Contains(run.err, "line 1: cannot append to taken-1: the stream is deleted"));
    RequireStreamLength(store, "c-3", 0);
  }
}

TEST_CASE("batch with --keep-going tries every line and exits with the worst code", "[cli][batch]") {
  TempDir dir;
  CliStore store(dir);
  store.Append("taken-1", "t.v1");
  const std::string conflict = R"({"stream":"taken-1","type":"t.v1","expect":"no-stream"})";
  const std::string malformed = R"({"stream":"k-1","type":"t.v1","colour":"red"})";
  const std::string refused = R"({"stream":"k-1","type":"$reserved"})";

  SECTION("conflicts only: 3") {
    CliRun run = store.Run({"append", "--batch", "--keep-going"},
                           WithStdin(JoinLines({conflict, R"({"stream":"k-1","type":"t.v1"})", conflict})));
    REQUIRE_EXIT(run, 3);
    auto lines = run.Lines();
    REQUIRE(lines.size() == 3);
    CHECK(Str(ParseJsonLine(lines[0]), "error") == "conflict");
    CHECK(U64(ParseJsonLine(lines[1]), "last_position") == 2);
    CHECK(U64(ParseJsonLine(lines[2]), "line") == 3);
    CHECK(Contains(run.err, "cairn: error: line 1: "));
    CHECK(Contains(run.err, "cairn: error: line 3: "));
    CHECK(Contains(run.err, "cairn: error: 2 of 3 lines failed"));
    RequireStreamLength(store, "k-1", 1);
  }

  SECTION("a malformed line is worse than a conflict: 2") {
    CliRun run = store.Run({"append", "--batch", "--keep-going"},
                           WithStdin(JoinLines({conflict, malformed, R"({"stream":"k-2","type":"t.v1"})"})));
    REQUIRE_EXIT(run, 2);
    REQUIRE(run.Lines().size() == 3);
    RequireStreamLength(store, "k-2", 1);
  }

  SECTION("a store error is the worst: 1") {
    CliRun run = store.Run({"append", "--batch", "--keep-going"},
                           WithStdin(JoinLines({refused, malformed, conflict, R"({"stream":"k-3","type":"t.v1"})"})));
    REQUIRE_EXIT(run, 1);
    REQUIRE(run.Lines().size() == 4);
    CHECK(Str(ParseJsonLine(run.Lines()[0]), "error") == "invalid argument");
    RequireStreamLength(store, "k-3", 1);
  }
}

}  // namespace
}  // namespace cairn_test
