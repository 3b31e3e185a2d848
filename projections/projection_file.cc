// The strict TOML subset of SQL projection files (see projection_file.h).
//
// A recursive-descent parser over the whole text. A syntax error unwinds the
// descent with an internal exception that ParseToml turns into an Error; no
// exception leaves this file.
#include "projection_file.h"

#include "cairn/event.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <utility>

namespace cairn::detail {

const TomlValue* TomlTable::Find(std::string_view key) const {
  for (const auto& [name, value] : entries) {
    if (name == key) return &value;
  }
  return nullptr;
}

TomlValue* TomlTable::Find(std::string_view key) {
  for (auto& [name, value] : entries) {
    if (name == key) return &value;
  }
  return nullptr;
}

int TomlValue::LineAt(std::size_t offset) const {
  if (line_marks.empty()) return line;
  auto after = std::upper_bound(line_marks.begin(), line_marks.end(), offset,
                                [](std::size_t off, const auto& mark) { return off < mark.first; });
  if (after == line_marks.begin()) return line_marks.front().second;
  return std::prev(after)->second;
}

std::string_view TomlKindName(TomlValue::Kind kind) {
  switch (kind) {
    case TomlValue::Kind::kString: return "a string";
    case TomlValue::Kind::kInteger: return "an integer";
    case TomlValue::Kind::kBoolean: return "a boolean";
    case TomlValue::Kind::kArray: return "an array";
    case TomlValue::Kind::kTable: return "a table";
  }
  return "a value";
}

namespace {

bool IsBareKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A control character TOML does not allow unescaped (tab is allowed).
bool IsForbiddenControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

// The offset of the first byte that is not part of valid UTF-8, or is NUL; npos when none.
std::size_t FindInvalidUtf8OrNul(std::string_view text) {
  return std::min(cairn::FindInvalidUtf8(text), text.find('\0'));
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string JoinPath(std::string_view prefix, std::string_view key) {
  std::string quoted = TomlQuoteKey(key);
  return prefix.empty() ? quoted : std::string(prefix) + "." + quoted;
}

// Thrown inside the parser only; ParseToml catches it.
struct SyntaxError {
  int line;
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  TomlTable Parse() {
    if (const std::size_t bad = FindInvalidUtf8OrNul(text_); bad != std::string_view::npos) {
      const int line = 1 + static_cast<int>(std::count(text_.begin(), text_.begin() + bad, '\n'));
      throw SyntaxError{line, text_[bad] == '\0' ? "NUL byte in the file" : "the file is not valid UTF-8"};
    }
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;  // a byte-order mark some editors write
    root_.line = 1;
    root_.origin = TomlTable::Origin::kHeader;
    current_ = &root_;
    for (;;) {
      SkipSpaces();
      if (AtEnd()) break;
      const char c = Peek();
      if (c == '#') {
        SkipComment();
      } else if (AtNewline()) {
        TakeNewline();
      } else if (c == '[') {
        ParseHeader();
        ExpectLineEnd("the table header");
      } else {
        ParseKeyValue(*current_);
        ExpectLineEnd("the value");
      }
    }
    return std::move(root_);
  }

 private:
  [[noreturn]] void ErrorAt(int line, std::string message) const { throw SyntaxError{line, std::move(message)}; }
  [[noreturn]] void Error(std::string message) const { ErrorAt(line_, std::move(message)); }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(std::size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  bool Ahead(std::string_view what) const { return text_.substr(pos_).starts_with(what); }

  // What is at the current position, for messages.
  std::string Describe() const {
    if (AtEnd()) return "the end of the file";
    const char c = Peek();
    if (c == '\n' || c == '\r') return "the end of the line";
    if (static_cast<unsigned char>(c) >= 0x80) return "a non-ASCII character";
    if (IsForbiddenControl(c)) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "control character U+%04X", static_cast<unsigned>(c));
      return buffer;
    }
    return std::string("'") + c + "'";
  }

  void SkipSpaces() {
    while (Peek() == ' ' || Peek() == '\t') ++pos_;
  }

  // True at "\n" or "\r\n"; a lone carriage return is an error.
  bool AtNewline() const {
    if (Peek() == '\n') return true;
    if (Peek() == '\r') {
      if (Peek(1) == '\n') return true;
      Error("carriage return without a line feed");
    }
    return false;
  }

  void TakeNewline() {
    pos_ += Peek() == '\r' ? 2 : 1;
    ++line_;
  }

  // At '#': skips the comment up to (not including) the end of the line.
  void SkipComment() {
    ++pos_;
    while (!AtEnd() && Peek() != '\n' && !(Peek() == '\r' && Peek(1) == '\n')) {
      if (IsForbiddenControl(Peek())) Error(Describe() + " in a comment");
      ++pos_;
    }
  }

  // Spaces, an optional comment, then the end of the line (or of the file).
  void ExpectLineEnd(std::string_view after) {
    SkipSpaces();
    if (Peek() == '#') SkipComment();
    if (AtEnd()) return;
    if (AtNewline()) {
      TakeNewline();
      return;
    }
    Error("unexpected " + Describe() + " after " + std::string(after) + "; expected a comment or a new line");
  }

  // Spaces, comments and newlines (inside arrays).
  void SkipBlank() {
    for (;;) {
      SkipSpaces();
      if (Peek() == '#') {
        SkipComment();
      } else if (!AtEnd() && AtNewline()) {
        TakeNewline();
      } else {
        return;
      }
    }
  }

  // key, "quoted key", 'literal key', and dotted combinations of them.
  std::vector<std::string> ParseKey() {
    std::vector<std::string> parts;
    for (;;) {
      SkipSpaces();
      const char c = Peek();
      if (c == '"' || c == '\'') {
        if (Peek(1) == c && Peek(2) == c) Error("a key cannot be a multi-line string");
        parts.push_back(c == '"' ? ParseBasicString() : ParseLiteralString());
      } else if (IsBareKeyChar(c)) {
        const std::size_t start = pos_;
        while (IsBareKeyChar(Peek())) ++pos_;
        parts.emplace_back(text_.substr(start, pos_ - start));
      } else {
        Error("expected a key, found " + Describe() +
              " (bare keys are made of A-Z a-z 0-9 _ -; quote any other key)");
      }
      SkipSpaces();
      if (Peek() != '.') return parts;
      ++pos_;
    }
  }

  static std::string Display(std::string_view prefix, const std::vector<std::string>& parts, std::size_t count) {
    std::string path(prefix);
    for (std::size_t i = 0; i < count; ++i) path = JoinPath(path, parts[i]);
    return path;
  }

  static TomlValue MakeTable(std::string path, int line, TomlTable::Origin origin) {
    TomlValue value;
    value.kind = TomlValue::Kind::kTable;
    value.line = line;
    value.table = std::make_unique<TomlTable>();
    value.table->path = std::move(path);
    value.table->line = line;
    value.table->origin = origin;
    return value;
  }

  // [a."b.c".d]
  void ParseHeader() {
    const int line = line_;
    ++pos_;
    if (Peek() == '[') Error("arrays of tables ([[...]]) are not supported in SQL projection files");
    const std::vector<std::string> parts = ParseKey();
    if (Peek() != ']') Error("expected ']' to close the table header, found " + Describe());
    ++pos_;
    TomlTable* table = &root_;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const bool last = i + 1 == parts.size();
      const std::string path = Display("", parts, i + 1);
      TomlValue* existing = table->Find(parts[i]);
      if (existing == nullptr) {
        table->entries.emplace_back(
            parts[i], MakeTable(path, line, last ? TomlTable::Origin::kHeader : TomlTable::Origin::kImplicit));
        table = table->entries.back().second.table.get();
        continue;
      }
      if (existing->kind != TomlValue::Kind::kTable) {
        Error("cannot define table [" + Display("", parts, parts.size()) + "]: " + path + " is already " +
              std::string(TomlKindName(existing->kind)) + " (line " + std::to_string(existing->line) + ")");
      }
      TomlTable& sub = *existing->table;
      if (sub.origin == TomlTable::Origin::kInline) {
        Error("cannot extend " + path + ": it is an inline table (line " + std::to_string(sub.line) + ")");
      }
      if (last) {
        if (sub.origin == TomlTable::Origin::kHeader) {
          Error("duplicate table [" + path + "] (first defined at line " + std::to_string(sub.line) + ")");
        }
        if (sub.origin == TomlTable::Origin::kDotted) {
          Error("duplicate table [" + path + "]: already defined by dotted keys at line " +
                std::to_string(sub.line));
        }
        sub.origin = TomlTable::Origin::kHeader;
        sub.line = line;
        existing->line = line;
      }
      table = &sub;
    }
    current_ = table;
  }

