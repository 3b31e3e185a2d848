// `cairn snapshot list|show|delete|prune`, on both backends. The CLI cannot take
// snapshots, so each test saves them through the library (EventStore::SaveSnapshot,
// with the real hash of the event at the snapshot's revision) and closes the store
// before running the binary.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cairn/store.h"
#include "cli_runner.h"

namespace cairn_test {
namespace {

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// An independent base64 encoder (RFC 4648, padded), to check state_base64.
std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t left = bytes.size() - i;
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (left > 1) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (left > 2) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += left > 1 ? kAlphabet[(n >> 6) & 63] : '=';
    out += left > 2 ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// True when `text` matches `pattern` character by character, 'D' standing for a decimal digit.
bool MatchesShape(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (pattern[i] == 'D' ? !(text[i] >= '0' && text[i] <= '9') : text[i] != pattern[i]) return false;
  }
  return true;
}

const std::vector<std::string> kListKeys{"stream",      "revision", "schema_version",
                                         "state_bytes", "taken_at", "event_hash"};

// 600 bytes: every byte value, NULs and invalid UTF-8 included; more than `show` dumps.
std::string BinaryState() {
  std::string state;
  for (int i = 0; i < 600; ++i) state += static_cast<char>(i % 256);
  return state;
}

std::string StateOf(const std::string& stream, std::uint64_t revision) {
  return "state of " + stream + " at " + std::to_string(revision);
}

// A store of one backend (created through the library) with events in streams,
// whose snapshots a test saves through the library and examines with the CLI.
class SnapshotStore {
 public:
  explicit SnapshotStore(const std::string& backend)
      : kind_(backend == "lmdb" ? cairn::BackendKind::kLmdb : cairn::BackendKind::kSqlite),
        path_(dir_.File(backend == "lmdb" ? "events.mdb" : "events.db")) {
    cairn::Options options;
    options.backend = kind_;
    options.create_if_missing = true;
    CAIRN_REQUIRE_OK(cairn::EventStore::Open(path_, options));
  }

  // `cairn --store PATH args...`; the store is never open in this process meanwhile.
  CliRun Run(const std::vector<std::string>& args) const {
    std::vector<std::string> full{"--store", path_};
    full.insert(full.end(), args.begin(), args.end());
    return RunCairn(dir_, full);
  }
  // The JSON lines of a run that must succeed.
  std::vector<rapidjson::Document> RunLines(const std::vector<std::string>& args) const {
    CliRun run = Run(args);
    REQUIRE_EXIT(run, 0);
    std::vector<rapidjson::Document> lines;
    for (const std::string& line : run.Lines()) lines.push_back(ParseJsonLine(line));
    return lines;
  }

  std::unique_ptr<cairn::EventStore> Open() const {
    cairn::Options options;
    options.backend = kind_;
    auto store = cairn::EventStore::Open(path_, options);
    CAIRN_REQUIRE_OK(store);
    return std::move(*store);
  }

  // Appends `count` events to `stream`.
  void Append(const std::string& stream, std::size_t count) const {
    auto store = Open();
    for (std::size_t i = 0; i < count; ++i) {
      CAIRN_REQUIRE_OK(store->Append(stream, cairn::ExpectedRevision::Any(),
                                     {cairn::EventData{.type = "thing.happened.v1", .data = "{}"}}));
    }
  }

  // The hash of `stream`'s event at `revision`.
  cairn::Hash EventHash(const std::string& stream, std::uint64_t revision) const {
    auto store = Open();
    cairn::Hash hash{};
    cairn::ReadStreamOptions options;
    options.from_revision = revision;
    options.max_count = 1;
    auto read = store->ReadStream(stream, options, [&](const cairn::EventView& event) {
      hash = event.hash;
      return true;
    });
    CAIRN_REQUIRE_OK(read);
    REQUIRE(*read == 1);
    return hash;
  }

  // Saves a snapshot of `stream` at `revision` with the real event hash (or, with
  // `wrong_hash`, a hash one bit off). The state is StateOf() unless given.
  void Save(const std::string& stream, std::uint64_t revision, std::optional<std::string> state = std::nullopt,
            bool wrong_hash = false, std::uint32_t schema_version = 7) const {
    cairn::SnapshotData snapshot{.stream = stream,
                                 .revision = revision,
                                 .schema_version = schema_version,
                                 .event_hash = EventHash(stream, revision),
                                 .state = state.value_or(StateOf(stream, revision))};
    if (wrong_hash) snapshot.event_hash[0] ^= 1;
    CAIRN_REQUIRE_OK(Open()->SaveSnapshot(snapshot));
  }

