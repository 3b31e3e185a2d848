// `cairn export` and `cairn import`: the global log to JSON Lines and back,
// every field byte-exact (line format: export_format.h; docs/cli.md).
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "commands.h"
#include "export_format.h"

namespace cairn::cli {
namespace {

// Progress for a person watching: on stderr, only when it is a terminal (it
// would only litter a log file or a pipe), at most every 100 ms.
class Progress {
 public:
  explicit Progress(std::string_view verb) : verb_(verb), enabled_(isatty(STDERR_FILENO) == 1) {}
  ~Progress() { Clear(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Show(std::uint64_t done, std::uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_shown_ < std::chrono::milliseconds(100)) return;
    last_shown_ = now;
    const double percent =
        total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
    fmt::print(stderr, "\r{}: {}/{} events ({:.1f}%)", verb_, done, total, percent);
    std::fflush(stderr);
    shown_ = true;
  }
  // Erases the progress line.
  void Clear() {
    if (shown_) fmt::print(stderr, "\r\033[K");
    shown_ = false;
  }

 private:
  std::string_view verb_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_shown_{};
};

// Lines of a file, without their "\n" (or "\r\n"), counted from 1.
class LineReader {
 public:
  explicit LineReader(std::FILE* file) : file_(file) {}
  ~LineReader() { std::free(buffer_); }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line, valid until the next call; nullopt at the end or on a read
  // error (failed() tells which).
  std::optional<std::string_view> Next() {
    const ssize_t length = ::getline(&buffer_, &capacity_, file_);
    if (length < 0) return std::nullopt;
    std::string_view line(buffer_, static_cast<std::size_t>(length));
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    ++number_;
    return line;
  }
  bool failed() const { return std::ferror(file_) != 0; }
  std::uint64_t number() const { return number_; }

