// Named checkpoints: a log consumer's progress kept in the store file.
#include <string>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

TEST_CASE("a checkpoint is saved, replaced, listed, survives a reopen and is deleted", "[checkpoint]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(5)));

  auto missing = store->ReadCheckpoint("bridge.orders");
  CAIRN_REQUIRE_OK(missing);
  CHECK_FALSE(missing->has_value());

  CAIRN_REQUIRE_OK(store->SaveCheckpoint("bridge.orders", 3, R"({"state":"live"})"));
  CAIRN_REQUIRE_OK(store->SaveCheckpoint("bridge.audit", 0));
  CAIRN_REQUIRE_OK(store->SaveCheckpoint("bridge.orders", 5, "detail with spaces  and\nlines"));

  auto read = store->ReadCheckpoint("bridge.orders");
  CAIRN_REQUIRE_OK(read);
  REQUIRE(read->has_value());
  CHECK((*read)->name == "bridge.orders");
  CHECK((*read)->position == 5);
  CHECK((*read)->detail == "detail with spaces  and\nlines");
  CHECK((*read)->saved_at_us > 0);

  store.Reopen();
  auto all = store->ListCheckpoints();
  CAIRN_REQUIRE_OK(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].name == "bridge.audit");
  CHECK((*all)[0].position == 0);
  CHECK((*all)[0].detail.empty());
  CHECK((*all)[1].name == "bridge.orders");
  CHECK((*all)[1].position == 5);

  auto deleted = store->DeleteCheckpoint("bridge.orders");
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted);
  auto again = store->DeleteCheckpoint("bridge.orders");
  CAIRN_REQUIRE_OK(again);
  CHECK_FALSE(*again);
  auto gone = store->ReadCheckpoint("bridge.orders");
  CAIRN_REQUIRE_OK(gone);
  CHECK_FALSE(gone->has_value());

  // Checkpoints are not events: the log and its audit chain are untouched.
  CHECK(Head(*store) == 5);
  auto report = store->Verify();
  CAIRN_REQUIRE_OK(report);
  CHECK(report->ok);
}

TEST_CASE("a checkpoint past the head or with a bad name is refused", "[checkpoint]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(2)));
  CAIRN_CHECK_ERROR(store->SaveCheckpoint("relay", 3), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->SaveCheckpoint("", 1), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->SaveCheckpoint("has space", 1), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->SaveCheckpoint(std::string(201, 'a'), 1), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->ReadCheckpoint("tab\there"), ErrorCode::kInvalidArgument);
  auto all = store->ListCheckpoints();
  CAIRN_REQUIRE_OK(all);
  CHECK(all->empty());
}

TEST_CASE("a read-only store reads checkpoints and refuses to save them", "[checkpoint]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(2)));
  CAIRN_REQUIRE_OK(store->SaveCheckpoint("relay", 2));
  store.options().read_only = true;
  store.Reopen();
  auto read = store->ReadCheckpoint("relay");
  CAIRN_REQUIRE_OK(read);
  REQUIRE(read->has_value());
  CHECK((*read)->position == 2);
  CAIRN_CHECK_ERROR(store->SaveCheckpoint("relay", 1), ErrorCode::kNotSupported);
}

}  // namespace
}  // namespace cairn_test
