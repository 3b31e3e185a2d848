// `cairn append`: one event from flags, or --batch: one event per JSON line on stdin.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <set>
#include <span>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "json_text.h"

namespace cairn::cli {
namespace {

// Batch lines the CLI cannot understand exit with 2, like a bad command line.
std::unexpected<Failure> MalformedLine(std::string message) {
  return std::unexpected<Failure>(Failure{kExitUsage, std::move(message), "malformed line"});
}

Failure AppendFailure(std::string_view stream, const Error& error) {
  if (error.code() == ErrorCode::kStreamDeleted) {
    return Failure{kExitError,
                   fmt::format("cannot append to {}: the stream is deleted, and a deleted stream never takes "
                               "new events",
                               stream),
                   ErrorCodeName(error.code())};
  }
  return StoreFailure(error, fmt::format("cannot append to {}", stream));
}

CliResult<std::string> ReadAll(std::FILE* file, std::string_view what) {
  std::string bytes;
  char chunk[1 << 16];
  std::size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) bytes.append(chunk, got);
  if (std::ferror(file)) return Fail(Failure{kExitError, fmt::format("cannot read {}: {}", what, std::strerror(errno))});
  return bytes;
}

// --data: "-" is stdin, "@FILE" is that file's bytes, anything else is the data itself.
CliResult<std::string> LoadData(const std::string& argument) {
  if (argument == "-") return ReadAll(stdin, "--data from stdin");
  if (!argument.starts_with('@')) return argument;
  const std::string path = argument.substr(1);
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return Fail(Failure{kExitError, fmt::format("--data: cannot open {}: {}", path, std::strerror(errno))});
  }
  auto bytes = ReadAll(file, path);
  std::fclose(file);
  return bytes;
}

CliStatus AppendOne(const GlobalOptions& global, const AppendCommand& command) {
  if (command.stream.empty()) return UsageError("append needs a STREAM (or --batch to read events from stdin)");
  if (command.type.empty()) return UsageError("append needs --type");
  auto expected = ExpectedRevision::Parse(command.expect);
  if (!expected) return UsageError("--expect: " + expected.error().message());

  EventData event;
  event.type = command.type;
  event.content_type = command.content_type;
  if (command.id) {
    auto id = EventId::Parse(*command.id);
    if (!id) return UsageError("--id: " + id.error().message());
    event.id = *id;
  }
  const bool json = IsJsonContentType(command.content_type);
  if (command.data) {
    auto data = LoadData(*command.data);
    if (!data) return Fail(data.error());
    event.data = std::move(*data);
  } else {
    event.data = json ? "{}" : "";
  }
  // Checked here too (the store checks again) so the message can name the flag.
  if (json) {
    if (auto ok = CheckJson(event.data); !ok) {
      return UsageError(fmt::format("--data is {} ({} data must be JSON; use --content-type for other bytes)",
                                    ok.error(), command.content_type));
    }
  }
  if (command.metadata) {
    if (auto ok = CheckJsonObject(*command.metadata); !ok) {
      return UsageError(fmt::format("--metadata must be a JSON object: {}", ok.error()));
    }
    event.metadata = *command.metadata;
  }

  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  auto result = (*store)->Append(command.stream, *expected, std::span<const EventData>(&event, 1));
  if (!result) return Fail(AppendFailure(command.stream, result.error()));
  Record record;
  AddAppendResult(record, command.stream, *result);
  record.Print(global.format);
  return {};
}

struct BatchEvent {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  EventData event;
};

CliResult<std::string> StringMember(const JsonMember& member) {
  auto value = JsonStringValue(member.value);
  if (!value) return MalformedLine(fmt::format("\"{}\" must be a string", member.name));
  return std::move(*value);
}