  // key = value, into `table`.
  void ParseKeyValue(TomlTable& table) {
    const int line = line_;
    const std::vector<std::string> parts = ParseKey();
    const std::string full = Display(table.path, parts, parts.size());
    if (Peek() != '=') Error("expected '=' after the key " + full + ", found " + Describe());
    ++pos_;
    SkipSpaces();
    TomlValue value = ParseValue(full);
    value.line = line;
    TomlTable* into = &table;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      const std::string path = Display(table.path, parts, i + 1);
      TomlValue* existing = into->Find(parts[i]);
      if (existing == nullptr) {
        into->entries.emplace_back(parts[i], MakeTable(path, line, TomlTable::Origin::kDotted));
        into = into->entries.back().second.table.get();
        continue;
      }
      if (existing->kind != TomlValue::Kind::kTable) {
        ErrorAt(line, "cannot define " + full + ": " + path + " is already " +
                          std::string(TomlKindName(existing->kind)) + " (line " + std::to_string(existing->line) + ")");
      }
      if (existing->table->origin != TomlTable::Origin::kDotted) {
        ErrorAt(line, "cannot add " + full + " with a dotted key: " + path + " was defined at line " +
                          std::to_string(existing->table->line) +
                          (existing->table->origin == TomlTable::Origin::kInline ? " as an inline table" : ""));
      }
      into = existing->table.get();
    }
    if (const TomlValue* existing = into->Find(parts.back())) {
      ErrorAt(line, "duplicate key " + full + " (first defined at line " + std::to_string(existing->line) + ")");
    }
    into->entries.emplace_back(parts.back(), std::move(value));
  }

