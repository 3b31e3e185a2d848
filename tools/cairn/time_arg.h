// Times given on the command line (replay --since/--until): ISO-8601 with a zone.
//
//   auto at = ParseTimestamp("2026-11-23T13:45:01.5+01:00");  // microseconds since the Unix epoch, UTC
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace cairn::cli {

// Parses "YYYY-MM-DDTHH:MM:SS[.f…]" followed by "Z" or an offset "±HH:MM"
// (or "±HHMM"), with at most 6 fractional digits (cairn records microseconds),
// as FormatTimestamp writes it. A zone is required: a time without one would
// mean whatever zone the machine is in. Returns microseconds since the Unix
// epoch (UTC), or why the text is not such a time.
std::expected<std::int64_t, std::string> ParseTimestamp(std::string_view text);

}  // namespace cairn::cli
