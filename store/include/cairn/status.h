// cairn/status.h — errors as values.
//
// Every fallible cairn call returns `Result<T>` (= std::expected<T, Error>) or
// `Status` (= std::expected<void, Error>). Expected outcomes — a concurrency
// conflict, a missing or deleted stream, a duplicate event id — are values with
// their own ErrorCode, never exceptions. The code tells the caller what to do;
// the message keeps the backend's own text (sqlite3_errmsg, mdb_strerror, …).
//
//   auto result = store->Append("order-42", ExpectedRevision::NoStream(), events);
//   if (!result && result.error().code() == cairn::ErrorCode::kConflict) {
//     // reload the aggregate and decide again
//   }
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace cairn {

// Do not change existing values: they are printed in logs and mapped to CLI exit codes.
enum class ErrorCode : std::uint8_t {
  kInvalidArgument = 1,   // the request is malformed (bad name, oversized event, bad JSON); fix the input
  kConflict = 2,          // expected revision did not match; reload and decide again (see Error::conflict())
  kNotFound = 3,          // the stream or store does not exist
  kStreamDeleted = 4,     // the stream is tombstoned; it can never be appended to again
  kDuplicateEventId = 5,  // an event id is already committed somewhere else
  kBusy = 6,              // another process holds the write lock past the busy timeout; retrying may help
  kCorruption = 7,        // the store's contents are damaged or tampered with, or the file is not a cairn store
  kIOError = 8,           // the operating system failed us (disk full, permission, …)
  kNotSupported = 9,      // a newer store format, or an operation this backend cannot do
  kCancelled = 10,        // the operation was stopped on request (Subscription::Stop, store closing)
};

// The name of a code, e.g. "conflict" — stable, used in CLI output.
std::string_view ErrorCodeName(ErrorCode code);

// Carried by kConflict errors: what the stream really looked like.
struct ConflictDetail {
  std::string stream;
  // The stream's current revision; nullopt when the stream does not exist.
  std::optional<std::uint64_t> actual_revision;
};

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  Error(ConflictDetail conflict, std::string message)
      : code_(ErrorCode::kConflict), message_(std::move(message)), conflict_(std::move(conflict)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Set exactly when code() == kConflict.
  const std::optional<ConflictDetail>& conflict() const { return conflict_; }
  // True when the same call may succeed if tried again later unchanged.
  bool retryable() const { return code_ == ErrorCode::kBusy; }

  // "conflict: order-42: expected revision 3, actual 5"
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
  std::optional<ConflictDetail> conflict_;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// Shorthand for `return cairn::Fail(ErrorCode::kNotFound, "…");` in functions returning Result<T>.
inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> Fail(Error error) { return std::unexpected<Error>(std::move(error)); }

}  // namespace cairn
