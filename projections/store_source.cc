// The event store as a projection source.
#include <optional>

#include "cairn/projection.h"

namespace cairn {

Result<std::unique_ptr<Subscription>> EventSource::SubscribeMatching(std::uint64_t after_position,
                                                                     const ProjectionFilter& /*filter*/) {
  return Subscribe(after_position);
}

Result<std::unique_ptr<Subscription>> EventSource::SubscribeModel(const ModelSubscriptionRequest& request) {
  return SubscribeMatching(request.after_position, *request.filter);
}

namespace {

class StoreEventSource final : public EventSource {
 public:
  explicit StoreEventSource(EventStore& store) : store_(store) {}

  Result<std::unique_ptr<Subscription>> Subscribe(std::uint64_t after_position) override {
    return store_.Subscribe({.after_position = after_position});
  }

  // The store filters by at most one category (with its category index) and a
  // list of types; a projection of several categories is filtered by the runner.
  Result<std::unique_ptr<Subscription>> SubscribeMatching(std::uint64_t after_position,
                                                          const ProjectionFilter& filter) override {
    SubscribeOptions options{.after_position = after_position};
    if (filter.categories.size() <= 1) {
      if (!filter.categories.empty()) options.filter.category = filter.categories.front();
      options.filter.types = filter.event_types;
    }
    return store_.Subscribe(options);
  }

  Result<std::uint64_t> HeadPosition() override { return store_.HeadPosition(); }

  Result<std::optional<RecordedEvent>> ReadEvent(std::uint64_t position) override {
    std::optional<RecordedEvent> found;
    if (position == 0) return found;
    auto read = store_.ReadLog({.from_position = position, .to_position = position, .max_count = 1},
                               [&](const EventView& event) {
                                 found = event.ToOwned();
                                 return false;
                               });
    if (!read) return Fail(read.error());
    return found;
  }

 private:
  EventStore& store_;
};

}  // namespace

std::unique_ptr<EventSource> StoreSource(EventStore& store) { return std::make_unique<StoreEventSource>(store); }

}  // namespace cairn
