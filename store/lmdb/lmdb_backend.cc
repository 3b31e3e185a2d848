// The LMDB backend: one data file (MDB_NOSUBDIR) plus LMDB's PATH-lock file.
// Events are Cap'n Proto records keyed by position; reads hand out views into
// the memory map. Layout and numbers: docs/lmdb-layout.md.
//
// Format 1 — do not change existing sub-databases, keys or record fields; a new
// format gets a new version number (cairn_meta's format_version) and a migration.
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include "backend.h"
#include "lmdb/lmdb_env.h"
#include "lmdb/lmdb_records.h"

namespace cairn::detail {
namespace {

using lmdb::AlignedScratch;
using lmdb::Cursor;
using lmdb::Environment;
using lmdb::LmdbError;
using lmdb::PositionKey;
using lmdb::StreamRevisionKey;
using lmdb::Txn;
using lmdb::ValOf;
using lmdb::ViewOf;

// MAP_RESIZED needs the map adopted and the transaction started again; a few
// rounds cover other processes growing it meanwhile.
constexpr int kBeginAttempts = 8;

bool TypeMatches(const std::vector<std::string>& types, std::string_view type) {
  return types.empty() || std::find(types.begin(), types.end(), type) != types.end();
}

// Walks the `snapshots` keys of `stream` (of every stream when empty) in the
// order of Reader::ReadSnapshots: stream-name order, each stream's newest
// (highest revision) first. Keys sort by (name, revision), so each stream is
// walked backwards from its end (SnapshotStreamEnd), and the walk then jumps
// to the next stream's first key. visit(stream, revision, value) returns
// whether to go on (or an error). Every view is valid until the transaction ends.
// A `snapshots` dropped since its handle was opened reads as empty (MDB_NOTFOUND).
template <class Visit>
Status WalkSnapshots(MDB_txn* txn, MDB_dbi dbi, std::string_view stream, Visit&& visit) {
  auto cursor = Cursor::Open(txn, dbi);
  if (!cursor) return Fail(cursor.error());
  const bool every_stream = stream.empty();
  auto parse = [](const MDB_val& key, std::string_view& name, std::uint64_t& revision) -> Status {
    if (!lmdb::ParseSnapshotRecordKey(ViewOf(key), name, revision)) {
      return Fail(ErrorCode::kCorruption, "a key of the snapshots sub-database is malformed");
    }
    return {};
  };
  std::string current(stream);
  MDB_val k{}, v{};
  int rc = MDB_SUCCESS;
  if (every_stream) {
    rc = cursor->Get(&k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND) return {};
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "reading snapshots"));
    std::string_view name;
    std::uint64_t revision = 0;
    if (auto ok = parse(k, name, revision); !ok) return ok;
    current.assign(name);
  }
  while (true) {
    // The newest key of `current`: the one before the first key past its end.
    const std::string end = lmdb::SnapshotStreamEnd(current);
    k = ValOf(end);
    rc = cursor->Get(&k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
      rc = cursor->Get(&k, &v, MDB_LAST);
    } else if (rc == MDB_SUCCESS) {
      rc = cursor->Get(&k, &v, MDB_PREV);
    }
    for (; rc == MDB_SUCCESS; rc = cursor->Get(&k, &v, MDB_PREV)) {
      std::string_view name;
      std::uint64_t revision = 0;
      if (auto ok = parse(k, name, revision); !ok) return ok;
      if (name != current) break;  // the stream before it
      Result<bool> go = visit(name, revision, v);
      if (!go) return Fail(go.error());
      if (!*go) return {};
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Fail(LmdbError(rc, "reading snapshots"));
    if (!every_stream) return {};
    // The next stream: the first key past this one's end.
    k = ValOf(end);
    rc = cursor->Get(&k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) return {};
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "reading snapshots"));
    std::string_view name;
    std::uint64_t revision = 0;
    if (auto ok = parse(k, name, revision); !ok) return ok;
    current.assign(name);
  }
}

// Walks the `schemas` of `event_type` (of every type when empty) in the order
// of Reader::ReadSchemas: type order, each type's newest registration first
// (and only that one unless `history`). Keys sort by (type, registration), so a
// type's keys are gathered and then visited backwards; a type has few.
// visit(view) returns whether to go on. Every view is valid until the
// transaction ends or `scratch` is reused.
template <class Visit>
Status WalkSchemas(MDB_txn* txn, MDB_dbi dbi, std::string_view event_type, bool history, AlignedScratch& scratch,
                   Visit&& visit) {
  auto cursor = Cursor::Open(txn, dbi);
  if (!cursor) return Fail(cursor.error());
  struct Entry {
    std::string_view type;
    std::uint64_t registration;
    MDB_val value;
  };
  std::vector<Entry> entries;  // of one type, oldest first
  // Visits the gathered type's registrations; false when the visitor stopped.
  auto flush = [&]() -> Result<bool> {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      SchemaView schema{.event_type = it->type, .registration = it->registration, .current = it == entries.rbegin()};
      if (auto ok = lmdb::ReadSchemaRecord(it->value, scratch, schema.registered_at_us, schema.schema); !ok) {
        return Fail(ok.error());
      }
      if (!visit(schema)) return false;
      if (!history) break;
    }
    entries.clear();
    return true;
  };
  std::string start;
  MDB_val k{}, v{};
  int rc;
  if (event_type.empty()) {
    rc = cursor->Get(&k, &v, MDB_FIRST);
  } else {
    start = lmdb::SnapshotRecordKey(event_type, 0);
    k = ValOf(start);
    rc = cursor->Get(&k, &v, MDB_SET_RANGE);
  }
  for (; rc == MDB_SUCCESS; rc = cursor->Get(&k, &v, MDB_NEXT)) {
    std::string_view type;
    std::uint64_t registration = 0;
    if (!lmdb::ParseSnapshotRecordKey(ViewOf(k), type, registration)) {
      return Fail(ErrorCode::kCorruption, "a key of the schemas sub-database is malformed");
    }
    if (!event_type.empty() && type != event_type) break;
    if (!entries.empty() && entries.back().type != type) {
      auto go = flush();
      if (!go) return Fail(go.error());
      if (!*go) return {};
    }
    entries.push_back({.type = type, .registration = registration, .value = v});
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Fail(LmdbError(rc, "reading schemas"));
  auto go = flush();
  if (!go) return Fail(go.error());
  return {};
}

