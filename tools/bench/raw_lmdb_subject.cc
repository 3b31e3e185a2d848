// The raw-LMDB baseline: the layout a developer would hand-write on the liblmdb
// C API without cairn, at the same durability as cairn's default, so that the
// LMDB comparison (cairn_bench --backends lmdb) can say what cairn's LMDB
// backend costs (or saves) against it.
//
// WHAT IT DOES
//   Environment: one data file (MDB_NOSUBDIR | MDB_NOTLS) plus its -lock file,
//     a fixed 16 GiB map (address space only; the file grows with what is
//     written — the same size cairn-lmdb is given as lmdb_initial_map_bytes),
//     two named sub-databases:
//       events : key = position (u64 big-endian, from 1), value = a flat
//                record: u64 revision, i64 recorded_at (µs), 16-byte event id,
//                u32 lengths of stream, type, data, metadata (host order),
//                then those four byte strings;
//       streams: key = stream name bytes ‖ revision (u64 big-endian),
//                value = position (u64 big-endian).
//   Durability: kFull = LMDB's normal synced commit (data pages, then the meta
//     page: two syncs), the same as cairn's Durability::kFull; kRelaxed =
//     MDB_NOMETASYNC (only used to write the read fixture, as for cairn).
//     MDB_NOSYNC / MDB_WRITEMAP / MDB_MAPASYNC are never used.
//   Appends: one write transaction and one commit per append, whatever the
//     number of threads; concurrent threads queue on LMDB's writer mutex.
//     Per append: read the last position (cursor MDB_LAST on events), then per
//     event one MDB_APPEND put into events and one put into streams.
//   Ids and times: event id = 16 random bytes from a per-thread PRNG,
//     recorded_at = system clock in microseconds.
//   Revisions: each appending thread keeps the next revision of its own streams
//     in memory (every thread writes only its own streams), as raw SQLite does.
//   Reads: one read-only transaction per read (mdb_txn_renew of a reset one).
//     A stream read walks its `streams` range with a cursor (MDB_SET_RANGE at
//     name‖0, then MDB_NEXT while the name matches) and gathers each event by
//     position with mdb_get on `events`; a log scan is one cursor walk over
//     `events`. Both decode every field of every event (zero-copy, pointing
//     into the map).
//
// WHAT IT DOES NOT DO (all of which cairn does)
//   - no audit hash chain (no BLAKE2b per event, no read of the previous hash);
//   - no event-id index: no idempotent retries, no duplicate-id detection;
//   - no category index and no streams table (no stream head, no tombstones);
//   - no expected-revision check: nothing but the last position is read before
//     the write; concurrent writers to one stream would overwrite index entries;
//   - no validation of stream names, types, JSON or sizes;
//   - no group commit: N threads cost N commits (2N syncs);
//   - no map growth (MDB_MAP_FULL is an error), no stale-reader cleanup, no
//     cross-process write timeout, no format versioning, no Cap'n Proto
//     records (a portable, versioned encoding), no content type, no
//     subscriptions or verification.
#include <lmdb.h>

#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "subject.h"

namespace cairn::bench {
namespace {

constexpr std::size_t kMapBytes = std::size_t{16} << 30;
constexpr std::size_t kHeaderBytes = 8 + 8 + 16 + 4 * 4;

std::unexpected<Error> LmdbFailure(int rc, std::string_view what) {
  const ErrorCode code =
      rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ? ErrorCode::kCorruption : ErrorCode::kIOError;
  return Fail(code, fmt::format("raw lmdb: {}: {}", what, mdb_strerror(rc)));
}

std::array<char, 8> BigEndian(std::uint64_t value) {
  std::array<char, 8> bytes;
  for (int i = 7; i >= 0; --i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
  return bytes;
}

std::uint64_t FromBigEndian(const void* data) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return value;
}

MDB_val Val(const void* data, std::size_t size) { return MDB_val{size, const_cast<void*>(data)}; }

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Decodes one event record, touching every field, into `tally`.
Status TallyRecord(const MDB_val& value, ReadTally& tally, std::uint64_t& checksum) {
  if (value.mv_size < kHeaderBytes) return Fail(ErrorCode::kCorruption, "raw lmdb: short event record");
  const auto* bytes = static_cast<const char*>(value.mv_data);
  std::uint64_t revision;
  std::int64_t recorded_at;
  std::array<std::uint32_t, 4> lengths;
  std::memcpy(&revision, bytes, 8);
  std::memcpy(&recorded_at, bytes + 8, 8);
  std::memcpy(lengths.data(), bytes + 32, 16);
  std::size_t offset = kHeaderBytes;
  std::array<std::string_view, 4> fields;  // stream, type, data, metadata
  for (std::size_t i = 0; i < 4; ++i) {
    if (lengths[i] > value.mv_size - offset) return Fail(ErrorCode::kCorruption, "raw lmdb: bad event record");
    fields[i] = std::string_view(bytes + offset, lengths[i]);
    offset += lengths[i];
  }
  checksum += revision + static_cast<std::uint64_t>(recorded_at) + static_cast<unsigned char>(bytes[16]);
  ++tally.events;
  tally.bytes += fields[0].size() + fields[1].size() + fields[2].size() + fields[3].size();
  return {};
}

struct Env {
  MDB_env* env = nullptr;
  MDB_dbi events = 0;
  MDB_dbi streams = 0;
  ~Env() {
    if (env != nullptr) mdb_env_close(env);
  }
};

class RawLmdbAppender final : public Appender {
 public:
  RawLmdbAppender(Env& env, std::size_t batch_size)
      : env_(env), payloads_(MakePayloads(batch_size)), rng_(std::random_device{}()) {}

