// cairn_projections_helper — the child process of the kill -9 tests. It runs
// the counters projection (counters_projection.h) from a store into a read
// model until it is killed; lines on stdout are written with one write(2).
//
//   cairn_projections_helper run <backend> <store> <read_model> <version> <seed> <handler_delay_us>
//       "ready" once the runner has started, then runs live until killed
//       (exit 4 after 60 s, so that a lost parent does not leave it behind).
//
// <backend> is the numeric value of cairn::BackendKind. Exit code 2 on any
// error (the projection failing included), with the error on stderr.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cairn/projection.h"
#include "counters_projection.h"

namespace {

void WriteAll(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) std::_Exit(5);
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void Die(const std::string& what, const cairn::Error& error) {
  std::cerr << "projections_helper: " << what << ": " << error.ToString() << std::endl;
  std::exit(2);
}

int Run(int backend, const std::string& store_path, const std::string& model_path, std::uint32_t version,
        unsigned seed, int handler_delay_us) {
  cairn::Options options;
  options.backend = static_cast<cairn::BackendKind>(backend);
  auto store = cairn::EventStore::Open(store_path, options);
  if (!store) Die("open " + store_path, store.error());
  std::mt19937 rng(seed);
  // Small, varied batches: many commits, so that kills land between and inside them.
  cairn::RunnerOptions runner_options{.max_batch_events = 1 + rng() % 24,
                                      .max_batch_delay = std::chrono::milliseconds(1 + rng() % 5)};
  auto runner = cairn::ProjectionRunner::Open(cairn::StoreSource(**store), model_path, runner_options);
  if (!runner) Die("open " + model_path, runner.error());
  if (auto ok = (*runner)->Add(cairn_test::CountersProjection(version, std::chrono::microseconds(handler_delay_us)));
      !ok) {
    Die("add", ok.error());
  }
  if (auto ok = (*runner)->Start(); !ok) Die("start", ok.error());
  WriteAll("ready\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& status : (*runner)->Statuses()) {
      if (status.state == cairn::ProjectionState::kFailed || status.parked > 0) {
        std::cerr << "projections_helper: projection " << status.name << " "
                  << cairn::ProjectionStateName(status.state) << ", " << status.parked
                  << " parked: " << status.last_error << std::endl;
        std::_Exit(2);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return 4;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 7 && args[0] == "run") {
    return Run(std::stoi(args[1]), args[2], args[3], static_cast<std::uint32_t>(std::stoul(args[4])),
               static_cast<unsigned>(std::stoul(args[5])), std::stoi(args[6]));
  }
  std::cerr << "usage: cairn_projections_helper run <backend> <store> <read_model> <version> <seed> <delay_us>\n";
  return 64;
}
