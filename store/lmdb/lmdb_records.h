// Internal: the byte layout of cairn's LMDB store — keys, and the Cap'n Proto
// records (records.capnp) that are the values of `events`, `streams` and `snapshots`.
// docs/lmdb-layout.md explains the choices; this file is their one implementation.
//
// Format 1 — do not change existing encodings; a new layout gets a new format version.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "backend.h"
#include "cairn/event.h"
#include "cairn/status.h"

namespace cairn::detail::lmdb {

// Unsigned integers in keys are 8 bytes big-endian, so that LMDB's default
// memcmp order is numeric order (and `mdb_dump` shows readable keys).
inline void StoreBigEndian64(std::uint64_t value, unsigned char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<unsigned char>(value & 0xFF);
    value >>= 8;
  }
}
inline std::uint64_t LoadBigEndian64(const void* bytes) {
  const auto* in = static_cast<const unsigned char*>(bytes);
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | in[i];
  return value;
}

inline MDB_val ValOf(std::string_view bytes) {
  return MDB_val{.mv_size = bytes.size(), .mv_data = const_cast<char*>(bytes.data())};
}
inline std::string_view ViewOf(const MDB_val& val) { return {static_cast<const char*>(val.mv_data), val.mv_size}; }

// `events` key: the position. Also the value of `stream_index` and `event_ids`.
struct PositionKey {
  explicit PositionKey(std::uint64_t position) { StoreBigEndian64(position, bytes); }
  MDB_val val() { return MDB_val{.mv_size = sizeof bytes, .mv_data = bytes}; }
  unsigned char bytes[8];
};

// `stream_index` key: (the stream's first position, revision).
struct StreamRevisionKey {
  StreamRevisionKey(std::uint64_t stream_id, std::uint64_t revision) {
    StoreBigEndian64(stream_id, bytes);
    StoreBigEndian64(revision, bytes + 8);
  }
  MDB_val val() { return MDB_val{.mv_size = sizeof bytes, .mv_data = bytes}; }
  unsigned char bytes[16];
};

// `category_index` key: the category, a 0 byte (never part of a name: names
// have no control characters), then the position. The value is empty.
std::string CategoryKey(std::string_view category, std::uint64_t position);
// The key's first part, up to and including the 0 byte: what all keys of one category start with.
std::string CategoryPrefix(std::string_view category);

// An 8-byte aligned buffer that a misaligned value is copied into before Cap'n
// Proto reads it. Reused from read to read.
using AlignedScratch = std::vector<std::uint64_t>;

// The size of the `events` value of `event`: a flat single-segment Cap'n Proto
// message, a multiple of 8 bytes.
std::size_t EventRecordSize(const EventView& event);
// Writes that value into `out` (EventRecordSize(event) bytes). When `out` is not
// 8-byte aligned the message is built in `scratch` and copied.
Status WriteEventRecord(const EventView& event, void* out, AlignedScratch& scratch);
// Decodes an `events` value into `event`. The view's strings point into `value`
// (the memory map: valid until the read transaction ends) — or, for a value that
// is not 8-byte aligned, into `scratch` (valid until its next use). A value that
// is not a well-formed record is kCorruption.
Status ReadEventRecord(const MDB_val& value, AlignedScratch& scratch, EventView& event);
// The same with the Cap'n Proto library's reader only (ReadEventRecord's fast
// path must agree with it; the tests compare them).
Status ReadEventRecordWithLibrary(const MDB_val& value, AlignedScratch& scratch, EventView& event);

// The `streams` value.
struct StreamRecord {
  std::uint64_t first_position = 0;  // names the stream in stream_index keys
  StreamState state;
};
std::string EncodeStreamRecord(const StreamRecord& record);
Result<StreamRecord> ReadStreamRecord(const MDB_val& value);

// `snapshots` key: the stream's name, a 0 byte (never part of a name: names have
// no control characters), then the revision (u64 BE). So memcmp order is
// (name bytes, revision), and one stream's keys are contiguous. At most
// 255 + 1 + 8 = 264 bytes, inside LMDB's 511-byte key limit.
std::string SnapshotRecordKey(std::string_view stream, std::uint64_t revision);
// The smallest key greater than every key of `stream`: its name and a 1 byte
// (no name holds one, so no other stream's keys lie in between).
std::string SnapshotStreamEnd(std::string_view stream);
// Splits a `snapshots` key; false when it is not one (too short, no 0 byte before the revision).
bool ParseSnapshotRecordKey(std::string_view key, std::string_view& stream, std::uint64_t& revision);

// The largest state a Snapshot record can hold: a Cap'n Proto list has at most 2^29 - 1 elements.
inline constexpr std::size_t kMaxSnapshotStateBytes = (std::size_t{1} << 29) - 1;
// The size of the `snapshots` value of `snapshot` (a flat single-segment message,
// a multiple of 8 bytes); its state must be at most kMaxSnapshotStateBytes.
std::size_t SnapshotRecordSize(const SnapshotView& snapshot);
// Writes that value into `out` (SnapshotRecordSize(snapshot) bytes). When `out`
// is not 8-byte aligned the message is built in `scratch` and copied.
Status WriteSnapshotRecord(const SnapshotView& snapshot, void* out, AlignedScratch& scratch);
// Decodes a `snapshots` value into schema_version, event_hash, taken_at_us,
// state and checksum of `snapshot` (stream and revision are the key's). The
// state points into `value` when it is 8-byte aligned (large values, on
// overflow pages), else into `scratch` (valid until its next use). A value that
// does not decode (or a malformed field) leaves those fields at their defaults:
// its checksum then fails and the store reports it as not intact.
void ReadSnapshotRecord(const MDB_val& value, AlignedScratch& scratch, SnapshotView& snapshot);

// `schemas` keys have the layout of `snapshots` keys, with the event type for
// the stream name and the registration number for the revision: build and split
// them with SnapshotRecordKey, SnapshotStreamEnd and ParseSnapshotRecordKey.
// The `schemas` value: a Schema record (a flat single-segment message).
std::string EncodeSchemaRecord(std::int64_t registered_at_us, std::string_view document);
// Decodes a `schemas` value; the document points into `value` when it is
// 8-byte aligned, else into `scratch` (valid until its next use). kCorruption
// when it does not decode.
Status ReadSchemaRecord(const MDB_val& value, AlignedScratch& scratch, std::int64_t& registered_at_us,
                        std::string_view& document);

// How many values were copied because they were not 8-byte aligned (process-wide,
// for tests and docs/lmdb-layout.md's measurements).
std::uint64_t MisalignedRecordCopies();

}  // namespace cairn::detail::lmdb