  Status Append(std::string_view stream) override {
    auto next = next_revision_.find(stream);
    if (next == next_revision_.end()) next = next_revision_.emplace(std::string(stream), 0).first;
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_.env, nullptr, 0, &txn); rc != 0) return LmdbFailure(rc, "begin write");
    Status written = Write(txn, stream, next->second);
    if (!written) {
      mdb_txn_abort(txn);
      return written;
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return LmdbFailure(rc, "commit");
    next->second += payloads_.size();
    return {};
  }

 private:
  Status Write(MDB_txn* txn, std::string_view stream, std::uint64_t first_revision) {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn, env_.events, &cursor); rc != 0) return LmdbFailure(rc, "cursor");
    MDB_val key, value;
    int rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
    std::uint64_t position = 1;
    if (rc == 0) {
      position = FromBigEndian(key.mv_data) + 1;
    } else if (rc != MDB_NOTFOUND) {
      mdb_cursor_close(cursor);
      return LmdbFailure(rc, "last position");
    }
    const std::int64_t recorded_at = NowMicros();
    index_key_.assign(stream);
    index_key_.resize(stream.size() + 8);
    for (std::size_t i = 0; i < payloads_.size(); ++i, ++position) {
      const Payload& payload = payloads_[i];
      const std::uint64_t revision = first_revision + i;
      const std::array<std::uint64_t, 2> event_id{rng_(), rng_()};
      const std::array<std::uint32_t, 4> lengths{
          static_cast<std::uint32_t>(stream.size()), static_cast<std::uint32_t>(payload.type.size()),
          static_cast<std::uint32_t>(payload.data.size()), static_cast<std::uint32_t>(payload.metadata.size())};
      record_.resize(kHeaderBytes);
      std::memcpy(record_.data(), &revision, 8);
      std::memcpy(record_.data() + 8, &recorded_at, 8);
      std::memcpy(record_.data() + 16, event_id.data(), 16);
      std::memcpy(record_.data() + 32, lengths.data(), 16);
      record_.append(stream).append(payload.type).append(payload.data).append(payload.metadata);

      const std::array<char, 8> position_key = BigEndian(position);
      MDB_val event_key = Val(position_key.data(), 8);
      MDB_val event_value = Val(record_.data(), record_.size());
      if ((rc = mdb_cursor_put(cursor, &event_key, &event_value, MDB_APPEND)) != 0) break;

      const std::array<char, 8> revision_bytes = BigEndian(revision);
      std::memcpy(index_key_.data() + stream.size(), revision_bytes.data(), 8);
      MDB_val stream_key = Val(index_key_.data(), index_key_.size());
      MDB_val stream_value = Val(position_key.data(), 8);
      if ((rc = mdb_put(txn, env_.streams, &stream_key, &stream_value, 0)) != 0) break;
    }
    mdb_cursor_close(cursor);
    if (rc != 0) return LmdbFailure(rc, "put");
    return {};
  }

  Env& env_;
  std::vector<Payload> payloads_;
  std::map<std::string, std::uint64_t, std::less<>> next_revision_;
  std::mt19937_64 rng_;
  std::string record_;
  std::string index_key_;
};

class RawLmdbReader final : public Reader {
 public:
  RawLmdbReader(Env& env, MDB_txn* txn) : env_(env), txn_(txn) {}
  ~RawLmdbReader() override { mdb_txn_abort(txn_); }
  RawLmdbReader(const RawLmdbReader&) = delete;
  RawLmdbReader& operator=(const RawLmdbReader&) = delete;

