// The store's logic, once for every backend: input checks, group commit,
// expected-revision checks, idempotency, the audit chain, subscriptions, verify.
#include "cairn/store.h"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "backend.h"
#include "cairn/audit.h"
#include "import.h"
#include "event_checks.h"
#include "schemas.h"

namespace cairn {

bool LogFilter::Matches(const EventView& event) const {
  if (!category.empty() && CategoryOf(event.stream) != category) return false;
  if (!types.empty() && std::find(types.begin(), types.end(), event.type) == types.end()) return false;
  return true;
}

namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Wakes subscriptions of this process when the writer commits. Shared with
// subscriptions so that they outlive the store safely.
class CommitSignal {
 public:
  void Notify() {
    {
      std::lock_guard lock(mutex_);
      ++commits_;
    }
    changed_.notify_all();
  }
  std::uint64_t commits() {
    std::lock_guard lock(mutex_);
    return commits_;
  }
  // Waits until a commit after `seen`, `stopped` is set, or `timeout` passes.
  void WaitFor(std::uint64_t seen, const std::atomic<bool>& stopped, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return commits_ != seen || stopped.load(); });
  }
  // Sets `stopped` under the lock so that a waiter cannot miss it, then wakes everyone.
  void Stop(std::atomic<bool>& stopped) {
    {
      std::lock_guard lock(mutex_);
      stopped = true;
    }
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t commits_ = 0;
};

// One queued append (or delete) waiting for the group commit.
struct PendingAppend {
  std::string_view stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  std::span<const EventData> events;
  std::vector<EventId> ids;          // resolved: the caller's or generated
  std::vector<bool> caller_ids;      // which ids the caller gave (only those can already exist)
  bool any_caller_id = false;
  bool is_delete = false;
  std::size_t bytes = 0;
  // Set for a snapshot write (save, delete, prune), which rides the group
  // commit in place of events: it sets `result` itself (AppendResult{} on
  // success) and returns only failures of the transaction.
  std::function<Status(WriteTransaction&, PendingAppend&)> side_write;
  // A side write that changes the schemas (PutSchema, DeleteSchema): appends
  // after it in the same group are checked against what it wrote.
  bool changes_schemas = false;
  // The schemas the append's events were validated against in Prepare; the
  // group commit checks again when the store's schema generation has moved on.
  std::shared_ptr<const SchemaSet> schemas;

  std::optional<Result<AppendResult>> result;
  std::mutex mutex;  // guards done and leader
  bool done = false;    // result is set; the caller may return
  bool leader = false;  // at the front of the queue: commit the next group
  std::condition_variable wake;
};

const EventData kTombstoneEvent{.type = std::string(kStreamDeletedType), .data = "{}"};

class SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(std::shared_ptr<CommitSignal> signal, std::unique_ptr<Reader> reader,
                   const SubscribeOptions& options, std::chrono::milliseconds poll_interval)
      : signal_(std::move(signal)),
        reader_(std::move(reader)),
        filter_(options.filter),
        checkpoint_(options.after_position),
        poll_interval_(poll_interval) {}

  Result<std::size_t> Poll(const EventVisitor& visit, std::size_t max_events,
                           std::chrono::milliseconds timeout) override {
    if (max_events == 0) return 0;
    const auto deadline = Clock::now() + timeout;
    bool reread = true;
    while (true) {
      if (stopped_) return Fail(ErrorCode::kCancelled, "subscription stopped");
      std::uint64_t seen_commits = signal_->commits();
      auto seen_change = reader_->ChangeCounter();
      if (!seen_change) return Fail(seen_change.error());
      if (reread) {
        std::size_t visited = 0;
        auto scan = reader_->ReadLog(
            ReadLogOptions{.from_position = checkpoint_.load() + 1, .max_count = max_events, .filter = filter_},
            [&](const EventView& event) {
              bool more = visit(event);
              // Delivered once the visitor returned: a visitor that throws sees the event again.
              checkpoint_ = event.position;
              ++visited;
              return more;
            });
        if (!scan) return Fail(scan.error());
        if (scan->scanned_through > checkpoint_) checkpoint_ = scan->scanned_through;
        if (visited > 0) return visited;
      }
      auto now = Clock::now();
      if (now >= deadline) return 0;
      auto wait = std::min(poll_interval_, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                               std::chrono::milliseconds(1));
      signal_->WaitFor(seen_commits, stopped_, wait);
      // Reread only when something committed: in this process (the signal) or in any (the counter).
      if (signal_->commits() != seen_commits) {
        reread = true;
      } else {
        auto change = reader_->ChangeCounter();
        if (!change) return Fail(change.error());
        reread = *change != *seen_change;
      }
    }
  }

  void Stop() override { signal_->Stop(stopped_); }

  std::uint64_t checkpoint() const override { return checkpoint_; }

 private:
  std::shared_ptr<CommitSignal> signal_;
  std::unique_ptr<Reader> reader_;
  LogFilter filter_;
  std::atomic<std::uint64_t> checkpoint_;
  std::atomic<bool> stopped_{false};
  std::chrono::milliseconds poll_interval_;
};

class StoreImpl final : public EventStore {
 public:
  StoreImpl(std::string path, const Options& options, std::unique_ptr<Backend> backend)
      : path_(std::move(path)), options_(options), backend_(std::move(backend)) {}

  Result<AppendResult> Append(std::string_view stream, ExpectedRevision expected,
                              std::span<const EventData> events) override {
    PendingAppend append{.stream = stream, .expected = expected, .events = events};
    if (auto ok = Prepare(append); !ok) return Fail(ok.error());
    return Submit(append);
  }

  Result<AppendResult> DeleteStream(std::string_view stream, ExpectedRevision expected) override {
    if (auto ok = CheckWritable(); !ok) return Fail(ok.error());
    if (auto ok = ValidateStreamName(stream); !ok) return Fail(ok.error());
    PendingAppend append{.stream = stream,
                         .expected = expected,
                         .events = std::span<const EventData>(&kTombstoneEvent, 1),
                         .ids = {EventId::NewV7()},
                         .caller_ids = {false},
                         .is_delete = true};
    return Submit(append);
  }

