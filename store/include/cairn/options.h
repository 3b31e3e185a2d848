// cairn/options.h — how a store is opened. Plain structs; every field has a safe default.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace cairn {

// Do not change existing values: they are passed between processes (tests, tools).
enum class BackendKind : std::uint8_t {
  // Whatever the file at the path is: an existing store is opened with the
  // backend its header names (SQLite's "SQLite format 3" magic, or LMDB's
  // meta-page magic 0xBEEFC0DE); a new store is created as SQLite.
  kAuto = 0,
  kSqlite = 1,  // one SQLite file in WAL mode (docs/sqlite-schema.md)
  kLmdb = 2,    // one LMDB data file (MDB_NOSUBDIR) plus its PATH-lock file (docs/lmdb-layout.md)
};

enum class Durability : std::uint8_t {
  // Every acknowledged append has been fsynced: it survives kill -9 and power loss.
  kFull = 1,
  // Commits are not fsynced one by one (SQLite synchronous=NORMAL in WAL mode): an
  // acknowledged append survives kill -9 but the last few may be lost on power loss.
  kRelaxed = 2,
};

struct Options {
  // Which backend opens (or creates) the store. An explicit kind that does not
  // match an existing file is refused, untouched: kInvalidArgument for a cairn
  // SQLite store or an LMDB environment opened as the other kind, kCorruption
  // for a file that is no cairn store at all. Default: kAuto.
  BackendKind backend = BackendKind::kAuto;

  // Create the store when the path does not exist. Default: false (opening a
  // missing path is kNotFound). An existing file is never overwritten.
  bool create_if_missing = false;

  // Open for reading only: appends and deletes fail with kNotSupported, the file is never written.
  // Default: false.
  bool read_only = false;

  // Default: kFull. Relaxing it trades durability on power loss for fewer fsyncs.
  // SQLite: synchronous=FULL / NORMAL. LMDB: two syncs per commit (data, then the
  // meta page) / MDB_NOMETASYNC (one: the meta page is synced with the next commit,
  // so a power loss may undo the last commit but never breaks the store).
  Durability durability = Durability::kFull;

  // Largest event accepted: type + data + metadata bytes. Default: 8 MiB.
  std::size_t max_event_bytes = 8u << 20;
  // Most events in one append. Default: 10,000.
  std::size_t max_append_events = 10'000;
  // Largest append (all its events together). Default: 64 MiB.
  std::size_t max_append_bytes = 64u << 20;

  // Group commit: the writer commits at most this many queued appends in one
  // transaction (and one fsync). Default: 512.
  std::size_t max_group_appends = 512;

  // How long a write waits for another process's write lock before failing with kBusy.
  // LMDB also waits this long for this process's readers to finish before it grows
  // the memory map (kBusy when they do not). Default: 10 s.
  std::chrono::milliseconds busy_timeout{10'000};

  // LMDB only: the memory map's size when the store is created. The map grows on
  // demand (it doubles when a write finds it nearly or completely full; another
  // process's growth is adopted), so this never limits the store: it only saves
  // the first few grows. It reserves address space, not disk: the data file
  // grows with what is written. Ignored for an existing store and by SQLite.
  // Default: 1 GiB.
  std::size_t lmdb_initial_map_bytes = std::size_t{1} << 30;

  // How often a waiting subscription checks for commits made by other processes
  // (commits in this process wake it at once). Default: 50 ms.
  std::chrono::milliseconds external_poll_interval{50};
};

}  // namespace cairn