  Result<ReadTally> ReadStream(std::string_view stream) override {
    if (int rc = mdb_txn_renew(txn_); rc != 0) return LmdbFailure(rc, "renew read");
    Result<ReadTally> tally = GatherStream(stream);
    mdb_txn_reset(txn_);
    return tally;
  }

  Result<ReadTally> ScanLog() override {
    if (int rc = mdb_txn_renew(txn_); rc != 0) return LmdbFailure(rc, "renew read");
    Result<ReadTally> tally = Scan();
    mdb_txn_reset(txn_);
    return tally;
  }

 private:
  Result<ReadTally> GatherStream(std::string_view stream) {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn_, env_.streams, &cursor); rc != 0) return LmdbFailure(rc, "cursor");
    std::string start(stream);
    start.append(8, '\0');
    MDB_val key = Val(start.data(), start.size());
    MDB_val value;
    ReadTally tally;
    std::uint64_t checksum = 0;
    Status status;
    int rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == stream.size() + 8 &&
           std::memcmp(key.mv_data, stream.data(), stream.size()) == 0) {
      MDB_val event_key = value;  // the position, big-endian: the events key as stored
      MDB_val event;
      if ((rc = mdb_get(txn_, env_.events, &event_key, &event)) != 0) break;
      if (!(status = TallyRecord(event, tally, checksum))) break;
      rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (!status) return std::unexpected(std::move(status.error()));
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbFailure(rc, "read stream");
    asm volatile("" : : "r"(checksum));
    return tally;
  }

  Result<ReadTally> Scan() {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn_, env_.events, &cursor); rc != 0) return LmdbFailure(rc, "cursor");
    MDB_val key, value;
    ReadTally tally;
    std::uint64_t checksum = 0;
    Status status;
    int rc;
    for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      checksum += FromBigEndian(key.mv_data);
      if (!(status = TallyRecord(value, tally, checksum))) break;
    }
    mdb_cursor_close(cursor);
    if (!status) return std::unexpected(std::move(status.error()));
    if (rc != MDB_NOTFOUND) return LmdbFailure(rc, "scan");
    asm volatile("" : : "r"(checksum));
    return tally;
  }

  Env& env_;
  MDB_txn* txn_;  // reset between reads
};

class RawLmdbSubject final : public Subject {
 public:
  explicit RawLmdbSubject(std::unique_ptr<Env> env) : env_(std::move(env)) {}

  std::string_view name() const override { return "raw-lmdb"; }

  Result<std::unique_ptr<Appender>> NewAppender(std::size_t batch_size) override {
    return std::make_unique<RawLmdbAppender>(*env_, batch_size);
  }

  Result<std::unique_ptr<Reader>> NewReader() override {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn); rc != 0) return LmdbFailure(rc, "begin read");
    mdb_txn_reset(txn);
    return std::make_unique<RawLmdbReader>(*env_, txn);
  }

  Result<std::uint64_t> CountEvents() override {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn); rc != 0) return LmdbFailure(rc, "begin read");
    MDB_stat stat;
    const int rc = mdb_stat(txn, env_->events, &stat);
    mdb_txn_abort(txn);
    if (rc != 0) return LmdbFailure(rc, "stat");
    return static_cast<std::uint64_t>(stat.ms_entries);
  }

 private:
  std::unique_ptr<Env> env_;
};

}  // namespace

Result<std::unique_ptr<Subject>> OpenRawLmdbSubject(const std::string& path, Durability durability) {
  auto env = std::make_unique<Env>();
  if (int rc = mdb_env_create(&env->env); rc != 0) return LmdbFailure(rc, "env create");
  if (int rc = mdb_env_set_maxdbs(env->env, 2); rc != 0) return LmdbFailure(rc, "maxdbs");
  if (int rc = mdb_env_set_mapsize(env->env, kMapBytes); rc != 0) return LmdbFailure(rc, "mapsize");
  const unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | (durability == Durability::kRelaxed ? MDB_NOMETASYNC : 0u);
  if (int rc = mdb_env_open(env->env, path.c_str(), flags, 0644); rc != 0) {
    return LmdbFailure(rc, fmt::format("open {}", path));
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env->env, nullptr, 0, &txn); rc != 0) return LmdbFailure(rc, "begin");
  int rc = mdb_dbi_open(txn, "events", MDB_CREATE, &env->events);
  if (rc == 0) rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &env->streams);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return LmdbFailure(rc, "open sub-databases");
  }
  if ((rc = mdb_txn_commit(txn)) != 0) return LmdbFailure(rc, "commit sub-databases");
  return std::make_unique<RawLmdbSubject>(std::move(env));
}

}  // namespace cairn::bench
