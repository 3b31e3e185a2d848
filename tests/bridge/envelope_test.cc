// The envelope: made from recorded events, written as JSON and Cap'n Proto,
// read back exactly (random events included), its headers, and the strictness
// of both parsers.
#include "cairn/envelope.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/store.h"
#include "envelope.capnp.h"
#include "test_util.h"
#include "text_codec.h"

namespace {

using cairn::Envelope;
using cairn::EnvelopeFormat;
using cairn::RecordedEvent;

constexpr std::string_view kEventId = "0190a5c8-7e1c-7a3b-9f00-0123456789ab";
// 2025-01-31T10:00:00.123456Z
constexpr std::int64_t kRecordedAt = 1738317600123456;

RecordedEvent SampleEvent() {
  RecordedEvent event;
  event.position = 17;
  event.stream = "order-42";
  event.revision = 3;
  event.id = *cairn::EventId::Parse(kEventId);
  event.type = "acme.orders.order.placed.v2";
  event.recorded_at_us = kRecordedAt;
  event.content_type = "application/json";
  event.data = R"({"customer":"c-7","total":18.50,"qty":12345678901234567890123})";
  event.metadata =
      R"({"correlation_id":"5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70","causation_id":"c-1","actor":"ada","tenant":"t1"})";
  return event;
}

Envelope Make(const RecordedEvent& event, std::string_view service = "orders-service") {
  auto envelope = cairn::MakeEnvelope(event.view(), service);
  INFO("MakeEnvelope: " << cairn_test::Describe(envelope));
  REQUIRE(envelope.has_value());
  return std::move(*envelope);
}

std::string MakeError(const RecordedEvent& event) {
  auto envelope = cairn::MakeEnvelope(event.view(), "orders-service");
  REQUIRE_FALSE(envelope.has_value());
  CHECK(envelope.error().code() == cairn::ErrorCode::kInvalidArgument);
  return envelope.error().message();
}

// The error of a JSON envelope that must not parse; it must contain `part`.
void RequireJsonError(std::string_view json, std::string_view part) {
  auto parsed = cairn::ParseEnvelopeJson(json);
  INFO("envelope: " << json);
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().code() == cairn::ErrorCode::kInvalidArgument);
  INFO("message: " << parsed.error().message());
  CHECK(parsed.error().message().starts_with("invalid JSON envelope: "));
  CHECK(parsed.error().message().find(part) != std::string::npos);
}

void RequireCapnpError(std::string_view message, std::string_view part) {
  auto parsed = cairn::ParseEnvelopeCapnp(message);
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().code() == cairn::ErrorCode::kInvalidArgument);
  INFO("message: " << parsed.error().message());
  CHECK(parsed.error().message().starts_with("invalid Cap'n Proto envelope: "));
  CHECK(parsed.error().message().find(part) != std::string::npos);
}

// `text` with the first occurrence of `from` replaced by `to` (which must be there).
std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

void RequireRoundTrips(const Envelope& envelope) {
  const std::string json = cairn::EnvelopeJson(envelope);
  INFO("JSON envelope: " << json);
  CHECK(cairn::detail::CheckJsonText(json).has_value());
  auto from_json = cairn::ParseEnvelopeJson(json);
  INFO("ParseEnvelopeJson: " << cairn_test::Describe(from_json));
  REQUIRE(from_json.has_value());
  CHECK(*from_json == envelope);

  const std::string capnp = cairn::EnvelopeCapnp(envelope);
  REQUIRE(capnp.size() >= 16);
  CHECK(capnp.size() % 8 == 0);
  // One segment: the segment table's first u32 (segment count - 1) is 0, and its
  // second is the rest of the message in words.
  std::uint32_t table[2];
  std::memcpy(table, capnp.data(), sizeof table);
  CHECK(table[0] == 0);
  CHECK(table[1] == capnp.size() / 8 - 1);
  auto from_capnp = cairn::ParseEnvelopeCapnp(capnp);
  INFO("ParseEnvelopeCapnp: " << cairn_test::Describe(from_capnp));
  REQUIRE(from_capnp.has_value());
  CHECK(*from_capnp == envelope);
}

// ---- random events -------------------------------------------------------

class RandomEvents {
 public:
  explicit RandomEvents(std::uint64_t seed) : rng_(seed) {}

