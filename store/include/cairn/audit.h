// cairn/audit.h — the audit chain, exactly as documented in docs/audit-chain.md.
//
//   hash(n) = BLAKE2b-256(hash(n-1) || canonical(n)),  hash(0) = 32 zero bytes
//   canonical = u64 position || str stream || u64 revision || 16-byte event id ||
//               str type || i64 recorded_at_us || str content_type ||
//               bytes data || bytes metadata
// Integers are 8 bytes big-endian; str/bytes are a 4-byte big-endian length then
// the raw bytes as stored (metadata empty when there is none).
//
// Do not change this layout: every store ever written and every export depends on it.
#pragma once

#include <string>

#include "cairn/event.h"

namespace cairn {

inline constexpr Hash kGenesisHash{};  // hash(0): 32 zero bytes

// The canonical byte layout of one event (its hash field is not part of it).
std::string CanonicalBytes(const EventView& event);
// BLAKE2b-256(previous || CanonicalBytes(event)).
Hash ChainHash(const Hash& previous, const EventView& event);

}  // namespace cairn
