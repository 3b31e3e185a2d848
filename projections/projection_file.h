// Internal: the strict TOML subset that SQL projection files are written in.
//
// The subset (docs/sql-projections.md): comments, bare/quoted/dotted keys,
// [tables] (quoted parts allowed), basic "..." and literal '...' strings and
// their multi-line forms, decimal integers, booleans, arrays (spanning lines,
// trailing comma allowed) and one-line inline tables. Everything else TOML has
// (floats, dates, [[arrays of tables]], hex/octal/binary integers) is refused
// with "FILE:LINE: message", as are duplicate keys and tables.
//
//   auto doc = cairn::detail::ParseToml(text, "customer_totals.toml");
//   if (!doc) return Fail(doc.error());
//   if (const TomlValue* name = doc->Find("projection")) { … }
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"

namespace cairn::detail {

struct TomlValue;

// A table: its entries in file order. Tables own their sub-tables.
struct TomlTable {
  // How the table came to be; decides what may still add to it (as in TOML 1.0).
  enum class Origin : std::uint8_t {
    kImplicit,  // a parent named by a [header] or its dotted path, not itself defined yet
    kHeader,    // defined by its own [header]
    kDotted,    // created by a dotted key (a.b = …) inside another table
    kInline,    // an inline table { … }: sealed once parsed
  };

  std::string path;  // as written in messages: on."order.placed.v1".params; "" for the root
  int line = 0;      // the header, or the first line that named the table
  Origin origin = Origin::kImplicit;
  std::vector<std::pair<std::string, TomlValue>> entries;

  // The entry named `key`, or nullptr.
  const TomlValue* Find(std::string_view key) const;
  TomlValue* Find(std::string_view key);
};

struct TomlValue {
  enum class Kind : std::uint8_t { kString, kInteger, kBoolean, kArray, kTable };

  Kind kind = Kind::kString;
  // The line of the key that defined the value (for an array element: where the element starts).
  int line = 0;
  std::string string;
  // For strings: (offset in `string`, source line) pairs, ascending; the text
  // from each offset on came from that line. Maps a position inside a
  // multi-line string (an SQL statement) back to its line in the file.
  std::vector<std::pair<std::size_t, int>> line_marks;
  std::int64_t integer = 0;
  bool boolean = false;
  std::vector<TomlValue> array;
  std::unique_ptr<TomlTable> table;  // set for kTable

  // The source line of the character at `offset` of a string value.
  int LineAt(std::size_t offset) const;
};

// "a string", "an integer", "a boolean", "an array", "a table".
std::string_view TomlKindName(TomlValue::Kind kind);

// `key` as it would be written in a dotted path: bare when it can be, else quoted.
std::string TomlQuoteKey(std::string_view key);

// Parses `text`. Errors are kInvalidArgument "FILE:LINE: message" with
// FILE = `file_name`.
Result<TomlTable> ParseToml(std::string_view text, std::string_view file_name);

// The checks every loader of a parsed file makes (SQL projections, bridge
// files), with their "FILE:LINE: message" errors. Loaders derive from it.
class TomlFileChecks {
 protected:
  explicit TomlFileChecks(std::string_view file_name) : file_(file_name) {}

  // kInvalidArgument "FILE:LINE: message".
  std::unexpected<Error> At(int line, std::string message) const;
  // `prefix`.`key`, the key quoted when it must be: a value's path in messages.
  static std::string Join(std::string_view prefix, std::string_view key);
  // `value` is of `kind`, else an error naming `path`.
  Status ExpectKind(const TomlValue& value, TomlValue::Kind kind, std::string_view path) const;
  // `value` is an integer from `min` to `max`, else an error naming `path`.
  Status ExpectRange(const TomlValue& value, std::string_view path, std::int64_t min, std::int64_t max) const;

  std::string file_;
};

}  // namespace cairn::detail
