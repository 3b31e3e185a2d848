// What every cairn command shares: exit codes, failures as values, the global
// options and opening the store.
//
// A command returns CliStatus; main() prints a Failure as
// "cairn: error: <message>" on stderr and exits with its code. Nothing throws
// on purpose: a store error becomes a Failure through StoreFailure().
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn::cli {

// Process exit codes. Do not change existing values: scripts depend on them.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,           // the store refused the request or failed (see the message)
  kExitUsage = 2,           // the command line (or a batch line, a projection file) could not be understood
  kExitConflict = 3,        // expected revision did not match (ErrorCode::kConflict)
  kExitVerifyFailed = 4,    // `cairn verify` found the log damaged or tampered with
};

// The exit-code table printed in every --help footer.
inline constexpr std::string_view kExitCodeHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  error: the store refused or failed (missing/deleted stream, invalid stream name or\n"
    "     type, oversized event, busy, I/O, not a cairn store, not a read model, a failed\n"
    "     projection, ...)\n"
    "  2  usage error: unknown option, bad --expect/--id/--from value, malformed JSON argument,\n"
    "     malformed batch line, projection file not understood\n"
    "  3  concurrency conflict: the stream was not at the expected revision\n"
    "  4  verification failed: the audit chain or the log's invariants are broken\n";

// A failed command: what to tell the user and how the process ends.
struct Failure {
  int exit_code = kExitError;
  std::string message;
  // A short stable name for JSON output: an ErrorCodeName ("conflict", "stream deleted"…),
  // "usage" or "malformed line".
  std::string_view kind = "error";
};

template <class T>
using CliResult = std::expected<T, Failure>;
using CliStatus = std::expected<void, Failure>;

inline std::unexpected<Failure> UsageError(std::string message) {
  return std::unexpected<Failure>(Failure{kExitUsage, std::move(message), "usage"});
}
inline std::unexpected<Failure> Fail(Failure failure) {
  return std::unexpected<Failure>(std::move(failure));
}

// The exit code for a store error: kConflict -> 3, everything else -> 1.
int ExitCodeFor(ErrorCode code);
// A Failure carrying `error`'s exit code; `context` (e.g. "append to order-42")
// is put in front of the store's own text when not empty.
Failure StoreFailure(const Error& error, std::string_view context = {});

// The more severe of two exit codes, for `append --batch --keep-going`:
// error (1) > malformed line (2) > conflict (3) > success (0).
int WorseExitCode(int a, int b);

// Writes "cairn: error: <message>" to stderr.
void PrintError(std::string_view message);

enum class OutputFormat : std::uint8_t { kJsonLines, kTable };

struct GlobalOptions {
  std::string store_path = "./cairn.db";
  OutputFormat format = OutputFormat::kJsonLines;
  // --backend / $CAIRN_BACKEND: kAuto opens a store with the backend it was
  // created with and creates new stores as SQLite.
  BackendKind backend = BackendKind::kAuto;
};

// "auto", "sqlite" or "lmdb": the --backend spelling, and StoreStats::backend's.
std::string_view BackendName(BackendKind kind);

// Opens an existing store. A missing one is "no store at PATH (create it with
// `cairn init`)"; read_only stores are never written (read, replay, verify, stats).
CliResult<std::unique_ptr<EventStore>> OpenExistingStore(const GlobalOptions& global, bool read_only);

// The Failure for EventStore::Open's `error` on global.store_path. When an
// explicit --backend does not match the store, it says which backend the store
// has (the store's own message speaks of C++ enumerators).
Failure OpenFailure(const GlobalOptions& global, const Error& error, std::string_view context);

// SIGINT/SIGTERM set a flag instead of ending the process, so that long
// commands (replay --follow, import) can end cleanly. Only a lock-free atomic
// store is safe in a signal handler: commands poll StopRequested(). The handlers
// are installed without SA_RESTART, so a blocking read returns EINTR.
void InstallStopHandlers();
bool StopRequested();

// While it lives, a thread calls `stop` once SIGINT or SIGTERM comes (installing
// the handlers), for commands whose work blocks the main thread (a projection
// run, a bridge relay). interrupted() tells whether it did.
class StopOnSignal {
 public:
  explicit StopOnSignal(std::function<void()> stop);
  ~StopOnSignal();  // ends and joins the thread
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
  bool interrupted() const { return interrupted_.load(); }

 private:
  std::atomic<bool> interrupted_{false};
  std::jthread watcher_;
};

}  // namespace cairn::cli
