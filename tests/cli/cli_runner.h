// tests/cli/cli_runner.h — running the built `cairn` binary from Catch2 tests.
//
//   cairn_test::TempDir dir;
//   CliStore store(dir);                           // dir/events.db, created with `cairn init`
//   CliRun run = store.Run({"append", "order-1", "--type", "t.v1"});
//   REQUIRE(run.exit_code == 0);
//   auto result = ParseJsonLine(run.out);          // REQUIREs one valid JSON line
//
// Each run gets stdin from a file and writes stdout/stderr to files in the
// test's directory, so no pipe can fill up and deadlock. The child's
// environment is ours without CAIRN_STORE and CAIRN_READ_MODEL (tests stay
// hermetic) plus whatever the test adds.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"

#ifndef CAIRN_CLI_PATH
#error "CAIRN_CLI_PATH must name the cairn binary under test"
#endif

namespace cairn_test {

inline constexpr const char* kCairn = CAIRN_CLI_PATH;

struct CliRun {
  int exit_code = -1;  // the exit status, or 128 + signal number when killed by a signal
  std::string out;
  std::string err;

  // stdout split into lines (without the '\n's).
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < out.size()) {
      std::size_t end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      lines.push_back(out.substr(start, end - start));
      start = end + 1;
    }
    return lines;
  }
};

struct RunOptions {
  std::string stdin_data;
  std::vector<std::string> extra_env;  // "NAME=value"
  std::string cwd;                     // empty: the test's own working directory
};

inline RunOptions WithStdin(std::string data) {
  RunOptions options;
  options.stdin_data = std::move(data);
  return options;
}
inline RunOptions WithEnv(std::vector<std::string> entries) {
  RunOptions options;
  options.extra_env = std::move(entries);
  return options;
}
inline RunOptions InDirectory(std::string cwd) {
  RunOptions options;
  options.cwd = std::move(cwd);
  return options;
}

// Runs `cairn args...` to completion. Files for its stdio go into `dir`.
inline CliRun RunCairn(const TempDir& dir, const std::vector<std::string>& args, const RunOptions& options = {}) {
  static int counter = 0;
  const std::string stem = dir.File("run-" + std::to_string(++counter));
  WriteFileBytes(stem + ".in", options.stdin_data);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, (stem + ".in").c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (stem + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (stem + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view name(*entry);
    if (!name.starts_with("CAIRN_STORE=") && !name.starts_with("CAIRN_READ_MODEL=")) env.emplace_back(*entry);
  }
  env.insert(env.end(), options.extra_env.begin(), options.extra_env.end());
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_storage{kCairn};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, kCairn, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(std::string("posix_spawn cairn: ") + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  CliRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = ReadFileBytes(stem + ".out");
  run.err = ReadFileBytes(stem + ".err");
  return run;
}

// Parses one line of JSON Lines output; REQUIREs that it is one JSON object.
inline rapidjson::Document ParseJsonLine(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  INFO("line: " << line);
  REQUIRE(line.find('\n') == std::string_view::npos);
  rapidjson::Document document;
  document.Parse(line.data(), line.size());
  REQUIRE_FALSE(document.HasParseError());
  REQUIRE(document.IsObject());
  return document;
}

// The top-level keys of a JSON object, in order.
inline std::vector<std::string> KeysOf(const rapidjson::Value& object) {
  std::vector<std::string> keys;
  for (const auto& member : object.GetObject()) keys.emplace_back(member.name.GetString());
  return keys;
}

inline std::string Str(const rapidjson::Value& object, const char* key) {
  INFO("key: " << key);
  REQUIRE(object.HasMember(key));
  REQUIRE(object[key].IsString());
  return object[key].GetString();
}

inline std::uint64_t U64(const rapidjson::Value& object, const char* key) {
  INFO("key: " << key);
  REQUIRE(object.HasMember(key));
  REQUIRE(object[key].IsUint64());
  return object[key].GetUint64();
}

inline bool Bool(const rapidjson::Value& object, const char* key) {
  INFO("key: " << key);
  REQUIRE(object.HasMember(key));
  REQUIRE(object[key].IsBool());
  return object[key].GetBool();
}

// The global positions of each JSON line of `run`'s stdout.
inline std::vector<std::uint64_t> Positions(const CliRun& run) {
  std::vector<std::uint64_t> positions;
  for (const auto& line : run.Lines()) positions.push_back(U64(ParseJsonLine(line), "position"));
  return positions;
}

// A store in a test directory, created with `cairn init`; runs commands against it.
class CliStore {
 public:
  explicit CliStore(const TempDir& dir, std::string name = "events.db") : dir_(dir), path_(dir.File(name)) {
    CliRun init = RunCairn(dir_, {"--store", path_, "init"});
    INFO("init stderr: " << init.err);
    REQUIRE(init.exit_code == 0);
  }

  const std::string& path() const { return path_; }

  // `cairn --store PATH args...`
  CliRun Run(const std::vector<std::string>& args, const RunOptions& options = {}) const {
    std::vector<std::string> full{"--store", path_};
    full.insert(full.end(), args.begin(), args.end());
    return RunCairn(dir_, full, options);
  }

  // Appends one event and REQUIREs success; returns the result object.
  rapidjson::Document Append(const std::string& stream, const std::string& type, const std::string& data = "{}",
                             std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"append", stream, "--type", type, "--data", data};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun run = Run(args);
    INFO("append stderr: " << run.err);
    REQUIRE(run.exit_code == 0);
    return ParseJsonLine(run.out);
  }

 private:
  const TempDir& dir_;
  std::string path_;
};

}  // namespace cairn_test

// REQUIREs `run` to have exited with `code`, showing its output when it did not.
#define REQUIRE_EXIT(run, code)                                      \
  do {                                                               \
    const auto& cli_run_ = (run);                                    \
    INFO("stdout: " << cli_run_.out << "\nstderr: " << cli_run_.err); \
    REQUIRE(cli_run_.exit_code == (code));                           \
  } while (false)