// The schema generation in cairn_meta (0 when absent).
Result<std::uint64_t> ReadSchemaGeneration(MDB_txn* txn, MDB_dbi meta) {
  MDB_val k = ValOf(lmdb::kSchemaGenerationKey), v{};
  int rc = mdb_get(txn, meta, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "reading the schema generation"));
  std::uint64_t generation = 0;
  std::string_view text = ViewOf(v);
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), generation);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Fail(ErrorCode::kCorruption, "cairn_meta's schema_generation is not a number");
  }
  return generation;
}

// Lookups shared by read and write transactions. Every view returned points
// into the memory map (or `scratch`) and is valid until the transaction ends
// or `scratch` is reused.
class Lookups {
 public:
  Lookups(const lmdb::Databases& dbs, AlignedScratch& scratch) : dbs_(dbs), scratch_(scratch) {}

  Result<std::optional<EventView>> GetEvent(MDB_txn* txn, std::uint64_t position) {
    PositionKey key(position);
    MDB_val k = key.val(), v{};
    int rc = mdb_get(txn, dbs_.events, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<EventView>();
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "reading the event at position " + std::to_string(position)));
    std::optional<EventView> event(std::in_place);
    if (auto ok = lmdb::ReadEventRecord(v, scratch_, *event); !ok) return Fail(ok.error());
    return event;
  }

  Result<std::optional<lmdb::StreamRecord>> GetStream(MDB_txn* txn, std::string_view stream) {
    MDB_val k = ValOf(stream), v{};
    int rc = mdb_get(txn, dbs_.streams, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<lmdb::StreamRecord>();
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "reading stream \"" + std::string(stream) + "\""));
    auto record = lmdb::ReadStreamRecord(v);
    if (!record) return Fail(record.error());
    return std::optional<lmdb::StreamRecord>(*record);
  }

  Result<ChainHead> GetHead(MDB_txn* txn) {
    auto cursor = Cursor::Open(txn, dbs_.events);
    if (!cursor) return Fail(cursor.error());
    MDB_val k{}, v{};
    int rc = cursor->Get(&k, &v, MDB_LAST);
    if (rc == MDB_NOTFOUND) return ChainHead{};
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "reading the log's head"));
    EventView event;
    if (auto ok = lmdb::ReadEventRecord(v, scratch_, event); !ok) return Fail(ok.error());
    return ChainHead{.position = event.position, .hash = event.hash, .recorded_at_us = event.recorded_at_us};
  }

 private:
  const lmdb::Databases& dbs_;
  AlignedScratch& scratch_;
};

class LmdbReader final : public Reader {
 public:
  LmdbReader(std::shared_ptr<Environment> env, std::chrono::milliseconds busy_timeout)
      : env_(std::move(env)), busy_timeout_(busy_timeout), lookups_(env_->dbs(), scratch_) {}
  ~LmdbReader() override { txn_.Abort(); }  // before env_ may close the environment

