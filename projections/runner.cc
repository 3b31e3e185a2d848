// The projection runner: one thread per projection, batches applied to the read
// model (or a shadow) with the checkpoint in the same transaction, handler
// retries, parking and stopping, and the swap of a finished rebuild.
// docs/projections.md explains the guarantees and why they hold.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "cairn/projection.h"
#include "read_model.h"

namespace cairn {

bool ProjectionFilter::Matches(const EventView& event) const {
  if (!categories.empty() &&
      std::find(categories.begin(), categories.end(), CategoryOf(event.stream)) == categories.end()) {
    return false;
  }
  return event_types.empty() || std::find(event_types.begin(), event_types.end(), event.type) != event_types.end();
}

std::string_view ProjectionStateName(ProjectionState state) {
  switch (state) {
    case ProjectionState::kCatchingUp: return "catching-up";
    case ProjectionState::kLive: return "live";
    case ProjectionState::kRebuilding: return "rebuilding";
    case ProjectionState::kStopped: return "stopped";
    case ProjectionState::kFailed: return "failed";
  }
  return "unknown";
}

namespace {

using namespace projection_detail;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Makes `projection` see upcast events while the runner itself deals only in
// stored ones (filters, checkpoints, parked events): each handler for a type T
// is registered under every stored type that upcasts to T, wrapped so that it
// receives the upcast event, and the filter's types widen the same way. An
// upcaster's failure is that handler's failure: retried, then parked or
// stopping the projection.
void ApplyUpcasters(Projection& projection) {
  const std::shared_ptr<const Upcasters> upcasters = projection.upcasters;
  std::map<std::string, ProjectionHandler, std::less<>> handlers;
  for (auto& [type, handler] : projection.handlers) {
    auto shared = std::make_shared<const ProjectionHandler>(std::move(handler));
    for (std::string& source : upcasters->SourceTypes(type)) {
      if (source == type && upcasters->TargetType(type) == type) {
        handlers.insert_or_assign(std::move(source), *shared);  // read as stored: nothing to upcast
        continue;
      }
      handlers.insert_or_assign(std::move(source), [upcasters, shared](ReadModelWriter& writer, const EventView& event) {
        thread_local UpcastedEvent upcast;  // a handler call never nests in another on its thread
        auto changed = upcasters->Apply(event, upcast);
        if (!changed) return Status(Fail(changed.error()));
        return (*shared)(writer, *changed ? upcast.view() : event);
      });
    }
  }
  projection.handlers = std::move(handlers);
  if (!projection.filter.event_types.empty()) {
    std::vector<std::string> types;
    for (const std::string& type : projection.filter.event_types) {
      for (std::string& source : upcasters->SourceTypes(type)) {
        if (std::find(types.begin(), types.end(), source) == types.end()) types.push_back(std::move(source));
      }
    }
    // Types that upcast to something else keep matching, as stored: no handler takes them.
    if (!types.empty()) projection.filter.event_types = std::move(types);
  }
}

// How long a live projection waits for events before it refreshes its status
// (head, lag) and records a checkpoint that only filtered-out events advanced.
constexpr milliseconds kIdlePoll{250};
// RunToHead: how long to wait for a source that has not yet delivered up to the target.
constexpr milliseconds kToHeadWait{50};
// events_per_second is measured over this window.
constexpr auto kRateWindow = std::chrono::seconds(5);

Status ValidateName(std::string_view name) {
  const bool ok = !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!ok) {
    return Fail(ErrorCode::kInvalidArgument,
                "projection name \"" + std::string(name) + "\" is not 1-128 characters of [a-z0-9_]");
  }
  return {};
}

bool SameNameNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Runs a handler; nullopt on success, else what went wrong (an exception's what()).
std::optional<std::string> CallHandler(const ProjectionHandler& handler, ReadModelWriter& writer,
                                       const EventView& event) {
  try {
    auto status = handler(writer, event);
    if (!status) return status.error().ToString();
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  } catch (...) {
    return std::string("unknown exception");
  }
}

std::string DescribeFailure(const EventView& event, std::string_view error) {
  return "event at position " + std::to_string(event.position) + " (" + std::string(event.type) + " in " +
         std::string(event.stream) + "): " + std::string(error);
}

// One database a projection is applied to: the read model, or a shadow in
// which it is rebuilt. Owns the connection and the handlers' writer; knows the
// checkpoint it committed last.
class Model {
 public:
  // With `stopping`, waits for the write lock as long as it takes (another
  // projection's swap of a large model holds it for a while) until `stopping`
  // says so, then at most one more second; without, up to 30 seconds.
  static Result<std::unique_ptr<Model>> Open(const std::string& path, OpenMode mode, std::string name,
                                             std::function<bool()> stopping = {}) {
    auto db = OpenConnection(path, mode);
    if (!db) return Fail(db.error());
    auto model = std::unique_ptr<Model>(new Model(std::move(*db), std::move(name)));
    if (auto ok = model->PrepareStatements(); !ok) return Fail(ok.error());
    if (stopping) {
      model->stopping_ = std::move(stopping);
      sqlite3_busy_handler(model->db(), &Model::WaitForLock, model.get());
    }
    return model;
  }

  sqlite3* db() const { return db_.get(); }
  SqlWriter& writer() { return *writer_; }
  bool in_transaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

  // What the checkpoint row says, as of the last commit (or load).
  std::uint64_t position = 0;
  std::uint32_t version = 0;
  // Set while the model is fed by a subscription that keeps its own progress
  // (SourceProgress): the position is then informative only, and several
  // runners may share the projection (each its own partitions), so Begin checks
  // the version alone and takes the highest position any of them recorded.
  SourceProgress* progress = nullptr;

  // Starts a batch's write transaction and checks that the checkpoint row is
  // still what this runner committed: another runner advancing the same
  // projection would otherwise apply events twice.
  Status Begin() {
    if (auto ok = Exec(db(), "BEGIN IMMEDIATE", "starting a batch"); !ok) return ok;
    check_->Bind(1, name_);
    auto row = check_->Step("reading the checkpoint");
    if (!row) {
      Rollback();
      return Fail(row.error());
    }
    const bool same =
        *row && check_->Int(0) == std::int64_t{version} && (progress != nullptr || check_->Uint(1) == position);
    if (same && progress != nullptr) position = std::max(position, check_->Uint(1));
    const std::string found = *row ? "version " + check_->Text(0) + " at position " + check_->Text(1) : "no row";
    check_->Reset();
    if (!same) {
      Rollback();
      return Fail(ErrorCode::kBusy, "the checkpoint of projection " + name_ + " moved to " + found + " (expected version " +
                                        std::to_string(version) + " at " + std::to_string(position) +
                                        "): another runner is running it");
    }
    return {};
  }

  // Writes the checkpoint row and commits (beginning first when no batch is open).
  Status Commit(std::uint64_t new_position, std::string_view state, std::string_view last_error) {
    if (!in_transaction()) {
      if (auto ok = Begin(); !ok) return ok;
    }
    update_->Bind(1, name_).Bind(2, new_position).Bind(3, state).Bind(4, NowMicros()).Bind(5, last_error);
    Status done = update_->Run("writing the checkpoint");
    if (done && progress != nullptr) done = progress->SaveProgress(db());
    if (done) done = Exec(db(), "COMMIT", "committing a batch");
    if (!done) {
      Rollback();
      return done;
    }
    position = new_position;
    return {};
  }

  void Rollback() {
    if (in_transaction()) (void)Exec(db(), "ROLLBACK", "rolling back a batch");
  }

  // Prepared once: through sqlite3_exec, both statements were parsed and
  // compiled again for every event, a quarter to a third of a rebuild's time
  // (cairn_bench --projections).
  Status Savepoint() { return savepoint_->Run("starting an event's savepoint"); }
  Status ReleaseSavepoint() { return release_->Run("releasing an event's savepoint"); }
  Status RollbackToSavepoint() {
    return Exec(db(), "ROLLBACK TO cairn_event; RELEASE cairn_event", "undoing a failed event");
  }

  Status Park(const EventView& event, std::string_view error, std::uint32_t attempts) {
    park_->Bind(1, name_)
        .Bind(2, event.position)
        .Bind(3, event.stream)
        .Bind(4, event.revision)
        .Bind(5, event.type)
        .Bind(6, error)
        .Bind(7, std::int64_t{attempts})
        .Bind(8, NowMicros());
    return park_->Run("parking an event");
  }

  // Records the state outside a batch (its own small transaction; the checkpoint is untouched).
  Status WriteState(std::string_view state, std::string_view last_error) {
    state_->Bind(1, name_).Bind(2, state).Bind(3, last_error).Bind(4, NowMicros());
    return state_->Run("recording the projection's state");
  }

 private:
  Model(SqliteHandle db, std::string name)
      : db_(std::move(db)), writer_(std::make_unique<SqlWriter>(db_.get())), name_(std::move(name)) {}

  Status PrepareStatements() {
    struct Wanted {
      std::optional<Statement>* slot;
      const char* sql;
    };
    const Wanted wanted[] = {
        {&check_, "SELECT version, position FROM cairn_projections WHERE name = ?1"},
        {&update_,
         "UPDATE cairn_projections SET position = ?2, state = ?3, updated_at_us = ?4, last_error = ?5 WHERE name = ?1"},
        {&park_,
         "INSERT OR REPLACE INTO cairn_parked (projection, position, stream, revision, type, error, attempts, "
         "parked_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&state_, "UPDATE cairn_projections SET state = ?2, last_error = ?3, updated_at_us = ?4 WHERE name = ?1"},
        {&savepoint_, "SAVEPOINT cairn_event"},
        {&release_, "RELEASE cairn_event"},
    };
    for (const auto& [slot, sql] : wanted) {
      auto stmt = Statement::Prepare(db(), sql);
      if (!stmt) return Fail(stmt.error());
      slot->emplace(std::move(*stmt));
    }
    return {};
  }

  // SQLite's busy handler: 0 gives up (SQLITE_BUSY), anything else waits and asks again.
  static int WaitForLock(void* self, int count) noexcept {
    auto* model = static_cast<Model*>(self);
    const auto now = Clock::now();
    if (count == 0) model->busy_since_ = now;
    const bool stopping = model->stopping_();
    if (stopping && now - model->busy_since_ >= std::chrono::seconds(1)) return 0;
    std::this_thread::sleep_for(milliseconds(std::min(count + 1, 20)));
    return 1;
  }

  SqliteHandle db_;  // declared first: closed after the statements below are finalized
  std::unique_ptr<SqlWriter> writer_;
  std::string name_;
  std::optional<Statement> check_, update_, park_, state_, savepoint_, release_;
  std::function<bool()> stopping_;
  Clock::time_point busy_since_;
};

enum class RunMode { kFollow, kToHead };
struct RunGoal {
  RunMode mode = RunMode::kFollow;
  std::uint64_t target = 0;  // kToHead: the source's head when RunToHead was called
};

// A registered projection and the thread that runs it.
struct Worker {
  Projection projection;
  std::vector<SchemaObject> objects;
  bool rebuild_requested = false;  // guarded by the runner's mutex

  // Stopping: the flag, and the subscription to wake. Guarded by control_mutex.
  std::mutex control_mutex;
  std::condition_variable control_cv;  // wakes a retry's backoff
  bool stop = false;
  Subscription* subscription = nullptr;

  // What Statuses() reports. Guarded by status_mutex.
  std::mutex status_mutex;
  ProjectionStatus status;
  std::deque<std::pair<Clock::time_point, std::uint64_t>> rate_samples;  // (when, positions processed so far)
  std::uint64_t processed = 0;

  // The events of the batch being applied without savepoints, kept to apply
  // them again with savepoints if a handler fails (RunBatch). Reused across
  // batches: their strings keep their storage. Used by the projection's thread only.
  std::vector<RecordedEvent> batch_events;

  // Set by the thread; read after it ended.
  std::thread thread;
  Status result;
  bool reached = false;  // RunToHead: the projection got to the target

  bool StopRequested() {
    std::lock_guard lock(control_mutex);
    return stop;
  }
  // Waits `delay` unless Stop() comes first; true when it did.
  bool WaitOrStop(milliseconds delay) {
    std::unique_lock lock(control_mutex);
    return control_cv.wait_for(lock, delay, [&] { return stop; });
  }
  void SetLastError(std::string error) {
    std::lock_guard lock(status_mutex);
    status.last_error = std::move(error);
  }
  std::string LastError() {
    std::lock_guard lock(status_mutex);
    return status.last_error;
  }
  void SetState(ProjectionState state) {
    std::lock_guard lock(status_mutex);
    status.state = state;
  }
};

// Makes a subscription reachable by Stop() while it is in use.
class SubscriptionRegistration {
 public:
  SubscriptionRegistration(Worker& worker, Subscription* subscription) : worker_(worker) {
    std::lock_guard lock(worker_.control_mutex);
    worker_.subscription = subscription;
    if (worker_.stop) subscription->Stop();
  }
  ~SubscriptionRegistration() {
    std::lock_guard lock(worker_.control_mutex);
    worker_.subscription = nullptr;
  }
  SubscriptionRegistration(const SubscriptionRegistration&) = delete;
  SubscriptionRegistration& operator=(const SubscriptionRegistration&) = delete;

 private:
  Worker& worker_;
};

struct BatchResult {
  // Fewer events than max_batch_events: the source had nothing more to give at
  // some point of the batch, so the model was at the head as seen then.
  bool drained = false;
  bool committed = false;
  bool cancelled = false;        // Stop() was called
  std::optional<Error> failure;  // a handler failed for good under OnHandlerFailure::kStop
};

enum class Applied { kApplied, kParked, kFailed, kInterrupted };

class RunnerImpl final : public ProjectionRunner {
 public:
  RunnerImpl(std::unique_ptr<EventSource> source, std::string path, RunnerOptions options, SqliteHandle admin,
             std::string id)
      : source_(std::move(source)),
        path_(std::move(path)),
        options_(std::move(options)),
        admin_(std::move(admin)),
        id_(std::move(id)) {
    options_.max_batch_events = std::max<std::size_t>(1, options_.max_batch_events);
  }

  ~RunnerImpl() override {
    Stop();
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return active_ == 0; });
    JoinThreads();
  }

  Status Add(Projection projection) override {
    if (auto ok = ValidateName(projection.name); !ok) return ok;
    if (projection.version == 0) {
      return Fail(ErrorCode::kInvalidArgument, "projection " + projection.name + ": versions start at 1");
    }
    for (const auto& [type, handler] : projection.handlers) {
      if (!handler) {
        return Fail(ErrorCode::kInvalidArgument, "projection " + projection.name + ": the handler of " + type + " is empty");
      }
    }
    if (projection.upcasters) {
      for (const auto& [type, handler] : projection.handlers) {
        if (std::string newest = projection.upcasters->TargetType(type); newest != type) {
          return Fail(ErrorCode::kInvalidArgument, "projection " + projection.name + ": the handler of " + type +
                                                       " would never run: its upcasters turn " + type + " into " +
                                                       newest + "; handle " + newest + " instead");
        }
      }
      ApplyUpcasters(projection);
    }
    auto objects = CheckSchema(projection.schema);
    if (!objects) {
      return Fail(ErrorCode::kInvalidArgument, "projection " + projection.name + ": " + objects.error().message());
    }
    std::lock_guard lock(mutex_);
    if (active_ > 0) return Fail(ErrorCode::kInvalidArgument, "projections are added before Start or RunToHead");
    for (const auto& worker : workers_) {
      if (worker->projection.name == projection.name) {
        return Fail(ErrorCode::kInvalidArgument, "projection " + projection.name + " is already added");
      }
      for (const auto& mine : *objects) {
        for (const auto& theirs : worker->objects) {
          if (SameNameNoCase(mine.name, theirs.name)) {
            return Fail(ErrorCode::kInvalidArgument, "projection " + projection.name + " creates " + mine.type + " " +
                                                         mine.name + ", which belongs to projection " +
                                                         worker->projection.name);
          }
        }
      }
    }
    if (auto ok = CheckOwnership(admin_.get(), projection.name, *objects); !ok) return ok;
    auto row = LoadProjectionRow(admin_.get(), projection.name);
    if (!row) return Fail(row.error());
    auto parked = CountParked(admin_.get(), projection.name);
    if (!parked) return Fail(parked.error());

    auto worker = std::make_unique<Worker>();
    worker->status.name = projection.name;
    if (*row) {
      worker->status.version = (*row)->version;
      worker->status.position = (*row)->position;
      worker->status.last_error = (*row)->last_error;
      if ((*row)->state == ProjectionStateName(ProjectionState::kFailed)) worker->status.state = ProjectionState::kFailed;
    }
    worker->status.parked = *parked;
    worker->projection = std::move(projection);
    worker->objects = std::move(*objects);
    workers_.push_back(std::move(worker));
    return {};
  }

  Status RequestRebuild(std::string_view name) override {
    std::lock_guard lock(mutex_);
    Worker* worker = Find(name);
    if (worker == nullptr) return Fail(ErrorCode::kNotFound, "no projection " + std::string(name) + " was added");
    worker->rebuild_requested = true;
    // Recorded in the read model too, so that the request survives a crash before the rebuild starts.
    auto update = Statement::Prepare(admin_.get(), "UPDATE cairn_projections SET rebuild_requested = 1 WHERE name = ?1");
    if (!update) return Fail(update.error());
    update->Bind(1, name);
    return update->Run("recording the rebuild request");
  }

  Status Start() override {
    std::lock_guard lock(mutex_);
    if (active_ > 0) return Fail(ErrorCode::kInvalidArgument, "the runner is already running");
    Launch(RunGoal{.mode = RunMode::kFollow});
    return {};
  }

  Status RunToHead() override {
    auto head = source_->HeadPosition();
    if (!head) return Fail(head.error());
    {
      std::lock_guard lock(mutex_);
      if (active_ > 0) return Fail(ErrorCode::kInvalidArgument, "the runner is already running");
      Launch(RunGoal{.mode = RunMode::kToHead, .target = *head});
    }
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return active_ == 0; });
    JoinThreads();
    for (const auto& worker : workers_) {
      if (!worker->result) return worker->result;
    }
    for (const auto& worker : workers_) {
      if (!worker->reached) {
        return Fail(ErrorCode::kCancelled, "stopped before projection " + worker->projection.name +
                                               " reached position " + std::to_string(*head));
      }
    }
    return {};
  }

  void Stop() override {
    std::lock_guard lock(mutex_);
    for (const auto& worker : workers_) {
      {
        std::lock_guard control(worker->control_mutex);
        worker->stop = true;
        if (worker->subscription != nullptr) worker->subscription->Stop();
      }
      worker->control_cv.notify_all();
    }
  }

  void Wait() override {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return active_ == 0; });
  }

  std::vector<ProjectionStatus> Statuses() override {
    std::lock_guard lock(mutex_);
    std::vector<ProjectionStatus> statuses;
    for (const auto& worker : workers_) {
      std::lock_guard status_lock(worker->status_mutex);
      statuses.push_back(worker->status);
    }
    return statuses;
  }

  Result<RetryParkedReport> RetryParked(std::string_view name) override;

 private:
  Worker* Find(std::string_view name) {
    for (const auto& worker : workers_) {
      if (worker->projection.name == name) return worker.get();
    }
    return nullptr;
  }

  // Joins threads that have finished (active_ == 0). Called with mutex_ held:
  // a thread's last act is decrementing active_ under it, so none needs it now.
  void JoinThreads() {
    for (const auto& worker : workers_) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  }

  // Starts one thread per projection. Called with mutex_ held and active_ == 0.
  void Launch(const RunGoal& goal) {
    JoinThreads();
    for (const auto& worker : workers_) {
      {
        std::lock_guard control(worker->control_mutex);
        worker->stop = false;
      }
      worker->result = {};
      worker->reached = false;
      worker->thread = std::thread([this, w = worker.get(), goal] { ThreadMain(*w, goal); });
      ++active_;
    }
  }

  void ThreadMain(Worker& worker, RunGoal goal) {
    Result<bool> reached = false;
    try {
      reached = RunProjection(worker, goal);
    } catch (const std::exception& e) {
      reached = Fail(ErrorCode::kIOError, std::string("projection ") + worker.projection.name + ": " + e.what());
    } catch (...) {
      reached = Fail(ErrorCode::kIOError, "projection " + worker.projection.name + ": unknown exception");
    }
    {
      std::lock_guard status_lock(worker.status_mutex);
      worker.status.state = reached ? ProjectionState::kStopped : ProjectionState::kFailed;
      if (!reached) worker.status.last_error = reached.error().message();
    }
    std::lock_guard lock(mutex_);
    worker.result = reached ? Status() : Status(Fail(reached.error()));
    worker.reached = reached && *reached;
    if (--active_ == 0) idle_.notify_all();
  }

  // The whole run of one projection. True when it reached the goal's target,
  // false when stopped first.
  Result<bool> RunProjection(Worker& worker, const RunGoal& goal) {
    const Projection& projection = worker.projection;
    auto live = Model::Open(path_, OpenMode::kDurable, projection.name, [&worker] { return worker.StopRequested(); });
    if (!live) return Fail(live.error());
    Model& model = **live;
    auto reached = RunOnReadModel(worker, model, goal);
    // Given up waiting for the write lock because of Stop(): a stop, not a failure.
    if (!reached && reached.error().code() == ErrorCode::kBusy && worker.StopRequested()) reached = false;
    // Record how the run ended (best effort: the database may be what failed).
    if (reached) {
      (void)model.WriteState(ProjectionStateName(ProjectionState::kStopped), worker.LastError());
    } else {
      (void)model.WriteState(ProjectionStateName(ProjectionState::kFailed), reached.error().message());
    }
    return reached;
  }

  Result<bool> RunOnReadModel(Worker& worker, Model& live, const RunGoal& goal) {
    const Projection& projection = worker.projection;
    // The checkpoint row; a projection seen for the first time gets one at version 0 (no model yet).
    auto insert = Statement::Prepare(live.db(),
                                     "INSERT OR IGNORE INTO cairn_projections (name, version, position, state, "
                                     "updated_at_us) VALUES (?1, 0, 0, 'rebuilding', ?2)");
    if (!insert) return Fail(insert.error());
    insert->Bind(1, projection.name).Bind(2, NowMicros());
    if (auto ok = insert->Run("registering the projection"); !ok) return Fail(ok.error());
    auto loaded = LoadProjectionRow(live.db(), projection.name);
    if (!loaded) return Fail(loaded.error());
    if (!*loaded) return Fail(ErrorCode::kCorruption, "the checkpoint row of " + projection.name + " vanished");
    const ProjectionRow row = **loaded;
    live.version = row.version;
    live.position = row.position;
    bool requested = false;
    {
      std::lock_guard lock(mutex_);
      requested = worker.rebuild_requested;
    }
    const bool rebuild = row.version != projection.version || row.rebuild_requested || requested;
    {
      std::lock_guard status_lock(worker.status_mutex);
      worker.status.version = row.version;
      worker.status.position = row.position;
      worker.status.rebuilding_version.reset();
      worker.status.rebuild_position = 0;
      worker.status.state = rebuild ? ProjectionState::kRebuilding : ProjectionState::kCatchingUp;
    }

    // Shadows: resume the one this rebuild is for; any other is stale (a swap
    // that committed before a crash, an older rebuild, an incomplete file).
    std::optional<ShadowInfo> resume;
    RemoveCreationLeftovers(path_, projection.name);
    for (const auto& [version, path] : FindShadows(path_, projection.name)) {
      if (rebuild && version == projection.version) {
        auto info = ReadShadowInfo(path, projection.name, id_);
        if (info && info->version == version && info->generation > row.generation) {
          resume = info;
          continue;
        }
      }
      RemoveDatabaseFiles(path);
    }
    if (rebuild) {
      auto built = Rebuild(worker, live, row, resume, goal);
      if (!built || !*built) return built;
    }
    // A build swapped in while following live is caught up already.
    return Follow(worker, live, goal, /*rebuilding=*/false, /*caught_up=*/rebuild && goal.mode == RunMode::kFollow);
  }

  // Builds the projection into a shadow from position 0 (or the shadow's
  // checkpoint) and swaps it in once caught up. False when stopped first.
  Result<bool> Rebuild(Worker& worker, Model& live, const ProjectionRow& row, std::optional<ShadowInfo> resume,
                       const RunGoal& goal) {
    const Projection& projection = worker.projection;
    const std::string shadow_path = ShadowPath(path_, projection.name, projection.version);
    // The old model keeps serving readers meanwhile.
    if (auto ok = live.WriteState(ProjectionStateName(ProjectionState::kRebuilding), row.last_error); !ok) {
      return Fail(ok.error());
    }
    if (!resume) {
      if (auto ok = CreateShadow(shadow_path, id_, projection, row.generation + 1); !ok) return Fail(ok.error());
      resume = ShadowInfo{.version = projection.version, .position = 0, .generation = row.generation + 1};
    }
    {
      std::lock_guard status_lock(worker.status_mutex);
      worker.status.rebuilding_version = projection.version;
      worker.status.rebuild_position = resume->position;
    }
    {
      auto opened = Model::Open(shadow_path, OpenMode::kRelaxed, projection.name,
                                [&worker] { return worker.StopRequested(); });
      if (!opened) return Fail(opened.error());
      Model& shadow = **opened;
      shadow.version = projection.version;
      shadow.position = resume->position;
      auto reached = Follow(worker, shadow, goal, /*rebuilding=*/true, /*caught_up=*/false);
      if (!reached || !*reached) return reached;
    }  // the shadow's connection is closed before the swap attaches the file

    const ProjectionState after = goal.mode == RunMode::kFollow ? ProjectionState::kLive : ProjectionState::kCatchingUp;
    auto swapped = SwapIn(live.db(), shadow_path, projection.name, id_, ProjectionStateName(after));
    if (!swapped) return Fail(swapped.error());
    RemoveDatabaseFiles(shadow_path);
    if (!*swapped) {
      return Fail(ErrorCode::kBusy, "the read model already has the rebuild of projection " + projection.name +
                                        ": another runner is running it");
    }
    live.version = (*swapped)->version;
    live.position = (*swapped)->position;
    {
      std::lock_guard lock(mutex_);
      worker.rebuild_requested = false;
    }
    auto parked = CountParked(live.db(), projection.name);
    std::lock_guard status_lock(worker.status_mutex);
    worker.status.version = live.version;
    worker.status.position = live.position;
    worker.status.rebuilding_version.reset();
    worker.status.rebuild_position = 0;
    worker.status.state = after;
    if (parked) worker.status.parked = *parked;
    return true;
  }

  // Applies batches to `model` from its checkpoint. A shadow (`rebuilding`) is
  // done once caught up — a batch drained the source, or reached the head
  // (RunToHead: once it reached its target); the read model follows live until
  // stopped, or until RunToHead's target. True when done, false when stopped.
  Result<bool> Follow(Worker& worker, Model& model, const RunGoal& goal, bool rebuilding, bool caught_up) {
    const ModelSubscriptionRequest request{
        .after_position = model.position,
        .filter = &worker.projection.filter,
        .projection = worker.projection.name,
        .on_failure = worker.projection.on_failure,
        .begin_batch = [&model]() -> Result<sqlite3*> {
          if (!model.in_transaction()) {
            if (auto ok = model.Begin(); !ok) return Fail(ok.error());
          }
          return model.db();
        }};
    auto subscription = source_->SubscribeModel(request);
    if (!subscription) return Fail(subscription.error());
    SubscriptionRegistration registration(worker, subscription->get());
    // Cleared when this Follow ends: the model outlives the subscription.
    model.progress = dynamic_cast<SourceProgress*>(subscription->get());
    struct ClearProgress {
      Model& model;
      ~ClearProgress() { model.progress = nullptr; }
    } clear_progress{model};
    for (;;) {
      const ProjectionState state =
          rebuilding ? ProjectionState::kRebuilding : caught_up ? ProjectionState::kLive : ProjectionState::kCatchingUp;
      auto batch = RunBatch(worker, model, **subscription, goal, state);
      if (!batch) return Fail(batch.error());
      const auto head = Observe(worker, model, rebuilding, batch->committed);
      if (batch->failure) return Fail(*batch->failure);
      if (batch->cancelled) return false;
      if (goal.mode == RunMode::kToHead) {
        if (model.progress ? model.progress->ReachedHead() : model.position >= goal.target) return true;
      } else if (model.progress ? model.progress->ReachedHead() : batch->drained || (head && model.position >= *head)) {
        // Caught up. A shadow is swapped in now, even when new events came in
        // meanwhile: the read model goes on from the shadow's checkpoint.
        if (rebuilding) return true;
        if (!caught_up) {
          caught_up = true;
          worker.SetState(ProjectionState::kLive);
        }
      }
    }
  }

  // One batch: events until max_batch_events, or max_batch_delay after the
  // first one, applied in one transaction with the checkpoint.
  Result<BatchResult> RunBatch(Worker& worker, Model& model, Subscription& subscription, const RunGoal& goal,
                               ProjectionState state) {
    const Projection& projection = worker.projection;
    BatchResult out;
    std::size_t delivered = 0;
    std::optional<Clock::time_point> first;
    std::optional<std::uint64_t> cut;  // commit only what comes before this position
    std::optional<Error> fatal;
    bool interrupted = false;

    // Each event in a savepoint, with retries, parking or stopping (Apply).
    const auto apply_carefully = [&](const ProjectionHandler& handler, const EventView& event,
                                     const std::optional<std::string>& failed_once = std::nullopt) {
      auto applied = Apply(worker, model, handler, event, failed_once);
      if (!applied) {
        fatal = applied.error();
        return false;
      }
      switch (*applied) {
        case Applied::kApplied:
        case Applied::kParked:
          return true;
        case Applied::kFailed:
          cut = event.position;
          out.failure = Error(ErrorCode::kInvalidArgument, "projection " + projection.name + " stopped: " +
                                                               worker.LastError());
          return false;
        case Applied::kInterrupted:
          cut = event.position;
          interrupted = true;
          return false;
      }
      return false;
    };

    // A savepoint per event costs about as much as a simple handler (SQLite
    // journals the pages each one touches), and handlers rarely fail. So a batch
    // is applied without them; the first failure rolls the whole batch back and
    // applies it again, each event in its own savepoint. A source that writes
    // its own progress into the batch's transaction (Kafka) always gets savepoints.
    bool careful = model.progress != nullptr;
    std::size_t kept = 0;  // worker.batch_events[0, kept): this batch's events so far
    const auto keep = [&](const EventView& event) {
      if (kept == worker.batch_events.size()) worker.batch_events.emplace_back();
      RecordedEvent& copy = worker.batch_events[kept++];
      copy.position = event.position;
      copy.stream.assign(event.stream);
      copy.revision = event.revision;
      copy.id = event.id;
      copy.type.assign(event.type);
      copy.recorded_at_us = event.recorded_at_us;
      copy.content_type.assign(event.content_type);
      copy.data.assign(event.data);
      copy.metadata.assign(event.metadata);
      copy.hash = event.hash;
    };

    const EventVisitor visit = [&](const EventView& event) {
      if (!first) first = Clock::now();
      ++delivered;
      if (!projection.filter.Matches(event)) return true;
      auto handler = projection.handlers.find(event.type);
      if (handler == projection.handlers.end()) return true;  // matching, but nothing to do
      if (!model.in_transaction()) {
        if (auto ok = model.Begin(); !ok) {
          fatal = ok.error();
          return false;
        }
      }
      if (careful) return apply_carefully(handler->second, event);
      keep(event);
      const auto failure = CallHandler(handler->second, model.writer(), event);
      model.writer().AfterHandler();
      if (!model.in_transaction()) {
        fatal = Error(ErrorCode::kInvalidArgument, "projection " + projection.name + ": the handler of " +
                                                       std::string(event.type) +
                                                       " ended the batch's transaction (handlers must not begin, "
                                                       "commit or roll back)");
        return false;
      }
      if (!failure) return true;
      // Nothing undoes only this event's writes: undo the batch, then apply
      // its events again (this one included), each in a savepoint.
      model.Rollback();
      careful = true;
      if (auto ok = model.Begin(); !ok) {
        fatal = ok.error();
        return false;
      }
      // The events before it succeeded once already; the failing one has had its first attempt.
      for (std::size_t i = 0; i < kept; ++i) {
        const EventView again = worker.batch_events[i].view();
        const bool last = i + 1 == kept;
        if (!apply_carefully(projection.handlers.find(again.type)->second, again,
                             last ? failure : std::nullopt)) {
          return false;
        }
      }
      return true;
    };

    bool waited = false;
    for (;;) {
      milliseconds timeout = kIdlePoll;
      if (first) {
        const auto left = *first + options_.max_batch_delay - Clock::now();
        timeout = std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(left));
      } else if (goal.mode == RunMode::kToHead) {
        timeout = waited ? kToHeadWait : milliseconds(0);
      }
      auto polled = subscription.Poll(visit, options_.max_batch_events - delivered, timeout);
      if (!polled) {
        if (polled.error().code() == ErrorCode::kCancelled) {
          out.cancelled = true;
        } else {
          fatal = polled.error();
        }
        break;
      }
      if (fatal || cut) break;
      if (delivered >= options_.max_batch_events) break;
      if (first && Clock::now() >= *first + options_.max_batch_delay) break;
      if (goal.mode == RunMode::kToHead &&
          (model.progress ? model.progress->ReachedHead() : subscription.checkpoint() >= goal.target)) {
        break;
      }
      if (*polled == 0 && !first) {
        if (goal.mode == RunMode::kFollow || waited) break;  // idle
        waited = true;
      }
    }
    if (fatal && fatal->code() == ErrorCode::kBusy && worker.StopRequested()) {
      fatal.reset();  // gave up waiting for the write lock because of Stop(): end the batch, commit nothing
      model.Rollback();
      out.cancelled = true;
      return out;
    }
    if (fatal) {
      model.Rollback();
      return Fail(*fatal);
    }
    out.cancelled = out.cancelled || interrupted;
    out.drained = !out.cancelled && !cut && delivered < options_.max_batch_events;
    // Every event up to the subscription's checkpoint was examined (delivered and
    // applied, parked or skipped, or left out by the source's filter).
    // With its own progress, a subscription's checkpoint() covers the accepted events only.
    const std::uint64_t position =
        cut && !model.progress ? *cut - 1 : std::max(model.position, subscription.checkpoint());
    if (model.in_transaction() || position > model.position ||
        (model.progress && model.progress->HasUnsavedProgress())) {
      const ProjectionState recorded = out.failure ? ProjectionState::kFailed : state;
      if (auto ok = model.Commit(position, ProjectionStateName(recorded), worker.LastError()); !ok) {
        return Fail(ok.error());
      }
      out.committed = true;
    }
    return out;
  }

  // Applies one event in a savepoint, retrying with backoff; parks it or
  // reports the failure once the attempts are used up.
  // `failed_once`: the handler already failed on it once, outside a savepoint
  // (RunBatch's first pass); that was the first attempt.
  Result<Applied> Apply(Worker& worker, Model& model, const ProjectionHandler& handler, const EventView& event,
                        const std::optional<std::string>& failed_once = std::nullopt) {
    const RetryPolicy& retry = worker.projection.retry;
    const std::uint32_t max_attempts = std::max<std::uint32_t>(1, retry.max_attempts);
    milliseconds backoff = retry.initial_backoff;
    std::uint32_t attempt = 1;
    if (failed_once) {
      worker.SetLastError(DescribeFailure(event, *failed_once));
      if (attempt >= max_attempts) {
        if (worker.projection.on_failure == OnHandlerFailure::kStop) return Applied::kFailed;
        if (auto ok = model.Park(event, *failed_once, attempt); !ok) return Fail(ok.error());
        return Applied::kParked;
      }
      if (worker.WaitOrStop(backoff)) return Applied::kInterrupted;
      backoff = std::min(backoff * 2, std::max(retry.max_backoff, retry.initial_backoff));
      ++attempt;
    }
    for (;; ++attempt) {
      if (auto ok = model.Savepoint(); !ok) return Fail(ok.error());
      const auto failure = CallHandler(handler, model.writer(), event);
      model.writer().AfterHandler();
      if (!model.in_transaction()) {
        return Fail(ErrorCode::kInvalidArgument, "projection " + worker.projection.name + ": the handler of " +
                                                     std::string(event.type) +
                                                     " ended the batch's transaction (handlers must not begin, "
                                                     "commit or roll back)");
      }
      if (!failure) {
        if (auto ok = model.ReleaseSavepoint(); !ok) return Fail(ok.error());
        return Applied::kApplied;
      }
      if (auto ok = model.RollbackToSavepoint(); !ok) return Fail(ok.error());
      worker.SetLastError(DescribeFailure(event, *failure));
      if (attempt >= max_attempts) {
        if (worker.projection.on_failure == OnHandlerFailure::kStop) return Applied::kFailed;
        if (auto ok = model.Park(event, *failure, attempt); !ok) return Fail(ok.error());
        return Applied::kParked;
      }
      if (worker.WaitOrStop(backoff)) return Applied::kInterrupted;
      backoff = std::min(backoff * 2, std::max(retry.max_backoff, retry.initial_backoff));
    }
  }

  // Refreshes the status after a batch (or an idle wait): head, lag, rate;
  // calls on_batch after a commit. Returns the head, when the source gave it.
  std::optional<std::uint64_t> Observe(Worker& worker, const Model& model, bool rebuilding, bool committed) {
    std::optional<std::uint64_t> head;
    if (auto got = source_->HeadPosition()) head = *got;
    const std::uint64_t position = model.position;
    std::optional<double> age;
    if (head && *head > position) {
      // The age of the oldest event not yet processed.
      auto next = source_->ReadEvent(position + 1);
      if (next && *next) age = std::max(0.0, static_cast<double>(NowMicros() - (*next)->recorded_at_us) / 1e6);
    }
    ProjectionStatus copy;
    {
      std::lock_guard lock(worker.status_mutex);
      auto& status = worker.status;
      const std::uint64_t previous = rebuilding ? status.rebuild_position : status.position;
      if (rebuilding) {
        status.rebuild_position = position;
      } else {
        status.position = position;
        status.version = model.version;
      }
      if (head) {
        status.head_position = *head;
        status.lag_events = *head > position ? *head - position : 0;
        status.lag_seconds = status.lag_events == 0 ? 0.0 : age.value_or(status.lag_seconds);
      }
      worker.processed += position > previous ? position - previous : 0;
      const auto now = Clock::now();
      // One sample per 100 ms at most (the newest is updated in between).
      if (worker.rate_samples.size() > 1 && now - worker.rate_samples.back().first < milliseconds(100)) {
        worker.rate_samples.back() = {now, worker.processed};
      } else {
        worker.rate_samples.emplace_back(now, worker.processed);
      }
      while (worker.rate_samples.size() > 2 && worker.rate_samples[1].first <= now - kRateWindow) {
        worker.rate_samples.pop_front();
      }
      const auto& [since, base] = worker.rate_samples.front();
      const double seconds = std::chrono::duration<double>(now - since).count();
      status.events_per_second = seconds > 0 ? static_cast<double>(worker.processed - base) / seconds : 0.0;
      copy = status;
    }
    if (committed && options_.on_batch) {
      try {
        options_.on_batch(copy);
      } catch (...) {  // a callback's exception must not end the projection's thread
      }
    }
    return head;
  }

  const std::unique_ptr<EventSource> source_;
  const std::string path_;
  RunnerOptions options_;

  std::mutex mutex_;             // guards what follows
  std::condition_variable idle_;  // active_ dropped to 0
  SqliteHandle admin_;           // Add's checks, RequestRebuild, RetryParked
  const std::string id_;         // the read model's id, which its shadows carry
  std::vector<std::unique_ptr<Worker>> workers_;
  std::size_t active_ = 0;  // threads running
};

