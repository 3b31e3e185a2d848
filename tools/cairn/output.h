// What the CLI prints: events and result records, as JSON Lines (one object
// per line, for machines) or aligned tables (for people), on stdout.
//
//   EventPrinter printer(OutputFormat::kJsonLines);
//   store->ReadStream("order-42", {}, [&](const EventView& e) { printer.Print(e); return true; });
//   printer.Finish();
//
//   Record().Add("ok", true).Add("events", 12).Print(OutputFormat::kJsonLines);  // {"ok":true,"events":12}
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/event.h"
#include "cli.h"

namespace cairn::cli {


// Standard base64 (RFC 4648 §4, with padding).
std::string Base64Encode(std::string_view bytes);
// Decodes standard base64 with padding; fails on anything else (spaces included).
std::expected<std::string, std::string> Base64Decode(std::string_view text);

// Prints events. JSON Lines: one object per event with position, stream,
// revision, id, type, recorded_at, content_type, data (the JSON value itself for
// a JSON content type, else base64), metadata (object or null) and hash.
// Table: position, stream, revision, type, recorded_at and truncated data, in
// columns sized by the first rows printed.
//
// Output is buffered by stdio; Flush() pushes it out (call it once per batch
// when following, so a reader at the other end of a pipe sees events promptly).
class EventPrinter {
 public:
  explicit EventPrinter(OutputFormat format) : format_(format) {}
  void Print(const EventView& event);
  void Flush();
  // Flushes, and prints a table's header even when no event was printed.
  void Finish();

 private:
  static constexpr std::size_t kColumns = 6;
  using Row = std::array<std::string, kColumns>;
  void PrintJson(const EventView& event);
  void PrintTableRows();

  OutputFormat format_;
  std::string line_;
  std::vector<Row> pending_rows_;
  std::array<std::size_t, kColumns> widths_{};
  bool header_printed_ = false;
};

// A column of a table for people (FormatTable).
struct TableColumn {
  std::string_view header;
  bool right_aligned = false;
  std::size_t max_width = 60;  // longer cells are cut, ending in "…"
};

// A table for people: a header line, then one line per row (a row has a cell
// per column). Each column is as wide as its widest cell, up to its max_width,
// and never narrower than its header; the last column is not padded. Control
// characters in cells become spaces.
std::string FormatTable(std::span<const TableColumn> columns, std::span<const std::vector<std::string>> rows);

// An ordered list of named values printed as one JSON object line, or as a
// two-column "key  value" table.
class Record {
 public:
  Record& Add(std::string_view key, std::uint64_t value);
  Record& Add(std::string_view key, bool value);
  Record& Add(std::string_view key, std::string_view value);
  Record& Add(std::string_view key, const char* value) { return Add(key, std::string_view(value)); }
  Record& AddNull(std::string_view key);
  // A JSON value given as its (valid, compact) text; a table shows the text.
  Record& AddJson(std::string_view key, std::string_view json);
  // A real number with at most `decimals` decimals, trailing zeros dropped
  // (1.5, 0, 2048.125); a NaN or an infinity is null.
  Record& AddReal(std::string_view key, double value, int decimals = 3);

  // Writes to stdout (not flushed).
  void Print(OutputFormat format) const;
  std::string ToJson() const;

 private:
  struct Field {
    std::string key;
    std::string json;     // the value as JSON text
    std::string display;  // the value for a table
  };
  std::vector<Field> fields_;
};

}  // namespace cairn::cli
