#include "cairn/event.h"

#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace cairn {

bool IsJsonContentType(std::string_view content_type) {
  // Parameters ("; charset=utf-8") do not change the kind.
  std::string_view base = content_type.substr(0, content_type.find(';'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return base == kContentTypeJson || (base.size() > 5 && base.ends_with("+json"));
}

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Adds one to the 74 random bits of a UUIDv7 (rand_a and rand_b), carrying into
// the timestamp when they are exhausted; keeps version and variant bits.
void IncrementV7(EventId& id) {
  auto& b = id.bytes;
  for (int i = 15; i >= 9; --i) {
    if (++b[i] != 0) return;
  }
  if ((b[8] & 0x3f) != 0x3f) { ++b[8]; return; }
  b[8] = 0x80;
  if (b[7] != 0xff) { ++b[7]; return; }
  b[7] = 0;
  if ((b[6] & 0x0f) != 0x0f) { ++b[6]; return; }
  b[6] = 0x70;
  for (int i = 5; i >= 0; --i) {
    if (++b[i] != 0) return;
  }
}

}  // namespace

EventId EventId::NewV7() {
  [[maybe_unused]] static const int sodium_ready = sodium_init();  // idempotent, thread-safe
  static std::mutex mutex;
  static EventId last;

  EventId id;
  auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  for (int i = 0; i < 6; ++i) id.bytes[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  // Random bytes come from a per-thread pool refilled from the CSPRNG 4 KiB at a
  // time: one getrandom() per 400 ids instead of one per id.
  thread_local std::array<std::uint8_t, 4000> pool;
  thread_local std::size_t pool_used = pool.size();
  if (pool_used == pool.size()) {
    randombytes_buf(pool.data(), pool.size());
    pool_used = 0;
  }
  std::memcpy(id.bytes.data() + 6, pool.data() + pool_used, 10);
  pool_used += 10;
  id.bytes[6] = static_cast<std::uint8_t>(0x70 | (id.bytes[6] & 0x0f));
  id.bytes[8] = static_cast<std::uint8_t>(0x80 | (id.bytes[8] & 0x3f));

  // Ids from one process strictly increase even within a millisecond or when the clock steps back.
  std::lock_guard lock(mutex);
  if (id <= last) {
    id = last;
    IncrementV7(id);
  }
  last = id;
  return id;
}

Result<EventId> EventId::Parse(std::string_view text) {
  EventId id;
  std::size_t nibbles = 0;
  for (char c : text) {
    if (c == '-') continue;
    int value = HexValue(c);
    if (value < 0 || nibbles >= 32) {
      return Fail(ErrorCode::kInvalidArgument,
                  "invalid event id \"" + std::string(text) + "\": expected a UUID of 32 hex digits");
    }
    id.bytes[nibbles / 2] = static_cast<std::uint8_t>(id.bytes[nibbles / 2] | (value << ((nibbles % 2) ? 0 : 4)));
    ++nibbles;
  }
  bool hyphens_ok = text.size() == 32 ||
                    (text.size() == 36 && text[8] == '-' && text[13] == '-' && text[18] == '-' && text[23] == '-');
  if (nibbles != 32 || !hyphens_ok) {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid event id \"" + std::string(text) + "\": expected a UUID such as "
                "0190a5c8-7e1c-7a3b-9f00-0123456789ab");
  }
  return id;
}

EventId EventId::FromBytes(std::string_view sixteen_bytes) {
  EventId id;
  std::memcpy(id.bytes.data(), sixteen_bytes.data(), std::min<std::size_t>(16, sixteen_bytes.size()));
  return id;
}

std::string EventId::ToString() const {
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    text += kHexDigits[bytes[i] >> 4];
    text += kHexDigits[bytes[i] & 0x0f];
  }
  return text;
}