  // The revisions of `stream`'s snapshots as the library reads them, newest first.
  std::vector<std::uint64_t> Revisions(const std::string& stream) const {
    std::vector<std::uint64_t> revisions;
    CAIRN_REQUIRE_OK(Open()->ReadSnapshots(stream, [&](const cairn::SnapshotView& snapshot) {
      revisions.push_back(snapshot.revision);
      return true;
    }));
    return revisions;
  }

  // The revisions `cairn snapshot list STREAM` prints.
  std::vector<std::uint64_t> ListedRevisions(const std::string& stream) const {
    std::vector<std::uint64_t> revisions;
    for (const auto& line : RunLines({"snapshot", "list", stream})) revisions.push_back(U64(line, "revision"));
    return revisions;
  }

 private:
  TempDir dir_;
  cairn::BackendKind kind_;
  std::string path_;
};

// order-1: 5 events, snapshots at 1 and 3 (3 is 600 binary bytes).
// order-2: 3 events, snapshots at 0, 1 and 2 (2 with a wrong event hash).
// user-1: 1 event, no snapshot.
void Seed(const SnapshotStore& store) {
  store.Append("order-1", 5);
  store.Append("order-2", 3);
  store.Append("user-1", 1);
  store.Save("order-1", 1);
  store.Save("order-1", 3, BinaryState());
  store.Save("order-2", 0);
  store.Save("order-2", 1);
  store.Save("order-2", 2, std::nullopt, /*wrong_hash=*/true);
}

TEST_CASE("snapshot list prints every snapshot, or one stream's, newest first", "[cli][snapshot]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend: " << backend);
  SnapshotStore store(backend);
  Seed(store);
  CHECK(Str(store.RunLines({"stats"}).at(0), "backend") == backend);

