// EventStore::Import: another store's log in, the very same log out — and any
// input that is not an intact log refused, at the event that breaks it.
#include <memory>
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;
using cairn::RecordedEvent;

// Hands out `events` in order; counts how many were pulled.
struct VectorSource {
  std::vector<RecordedEvent> events;
  std::size_t pulled = 0;

  cairn::ImportSource Source() {
    return [this](RecordedEvent& event) -> cairn::Result<bool> {
      if (pulled == events.size()) return false;
      event = events[pulled++];
      return true;
    };
  }
};

// Recomputes every hash from kGenesisHash, as a forger who knows the algorithm would.
void Rechain(std::vector<RecordedEvent>& events) {
  cairn::Hash hash = cairn::kGenesisHash;
  for (auto& event : events) event.hash = hash = cairn::ChainHash(hash, event.view());
}

// 20 events over four streams: JSON (pretty-printed too), binary data, metadata
// on some, and "order-2" deleted (its tombstone is position 20).
std::vector<RecordedEvent> SourceLog() {
  TestStore source;
  for (int i = 0; i < 6; ++i) {
    for (const char* stream : {"order-1", "order-2", "blob-1"}) {
      cairn::EventData event = JsonWithId("test.event.v1", "{\n  \"i\": " + std::to_string(i) + ".50\n}");
      if (std::string(stream) == "blob-1") {
        event.content_type = std::string(cairn::kContentTypeOctets);
        event.data = std::string("\0\xff\xfe", 3) + std::to_string(i);
      }
      if (i % 2 == 0) event.metadata = R"({"actor":"ann"})";
      CAIRN_REQUIRE_OK(source->Append(stream, ExpectedRevision::Any(), {event}));
    }
  }
  CAIRN_REQUIRE_OK(source->Append("ünïcode-1", ExpectedRevision::NoStream(), {Json("x.v1")}));
  CAIRN_REQUIRE_OK(source->DeleteStream("order-2", ExpectedRevision::Exact(5)));
  auto events = ReadLogAll(*source);
  REQUIRE(events.size() == 20);
  return events;
}

cairn::StreamInfo Info(cairn::EventStore& store, std::string_view stream) {
  auto info = store.GetStreamInfo(stream);
  CAIRN_REQUIRE_OK(info);
  return *info;
}

TEST_CASE("import rebuilds the same log, in batches", "[import]") {
  const auto log = SourceLog();
  TestStore target;
  VectorSource source{log};
  std::vector<std::uint64_t> progress;
  auto imported = target->Import(source.Source(),
                                 {.batch_events = 7, .progress = [&](std::uint64_t n) { progress.push_back(n); }});
  CAIRN_REQUIRE_OK(imported);
  CHECK(imported->events == 20);
  CHECK(imported->streams == 4);
  CHECK(imported->head_position == 20);
  CHECK(imported->head_hash == log.back().hash);
  CHECK(progress == std::vector<std::uint64_t>{7, 14, 20});

  CHECK(ReadLogAll(*target) == log);  // every field, data and metadata byte for byte
  const auto report = RequireVerifyOk(*target);
  CHECK(report.head_hash == log.back().hash);
  CHECK(Info(*target, "order-1").head_revision == std::optional<std::uint64_t>(5));
  CHECK(Info(*target, "order-2").deleted);
  CHECK(Info(*target, "order-2").head_position == 20);
  CHECK(Info(*target, "ünïcode-1").head_position == 19);

  // The imported store goes on like the original: appends extend the chain.
  auto appended = target->Append("order-1", ExpectedRevision::Exact(5), {Json("test.event.v1")});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_position == 21);
  CAIRN_CHECK_ERROR(target->Append("order-2", ExpectedRevision::Any(), {Json("x.v1")}), ErrorCode::kStreamDeleted);
  // Re-sending an imported id is recognised as already committed (idempotency survives the import).
  cairn::EventData retry = Json("test.event.v1", log[0].data);
  retry.id = log[0].id;
  CAIRN_CHECK_ERROR(target->Append("order-9", ExpectedRevision::Any(), {retry}), ErrorCode::kDuplicateEventId);
  RequireVerifyOk(*target);
  auto last = ReadLogAll(*target, {.from_position = 21});
  REQUIRE(last.size() == 1);
  CHECK(last[0].recorded_at_us >= log.back().recorded_at_us);
}

TEST_CASE("import of nothing leaves an empty store", "[import]") {
  TestStore target;
  VectorSource source;
  auto imported = target->Import(source.Source());
  CAIRN_REQUIRE_OK(imported);
  CHECK(imported->events == 0);
  CHECK(imported->head_hash == cairn::kGenesisHash);
  CHECK(Head(*target) == 0);
}

