// Internal: JSON checks the store makes on append (RapidJSON, never exposed).
#pragma once

#include <string_view>

#include "cairn/status.h"

namespace cairn::detail {

// Ok when `text` is one complete JSON value. The error names `what` and the
// offset and reason of the first fault.
Status ValidateJson(std::string_view text, std::string_view what);
// Ok when `text` is a JSON object.
Status ValidateJsonObject(std::string_view text, std::string_view what);

}  // namespace cairn::detail
