#include "cairn/status.h"

namespace cairn {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kStreamDeleted: return "stream deleted";
    case ErrorCode::kDuplicateEventId: return "duplicate event id";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kIOError: return "I/O error";
    case ErrorCode::kNotSupported: return "not supported";
    case ErrorCode::kCancelled: return "cancelled";
  }
  return "unknown error";
}

std::string Error::ToString() const {
  std::string text(ErrorCodeName(code_));
  text += ": ";
  text += message_;
  return text;
}

}  // namespace cairn