  // `path` names the value in messages (and is the path of an inline table).
  TomlValue ParseValue(const std::string& path) {
    const char c = Peek();
    if (c == '"' || c == '\'') {
      TomlValue value;
      value.kind = TomlValue::Kind::kString;
      value.line = line_;
      if (Peek(1) == c && Peek(2) == c) {
        ParseMultilineString(value);
      } else {
        value.line_marks.emplace_back(0, line_);
        value.string = c == '"' ? ParseBasicString() : ParseLiteralString();
      }
      return value;
    }
    if (c == '[') return ParseArray(path);
    if (c == '{') return ParseInlineTable(path);
    if (IsDigit(c) || c == '+' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      return ParseWord(path);
    }
    if (AtEnd() || c == '\n' || c == '\r' || c == '#') Error("missing value for " + path);
    Error("expected a value for " + path + " (a string, integer, boolean, array or inline table), found " +
          Describe());
  }

  // true, false or an integer; names what TOML has and the subset does not.
  TomlValue ParseWord(const std::string& path) {
    const std::size_t start = pos_;
    while (IsBareKeyChar(Peek()) || Peek() == '+' || Peek() == '.' || Peek() == ':') ++pos_;
    const std::string_view word = text_.substr(start, pos_ - start);
    TomlValue value;
    value.line = line_;
    if (word == "true" || word == "false") {
      value.kind = TomlValue::Kind::kBoolean;
      value.boolean = word == "true";
      return value;
    }
    std::string_view digits = word;
    const bool negative = digits.starts_with('-');
    if (digits.starts_with('-') || digits.starts_with('+')) digits.remove_prefix(1);
    if (digits == "inf" || digits == "nan" || digits.find('.') != std::string_view::npos ||
        (IsDigit(digits.empty() ? 'x' : digits[0]) && digits.find_first_of("eE") != std::string_view::npos &&
         !digits.starts_with("0x"))) {
      Error(path + " = " + std::string(word) + ": floating-point numbers are not supported (integers only)");
    }
    if (digits.find(':') != std::string_view::npos ||
        (digits.size() > 4 && IsDigit(digits[0]) && digits.find('-') != std::string_view::npos)) {
      Error(path + " = " + std::string(word) + ": dates and times are not supported");
    }
    if (digits.starts_with("0x") || digits.starts_with("0o") || digits.starts_with("0b")) {
      Error(path + " = " + std::string(word) + ": only decimal integers are supported");
    }
    if (digits.empty() || !IsDigit(digits[0])) {
      Error("expected a value for " + path + ", found '" + std::string(word) +
            "' (strings must be quoted; booleans are true and false)");
    }
    if (digits.size() > 1 && digits[0] == '0') {
      Error(path + " = " + std::string(word) + ": leading zeros are not allowed");
    }
    // Magnitude in uint64: up to 2^63 for a negative number, 2^63 - 1 otherwise.
    const std::uint64_t limit = negative ? (std::uint64_t{1} << 63) : (std::uint64_t{1} << 63) - 1;
    std::uint64_t magnitude = 0;
    for (std::size_t i = 0; i < digits.size(); ++i) {
      const char d = digits[i];
      if (d == '_') {
        if (i + 1 == digits.size() || !IsDigit(digits[i + 1]) || !IsDigit(digits[i - 1])) {
          Error(path + " = " + std::string(word) + ": an underscore must stand between two digits");
        }
        continue;
      }
      if (!IsDigit(d)) Error(path + " = " + std::string(word) + ": not an integer");
      const auto digit = static_cast<std::uint64_t>(d - '0');
      if (magnitude > (limit - digit) / 10) {
        Error(path + " = " + std::string(word) + ": integer out of range (64-bit signed)");
      }
      magnitude = magnitude * 10 + digit;
    }
    value.kind = TomlValue::Kind::kInteger;
    value.integer = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    return value;
  }

