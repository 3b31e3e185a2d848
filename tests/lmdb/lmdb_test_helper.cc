// cairn_lmdb_test_helper — the other process of the LMDB tests. Public API only;
// one line per fact on stdout, each written with one write(2).
//
//   cairn_lmdb_test_helper hold-read <path>
//       "reading" from inside a ReadLog visitor, which then sleeps (holding its
//       read transaction and reader slot) until the process is killed.
//   cairn_lmdb_test_helper grow <path> <events> <bytes>
//       appends <events> events of <bytes> bytes of data, then "done <map_bytes>".
//   cairn_lmdb_test_helper append-limited <path> <file_size_limit> <bytes>
//       with RLIMIT_FSIZE at <file_size_limit> (as if the disk were full), appends
//       one event of <bytes> bytes and prints "ok" or "error <code name>".
//   cairn_lmdb_test_helper save-snapshot <path> <stream> <revision> <state>
//       saves a snapshot of <stream> (which must exist) at <revision> with the
//       bytes of <state>, then prints "saved" or "error <code name>".
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cairn/store.h"

namespace {

void WriteLine(const std::string& line) {
  const std::string text = line + "\n";
  if (::write(STDOUT_FILENO, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::_Exit(5);
}

std::unique_ptr<cairn::EventStore> OpenOrDie(const std::string& path) {
  cairn::Options options;
  options.backend = cairn::BackendKind::kLmdb;
  auto store = cairn::EventStore::Open(path, options);
  if (!store) {
    std::cerr << "lmdb_test_helper: open: " << store.error().ToString() << "\n";
    std::exit(2);
  }
  return std::move(*store);
}

cairn::EventData Blob(std::size_t bytes) {
  cairn::EventData event;
  event.type = "blob.v1";
  event.content_type = std::string(cairn::kContentTypeOctets);
  event.data.assign(bytes, 'b');
  return event;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "hold-read") {
    auto store = OpenOrDie(args[1]);
    auto read = store->ReadLog({}, [](const cairn::EventView&) {
      WriteLine("reading");
      std::this_thread::sleep_for(std::chrono::seconds(60));  // killed long before
      return false;
    });
    return read ? 0 : 2;
  }
  if (args.size() == 4 && args[0] == "grow") {
    auto store = OpenOrDie(args[1]);
    const int events = std::stoi(args[2]);
    const std::size_t bytes = std::stoul(args[3]);
    for (int i = 0; i < events; ++i) {
      auto appended = store->Append("grow-" + std::to_string(i % 7), cairn::ExpectedRevision::Any(), {Blob(bytes)});
      if (!appended) {
        std::cerr << "lmdb_test_helper: append: " << appended.error().ToString() << "\n";
        return 2;
      }
    }
    auto stats = store->Stats();
    if (!stats) return 2;
    WriteLine("done " + std::to_string(stats->map_bytes));
    return 0;
  }
  if (args.size() == 4 && args[0] == "append-limited") {
    auto store = OpenOrDie(args[1]);
    ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG, like ENOSPC
    rlimit limit{.rlim_cur = std::stoul(args[2]), .rlim_max = RLIM_INFINITY};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
    auto appended = store->Append("limited-1", cairn::ExpectedRevision::Any(), {Blob(std::stoul(args[3]))});
    WriteLine(appended ? "ok"
                       : "error " + std::string(cairn::ErrorCodeName(appended.error().code())) + " " +
                             appended.error().message());
    return 0;
  }
  if (args.size() == 5 && args[0] == "save-snapshot") {
    auto store = OpenOrDie(args[1]);
    cairn::SnapshotData snapshot;
    snapshot.stream = args[2];
    snapshot.revision = std::stoull(args[3]);
    snapshot.schema_version = 1;
    snapshot.state = args[4];
    auto saved = store->SaveSnapshot(snapshot);
    WriteLine(saved ? "saved" : "error " + std::string(cairn::ErrorCodeName(saved.error().code())));
    return 0;
  }
  std::cerr << "usage: cairn_lmdb_test_helper hold-read|grow|append-limited|save-snapshot ... "
               "(see lmdb_test_helper.cc)\n";
  return 64;
}