  RecordedEvent Next(std::uint64_t position) {
    RecordedEvent event;
    event.position = position;
    event.stream =
        Pick({"order", "ordre", "заказ", "注文", "a"}) + "-" + std::to_string(Below(1000)) + (Chance(4) ? "-é😀" : "");
    event.revision = Chance(10) ? UINT64_MAX - Below(3) : Below(100000);
    event.id = cairn::EventId::NewV7();
    event.type = Pick({"acme.orders.order.placed.v1", "order.paid.v12", "order.shipped", "Bestellung.storniert.v3",
                       "$stream.deleted", "x.v0", "type.vX", "ünïcode.event.v4294967295"});
    // Anywhere in 0001-01-01 .. 9999-12-31.
    event.recorded_at_us = static_cast<std::int64_t>(Below(315537897600000000ull)) - 62135596800000000ll;
    switch (Below(6)) {
      case 0:
        event.content_type = "application/octet-stream";
        break;
      case 1:
        event.content_type = "application/x-capnp";
        break;
      case 2:
        event.content_type = "application/cloudevents+json";
        break;
      case 3:
        event.content_type = "application/json; charset=utf-8";
        break;
      default:
        event.content_type = "application/json";
        break;
    }
    if (cairn::IsJsonContentType(event.content_type)) {
      event.data = Space() + Value(0) + Space();
    } else {
      event.data = Bytes(Below(4) == 0 ? 0 : Below(300));
    }
    if (!Chance(3)) event.metadata = Space() + Metadata() + Space();
    return event;
  }

 private:
  std::uint64_t Below(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }
  bool Chance(std::uint64_t one_in) { return Below(one_in) == 0; }
  std::string Pick(std::initializer_list<std::string_view> choices) {
    return std::string(*(choices.begin() + Below(choices.size())));
  }
  std::string Space() {
    static constexpr std::string_view kSpaces[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    return std::string(kSpaces[Below(std::size(kSpaces))]);
  }
  std::string Bytes(std::uint64_t count) {
    std::string bytes;
    for (std::uint64_t i = 0; i < count; ++i) bytes += static_cast<char>(Below(256));
    return bytes;
  }
  std::string StringLiteral() {
    static constexpr std::string_view kPieces[] = {
        "a",       "Z", " ",   "é", "😀", "注文",    "\\n", "\\\"", "\\\\", "\\u00e9", "\\ud83d\\ude00",
        "\\u0000", "/", "\\/", "'", "ß", "\xc2\xa0"};
    std::string text = "\"";
    for (std::uint64_t i = Below(12); i > 0; --i) text += kPieces[Below(std::size(kPieces))];
    return text + "\"";
  }
  std::string Number() {
    static constexpr std::string_view kNumbers[] = {"0",
                                                    "-0",
                                                    "1",
                                                    "-17",
                                                    "18.50",
                                                    "1.10",
                                                    "9007199254740993",
                                                    "12345678901234567890123",
                                                    "-9223372036854775809",
                                                    "18446744073709551616",
                                                    "1e300",
                                                    "-1E-300",
                                                    "2.5E-3",
                                                    "0.000000000000000000000000001",
                                                    "3.14159265358979323846264338327950288"};
    return std::string(kNumbers[Below(std::size(kNumbers))]);
  }
  std::string Value(int depth) {
    const std::uint64_t kind = depth >= 4 ? Below(4) : Below(6);
    switch (kind) {
      case 0:
        return Number();
      case 1:
        return StringLiteral();
      case 2:
        return Pick({"true", "false", "null"});
      case 3:
        return Number();
      case 4: {
        std::string text = "[" + Space();
        for (std::uint64_t i = 0, n = Below(4); i < n; ++i) {
          text += (i == 0 ? "" : "," + Space()) + Value(depth + 1) + Space();
        }
        return text + "]";
      }
      default: {
        std::string text = "{" + Space();
        for (std::uint64_t i = 0, n = Below(4); i < n; ++i) {
          text += (i == 0 ? "" : "," + Space()) + StringLiteral() + Space() + ":" + Space() + Value(depth + 1);
        }
        return text + Space() + "}";
      }
    }
  }
  std::string Metadata() {
    std::string text = "{";
    bool first = true;
    const auto add = [&](std::string member) {
      text += (first ? "" : ",") + Space() + member;
      first = false;
    };
    if (Chance(2))
      add("\"correlation_id\":" +
          Pick({"\"5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70\"", "\"req-1\"", "\"\"", "null", "\"\\u00e9t\\u00e9\""}));
    if (Chance(2)) add("\"causation_id\":" + Pick({"\"0190a5c8-7e1c-7a3b-9f00-0123456789ab\"", "null"}));
    if (Chance(2)) add("\"trace_id\":" + Pick({"\"4bf92f3577b34da6a3ce929d0e0e4736\"", "\"注文\""}));
    if (Chance(2)) add("\"tenant\":" + Value(2));
    if (Chance(3)) add("\"big\":" + Number());
    return text + Space() + "}";
  }

  std::mt19937_64 rng_;
};

}  // namespace