  void CheckStringChar(char c, bool literal) const {
    if (IsForbiddenControl(c)) {
      Error(Describe() + " in a string" + (literal ? "" : ": write it as an escape (\\n, \\t, \\u0001, ...)"));
    }
  }

  // After a backslash in a basic string.
  void ParseEscape(std::string& out) {
    const char c = Peek();
    ++pos_;
    switch (c) {
      case 'b': out.push_back('\b'); return;
      case 't': out.push_back('\t'); return;
      case 'n': out.push_back('\n'); return;
      case 'f': out.push_back('\f'); return;
      case 'r': out.push_back('\r'); return;
      case '"': out.push_back('"'); return;
      case '\\': out.push_back('\\'); return;
      case 'u':
      case 'U': {
        const std::size_t count = c == 'u' ? 4 : 8;
        std::uint32_t cp = 0;
        for (std::size_t i = 0; i < count; ++i) {
          const char h = Peek();
          std::uint32_t nibble;
          if (h >= '0' && h <= '9') {
            nibble = static_cast<std::uint32_t>(h - '0');
          } else if (h >= 'a' && h <= 'f') {
            nibble = static_cast<std::uint32_t>(h - 'a' + 10);
          } else if (h >= 'A' && h <= 'F') {
            nibble = static_cast<std::uint32_t>(h - 'A' + 10);
          } else {
            Error(std::string("\\") + c + " needs " + std::to_string(count) + " hexadecimal digits");
          }
          cp = (cp << 4) | nibble;
          ++pos_;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
          Error(std::string("\\") + c + std::string(text_.substr(pos_ - count, count)) +
                " is not a Unicode scalar value");
        }
        AppendUtf8(out, cp);
        return;
      }
      default:
        if (c == '\0' && AtEnd()) Error("unterminated string");
        Error(std::string("invalid escape sequence \\") +
              (static_cast<unsigned char>(c) >= 0x21 && c != 0x7f ? std::string(1, c) : std::string("…")) +
              " (valid: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)");
    }
  }

