// Opens (creating) a store, appends one event and reads it back, then loads
// and saves an aggregate through a snapshot.
// Prints "<position> <stream> <revision> <type> <data>" and
// "counter <value> at <revision> from snapshot <revision>".
#include <cairn/snapshot.h>
#include <cairn/store.h>
#include <cairn/upcast.h>

#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Counts its stream's events.
struct Counter {
  using State = std::uint64_t;
  static constexpr std::uint32_t kSchemaVersion = 1;
  static State Initial() { return 0; }
  static void Apply(State& state, const cairn::EventView&) { ++state; }
  static std::string Encode(const State& state) { return std::to_string(state); }
  static std::optional<State> Decode(std::string_view bytes) { return std::stoull(std::string(bytes)); }
};

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: cairn_consumer <store path>\n";
    return 64;
  }
  auto store = cairn::EventStore::Open(argv[1], {.create_if_missing = true});
  if (!store) {
    std::cerr << store.error().ToString() << "\n";
    return 1;
  }
  std::vector<cairn::EventData> events{{.type = "order.placed.v1", .data = R"({"total":42})"}};
  auto appended = (*store)->Append("order-42", cairn::ExpectedRevision::NoStream(), events);
  if (!appended) {
    std::cerr << appended.error().ToString() << "\n";
    return 1;
  }
  auto read = (*store)->ReadStream("order-42", {}, [](const cairn::EventView& event) {
    std::cout << event.position << " " << event.stream << " " << event.revision << " " << event.type << " "
              << event.data << "\n";
    return true;
  });
  if (!read || *read != 1) {
    std::cerr << (read ? "expected one event" : read.error().ToString()) << "\n";
    return 1;
  }
  // The schema module: the event read back as version 2 through a declared upcaster.
  auto upcasters = cairn::ParseUpcasters(
      R"({"upcasters": [{"type": "order.placed", "from": 1, "steps": [{"rename": {"from": "total", "to": "sum"}}]}]})",
      "consumer.json");
  std::string upcast;
  if (upcasters) {
    cairn::UpcastedEvent out;
    (void)(*store)->ReadStream("order-42", {}, [&](const cairn::EventView& event) {
      auto changed = upcasters->Apply(event, out);
      if (changed && *changed) upcast = std::string(out.view().type) + " " + std::string(out.view().data);
      return true;
    });
  }
  if (upcast != R"(order.placed.v2 {"sum":42})") {
    std::cerr << "upcasting failed: " << (upcasters ? upcast : upcasters.error().ToString()) << "\n";
    return 1;
  }

  {
    cairn::Repository<Counter> counters(**store, cairn::SnapshotPolicy::EveryEvents(2));
    auto counter = counters.Load("counter-1");
    if (!counter || !counters.Save(*counter, {{.type = "counter.ticked.v1", .data = "{}"}, {.type = "counter.ticked.v1", .data = "{}"}})) {
      std::cerr << "cannot save counter-1\n";
      return 1;
    }
  }  // the repository writes its queued snapshot as it goes
  cairn::Repository<Counter> counters(**store);
  auto counter = counters.Load("counter-1");
  if (!counter || !counter->snapshot_revision) {
    std::cerr << "counter-1 did not load from a snapshot\n";
    return 1;
  }
  std::cout << "counter " << counter->state << " at " << *counter->revision << " from snapshot "
            << *counter->snapshot_revision << "\n";
  return 0;
}