  Result<std::uint64_t> ReadStream(std::string_view stream, const ReadStreamOptions& options,
                                   const EventVisitor& visit) override {
    if (auto ok = ValidateStreamName(stream); !ok) return Fail(ok.error());
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto state = (*reader)->GetStream(stream);
    if (!state) return Fail(state.error());
    if (!*state) return Fail(ErrorCode::kNotFound, "stream \"" + std::string(stream) + "\" does not exist");
    if ((*state)->deleted) {
      return Fail(ErrorCode::kStreamDeleted, "stream \"" + std::string(stream) + "\" is deleted");
    }
    return (*reader)->ReadStream(stream, options, visit);
  }

  Result<std::uint64_t> ReadLog(const ReadLogOptions& options, const EventVisitor& visit) override {
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto scan = (*reader)->ReadLog(options, visit);
    if (!scan) return Fail(scan.error());
    return scan->visited;
  }

  Result<StreamInfo> GetStreamInfo(std::string_view stream) override {
    if (auto ok = ValidateStreamName(stream); !ok) return Fail(ok.error());
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto state = (*reader)->GetStream(stream);
    if (!state) return Fail(state.error());
    if (!*state) return StreamInfo{};
    return StreamInfo{.exists = true,
                      .deleted = (*state)->deleted,
                      .head_revision = (*state)->head_revision,
                      .head_position = (*state)->head_position};
  }

  Result<std::uint64_t> HeadPosition() override {
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto head = (*reader)->GetHead();
    if (!head) return Fail(head.error());
    return head->position;
  }

  Result<std::unique_ptr<Subscription>> Subscribe(const SubscribeOptions& options) override {
    auto reader = backend_->OpenReader();
    if (!reader) return Fail(reader.error());
    return std::unique_ptr<Subscription>(std::make_unique<SubscriptionImpl>(
        signal_, std::move(*reader), options, options_.external_poll_interval));
  }

  Result<VerifyReport> Verify(const VerifyOptions& options) override;

  Result<ImportStats> Import(const ImportSource& next, const ImportOptions& options) override {
    if (auto ok = CheckWritable(); !ok) return Fail(ok.error());
    return ImportLog(*backend_, next, options, options_.max_append_bytes, [this] { signal_->Notify(); });
  }

  Result<StoreStats> Stats() override {
    auto stats = backend_->Stats();
    if (stats) stats->path = path_;
    return stats;
  }

  Status SaveSnapshot(const SnapshotData& snapshot, std::size_t keep_newest) override {
    if (auto ok = CheckWritable(); !ok) return ok;
    if (auto ok = ValidateStreamName(snapshot.stream); !ok) return ok;
    if (snapshot.state.size() > options_.max_append_bytes) {
      return Fail(ErrorCode::kInvalidArgument, "a snapshot state of " + std::to_string(snapshot.state.size()) +
                                                   " bytes is over the limit of " +
                                                   std::to_string(options_.max_append_bytes) +
                                                   " (Options::max_append_bytes)");
    }
    PendingAppend write{.stream = snapshot.stream, .bytes = snapshot.state.size()};
    write.side_write = [&snapshot, keep_newest](WriteTransaction& txn, PendingAppend& self) -> Status {
      auto state = txn.GetStream(snapshot.stream);
      if (!state) return Fail(state.error());
      if (auto refused = RefuseSnapshotOf(snapshot.stream, *state)) {
        self.result = Fail(std::move(*refused));
        return {};
      }
      if (snapshot.revision > (*state)->head_revision) {
        self.result = Fail(ErrorCode::kInvalidArgument,
                           "a snapshot of stream \"" + snapshot.stream + "\" at revision " +
                               std::to_string(snapshot.revision) + " is past its head revision " +
                               std::to_string((*state)->head_revision));
        return {};
      }
      SnapshotView view{.stream = snapshot.stream,
                        .revision = snapshot.revision,
                        .schema_version = snapshot.schema_version,
                        .event_hash = snapshot.event_hash,
                        .taken_at_us = NowMicros(),
                        .state = snapshot.state};
      view.checksum = SnapshotChecksum(view);
      if (auto ok = txn.PutSnapshot(view); !ok) return ok;
      if (keep_newest > 0) {
        auto keys = txn.ListSnapshots(snapshot.stream);
        if (!keys) return Fail(keys.error());
        for (std::size_t i = keep_newest; i < keys->size(); ++i) {
          if (auto ok = txn.DeleteSnapshot((*keys)[i].stream, (*keys)[i].revision); !ok) return ok;
        }
      }
      self.result = AppendResult{};
      return {};
    };
    auto result = Submit(write);
    if (!result) return Fail(result.error());
    return {};
  }

  Result<std::uint64_t> ReadSnapshots(std::optional<std::string_view> stream, const SnapshotVisitor& visit) override {
    if (stream) {
      if (auto ok = ValidateStreamName(*stream); !ok) return Fail(ok.error());
    }
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    // The backend's "every stream" is the empty name, which no stream has.
    return (*reader)->ReadSnapshots(stream.value_or(""), [&visit](const SnapshotView& stored) {
      SnapshotView checked = stored;
      checked.intact = SnapshotChecksum(stored) == stored.checksum;
      return visit(checked);
    });
  }

  Result<std::uint64_t> DeleteSnapshots(std::string_view stream, std::optional<std::uint64_t> revision) override {
    if (auto ok = ValidateStreamName(stream); !ok) return Fail(ok.error());
    return RemoveSnapshots(stream, [revision](const SnapshotKey& key, std::size_t) {
      return !revision || key.revision == *revision;
    });
  }

  Result<std::uint64_t> PruneSnapshots(std::optional<std::string_view> stream, std::size_t keep) override {
    if (stream) {
      if (auto ok = ValidateStreamName(*stream); !ok) return Fail(ok.error());
    }
    return RemoveSnapshots(stream.value_or(""),
                           [keep](const SnapshotKey&, std::size_t newer) { return newer >= keep; });
  }