  // "…" on one line.
  std::string ParseBasicString() {
    ++pos_;
    std::string out;
    for (;;) {
      if (AtEnd() || Peek() == '\n' || Peek() == '\r') {
        Error("unterminated string (a \"...\" string ends on its line; use \"\"\" for a multi-line string)");
      }
      const char c = Peek();
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        ++pos_;
        ParseEscape(out);
        continue;
      }
      CheckStringChar(c, false);
      out.push_back(c);
      ++pos_;
    }
  }

  // '…' on one line, no escapes.
  std::string ParseLiteralString() {
    ++pos_;
    std::string out;
    for (;;) {
      if (AtEnd() || Peek() == '\n' || Peek() == '\r') {
        Error("unterminated string (a '...' string ends on its line; use ''' for a multi-line string)");
      }
      const char c = Peek();
      if (c == '\'') {
        ++pos_;
        return out;
      }
      CheckStringChar(c, true);
      out.push_back(c);
      ++pos_;
    }
  }

  // """…""" (escapes, line-ending backslash) or '''…''' (verbatim). A newline
  // right after the opening delimiter is not part of the string; up to two
  // quotes may stand just inside the closing delimiter.
  void ParseMultilineString(TomlValue& value) {
    const char quote = Peek();
    const bool basic = quote == '"';
    const int open_line = line_;
    pos_ += 3;
    if (!AtEnd() && AtNewline()) TakeNewline();
    std::string& out = value.string;
    value.line_marks.emplace_back(0, line_);
    for (;;) {
      if (AtEnd()) {
        ErrorAt(open_line, std::string("unterminated multi-line string (the ") + std::string(3, quote) +
                               " opened here is never closed)");
      }
      const char c = Peek();
      if (c == quote) {
        std::size_t run = 0;
        while (Peek(run) == quote) ++run;
        if (run >= 3) {
          if (run > 5) Error("too many quotes (" + std::to_string(run) + ") closing a multi-line string");
          out.append(run - 3, quote);
          pos_ += run;
          return;
        }
        out.append(run, quote);
        pos_ += run;
        continue;
      }
      if (basic && c == '\\') {
        std::size_t after = pos_ + 1;
        while (after < text_.size() && (text_[after] == ' ' || text_[after] == '\t')) ++after;
        const bool line_ending =
            after < text_.size() && (text_[after] == '\n' || text_.substr(after).starts_with("\r\n"));
        if (line_ending) {  // trims the newline and the whitespace that follows
          pos_ = after;
          for (;;) {
            if (Peek() == ' ' || Peek() == '\t') {
              ++pos_;
            } else if (!AtEnd() && AtNewline()) {
              TakeNewline();
            } else {
              break;
            }
          }
          value.line_marks.emplace_back(out.size(), line_);
          continue;
        }
        ++pos_;
        ParseEscape(out);
        continue;
      }
      if (AtNewline()) {
        TakeNewline();
        out.push_back('\n');
        value.line_marks.emplace_back(out.size(), line_);
        continue;
      }
      CheckStringChar(c, !basic);
      out.push_back(c);
      ++pos_;
    }
  }

  // [v, v, …] spanning lines, with comments; a trailing comma is allowed.
  TomlValue ParseArray(const std::string& path) {
    const int open_line = line_;
    TomlValue value;
    value.kind = TomlValue::Kind::kArray;
    value.line = line_;
    ++pos_;
    for (;;) {
      SkipBlank();
      if (AtEnd()) ErrorAt(open_line, "unterminated array " + path + " (the '[' opened here is never closed)");
      if (Peek() == ']') {
        ++pos_;
        return value;
      }
      const int element_line = line_;
      TomlValue element = ParseValue(path + "[" + std::to_string(value.array.size()) + "]");
      element.line = element_line;
      value.array.push_back(std::move(element));
      SkipBlank();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        return value;
      }
      if (AtEnd()) ErrorAt(open_line, "unterminated array " + path + " (the '[' opened here is never closed)");
      Error("expected ',' or ']' in the array " + path + ", found " + Describe());
    }
  }

  static void Seal(TomlTable& table) {
    table.origin = TomlTable::Origin::kInline;
    for (auto& [key, value] : table.entries) {
      if (value.kind == TomlValue::Kind::kTable) Seal(*value.table);
    }
  }

  // { k = v, k2 = v2 } on one line; no trailing comma (as in TOML 1.0).
  TomlValue ParseInlineTable(const std::string& path) {
    TomlValue value = MakeTable(path, line_, TomlTable::Origin::kInline);
    ++pos_;
    SkipSpaces();
    if (Peek() == '}') {
      ++pos_;
      return value;
    }
    for (;;) {
      SkipSpaces();
      if (AtEnd() || AtNewline()) Error("inline table " + path + " must be on one line; use a [table] for more");
      ParseKeyValue(*value.table);
      SkipSpaces();
      if (Peek() == ',') {
        ++pos_;
        SkipSpaces();
        if (Peek() == '}') Error("trailing comma in the inline table " + path);
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        Seal(*value.table);
        return value;
      }
      if (AtEnd() || AtNewline()) Error("inline table " + path + " must be on one line; use a [table] for more");
      Error("expected ',' or '}' in the inline table " + path + ", found " + Describe());
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
  TomlTable root_;
  TomlTable* current_ = nullptr;
};

}  // namespace