 private:
  std::FILE* file_;
  char* buffer_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t number_ = 0;
};

// Every file a store at `path` may consist of: SQLite's database, write-ahead
// log, shared memory and journal; LMDB's data file and lock file.
constexpr std::array<std::string_view, 5> kStoreFileSuffixes{"", "-wal", "-shm", "-journal", "-lock"};

void RemoveStoreFiles(const std::string& path) {
  for (std::string_view suffix : kStoreFileSuffixes) {
    std::error_code ignored;
    std::filesystem::remove(path + std::string(suffix), ignored);
  }
}

// A hidden path beside `target`, in the same directory so that the finished
// store can be linked into place: ".NAME.import-1a2b3c4d".
std::string ScratchPath(const std::string& target) {
  const std::filesystem::path path(target);
  std::array<unsigned char, 4> random{};
  randombytes_buf(random.data(), random.size());
  const std::string name = fmt::format(".{}.import-{:02x}{:02x}{:02x}{:02x}", path.filename().string(), random[0],
                                       random[1], random[2], random[3]);
  return (path.parent_path() / name).string();
}

CliStatus SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int cause = errno;
    if (fd >= 0) ::close(fd);
    return Fail(Failure{kExitError, fmt::format("cannot sync {}: {}", path, std::strerror(cause))});
  }
  ::close(fd);
  return {};
}

// Gives the finished (closed) store at `scratch` the name `target`: link(2)
// never replaces a file that appeared at `target` meanwhile.
CliStatus MoveIntoPlace(const std::string& scratch, const std::string& target) {
  if (auto ok = SyncPath(scratch, 0); !ok) return ok;
  if (::link(scratch.c_str(), target.c_str()) != 0) {
    const int cause = errno;
    if (cause == EEXIST) {
      return Fail(Failure{kExitError, fmt::format("{} appeared while the import ran; it was left alone", target)});
    }
    return Fail(Failure{kExitError, fmt::format("cannot create {}: {}", target, std::strerror(cause))});
  }
  RemoveStoreFiles(scratch);  // the scratch name, and LMDB's lock file (the next open makes its own)
  // The store is in place now; a directory that cannot be synced only makes the
  // new name less durable, which is worth a warning, not a failure.
  const std::string directory = std::filesystem::path(target).parent_path().string();
  if (auto synced = SyncPath(directory.empty() ? "." : directory, O_DIRECTORY); !synced) {
    fmt::print(stderr, "cairn: warning: {}\n", synced.error().message);
  }
  return {};
}

struct ImportedStore {
  std::string backend;
  ImportStats stats;
};

// Imports the events after the header into a new store at `scratch` and closes it.
CliResult<ImportedStore> BuildStore(const GlobalOptions& global, const std::string& scratch, LineReader& lines,
                                    const ExportHeader& header) {
  Options options;
  options.create_if_missing = true;
  options.backend = global.backend;
  auto store = EventStore::Open(scratch, options);
  if (!store) return Fail(StoreFailure(store.error(), fmt::format("cannot create a store at {}", scratch)));

  // Faults of the input found while reading it; the store only sees kCancelled.
  std::optional<Failure> input_failure;
  auto next = [&](RecordedEvent& event) -> Result<bool> {
    auto stop = [&](Failure failure) {
      input_failure = std::move(failure);
      return cairn::Fail(ErrorCode::kCancelled, "the input failed");
    };
    auto line = lines.Next();
    if (StopRequested()) return stop(Failure{kExitError, "interrupted"});
    if (!line) {
      if (lines.failed()) {
        return stop(Failure{kExitError, fmt::format("cannot read the input: {}", std::strerror(errno))});
      }
      return false;
    }
    if (auto ok = ParseExportLine(*line, event); !ok) {
      return stop(Failure{kExitUsage, fmt::format("line {}: {}", lines.number(), ok.error()), "malformed line"});
    }
    if (event.position > header.to) {
      return stop(Failure{kExitError, fmt::format("line {}: position {} is past the last position the header "
                                                  "announces ({})",
                                                  lines.number(), event.position, header.to)});
    }
    return true;
  };
  Progress progress("importing");
  ImportOptions import_options;
  import_options.progress = [&](std::uint64_t imported) { progress.Show(imported, header.to); };
  auto imported = (*store)->Import(next, import_options);
  progress.Clear();
  if (!imported) {
    if (input_failure) return Fail(std::move(*input_failure));
    // The store checks each event before it asks for the next: the line just read is the culprit.
    if (imported.error().code() == ErrorCode::kCorruption) {
      return Fail(Failure{kExitError, fmt::format("line {}: {}", lines.number(), imported.error().message()),
                          ErrorCodeName(ErrorCode::kCorruption)});
    }
    return Fail(StoreFailure(imported.error(), "cannot import"));
  }
  if (imported->head_position != header.to) {
    return Fail(Failure{kExitError, fmt::format("the input is truncated: its header announces positions {}..{}, "
                                                "but it ends at position {} (line {})",
                                                header.from, header.to, imported->head_position, lines.number())});
  }
  auto stats = (*store)->Stats();
  if (!stats) return Fail(StoreFailure(stats.error(), "cannot read the imported store"));
  ImportedStore result{.backend = stats->backend, .stats = *imported};
  store->reset();  // closes it: SQLite checkpoints its write-ahead log into the database file
  std::error_code ec;
  if (std::filesystem::file_size(scratch + "-wal", ec) > 0 && !ec) {
    return Fail(Failure{kExitError, fmt::format("{}-wal was not checkpointed when the store closed", scratch)});
  }
  return result;
}

}  // namespace

