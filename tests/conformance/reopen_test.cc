// Closing and reopening a store; read-only opens.
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

TEST_CASE("reopen preserves data, head and hash chain", "[reopen]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(3)));
  CAIRN_REQUIRE_OK(store->Append("cust-1", ExpectedRevision::NoStream(), NumberedEvents(2)));
  CAIRN_REQUIRE_OK(store->DeleteStream("cust-1", ExpectedRevision::Exact(1)));
  const auto log = ReadLogAll(*store);
  const auto report = RequireVerifyOk(*store);

  for (int round = 0; round < 3; ++round) {
    INFO("reopen " << round);
    store.Reopen();
    CHECK(ReadLogAll(*store) == log);
    CHECK(Head(*store) == 6);
    const auto reopened = RequireVerifyOk(*store);
    CHECK(reopened.head_hash == report.head_hash);
    CHECK(reopened.head_position == 6);
  }

  // Appends continue where the store left off.
  auto appended = store->Append("order-1", ExpectedRevision::Exact(2), {Json("order.paid.v1")});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_revision == 3);
  CHECK(appended->first_position == 7);
  CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::NoStream(), {Json("x.v1")}), ErrorCode::kConflict);
  auto fresh = store->Append("order-2", ExpectedRevision::NoStream(), {Json("order.placed.v1")});
  CAIRN_REQUIRE_OK(fresh);
  CHECK(fresh->first_revision == 0);
  CHECK(fresh->first_position == 8);

  const auto extended = RequireGapFreeLog(*store);
  REQUIRE(extended.size() == 8);
  // The chain continues from the hash before the reopen.
  CHECK(extended[6].hash == cairn::ChainHash(report.head_hash, extended[6].view()));
  CHECK(RequireVerifyOk(*store).head_hash == RecomputeChain(extended));

  // An idempotent retry of an append made before the reopen is still recognised.
  store.Reopen();
  std::vector<cairn::EventData> retry;
  for (std::size_t i = 0; i < 3; ++i) {
    cairn::EventData event = Json(log[i].type, log[i].data);
    event.id = log[i].id;
    retry.push_back(event);
  }
  auto retried = store->Append("order-1", ExpectedRevision::NoStream(), retry);
  CAIRN_REQUIRE_OK(retried);
  CHECK(retried->already_committed);
  CHECK(retried->first_position == 1);
  CHECK(Head(*store) == 8);
}

TEST_CASE("a read-only store reads but refuses writes", "[reopen][read-only]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(2)));
  const auto log = ReadLogAll(*store);
  store.Close();
  const auto bytes_before = ReadFileBytes(store.path());

  cairn::Options options = TestOptions();
  options.create_if_missing = false;
  options.read_only = true;
  auto opened = cairn::EventStore::Open(store.path(), options);
  CAIRN_REQUIRE_OK(opened);
  auto& read_only = **opened;
  CHECK(ReadLogAll(read_only) == log);
  CAIRN_CHECK_ERROR(read_only.Append("order-1", ExpectedRevision::Any(), {Json("a.v1")}), ErrorCode::kNotSupported);
  CAIRN_CHECK_ERROR(read_only.DeleteStream("order-1", ExpectedRevision::Any()), ErrorCode::kNotSupported);
  CHECK(RequireVerifyOk(read_only).head_position == 2);
  opened->reset();
  CHECK(ReadFileBytes(store.path()) == bytes_before);
}

TEST_CASE("opening a missing path without create_if_missing is kNotFound", "[reopen]") {
  TempDir dir;
  cairn::Options options = TestOptions();
  options.create_if_missing = false;
  auto opened = cairn::EventStore::Open(dir.File("nope"), options);
  CAIRN_REQUIRE_ERROR(opened, ErrorCode::kNotFound);
  CHECK(ListDir(dir.path()).empty());
  options.read_only = true;
  CAIRN_REQUIRE_ERROR(cairn::EventStore::Open(dir.File("nope"), options), ErrorCode::kNotFound);
  CHECK(ListDir(dir.path()).empty());
}

TEST_CASE("an empty store opens, verifies and reopens", "[reopen]") {
  TestStore store;
  CHECK(Head(*store) == 0);
  auto report = RequireVerifyOk(*store);
  CHECK(report.events_checked == 0);
  CHECK(report.head_position == 0);
  CHECK(report.head_hash == cairn::kGenesisHash);
  store.Reopen();
  CHECK(Head(*store) == 0);
  auto appended = store->Append("order-1", ExpectedRevision::NoStream(), {Json("a.v1")});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_position == 1);
}

}  // namespace
}  // namespace cairn_test