TEST_CASE("schema_version is N of the type's .vN suffix, 1 without one") {
  CHECK(cairn::SchemaVersionOf("order.placed.v1") == 1);
  CHECK(cairn::SchemaVersionOf("acme.orders.order.placed.v2") == 2);
  CHECK(cairn::SchemaVersionOf("order.placed.v10") == 10);
  CHECK(cairn::SchemaVersionOf("order.placed.v0") == 0);
  CHECK(cairn::SchemaVersionOf("order.placed.v4294967295") == 4294967295u);
  CHECK(cairn::SchemaVersionOf("order.placed") == 1);
  CHECK(cairn::SchemaVersionOf("order.placed.v") == 1);
  CHECK(cairn::SchemaVersionOf("order.placed.V2") == 1);
  CHECK(cairn::SchemaVersionOf("order.placed.v2a") == 1);
  CHECK(cairn::SchemaVersionOf("order.placed.v4294967296") == 1);  // more than 32 bits is not a version
  CHECK(cairn::SchemaVersionOf("order.placed.v12345678901") == 1);
  CHECK(cairn::SchemaVersionOf("v2") == 1);  // a suffix follows a dot
  CHECK(cairn::SchemaVersionOf("order.v2.placed") == 1);
}

TEST_CASE("an envelope takes its fields from the event, its ids from the metadata") {
  const Envelope envelope = Make(SampleEvent());
  CHECK(envelope.event_id.ToString() == kEventId);
  CHECK(envelope.event_type == "acme.orders.order.placed.v2");
  CHECK(envelope.event_timestamp_us == kRecordedAt);
  CHECK(envelope.source_service == "orders-service");
  CHECK(envelope.correlation_id == "5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70");
  CHECK(envelope.causation_id == "c-1");
  CHECK_FALSE(envelope.trace_id.has_value());
  CHECK(envelope.schema_version == 2);
  CHECK(envelope.stream == "order-42");
  CHECK(envelope.revision == 3);
  CHECK(envelope.position == 17);
  CHECK(envelope.data_content_type == "application/json");
  CHECK(envelope.data == SampleEvent().data);
  CHECK(envelope.metadata == SampleEvent().metadata);
}

TEST_CASE("the JSON envelope: every field, in order, data embedded byte-exact") {
  const std::string json = cairn::EnvelopeJson(Make(SampleEvent()));
  CHECK(
      json ==
      R"({"event_id":"0190a5c8-7e1c-7a3b-9f00-0123456789ab","event_type":"acme.orders.order.placed.v2",)"
      R"("event_timestamp":"2025-01-31T10:00:00.123456Z","source_service":"orders-service",)"
      R"("correlation_id":"5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70","causation_id":"c-1","trace_id":null,)"
      R"("schema_version":2,"stream":"order-42","revision":3,"position":17,)"
      R"("data_content_type":"application/json","data_encoding":"json",)"
      R"("metadata":{"correlation_id":"5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70","causation_id":"c-1","actor":"ada","tenant":"t1"},)"
      R"("data":{"customer":"c-7","total":18.50,"qty":12345678901234567890123}})");
}

