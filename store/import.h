// Internal: EventStore::Import on the backend interface (see cairn/store.h for
// the contract). store.cc's StoreImpl checks that the store is writable and
// hands over its backend; this file owns the checks and the transactions.
#pragma once

#include <cstddef>
#include <functional>

#include "backend.h"
#include "cairn/store.h"

namespace cairn::detail {

// Imports `next`'s events into the empty store behind `backend`, in
// transactions of options.batch_events events or `max_batch_bytes` bytes.
// `committed` runs after each commit (it wakes this process's subscriptions).
Result<ImportStats> ImportLog(Backend& backend, const ImportSource& next, const ImportOptions& options,
                              std::size_t max_batch_bytes, const std::function<void()>& committed);

}  // namespace cairn::detail
