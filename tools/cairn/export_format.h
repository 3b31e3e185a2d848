// The line format of `cairn export` / `cairn import` (docs/cli.md, "Export format").
//
// An export is a header line, then one JSON object per event, in position order:
//   {"cairn_export":1,"from":1,"to":2}
//   {"position":1,"stream":"order-1","revision":0,"id":"…","type":"order.placed.v1",
//    "recorded_at_us":1795441501123456,"recorded_at":"2026-11-23T13:45:01.123456Z",
//    "content_type":"application/json","data":"{\"total\": 42}","metadata":"","hash":"…"}
// Every byte string (stream, type, content_type, data, metadata) is a JSON
// string holding its exact bytes when they are valid UTF-8, else
// "<field>_base64" with standard base64. A JSON *string* of the raw text is
// what keeps pretty-printed JSON, "1.10" or "\u00e9" byte-exact; the writer's
// escapes (\" \\ \n \u0000 …) decode back to the very same bytes.
//
//   ExportLineWriter writer;
//   std::string_view line = writer.Line(event);      // '\n' included
//   cairn::RecordedEvent parsed;
//   auto ok = ParseExportLine(line, parsed);          // ok.error(): what is wrong, naming the key
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "cairn/event.h"

namespace cairn::cli {

// The header's "cairn_export" value. A format an older cairn could misread gets a new one.
inline constexpr std::uint64_t kExportFormatVersion = 1;

// The header: the file holds every position from..to (to == from - 1: none).
struct ExportHeader {
  std::uint64_t from = 1;
  std::uint64_t to = 0;
};

// {"cairn_export":1,"from":F,"to":T} and '\n'.
std::string FormatExportHeader(const ExportHeader& header);
// Parses a header line (without its '\n'); refuses other versions and unknown keys.
std::expected<ExportHeader, std::string> ParseExportHeader(std::string_view line);

// Formats event lines, reusing one buffer.
class ExportLineWriter {
 public:
  // The export line of `event`, '\n' included; valid until the next call.
  std::string_view Line(const EventView& event);

 private:
  std::string line_;
};

// Parses one event line (without its '\n') into `event`, reusing its buffers.
// Strict: every key once, no unknown key, integers as integers, "recorded_at"
// equal to what "recorded_at_us" says. The hash is parsed, not checked: the
// chain is the store's to verify (EventStore::Import).
std::expected<void, std::string> ParseExportLine(std::string_view line, RecordedEvent& event);

}  // namespace cairn::cli