  Result<std::uint64_t> PutSchema(std::string_view event_type, std::string_view schema_json) override {
    if (auto ok = CheckWritable(); !ok) return Fail(ok.error());
    if (auto ok = CheckSchemaType(event_type); !ok) return Fail(ok.error());
    const std::string which = "event type \"" + std::string(event_type) + "\"";
    if (schema_json.size() > options_.max_event_bytes) {
      return Fail(ErrorCode::kInvalidArgument, which + ": the schema is " + std::to_string(schema_json.size()) +
                                                   " bytes, over the limit of " +
                                                   std::to_string(options_.max_event_bytes) +
                                                   " (Options::max_event_bytes)");
    }
    if (auto ok = CheckSchemaDocument(schema_json); !ok) {
      return Fail(ErrorCode::kInvalidArgument, which + ": " + ok.error().message());
    }
    std::uint64_t registration = 0;
    PendingAppend write{.stream = event_type, .bytes = schema_json.size(), .changes_schemas = true};
    write.side_write = [&](WriteTransaction& txn, PendingAppend& self) -> Status {
      registration = 1;  // the group may run again (LMDB map growth)
      auto newest = txn.ReadSchemas(event_type, /*history=*/false, [&](const SchemaView& current) {
        registration = current.registration + 1;
        return false;
      });
      if (!newest) return Fail(newest.error());
      SchemaView schema{.event_type = event_type,
                        .registration = registration,
                        .registered_at_us = NowMicros(),
                        .schema = schema_json};
      if (auto ok = txn.PutSchema(schema); !ok) return ok;
      if (auto ok = BumpSchemaGeneration(txn); !ok) return ok;
      self.result = AppendResult{};
      return {};
    };
    auto result = Submit(write);
    if (!result) return Fail(result.error());
    return registration;
  }

  Result<SchemaInfo> GetSchema(std::string_view event_type) override {
    if (auto ok = ValidateEventType(event_type); !ok) return Fail(ok.error());
    std::optional<SchemaInfo> found;
    auto read = ReadSchemas(
        [&](const SchemaView& schema) {
          found = SchemaInfo{.event_type = std::string(schema.event_type),
                             .registration = schema.registration,
                             .registered_at_us = schema.registered_at_us,
                             .schema = std::string(schema.schema)};
          return false;
        },
        ReadSchemasOptions{.event_type = std::string(event_type)});
    if (!read) return Fail(read.error());
    if (!found) return Fail(ErrorCode::kNotFound, "event type \"" + std::string(event_type) + "\" has no schema");
    return std::move(*found);
  }

  Result<std::uint64_t> ReadSchemas(const SchemaVisitor& visit, const ReadSchemasOptions& options) override {
    if (!options.event_type.empty()) {
      if (auto ok = ValidateEventType(options.event_type); !ok) return Fail(ok.error());
    }
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto scan = (*reader)->ReadSchemas(options.event_type, options.history, visit);
    if (!scan) return Fail(scan.error());
    return scan->visited;
  }

  Result<std::uint64_t> DeleteSchema(std::string_view event_type) override {
    if (auto ok = CheckWritable(); !ok) return Fail(ok.error());
    if (auto ok = ValidateEventType(event_type); !ok) return Fail(ok.error());
    std::uint64_t deleted = 0;
    PendingAppend write{.stream = event_type, .changes_schemas = true};
    write.side_write = [&](WriteTransaction& txn, PendingAppend& self) -> Status {
      auto count = txn.DeleteSchemas(event_type);
      if (!count) return Fail(count.error());
      deleted = *count;
      if (deleted > 0) {
        if (auto ok = BumpSchemaGeneration(txn); !ok) return ok;
      }
      self.result = AppendResult{};
      return {};
    };
    auto result = Submit(write);
    if (!result) return Fail(result.error());
    return deleted;
  }

  Result<std::uint64_t> PositionAtOrAfter(std::int64_t recorded_at_us) override {
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    return (*reader)->PositionAtOrAfter(recorded_at_us);
  }

  Status SaveCheckpoint(std::string_view name, std::uint64_t position, std::string_view detail) override {
    if (auto ok = ValidateCheckpointName(name); !ok) return ok;
    if (auto ok = CheckWritable(); !ok) return ok;
    const std::string key = CheckpointKey(name);
    PendingAppend write{.stream = key, .bytes = detail.size()};
    write.side_write = [&](WriteTransaction& txn, PendingAppend& self) -> Status {
      auto head = txn.GetHead();
      if (!head) return Fail(head.error());
      if (position > head->position) {
        self.result = Fail(ErrorCode::kInvalidArgument,
                           "checkpoint \"" + std::string(name) + "\" at position " + std::to_string(position) +
                               " is past the head of the log (" + std::to_string(head->position) + ")");
        return {};
      }
      if (auto ok = txn.PutMeta(key, std::to_string(position) + " " + std::to_string(NowMicros()) + " " + std::string(detail)); !ok) return ok;
      self.result = AppendResult{};
      return {};
    };
    auto result = Submit(write);
    if (!result) return Fail(result.error());
    return {};
  }

  Result<std::optional<Checkpoint>> ReadCheckpoint(std::string_view name) override {
    if (auto ok = ValidateCheckpointName(name); !ok) return Fail(ok.error());
    auto rows = ReadCheckpointRows(CheckpointKey(name));
    if (!rows) return Fail(rows.error());
    for (Checkpoint& checkpoint : *rows) {
      if (checkpoint.name == name) return std::optional<Checkpoint>(std::move(checkpoint));
    }
    return std::optional<Checkpoint>();
  }

  Result<std::vector<Checkpoint>> ListCheckpoints() override { return ReadCheckpointRows(kCheckpointKeyPrefix); }

  Result<bool> DeleteCheckpoint(std::string_view name) override {
    if (auto ok = ValidateCheckpointName(name); !ok) return Fail(ok.error());
    auto existing = ReadCheckpoint(name);
    if (!existing) return Fail(existing.error());
    if (!*existing) return false;
    if (auto ok = CheckWritable(); !ok) return Fail(ok.error());
    const std::string key = CheckpointKey(name);
    PendingAppend write{.stream = key};
    write.side_write = [&key](WriteTransaction& txn, PendingAppend& self) -> Status {
      if (auto ok = txn.DeleteMeta(key); !ok) return ok;
      self.result = AppendResult{};
      return {};
    };
    auto result = Submit(write);
    if (!result) return Fail(result.error());
    return true;
  }

  const std::string& path() const override { return path_; }

 private:
  static constexpr std::string_view kCheckpointKeyPrefix = "checkpoint:";

  static std::string CheckpointKey(std::string_view name) { return std::string(kCheckpointKeyPrefix) + std::string(name); }

