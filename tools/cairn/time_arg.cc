#include "time_arg.h"

#include <chrono>

namespace cairn::cli {
namespace {

// Reads exactly `digits` decimal digits at `at`, advancing it.
bool ReadNumber(std::string_view text, std::size_t& at, int digits, int& value) {
  if (at + static_cast<std::size_t>(digits) > text.size()) return false;
  value = 0;
  for (int i = 0; i < digits; ++i) {
    const char c = text[at++];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

bool Expect(std::string_view text, std::size_t& at, char c) {
  if (at >= text.size() || text[at] != c) return false;
  ++at;
  return true;
}

}  // namespace

std::expected<std::int64_t, std::string> ParseTimestamp(std::string_view text) {
  const std::string shape =
      "\"" + std::string(text) + "\" is not an ISO-8601 time with a zone, e.g. 2026-11-23T13:45:01Z or "
      "2026-11-23T14:45:01.250+01:00";
  std::size_t at = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadNumber(text, at, 4, year) || !Expect(text, at, '-') || !ReadNumber(text, at, 2, month) ||
      !Expect(text, at, '-') || !ReadNumber(text, at, 2, day) || !Expect(text, at, 'T') ||
      !ReadNumber(text, at, 2, hour) || !Expect(text, at, ':') || !ReadNumber(text, at, 2, minute) ||
      !Expect(text, at, ':') || !ReadNumber(text, at, 2, second)) {
    return std::unexpected(shape);
  }
  std::int64_t micros = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    int digits = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (++digits > 6) {
        return std::unexpected("\"" + std::string(text) + "\": at most 6 fractional digits (cairn records microseconds)");
      }
      micros = micros * 10 + (text[at++] - '0');
    }
    if (digits == 0) return std::unexpected(shape);
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  int offset_minutes = 0;
  if (at < text.size() && text[at] == 'Z') {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const int sign = text[at++] == '-' ? -1 : 1;
    int offset_hours = 0, offset_mins = 0;
    if (!ReadNumber(text, at, 2, offset_hours)) return std::unexpected(shape);
    if (at < text.size() && text[at] == ':') ++at;
    if (!ReadNumber(text, at, 2, offset_mins) || offset_hours > 23 || offset_mins > 59) {
      return std::unexpected(shape);
    }
    offset_minutes = sign * (offset_hours * 60 + offset_mins);
  } else {
    return std::unexpected(shape + " (the zone is missing)");
  }
  if (at != text.size()) return std::unexpected(shape);

  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  // 23:59:60 (a leap second) is not accepted: Unix time has none.
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) {
    return std::unexpected("\"" + std::string(text) + "\" is not a valid date and time");
  }
  const std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1'000'000 + micros;
}

}  // namespace cairn::cli
