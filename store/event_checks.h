// Internal: the checks an event's content must pass to enter a store, shared by
// Append (store.cc) and Import (import.cc) so that both admit exactly the same events.
#pragma once

#include <string_view>

#include "cairn/status.h"

namespace cairn::detail {

// Ok when the type is a valid name and not reserved (only the tombstone type,
// when `tombstone_allowed`), the content type is non-empty, JSON data is valid
// JSON and metadata is empty or a JSON object. The error (kInvalidArgument) says
// what is wrong without naming the event: callers add which one.
Status CheckEventContent(std::string_view type, std::string_view content_type, std::string_view data,
                         std::string_view metadata, bool tombstone_allowed);

}  // namespace cairn::detail
