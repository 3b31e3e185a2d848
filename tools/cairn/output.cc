#include "output.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "json_text.h"

namespace cairn::cli {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

rapidjson::SizeType JsonSize(std::string_view text) { return static_cast<rapidjson::SizeType>(text.size()); }

bool HasLineBreak(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

// Stored JSON (already validated by the store) goes out as the value itself.
// Raw bytes are embedded as they are unless a line break would split the line.
void WriteStoredJson(JsonWriter& writer, std::string_view json) {
  if (!HasLineBreak(json)) {
    writer.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return;
  }
  auto compact = CompactJson(json);
  if (compact) {
    writer.RawValue(compact->data(), compact->size(), rapidjson::kObjectType);
  } else {
    // Only a damaged store gets here; a string keeps the output line valid JSON.
    writer.String(json.data(), JsonSize(json));
  }
}

void WriteStdout(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// Display width in code points: a fair approximation for names and JSON.
std::size_t DisplayWidth(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// `text` cut to `width` code points, ending in "…" when something was cut.
std::string Truncate(std::string_view text, std::size_t width) {
  if (DisplayWidth(text) <= width) return std::string(text);
  std::size_t keep = width == 0 ? 0 : width - 1;
  std::size_t end = 0;
  for (std::size_t points = 0; end < text.size(); ++end) {
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80 && points++ == keep) break;
  }
  return std::string(text.substr(0, end)) + "…";
}

// Control characters (tabs in JSON whitespace) would break a table's alignment.
std::string Printable(std::string_view text) {
  std::string out(text);
  std::replace_if(out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }, ' ');
  return out;
}

std::string DataCell(const EventView& event) {
  if (!IsJsonContentType(event.content_type)) {
    return fmt::format("<{} bytes {}>", event.data.size(), event.content_type);
  }
  if (HasLineBreak(event.data)) {
    if (auto compact = CompactJson(event.data)) return std::move(*compact);
  }
  return Printable(event.data);
}

// Table layout: header, whether right-aligned, and the width range a column may take.
struct Column {
  std::string_view header;
  bool right_aligned;
  std::size_t min_width;
  std::size_t max_width;
};
constexpr std::array<Column, 6> kEventColumns{{
    {"position", true, 8, 20},
    {"stream", false, 16, 40},
    {"revision", true, 8, 20},
    {"type", false, 16, 40},
    {"recorded_at", false, 27, 27},
    {"data", false, 0, 60},  // the last column is never padded
}};
constexpr std::size_t kRowsPerTableFlush = 1000;

std::string Pad(std::string_view text, std::size_t width, bool right_aligned) {
  std::size_t shown = DisplayWidth(text);
  std::string padding(shown < width ? width - shown : 0, ' ');
  return right_aligned ? padding + std::string(text) : std::string(text) + padding;
}

}  // namespace


std::string Base64Encode(std::string_view bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    kVariant);
  out.resize(out.size() - 1);  // the encoded length counts the terminating NUL
  return out;
}

std::expected<std::string, std::string> Base64Decode(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        /*ignore=*/nullptr, &length, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::unexpected(std::string("not valid base64 (standard alphabet, with padding)"));
  }
  out.resize(length);
  return out;
}

void EventPrinter::Print(const EventView& event) {
  if (format_ == OutputFormat::kJsonLines) {
    PrintJson(event);
    return;
  }
  pending_rows_.push_back(Row{std::to_string(event.position), Printable(event.stream), std::to_string(event.revision),
                              Printable(event.type), FormatTimestamp(event.recorded_at_us), DataCell(event)});
  if (pending_rows_.size() >= kRowsPerTableFlush) PrintTableRows();
}

void EventPrinter::PrintJson(const EventView& event) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("position");
  writer.Uint64(event.position);
  writer.Key("stream");
  writer.String(event.stream.data(), JsonSize(event.stream));
  writer.Key("revision");
  writer.Uint64(event.revision);
  writer.Key("id");
  writer.String(event.id.ToString().c_str());
  writer.Key("type");
  writer.String(event.type.data(), JsonSize(event.type));
  writer.Key("recorded_at");
  writer.String(FormatTimestamp(event.recorded_at_us).c_str());
  writer.Key("content_type");
  writer.String(event.content_type.data(), JsonSize(event.content_type));
  writer.Key("data");
  if (IsJsonContentType(event.content_type)) {
    WriteStoredJson(writer, event.data);
  } else {
    std::string base64 = Base64Encode(event.data);
    writer.String(base64.data(), JsonSize(base64));
  }
  writer.Key("metadata");
  if (event.metadata.empty()) {
    writer.Null();
  } else {
    WriteStoredJson(writer, event.metadata);
  }
  writer.Key("hash");
  writer.String(HashToHex(event.hash).c_str());
  writer.EndObject();
  line_.assign(buffer.GetString(), buffer.GetSize());
  line_ += '\n';
  WriteStdout(line_);
}