  Result<std::uint64_t> ReadStream(std::string_view stream, const ReadStreamOptions& options,
                                   const EventVisitor& visit) override {
    auto scope = Begin();
    if (!scope) return Fail(scope.error());
    auto record = lookups_.GetStream(txn_.get(), stream);
    if (!record) return Fail(record.error());
    if (!*record || options.max_count == 0) return 0;
    const std::uint64_t id = (*record)->first_position;
    const bool forward = options.direction == Direction::kForward;
    auto cursor = Cursor::Open(txn_.get(), env_->dbs().stream_index);
    if (!cursor) return Fail(cursor.error());

    StreamRevisionKey start(id, options.from_revision.value_or(forward ? 0 : UINT64_MAX));
    MDB_val k = start.val(), v{};
    int rc = cursor->Get(&k, &v, MDB_SET_RANGE);
    if (!forward) {
      // SET_RANGE found the first key at or after the start: step back unless it is the start itself.
      if (rc == MDB_NOTFOUND) {
        rc = cursor->Get(&k, &v, MDB_LAST);
      } else if (rc == MDB_SUCCESS &&
                 (k.mv_size != sizeof start.bytes || std::memcmp(k.mv_data, start.bytes, sizeof start.bytes) != 0)) {
        rc = cursor->Get(&k, &v, MDB_PREV);
      }
    }
    // The events are gathered through a cursor rather than mdb_get: when the
    // next one is on the leaf page the cursor is already on (a stream appended in
    // batches), LMDB finds it there without descending from the root.
    auto events = Cursor::Open(txn_.get(), env_->dbs().events);
    if (!events) return Fail(events.error());
    EventView event;
    std::uint64_t visited = 0;
    for (; rc == MDB_SUCCESS; rc = cursor->Get(&k, &v, forward ? MDB_NEXT : MDB_PREV)) {
      if (k.mv_size != sizeof start.bytes || lmdb::LoadBigEndian64(k.mv_data) != id) break;  // another stream
      if (v.mv_size != 8) return Fail(ErrorCode::kCorruption, "a stream_index entry is malformed");
      MDB_val event_key{.mv_size = 8, .mv_data = v.mv_data}, event_value{};
      if (int found = events->Get(&event_key, &event_value, MDB_SET_KEY); found != MDB_SUCCESS) {
        if (found != MDB_NOTFOUND) return Fail(LmdbError(found, "reading stream \"" + std::string(stream) + "\""));
        return Fail(ErrorCode::kCorruption, "stream \"" + std::string(stream) + "\" lists position " +
                                                std::to_string(lmdb::LoadBigEndian64(v.mv_data)) +
                                                ", which is missing from the log");
      }
      if (auto ok = lmdb::ReadEventRecord(event_value, scratch_, event); !ok) return Fail(ok.error());
      if (!TypeMatches(options.types, event.type)) continue;
      ++visited;
      if (!visit(event) || visited >= options.max_count) return visited;
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
      return Fail(LmdbError(rc, "reading stream \"" + std::string(stream) + "\""));
    return visited;
  }

  Result<LogScan> ReadLog(const ReadLogOptions& options, const EventVisitor& visit) override {
    auto scope = Begin();
    if (!scope) return Fail(scope.error());
    if (options.max_count == 0) return LogScan{};
    auto head = lookups_.GetHead(txn_.get());
    if (!head) return Fail(head.error());
    LogScan scan;
    std::uint64_t last_examined = 0;
    // Visits one event; false when the scan stops early (visitor or max_count).
    auto offer = [&](const EventView& event) {
      last_examined = event.position;
      if (!options.filter.types.empty() && !TypeMatches(options.filter.types, event.type)) return true;
      ++scan.visited;
      return visit(event) && scan.visited < options.max_count;
    };
    bool stopped = false;
    int rc = MDB_SUCCESS;
    if (options.filter.category.empty()) {
      auto cursor = Cursor::Open(txn_.get(), env_->dbs().events);
      if (!cursor) return Fail(cursor.error());
      PositionKey start(options.from_position);
      MDB_val k = start.val(), v{};
      EventView event;
      for (rc = cursor->Get(&k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS; rc = cursor->Get(&k, &v, MDB_NEXT)) {
        if (k.mv_size == 8 && lmdb::LoadBigEndian64(k.mv_data) > options.to_position) break;
        if (auto ok = lmdb::ReadEventRecord(v, scratch_, event); !ok) return Fail(ok.error());
        if (!offer(event)) {
          stopped = true;
          break;
        }
      }
    } else {
      // The category index names the positions; each event is then one lookup.
      auto cursor = Cursor::Open(txn_.get(), env_->dbs().category_index);
      if (!cursor) return Fail(cursor.error());
      const std::string prefix = lmdb::CategoryPrefix(options.filter.category);
      const std::string start = lmdb::CategoryKey(options.filter.category, options.from_position);
      MDB_val k = ValOf(start), v{};
      for (rc = cursor->Get(&k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS; rc = cursor->Get(&k, &v, MDB_NEXT)) {
        std::string_view key = ViewOf(k);
        if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) break;  // another category
        const std::uint64_t position = lmdb::LoadBigEndian64(key.data() + prefix.size());
        if (position > options.to_position) break;
        auto event = lookups_.GetEvent(txn_.get(), position);
        if (!event) return Fail(event.error());
        if (!*event) {
          return Fail(ErrorCode::kCorruption, "category \"" + options.filter.category + "\" lists position " +
                                                  std::to_string(position) + ", which is missing from the log");
        }
        if (!offer(**event)) {
          stopped = true;
          break;
        }
      }
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Fail(LmdbError(rc, "reading the log"));
    // Stopped early: examined through the last event offered. Otherwise: all of this snapshot.
    scan.scanned_through = stopped ? last_examined : std::min(head->position, options.to_position);
    return scan;
  }

  Result<std::optional<StreamState>> GetStream(std::string_view stream) override {
    auto scope = Begin();
    if (!scope) return Fail(scope.error());
    auto record = lookups_.GetStream(txn_.get(), stream);
    if (!record) return Fail(record.error());
    if (!*record) return std::optional<StreamState>();
    return std::optional<StreamState>((*record)->state);
  }

  Result<ChainHead> GetHead() override {
    auto scope = Begin();
    if (!scope) return Fail(scope.error());
    return lookups_.GetHead(txn_.get());
  }

  Status ForEachStream(const std::function<bool(std::string_view, const StreamState&)>& visit) override {
    auto scope = Begin();
    if (!scope) return Fail(scope.error());
    auto cursor = Cursor::Open(txn_.get(), env_->dbs().streams);
    if (!cursor) return Fail(cursor.error());
    MDB_val k{}, v{};
    int rc = MDB_SUCCESS;
    for (rc = cursor->Get(&k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = cursor->Get(&k, &v, MDB_NEXT)) {
      auto record = lmdb::ReadStreamRecord(v);
      if (!record) return Fail(record.error());
      if (!visit(ViewOf(k), record->state)) return {};
    }
    if (rc != MDB_NOTFOUND) return Fail(LmdbError(rc, "reading streams"));
    return {};
  }

  Result<std::uint64_t> ReadSnapshots(std::string_view stream, const SnapshotVisitor& visit) override {
    auto dbi = env_->snapshots_dbi();
    if (!dbi) {
      // A store created before `snapshots` existed; another process may have created it since.
      auto found = env_->FindSnapshotsDbi(busy_timeout_);
      if (!found) return Fail(found.error());
      if (!*found) return 0;
      dbi = *found;
    }
    auto scope = Begin();  // after the handle is the environment's, so this transaction can use it
    if (!scope) return Fail(scope.error());
    std::uint64_t visited = 0;
    SnapshotView snapshot;
    auto walked =
        WalkSnapshots(txn_.get(), *dbi, stream,
                      [&](std::string_view name, std::uint64_t revision, const MDB_val& value) -> Result<bool> {
                        snapshot.stream = name;
                        snapshot.revision = revision;
                        lmdb::ReadSnapshotRecord(value, scratch_, snapshot);
                        ++visited;
                        return visit(snapshot);
                      });
    if (!walked) return Fail(walked.error());
    return visited;
  }

  Result<SchemaScan> ReadSchemas(std::string_view event_type, bool history, const SchemaVisitor& visit) override {
    auto dbi = env_->schemas_dbi();
    if (!dbi) {
      // A store created before `schemas` existed; another process may have created it since.
      auto found = env_->FindSchemasDbi(busy_timeout_);
      if (!found) return Fail(found.error());
      if (!*found) return SchemaScan{};  // never had a schema: generation 0
      dbi = *found;
    }
    auto scope = Begin();  // after the handle is the environment's, so this transaction can use it
    if (!scope) return Fail(scope.error());
    SchemaScan scan;
    auto generation = ReadSchemaGeneration(txn_.get(), env_->dbs().meta);
    if (!generation) return Fail(generation.error());
    scan.generation = *generation;
    auto walked = WalkSchemas(txn_.get(), *dbi, event_type, history, scratch_, [&](const SchemaView& schema) {
      ++scan.visited;
      return visit(schema);
    });
    if (!walked) return Fail(walked.error());
    return scan;
  }

  Result<std::uint64_t> PositionAtOrAfter(std::int64_t recorded_at_us) override {
    auto scope = Begin();
    if (!scope) return Fail(scope.error());
    auto head = lookups_.GetHead(txn_.get());
    if (!head) return Fail(head.error());
    if (head->position == 0 || head->recorded_at_us < recorded_at_us) return head->position + 1;
    // recorded_at never decreases along positions (1..head, no gaps): the answer is
    // in [low, high], and high's recorded_at is at or after the time.
    std::uint64_t low = 1, high = head->position;
    while (low < high) {
      const std::uint64_t middle = low + (high - low) / 2;
      auto event = lookups_.GetEvent(txn_.get(), middle);
      if (!event) return Fail(event.error());
      if (!*event) return Fail(ErrorCode::kCorruption, "position " + std::to_string(middle) + " is missing from the log");
      if ((*event)->recorded_at_us >= recorded_at_us) {
        high = middle;
      } else {
        low = middle + 1;
      }
    }
    return low;
  }

  // The id of the newest committed transaction, from the meta page that every
  // process's commit rewrites (mdb_env_info): a commit anywhere changes it.
  Result<std::vector<std::pair<std::string, std::string>>> ReadMeta(std::string_view prefix) override {
    auto scope = Begin();
    if (!scope) return Fail(scope.error());
    auto cursor = Cursor::Open(txn_.get(), env_->dbs().meta);
    if (!cursor) return Fail(cursor.error());
    std::vector<std::pair<std::string, std::string>> rows;
    MDB_val k = ValOf(prefix), v{};
    int rc = MDB_SUCCESS;
    for (rc = cursor->Get(&k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS; rc = cursor->Get(&k, &v, MDB_NEXT)) {
      if (!ViewOf(k).starts_with(prefix)) break;
      rows.emplace_back(ViewOf(k), ViewOf(v));
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Fail(LmdbError(rc, "reading cairn_meta"));
    return rows;
  }

  Result<std::uint64_t> ChangeCounter() override {
    std::shared_lock gate(env_->gate());
    MDB_envinfo info{};
    int rc = mdb_env_info(env_->env(), &info);
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "checking for new commits"));
    return static_cast<std::uint64_t>(info.me_last_txnid);
  }

 private:
  // A read in progress: the gate held shared and the transaction live. Ending it
  // resets the transaction (it keeps its reader slot but pins no pages) and then
  // releases the gate — also when a visitor throws.
  class ReadScope {
   public:
    ReadScope(std::shared_lock<std::shared_timed_mutex> gate, Txn* txn) : gate_(std::move(gate)), txn_(txn) {}
    ReadScope(ReadScope&& other) noexcept : gate_(std::move(other.gate_)), txn_(std::exchange(other.txn_, nullptr)) {}
    ReadScope& operator=(ReadScope&&) = delete;
    ~ReadScope() {
      if (txn_ != nullptr && *txn_) mdb_txn_reset(txn_->get());
    }

   private:
    std::shared_lock<std::shared_timed_mutex> gate_;
    Txn* txn_;
  };

  Result<ReadScope> Begin() {
    bool checked_readers = false;
    for (int attempt = 0; attempt < kBeginAttempts; ++attempt) {
      std::shared_lock gate(env_->gate());
      int rc;
      if (txn_) {
        rc = mdb_txn_renew(txn_.get());
        if (rc != MDB_SUCCESS) txn_.Abort();  // a failed renew leaves it finished: start afresh
      } else {
        MDB_txn* raw = nullptr;
        rc = mdb_txn_begin(env_->env(), nullptr, MDB_RDONLY, &raw);
        if (rc == MDB_SUCCESS) txn_ = Txn(raw);
      }
      if (rc == MDB_SUCCESS) return ReadScope(std::move(gate), &txn_);
      gate.unlock();
      if (rc == MDB_MAP_RESIZED) {
        if (auto ok = env_->AdoptMapSize(busy_timeout_); !ok) return Fail(ok.error());
      } else if (rc == MDB_READERS_FULL && !checked_readers) {
        env_->ClearStaleReaders();  // slots of dead processes may be what fills the table
        checked_readers = true;
      } else {
        return Fail(LmdbError(rc, "starting a read of " + env_->path()));
      }
    }
    return Fail(ErrorCode::kBusy, "the memory map of " + env_->path() + " kept moving; retry");
  }

  std::shared_ptr<Environment> env_;
  std::chrono::milliseconds busy_timeout_;
  Txn txn_;  // reset between reads
  AlignedScratch scratch_;
  Lookups lookups_;
};

class LmdbWriteTransaction final : public WriteTransaction {
 public:
  // `snapshots` is the handle of the snapshots sub-database when it was known
  // before `txn` began; otherwise `dbi_lock` holds the environment's
  // dbi_mutex(), so that this transaction may open (or create) it.
  LmdbWriteTransaction(std::shared_ptr<Environment> env, std::unique_lock<std::mutex> writer_lock,
                       std::unique_lock<std::mutex> dbi_lock, std::shared_lock<std::shared_timed_mutex> gate, Txn txn,
                       std::optional<MDB_dbi> snapshots, std::optional<MDB_dbi> schemas)
      : env_(std::move(env)),
        writer_lock_(std::move(writer_lock)),
        dbi_lock_(std::move(dbi_lock)),
        gate_(std::move(gate)),
        txn_(std::move(txn)),
        lookups_(env_->dbs(), scratch_),
        snapshots_(snapshots),
        schemas_(schemas) {}
  ~LmdbWriteTransaction() override {
    // Unless committed (aborting closes a handle it opened); then the dbi mutex,
    // the gate, the flock and the writer mutex, in that order.
    txn_.Abort();
    if (dbi_lock_.owns_lock()) dbi_lock_.unlock();
    gate_.unlock();
    env_->UnlockWriting();
  }

  Result<ChainHead> GetHead() override { return lookups_.GetHead(txn_.get()); }

  Result<std::optional<StreamState>> GetStream(std::string_view stream) override {
    auto record = lookups_.GetStream(txn_.get(), stream);
    if (!record) return Fail(record.error());
    if (!*record) return std::optional<StreamState>();
    stream_ids_.insert_or_assign(std::string(stream), (*record)->first_position);
    return std::optional<StreamState>((*record)->state);
  }

  Result<std::optional<EventLocation>> FindEventId(const EventId& id) override {
    MDB_val k = ValOf(id.AsBytes()), v{};
    int rc = mdb_get(txn_.get(), env_->dbs().event_ids, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<EventLocation>();
    if (rc != MDB_SUCCESS) return Fail(Check(rc, "looking up an event id"));
    if (v.mv_size != 8) return Fail(ErrorCode::kCorruption, "an event_ids entry is malformed");
    const std::uint64_t position = lmdb::LoadBigEndian64(v.mv_data);
    auto event = lookups_.GetEvent(txn_.get(), position);
    if (!event) return Fail(event.error());
    if (!*event) {
      return Fail(ErrorCode::kCorruption, "event id " + id.ToString() + " is indexed at position " +
                                              std::to_string(position) + ", which is missing from the log");
    }
    return EventLocation{
        .stream = std::string((*event)->stream), .revision = (*event)->revision, .position = (*event)->position};
  }

  Status InsertEvent(const EventView& event) override {
    MDB_txn* txn = txn_.get();
    const auto& dbs = env_->dbs();
    // The record is built where LMDB will keep it (MDB_RESERVE); positions only
    // grow, so MDB_APPEND fills pages completely and skips the search.
    PositionKey position(event.position);
    MDB_val k = position.val();
    MDB_val v{.mv_size = lmdb::EventRecordSize(event), .mv_data = nullptr};
    int rc = mdb_put(txn, dbs.events, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
      return Fail(ErrorCode::kCorruption,
                  "position " + std::to_string(event.position) + " is not after the log's last position");
    }
    if (rc != MDB_SUCCESS) return Fail(Check(rc, "writing an event"));
    if (auto ok = lmdb::WriteEventRecord(event, v.mv_data, scratch_); !ok) return ok;

    auto stream_id = StreamId(event);
    if (!stream_id) return Fail(stream_id.error());
    StreamRevisionKey revision(*stream_id, event.revision);
    k = revision.val();
    v = position.val();
    if (rc = mdb_put(txn, dbs.stream_index, &k, &v, MDB_NOOVERWRITE); rc != MDB_SUCCESS) {
      return Fail(Check(rc, "indexing an event by stream"));
    }
    k = ValOf(event.id.AsBytes());
    v = position.val();
    if (rc = mdb_put(txn, dbs.event_ids, &k, &v, MDB_NOOVERWRITE); rc != MDB_SUCCESS) {
      return Fail(Check(rc, "indexing an event id"));
    }
    const std::string category = lmdb::CategoryKey(CategoryOf(event.stream), event.position);
    k = ValOf(category);
    v = MDB_val{.mv_size = 0, .mv_data = nullptr};
    if (rc = mdb_put(txn, dbs.category_index, &k, &v, 0); rc != MDB_SUCCESS) {
      return Fail(Check(rc, "indexing an event by category"));
    }
    return {};
  }

  Status PutStream(std::string_view stream, const StreamState& state) override {
    auto it = stream_ids_.find(std::string(stream));
    // Known from GetStream or InsertEvent; otherwise the stream's events are
    // this append's, at contiguous positions ending at its head.
    const std::uint64_t first_position =
        it != stream_ids_.end() ? it->second : state.head_position - state.head_revision;
    const std::string record = lmdb::EncodeStreamRecord({.first_position = first_position, .state = state});
    MDB_val k = ValOf(stream), v = ValOf(record);
    if (int rc = mdb_put(txn_.get(), env_->dbs().streams, &k, &v, 0); rc != MDB_SUCCESS) {
      return Fail(Check(rc, "writing a stream"));
    }
    return {};
  }

  Status PutSnapshot(const SnapshotView& snapshot) override {
    if (snapshot.state.size() > lmdb::kMaxSnapshotStateBytes) {
      return Fail(ErrorCode::kInvalidArgument, "a snapshot state of " + std::to_string(snapshot.state.size()) +
                                                   " bytes is over the LMDB backend's limit of " +
                                                   std::to_string(lmdb::kMaxSnapshotStateBytes));
    }
    const std::string key = lmdb::SnapshotRecordKey(snapshot.stream, snapshot.revision);
    // Names are at most 255 bytes, so keys at most 264: inside LMDB's limit (511 by default).
    if (const int max_key = mdb_env_get_maxkeysize(env_->env()); key.size() > static_cast<std::size_t>(max_key)) {
      return Fail(ErrorCode::kInvalidArgument, "the stream name of a snapshot is too long for an LMDB key (" +
                                                   std::to_string(key.size()) + " bytes, at most " +
                                                   std::to_string(max_key) + ")");
    }
    auto dbi = SnapshotsDb(true);
    if (!dbi) return Fail(dbi.error());
    // Built where LMDB keeps it (MDB_RESERVE); replaces a snapshot of the same key.
    MDB_val k = ValOf(key);
    MDB_val v{.mv_size = lmdb::SnapshotRecordSize(snapshot), .mv_data = nullptr};
    if (int rc = mdb_put(txn_.get(), **dbi, &k, &v, MDB_RESERVE); rc != MDB_SUCCESS) {
      return Fail(Check(rc, "writing a snapshot"));
    }
    return lmdb::WriteSnapshotRecord(snapshot, v.mv_data, scratch_);
  }

  Result<std::vector<SnapshotKey>> ListSnapshots(std::string_view stream) override {
    std::vector<SnapshotKey> keys;
    auto dbi = SnapshotsDb(false);
    if (!dbi) return Fail(dbi.error());
    if (!*dbi) return keys;  // the store has no snapshots sub-database yet
    auto walked = WalkSnapshots(txn_.get(), **dbi, stream,
                                [&](std::string_view name, std::uint64_t revision, const MDB_val&) -> Result<bool> {
                                  keys.push_back({.stream = std::string(name), .revision = revision});
                                  return true;
                                });
    if (!walked) return Fail(walked.error());
    return keys;
  }

  Status DeleteSnapshot(std::string_view stream, std::uint64_t revision) override {
    auto dbi = SnapshotsDb(false);
    if (!dbi) return Fail(dbi.error());
    if (!*dbi) return {};
    const std::string key = lmdb::SnapshotRecordKey(stream, revision);
    MDB_val k = ValOf(key);
    if (int rc = mdb_del(txn_.get(), **dbi, &k, nullptr); rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
      return Fail(Check(rc, "deleting a snapshot"));
    }
    return {};
  }

  Result<std::uint64_t> GetSchemaGeneration() override {
    return ReadSchemaGeneration(txn_.get(), env_->dbs().meta);
  }

  Status SetSchemaGeneration(std::uint64_t generation) override {
    const std::string text = std::to_string(generation);
    MDB_val k = ValOf(lmdb::kSchemaGenerationKey), v = ValOf(text);
    if (int rc = mdb_put(txn_.get(), env_->dbs().meta, &k, &v, 0); rc != MDB_SUCCESS) {
      return Fail(Check(rc, "writing the schema generation"));
    }
    return {};
  }

  Result<std::uint64_t> ReadSchemas(std::string_view event_type, bool history, const SchemaVisitor& visit) override {
    auto dbi = SchemasDb(false);
    if (!dbi) return Fail(dbi.error());
    if (!*dbi) return 0;  // the store has no schemas sub-database yet
    std::uint64_t visited = 0;
    auto walked = WalkSchemas(txn_.get(), **dbi, event_type, history, scratch_, [&](const SchemaView& schema) {
      ++visited;
      return visit(schema);
    });
    if (!walked) return Fail(walked.error());
    return visited;
  }

  Status PutSchema(const SchemaView& schema) override {
    const std::string key = lmdb::SnapshotRecordKey(schema.event_type, schema.registration);
    auto dbi = SchemasDb(true);
    if (!dbi) return Fail(dbi.error());
    const std::string record = lmdb::EncodeSchemaRecord(schema.registered_at_us, schema.schema);
    MDB_val k = ValOf(key), v = ValOf(record);
    if (int rc = mdb_put(txn_.get(), **dbi, &k, &v, 0); rc != MDB_SUCCESS) return Fail(Check(rc, "writing a schema"));
    return {};
  }

  Result<std::uint64_t> DeleteSchemas(std::string_view event_type) override {
    auto dbi = SchemasDb(false);
    if (!dbi) return Fail(dbi.error());
    if (!*dbi) return 0;
    std::vector<std::string> keys;
    auto walked = WalkSchemas(txn_.get(), **dbi, event_type, true, scratch_, [&](const SchemaView& schema) {
      keys.push_back(lmdb::SnapshotRecordKey(schema.event_type, schema.registration));
      return true;
    });
    if (!walked) return Fail(walked.error());
    for (const std::string& key : keys) {
      MDB_val k = ValOf(key);
      if (int rc = mdb_del(txn_.get(), **dbi, &k, nullptr); rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        return Fail(Check(rc, "deleting a schema"));
      }
    }
    return keys.size();
  }

  Status PutMeta(std::string_view key, std::string_view value) override {
    MDB_val k = ValOf(key), v = ValOf(value);
    if (int rc = mdb_put(txn_.get(), env_->dbs().meta, &k, &v, 0); rc != MDB_SUCCESS) {
      return Fail(Check(rc, "writing cairn_meta"));
    }
    return {};
  }

  Status DeleteMeta(std::string_view key) override {
    MDB_val k = ValOf(key);
    int rc = mdb_del(txn_.get(), env_->dbs().meta, &k, nullptr);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Fail(Check(rc, "deleting from cairn_meta"));
    return {};
  }

  Status Commit() override {
    if (int rc = txn_.Commit(); rc != MDB_SUCCESS) return Fail(Check(rc, "committing"));
    // A handle this transaction opened is the environment's now.
    if (opened_snapshots_) env_->SetSnapshotsDbi(*snapshots_);
    if (opened_schemas_) env_->SetSchemasDbi(*schemas_);
    return {};
  }

  bool NeedsRetry() const override { return needs_retry_; }

 private:
  // The handle of `schemas` for this transaction, as SnapshotsDb.
  Result<std::optional<MDB_dbi>> SchemasDb(bool create) {
    if (schemas_) return schemas_;
    if (!dbi_lock_.owns_lock()) {  // cannot happen: BeginWrite takes it when the handle is unknown
      return Fail(ErrorCode::kIOError, "internal error: the schemas sub-database of " + env_->path() +
                                           " is opened without the dbi mutex");
    }
    MDB_dbi dbi = 0;
    int rc = mdb_dbi_open(txn_.get(), lmdb::kSchemasDb, create ? MDB_CREATE : 0, &dbi);
    if (rc == MDB_NOTFOUND && !create) return std::optional<MDB_dbi>();
    if (rc != MDB_SUCCESS) return Fail(Check(rc, std::string("opening the sub-database ") + lmdb::kSchemasDb));
    schemas_ = dbi;
    opened_schemas_ = true;
    return schemas_;
  }

  // The handle of `snapshots` for this transaction: known when it began, or
  // opened now — created when `create`, else nullopt when the store has none.
  Result<std::optional<MDB_dbi>> SnapshotsDb(bool create) {
    if (snapshots_) return snapshots_;
    if (!dbi_lock_.owns_lock()) {  // cannot happen: BeginWrite takes it when the handle is unknown
      return Fail(ErrorCode::kIOError, "internal error: the snapshots sub-database of " + env_->path() +
                                           " is opened without the dbi mutex");
    }
    MDB_dbi dbi = 0;
    int rc = mdb_dbi_open(txn_.get(), lmdb::kSnapshotsDb, create ? MDB_CREATE : 0, &dbi);
    if (rc == MDB_NOTFOUND && !create) return std::optional<MDB_dbi>();
    if (rc != MDB_SUCCESS) return Fail(Check(rc, std::string("opening the sub-database ") + lmdb::kSnapshotsDb));
    snapshots_ = dbi;
    opened_snapshots_ = true;
    return snapshots_;
  }

  // The error for `rc`; a full map also asks the environment to grow and the
  // store to run the group again (NeedsRetry).
  Error Check(int rc, std::string_view context) {
    if (rc == MDB_MAP_FULL) {
      needs_retry_ = true;
      env_->RequestGrowth();
    }
    return LmdbError(rc, std::string(context) + " in " + env_->path());
  }

  // The name of the event's stream in stream_index keys: the position of its
  // first event (revision 0).
  Result<std::uint64_t> StreamId(const EventView& event) {
    if (event.revision == 0) {
      stream_ids_.insert_or_assign(std::string(event.stream), event.position);
      return event.position;
    }
    if (auto it = stream_ids_.find(std::string(event.stream)); it != stream_ids_.end()) return it->second;
    auto record = lookups_.GetStream(txn_.get(), event.stream);
    if (!record) return Fail(record.error());
    if (!*record) {
      return Fail(ErrorCode::kCorruption, "stream \"" + std::string(event.stream) + "\" has revision " +
                                              std::to_string(event.revision) + " but no stream record");
    }
    stream_ids_.emplace(std::string(event.stream), (*record)->first_position);
    return (*record)->first_position;
  }

  std::shared_ptr<Environment> env_;
  std::unique_lock<std::mutex> writer_lock_;  // one write transaction per process at a time
  std::unique_lock<std::mutex> dbi_lock_;     // the dbi mutex, while the snapshots handle is unknown
  std::shared_lock<std::shared_timed_mutex> gate_;
  Txn txn_;
  AlignedScratch scratch_;
  Lookups lookups_;
  std::unordered_map<std::string, std::uint64_t> stream_ids_;  // stream name -> first position, this group
  std::optional<MDB_dbi> snapshots_;  // the snapshots handle, once known or opened
  bool opened_snapshots_ = false;     // by this transaction: the environment's once it commits
  std::optional<MDB_dbi> schemas_;    // the schemas handle, likewise
  bool opened_schemas_ = false;
  bool needs_retry_ = false;
};

class LmdbBackend final : public Backend {
 public:
  LmdbBackend(std::string path, const Options& options, std::shared_ptr<Environment> env)
      : path_(std::move(path)), options_(options), env_(std::move(env)) {}

  std::string_view name() const override { return "lmdb"; }

  Result<std::unique_ptr<WriteTransaction>> BeginWrite() override {
    if (options_.read_only || env_->read_only()) {
      return Fail(ErrorCode::kNotSupported, "the store " + path_ + " is open read-only");
    }
    std::unique_lock writer(env_->writer_mutex());
    if (auto ok = env_->LockForWriting(options_.busy_timeout); !ok) return Fail(ok.error());
    struct Unlock {  // until the transaction object owns the flock
      Environment* env;
      ~Unlock() {
        if (env != nullptr) env->UnlockWriting();
      }
    } unlock{env_.get()};
    // Cheap (one fcntl per other process): stale slots pin old pages and fill the table.
    env_->ClearStaleReaders();
    if (auto ok = env_->GrowIfNeeded(options_.busy_timeout); !ok) return Fail(ok.error());
    // Without the snapshots handle (a store older than `snapshots`, until its
    // first snapshot write), the transaction may have to open it: that takes
    // the dbi mutex, before the transaction begins so that a handle a reader
    // opened meanwhile is part of it.
    // The same for `schemas`.
    std::unique_lock<std::mutex> dbi_lock;
    auto snapshots = env_->snapshots_dbi();
    auto schemas = env_->schemas_dbi();
    if (!snapshots || !schemas) {
      dbi_lock = std::unique_lock(env_->dbi_mutex());
      snapshots = env_->snapshots_dbi();
      schemas = env_->schemas_dbi();
      if (snapshots && schemas) dbi_lock.unlock();
    }
    for (int attempt = 0; attempt < kBeginAttempts; ++attempt) {
      std::shared_lock gate(env_->gate());
      MDB_txn* raw = nullptr;
      int rc = mdb_txn_begin(env_->env(), nullptr, 0, &raw);
      if (rc == MDB_SUCCESS) {
        unlock.env = nullptr;
        return std::unique_ptr<WriteTransaction>(std::make_unique<LmdbWriteTransaction>(
            env_, std::move(writer), std::move(dbi_lock), std::move(gate), Txn(raw), snapshots, schemas));
      }
      gate.unlock();
      if (rc != MDB_MAP_RESIZED) return Fail(LmdbError(rc, "starting a write to " + path_));
      if (auto ok = env_->AdoptMapSize(options_.busy_timeout); !ok) return Fail(ok.error());
    }
    return Fail(ErrorCode::kBusy, "the memory map of " + path_ + " kept moving; retry");
  }

  Result<std::unique_ptr<Reader>> OpenReader() override {
    return std::unique_ptr<Reader>(std::make_unique<LmdbReader>(env_, options_.busy_timeout));
  }

  Result<StoreStats> Stats() override {
    LmdbReader reader(env_, options_.busy_timeout);
    StoreStats stats;
    stats.backend = "lmdb";
    stats.format_version = lmdb::kFormatVersion;
    auto head = reader.GetHead();
    if (!head) return Fail(head.error());
    stats.head_position = head->position;
    stats.last_recorded_at_us = head->recorded_at_us;
    std::uint64_t first_recorded_at = 0;
    auto first = reader.ReadLog({.max_count = 1}, [&](const EventView& event) {
      first_recorded_at = static_cast<std::uint64_t>(event.recorded_at_us);
      return false;
    });
    if (!first) return Fail(first.error());
    stats.first_recorded_at_us = static_cast<std::int64_t>(first_recorded_at);
    auto counted = reader.ForEachStream([&](std::string_view, const StreamState& state) {
      ++stats.stream_count;
      if (state.deleted) ++stats.deleted_stream_count;
      return true;
    });
    if (!counted) return Fail(counted.error());
    {
      std::shared_lock gate(env_->gate());
      MDB_envinfo info{};
      MDB_stat stat{};
      mdb_env_info(env_->env(), &info);
      mdb_env_stat(env_->env(), &stat);
      stats.map_bytes = info.me_mapsize;
      stats.map_used_bytes = (info.me_last_pgno + 1) * stat.ms_psize;
    }
    // One line per slot of a live process, after a header line.
    mdb_reader_list(
        env_->env(),
        [](const char* line, void* context) -> int {
          std::string_view text(line);
          const auto start = text.find_first_not_of(' ');
          if (start != std::string_view::npos && text[start] >= '0' && text[start] <= '9') {
            ++*static_cast<std::uint64_t*>(context);
          }
          return 0;
        },
        &stats.reader_slots_used);
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) stats.file_bytes = static_cast<std::uint64_t>(st.st_size);
    return stats;
  }

 private:
  std::string path_;
  Options options_;
  std::shared_ptr<Environment> env_;
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenLmdbBackend(const std::string& path, const Options& options) {
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) {
    return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
  }
  if (!exists) {
    if (!options.create_if_missing || options.read_only) return Fail(ErrorCode::kNotFound, "no store at " + path);
    if (auto ok = lmdb::CreateDataFile(path, options); !ok) return Fail(ok.error());
  }
  // Everything LMDB itself would not refuse cleanly is refused here, before it
  // maps the file or creates a lock file: a foreign or damaged file stays as it was.
  if (auto ok = lmdb::CheckDataFileHeader(path); !ok) return Fail(ok.error());
  struct stat lock_st {};
  if (::stat((path + "-lock").c_str(), &lock_st) != 0 && errno == ENOENT) {
    // No lock file: no process has the environment open, so it can be read
    // without locks — and without creating one — to see whether it is a cairn store.
    if (auto ok = lmdb::ProbeUnusedDataFile(path); !ok) return Fail(ok.error());
  }
  auto env = Environment::Acquire(path, options);
  if (!env) return Fail(env.error());
  return std::unique_ptr<Backend>(std::make_unique<LmdbBackend>(path, options, std::move(*env)));
}

}  // namespace cairn::detail