  static Status ValidateCheckpointName(std::string_view name) {
    if (name.empty() || name.size() > 200) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a checkpoint name must be 1 to 200 characters, not " + std::to_string(name.size()));
    }
    for (char c : name) {
      if (c <= ' ' || c > '~') {
        return Fail(ErrorCode::kInvalidArgument,
                    "checkpoint name \"" + std::string(name) +
                        "\": only printable ASCII characters without spaces are allowed");
      }
    }
    return {};
  }

  // The checkpoints whose key starts with `prefix`. A row is "<position> <saved_at_us> <detail>".
  Result<std::vector<Checkpoint>> ReadCheckpointRows(std::string_view prefix) {
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto rows = (*reader)->ReadMeta(prefix);
    if (!rows) return Fail(rows.error());
    std::vector<Checkpoint> checkpoints;
    for (auto& [key, value] : *rows) {
      Checkpoint checkpoint{.name = key.substr(kCheckpointKeyPrefix.size())};
      const char* end = value.data() + value.size();
      auto [after_position, e1] = std::from_chars(value.data(), end, checkpoint.position);
      bool ok = e1 == std::errc() && after_position < end && *after_position == ' ';
      const char* after_time = after_position;
      if (ok) {
        auto [p, e2] = std::from_chars(after_position + 1, end, checkpoint.saved_at_us);
        after_time = p;
        ok = e2 == std::errc() && p < end && *p == ' ';
      }
      if (!ok) {
        return Fail(ErrorCode::kCorruption, "checkpoint \"" + checkpoint.name + "\" in " + path_ + " is malformed");
      }
      checkpoint.detail.assign(after_time + 1, end);
      checkpoints.push_back(std::move(checkpoint));
    }
    return checkpoints;
  }

  // Schema types follow event-type rules; '$' types are the store's own and never validated.
  static Status CheckSchemaType(std::string_view event_type) {
    if (auto ok = ValidateEventType(event_type); !ok) return ok;
    if (event_type.front() == '$') {
      return Fail(ErrorCode::kInvalidArgument, "event type \"" + std::string(event_type) +
                                                   "\": types starting with '$' are reserved for the store");
    }
    return {};
  }

  static Status BumpSchemaGeneration(WriteTransaction& txn) {
    auto generation = txn.GetSchemaGeneration();
    if (!generation) return Fail(generation.error());
    return txn.SetSchemaGeneration(*generation + 1);
  }

  // The compiled current schemas, loaded (in one read transaction, with their
  // generation) when the cache is empty or was invalidated. Compilations of
  // unchanged schemas are kept from the previous set.
  Result<std::shared_ptr<const SchemaSet>> CurrentSchemas() {
    std::shared_ptr<const SchemaSet> previous;
    std::uint64_t epoch = 0;
    {
      std::lock_guard lock(schemas_mutex_);
      if (schemas_fresh_) return schemas_;
      previous = schemas_;
      epoch = schemas_epoch_;
    }
    auto set = std::make_shared<SchemaSet>();
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto scan = (*reader)->ReadSchemas("", /*history=*/false, [&](const SchemaView& schema) {
      set->by_type.emplace(std::string(schema.event_type),
                           previous ? previous->Reuse(schema.event_type, schema.registration, schema.schema)
                                    : CompiledSchema::Compile(schema.event_type, schema.registration, schema.schema));
      return true;
    });
    if (!scan) return Fail(scan.error());
    set->generation = scan->generation;
    std::lock_guard lock(schemas_mutex_);
    // Unless the schemas changed while this load ran: then the next append loads again.
    if (schemas_epoch_ == epoch) {
      schemas_ = set;
      schemas_fresh_ = true;
    }
    return std::shared_ptr<const SchemaSet>(std::move(set));
  }

  // After a commit that wrote schemas, or that found the cache behind the store.
  void InvalidateSchemas() {
    std::lock_guard lock(schemas_mutex_);
    schemas_fresh_ = false;
    ++schemas_epoch_;
  }

  // Ok when every event of a type with a schema in `schemas` has JSON data that validates.
  static Status CheckSchemas(std::span<const EventData> events, const SchemaSet& schemas) {
    if (schemas.by_type.empty()) return {};
    for (std::size_t i = 0; i < events.size(); ++i) {
      const EventData& event = events[i];
      const CompiledSchema* schema = schemas.Find(event.type);
      if (schema == nullptr) continue;
      const std::string which = "event " + std::to_string(i) + " (" + event.type + ")";
      if (!IsJsonContentType(event.content_type)) {
        return Fail(ErrorCode::kInvalidArgument, which + ": its type has the JSON Schema " + schema->name() +
                                                     ", so its data must be JSON, not " + event.content_type);
      }
      if (auto ok = schema->Validate(event.data); !ok) {
        return Fail(ok.error().code(), which + ": " + ok.error().message());
      }
    }
    return {};
  }

  // What a group commit knows of the schemas in its transaction.
  struct GroupSchemas {
    std::optional<std::uint64_t> generation;  // read from the transaction when first needed
    std::shared_ptr<const SchemaSet> set;     // built from the transaction when an append needs it
    bool changed = false;                     // written, or found ahead of an append's: invalidate the cache
  };

  // Checks `append` again when the schemas it was validated against in Prepare
  // are not those of the transaction (changed since, in this process or
  // another): a refusal goes to append.result.
  Status RecheckSchemas(WriteTransaction& txn, GroupSchemas& group, PendingAppend& append) {
    if (!group.generation) {
      auto generation = txn.GetSchemaGeneration();
      if (!generation) return Fail(generation.error());
      group.generation = *generation;
    }
    if (append.schemas && append.schemas->generation == *group.generation) return {};
    group.changed = true;
    if (!group.set) {
      auto set = std::make_shared<SchemaSet>();
      set->generation = *group.generation;
      const SchemaSet* previous = append.schemas.get();
      auto read = txn.ReadSchemas("", /*history=*/false, [&](const SchemaView& schema) {
        set->by_type.emplace(
            std::string(schema.event_type),
            previous != nullptr ? previous->Reuse(schema.event_type, schema.registration, schema.schema)
                                : CompiledSchema::Compile(schema.event_type, schema.registration, schema.schema));
        return true;
      });
      if (!read) return Fail(read.error());
      group.set = std::move(set);
    }
    if (auto ok = CheckSchemas(append.events, *group.set); !ok) append.result = Fail(ok.error());
    return {};
  }


  // Why a snapshot cannot be saved for a stream in `state`; nullopt when it can.
  static std::optional<Error> RefuseSnapshotOf(const std::string& stream, const std::optional<StreamState>& state) {
    if (!state) return Error(ErrorCode::kNotFound, "stream \"" + stream + "\" does not exist");
    if (state->deleted) return Error(ErrorCode::kStreamDeleted, "stream \"" + stream + "\" is deleted");
    return std::nullopt;
  }

  // Deletes, in one write, the snapshots of `stream` (every stream's when empty)
  // for which doomed(key, how many newer snapshots its stream has) is true.
  Result<std::uint64_t> RemoveSnapshots(std::string_view stream,
                                        const std::function<bool(const SnapshotKey&, std::size_t)>& doomed) {
    if (auto ok = CheckWritable(); !ok) return Fail(ok.error());
    std::uint64_t removed = 0;
    PendingAppend write{.stream = stream};
    write.side_write = [&](WriteTransaction& txn, PendingAppend& self) -> Status {
      removed = 0;  // the group may run again (LMDB map growth)
      auto keys = txn.ListSnapshots(stream);
      if (!keys) return Fail(keys.error());
      std::size_t newer = 0;
      for (std::size_t i = 0; i < keys->size(); ++i) {
        const SnapshotKey& key = (*keys)[i];
        newer = i > 0 && (*keys)[i - 1].stream == key.stream ? newer + 1 : 0;
        if (!doomed(key, newer)) continue;
        if (auto ok = txn.DeleteSnapshot(key.stream, key.revision); !ok) return ok;
        ++removed;
      }
      self.result = AppendResult{};
      return {};
    };
    auto result = Submit(write);
    if (!result) return Fail(result.error());
    return removed;
  }

  // Returns a pooled reader to the pool when it goes out of scope.
  class ReaderLease {
   public:
    ReaderLease(StoreImpl* store, std::unique_ptr<Reader> reader) : store_(store), reader_(std::move(reader)) {}
    ReaderLease(ReaderLease&& other) noexcept = default;
    ReaderLease& operator=(ReaderLease&&) = delete;
    ~ReaderLease() {
      if (reader_) store_->ReturnReader(std::move(reader_));
    }
    Reader* operator->() const { return reader_.get(); }

   private:
    StoreImpl* store_;
    std::unique_ptr<Reader> reader_;
  };

  Result<ReaderLease> LeaseReader() {
    {
      std::lock_guard lock(readers_mutex_);
      if (!idle_readers_.empty()) {
        auto reader = std::move(idle_readers_.back());
        idle_readers_.pop_back();
        return ReaderLease(this, std::move(reader));
      }
    }
    auto reader = backend_->OpenReader();
    if (!reader) return Fail(reader.error());
    return ReaderLease(this, std::move(*reader));
  }

  void ReturnReader(std::unique_ptr<Reader> reader) {
    std::lock_guard lock(readers_mutex_);
    if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(reader));
  }

  Status CheckWritable() const {
    if (options_.read_only) return Fail(ErrorCode::kNotSupported, "the store " + path_ + " is open read-only");
    return {};
  }

  // Checks an append's input and resolves its event ids; nothing touches storage.
  Status Prepare(PendingAppend& append) {
    if (auto ok = CheckWritable(); !ok) return ok;
    if (auto ok = ValidateStreamName(append.stream); !ok) return ok;
    const auto& events = append.events;
    if (events.empty()) return Fail(ErrorCode::kInvalidArgument, "an append needs at least one event");
    if (events.size() > options_.max_append_events) {
      return Fail(ErrorCode::kInvalidArgument, "an append of " + std::to_string(events.size()) +
                                                   " events is over the limit of " +
                                                   std::to_string(options_.max_append_events) +
                                                   " (Options::max_append_events)");
    }
    append.ids.reserve(events.size());
    append.caller_ids.reserve(events.size());
    std::unordered_set<std::string_view> seen_ids;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const EventData& event = events[i];
      // Built only when something is wrong: this loop runs for every event appended.
      auto which = [&] { return "event " + std::to_string(i) + (event.type.empty() ? "" : " (" + event.type + ")"); };
      if (auto ok = CheckEventContent(event.type, event.content_type, event.data, event.metadata,
                                      /*tombstone_allowed=*/false);
          !ok) {
        return Fail(ErrorCode::kInvalidArgument, which() + ": " + ok.error().message());
      }
      std::size_t bytes = event.type.size() + event.data.size() + event.metadata.size();
      if (bytes > options_.max_event_bytes) {
        return Fail(ErrorCode::kInvalidArgument, which() + " is " + std::to_string(bytes) +
                                                     " bytes, over the limit of " +
                                                     std::to_string(options_.max_event_bytes) +
                                                     " (Options::max_event_bytes)");
      }
      append.bytes += bytes;
      if (event.id) {
        if (event.id->IsNil()) return Fail(ErrorCode::kInvalidArgument, which() + ": the nil UUID is not an event id");
        append.ids.push_back(*event.id);
        append.caller_ids.push_back(true);
        append.any_caller_id = true;
      } else {
        append.ids.push_back(EventId::NewV7());
        append.caller_ids.push_back(false);
      }
      if (events.size() > 1 && !seen_ids.insert(append.ids.back().AsBytes()).second) {
        return Fail(ErrorCode::kInvalidArgument, which() + ": event id " + append.ids.back().ToString() +
                                                     " appears twice in one append");
      }
    }
    if (append.bytes > options_.max_append_bytes) {
      return Fail(ErrorCode::kInvalidArgument, "an append of " + std::to_string(append.bytes) +
                                                   " bytes is over the limit of " +
                                                   std::to_string(options_.max_append_bytes) +
                                                   " (Options::max_append_bytes)");
    }
    // JSON Schemas: checked here, in the appending thread, against the cached
    // compiled schemas; the group commit checks again if they changed meanwhile.
    auto schemas = CurrentSchemas();
    if (!schemas) return Fail(schemas.error());
    append.schemas = std::move(*schemas);
    Status checked = CheckSchemas(events, *append.schemas);
    if (checked) return checked;
    // A refusal must not come from a cache that is behind the store (another
    // process deleted or relaxed the schema): confirmed against the stored
    // generation, and checked again with the schemas reloaded if it moved on.
    auto reader = LeaseReader();
    if (!reader) return Fail(reader.error());
    auto stored = (*reader)->ReadSchemas("", /*history=*/false, [](const SchemaView&) { return false; });
    if (!stored) return Fail(stored.error());
    if (stored->generation == append.schemas->generation) return checked;
    InvalidateSchemas();
    schemas = CurrentSchemas();
    if (!schemas) return Fail(schemas.error());
    append.schemas = std::move(*schemas);
    return CheckSchemas(events, *append.schemas);
  }

  // Group commit, leader/follower: the append at the front of the queue commits
  // itself and everything queued behind it in one transaction; the others wait
  // for their result. No background thread, so a lone writer pays no hand-off.
  // Each append waits on its own mutex and condition variable, so that waking
  // a group does not make every member fight over the queue's mutex.
  Result<AppendResult> Submit(PendingAppend& append) {
    bool leader;
    {
      std::lock_guard lock(queue_mutex_);
      queue_.push_back(&append);
      leader = queue_.size() == 1;
    }
    if (!leader) {
      std::unique_lock lock(append.mutex);
      append.wake.wait(lock, [&] { return append.done || append.leader; });
      if (append.done) return std::move(*append.result);
    }

    std::vector<PendingAppend*> group;
    {
      std::lock_guard lock(queue_mutex_);
      std::size_t group_bytes = 0;
      for (PendingAppend* queued : queue_) {
        if (!group.empty() && (group.size() >= options_.max_group_appends ||
                               group_bytes + queued->bytes > options_.max_append_bytes)) {
          break;
        }
        group.push_back(queued);
        group_bytes += queued->bytes;
      }
    }
    bool committed = CommitGroup(group);
    PendingAppend* next_leader = nullptr;
    {
      std::lock_guard lock(queue_mutex_);
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(group.size()));
      if (!queue_.empty()) next_leader = queue_.front();
    }
    // The next group starts before this one's callers are woken. Once a member
    // is told it is done it may return and destroy itself: touch it no more.
    if (next_leader) Wake(*next_leader, &PendingAppend::leader);
    if (committed) signal_->Notify();
    for (PendingAppend* member : group) {
      if (member != &append) Wake(*member, &PendingAppend::done);
    }
    return std::move(*append.result);
  }

  static void Wake(PendingAppend& append, bool PendingAppend::*flag) {
    std::lock_guard lock(append.mutex);
    append.*flag = true;
    append.wake.notify_one();
  }

  enum class GroupOutcome { kCommitted, kNothingWritten, kFailed, kRetry };

  // Commits `group` in one transaction. Each member gets its own result; a
  // failure of the transaction itself fails every member that would have written.
  // When the backend asks for it (WriteTransaction::NeedsRetry: LMDB grew its
  // memory map), the group runs again from the start in a new transaction:
  // nothing of the failed attempt was committed, so every member starts over.
  bool CommitGroup(const std::vector<PendingAppend*>& group) {
    for (int attempt = 1;; ++attempt) {
      GroupOutcome outcome = TryCommitGroup(group, /*may_retry=*/attempt < kMaxGroupAttempts);
      if (outcome != GroupOutcome::kRetry) return outcome == GroupOutcome::kCommitted;
      for (PendingAppend* member : group) member->result.reset();
    }
  }

  GroupOutcome TryCommitGroup(const std::vector<PendingAppend*>& group, bool may_retry) {
    auto fail_all = [&](const Error& error) {
      for (PendingAppend* member : group) {
        if (!member->result || member->result->has_value()) member->result = std::unexpected(error);
      }
      return GroupOutcome::kFailed;
    };
    auto txn = backend_->BeginWrite();
    if (!txn) return fail_all(txn.error());
    auto fail = [&](const Error& error) {
      return may_retry && (*txn)->NeedsRetry() ? GroupOutcome::kRetry : fail_all(error);
    };
    auto head = (*txn)->GetHead();
    if (!head) return fail(head.error());
    // recorded_at never goes backwards along the log, so time ranges can be found by binary search.
    std::int64_t now = std::max(NowMicros(), head->recorded_at_us);
    bool wrote = false;
    GroupSchemas schemas;
    // However the group ends: a cache that may be behind the store is reloaded by the next append.
    struct Invalidate {
      StoreImpl* store;
      const GroupSchemas& schemas;
      ~Invalidate() {
        if (schemas.changed) store->InvalidateSchemas();
      }
    } invalidate{this, schemas};
    for (PendingAppend* member : group) {
      if (auto ok = ApplyAppend(**txn, *head, now, *member, schemas); !ok) return fail(ok.error());
      wrote = wrote || (member->result->has_value() && !(*member->result)->already_committed);
    }
    // Nothing to commit: the transaction rolls back on destruction.
    if (!wrote) return GroupOutcome::kNothingWritten;
    if (auto ok = (*txn)->Commit(); !ok) return fail(ok.error());
    return GroupOutcome::kCommitted;
  }

  // Decides one append inside the group's transaction. Outcomes of the append
  // (conflict, duplicate id, …) go to append.result; the returned error is for
  // failures of the transaction itself.
  Status ApplyAppend(WriteTransaction& txn, ChainHead& head, std::int64_t now, PendingAppend& append,
                     GroupSchemas& schemas) {
    if (append.side_write) {
      if (append.changes_schemas) {
        // Appends after it in this group see what it writes.
        schemas = GroupSchemas{.changed = true};
      }
      return append.side_write(txn, append);
    }
    const std::string stream(append.stream);
    const std::size_t count = append.ids.size();

    if (append.any_caller_id) {
      std::vector<std::optional<EventLocation>> found(count);
      bool any_found = false;
      for (std::size_t i = 0; i < count; ++i) {
        if (!append.caller_ids[i]) continue;
        auto location = txn.FindEventId(append.ids[i]);
        if (!location) return Fail(location.error());
        found[i] = std::move(*location);
        any_found = any_found || found[i].has_value();
      }
      if (any_found) {
        append.result = DecideRetry(append, found);
        return {};
      }
    }

    if (!append.is_delete) {
      if (auto ok = RecheckSchemas(txn, schemas, append); !ok) return ok;
      if (append.result) return {};
    }

    auto state = txn.GetStream(stream);
    if (!state) return Fail(state.error());
    if (*state && (*state)->deleted) {
      append.result = Fail(ErrorCode::kStreamDeleted, "stream \"" + stream + "\" is deleted");
      return {};
    }
    if (append.is_delete && !*state) {
      append.result = Fail(ErrorCode::kNotFound, "stream \"" + stream + "\" does not exist");
      return {};
    }
    std::optional<std::uint64_t> actual;
    if (*state) actual = (*state)->head_revision;
    if (!Matches(append.expected, actual)) {
      append.result = std::unexpected(
          Error(ConflictDetail{.stream = stream, .actual_revision = actual},
                "stream \"" + stream + "\": expected revision " + append.expected.ToString() + ", actual " +
                    (actual ? std::to_string(*actual) : std::string("no stream"))));
      return {};
    }

    AppendResult result;
    result.first_revision = actual ? *actual + 1 : 0;
    result.first_position = head.position + 1;
    for (std::size_t i = 0; i < count; ++i) {
      const EventData& data = append.events[i];
      EventView event{.position = head.position + 1,
                      .stream = append.stream,
                      .revision = result.first_revision + i,
                      .id = append.ids[i],
                      .type = data.type,
                      .recorded_at_us = now,
                      .content_type = data.content_type,
                      .data = data.data,
                      .metadata = data.metadata};
      event.hash = ChainHash(head.hash, event);
      if (auto ok = txn.InsertEvent(event); !ok) return ok;
      head = ChainHead{.position = event.position, .hash = event.hash, .recorded_at_us = now};
    }
    result.last_revision = result.first_revision + count - 1;
    result.last_position = head.position;
    StreamState new_state{.head_revision = result.last_revision,
                          .head_position = result.last_position,
                          .deleted = append.is_delete};
    if (auto ok = txn.PutStream(stream, new_state); !ok) return ok;
    if (append.is_delete) {
      // A tombstoned stream never loads again: its snapshots are dead weight.
      auto snapshots = txn.ListSnapshots(stream);
      if (!snapshots) return Fail(snapshots.error());
      for (const SnapshotKey& key : *snapshots) {
        if (auto ok = txn.DeleteSnapshot(key.stream, key.revision); !ok) return ok;
      }
    }
    append.result = result;
    return {};
  }

  static bool Matches(ExpectedRevision expected, std::optional<std::uint64_t> actual) {
    switch (expected.kind()) {
      case ExpectedRevision::Kind::kAny: return true;
      case ExpectedRevision::Kind::kNoStream: return !actual;
      case ExpectedRevision::Kind::kStreamExists: return actual.has_value();
      case ExpectedRevision::Kind::kExact: return actual && *actual == expected.revision();
    }
    return false;
  }

  // Some of the append's ids are already committed. It is a retry of a committed
  // append when all of them sit, in order, at consecutive revisions of this
  // stream, exactly where this append would have put them (for its expected
  // revision); then it succeeds without writing. Anything else reuses an id.
  static Result<AppendResult> DecideRetry(const PendingAppend& append,
                                          const std::vector<std::optional<EventLocation>>& found) {
    const std::size_t count = found.size();
    bool same_place = found[0].has_value();
    for (std::size_t i = 0; same_place && i < count; ++i) {
      same_place = found[i] && found[i]->stream == append.stream && found[i]->revision == found[0]->revision + i;
    }
    if (same_place) {
      std::optional<std::uint64_t> before;
      if (found[0]->revision > 0) before = found[0]->revision - 1;
      if (Matches(append.expected, before)) {
        return AppendResult{.first_revision = found[0]->revision,
                            .last_revision = found[count - 1]->revision,
                            .first_position = found[0]->position,
                            .last_position = found[count - 1]->position,
                            .already_committed = true};
      }
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (found[i]) {
        return Fail(ErrorCode::kDuplicateEventId,
                    "event id " + append.ids[i].ToString() + " is already committed in stream \"" +
                        found[i]->stream + "\" at revision " + std::to_string(found[i]->revision) +
                        " (an append may be retried only with the same events and expected revision)");
      }
    }
    return Fail(ErrorCode::kDuplicateEventId, "event ids already committed");  // unreachable: some id was found
  }

  static constexpr std::size_t kMaxIdleReaders = 16;
  // Each retry follows a growth of at least double the map, so this is never
  // reached by a group that fits on the disk at all.
  static constexpr int kMaxGroupAttempts = 40;

  const std::string path_;
  const Options options_;
  std::unique_ptr<Backend> backend_;
  std::shared_ptr<CommitSignal> signal_ = std::make_shared<CommitSignal>();

  std::mutex queue_mutex_;
  std::deque<PendingAppend*> queue_;

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Reader>> idle_readers_;

  std::mutex schemas_mutex_;
  std::shared_ptr<const SchemaSet> schemas_;  // the last loaded; kept for its compilations
  bool schemas_fresh_ = false;                // schemas_ is what appends check against
  std::uint64_t schemas_epoch_ = 0;           // raised by every invalidation
};

