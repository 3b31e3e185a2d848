#include "event_checks.h"

#include <string>

#include "cairn/event.h"
#include "json.h"

namespace cairn::detail {

Status CheckEventContent(std::string_view type, std::string_view content_type, std::string_view data,
                         std::string_view metadata, bool tombstone_allowed) {
  if (auto ok = ValidateEventType(type); !ok) return ok;
  if (type.front() == '$' && !(tombstone_allowed && type == kStreamDeletedType)) {
    return Fail(ErrorCode::kInvalidArgument,
                "event type \"" + std::string(type) + "\": types starting with '$' are reserved for the store");
  }
  if (content_type.empty()) return Fail(ErrorCode::kInvalidArgument, "the content type is empty");
  if (IsJsonContentType(content_type)) {
    if (auto ok = ValidateJson(data, "data"); !ok) return ok;
  }
  if (!metadata.empty()) {
    if (auto ok = ValidateJsonObject(metadata, "metadata"); !ok) return ok;
  }
  return {};
}

}  // namespace cairn::detail