// One batch line -> one event. Members may come in any order; unknown ones are
// refused so that a typo ("expected") is not silently ignored.
CliResult<BatchEvent> ParseBatchLine(std::string_view line) {
  auto members = SplitJsonObject(line);
  if (!members) return MalformedLine(members.error());

  BatchEvent parsed;
  std::optional<std::string> data;
  std::set<std::string, std::less<>> seen;
  for (const JsonMember& member : *members) {
    if (!seen.insert(member.name).second) return MalformedLine(fmt::format("duplicate key \"{}\"", member.name));
    const std::string& name = member.name;
    if (name == "stream" || name == "type" || name == "content_type") {
      auto value = StringMember(member);
      if (!value) return Fail(value.error());
      std::string& field = name == "stream" ? parsed.stream
                           : name == "type" ? parsed.event.type
                                            : parsed.event.content_type;
      field = std::move(*value);
    } else if (name == "data") {
      data = member.value;
    } else if (name == "metadata") {
      if (member.value == "null") continue;
      if (!member.value.starts_with('{')) return MalformedLine("\"metadata\" must be a JSON object");
      parsed.event.metadata = member.value;
    } else if (name == "id") {
      auto text = StringMember(member);
      if (!text) return Fail(text.error());
      auto id = EventId::Parse(*text);
      if (!id) return MalformedLine("\"id\": " + id.error().message());
      parsed.event.id = *id;
    } else if (name == "expect") {
      // A string ("no-stream", "3") or a plain number (3); the number's text is parsed as written.
      std::string text = member.value;
      if (text.starts_with('"')) {
        auto value = StringMember(member);
        if (!value) return Fail(value.error());
        text = std::move(*value);
      }
      auto expected = ExpectedRevision::Parse(text);
      if (!expected) return MalformedLine("\"expect\": " + expected.error().message());
      parsed.expected = *expected;
    } else {
      return MalformedLine(fmt::format(
          "unknown key \"{}\" (allowed: stream, type, data, metadata, id, expect, content_type)", name));
    }
  }
  if (!seen.contains("stream")) return MalformedLine("missing \"stream\"");
  if (!seen.contains("type")) return MalformedLine("missing \"type\"");

  if (IsJsonContentType(parsed.event.content_type)) {
    parsed.event.data = data.value_or("{}");
  } else if (data) {
    auto base64 = JsonStringValue(*data);
    if (!base64) return MalformedLine("\"data\" must be a base64 string when content_type is not JSON");
    auto bytes = Base64Decode(*base64);
    if (!bytes) return MalformedLine("\"data\" is " + bytes.error());
    parsed.event.data = std::move(*bytes);
  }
  return parsed;
}

CliStatus AppendBatch(const GlobalOptions& global, const AppendCommand& command) {
  auto store = OpenExistingStore(global, /*read_only=*/false);
  if (!store) return Fail(store.error());
  if (isatty(STDIN_FILENO) == 1) {
    fmt::print(stderr, "cairn: reading events as JSON Lines from stdin (end with Ctrl-D)\n");
  }

  std::string line;
  std::uint64_t line_number = 0;
  std::uint64_t lines_done = 0;
  std::uint64_t lines_failed = 0;
  int worst = kExitOk;
  // Strictly one append per line, in input order: a line's expected revision
  // may depend on the lines before it.
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.ends_with('\r')) line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++lines_done;

    Record record;
    record.Add("line", line_number);
    CliStatus appended = [&]() -> CliStatus {
      auto parsed = ParseBatchLine(line);
      if (!parsed) return Fail(parsed.error());
      auto result = (*store)->Append(parsed->stream, parsed->expected, std::span<const EventData>(&parsed->event, 1));
      if (!result) return Fail(AppendFailure(parsed->stream, result.error()));
      AddAppendResult(record, parsed->stream, *result);
      return {};
    }();
    if (!appended) {
      Failure failure = std::move(appended.error());
      failure.message = fmt::format("line {}: {}", line_number, failure.message);
      record.Add("error", failure.kind).Add("message", failure.message);
      if (!command.keep_going) {
        record.Print(OutputFormat::kJsonLines);
        return Fail(std::move(failure));
      }
      PrintError(failure.message);
      worst = WorseExitCode(worst, failure.exit_code);
      ++lines_failed;
    }
    // Always JSON Lines, whatever --format says: one result line per input line.
    record.Print(OutputFormat::kJsonLines);
    // Whoever drives the batch through a pipe sees each result as it happens.
    std::fflush(stdout);
  }
  if (std::cin.bad()) return Fail(Failure{kExitError, fmt::format("cannot read stdin after line {}", line_number)});
  if (worst != kExitOk) {
    return Fail(Failure{worst, fmt::format("{} of {} lines failed (the others are committed)", lines_failed,
                                           lines_done)});
  }
  return {};
}

}  // namespace

CliStatus RunAppend(const GlobalOptions& global, const AppendCommand& command) {
  return command.batch ? AppendBatch(global, command) : AppendOne(global, command);
}

}  // namespace cairn::cli