Result<VerifyReport> StoreImpl::Verify(const VerifyOptions& options) {
  auto reader = backend_->OpenReader();
  if (!reader) return Fail(reader.error());
  struct StreamSeen {
    std::uint64_t next_revision = 0;
    std::uint64_t last_position = 0;
    bool deleted = false;
  };
  std::unordered_map<std::string, StreamSeen> streams;
  VerifyReport report;
  Hash previous = kGenesisHash;
  std::uint64_t expected_position = 1;
  // Only for the progress callback: the scan below reads its own snapshot.
  std::uint64_t head_for_progress = 0;
  if (options.progress) {
    auto head = (*reader)->GetHead();
    if (!head) return Fail(head.error());
    head_for_progress = head->position;
  }
  auto bad = [&](std::uint64_t position, std::string problem) {
    report.ok = false;
    report.first_bad_position = position;
    report.problem = std::move(problem);
    return false;
  };
  auto scan = (*reader)->ReadLog(ReadLogOptions{}, [&](const EventView& event) {
    const std::string at = "position " + std::to_string(event.position);
    if (event.position != expected_position) {
      return bad(expected_position, "position " + std::to_string(expected_position) +
                                        " is missing from the log (the next event is at " +
                                        std::to_string(event.position) + ")");
    }
    auto [it, inserted] = streams.try_emplace(std::string(event.stream));
    StreamSeen& seen = it->second;
    if (seen.deleted) {
      return bad(event.position, at + ": stream \"" + std::string(event.stream) + "\" has an event after its tombstone");
    }
    if (event.revision != seen.next_revision) {
      return bad(event.position, at + ": stream \"" + std::string(event.stream) + "\" has revision " +
                                     std::to_string(event.revision) + " where " +
                                     std::to_string(seen.next_revision) + " was expected");
    }
    Hash computed = ChainHash(previous, event);
    if (computed != event.hash) {
      return bad(event.position, at + ": the hash does not match the event (it was altered, or an event "
                                      "before it was removed or reordered)");
    }
    seen.next_revision = event.revision + 1;
    seen.last_position = event.position;
    seen.deleted = event.type == kStreamDeletedType;
    previous = computed;
    report.head_position = event.position;
    ++expected_position;
    if ((++report.events_checked % 65536) == 0 && options.progress) {
      options.progress(report.events_checked, std::max(head_for_progress, event.position));
    }
    return true;
  });
  if (!scan) return Fail(scan.error());
  report.head_hash = previous;
  if (!report.ok) return report;

  // The streams table must agree with the log. Rows changed after the scan's
  // snapshot (head beyond it) belong to later commits and are skipped.
  std::uint64_t rows = 0;
  auto checked = (*reader)->ForEachStream([&](std::string_view name, const StreamState& state) {
    if (state.head_position > report.head_position) return true;
    ++rows;
    auto it = streams.find(std::string(name));
    std::string which = "stream \"" + std::string(name) + "\"";
    if (it == streams.end()) return bad(state.head_position, which + " is listed but has no events in the log");
    const StreamSeen& seen = it->second;
    if (seen.next_revision != state.head_revision + 1 || seen.last_position != state.head_position) {
      return bad(seen.last_position, which + " is listed at revision " + std::to_string(state.head_revision) +
                                         " but its last event in the log is revision " +
                                         std::to_string(seen.next_revision - 1));
    }
    if (seen.deleted != state.deleted) {
      return bad(seen.last_position, which + (state.deleted ? " is marked deleted without a tombstone event"
                                                            : " has a tombstone event but is not marked deleted"));
    }
    return true;
  });
  if (!checked) return Fail(checked.error());
  if (report.ok && rows != streams.size()) {
    report.ok = false;
    report.problem = std::to_string(streams.size() - rows) + " stream(s) in the log are missing from the streams table";
  }
  report.streams_checked = rows;
  if (options.progress) options.progress(report.events_checked, report.head_position);
  return report;
}

