// Deleting a stream: a "$stream.deleted" tombstone on the audit chain.
#include <string>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

TEST_CASE("a deleted stream is tombstoned", "[tombstone]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(3)));  // 1..3
  CAIRN_REQUIRE_OK(store->Append("order-2", ExpectedRevision::NoStream(), NumberedEvents(1)));  // 4

  auto deleted = store->DeleteStream("order-1", ExpectedRevision::Any());
  CAIRN_REQUIRE_OK(deleted);
  CHECK(deleted->first_revision == 3);
  CHECK(deleted->last_revision == 3);
  CHECK(deleted->first_position == 5);
  CHECK(deleted->last_position == 5);
  CHECK(Head(*store) == 5);

  CAIRN_CHECK_ERROR(store->ReadStream("order-1", {}, [](const cairn::EventView&) { return true; }),
                    ErrorCode::kStreamDeleted);
  for (auto expected : {ExpectedRevision::Any(), ExpectedRevision::StreamExists(), ExpectedRevision::Exact(3),
                        ExpectedRevision::NoStream()}) {
    INFO("expected " << expected.ToString());
    CAIRN_CHECK_ERROR(store->Append("order-1", expected, {Json("order.paid.v1")}), ErrorCode::kStreamDeleted);
  }
  CAIRN_CHECK_ERROR(store->DeleteStream("order-1", ExpectedRevision::Any()), ErrorCode::kStreamDeleted);
  CHECK(Head(*store) == 5);

  auto info = store->GetStreamInfo("order-1");
  CAIRN_REQUIRE_OK(info);
  CHECK(info->deleted);
  CHECK(info->head_revision == std::optional<std::uint64_t>(3));
  CHECK(info->head_position == 5);

  // The tombstone is an event of the global log; the stream's events stay there too.
  const auto log = RequireGapFreeLog(*store);
  REQUIRE(log.size() == 5);
  CHECK(log[4].stream == "order-1");
  CHECK(log[4].type == cairn::kStreamDeletedType);
  CHECK(log[4].revision == 3);
  CHECK(log[0].stream == "order-1");
  CHECK(ReadLogAll(*store, {.filter = {.types = {std::string(cairn::kStreamDeletedType)}}}).size() == 1);

  // Other streams are untouched.
  auto other = ReadStreamAll(*store, "order-2");
  CAIRN_REQUIRE_OK(other);
  CHECK(other->size() == 1);
  CAIRN_CHECK_OK(store->Append("order-2", ExpectedRevision::Exact(0), {Json("order.paid.v1")}));

  auto stats = store->Stats();
  CAIRN_REQUIRE_OK(stats);
  CHECK(stats->deleted_stream_count == 1);

  const auto report = RequireVerifyOk(*store);
  CHECK(report.head_position == 6);
  CHECK(report.head_hash == RecomputeChain(ReadLogAll(*store)));

  // Still deleted after a reopen.
  store.Reopen();
  CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json("order.paid.v1")}),
                    ErrorCode::kStreamDeleted);
  CAIRN_CHECK_ERROR(store->ReadStream("order-1", {}, [](const cairn::EventView&) { return true; }),
                    ErrorCode::kStreamDeleted);
}

TEST_CASE("deleting a stream honours the expected revision", "[tombstone]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(2)));
  auto conflict = store->DeleteStream("order-1", ExpectedRevision::Exact(0));
  CAIRN_REQUIRE_ERROR(conflict, ErrorCode::kConflict);
  REQUIRE(conflict.error().conflict().has_value());
  CHECK(conflict.error().conflict()->actual_revision == std::optional<std::uint64_t>(1));
  CHECK(Head(*store) == 2);
  auto deleted = store->DeleteStream("order-1", ExpectedRevision::Exact(1));
  CAIRN_REQUIRE_OK(deleted);
  CHECK(deleted->last_revision == 2);
  CHECK(deleted->last_position == 3);
}

TEST_CASE("deleting a missing stream is kNotFound", "[tombstone]") {
  TestStore store;
  CAIRN_REQUIRE_ERROR(store->DeleteStream("order-1", ExpectedRevision::Any()), ErrorCode::kNotFound);
  CAIRN_REQUIRE_OK(store->Append("order-2", ExpectedRevision::Any(), {Json("a.v1")}));
  CAIRN_REQUIRE_ERROR(store->DeleteStream("order-1", ExpectedRevision::Any()), ErrorCode::kNotFound);
  CHECK(Head(*store) == 1);
}

TEST_CASE("user event types starting with '$' are reserved", "[tombstone][validation]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("a.v1")}));
  CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json("$stream.deleted")}),
                    ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json("$anything")}),
                    ErrorCode::kInvalidArgument);
  auto info = store->GetStreamInfo("order-1");
  CAIRN_REQUIRE_OK(info);
  CHECK_FALSE(info->deleted);
  CHECK(Head(*store) == 1);
}

}  // namespace
}  // namespace cairn_test