bool EventId::IsNil() const {
  for (auto b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string HashToHex(const Hash& hash) {
  std::string text;
  text.reserve(64);
  for (auto b : hash) {
    text += kHexDigits[b >> 4];
    text += kHexDigits[b & 0x0f];
  }
  return text;
}

RecordedEvent EventView::ToOwned() const {
  return RecordedEvent{.position = position,
                       .stream = std::string(stream),
                       .revision = revision,
                       .id = id,
                       .type = std::string(type),
                       .recorded_at_us = recorded_at_us,
                       .content_type = std::string(content_type),
                       .data = std::string(data),
                       .metadata = std::string(metadata),
                       .hash = hash};
}

EventView RecordedEvent::view() const {
  return EventView{.position = position,
                   .stream = stream,
                   .revision = revision,
                   .id = id,
                   .type = type,
                   .recorded_at_us = recorded_at_us,
                   .content_type = content_type,
                   .data = data,
                   .metadata = metadata,
                   .hash = hash};
}

std::string_view CategoryOf(std::string_view stream) { return stream.substr(0, stream.find('-')); }

EventTypeVersion ParseEventTypeVersion(std::string_view type) {
  const EventTypeVersion unversioned{.base = type, .version = 1, .explicit_suffix = false};
  const std::size_t dot = type.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return unversioned;
  const std::string_view suffix = type.substr(dot + 1);
  if (suffix.size() < 2 || suffix.size() > 11 || suffix[0] != 'v') return unversioned;
  std::uint64_t version = 0;
  for (const char c : suffix.substr(1)) {
    if (c < '0' || c > '9') return unversioned;
    version = version * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (version > UINT32_MAX) return unversioned;
  return {.base = type.substr(0, dot), .version = static_cast<std::uint32_t>(version), .explicit_suffix = true};
}

std::string VersionedEventType(std::string_view base, std::uint32_t version) {
  return std::string(base) + ".v" + std::to_string(version);
}

namespace {

// Names (streams, event types): 1-255 bytes of UTF-8 without control characters.
Status ValidateName(std::string_view text, std::string_view what_text) {
  const std::string what(what_text);
  if (text.empty()) return Fail(ErrorCode::kInvalidArgument, "invalid " + what + ": it is empty");
  if (text.size() > 255) {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid " + what + ": " + std::to_string(text.size()) + " bytes, at most 255 allowed");
  }
  // Valid UTF-8 (no overlongs, no surrogates) without C0/C1 control characters or DEL.
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = s[i];
    std::uint32_t cp;
    std::size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; len = 2; }
    else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; len = 3; }
    else if ((c & 0xf8) == 0xf0) { cp = c & 0x07; len = 4; }
    else return Fail(ErrorCode::kInvalidArgument, "invalid " + what + ": not valid UTF-8 at byte " + std::to_string(i));
    if (i + len > n) {
      return Fail(ErrorCode::kInvalidArgument, "invalid " + what + ": truncated UTF-8 at byte " + std::to_string(i));
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) {
        return Fail(ErrorCode::kInvalidArgument, "invalid " + what + ": not valid UTF-8 at byte " + std::to_string(i));
      }
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return Fail(ErrorCode::kInvalidArgument, "invalid " + what + ": not valid UTF-8 at byte " + std::to_string(i));
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "invalid " + what + ": control character at byte " + std::to_string(i));
    }
    i += len;
  }
  return {};
}

}  // namespace

std::string FormatTimestamp(std::int64_t unix_us) {
  using namespace std::chrono;
  const sys_time<microseconds> time{microseconds{unix_us}};
  const sys_days day = floor<days>(time);
  const year_month_day date{day};
  const hh_mm_ss clock{time - day};
  // Digit by digit rather than snprintf: the bridge formats two timestamps per event it publishes.
  char buffer[27];
  const auto put = [&buffer](std::size_t at, std::uint64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10) buffer[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
  };
  const int year = static_cast<int>(date.year());
  put(0, static_cast<std::uint64_t>(year < 0 ? 0 : year), 4);
  buffer[4] = '-';
  put(5, static_cast<unsigned>(date.month()), 2);
  buffer[7] = '-';
  put(8, static_cast<unsigned>(date.day()), 2);
  buffer[10] = 'T';
  put(11, static_cast<std::uint64_t>(clock.hours().count()), 2);
  buffer[13] = ':';
  put(14, static_cast<std::uint64_t>(clock.minutes().count()), 2);
  buffer[16] = ':';
  put(17, static_cast<std::uint64_t>(clock.seconds().count()), 2);
  buffer[19] = '.';
  put(20, static_cast<std::uint64_t>(clock.subseconds().count()), 6);
  buffer[26] = 'Z';
  return std::string(buffer, sizeof buffer);
}

std::size_t FindInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::uint32_t cp;
    std::size_t len;
    if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      len = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      len = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      len = 4;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string_view::npos;
}

Status ValidateStreamName(std::string_view stream) { return ValidateName(stream, "stream name"); }

Status ValidateEventType(std::string_view type) { return ValidateName(type, "event type"); }

Result<ExpectedRevision> ExpectedRevision::Parse(std::string_view text) {
  if (text == "any") return Any();
  if (text == "no-stream" || text == "no_stream") return NoStream();
  if (text == "exists" || text == "stream-exists" || text == "stream_exists") return StreamExists();
  if (text.empty() || text.size() > 20) {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid expected revision \"" + std::string(text) + "\": use any, no-stream, exists or a revision");
  }
  std::uint64_t value = 0;
  for (char c : text) {
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (c < '0' || c > '9' || value > (UINT64_MAX - digit) / 10) {
      return Fail(ErrorCode::kInvalidArgument,
                  "invalid expected revision \"" + std::string(text) + "\": use any, no-stream, exists or a revision");
    }
    value = value * 10 + digit;
  }
  return Exact(value);
}

std::string ExpectedRevision::ToString() const {
  switch (kind_) {
    case Kind::kAny: return "any";
    case Kind::kNoStream: return "no-stream";
    case Kind::kStreamExists: return "exists";
    case Kind::kExact: return std::to_string(revision_);
  }
  return "?";
}

}  // namespace cairn
