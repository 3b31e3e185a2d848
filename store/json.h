// Internal: JSON checks the store makes on append (a fast scan, RapidJSON for
// everything it does not vouch for; never exposed).
#pragma once

#include <cstddef>
#include <string_view>

#include "cairn/status.h"

namespace cairn::detail {

// Data and metadata may nest arrays and objects this deep, no deeper: the
// projections, the bridge and schema validation parse events recursively.
inline constexpr std::size_t kMaxJsonDepth = 512;

// Ok when `text` is one complete JSON value nested at most kMaxJsonDepth deep.
// The error names `what` and the offset and reason of the first fault.
Status ValidateJson(std::string_view text, std::string_view what);
// Ok when `text` is a JSON object.
Status ValidateJsonObject(std::string_view text, std::string_view what);

}  // namespace cairn::detail
