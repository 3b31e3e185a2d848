// cairn/envelope.h — the envelope the bridge publishes each committed event in.
//
// An Envelope carries one recorded event to Kafka with the fields of the
// platform standard's EventEnvelope (event_id, event_type, event_timestamp,
// source_service, correlation_id, data) plus causation_id, trace_id and
// cairn's own stream, revision, position and schema_version. It travels as
// JSON (the default; a consumer written for the standard reads it unchanged)
// or as a Cap'n Proto message (bridge/envelope.capnp), told apart by the
// message's content-type header. docs/bridge.md shows both and every field.
//
//   auto envelope = cairn::MakeEnvelope(event, "orders-service");
//   if (!envelope) return fail(envelope.error());          // a poison event: see the error
//   std::string value = cairn::EnvelopeJson(*envelope);    // the Kafka message value
//   auto headers = cairn::EnvelopeHeaders(*envelope, cairn::EnvelopeFormat::kJson);
//   // key = envelope->stream: one aggregate's events stay in order on one partition
//
//   auto back = cairn::ParseEnvelopeJson(value);           // what a Kafka source does
//
// Everything here is a pure function of its arguments: thread-safe, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"

namespace cairn {

// How an envelope is encoded on the wire.
enum class EnvelopeFormat : std::uint8_t {
  kJson,   // UTF-8 JSON text; content-type "application/json"
  kCapnp,  // one flat single-segment Cap'n Proto message; content-type "application/x-capnp"
};

// The content-type header of each format. Exactly these strings, no parameters:
// JSON is UTF-8 by definition (RFC 8259), and the Cap'n Proto message's root is
// always the Envelope struct of bridge/envelope.capnp.
inline constexpr std::string_view kEnvelopeJsonContentType = "application/json";
inline constexpr std::string_view kEnvelopeCapnpContentType = "application/x-capnp";

std::string_view EnvelopeContentType(EnvelopeFormat format);
// The format named by a content-type header value; parameters (";charset=utf-8")
// and letter case are ignored. nullopt for any other type.
std::optional<EnvelopeFormat> EnvelopeFormatOfContentType(std::string_view content_type);

// The Kafka header names, in the order EnvelopeHeaders writes them.
inline constexpr std::string_view kHeaderEventId = "event_id";
inline constexpr std::string_view kHeaderEventType = "event_type";
inline constexpr std::string_view kHeaderCorrelationId = "correlation_id";
inline constexpr std::string_view kHeaderCausationId = "causation_id";
inline constexpr std::string_view kHeaderTraceId = "trace_id";
inline constexpr std::string_view kHeaderSourceService = "source_service";
inline constexpr std::string_view kHeaderContentType = "content-type";
inline constexpr std::string_view kHeaderIdempotencyKey = "X-Idempotency-Key";
inline constexpr std::string_view kHeaderOriginalTimestamp = "X-Original-Timestamp";
inline constexpr std::string_view kHeaderPosition = "cairn-position";

// The largest data or metadata an envelope carries, in bytes: Cap'n Proto's
// limit for one blob (2^29 - 1 elements, less a text's NUL). Far above anything
// a Kafka topic accepts; the store's own limit (Options::max_event_bytes) is 8 MiB by default.
inline constexpr std::size_t kMaxEnvelopeFieldBytes = (std::size_t{1} << 29) - 2;

// One event as published. Owns its fields. The invariants ValidateEnvelope
// checks hold for every Envelope MakeEnvelope or a Parse function returns.
struct Envelope {
  EventId event_id;
  // The event type as appended, e.g. "acme.orders.order.placed.v1".
  std::string event_type;
  // When the event was recorded (its recorded_at): microseconds since the Unix
  // epoch, UTC. Written as ISO-8601 "2025-01-31T10:00:00.123456Z".
  std::int64_t event_timestamp_us = 0;
  // The service the events come from: the bridge's configured source_service.
  std::string source_service;
  // From the event's metadata object (keys of the same names); nullopt when the
  // key is absent or null. Kept as the text they are: a UUID stays its string.
  std::optional<std::string> correlation_id;
  std::optional<std::string> causation_id;
  std::optional<std::string> trace_id;
  // N of the event type's ".vN" suffix; 1 when it has none (SchemaVersionOf).
  std::uint32_t schema_version = 1;
  std::string stream;          // the Kafka message key
  std::uint64_t revision = 0;  // 0-based index within the stream
  std::uint64_t position = 0;  // 1-based place in the global log
  // The event's data, byte-exact, and its content type. For a JSON content type
  // (IsJsonContentType) `data` is the JSON value's text from its first to its
  // last byte: MakeEnvelope drops whitespace around the value, nothing inside it.
  std::string data_content_type = std::string(kContentTypeJson);
  std::string data;
  // The event's metadata, a JSON object's text (trimmed like data); empty when
  // the event has none. It carries the other well-known keys (source, actor,
  // tenant) and whatever else the service recorded.
  std::string metadata;

