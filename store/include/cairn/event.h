// cairn/event.h — the values that flow through the store.
//
// A service proposes `EventData`; the store records it as a `RecordedEvent`
// with a global position, a stream revision, a recorded-at time and an
// audit-chain hash. Reads hand out `EventView`s: non-owning views that are
// valid only during the visitor call that receives them (on LMDB they point
// into the memory map). Call `ToOwned()` to keep one.
//
//   cairn::EventData event{.type = "order.placed.v1", .data = R"({"total":42})"};
//   store->Append("order-42", cairn::ExpectedRevision::NoStream(), {event});
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn {

inline constexpr std::string_view kContentTypeJson = "application/json";
inline constexpr std::string_view kContentTypeOctets = "application/octet-stream";
inline constexpr std::string_view kContentTypeCapnp = "application/x-capnp";

// True for application/json and any "+json" media type (data must then be valid JSON).
bool IsJsonContentType(std::string_view content_type);

// A 16-byte event id (an RFC 9562 UUID in its canonical byte order).
struct EventId {
  std::array<std::uint8_t, 16> bytes{};

  // A new UUIDv7: 48-bit Unix milliseconds, then random bits (libsodium's CSPRNG).
  // Ids from one process are strictly increasing.
  static EventId NewV7();
  // Parses "0190a5c8-7e1c-7a3b-9f00-0123456789ab" (hyphens optional, any case).
  static Result<EventId> Parse(std::string_view text);
  static EventId FromBytes(std::string_view sixteen_bytes);

  std::string ToString() const;  // lower-case canonical form with hyphens
  bool IsNil() const;
  std::string_view AsBytes() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  friend auto operator<=>(const EventId&, const EventId&) = default;
};

// BLAKE2b-256 output of the audit chain (see cairn/audit.h).
using Hash = std::array<std::uint8_t, 32>;
std::string HashToHex(const Hash& hash);

// What a caller proposes to append.
struct EventData {
  // Generated (UUIDv7) when empty. Re-sending the same ids makes a retry idempotent.
  std::optional<EventId> id;
  // Non-empty, no control characters, at most 255 bytes; may carry a ".vN" version suffix.
  // Types starting with '$' are reserved for the store (e.g. "$stream.deleted").
  std::string type;
  // The payload, stored byte-exact. Must be valid JSON when content_type is JSON.
  std::string data;
  std::string content_type = std::string(kContentTypeJson);
  // Empty, or a JSON object. Well-known keys: correlation_id, causation_id,
  // trace_id, source, actor, tenant.
  std::string metadata;
};

struct RecordedEvent;

// A recorded event as seen during a read. Non-owning: every string_view points
// into storage that is valid only until the visitor that received the view
// returns. Copy with ToOwned() to keep it.
struct EventView {
  std::uint64_t position = 0;  // 1-based place in the global log
  std::string_view stream;
  std::uint64_t revision = 0;  // 0-based index within the stream
  EventId id;
  std::string_view type;
  std::int64_t recorded_at_us = 0;  // microseconds since the Unix epoch, UTC
  std::string_view content_type;
  std::string_view data;
  std::string_view metadata;  // empty when the event has none
  Hash hash{};

  RecordedEvent ToOwned() const;
};

// An owning copy of a recorded event.
struct RecordedEvent {
  std::uint64_t position = 0;
  std::string stream;
  std::uint64_t revision = 0;
  EventId id;
  std::string type;
  std::int64_t recorded_at_us = 0;
  std::string content_type;
  std::string data;
  std::string metadata;
  Hash hash{};

  EventView view() const;
  friend bool operator==(const RecordedEvent&, const RecordedEvent&) = default;
};

// The part of a stream name before its first '-' ("order-42" -> "order"); the
// whole name when it has no '-'. As in Message DB and KurrentDB.
std::string_view CategoryOf(std::string_view stream);

// An event type's version, from its ".vN" suffix: "order.placed.v2" is
// {base "order.placed", version 2, explicit_suffix true}. A suffix is the last
// dot-separated part, after a non-empty base, made of "v" and 1 to 10 decimal
// digits whose value fits 32 bits ("v0" is version 0; "V2", "v2a", "v" and
// "v4294967296" are not suffixes). A type without one is its own base at
// version 1: "order.placed" -> {"order.placed", 1, false}. `base` points into
// the argument. The one parser of versions: envelopes (SchemaVersionOf) and
// upcasters (cairn/upcast.h) use it.
struct EventTypeVersion {
  std::string_view base;
  std::uint32_t version = 1;
  bool explicit_suffix = false;
};
EventTypeVersion ParseEventTypeVersion(std::string_view type);

// "order.placed" and 3 -> "order.placed.v3".
std::string VersionedEventType(std::string_view base, std::uint32_t version);

// "2026-11-23T13:45:01.123456Z": ISO-8601 UTC with microseconds, how cairn
// writes recorded_at everywhere (CLI, export, envelopes, SQL projections).
std::string FormatTimestamp(std::int64_t unix_us);

// The offset of the first byte of `text` that is not part of well-formed UTF-8
// (overlong forms, surrogates and code points past U+10FFFF are not), or npos.
std::size_t FindInvalidUtf8(std::string_view text);

// Checks a stream name: 1-255 bytes of valid UTF-8, no control characters.
Status ValidateStreamName(std::string_view stream);
// Checks an event type with the same rules as a stream name.
Status ValidateEventType(std::string_view type);

// The expected state of a stream for optimistic concurrency.
class ExpectedRevision {
 public:
  enum class Kind : std::uint8_t { kAny, kNoStream, kStreamExists, kExact };

  static constexpr ExpectedRevision Any() { return ExpectedRevision(Kind::kAny, 0); }
  static constexpr ExpectedRevision NoStream() { return ExpectedRevision(Kind::kNoStream, 0); }
  static constexpr ExpectedRevision StreamExists() { return ExpectedRevision(Kind::kStreamExists, 0); }
  // The stream's last event must be at `revision` (0-based).
  static constexpr ExpectedRevision Exact(std::uint64_t revision) {
    return ExpectedRevision(Kind::kExact, revision);
  }
  // Parses "any", "no-stream", "exists" or a decimal revision.
  static Result<ExpectedRevision> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  std::uint64_t revision() const { return revision_; }  // meaningful for kExact only
  std::string ToString() const;
  friend bool operator==(const ExpectedRevision&, const ExpectedRevision&) = default;

 private:
  constexpr ExpectedRevision(Kind kind, std::uint64_t revision) : kind_(kind), revision_(revision) {}
  Kind kind_;
  std::uint64_t revision_;
};

// The outcome of a successful append (or of DeleteStream).
struct AppendResult {
  std::uint64_t first_revision = 0;  // revision of the first appended event
  std::uint64_t last_revision = 0;   // the stream's new revision: expect it on the next append
  std::uint64_t first_position = 0;  // global position of the first appended event
  std::uint64_t last_position = 0;   // global position of the last appended event
  // True when every event was already committed at this place by an earlier,
  // identical append (a retry after a lost reply); nothing was written.
  bool already_committed = false;
};

// What the store knows about one stream.
struct StreamInfo {
  bool exists = false;
  bool deleted = false;
  // Revision of the stream's last event (the tombstone's, once deleted); nullopt when it does not exist.
  std::optional<std::uint64_t> head_revision;
  std::uint64_t head_position = 0;  // global position of that event; 0 when it does not exist
};

// Reserved type of the event that tombstones a stream.
inline constexpr std::string_view kStreamDeletedType = "$stream.deleted";

}  // namespace cairn
