// The small value helpers of cairn/event.h, cairn/store.h and cairn/status.h:
// stream names, categories, expected revisions, content types, log filters,
// owned/viewed events, error codes.
#include <set>
#include <string>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"
#include "cairn/store.h"
#include "test_util.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

TEST_CASE("ValidateStreamName accepts 1-255 bytes of UTF-8 without control characters", "[names]") {
  const std::vector<std::string> good = {
      "a",
      "order-42",
      std::string(255, 'x'),
      std::string(252, 'x') + "\xe2\x9c\x93",  // 255 bytes ending in a 3-byte character
      "заказ-42",
      "注文-7",
      "\xf0\x9f\x98\x80-1",  // a 4-byte character
      "with space",
      "\xf4\x8f\xbf\xbf",  // U+10FFFF, the last code point
  };
  for (const auto& name : good) {
    INFO(name);
    CAIRN_CHECK_OK(cairn::ValidateStreamName(name));
  }
}

TEST_CASE("ValidateStreamName rejects bad names", "[names]") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"256 bytes", std::string(256, 'x')},
      {"256 bytes of multi-byte characters", std::string(254, 'x') + "\xc3\xa9"},
      {"newline", "a\nb"},
      {"carriage return", "a\rb"},
      {"tab", "a\tb"},
      {"\\x01", "a\x01"},
      {"\\x1f", "\x1f"},
      {"DEL", "a\x7f"},
      {"NUL", std::string("a\0b", 3)},
      {"lone continuation byte", "\x80"},
      {"truncated 2-byte sequence", "a\xc3"},
      {"truncated 3-byte sequence", "a\xe2\x9c"},
      {"overlong '/'", "\xc0\xaf"},
      {"overlong 3-byte", "\xe0\x80\xaf"},
      {"surrogate", "\xed\xa0\x80"},
      {"beyond U+10FFFF", "\xf4\x90\x80\x80"},
      {"byte 0xff", "\xff"},
      {"byte 0xfe", "a\xfe"},
  };
  for (const auto& [what, name] : bad) {
    INFO(what);
    CAIRN_CHECK_ERROR(cairn::ValidateStreamName(name), ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("ValidateStreamName rejects C1 control characters", "[names]") {
  // U+0085 (NEL) and U+009F are control characters (Unicode category Cc) too.
  CAIRN_CHECK_ERROR(cairn::ValidateStreamName("order\xc2\x85" "42"), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(cairn::ValidateStreamName("order\xc2\x9f"), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_OK(cairn::ValidateStreamName("order\xc2\xa0" "42"));  // U+00A0 is not a control
}

TEST_CASE("CategoryOf is the part before the first '-'", "[names]") {
  CHECK(cairn::CategoryOf("order-42") == "order");
  CHECK(cairn::CategoryOf("a-b-c") == "a");
  CHECK(cairn::CategoryOf("plain") == "plain");
  CHECK(cairn::CategoryOf("order-") == "order");
  CHECK(cairn::CategoryOf("заказ-1") == "заказ");
  CHECK(cairn::CategoryOf("order:42") == "order:42");
}

TEST_CASE("ExpectedRevision::Parse", "[expected_revision]") {
  const std::vector<std::pair<std::string, ExpectedRevision>> good = {
      {"any", ExpectedRevision::Any()},
      {"no-stream", ExpectedRevision::NoStream()},
      {"exists", ExpectedRevision::StreamExists()},
      {"0", ExpectedRevision::Exact(0)},
      {"42", ExpectedRevision::Exact(42)},
      {"18446744073709551615", ExpectedRevision::Exact(UINT64_MAX)},
  };
  for (const auto& [text, expected] : good) {
    INFO(text);
    auto parsed = ExpectedRevision::Parse(text);
    CAIRN_CHECK_OK(parsed);
    if (!parsed) continue;
    CHECK(*parsed == expected);
    CHECK(parsed->kind() == expected.kind());
    // ToString is parseable back to the same value.
    auto reparsed = ExpectedRevision::Parse(parsed->ToString());
    CAIRN_REQUIRE_OK(reparsed);
    CHECK(*reparsed == expected);
  }
  CHECK(ExpectedRevision::Exact(7).revision() == 7);
  CHECK(ExpectedRevision::Exact(7).kind() == ExpectedRevision::Kind::kExact);
  CHECK(ExpectedRevision::Any().kind() == ExpectedRevision::Kind::kAny);
  CHECK(ExpectedRevision::Exact(1) != ExpectedRevision::Exact(2));
  CHECK(ExpectedRevision::Any() != ExpectedRevision::NoStream());

  for (const std::string bad : {"", "-1", "1.5", "abc", "18446744073709551616", "99999999999999999999999", "12a", "+1",
                                " 1", "1 "}) {
    INFO("'" << bad << "'");
    CAIRN_CHECK_ERROR(ExpectedRevision::Parse(bad), ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("IsJsonContentType", "[content_type]") {
  CHECK(cairn::IsJsonContentType(cairn::kContentTypeJson));
  CHECK(cairn::IsJsonContentType("application/cloudevents+json"));
  CHECK(cairn::IsJsonContentType("application/vnd.acme.order+json"));
  CHECK_FALSE(cairn::IsJsonContentType(cairn::kContentTypeOctets));
  CHECK_FALSE(cairn::IsJsonContentType(cairn::kContentTypeCapnp));
  CHECK_FALSE(cairn::IsJsonContentType("text/plain"));
  CHECK_FALSE(cairn::IsJsonContentType(""));
  CHECK_FALSE(cairn::IsJsonContentType("application/jsonx"));
  CHECK_FALSE(cairn::IsJsonContentType("application/json-seq"));
  CHECK_FALSE(cairn::IsJsonContentType("application/vnd.acme+jsonx"));
}

cairn::EventView SampleView() {
  cairn::EventView view;
  view.position = 9;
  view.stream = "order-42";
  view.revision = 2;
  view.id = cairn::EventId::NewV7();
  view.type = "order.paid.v1";
  view.recorded_at_us = 123;
  view.content_type = cairn::kContentTypeJson;
  view.data = "{}";
  view.metadata = R"({"actor":"a"})";
  view.hash.fill(7);
  return view;
}

TEST_CASE("LogFilter::Matches by category and type", "[log_filter]") {
  const auto event = SampleView();
  CHECK(cairn::LogFilter{}.Matches(event));
  CHECK(cairn::LogFilter{.category = "order"}.Matches(event));
  CHECK_FALSE(cairn::LogFilter{.category = "ord"}.Matches(event));
  CHECK_FALSE(cairn::LogFilter{.category = "order-42"}.Matches(event));
  CHECK_FALSE(cairn::LogFilter{.category = "orders"}.Matches(event));
  CHECK(cairn::LogFilter{.types = {"order.paid.v1"}}.Matches(event));
  CHECK(cairn::LogFilter{.types = {"x", "order.paid.v1"}}.Matches(event));
  CHECK_FALSE(cairn::LogFilter{.types = {"order.paid.v2"}}.Matches(event));
  CHECK(cairn::LogFilter{.category = "order", .types = {"order.paid.v1"}}.Matches(event));
  CHECK_FALSE(cairn::LogFilter{.category = "cust", .types = {"order.paid.v1"}}.Matches(event));
  CHECK_FALSE(cairn::LogFilter{.category = "order", .types = {"x"}}.Matches(event));
}

TEST_CASE("EventView::ToOwned and RecordedEvent::view round trip", "[event]") {
  const auto view = SampleView();
  const cairn::RecordedEvent owned = view.ToOwned();
  CHECK(owned.position == 9);
  CHECK(owned.stream == "order-42");
  CHECK(owned.revision == 2);
  CHECK(owned.id == view.id);
  CHECK(owned.type == "order.paid.v1");
  CHECK(owned.recorded_at_us == 123);
  CHECK(owned.content_type == "application/json");
  CHECK(owned.data == "{}");
  CHECK(owned.metadata == R"({"actor":"a"})");
  CHECK(owned.hash == view.hash);
  const auto back = owned.view();
  CHECK(back.stream.data() == owned.stream.data());  // a view of the owned strings
  CHECK(back.ToOwned() == owned);
}

TEST_CASE("error codes and errors", "[status]") {
  CHECK(cairn::ErrorCodeName(ErrorCode::kConflict) == "conflict");
  std::set<std::string> names;
  for (int code = 1; code <= 10; ++code) {
    const auto name = std::string(cairn::ErrorCodeName(static_cast<ErrorCode>(code)));
    INFO("code " << code);
    CHECK_FALSE(name.empty());
    names.insert(name);
  }
  CHECK(names.size() == 10);

  const cairn::Error busy(ErrorCode::kBusy, "database is locked");
  CHECK(busy.retryable());
  CHECK_FALSE(busy.conflict().has_value());
  CHECK(busy.ToString().find("database is locked") != std::string::npos);
  const cairn::Error not_found(ErrorCode::kNotFound, "order-1");
  CHECK_FALSE(not_found.retryable());

  const cairn::Error conflict(cairn::ConflictDetail{.stream = "order-42", .actual_revision = 5},
                              "order-42: expected revision 3, actual 5");
  CHECK(conflict.code() == ErrorCode::kConflict);
  REQUIRE(conflict.conflict().has_value());
  CHECK(conflict.conflict()->actual_revision == std::optional<std::uint64_t>(5));
  CHECK_FALSE(conflict.retryable());
  CHECK(conflict.ToString().starts_with("conflict"));
  CHECK(conflict.ToString().find("order-42: expected revision 3, actual 5") != std::string::npos);

  cairn::Result<int> failed = cairn::Fail(ErrorCode::kIOError, "disk full");
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code() == ErrorCode::kIOError);
  CHECK(failed.error().message() == "disk full");
}

}  // namespace
}  // namespace cairn_test

TEST_CASE("FormatTimestamp writes ISO-8601 UTC with microseconds", "[values]") {
  CHECK(cairn::FormatTimestamp(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(cairn::FormatTimestamp(1'795'440'301'123'456) == "2026-11-23T13:25:01.123456Z");
  CHECK(cairn::FormatTimestamp(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK(cairn::FormatTimestamp(951'782'400'000'001) == "2000-02-29T00:00:00.000001Z");
  CHECK(cairn::FormatTimestamp(-62'135'596'800'000'000) == "0001-01-01T00:00:00.000000Z");
  CHECK(cairn::FormatTimestamp(253'402'300'799'999'999) == "9999-12-31T23:59:59.999999Z");
}

TEST_CASE("FindInvalidUtf8 finds the first byte that is not well-formed UTF-8", "[values]") {
  constexpr auto npos = std::string_view::npos;
  CHECK(cairn::FindInvalidUtf8("") == npos);
  CHECK(cairn::FindInvalidUtf8("plain ascii") == npos);
  CHECK(cairn::FindInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == npos);
  CHECK(cairn::FindInvalidUtf8(std::string_view("a\0b", 3)) == npos);  // NUL is UTF-8
  CHECK(cairn::FindInvalidUtf8("ab\xff") == 2);                       // never a lead byte
  CHECK(cairn::FindInvalidUtf8("ab\xc3") == 2);                       // truncated
  CHECK(cairn::FindInvalidUtf8("\xc0\xaf") == 0);                     // overlong '/'
  CHECK(cairn::FindInvalidUtf8("x\xed\xa0\x80") == 1);                // a surrogate
  CHECK(cairn::FindInvalidUtf8("\xf4\x90\x80\x80") == 0);             // past U+10FFFF
  CHECK(cairn::FindInvalidUtf8("\xe2\x28\xa1") == 0);                 // bad continuation
}