void EventPrinter::PrintTableRows() {
  if (pending_rows_.empty()) return;
  if (!header_printed_) {
    // The first rows decide the widths; later rows are cut to fit them.
    for (std::size_t i = 0; i < kColumns; ++i) {
      std::size_t width = std::max(kEventColumns[i].min_width, kEventColumns[i].header.size());
      for (const Row& row : pending_rows_) width = std::max(width, DisplayWidth(row[i]));
      widths_[i] = std::min(width, kEventColumns[i].max_width);
    }
    Row header;
    for (std::size_t i = 0; i < kColumns; ++i) header[i] = kEventColumns[i].header;
    pending_rows_.insert(pending_rows_.begin(), header);
    header_printed_ = true;
  }
  std::string text;
  for (const Row& row : pending_rows_) {
    for (std::size_t i = 0; i < kColumns; ++i) {
      if (i + 1 == kColumns) {
        // The last column aligns nothing after it: cut it at its maximum only.
        text += Truncate(row[i], kEventColumns[i].max_width);
      } else {
        text += Pad(Truncate(row[i], widths_[i]), widths_[i], kEventColumns[i].right_aligned);
        text += "  ";
      }
    }
    text += '\n';
  }
  pending_rows_.clear();
  WriteStdout(text);
}

void EventPrinter::Flush() {
  if (format_ == OutputFormat::kTable) PrintTableRows();
  std::fflush(stdout);
}

void EventPrinter::Finish() {
  if (format_ == OutputFormat::kTable && !header_printed_ && pending_rows_.empty()) {
    Row header;
    for (std::size_t i = 0; i < kColumns; ++i) header[i] = kEventColumns[i].header;
    pending_rows_.push_back(header);
    for (std::size_t i = 0; i < kColumns; ++i) widths_[i] = std::max(kEventColumns[i].min_width, header[i].size());
    header_printed_ = true;
  }
  Flush();
}

std::string FormatTable(std::span<const TableColumn> columns, std::span<const std::vector<std::string>> rows) {
  std::vector<std::size_t> widths(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    std::size_t width = 0;
    for (const auto& row : rows) width = std::max(width, DisplayWidth(Printable(row.at(i))));
    widths[i] = std::max(std::min(width, columns[i].max_width), DisplayWidth(columns[i].header));
  }
  std::string text;
  auto add_line = [&](auto cell_of) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const std::string cell = Truncate(Printable(cell_of(i)), widths[i]);
      if (i + 1 == columns.size()) {
        text += cell;
      } else {
        text += Pad(cell, widths[i], columns[i].right_aligned);
        text += "  ";
      }
    }
    text += '\n';
  };
  add_line([&](std::size_t i) -> std::string_view { return columns[i].header; });
  for (const auto& row : rows) add_line([&](std::size_t i) -> std::string_view { return row.at(i); });
  return text;
}

Record& Record::Add(std::string_view key, std::uint64_t value) {
  fields_.push_back({std::string(key), std::to_string(value), std::to_string(value)});
  return *this;
}

Record& Record::Add(std::string_view key, bool value) {
  fields_.push_back({std::string(key), value ? "true" : "false", value ? "true" : "false"});
  return *this;
}

Record& Record::Add(std::string_view key, std::string_view value) {
  fields_.push_back({std::string(key), JsonQuote(value), Printable(value)});
  return *this;
}

Record& Record::AddNull(std::string_view key) {
  fields_.push_back({std::string(key), "null", "-"});
  return *this;
}

Record& Record::AddJson(std::string_view key, std::string_view json) {
  fields_.push_back({std::string(key), std::string(json), Printable(json)});
  return *this;
}

Record& Record::AddReal(std::string_view key, double value, int decimals) {
  if (!std::isfinite(value)) return AddNull(key);
  std::string text = fmt::format("{:.{}f}", value, std::max(decimals, 0));
  if (text.find('.') != std::string::npos) {
    while (text.ends_with('0')) text.pop_back();
    if (text.ends_with('.')) text.pop_back();
  }
  if (text == "-0") text = "0";
  fields_.push_back({std::string(key), text, text});
  return *this;
}

std::string Record::ToJson() const {
  std::string json = "{";
  for (const Field& field : fields_) {
    if (json.size() > 1) json += ',';
    json += JsonQuote(field.key);
    json += ':';
    json += field.json;
  }
  json += '}';
  return json;
}

void Record::Print(OutputFormat format) const {
  if (format == OutputFormat::kJsonLines) {
    WriteStdout(ToJson() + "\n");
    return;
  }
  std::size_t width = 0;
  for (const Field& field : fields_) width = std::max(width, DisplayWidth(field.key));
  std::string text;
  for (const Field& field : fields_) text += Pad(field.key, width, false) + "  " + field.display + "\n";
  WriteStdout(text);
}

}  // namespace cairn::cli
