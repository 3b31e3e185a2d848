#include "cairn/audit.h"

#include <sodium.h>

namespace cairn {
namespace {

void PutU64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

void PutBytes(std::string& out, std::string_view bytes) {
  auto size = static_cast<std::uint32_t>(bytes.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xff);
  out.append(bytes);
}

}  // namespace

std::string CanonicalBytes(const EventView& event) {
  std::string out;
  out.reserve(8 + 4 + event.stream.size() + 8 + 16 + 4 + event.type.size() + 8 + 4 +
              event.content_type.size() + 4 + event.data.size() + 4 + event.metadata.size());
  PutU64(out, event.position);
  PutBytes(out, event.stream);
  PutU64(out, event.revision);
  out.append(event.id.AsBytes());
  PutBytes(out, event.type);
  PutU64(out, static_cast<std::uint64_t>(event.recorded_at_us));  // two's complement = i64 big-endian
  PutBytes(out, event.content_type);
  PutBytes(out, event.data);
  PutBytes(out, event.metadata);
  return out;
}

Hash ChainHash(const Hash& previous, const EventView& event) {
  std::string canonical = CanonicalBytes(event);
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  crypto_generichash_update(&state, previous.data(), previous.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size());
  Hash hash;
  crypto_generichash_final(&state, hash.data(), hash.size());
  return hash;
}

}  // namespace cairn
