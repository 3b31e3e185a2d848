// tests/conformance/tamper.h — acting on a store behind its back: changing its
// files as someone with write access would (to check that Verify notices), and
// holding its write lock as another writer would (to check kBusy).
//
// This is the one backend-specific part of the conformance suite: adding a
// backend means implementing these functions for it in tamper.cc (until then
// they return kNotSupported and the tests using them fail, on purpose).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn_test {

// Which stored field of an event to change.
enum class TamperField {
  kData,        // the payload
  kType,        // the event type
  kMetadata,    // the metadata (set to a JSON object)
  kEventId,     // the 16-byte id
  kRecordedAt,  // the recorded-at time (+1 microsecond)
  kHash,        // the stored chain hash itself
};

const char* TamperFieldName(TamperField field);

// The Tamper* functions need the store closed.

// Changes one field of the event at `position`.
cairn::Status TamperModifyEvent(const std::string& path, std::uint64_t position, TamperField field);
// Removes the event at `position` from the log (leaves the stream records alone).
cairn::Status TamperDeleteEvent(const std::string& path, std::uint64_t position);
// Exchanges the data of the events at positions `a` and `b`.
cairn::Status TamperSwapData(const std::string& path, std::uint64_t a, std::uint64_t b);
// Flips one bit inside `marker` in the stored state of the snapshot whose state
// holds it, leaving the stored checksum as it was (a damaged record).
cairn::Status TamperDamageSnapshot(const std::string& path, std::string_view marker);

// Holds the store's write lock, as a writer in another process would, until destroyed.
class ExternalWriteLock {
 public:
  virtual ~ExternalWriteLock() = default;
  static cairn::Result<std::unique_ptr<ExternalWriteLock>> Acquire(const std::string& path);

 protected:
  ExternalWriteLock() = default;
};

}  // namespace cairn_test