// What the first bytes of an existing file say it is.
enum class FileKind { kMissing, kSqlite, kCairnSqlite, kLmdb, kOther };

FileKind DetectFileKind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno == ENOENT ? FileKind::kMissing : FileKind::kOther;
  if (!S_ISREG(st.st_mode)) return FileKind::kOther;
  unsigned char header[100] = {};
  std::ifstream file(path, std::ios::binary);
  file.read(reinterpret_cast<char*>(header), sizeof header);
  const auto got = static_cast<std::size_t>(file.gcount());
  if (got >= 72 && std::memcmp(header, "SQLite format 3", 16) == 0) {
    // PRAGMA application_id, big-endian at offset 68: 'cair' marks a cairn store.
    return std::memcmp(header + 68, "cair", 4) == 0 ? FileKind::kCairnSqlite : FileKind::kSqlite;
  }
  // LMDB's first meta page: a 16-byte page header, then the meta's magic
  // 0xBEEFC0DE in the machine's byte order (lmdb.h's MDB_meta, mdb.c's MDB_MAGIC).
  constexpr std::uint32_t kLmdbMagic = 0xBEEFC0DE;
  std::uint32_t magic = 0;
  if (got >= 24) std::memcpy(&magic, header + 16, sizeof magic);
  if (magic == kLmdbMagic) return FileKind::kLmdb;
  return FileKind::kOther;
}