std::string TomlQuoteKey(std::string_view key) {
  if (!key.empty() && std::all_of(key.begin(), key.end(), IsBareKeyChar)) return std::string(key);
  std::string quoted = "\"";
  for (const char c : key) {
    if (c == '"' || c == '\\') {
      quoted.push_back('\\');
      quoted.push_back(c);
    } else if (IsForbiddenControl(c)) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04X", static_cast<unsigned>(static_cast<unsigned char>(c)));
      quoted += buffer;
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('"');
  return quoted;
}

Result<TomlTable> ParseToml(std::string_view text, std::string_view file_name) {
  try {
    return Parser(text).Parse();
  } catch (const SyntaxError& error) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(file_name) + ":" + std::to_string(error.line) + ": " + error.message);
  }
}

std::unexpected<Error> TomlFileChecks::At(int line, std::string message) const {
  return Fail(ErrorCode::kInvalidArgument, file_ + ":" + std::to_string(line) + ": " + std::move(message));
}

std::string TomlFileChecks::Join(std::string_view prefix, std::string_view key) {
  return std::string(prefix) + "." + TomlQuoteKey(key);
}

Status TomlFileChecks::ExpectKind(const TomlValue& value, TomlValue::Kind kind, std::string_view path) const {
  if (value.kind == kind) return {};
  return At(value.line, std::string(path) + " must be " + std::string(TomlKindName(kind)) + ", not " +
                            std::string(TomlKindName(value.kind)));
}

Status TomlFileChecks::ExpectRange(const TomlValue& value, std::string_view path, std::int64_t min,
                                   std::int64_t max) const {
  if (auto kind = ExpectKind(value, TomlValue::Kind::kInteger, path); !kind) return kind;
  if (value.integer < min || value.integer > max) {
    return At(value.line, std::string(path) + " = " + std::to_string(value.integer) + ": must be from " +
                              std::to_string(min) + " to " + std::to_string(max));
  }
  return {};
}

}  // namespace cairn::detail
