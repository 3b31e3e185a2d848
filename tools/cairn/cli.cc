#include "cli.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

namespace cairn::cli {

int ExitCodeFor(ErrorCode code) {
  return code == ErrorCode::kConflict ? kExitConflict : kExitError;
}

Failure StoreFailure(const Error& error, std::string_view context) {
  std::string text = error.ToString();
  if (!context.empty()) text = fmt::format("{}: {}", context, text);
  return Failure{ExitCodeFor(error.code()), std::move(text), ErrorCodeName(error.code())};
}

namespace {

int Severity(int exit_code) {
  switch (exit_code) {
    case kExitOk: return 0;
    case kExitConflict: return 1;
    case kExitUsage: return 2;
    default: return 3;  // kExitError and anything unexpected
  }
}

}  // namespace

int WorseExitCode(int a, int b) { return Severity(b) > Severity(a) ? b : a; }

namespace {

std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int) { g_stop_requested.store(true); }

}  // namespace

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool StopRequested() { return g_stop_requested.load(); }

StopOnSignal::StopOnSignal(std::function<void()> stop) {
  InstallStopHandlers();
  watcher_ = std::jthread([this, stop = std::move(stop)](std::stop_token token) {
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    while (!token.stop_requested()) {
      // The handler can only set a flag: look at it every 50 ms.
      if (wake.wait_for(lock, token, std::chrono::milliseconds(50), [] { return StopRequested(); })) {
        interrupted_ = true;
        stop();
        return;
      }
    }
  });
}

StopOnSignal::~StopOnSignal() = default;  // the jthread asks its thread to stop, and joins it

std::string_view BackendName(BackendKind kind) {
  switch (kind) {
    case BackendKind::kAuto: return "auto";
    case BackendKind::kSqlite: return "sqlite";
    case BackendKind::kLmdb: return "lmdb";
  }
  return "unknown";
}

Failure OpenFailure(const GlobalOptions& global, const Error& error, std::string_view context) {
  if (error.code() == ErrorCode::kInvalidArgument && global.backend != BackendKind::kAuto) {
    // Ask the store what it is, the way --backend auto would open it.
    Options probe;
    probe.read_only = true;
    if (auto store = EventStore::Open(global.store_path, probe)) {
      auto stats = (*store)->Stats();
      if (stats && stats->backend != BackendName(global.backend)) {
        return Failure{kExitError,
                       fmt::format("{}: it is {} store, not {} (use --backend {}, or auto, the default)", context,
                                   stats->backend == "lmdb" ? "an LMDB" : "a SQLite",
                                   global.backend == BackendKind::kLmdb ? "LMDB" : "SQLite", stats->backend),
                       ErrorCodeName(error.code())};
      }
    }
  }
  return StoreFailure(error, context);
}

void PrintError(std::string_view message) {
  fmt::print(stderr, "cairn: error: {}\n", message);
  std::fflush(stderr);
}

CliResult<std::unique_ptr<EventStore>> OpenExistingStore(const GlobalOptions& global, bool read_only) {
  const std::string& path = global.store_path;
  const std::string missing = fmt::format("no store at {} (create it with `cairn init`)", path);
  // Checked here as well as by the store so that the message is the same
  // whatever the backend says about a missing file.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return Fail(Failure{kExitError, missing});

  Options options;
  options.create_if_missing = false;
  options.read_only = read_only;
  options.backend = global.backend;
  auto store = EventStore::Open(path, options);
  if (!store) {
    if (store.error().code() == ErrorCode::kNotFound) return Fail(Failure{kExitError, missing});
    return Fail(OpenFailure(global, store.error(), fmt::format("cannot open {}", path)));
  }
  return std::move(*store);
}

}  // namespace cairn::cli