  auto all = store.RunLines({"snapshot", "list"});
  REQUIRE(all.size() == 5);
  const std::vector<std::pair<std::string, std::uint64_t>> expected{
      {"order-1", 3}, {"order-1", 1}, {"order-2", 2}, {"order-2", 1}, {"order-2", 0}};
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& line = all[i];
    INFO("line " << i);
    CHECK(KeysOf(line) == kListKeys);
    CHECK(Str(line, "stream") == expected[i].first);
    CHECK(U64(line, "revision") == expected[i].second);
    CHECK(U64(line, "schema_version") == 7);
    const std::string state =
        i == 0 ? BinaryState() : StateOf(expected[i].first, expected[i].second);
    CHECK(U64(line, "state_bytes") == state.size());
    CHECK(MatchesShape(Str(line, "taken_at"), "DDDD-DD-DDTDD:DD:DD.DDDDDDZ"));
    cairn::Hash hash = store.EventHash(expected[i].first, expected[i].second);
    if (i == 2) hash[0] ^= 1;  // saved with a wrong hash: listed as saved
    CHECK(Str(line, "event_hash") == cairn::HashToHex(hash));
  }

  // One stream; a stream without snapshots, or without events, lists nothing.
  CHECK(store.ListedRevisions("order-2") == std::vector<std::uint64_t>{2, 1, 0});
  CHECK(store.ListedRevisions("user-1").empty());
  CHECK(store.ListedRevisions("no-such-stream").empty());

  // --check adds the verdict: the snapshot whose hash is not its event's.
  auto checked = store.RunLines({"snapshot", "list", "--check"});
  REQUIRE(checked.size() == 5);
  for (std::size_t i = 0; i < checked.size(); ++i) {
    INFO("line " << i);
    std::vector<std::string> keys = kListKeys;
    keys.push_back("problem");
    CHECK(KeysOf(checked[i]) == keys);
    CHECK(Str(checked[i], "problem") == (i == 2 ? "event-hash" : "none"));
  }
  auto checked_one = store.RunLines({"snapshot", "list", "order-1", "--check"});
  REQUIRE(checked_one.size() == 2);
  CHECK(Str(checked_one[0], "problem") == "none");

  // A table for people: a header and one row per snapshot.
  CliRun table = store.Run({"snapshot", "list", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  auto rows = table.Lines();
  REQUIRE(rows.size() == 6);
  for (const char* header : {"stream", "revision", "schema_version", "state_bytes", "taken_at", "event_hash"}) {
    CHECK(Contains(rows[0], header));
  }
  CHECK_FALSE(Contains(rows[0], "problem"));
  CHECK(rows[1].starts_with("order-1 "));
  CHECK(Contains(rows[1], cairn::HashToHex(store.EventHash("order-1", 3))));
  CliRun checked_table = store.Run({"--format", "table", "snapshot", "list", "--check"});
  REQUIRE_EXIT(checked_table, 0);
  rows = checked_table.Lines();
  REQUIRE(rows.size() == 6);
  CHECK(Contains(rows[0], "problem"));
  CHECK(Contains(rows[3], "event-hash"));
  CHECK(Contains(rows[1], "none"));
  // An empty list is a header alone.
  CliRun empty_table = store.Run({"snapshot", "list", "user-1", "--format", "table"});
  REQUIRE_EXIT(empty_table, 0);
  CHECK(empty_table.Lines().size() == 1);

  // The store judges stream names (exit 1), as elsewhere.
  for (const std::string& bad : {std::string(""), std::string("bad\x01name"), std::string(300, 'x')}) {
    CliRun run = store.Run({"snapshot", "list", bad});
    REQUIRE_EXIT(run, 1);
    CHECK(run.out.empty());
    CHECK(Contains(run.err, "cairn: error: cannot list the snapshots of"));
  }
}

TEST_CASE("snapshot show prints one snapshot with its verdict and state", "[cli][snapshot]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend: " << backend);
  SnapshotStore store(backend);
  Seed(store);

  // The newest by default; its state's bytes round-trip through state_base64.
  auto newest = store.RunLines({"snapshot", "show", "order-1"});
  REQUIRE(newest.size() == 1);
  std::vector<std::string> keys = kListKeys;
  keys.insert(keys.end(), {"problem", "state_base64"});
  CHECK(KeysOf(newest[0]) == keys);
  CHECK(Str(newest[0], "stream") == "order-1");
  CHECK(U64(newest[0], "revision") == 3);
  CHECK(U64(newest[0], "state_bytes") == 600);
  CHECK(Str(newest[0], "problem") == "none");
  CHECK(Str(newest[0], "event_hash") == cairn::HashToHex(store.EventHash("order-1", 3)));
  CHECK(Str(newest[0], "state_base64") == Base64(BinaryState()));

  // --revision picks one.
  auto older = store.RunLines({"snapshot", "show", "order-1", "--revision", "1"});
  REQUIRE(older.size() == 1);
  CHECK(U64(older[0], "revision") == 1);
  CHECK(Str(older[0], "state_base64") == Base64(StateOf("order-1", 1)));

  // The verdict of CheckSnapshot.
  auto suspect = store.RunLines({"snapshot", "show", "order-2"});
  REQUIRE(suspect.size() == 1);
  CHECK(U64(suspect[0], "revision") == 2);
  CHECK(Str(suspect[0], "problem") == "event-hash");

  // A table: the fields, then a hex dump of the first 512 bytes, saying what was left out.
  CliRun table = store.Run({"snapshot", "show", "order-1", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  CHECK(Contains(table.out, "\nrevision "));
  CHECK(Contains(table.out, "\nproblem "));
  CHECK_FALSE(Contains(table.out, "\nstate_base64 "));
  CHECK_FALSE(Contains(table.out, Base64(BinaryState()).substr(0, 40)));
  CHECK(Contains(table.out, "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|\n"));
  CHECK(Contains(table.out, "00000020  20 21 22 23 24 25 26 27  28 29 2a 2b 2c 2d 2e 2f  | !\"#$%&'()*+,-./|\n"));
  CHECK(Contains(table.out, "000001f0  "));
  CHECK_FALSE(Contains(table.out, "00000200  "));  // byte 512 is not shown
  CHECK(Contains(table.out, "88 more bytes not shown"));
  CliRun small = store.Run({"snapshot", "show", "order-1", "--revision", "1", "--format", "table"});
  REQUIRE_EXIT(small, 0);
  CHECK(Contains(small.out, "|state of order-1|\n"));
  CHECK_FALSE(Contains(small.out, "not shown"));

  // Nothing to show: exit 1, naming the stream (and the revision).
  CliRun none = store.Run({"snapshot", "show", "user-1"});
  REQUIRE_EXIT(none, 1);
  CHECK(none.out.empty());
  CHECK(Contains(none.err, "cairn: error: stream user-1 has no snapshots"));
  CliRun missing_stream = store.Run({"snapshot", "show", "no-such-stream"});
  REQUIRE_EXIT(missing_stream, 1);
  CHECK(Contains(missing_stream.err, "no-such-stream"));
  CliRun no_revision = store.Run({"snapshot", "show", "order-1", "--revision", "2"});
  REQUIRE_EXIT(no_revision, 1);
  CHECK(Contains(no_revision.err, "stream order-1 has no snapshot at revision 2"));
  REQUIRE_EXIT(store.Run({"snapshot", "show", ""}), 1);

  // Command-line errors: exit 2.
  REQUIRE_EXIT(store.Run({"snapshot", "show"}), 2);
  REQUIRE_EXIT(store.Run({"snapshot", "show", "order-1", "--revision", "-1"}), 2);
  REQUIRE_EXIT(store.Run({"snapshot", "show", "order-1", "--revision", "x"}), 2);
}

TEST_CASE("snapshot delete removes the newest, one revision or all of a stream's", "[cli][snapshot]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend: " << backend);
  SnapshotStore store(backend);
  Seed(store);
  const std::string log_before = store.Run({"export"}).out;

  // The newest by default: a load falls back to the one before it.
  auto deleted = store.RunLines({"snapshot", "delete", "order-2"});
  REQUIRE(deleted.size() == 1);
  CHECK(KeysOf(deleted[0]) == std::vector<std::string>{"stream", "deleted"});
  CHECK(Str(deleted[0], "stream") == "order-2");
  CHECK(U64(deleted[0], "deleted") == 1);
  CHECK(store.Revisions("order-2") == std::vector<std::uint64_t>{1, 0});

  // --revision
  CHECK(U64(store.RunLines({"snapshot", "delete", "order-2", "--revision", "0"})[0], "deleted") == 1);
  CHECK(store.Revisions("order-2") == std::vector<std::uint64_t>{1});
  // Deleting nothing is not an error.
  CHECK(U64(store.RunLines({"snapshot", "delete", "order-2", "--revision", "0"})[0], "deleted") == 0);
  CHECK(U64(store.RunLines({"snapshot", "delete", "user-1"})[0], "deleted") == 0);
  CHECK(U64(store.RunLines({"snapshot", "delete", "no-such-stream", "--all"})[0], "deleted") == 0);

  // --all, one stream only.
  CHECK(U64(store.RunLines({"snapshot", "delete", "order-1", "--all"})[0], "deleted") == 2);
  CHECK(store.Revisions("order-1").empty());
  CHECK(store.Revisions("order-2") == std::vector<std::uint64_t>{1});

  // --revision and --all together: a usage error, nothing deleted.
  CliRun both = store.Run({"snapshot", "delete", "order-2", "--revision", "1", "--all"});
  REQUIRE_EXIT(both, 2);
  CHECK(both.out.empty());
  CHECK(store.Revisions("order-2") == std::vector<std::uint64_t>{1});
  REQUIRE_EXIT(store.Run({"snapshot", "delete"}), 2);
  REQUIRE_EXIT(store.Run({"snapshot", "delete", "order-2", "--revision"}), 2);
  // A bad stream name: the store refuses it.
  CliRun bad = store.Run({"snapshot", "delete", "bad\nname"});
  REQUIRE_EXIT(bad, 1);
  CHECK(Contains(bad.err, "cairn: error: cannot delete the snapshots of"));

  // A table for people.
  CliRun table = store.Run({"snapshot", "delete", "order-2", "--format", "table"});
  REQUIRE_EXIT(table, 0);
  CHECK(Contains(table.out, "deleted  1\n"));
  CHECK(store.Revisions("order-2").empty());

  // Snapshots are derived data: the log is untouched and still verifies.
  CHECK(store.Run({"export"}).out == log_before);
  REQUIRE_EXIT(store.Run({"verify"}), 0);
}

TEST_CASE("snapshot prune keeps the newest K of each stream, or of one", "[cli][snapshot]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "lmdb");
  INFO("backend: " << backend);
  SnapshotStore store(backend);
  store.Append("order-1", 6);
  store.Append("order-2", 3);
  store.Append("order-3", 1);
  for (std::uint64_t revision = 0; revision < 6; ++revision) store.Save("order-1", revision);
  for (std::uint64_t revision = 0; revision < 3; ++revision) store.Save("order-2", revision);
  store.Save("order-3", 0);

  auto pruned = store.RunLines({"snapshot", "prune", "--keep", "2"});
  REQUIRE(pruned.size() == 1);
  CHECK(KeysOf(pruned[0]) == std::vector<std::string>{"deleted"});
  CHECK(U64(pruned[0], "deleted") == 4 + 1);
  CHECK(store.ListedRevisions("order-1") == std::vector<std::uint64_t>{5, 4});
  CHECK(store.ListedRevisions("order-2") == std::vector<std::uint64_t>{2, 1});
  CHECK(store.ListedRevisions("order-3") == std::vector<std::uint64_t>{0});

  // Again: nothing more to delete.
  CHECK(U64(store.RunLines({"snapshot", "prune", "--keep", "2"})[0], "deleted") == 0);

  // One stream.
  CHECK(U64(store.RunLines({"snapshot", "prune", "order-1", "--keep", "1"})[0], "deleted") == 1);
  CHECK(store.ListedRevisions("order-1") == std::vector<std::uint64_t>{5});
  CHECK(store.ListedRevisions("order-2") == std::vector<std::uint64_t>{2, 1});

  // --keep 0 deletes them all.
  CHECK(U64(store.RunLines({"snapshot", "prune", "--keep", "0", "order-2"})[0], "deleted") == 2);
  CHECK(store.ListedRevisions("order-1") == std::vector<std::uint64_t>{5});
  CHECK(U64(store.RunLines({"snapshot", "prune", "--keep", "0"})[0], "deleted") == 2);
  CHECK(store.RunLines({"snapshot", "list"}).empty());
  CHECK(U64(store.RunLines({"snapshot", "prune", "--keep", "0"})[0], "deleted") == 0);

  // --keep is required and a plain number; a bad stream name is the store's to refuse.
  REQUIRE_EXIT(store.Run({"snapshot", "prune"}), 2);
  REQUIRE_EXIT(store.Run({"snapshot", "prune", "order-1"}), 2);
  REQUIRE_EXIT(store.Run({"snapshot", "prune", "--keep", "-1"}), 2);
  REQUIRE_EXIT(store.Run({"snapshot", "prune", "--keep", "two"}), 2);
  REQUIRE_EXIT(store.Run({"snapshot", "prune", "--keep", "1", std::string(256, 'x')}), 1);
  REQUIRE_EXIT(store.Run({"verify"}), 0);
}

TEST_CASE("snapshot: usage errors exit 2, a missing store 1", "[cli][snapshot]") {
  TempDir dir;
  CliStore store(dir);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"snapshot"}, {"snapshot", "frobnicate"}, {"snapshot", "list", "--bogus"},
        {"snapshot", "show", "order-1", "--all"}, {"snapshot", "delete", "order-1", "--keep", "1"},
        {"snapshot", "list", "a", "b"}}) {
    CliRun run = store.Run(args);
    INFO("cairn snapshot " << (args.size() > 1 ? args[1] : ""));
    REQUIRE_EXIT(run, 2);
    CHECK(run.out.empty());
  }
  CliRun help = store.Run({"snapshot", "--help"});
  REQUIRE_EXIT(help, 0);
  for (const char* command : {"list", "show", "delete", "prune"}) CHECK(Contains(help.out, command));

  CliRun no_store = RunCairn(dir, {"--store", dir.File("missing.db"), "snapshot", "list"});
  REQUIRE_EXIT(no_store, 1);
  CHECK(Contains(no_store.err, "no store at"));
  CHECK_FALSE(std::filesystem::exists(dir.File("missing.db")));
}

}  // namespace
}  // namespace cairn_test
