// Opens (creating) a store, appends one event and reads it back.
// Prints "<position> <stream> <revision> <type> <data>".
#include <cairn/store.h>

#include <iostream>
#include <vector>

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
  return 0;
}
