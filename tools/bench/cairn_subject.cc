// The cairn side of the benchmark: the public EventStore API, used the way a
// service would use it (ExpectedRevision::Any, library-generated event ids,
// visitors that look at every event).
#include <string>
#include <utility>

#include "cairn/store.h"
#include "subject.h"

namespace cairn::bench {
namespace {

// Counts what a visitor sees; shared by stream reads and log scans so both
// touch events identically.
EventVisitor TallyInto(ReadTally& tally) {
  return [&tally](const EventView& event) {
    ++tally.events;
    tally.bytes += event.stream.size() + event.type.size() + event.data.size() + event.metadata.size();
    return true;
  };
}

class CairnAppender final : public Appender {
 public:
  CairnAppender(EventStore& store, std::size_t batch_size) : store_(store) {
    events_.reserve(batch_size);
    // No ids: the store generates a fresh UUIDv7 per event on every Append, as it
    // would for a service that does not pick its own.
    for (Payload& payload : MakePayloads(batch_size)) {
      events_.push_back(EventData{.id = std::nullopt,
                                  .type = std::move(payload.type),
                                  .data = std::move(payload.data),
                                  .metadata = std::move(payload.metadata)});
    }
  }

  Status Append(std::string_view stream) override {
    Result<AppendResult> appended = store_.Append(stream, ExpectedRevision::Any(), events_);
    if (!appended) return std::unexpected(std::move(appended.error()));
    return {};
  }

 private:
  EventStore& store_;
  std::vector<EventData> events_;
};

class CairnReader final : public Reader {
 public:
  explicit CairnReader(EventStore& store) : store_(store) {}

  Result<ReadTally> ReadStream(std::string_view stream) override {
    ReadTally tally;
    Result<std::uint64_t> read = store_.ReadStream(stream, ReadStreamOptions{}, TallyInto(tally));
    if (!read) return std::unexpected(std::move(read.error()));
    return tally;
  }

  Result<ReadTally> ScanLog() override {
    ReadTally tally;
    Result<std::uint64_t> read = store_.ReadLog(ReadLogOptions{}, TallyInto(tally));
    if (!read) return std::unexpected(std::move(read.error()));
    return tally;
  }

 private:
  EventStore& store_;
};

class CairnSubject final : public Subject {
 public:
  CairnSubject(std::unique_ptr<EventStore> store, std::string name)
      : store_(std::move(store)), name_(std::move(name)) {}

  std::string_view name() const override { return name_; }

  Result<std::unique_ptr<Appender>> NewAppender(std::size_t batch_size) override {
    return std::make_unique<CairnAppender>(*store_, batch_size);
  }

  // The store is thread-safe and manages its own read connections, so a reader
  // is just a view of it.
  Result<std::unique_ptr<Reader>> NewReader() override { return std::make_unique<CairnReader>(*store_); }

  Result<std::uint64_t> CountEvents() override { return store_->HeadPosition(); }

 private:
  std::unique_ptr<EventStore> store_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<Subject>> OpenCairnSubject(const std::string& path, Durability durability,
                                                  BackendKind backend, std::string name) {
  // The backend is named, not defaulted: each comparison says which backend it
  // measures, whatever the default becomes.
  if (backend == BackendKind::kAuto) return Fail(ErrorCode::kInvalidArgument, "cairn_bench: name the backend");
  Result<std::unique_ptr<EventStore>> store =
      EventStore::Open(path, Options{.backend = backend,
                                     .create_if_missing = true,
                                     .durability = durability,
                                     .lmdb_initial_map_bytes = std::size_t{16} << 30});
  if (!store) return std::unexpected(std::move(store.error()));
  return std::make_unique<CairnSubject>(std::move(*store), std::move(name));
}

}  // namespace cairn::bench