// kAuto follows the file; an explicit kind must match a file that is a store of
// the other backend. Files that are no store at all go to the requested backend
// (SQLite for kAuto), which refuses them with its own, precise message.
Result<BackendKind> ChooseBackend(const std::string& path, BackendKind requested) {
  const FileKind found = DetectFileKind(path);
  if (requested == BackendKind::kAuto) {
    if (found == FileKind::kLmdb) return BackendKind::kLmdb;
    struct stat st {};
    if (found == FileKind::kOther && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      return Fail(ErrorCode::kCorruption,
                  path + " is not a cairn store (neither a SQLite database nor an LMDB environment)");
    }
    return BackendKind::kSqlite;  // a new store, a SQLite file, or something SQLite's checks explain
  }
  if (requested == BackendKind::kLmdb && found == FileKind::kCairnSqlite) {
    return Fail(ErrorCode::kInvalidArgument,
                path + " is a cairn SQLite store, not an LMDB one: open it with BackendKind::kSqlite or kAuto");
  }
  if (requested == BackendKind::kLmdb && found == FileKind::kSqlite) {
    return Fail(ErrorCode::kCorruption,
                path + " is not a cairn store (it is a SQLite database, not an LMDB environment)");
  }
  if (requested == BackendKind::kSqlite && found == FileKind::kLmdb) {
    return Fail(ErrorCode::kInvalidArgument,
                path + " is an LMDB environment, not a SQLite store: open it with BackendKind::kLmdb or kAuto");
  }
  if (requested != BackendKind::kSqlite && requested != BackendKind::kLmdb) {
    return Fail(ErrorCode::kInvalidArgument,
                "unknown Options::backend " + std::to_string(static_cast<int>(requested)));
  }
  return requested;
}

}  // namespace
}  // namespace detail

Result<std::unique_ptr<EventStore>> EventStore::Open(const std::string& path, const Options& options) {
  if (sodium_init() < 0) return Fail(ErrorCode::kIOError, "libsodium failed to initialise");
  if (options.max_group_appends == 0 || options.max_append_events == 0) {
    return Fail(ErrorCode::kInvalidArgument, "Options::max_group_appends and max_append_events must be positive");
  }
  auto kind = detail::ChooseBackend(path, options.backend);
  if (!kind) return Fail(kind.error());
  Result<std::unique_ptr<detail::Backend>> backend = Fail(ErrorCode::kNotSupported, "unknown backend");
  switch (*kind) {
    case BackendKind::kSqlite:
      backend = detail::OpenSqliteBackend(path, options);
      break;
    case BackendKind::kLmdb:
      backend = detail::OpenLmdbBackend(path, options);
      break;
    case BackendKind::kAuto:
      break;  // ChooseBackend never returns it
  }
  if (!backend) return Fail(backend.error());
  return std::unique_ptr<EventStore>(std::make_unique<detail::StoreImpl>(path, options, std::move(*backend)));
}

}  // namespace cairn