TEST_CASE("import refuses a log that does not verify, at the event that breaks it", "[import]") {
  const auto log = SourceLog();
  struct Case {
    std::string name;
    std::function<void(std::vector<RecordedEvent>&)> damage;
    std::size_t culprit;          // index of the event that must be refused
    std::string message_part;
  };
  const std::vector<Case> cases{
      {"altered data", [](auto& e) { e[9].data = "{\"i\":9}"; }, 9, "position 10: the hash does not match"},
      {"a gap", [](auto& e) { e.erase(e.begin() + 9); }, 9, "position 10 is missing"},
      {"starting later", [](auto& e) { e.erase(e.begin()); }, 0, "position 2: the input starts here"},
      {"reordered", [](auto& e) { std::swap(e[9], e[10]); }, 9, "position 11"},
      {"a forged chain with a revision gap",
       [](auto& e) {
         e[3].revision = 2;  // order-1's second event, claimed as revision 2
         Rechain(e);
       },
       3, "stream \"order-1\" has revision 2 where 1 was expected"},
      {"a forged chain with an event after a tombstone",
       [](auto& e) {
         RecordedEvent late = e[1];  // order-2 revision 0 ...
         late.position = 21;
         late.revision = 6;  // ... after its tombstone at revision 5
         late.id = cairn::EventId::NewV7();
         late.recorded_at_us = e.back().recorded_at_us;
         e.push_back(late);
         Rechain(e);
       },
       20, "has an event after its tombstone"},
      {"a forged chain with a duplicate id",
       [](auto& e) {
         e[5].id = e[2].id;
         Rechain(e);
       },
       5, "is already at position 3"},
      {"a forged chain with invalid JSON",
       [](auto& e) {
         e[4].data = "{\"i\":";
         Rechain(e);
       },
       4, "position 5: data is not valid JSON"},
      {"a forged chain with a reserved type",
       [](auto& e) {
         e[4].type = "$system.v1";
         Rechain(e);
       },
       4, "reserved for the store"},
      {"a forged chain going back in time",
       [](auto& e) {
         e[6].recorded_at_us = e[5].recorded_at_us - 1;
         Rechain(e);
       },
       6, "recorded_at goes back in time"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      VectorSource source{log};
      c.damage(source.events);
      TestStore target;
      auto imported = target->Import(source.Source(), {.batch_events = 4});
      CAIRN_REQUIRE_ERROR(imported, ErrorCode::kCorruption);
      INFO("message: " << imported.error().message());
      CHECK(imported.error().message().find(c.message_part) != std::string::npos);
      CHECK(source.pulled == c.culprit + 1);  // the last event pulled is the one refused
      // Whole transactions before the culprit's stay: a verified prefix of the input.
      const std::uint64_t head = Head(*target);
      CHECK(head == c.culprit / 4 * 4);
      CHECK(ReadLogAll(*target) == std::vector<RecordedEvent>(log.begin(), log.begin() + static_cast<long>(head)));
      RequireVerifyOk(*target);
    }
  }
}

TEST_CASE("import only fills an empty store and passes the source's errors through", "[import]") {
  const auto log = SourceLog();
  TestStore target;
  CAIRN_REQUIRE_OK(target->Append("other-1", ExpectedRevision::NoStream(), {Json("x.v1")}));
  VectorSource source{log};
  auto imported = target->Import(source.Source());
  CAIRN_REQUIRE_ERROR(imported, ErrorCode::kInvalidArgument);
  CHECK(imported.error().message().find("not empty") != std::string::npos);
  CHECK(Head(*target) == 1);

  TestStore fresh;
  std::size_t calls = 0;
  auto failed = fresh->Import([&](RecordedEvent& event) -> cairn::Result<bool> {
    if (calls == 3) return cairn::Fail(ErrorCode::kIOError, "the disk went away");
    event = log[calls++];
    return true;
  });
  CAIRN_REQUIRE_ERROR(failed, ErrorCode::kIOError);
  CHECK(failed.error().message() == "the disk went away");
  CHECK(Head(*fresh) == 0);  // the transaction in progress was not committed

  cairn::Options read_only = TestOptions();
  read_only.read_only = true;
  auto reader = cairn::EventStore::Open(fresh.path(), read_only);
  CAIRN_REQUIRE_OK(reader);
  CAIRN_CHECK_ERROR((*reader)->Import(VectorSource{log}.Source()), ErrorCode::kNotSupported);
}

TEST_CASE("import grows a small LMDB map as it goes", "[import]") {
  // 64 KiB map: each batch of large events runs into MDB_MAP_FULL and is
  // replayed in a new transaction (on SQLite the option means nothing).
  std::vector<RecordedEvent> log;
  {
    TestStore source;
    for (int i = 0; i < 12; ++i) {
      cairn::EventData event = JsonWithId("blob.v1");
      event.content_type = std::string(cairn::kContentTypeOctets);
      event.data.assign(200'000, static_cast<char>('a' + i));
      CAIRN_REQUIRE_OK(source->Append("blob-" + std::to_string(i % 3), ExpectedRevision::Any(), {event}));
    }
    log = ReadLogAll(*source);
  }
  cairn::Options options = TestOptions();
  options.lmdb_initial_map_bytes = 64 * 1024;
  TestStore target(options);
  VectorSource source{log};
  auto imported = target->Import(source.Source(), {.batch_events = 5});
  CAIRN_REQUIRE_OK(imported);
  CHECK(imported->events == 12);
  CHECK(source.pulled == 12);  // a replayed batch is not pulled again
  CHECK(ReadLogAll(*target) == log);
  RequireVerifyOk(*target);
  if (TestBackend() == cairn::BackendKind::kLmdb) {
    auto stats = target->Stats();
    CAIRN_REQUIRE_OK(stats);
    CHECK(stats->map_bytes >= 2'400'000);  // grown from 64 KiB while importing
  }
}

}  // namespace
}  // namespace cairn_test