TEST_CASE("JSON data keeps every byte of its value: numbers, escapes, unicode, inner whitespace") {
  RecordedEvent event = SampleEvent();
  event.data =
      "\n  {\"big\": 12345678901234567890123456789, \"neg\": -9223372036854775809,\n"
      "   \"f\": 1.10, \"e\": 1E300, \"s\": \"caf\\u00e9 \\ud83d\\ude00 注文\", \"n\": [ ] }\r\n";
  event.metadata = " {\"trace_id\": \"4bf92f3577b34da6a3ce929d0e0e4736\"}\n";
  const Envelope envelope = Make(event);
  // Only the whitespace around the value goes.
  CHECK(envelope.data == cairn::detail::TrimJsonSpace(event.data));
  CHECK(envelope.data.starts_with("{\"big\": 12345678901234567890123456789"));
  CHECK(envelope.metadata == "{\"trace_id\": \"4bf92f3577b34da6a3ce929d0e0e4736\"}");
  CHECK(envelope.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK_FALSE(envelope.correlation_id.has_value());
  const std::string json = cairn::EnvelopeJson(envelope);
  CHECK(json.find(",\"data\":" + envelope.data + "}") != std::string::npos);
  RequireRoundTrips(envelope);
}

TEST_CASE("non-JSON data is base64 with its content type") {
  RecordedEvent event = SampleEvent();
  event.content_type = "application/octet-stream";
  event.data = std::string("opaque\0bytes\xff", 13);
  const Envelope envelope = Make(event);
  CHECK(envelope.data == event.data);
  const std::string json = cairn::EnvelopeJson(envelope);
  CHECK(json.find(R"("data_content_type":"application/octet-stream","data_encoding":"base64",)") != std::string::npos);
  CHECK(json.ends_with(R"("data":"b3BhcXVlAGJ5dGVz/w=="})"));
  RequireRoundTrips(envelope);

  event.data.clear();  // empty data is fine for bytes
  const Envelope empty = Make(event);
  CHECK(cairn::EnvelopeJson(empty).ends_with(R"("data":""})"));
  RequireRoundTrips(empty);

  event.content_type = "application/x-capnp";
  event.data = std::string("\0\0\0\0\1\0\0\0\0\0\0\0\0\0\0\0", 16);
  RequireRoundTrips(Make(event));
}

TEST_CASE("missing, null and empty optional ids") {
  RecordedEvent event = SampleEvent();
  event.metadata.clear();
  Envelope envelope = Make(event);
  CHECK_FALSE(envelope.correlation_id.has_value());
  CHECK_FALSE(envelope.causation_id.has_value());
  CHECK_FALSE(envelope.trace_id.has_value());
  CHECK(envelope.metadata.empty());
  const std::string json = cairn::EnvelopeJson(envelope);
  CHECK(json.find(R"("correlation_id":null,"causation_id":null,"trace_id":null,)") != std::string::npos);
  CHECK(json.find(R"("metadata":null,)") != std::string::npos);
  RequireRoundTrips(envelope);

  event.metadata = R"({"correlation_id": null, "causation_id": "", "other": 1})";
  envelope = Make(event);
  CHECK_FALSE(envelope.correlation_id.has_value());
  CHECK(envelope.causation_id == "");  // present and empty is not absent
  RequireRoundTrips(envelope);
}

TEST_CASE("events that cannot be enveloped are errors naming their position") {
  RecordedEvent event = SampleEvent();
  event.metadata = R"({"correlation_id": 42})";
  std::string message = MakeError(event);
  CHECK(message.find("position 17") != std::string::npos);
  CHECK(message.find("metadata.correlation_id must be a string (or null), not a number") != std::string::npos);

  event.metadata = R"({"trace_id": "a", "trace_id": "b"})";
  CHECK(MakeError(event).find("metadata has trace_id more than once") != std::string::npos);
  event.metadata = R"({"trace_id": "a", "trace_id": null})";
  CHECK(MakeError(event).find("metadata has trace_id more than once") != std::string::npos);

  event.metadata = R"(["not", "an", "object"])";
  CHECK(MakeError(event).find("metadata must be a JSON object") != std::string::npos);

  event = SampleEvent();
  event.data = R"({"damaged": )";  // a JSON content type whose bytes are not JSON
  CHECK(MakeError(event).find("data is not valid JSON at byte") != std::string::npos);

  event = SampleEvent();
  event.recorded_at_us = INT64_MAX;
  CHECK(MakeError(event).find("outside years 0001 to 9999") != std::string::npos);

  event = SampleEvent();
  auto bad_service = cairn::MakeEnvelope(event.view(), "");
  REQUIRE_FALSE(bad_service.has_value());
  CHECK(bad_service.error().message().find("invalid source_service: it is empty") != std::string::npos);
}

TEST_CASE("headers: exactly the standard's names, in order, optional ids only when present") {
  Envelope envelope = Make(SampleEvent());
  using Headers = std::vector<std::pair<std::string, std::string>>;
  CHECK(cairn::EnvelopeHeaders(envelope, EnvelopeFormat::kJson) ==
        Headers{{"event_id", "0190a5c8-7e1c-7a3b-9f00-0123456789ab"},
                {"event_type", "acme.orders.order.placed.v2"},
                {"correlation_id", "5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70"},
                {"causation_id", "c-1"},
                {"source_service", "orders-service"},
                {"content-type", "application/json"},
                {"X-Idempotency-Key", "order-42:3"},
                {"X-Original-Timestamp", "2025-01-31T10:00:00.123456Z"},
                {"cairn-position", "17"}});
  envelope.correlation_id.reset();
  envelope.causation_id.reset();
  envelope.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  envelope.stream = "tenant:7-order-42";  // the revision follows the last ':'
  envelope.revision = UINT64_MAX;
  envelope.position = UINT64_MAX;
  CHECK(cairn::EnvelopeHeaders(envelope, EnvelopeFormat::kCapnp) ==
        Headers{{"event_id", "0190a5c8-7e1c-7a3b-9f00-0123456789ab"},
                {"event_type", "acme.orders.order.placed.v2"},
                {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"},
                {"source_service", "orders-service"},
                {"content-type", "application/x-capnp"},
                {"X-Idempotency-Key", "tenant:7-order-42:18446744073709551615"},
                {"X-Original-Timestamp", "2025-01-31T10:00:00.123456Z"},
                {"cairn-position", "18446744073709551615"}});
}

TEST_CASE("content types name the envelope format") {
  CHECK(cairn::EnvelopeContentType(EnvelopeFormat::kJson) == "application/json");
  CHECK(cairn::EnvelopeContentType(EnvelopeFormat::kCapnp) == "application/x-capnp");
  CHECK(cairn::EnvelopeFormatOfContentType("application/json") == EnvelopeFormat::kJson);
  CHECK(cairn::EnvelopeFormatOfContentType("Application/JSON; charset=utf-8") == EnvelopeFormat::kJson);
  CHECK(cairn::EnvelopeFormatOfContentType("application/x-capnp") == EnvelopeFormat::kCapnp);
  CHECK_FALSE(cairn::EnvelopeFormatOfContentType("application/octet-stream").has_value());
  CHECK_FALSE(cairn::EnvelopeFormatOfContentType("").has_value());
}

TEST_CASE("random events round-trip through JSON and Cap'n Proto unchanged") {
  const std::uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  RandomEvents random(seed);
  int made = 0;
  for (std::uint64_t position = 1; position <= 2000; ++position) {
    const RecordedEvent event = random.Next(position);
    INFO("event: stream " << event.stream << ", type " << event.type << ", content type " << event.content_type
                          << ", data " << event.data << ", metadata " << event.metadata);
    auto envelope = cairn::MakeEnvelope(event.view(), "orders-service");
    INFO("MakeEnvelope: " << cairn_test::Describe(envelope));
    REQUIRE(envelope.has_value());
    ++made;
    const bool json = cairn::IsJsonContentType(event.content_type);
    CHECK(envelope->data == (json ? cairn::detail::TrimJsonSpace(event.data) : std::string_view(event.data)));
    CHECK(envelope->metadata == cairn::detail::TrimJsonSpace(event.metadata));
    CHECK(envelope->schema_version == cairn::SchemaVersionOf(event.type));
    RequireRoundTrips(*envelope);
  }
  CHECK(made == 2000);
}

TEST_CASE("envelopes of events read back from a store keep their bytes") {
  cairn_test::TempDir dir;
  auto store = cairn::EventStore::Open(dir.File("bridge.db"), {.create_if_missing = true});
  CAIRN_REQUIRE_OK(store);
  std::vector<cairn::EventData> events{
      {.type = "acme.orders.order.placed.v1",
       .data = "{ \"total\": 12345678901234567890.10,\n \"name\": \"caf\\u00e9 注文\" }",
       .metadata = R"({"correlation_id": "5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70", "trace_id": "t-1"})"},
      {.type = "blob.stored", .data = std::string("\x00\x01\xfe\xff", 4), .content_type = "application/octet-stream"},
  };
  CAIRN_REQUIRE_OK((*store)->Append("ordre-é", cairn::ExpectedRevision::NoStream(), events));
  std::vector<RecordedEvent> read;
  CAIRN_REQUIRE_OK((*store)->ReadLog({}, [&](const cairn::EventView& e) {
    read.push_back(e.ToOwned());
    return true;
  }));
  REQUIRE(read.size() == 2);
  for (std::size_t i = 0; i < read.size(); ++i) {
    const Envelope envelope = Make(read[i]);
    CHECK(envelope.position == i + 1);
    CHECK(envelope.revision == i);
    CHECK(envelope.event_id == read[i].id);
    CHECK(envelope.event_timestamp_us == read[i].recorded_at_us);
    CHECK(envelope.data == events[i].data);
    RequireRoundTrips(envelope);
  }
  CHECK(Make(read[0]).trace_id == "t-1");
  CHECK(Make(read[1]).schema_version == 1);
}

TEST_CASE("ParseEnvelopeJson is strict and says what is wrong") {
  const std::string good = cairn::EnvelopeJson(Make(SampleEvent()));
  REQUIRE(cairn::ParseEnvelopeJson(good).has_value());

  RequireJsonError("", "not valid JSON");
  RequireJsonError("[1,2]", "not a JSON object");
  RequireJsonError(good + "x", "not valid JSON at byte");
  RequireJsonError(good.substr(0, good.size() - 1), "not valid JSON");
  RequireJsonError(Replace(good, R"("event_id":"0190a5c8-7e1c-7a3b-9f00-0123456789ab",)", ""),
                   "missing member \"event_id\"");
  RequireJsonError(Replace(good, R"("0190a5c8-7e1c-7a3b-9f00-0123456789ab")", R"("0190a5c87e1c7a3b9f000123456789ab")"),
                   "\"event_id\" must be a UUID");
  RequireJsonError(Replace(good, R"("0190a5c8-7e1c-7a3b-9f00-0123456789ab")", "42"),
                   "\"event_id\" must be a string, not a number");
  RequireJsonError(Replace(good, R"("stream":"order-42",)", R"("stream":"order-42","stream":"order-43",)"),
                   "duplicate member \"stream\"");
  RequireJsonError(Replace(good, "2025-01-31T10:00:00.123456Z", "2025-01-31 10:00:00"), "expected 'T'");
  RequireJsonError(Replace(good, "2025-01-31T10:00:00.123456Z", "2025-02-30T10:00:00Z"), "day out of range");
  RequireJsonError(Replace(good, "2025-01-31T10:00:00.123456Z", "2025-01-31T10:00:00.1234567Z"),
                   "more than 6 fractional digits");
  RequireJsonError(Replace(good, "2025-01-31T10:00:00.123456Z", "2025-01-31T10:00:00"), "expected Z or an offset");
  RequireJsonError(Replace(good, R"("schema_version":2)", R"("schema_version":3)"),
                   "schema_version 3 does not match the event type");
  RequireJsonError(Replace(good, R"("schema_version":2)", R"("schema_version":-2)"),
                   "\"schema_version\" must be an integer from 0 to 4294967295, not -2");
  RequireJsonError(Replace(good, R"("revision":3)", R"("revision":3.0)"), "\"revision\" must be an integer");
  RequireJsonError(Replace(good, R"("revision":3)", R"("revision":18446744073709551616)"),
                   "\"revision\" must be an integer from 0 to 18446744073709551615");
  RequireJsonError(Replace(good, R"("position":17)", R"("position":0)"), "position must be at least 1");
  RequireJsonError(Replace(good, R"("position":17)", R"("position":"17")"),
                   "\"position\" must be a number, not a string");
  RequireJsonError(Replace(good, R"("causation_id":"c-1")", R"("causation_id":7)"),
                   "\"causation_id\" must be a string or null, not a number");
  RequireJsonError(Replace(good, R"("data_encoding":"json")", R"("data_encoding":"base64")"),
                   "\"data_encoding\" must be \"json\" for data_content_type \"application/json\"");
  {
    std::string text = good;
    const std::size_t metadata = text.find(R"("metadata":)");
    text.replace(metadata, text.find(R"(,"data":)") - metadata, R"("metadata":"actor=ada")");
    RequireJsonError(text, "\"metadata\" must be an object or null, not a string");
  }
  RequireJsonError(Replace(good, R"("stream":"order-42")", R"("stream":"")"), "stream \"\":");
  RequireJsonError(Replace(good, R"("source_service":"orders-service")", R"("source_service":"a\nb")"),
                   "invalid source_service: control character at byte 1");

  // base64 data, strictly.
  RecordedEvent bytes_event = SampleEvent();
  bytes_event.content_type = "application/octet-stream";
  bytes_event.data = "opaque";
  const std::string bytes = cairn::EnvelopeJson(Make(bytes_event));
  REQUIRE(cairn::ParseEnvelopeJson(bytes).has_value());
  RequireJsonError(Replace(bytes, R"("b3BhcXVl")", R"("b3BhcXVl=")"), "not valid base64");
  RequireJsonError(Replace(bytes, R"("b3BhcXVl")", R"("b3Bh cXVl")"), "not valid base64");
  RequireJsonError(Replace(bytes, R"("b3BhcXVl")", R"({"a":1})"), "\"data\" must be a base64 string");
  RequireJsonError(Replace(bytes, R"("data_encoding":"base64")", R"("data_encoding":"json")"),
                   "\"data_encoding\" must be \"base64\"");
}

TEST_CASE("ParseEnvelopeJson ignores unknown members and accepts other writers' timestamps and absent ids") {
  Envelope envelope = Make(SampleEvent());
  const std::string good = cairn::EnvelopeJson(envelope);
  auto extra = cairn::ParseEnvelopeJson(Replace(good, "{", R"({"added_in_v9":{"x":[1,2]},"x-note":"hi",)"));
  INFO(cairn_test::Describe(extra));
  REQUIRE(extra.has_value());
  CHECK(*extra == envelope);

  auto offset =
      cairn::ParseEnvelopeJson(Replace(good, "2025-01-31T10:00:00.123456Z", "2025-01-31T11:30:00.123456+01:30"));
  REQUIRE(offset.has_value());
  CHECK(offset->event_timestamp_us == kRecordedAt);
  auto whole = cairn::ParseEnvelopeJson(Replace(good, "2025-01-31T10:00:00.123456Z", "2025-01-31T10:00:00Z"));
  REQUIRE(whole.has_value());
  CHECK(whole->event_timestamp_us == kRecordedAt - 123456);

  std::string minimal = Replace(
      good, R"("correlation_id":"5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70","causation_id":"c-1","trace_id":null,)", "");
  const std::size_t metadata = minimal.find(R"("metadata":)");
  const std::size_t data = minimal.find(R"(,"data":)");
  minimal.erase(metadata, data + 1 - metadata);
  auto parsed = cairn::ParseEnvelopeJson(minimal);
  INFO(minimal << ": " << cairn_test::Describe(parsed));
  REQUIRE(parsed.has_value());
  CHECK_FALSE(parsed->correlation_id.has_value());
  CHECK_FALSE(parsed->causation_id.has_value());
  CHECK(parsed->metadata.empty());
  CHECK(parsed->data == envelope.data);
}

TEST_CASE("ParseEnvelopeCapnp is strict and says what is wrong") {
  const Envelope envelope = Make(SampleEvent());
  const std::string good = cairn::EnvelopeCapnp(envelope);
  REQUIRE(cairn::ParseEnvelopeCapnp(good).has_value());

  RequireCapnpError("", "a flat message is a whole number of 8-byte words");
  RequireCapnpError(good.substr(0, good.size() - 4), "a flat message is a whole number of 8-byte words");
  RequireCapnpError(good.substr(0, good.size() - 8), "");  // the segment table promises more than there is
  RequireCapnpError(good + std::string(8, '\0'), "8 bytes after the message");
  RequireCapnpError(std::string(64, '\xff'), "");

  // Forged by an outside producer with the schema: each field checked.
  const auto forge = [&](auto change) {
    capnp::FlatArrayMessageReader parsed(
        kj::arrayPtr(reinterpret_cast<const capnp::word*>(good.data()), good.size() / 8));
    capnp::MallocMessageBuilder message;
    message.setRoot(parsed.getRoot<cairn::detail::envelope_capnp::Envelope>());
    change(message.getRoot<cairn::detail::envelope_capnp::Envelope>());
    const auto words = capnp::messageToFlatArray(message);
    return std::string(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
  };
  // A copy made this way reads back as the original.
  auto copy = cairn::ParseEnvelopeCapnp(forge([](auto) {}));
  REQUIRE(copy.has_value());
  CHECK(*copy == envelope);

  RequireCapnpError(
      forge([](auto root) { root.setEventId(kj::arrayPtr(reinterpret_cast<const kj::byte*>("abc"), 3)); }),
      "eventId must be 16 bytes, not 3");
  RequireCapnpError(forge([](auto root) { root.setEventId(kj::ArrayPtr<const kj::byte>()); }),
                    "eventId must be 16 bytes, not 0");
  RequireCapnpError(forge([](auto root) { root.setSchemaVersion(1); }), "schema_version 1 does not match");
  RequireCapnpError(forge([](auto root) { root.setPosition(0); }), "position must be at least 1");
  RequireCapnpError(forge([](auto root) { root.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>("{x"), 2)); }),
                    "data is not valid JSON");
  RequireCapnpError(forge([](auto root) { root.setMetadata("[1]"); }), "metadata must be a JSON object");
  RequireCapnpError(forge([](auto root) { root.setStream(""); }), "stream \"\"");
  RequireCapnpError(forge([](auto root) { root.setEventTimestampMicros(INT64_MIN); }), "outside years 0001 to 9999");
  RequireCapnpError(forge([](auto root) { root.setSourceService("\xff\xfe"); }),
                    "invalid source_service: not valid UTF-8 at byte 0");
  RequireCapnpError(forge([](auto root) { root.setDataContentType(""); }), "data_content_type \"\" must be");
}

TEST_CASE("timestamps: ISO-8601 UTC with microseconds, years 0001 to 9999") {
  using cairn::detail::FormatIsoTimestamp;
  using cairn::detail::ParseIsoTimestamp;
  CHECK(FormatIsoTimestamp(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(FormatIsoTimestamp(kRecordedAt) == "2025-01-31T10:00:00.123456Z");
  CHECK(FormatIsoTimestamp(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK(FormatIsoTimestamp(-62135596800000000) == "0001-01-01T00:00:00.000000Z");
  CHECK(FormatIsoTimestamp(253402300799999999) == "9999-12-31T23:59:59.999999Z");
  CHECK(cairn::detail::IsFormattableTimestamp(-62135596800000000));
  CHECK_FALSE(cairn::detail::IsFormattableTimestamp(-62135596800000001));
  CHECK(cairn::detail::IsFormattableTimestamp(253402300799999999));
  CHECK_FALSE(cairn::detail::IsFormattableTimestamp(253402300800000000));
  for (std::int64_t t : {std::int64_t{0}, kRecordedAt, std::int64_t{-1}, std::int64_t{-62135596800000000},
                         std::int64_t{253402300799999999}, std::int64_t{951782400000000} /* 2000-02-29 */}) {
    auto parsed = ParseIsoTimestamp(FormatIsoTimestamp(t));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == t);
  }
  CHECK(ParseIsoTimestamp("2025-01-31T10:00:00Z") == kRecordedAt - 123456);
  CHECK(ParseIsoTimestamp("2025-01-31T10:00:00.1Z") == kRecordedAt - 23456);
  CHECK(ParseIsoTimestamp("2025-01-31T12:00:00.123456+02:00") == kRecordedAt);
  CHECK(ParseIsoTimestamp("2025-01-31T05:00:00.123456-05:00") == kRecordedAt);
  CHECK_FALSE(ParseIsoTimestamp("2023-02-29T00:00:00Z").has_value());
  CHECK(ParseIsoTimestamp("2024-02-29T00:00:00Z").has_value());
  CHECK_FALSE(ParseIsoTimestamp("2025-01-31T24:00:00Z").has_value());
  CHECK_FALSE(ParseIsoTimestamp("2025-01-31T23:59:60Z").has_value());
  CHECK_FALSE(ParseIsoTimestamp("0000-01-01T00:00:00Z").has_value());
  CHECK_FALSE(ParseIsoTimestamp("0001-01-01T00:00:00+00:01").has_value());  // 0000-12-31 in UTC
  CHECK_FALSE(ParseIsoTimestamp("2025-1-31T10:00:00Z").has_value());
  CHECK_FALSE(ParseIsoTimestamp("2025-01-31T10:00:00z").has_value());
  CHECK_FALSE(ParseIsoTimestamp("2025-01-31T10:00:00.Z").has_value());
  CHECK_FALSE(ParseIsoTimestamp("2025-01-31T10:00:00+0100").has_value());
  CHECK_FALSE(ParseIsoTimestamp("2025-01-31T10:00:00Z ").has_value());
}

TEST_CASE("base64: RFC 4648 vectors, one accepted encoding per byte string") {
  using cairn::detail::Base64Decode;
  using cairn::detail::Base64Encode;
  const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                   {"f", "Zg=="},
                                                                   {"fo", "Zm8="},
                                                                   {"foo", "Zm9v"},
                                                                   {"foob", "Zm9vYg=="},
                                                                   {"fooba", "Zm9vYmE="},
                                                                   {"foobar", "Zm9vYmFy"},
                                                                   {std::string_view("\0\xff\xfe", 3), "AP/+"}};
  for (const auto& [bytes, text] : vectors) {
    CHECK(Base64Encode(bytes) == text);
    auto decoded = Base64Decode(text);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == bytes);
  }
  for (std::string_view bad :
       {"Zg", "Zg=", "Zh==", "Zm9=", "Z===", "====", "Zg==Zg==", "Zm9v\n", "Zm-v", "Zm_v", "Zm9 v"}) {
    INFO(bad);
    CHECK_FALSE(Base64Decode(bad).has_value());
  }
}

TEST_CASE("JSON members: each value's bytes, from its first to its last") {
  const std::string text =
      " {\"s\" : \"x\\\"y\" ,\"o\":{\"a\":{\"b\":{}}},\"a\":[[1],[]] , \"n\":-1.5e3,\"t\":true,"
      "\"z\":null,\"e\":{},\"l\":[{}]\n}\n";
  auto members = cairn::detail::ScanJsonObject(text);
  REQUIRE(members.has_value());
  std::vector<std::pair<std::string, std::string>> spans;
  for (const auto& member : *members) {
    spans.emplace_back(member.name, text.substr(member.begin, member.end - member.begin));
  }
  CHECK(spans == std::vector<std::pair<std::string, std::string>>{{"s", "\"x\\\"y\""},
                                                                  {"o", "{\"a\":{\"b\":{}}}"},
                                                                  {"a", "[[1],[]]"},
                                                                  {"n", "-1.5e3"},
                                                                  {"t", "true"},
                                                                  {"z", "null"},
                                                                  {"e", "{}"},
                                                                  {"l", "[{}]"}});
  CHECK((*members)[0].scalar == "x\"y");
  CHECK((*members)[3].kind == cairn::detail::JsonKind::kNumber);
  CHECK((*members)[3].scalar == "-1.5e3");
  CHECK((*members)[4].scalar == "true");
  CHECK((*members)[1].kind == cairn::detail::JsonKind::kObject);
  CHECK((*members)[2].kind == cairn::detail::JsonKind::kArray);
  CHECK(cairn::detail::ScanJsonObject("{}")->empty());
  CHECK(cairn::detail::ScanJsonObject("[]").error() == "not a JSON object");
  CHECK(cairn::detail::ScanJsonObject("\"s\"").error() == "not a JSON object");
  CHECK(cairn::detail::ScanJsonObject("{\"a\":1} x").error().starts_with("not valid JSON at byte 8"));
  CHECK(cairn::detail::ScanJsonObject(std::string("{\"a\":1}\0", 8)).error() == "not valid JSON: NUL byte at byte 7");
  // Nesting far deeper than any stack allows is parsed iteratively.
  const std::string deep = "{\"d\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto scanned = cairn::detail::ScanJsonObject(deep);
  REQUIRE(scanned.has_value());
  CHECK((*scanned)[0].end == deep.size() - 1);
}

TEST_CASE("docs/bridge.md's JSON example is an envelope") {
  const std::string docs = cairn_test::ReadFileBytes(CAIRN_DOCS_DIR "/bridge.md");
  const std::size_t start = docs.find("```json\n{\n  \"event_id\"");
  REQUIRE(start != std::string::npos);
  const std::size_t end = docs.find("\n```\n", start);
  REQUIRE(end != std::string::npos);
  const std::string example = docs.substr(start + 8, end - start - 8);
  auto envelope = cairn::ParseEnvelopeJson(example);
  INFO(example << "\n" << cairn_test::Describe(envelope));
  REQUIRE(envelope.has_value());
  CHECK(envelope->event_timestamp_us == kRecordedAt);
  CHECK(envelope->correlation_id == "5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70");
  CHECK_FALSE(envelope->causation_id.has_value());
  CHECK(envelope->data == R"({"customer": "c-7", "items": [{"sku": "tea", "qty": 2}], "total": 18.50})");
  // Its members are in the order EnvelopeJson writes them, each on its own line.
  std::size_t at = 0;
  for (std::string_view member :
       {"event_id", "event_type", "event_timestamp", "source_service", "correlation_id", "causation_id", "trace_id",
        "schema_version", "stream", "revision", "position", "data_content_type", "data_encoding", "metadata", "data"}) {
    INFO(member);
    const std::size_t next = example.find("\n  \"" + std::string(member) + "\": ", at);
    REQUIRE(next != std::string::npos);
    at = next + 1;
  }
}