  friend bool operator==(const Envelope&, const Envelope&) = default;
};

// N of a ".vN" suffix ("order.placed.v2" -> 2: the last dot-separated part is
// "v" and decimal digits whose value fits 32 bits); 1 when the type has no
// such suffix ("order.placed" -> 1), as an unversioned type is its first version.
// ParseEventTypeVersion(event_type).version (cairn/event.h): one parser.
std::uint32_t SchemaVersionOf(std::string_view event_type);

// Checks a source_service: 1-255 bytes of UTF-8 without control characters,
// the store's rule for names (ValidateEventType). kInvalidArgument otherwise.
Status ValidateSourceService(std::string_view service);

// Checks the invariants of an envelope (kInvalidArgument naming the field):
//  - event_type and stream follow the store's rules (ValidateEventType, ValidateStreamName);
//  - source_service follows ValidateSourceService;
//  - the ids, if present, are UTF-8; position >= 1;
//  - event_timestamp_us lies within years 0001-9999;
//  - schema_version == SchemaVersionOf(event_type);
//  - data_content_type is 1-255 printable ASCII characters;
//  - for a JSON content type, data is one JSON value without whitespace around it;
//  - metadata is empty or a JSON object without whitespace around it;
//  - data and metadata are at most kMaxEnvelopeFieldBytes.
Status ValidateEnvelope(const Envelope& envelope);

// The envelope of a recorded event. correlation_id, causation_id and trace_id
// come from the event's metadata object; a key whose value is not a string (or
// null) is an error, as is damaged data (a JSON content type whose bytes are
// not JSON). Errors are kInvalidArgument naming the event's position: the relay
// treats such an event as poison.
Result<Envelope> MakeEnvelope(const EventView& event, std::string_view source_service);
// As MakeEnvelope, into `envelope`, reusing its strings' storage (a relay
// makes one envelope per event). On an error `envelope` is left unspecified.
Status FillEnvelope(const EventView& event, std::string_view source_service, Envelope& envelope);

// The JSON form (docs/bridge.md): one object, no line breaks of its own
// (the data and metadata values are embedded byte-exact, with whatever
// whitespace they contain); members in this order:
//   event_id, event_type, event_timestamp, source_service, correlation_id,
//   causation_id, trace_id, schema_version, stream, revision, position,
//   data_content_type, data_encoding, metadata, data
// The optional ids and metadata are null when absent. data is the JSON value
// itself when data_encoding is "json" (a JSON content type) and a base64 string
// (RFC 4648, padded) of the bytes when it is "base64" (any other content type).
// Requires ValidateEnvelope(envelope) to hold, otherwise the output is unspecified.
std::string EnvelopeJson(const Envelope& envelope);
// The same into `out` (replacing its contents, reusing its storage).
void WriteEnvelopeJson(const Envelope& envelope, std::string& out);

// The Cap'n Proto form: one flat, single-segment message (segment table, then
// the segment) of bridge/envelope.capnp's Envelope; data as raw bytes.
// Requires ValidateEnvelope(envelope) to hold; otherwise the result may be
// empty, which is never a valid message.
std::string EnvelopeCapnp(const Envelope& envelope);

// Parse what EnvelopeJson / EnvelopeCapnp wrote: Parse(Write(e)) == e. Strict:
// kInvalidArgument naming the first fault for bytes that are not a well-formed
// envelope of that format, a missing or mistyped field, a duplicate JSON member,
// or an envelope failing ValidateEnvelope. Members this version does not know
// are ignored (a newer writer may add fields). ParseEnvelopeJson also accepts
// an event_timestamp with fewer fractional digits or a UTC offset, and absent
// optional ids and metadata.
Result<Envelope> ParseEnvelopeJson(std::string_view json);
Result<Envelope> ParseEnvelopeCapnp(std::string_view message);

// The Kafka headers of a message carrying `envelope` in `format`, in this order:
//   event_id              the event id, canonical UUID text
//   event_type            the event type
//   correlation_id        only when the envelope has one
//   causation_id          only when the envelope has one
//   trace_id              only when the envelope has one
//   source_service        the source service
//   content-type          EnvelopeContentType(format)
//   X-Idempotency-Key     "<stream>:<revision>" (the revision follows the last ':')
//   X-Original-Timestamp  the event_timestamp, as in the JSON form
//   cairn-position        the global position, decimal
std::vector<std::pair<std::string, std::string>> EnvelopeHeaders(const Envelope& envelope, EnvelopeFormat format);
// The same headers, in the same order, handed to `visit` one by one without
// building a vector; the views are valid only during the call.
void VisitEnvelopeHeaders(const Envelope& envelope, EnvelopeFormat format,
                          const std::function<void(std::string_view name, std::string_view value)>& visit);

}  // namespace cairn
