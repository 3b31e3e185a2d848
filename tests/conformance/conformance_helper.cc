// cairn_conformance_helper — the other process of the multi-process and crash
// tests. It uses only the public API and reports on stdout, one line per fact,
// each line written with a single write(2) so that a line is either wholly in
// the pipe or not at all when the process is killed.
//
//   cairn_conformance_helper subscribe <backend> <path> <count> <timeout_ms>
//       "ready", then "E <position> <revision> <id> <stream>" for each delivered
//       event, "done <n>" once <count> events were seen (exit 0; 3 on timeout).
//   cairn_conformance_helper append <backend> <path> <tag> <appends>
//       appends to "proc<tag>-own" (Exact) and "shared-1" (Any); after each
//       acknowledged append "A <stream> <first_revision> <first_position> <id>...";
//       "done" at the end.
//   cairn_conformance_helper crash <backend> <path> <seed>
//       "ready", then appends forever (until killed) with the same "A" lines.
//
// <backend> is the numeric value of cairn::BackendKind. Exit code 2 on any
// unexpected error, with the error on stderr.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cairn/store.h"

namespace {

using Clock = std::chrono::steady_clock;

void WriteAll(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) std::_Exit(5);  // the reader went away
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void Die(const std::string& what, const cairn::Error& error) {
  std::cerr << "conformance_helper: " << what << ": " << error.ToString() << std::endl;
  std::exit(2);
}

std::unique_ptr<cairn::EventStore> OpenOrDie(int backend, const std::string& path) {
  cairn::Options options;
  options.backend = static_cast<cairn::BackendKind>(backend);
  options.create_if_missing = false;
  auto store = cairn::EventStore::Open(path, options);
  if (!store) Die("open " + path, store.error());
  return std::move(*store);
}

std::string AckLine(std::string_view stream, const cairn::AppendResult& result,
                    const std::vector<cairn::EventData>& events) {
  std::string line = "A " + std::string(stream) + " " + std::to_string(result.first_revision) + " " +
                     std::to_string(result.first_position);
  for (const auto& event : events) line += " " + event.id->ToString();
  return line + "\n";
}

cairn::EventData Event(std::string type, std::size_t pad) {
  cairn::EventData event;
  event.id = cairn::EventId::NewV7();
  event.type = std::move(type);
  event.data = "{\"pad\":\"" + std::string(pad, 'p') + "\"}";
  event.metadata = R"({"source":"conformance_helper"})";
  return event;
}

int Subscribe(int backend, const std::string& path, std::size_t count, int timeout_ms) {
  auto store = OpenOrDie(backend, path);
  auto subscription = store->Subscribe({.after_position = 0});
  if (!subscription) Die("subscribe", subscription.error());
  WriteAll("ready\n");
  std::size_t seen = 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (seen < count && Clock::now() < deadline) {
    std::string lines;
    auto polled = (*subscription)->Poll(
        [&](const cairn::EventView& event) {
          lines += "E " + std::to_string(event.position) + " " + std::to_string(event.revision) + " " +
                   event.id.ToString() + " " + std::string(event.stream) + "\n";
          return true;
        },
        // A long wait: another process's commit must wake it (external_poll_interval),
        // not the end of the timeout.
        100, std::chrono::milliseconds(5000));
    if (!polled) Die("poll", polled.error());
    seen += *polled;
    if (!lines.empty()) WriteAll(lines);
  }
  WriteAll("done " + std::to_string(seen) + "\n");
  return seen == count ? 0 : 3;
}

int Append(int backend, const std::string& path, const std::string& tag, int appends) {
  auto store = OpenOrDie(backend, path);
  const std::string own = "proc" + tag + "-own";
  std::optional<std::uint64_t> own_head;
  for (int i = 0; i < appends; ++i) {
    const bool to_own = i % 2 == 0;
    const std::string stream = to_own ? own : "shared-1";
    std::vector<cairn::EventData> events;
    for (int k = 0; k <= i % 3; ++k) events.push_back(Event("proc.event.v1", static_cast<std::size_t>(i % 50)));
    const auto expected = !to_own    ? cairn::ExpectedRevision::Any()
                          : own_head ? cairn::ExpectedRevision::Exact(*own_head)
                                     : cairn::ExpectedRevision::NoStream();
    auto appended = store->Append(stream, expected, events);
    if (!appended) Die("append to " + stream, appended.error());
    if (to_own) own_head = appended->last_revision;
    WriteAll(AckLine(stream, *appended, events));
  }
  WriteAll("done\n");
  return 0;
}

int Crash(int backend, const std::string& path, unsigned seed) {
  auto store = OpenOrDie(backend, path);
  constexpr int kStreams = 4;
  std::vector<std::optional<std::uint64_t>> heads(kStreams);
  for (int s = 0; s < kStreams; ++s) {
    auto info = store->GetStreamInfo("crash-" + std::to_string(s));
    if (!info) Die("stream info", info.error());
    heads[s] = info->head_revision;
  }
  WriteAll("ready\n");
  std::mt19937 rng(seed);
  const auto deadline = Clock::now() + std::chrono::seconds(60);  // never outlive a lost parent for long
  while (Clock::now() < deadline) {
    const int s = static_cast<int>(rng() % kStreams);
    const std::string stream = "crash-" + std::to_string(s);
    static constexpr int kSizes[] = {1, 1, 1, 2, 3, 5, 8};
    const int count = kSizes[rng() % std::size(kSizes)];
    std::vector<cairn::EventData> events;
    for (int k = 0; k < count; ++k) {
      const std::size_t pad = rng() % 8 == 0 ? 20'000 + rng() % 40'000 : rng() % 300;
      events.push_back(Event("crash.event.v1", pad));
    }
    const auto expected = rng() % 5 == 0 ? cairn::ExpectedRevision::Any()
                          : heads[s]     ? cairn::ExpectedRevision::Exact(*heads[s])
                                         : cairn::ExpectedRevision::NoStream();
    auto appended = store->Append(stream, expected, events);
    if (!appended) Die("append to " + stream, appended.error());
    heads[s] = appended->last_revision;
    WriteAll(AckLine(stream, *appended, events));
  }
  return 4;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 5 && args[0] == "subscribe") {
    return Subscribe(std::stoi(args[1]), args[2], std::stoul(args[3]), std::stoi(args[4]));
  }
  if (args.size() == 5 && args[0] == "append") {
    return Append(std::stoi(args[1]), args[2], args[3], std::stoi(args[4]));
  }
  if (args.size() == 4 && args[0] == "crash") {
    return Crash(std::stoi(args[1]), args[2], static_cast<unsigned>(std::stoul(args[3])));
  }
  std::cerr << "usage: cairn_conformance_helper subscribe|append|crash ... (see conformance_helper.cc)\n";
  return 64;
}
