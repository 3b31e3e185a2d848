// tests/conformance/conformance.h — what every conformance test uses.
//
// The suite is written once and linked into one executable per backend
// (cairn_conformance_<backend>, see CMakeLists.txt). TestBackend() says which
// backend this executable tests; every test opens its stores with TestOptions()
// or through TestStore, so nothing in a test names a backend.
//
//   cairn_test::TestStore store;                      // fresh store in its own temp dir
//   auto appended = store->Append("order-1", cairn::ExpectedRevision::NoStream(),
//                                 {cairn_test::Json("order.placed.v1")});
//   CAIRN_REQUIRE_OK(appended);
#pragma once

#include <cstdint>
#include <map>
#include <sstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/audit.h"
#include "cairn/event.h"
#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/store.h"
#include "test_util.h"

namespace cairn_test {

// The backend under test, fixed per executable (backend_selection.cc).
cairn::BackendKind TestBackend();
// Its short name, as in the executable's name ("sqlite").
std::string_view TestBackendName();

// Options for the backend under test that create the store when missing.
inline cairn::Options TestOptions() {
  cairn::Options options;
  options.backend = TestBackend();
  options.create_if_missing = true;
  return options;
}

// The helper executable used by the multi-process and crash tests.
inline std::string HelperPath() { return CAIRN_CONFORMANCE_HELPER; }
inline std::string BackendArg() { return std::to_string(static_cast<int>(TestBackend())); }

// A store of the backend under test, in a temp dir of its own.
class TestStore {
 public:
  explicit TestStore(cairn::Options options = TestOptions())
      : path_(dir_.File("store")), options_(options) {
    Reopen();
  }

  cairn::EventStore* operator->() const { return store_.get(); }
  cairn::EventStore& operator*() const { return *store_; }
  cairn::EventStore* get() const { return store_.get(); }

  const std::string& path() const { return path_; }
  const TempDir& dir() const { return dir_; }
  cairn::Options& options() { return options_; }

  // Closes the store (destroys the EventStore).
  void Close() { store_.reset(); }
  // Closes and opens it again with options().
  void Reopen() {
    store_.reset();
    auto opened = cairn::EventStore::Open(path_, options_);
    CAIRN_REQUIRE_OK(opened);
    store_ = std::move(*opened);
  }

 private:
  TempDir dir_;
  std::string path_;
  cairn::Options options_;
  std::unique_ptr<cairn::EventStore> store_;
};

// A JSON event of `type` without an id (the store generates one).
inline cairn::EventData Json(std::string type, std::string data = "{}") {
  cairn::EventData event;
  event.type = std::move(type);
  event.data = std::move(data);
  return event;
}

// A JSON event of `type` with a fresh explicit id.
inline cairn::EventData JsonWithId(std::string type, std::string data = "{}") {
  cairn::EventData event = Json(std::move(type), std::move(data));
  event.id = cairn::EventId::NewV7();
  return event;
}

// `count` JSON events with explicit ids, data {"n":<i>}.
inline std::vector<cairn::EventData> NumberedEvents(std::size_t count, const std::string& type = "test.event.v1") {
  std::vector<cairn::EventData> events;
  for (std::size_t i = 0; i < count; ++i) {
    events.push_back(JsonWithId(type, "{\"n\":" + std::to_string(i) + "}"));
  }
  return events;
}

// Every event of the log (or of `options`), owned. Requires the read to succeed.
inline std::vector<cairn::RecordedEvent> ReadLogAll(cairn::EventStore& store,
                                                    const cairn::ReadLogOptions& options = {}) {
  std::vector<cairn::RecordedEvent> events;
  auto read = store.ReadLog(options, [&](const cairn::EventView& event) {
    events.push_back(event.ToOwned());
    return true;
  });
  CAIRN_REQUIRE_OK(read);
  REQUIRE(*read == events.size());
  return events;
}

// The events of one stream, owned, or the read's error.
inline cairn::Result<std::vector<cairn::RecordedEvent>> ReadStreamAll(
    cairn::EventStore& store, std::string_view stream, const cairn::ReadStreamOptions& options = {}) {
  std::vector<cairn::RecordedEvent> events;
  auto read = store.ReadStream(stream, options, [&](const cairn::EventView& event) {
    events.push_back(event.ToOwned());
    return true;
  });
  if (!read) return std::unexpected(read.error());
  if (*read != events.size()) {
    return cairn::Fail(cairn::ErrorCode::kCorruption, "ReadStream returned a count unlike the visits");
  }
  return events;
}

inline std::uint64_t Head(cairn::EventStore& store) {
  auto head = store.HeadPosition();
  CAIRN_REQUIRE_OK(head);
  return *head;
}

// The chain recomputed here over `events` (which must be the whole log in order).
inline cairn::Hash RecomputeChain(const std::vector<cairn::RecordedEvent>& events) {
  cairn::Hash hash = cairn::kGenesisHash;
  for (const auto& event : events) hash = cairn::ChainHash(hash, event.view());
  return hash;
}

// Requires Verify() to succeed with ok == true; returns the report.
inline cairn::VerifyReport RequireVerifyOk(cairn::EventStore& store) {
  auto report = store.Verify();
  CAIRN_REQUIRE_OK(report);
  INFO("verify problem: " << report->problem << " at position " << report->first_bad_position);
  REQUIRE(report->ok);
  return *report;
}

// Requires the log to hold positions 1..N without a gap, and each stream's
// revisions to be contiguous from 0 in position order; returns the log.
inline std::vector<cairn::RecordedEvent> RequireGapFreeLog(cairn::EventStore& store) {
  auto events = ReadLogAll(store);
  std::map<std::string, std::uint64_t> next_revision;
  for (std::size_t i = 0; i < events.size(); ++i) {
    INFO("log index " << i << ", stream " << events[i].stream);
    REQUIRE(events[i].position == i + 1);
    REQUIRE(events[i].revision == next_revision[events[i].stream]);
    ++next_revision[events[i].stream];
  }
  REQUIRE(Head(store) == events.size());
  return events;
}

// One event acknowledged to the helper process (see conformance_helper.cc).
struct AckedEvent {
  cairn::EventId id;
  std::string stream;
  std::uint64_t revision = 0;
  std::uint64_t position = 0;
};

// Parses a helper's "A <stream> <first_revision> <first_position> <id>..." line.
inline std::vector<AckedEvent> ParseAckLine(const std::string& line) {
  std::istringstream in(line);
  std::string tag, stream, id_text;
  std::uint64_t revision = 0, position = 0;
  in >> tag >> stream >> revision >> position;
  INFO("helper line: " << line);
  REQUIRE(tag == "A");
  REQUIRE_FALSE(in.fail());
  std::vector<AckedEvent> events;
  while (in >> id_text) {
    auto id = cairn::EventId::Parse(id_text);
    CAIRN_REQUIRE_OK(id);
    events.push_back({*id, stream, revision++, position++});
  }
  REQUIRE_FALSE(events.empty());
  return events;
}

}  // namespace cairn_test