CliStatus RunExport(const GlobalOptions& global, const ExportCommand& command) {
  if (global.format == OutputFormat::kTable) {
    return UsageError("export writes JSON Lines only (they are `cairn import`'s input): drop --format table");
  }
  const std::uint64_t from = std::max<std::uint64_t>(command.from_position.value_or(1), 1);
  if (command.to_position && *command.to_position < from) {
    return UsageError(fmt::format("--to {} is before --from {}", *command.to_position, from));
  }
  auto store = OpenExistingStore(global, /*read_only=*/true);
  if (!store) return Fail(store.error());
  // The header announces exactly what follows: positions are gap-free and
  // never change once committed, so everything up to this head is there.
  auto head = (*store)->HeadPosition();
  if (!head) return Fail(StoreFailure(head.error(), "cannot export"));
  const std::uint64_t to = std::max(std::min(command.to_position.value_or(*head), *head), from - 1);
  const std::string header = FormatExportHeader({.from = from, .to = to});
  std::fwrite(header.data(), 1, header.size(), stdout);
  if (to < from) return {};

  ExportLineWriter writer;
  Progress progress("exporting");
  std::uint64_t written = 0;
  ReadLogOptions options;
  options.from_position = from;
  options.to_position = to;
  auto read = (*store)->ReadLog(options, [&](const EventView& event) {
    const std::string_view line = writer.Line(event);
    std::fwrite(line.data(), 1, line.size(), stdout);
    progress.Show(++written, to - from + 1);
    return !std::ferror(stdout);  // stop early when stdout is gone; main() reports it
  });
  if (!read) return Fail(StoreFailure(read.error(), "cannot export"));
  return {};
}

CliStatus RunImport(const GlobalOptions& global, const ImportCommand& command) {
  const std::string& target = global.store_path;
  std::error_code ec;
  if (std::filesystem::symlink_status(target, ec).type() != std::filesystem::file_type::not_found) {
    return Fail(Failure{kExitError,
                        fmt::format("cannot import into {}: it already exists. An import builds a new store and "
                                    "puts it in place only once every line has verified, so it never writes into an "
                                    "existing store, even an empty one: choose a new --store path",
                                    target)});
  }

  const bool from_stdin = command.file == "-";
  struct CloseFile {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::unique_ptr<std::FILE, CloseFile> file(from_stdin ? nullptr : std::fopen(command.file.c_str(), "rb"));
  if (!from_stdin && !file) {
    return Fail(Failure{kExitError, fmt::format("cannot open {}: {}", command.file, std::strerror(errno))});
  }
  if (from_stdin && isatty(STDIN_FILENO) == 1) {
    fmt::print(stderr, "cairn: reading an export from stdin (end with Ctrl-D)\n");
  }
  LineReader lines(from_stdin ? stdin : file.get());
  const std::string input_name = from_stdin ? std::string("stdin") : command.file;
  auto first = lines.Next();
  if (!first) {
    if (lines.failed()) {
      return Fail(Failure{kExitError, fmt::format("cannot read {}: {}", input_name, std::strerror(errno))});
    }
    return Fail(Failure{kExitUsage, fmt::format("{} is empty: not a cairn export", input_name), "malformed line"});
  }
  auto header = ParseExportHeader(*first);
  if (!header) return Fail(Failure{kExitUsage, fmt::format("line 1: {}", header.error()), "malformed line"});
  if (header->from != 1) {
    return Fail(Failure{kExitError,
                        fmt::format("{} starts at position {} (it was exported with --from): only an export from "
                                    "position 1 can be imported, since the events before it are needed to check "
                                    "the audit chain and to keep positions without a gap",
                                    input_name, header->from)});
  }

  // Built under another name and moved into place only when complete: a
  // refused or failed import leaves nothing behind, not even an empty store.
  const std::string scratch = ScratchPath(target);
  InstallStopHandlers();  // Ctrl-C ends the import cleanly, removing the scratch store
  auto imported = BuildStore(global, scratch, lines, *header);
  if (imported) {
    if (auto moved = MoveIntoPlace(scratch, target); !moved) imported = std::unexpected(std::move(moved.error()));
  }
  if (!imported) {
    RemoveStoreFiles(scratch);
    Failure failure = std::move(imported.error());
    failure.message += fmt::format("; nothing was imported ({} was not created)", target);
    return Fail(std::move(failure));
  }
  Record()
      .Add("path", target)
      .Add("backend", imported->backend)
      .Add("events", imported->stats.events)
      .Add("streams", imported->stats.streams)
      .Add("head_position", imported->stats.head_position)
      .Add("head_hash", HashToHex(imported->stats.head_hash))
      .Print(global.format);
  return {};
}

}  // namespace cairn::cli