Result<RetryParkedReport> RunnerImpl::RetryParked(std::string_view name) {
  std::lock_guard lock(mutex_);
  if (active_ > 0) return Fail(ErrorCode::kInvalidArgument, "parked events are retried while the runner is not running");
  Worker* worker = Find(name);
  if (worker == nullptr) return Fail(ErrorCode::kNotFound, "no projection " + std::string(name) + " was added");
  const Projection& projection = worker->projection;
  auto opened = Model::Open(path_, OpenMode::kDurable, projection.name);
  if (!opened) return Fail(opened.error());
  Model& model = **opened;

  struct Parked {
    std::uint64_t position;
  };
  std::vector<Parked> parked;
  {
    auto query = Statement::Prepare(model.db(), "SELECT position FROM cairn_parked WHERE projection = ?1 ORDER BY position");
    if (!query) return Fail(query.error());
    query->Bind(1, name);
    for (;;) {
      auto row = query->Step("reading parked events");
      if (!row) return Fail(row.error());
      if (!*row) break;
      parked.push_back({query->Uint(0)});
    }
  }
  RetryParkedReport report;
  if (parked.empty()) return report;
  auto loaded = LoadProjectionRow(model.db(), projection.name);
  if (!loaded) return Fail(loaded.error());
  if (!*loaded || (*loaded)->version != projection.version) {
    return Fail(ErrorCode::kInvalidArgument,
                "the read model holds version " + std::to_string(*loaded ? (*loaded)->version : 0) + " of projection " +
                    projection.name + ", not version " + std::to_string(projection.version) +
                    ": run it first (its rebuild replaces the parked events)");
  }
  model.version = (*loaded)->version;
  model.position = (*loaded)->position;
  const std::string state = (*loaded)->state;

  auto remove = Statement::Prepare(model.db(), "DELETE FROM cairn_parked WHERE projection = ?1 AND position = ?2");
  auto update = Statement::Prepare(
      model.db(), "UPDATE cairn_parked SET error = ?3, attempts = attempts + 1 WHERE projection = ?1 AND position = ?2");
  if (!remove || !update) return Fail(!remove ? remove.error() : update.error());
  for (const auto& [position] : parked) {
    ++report.retried;
    auto event = source_->ReadEvent(position);
    if (!event) return Fail(event.error());
    if (auto ok = model.Begin(); !ok) return Fail(ok.error());
    std::optional<std::string> failure;
    if (!*event) {
      failure = "the source has no event at position " + std::to_string(position);
    } else {
      const EventView view = (*event)->view();
      auto handler = projection.handlers.find(view.type);
      // An event the projection no longer handles has nothing left to apply.
      if (projection.filter.Matches(view) && handler != projection.handlers.end()) {
        if (auto ok = model.Savepoint(); !ok) return Fail(ok.error());
        failure = CallHandler(handler->second, model.writer(), view);
        model.writer().AfterHandler();
        if (!model.in_transaction()) {
          return Fail(ErrorCode::kInvalidArgument, "projection " + projection.name +
                                                       ": a handler ended the retry's transaction");
        }
        auto undone = failure ? model.RollbackToSavepoint() : model.ReleaseSavepoint();
        if (!undone) {
          model.Rollback();
          return Fail(undone.error());
        }
        if (failure) worker->SetLastError(DescribeFailure(view, *failure));
      }
    }
    Statement& statement = failure ? *update : *remove;
    statement.Bind(1, name).Bind(2, position);
    if (failure) statement.Bind(3, *failure);
    if (auto ok = statement.Run("updating cairn_parked"); !ok) {
      model.Rollback();
      return Fail(ok.error());
    }
    if (auto ok = model.Commit(model.position, state, worker->LastError()); !ok) return Fail(ok.error());
    ++(failure ? report.failed : report.succeeded);
  }
  auto count = CountParked(model.db(), projection.name);
  if (count) {
    {
      std::lock_guard status_lock(worker->status_mutex);
      worker->status.parked = *count;
    }
    // Every parked event applied: the failure they recorded is no longer current.
    if (*count == 0 && report.succeeded > 0) {
      worker->SetLastError("");
      if (auto ok = model.WriteState(state, ""); !ok) return Fail(ok.error());
    }
  }
  return report;
}

}  // namespace

Result<std::unique_ptr<ProjectionRunner>> ProjectionRunner::Open(std::unique_ptr<EventSource> source,
                                                                 std::string read_model_path, RunnerOptions options) {
  if (!source) return Fail(ErrorCode::kInvalidArgument, "no event source");
  auto checked = CheckReadModelFile(read_model_path);
  if (!checked && checked.error().code() == ErrorCode::kNotFound) {
    if (auto ok = CreateReadModelFile(read_model_path); !ok) return Fail(ok.error());
    checked = CheckReadModelFile(read_model_path);
  }
  if (!checked) return Fail(checked.error());
  auto db = OpenConnection(read_model_path, OpenMode::kDurable);
  if (!db) return Fail(db.error());
  auto id = ReadModelId(db->get(), read_model_path);
  if (!id) return Fail(id.error());
  return std::unique_ptr<ProjectionRunner>(std::make_unique<RunnerImpl>(
      std::move(source), std::move(read_model_path), std::move(options), std::move(*db), std::move(*id)));
}

}  // namespace cairn
