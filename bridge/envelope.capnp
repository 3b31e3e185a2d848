# cairn's Kafka envelope, binary form (docs/bridge.md, "The Cap'n Proto envelope").
#
# The bridge publishes every committed event as an envelope: JSON by default,
# this Cap'n Proto struct when a bridge is configured with format = "capnp".
# Both forms carry the same fields; the JSON form names them in snake_case
# (event_id, event_type, ...) and this schema in camelCase.
#
# Wire format, read by consumers outside cairn: do not change or reuse field
# ordinals, types or meanings. A new field gets the next ordinal, and readers
# of older envelopes see its default. A change an old reader cannot ignore
# needs a new struct (and a new content type), not a new meaning for an old field.
#
# A message is one flat Cap'n Proto message as `capnp::messageToFlatArray`
# writes it: the segment table (one word: segment count - 1 = 0, then the
# segment's size in words, two little-endian u32s) followed by the single
# segment; its size is a multiple of 8 bytes. Any Cap'n Proto implementation
# reads it (`capnp decode bridge/envelope.capnp Envelope < message`).
#
# A Text or Data field that is null reads as empty. The three optional ids
# (correlationId, causationId, traceId) are null when the event has none: an
# empty Text there is an id that is present and empty.

@0xf83a14f89cd665f4;

$import "/capnp/c++.capnp".namespace("cairn::detail::envelope_capnp");

struct Envelope {
  eventId @0 :Data;              # the event's id: the 16 bytes of its UUID (RFC 9562 byte order)
  eventType @1 :Text;            # e.g. "acme.orders.order.placed.v1"
  eventTimestampMicros @2 :Int64;  # when the event was recorded: microseconds since the Unix epoch, UTC
  sourceService @3 :Text;        # the bridge's configured source_service
  correlationId @4 :Text;        # from the event's metadata; null when it has none
  causationId @5 :Text;          # from the event's metadata; null when it has none
  traceId @6 :Text;              # from the event's metadata; null when it has none
  schemaVersion @7 :UInt32;      # N of the event type's ".vN" suffix; 1 when it has none
  stream @8 :Text;               # the stream the event belongs to (the Kafka message key)
  revision @9 :UInt64;           # its 0-based index within the stream
  position @10 :UInt64;          # its 1-based place in the store's global log
  dataContentType @11 :Text;     # the content type of `data`, e.g. "application/json"
  data @12 :Data;                # the event's data, byte-exact (never base64 here)
  metadata @13 :Text;            # the event's metadata, a JSON object; null when it has none
}
