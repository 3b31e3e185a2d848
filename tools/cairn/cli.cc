#include "cli.h"

#include <cstdio>
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
  auto store = EventStore::Open(path, options);
  if (!store) {
    if (store.error().code() == ErrorCode::kNotFound) return Fail(Failure{kExitError, missing});
    return Fail(StoreFailure(store.error(), fmt::format("cannot open {}", path)));
  }
  return std::move(*store);
}

}  // namespace cairn::cli
