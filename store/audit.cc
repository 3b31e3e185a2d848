#include "cairn/audit.h"
#include "cairn/store.h"

#include <sodium.h>

namespace cairn {
namespace {

// Feeds the canonical layout of `event` to `sink(bytes)` piece by piece, so that
// hashing needs no copy of the event and CanonicalBytes shares the one definition.
template <class Sink>
void WriteCanonical(const EventView& event, Sink&& sink) {
  auto u64 = [&](std::uint64_t value) {
    unsigned char be[8];
    for (int i = 0; i < 8; ++i) be[i] = static_cast<unsigned char>(value >> (56 - 8 * i));
    sink(std::string_view(reinterpret_cast<const char*>(be), sizeof be));
  };
  auto bytes = [&](std::string_view field) {
    auto size = static_cast<std::uint32_t>(field.size());
    unsigned char be[4];
    for (int i = 0; i < 4; ++i) be[i] = static_cast<unsigned char>(size >> (24 - 8 * i));
    sink(std::string_view(reinterpret_cast<const char*>(be), sizeof be));
    sink(field);
  };
  u64(event.position);
  bytes(event.stream);
  u64(event.revision);
  sink(event.id.AsBytes());
  bytes(event.type);
  u64(static_cast<std::uint64_t>(event.recorded_at_us));  // two's complement = i64 big-endian
  bytes(event.content_type);
  bytes(event.data);
  bytes(event.metadata);
}

}  // namespace

std::string CanonicalBytes(const EventView& event) {
  std::string out;
  out.reserve(8 + 4 + event.stream.size() + 8 + 16 + 4 + event.type.size() + 8 + 4 +
              event.content_type.size() + 4 + event.data.size() + 4 + event.metadata.size());
  WriteCanonical(event, [&](std::string_view piece) { out.append(piece); });
  return out;
}

Hash ChainHash(const Hash& previous, const EventView& event) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  crypto_generichash_update(&state, previous.data(), previous.size());
  WriteCanonical(event, [&](std::string_view piece) {
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(piece.data()), piece.size());
  });
  Hash hash;
  crypto_generichash_final(&state, hash.data(), hash.size());
  return hash;
}

Hash SnapshotChecksum(const SnapshotView& snapshot) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  auto feed = [&](std::string_view piece) {
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(piece.data()), piece.size());
  };
  auto u64 = [&](std::uint64_t value) {
    unsigned char be[8];
    for (int i = 0; i < 8; ++i) be[i] = static_cast<unsigned char>(value >> (56 - 8 * i));
    feed(std::string_view(reinterpret_cast<const char*>(be), sizeof be));
  };
  auto bytes = [&](std::string_view field) {
    u64(field.size());
    feed(field);
  };
  bytes("cairn.snapshot.v1");
  bytes(snapshot.stream);
  u64(snapshot.revision);
  u64(snapshot.schema_version);
  feed(std::string_view(reinterpret_cast<const char*>(snapshot.event_hash.data()), snapshot.event_hash.size()));
  u64(static_cast<std::uint64_t>(snapshot.taken_at_us));
  bytes(snapshot.state);
  Hash hash;
  crypto_generichash_final(&state, hash.data(), hash.size());
  return hash;
}

}  // namespace cairn
