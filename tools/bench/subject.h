// tools/bench/subject.h — the things cairn_bench compares.
//
// A *subject* is one way of storing events: cairn's EventStore (on SQLite or
// LMDB), or the layout a developer would hand-write in raw SQLite or raw LMDB. Every scenario is written once,
// against the interfaces below, and run against each subject, so that both do
// exactly the same work as seen from the caller: same payloads, same batch
// sizes, same threads, same streams.
//
//   auto subject = OpenRawSqliteSubject(dir + "/raw.db", Durability::kFull);
//   auto appender = (*subject)->NewAppender(/*batch_size=*/100);
//   (*appender)->Append("order-1");  // one transaction of 100 events, fsynced
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn::bench {

// One event's proposed content. Sizes are fixed so that every subject stores
// the same bytes: data is a 200-byte JSON object, metadata a 100-byte one.
struct Payload {
  std::string type;
  std::string data;
  std::string metadata;
};

inline constexpr std::size_t kDataBytes = 200;
inline constexpr std::size_t kMetadataBytes = 100;

// `count` payloads, cycling through a few deterministic variants (different
// order ids, amounts, correlation ids) so that rows are not all identical.
std::vector<Payload> MakePayloads(std::size_t count);

// What a read saw. `bytes` sums the sizes of stream, type, data and metadata of
// every visited event: it makes each read touch its events, and lets the
// caller check that both subjects returned the same thing.
struct ReadTally {
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
};

// Appends one fixed batch again and again. Not thread-safe: every appending
// thread makes its own (raw SQLite needs a connection per thread; cairn's
// appenders share the subject's one EventStore).
class Appender {
 public:
  virtual ~Appender() = default;
  // Appends this appender's batch to `stream` as one atomic, durable (per the
  // subject's Durability) transaction. Errors: whatever the store reports,
  // e.g. kBusy when a raw connection waited past its busy timeout.
  virtual Status Append(std::string_view stream) = 0;
};

// Reads through one connection. Not thread-safe.
class Reader {
 public:
  virtual ~Reader() = default;
  // Visits every event of `stream` in revision order, touching every field.
  virtual Result<ReadTally> ReadStream(std::string_view stream) = 0;
  // Visits the whole global log in position order, touching every field.
  virtual Result<ReadTally> ScanLog() = 0;
};

// A store under test. Thread-safe: appenders and readers may be made and used
// on any threads at once. Outlives every appender and reader it makes.
class Subject {
 public:
  virtual ~Subject() = default;
  virtual std::string_view name() const = 0;
  // An appender whose every Append writes `batch_size` events.
  virtual Result<std::unique_ptr<Appender>> NewAppender(std::size_t batch_size) = 0;
  virtual Result<std::unique_ptr<Reader>> NewReader() = 0;
  // Events in the global log, used to check that a run wrote what it counted.
  virtual Result<std::uint64_t> CountEvents() = 0;
};

// cairn's EventStore at `path` (created), on `backend` (named, never kAuto),
// reported as `name`. kRelaxed is only used to fill read fixtures quickly;
// every write that is measured uses kFull. LMDB stores get a 16 GiB initial map
// (address space only), the raw-LMDB baseline's fixed map size, so that neither
// side grows its map during a run.
Result<std::unique_ptr<Subject>> OpenCairnSubject(const std::string& path, Durability durability,
                                                  BackendKind backend = BackendKind::kSqlite,
                                                  std::string name = "cairn");

// The hand-written SQLite baseline at `path` (created); see raw_sqlite_subject.cc
// for exactly what it does and does not do. kFull = synchronous=FULL,
// kRelaxed = synchronous=NORMAL, both in WAL mode.
Result<std::unique_ptr<Subject>> OpenRawSqliteSubject(const std::string& path, Durability durability);

// The hand-written LMDB baseline at `path` (an MDB_NOSUBDIR data file,
// created); see raw_lmdb_subject.cc for exactly what it does and does not do.
// kFull = LMDB's synced commit, kRelaxed = MDB_NOMETASYNC; never MDB_NOSYNC.
Result<std::unique_ptr<Subject>> OpenRawLmdbSubject(const std::string& path, Durability durability);

}  // namespace cairn::bench
