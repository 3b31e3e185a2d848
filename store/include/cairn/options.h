// cairn/options.h — how a store is opened. Plain structs; every field has a safe default.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace cairn {

enum class BackendKind : std::uint8_t {
  kSqlite = 1,  // one SQLite file in WAL mode; the default
  kLmdb = 2,    // an LMDB environment (later issue)
};

enum class Durability : std::uint8_t {
  // Every acknowledged append has been fsynced: it survives kill -9 and power loss.
  kFull = 1,
  // Commits are not fsynced one by one (SQLite synchronous=NORMAL in WAL mode): an
  // acknowledged append survives kill -9 but the last few may be lost on power loss.
  kRelaxed = 2,
};

struct Options {
  // Default: kSqlite.
  BackendKind backend = BackendKind::kSqlite;

  // Create the store when the path does not exist. Default: false (opening a
  // missing path is kNotFound). An existing file is never overwritten.
  bool create_if_missing = false;

  // Open for reading only: appends and deletes fail with kNotSupported, the file is never written.
  // Default: false.
  bool read_only = false;

  // Default: kFull. Relaxing it trades durability on power loss for fewer fsyncs.
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
  // Default: 10 s.
  std::chrono::milliseconds busy_timeout{10'000};

  // How often a waiting subscription checks for commits made by other processes
  // (commits in this process wake it at once). Default: 50 ms.
  std::chrono::milliseconds external_poll_interval{50};
};

}  // namespace cairn
