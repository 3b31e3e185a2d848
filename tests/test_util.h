// tests/test_util.h — helpers shared by cairn's test suites.
//
//   cairn_test::TempDir dir;                       // removed with its contents at scope exit
//   auto appended = store->Append(...);
//   CAIRN_REQUIRE_OK(appended);                    // prints the cairn::Error on failure
//   CAIRN_REQUIRE_ERROR(store->Append(...), cairn::ErrorCode::kConflict);
//   cairn_test::ChildProcess child({helper, "mode", "arg"});   // stdout piped to us
//
// Catch2 v2 assertions are not thread-safe: worker threads in tests record what
// they saw and the test thread asserts afterwards.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"

extern char** environ;

namespace Catch {
template <>
struct StringMaker<cairn::ErrorCode> {
  static std::string convert(cairn::ErrorCode code) {
    return std::string(cairn::ErrorCodeName(code)) + "(" + std::to_string(static_cast<int>(code)) + ")";
  }
};
template <>
struct StringMaker<cairn::EventId> {
  static std::string convert(const cairn::EventId& id) { return id.ToString(); }
};
}  // namespace Catch

namespace cairn_test {

// "ok" or the error's ToString(), for failure messages.
template <class T>
std::string Describe(const cairn::Result<T>& result) {
  return result.has_value() ? std::string("ok") : result.error().ToString();
}

// A fresh directory under the system temp dir, removed with its contents on
// destruction (kept when CAIRN_KEEP_TEST_DIRS is set, for post-mortems).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cairn-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    }
    path_ = pattern;
  }
  ~TempDir() {
    if (std::getenv("CAIRN_KEEP_TEST_DIRS") != nullptr) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside this directory (not created).
  std::string File(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFileBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// The names of the entries of `dir`, sorted.
inline std::vector<std::string> ListDir(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A child process started with posix_spawn (safe in a multi-threaded parent),
// its stdout connected to a pipe that we read; stderr is inherited. The
// destructor kills (SIGKILL) and reaps a child that is still running.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
    }
    fd_ = fds[0];
  }
  ~ChildProcess() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // The next complete line of the child's stdout (without '\n'); nullopt on
  // end of file or when `timeout` passes first.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto line = TakeLine()) return line;
      if (eof_) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      Fill(left);
    }
  }

  // Reads whatever the child writes during `duration` into the buffer (so that a
  // chatty child never blocks on a full pipe).
  void DrainFor(std::chrono::milliseconds duration) {
    const auto deadline = std::chrono::steady_clock::now() + duration;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      if (eof_) {
        std::this_thread::sleep_for(left);
        return;
      }
      Fill(left);
    }
  }

  // Every complete line still unread, up to end of file (the child must exit or be killed).
  std::vector<std::string> ReadRemainingLines() {
    while (!eof_) Fill(std::chrono::milliseconds(-1));
    std::vector<std::string> lines;
    while (auto line = TakeLine()) lines.push_back(std::move(*line));
    return lines;  // a final line without '\n' (a torn write) is dropped
  }

  void Kill(int signal) { ::kill(pid_, signal); }

  // Waits for the child to end; returns the raw waitpid status.
  int Wait() {
    int status = 0;
    if (!reaped_) {
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      status_ = status;
    }
    return status_;
  }

  // True when the child exited normally with code 0.
  bool WaitSucceeded() {
    const int status = Wait();
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  std::optional<std::string> TakeLine() {
    const auto newline = buffer_.find('\n');
    if (newline == std::string::npos) return std::nullopt;
    std::string line = buffer_.substr(0, newline);
    buffer_.erase(0, newline + 1);
    return line;
  }

  // Waits up to `timeout` (forever when negative) for data and appends it to the buffer.
  void Fill(std::chrono::milliseconds timeout) {
    pollfd pfd{.fd = fd_, .events = POLLIN, .revents = 0};
    const int ready = ::poll(&pfd, 1, timeout.count() < 0 ? -1 : static_cast<int>(timeout.count()));
    if (ready <= 0) return;
    char chunk[65536];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      eof_ = true;
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool eof_ = false;
  bool reaped_ = false;
  int status_ = 0;
  std::string buffer_;
};

}  // namespace cairn_test

// Requires a cairn::Result / cairn::Status to hold a value; on failure prints the error.
#define CAIRN_REQUIRE_OK(result)                                        \
  do {                                                                  \
    const auto& cairn_result_ = (result);                               \
    INFO("result: " << ::cairn_test::Describe(cairn_result_));          \
    REQUIRE(cairn_result_.has_value());                                 \
  } while (false)

#define CAIRN_CHECK_OK(result)                                          \
  do {                                                                  \
    const auto& cairn_result_ = (result);                               \
    INFO("result: " << ::cairn_test::Describe(cairn_result_));          \
    CHECK(cairn_result_.has_value());                                   \
  } while (false)

// Requires a cairn::Result / cairn::Status to hold an error with `expected_code`.
#define CAIRN_REQUIRE_ERROR(result, expected_code)                      \
  do {                                                                  \
    const auto& cairn_result_ = (result);                               \
    INFO("result: " << ::cairn_test::Describe(cairn_result_));          \
    REQUIRE_FALSE(cairn_result_.has_value());                           \
    REQUIRE(cairn_result_.error().code() == (expected_code));           \
  } while (false)

#define CAIRN_CHECK_ERROR(result, expected_code)                        \
  do {                                                                  \
    const auto& cairn_result_ = (result);                               \
    INFO("result: " << ::cairn_test::Describe(cairn_result_));          \
    CHECK_FALSE(cairn_result_.has_value());                             \
    if (!cairn_result_.has_value()) {                                   \
      CHECK(cairn_result_.error().code() == (expected_code));           \
    }                                                                   \
  } while (false)
