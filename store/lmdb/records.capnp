# The records of cairn's LMDB store (format 1): the values of the `events`,
# `streams` and `snapshots` sub-databases. docs/lmdb-layout.md describes the keys around them.
#
# On-disk format: do not change or reuse field ordinals, types or meanings.
# A change a format-1 reader cannot ignore needs a new format version (the
# `cairn_meta` sub-database's format_version), not a new meaning for an old field.
#
# Every value is one flat Cap'n Proto message: the segment table (one word
# for the single segment cairn writes) and then the segment, so its size is a
# multiple of 8 bytes (which is what keeps it 8-byte aligned inside LMDB's pages,
# see "Zero-copy reads and alignment" in docs/lmdb-layout.md).

@0x951a3d26b44b2435;

$import "/capnp/c++.capnp".namespace("cairn::detail::lmdb_records");

# One recorded event: the value of `events`, keyed by its position (u64 big-endian).
struct Event {
  position @0 :UInt64;      # 1-based place in the global log (equals the key)
  revision @1 :UInt64;      # 0-based index within its stream
  recordedAt @2 :Int64;     # microseconds since the Unix epoch, UTC
  id @3 :Data;              # the 16 raw UUID bytes
  hash @4 :Data;            # BLAKE2b-256 audit-chain hash, 32 bytes (docs/audit-chain.md)
  stream @5 :Text;          # the stream's name
  type @6 :Text;            # the event type
  contentType @7 :Data;     # the content type's bytes
  data @8 :Data;            # the payload, byte-exact
  metadata @9 :Data;        # a JSON object, or null (empty) when the event has none
}

# One stream: the value of `streams`, keyed by the stream's name.
struct Stream {
  # The position of the stream's first event. It names the stream in
  # `stream_index` keys: 8 bytes instead of the name, and never reused.
  firstPosition @0 :UInt64;
  headRevision @1 :UInt64;  # revision of its last event
  headPosition @2 :UInt64;  # global position of its last event
  deleted @3 :Bool;         # its last event is a $stream.deleted tombstone
}

# One snapshot: the value of `snapshots`, keyed by the stream's name, a 0 byte
# and the revision (u64 big-endian). Derived data, outside the audit chain: the
# encoded state of the stream's aggregate after the event at that revision.
# (Keys vary in length, so these values are not 8-byte aligned in LMDB's pages
# unless they sit on overflow pages; a reader copies the small ones.)
struct Snapshot {
  schemaVersion @0 :UInt32;  # the version of the state's encoding
  eventHash @1 :Data;        # the hash of the event at the key's revision when taken, 32 bytes
  takenAt @2 :Int64;         # microseconds since the Unix epoch, UTC
  state @3 :Data;            # the encoded state, byte-exact (null when empty)
  checksum @4 :Data;         # 32 bytes: SnapshotChecksum of the key's stream and revision and the fields above
}

# One registration of an event type's JSON Schema: the value of `schemas`, keyed
# by the type, a 0 byte and the registration number (u64 big-endian). Derived
# configuration, outside the audit chain (like snapshots).
struct Schema {
  registeredAt @0 :Int64;  # microseconds since the Unix epoch, UTC
  document @1 :Data;       # the JSON Schema document, byte-exact as registered
}
