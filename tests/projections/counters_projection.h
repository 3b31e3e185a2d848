// tests/projections/counters_projection.h — the projection of the exactly-once
// tests, and the fold it must equal. Shared by the tests and the child process
// of the kill -9 tests (projections_helper.cc), so no Catch2 here.
//
// Events: streams acct-N, order-N and misc-N; types deposited.v1 and
// withdrawn.v1 with data {"amount":N}, and noted.v1.
//   version 1: categories acct and order; handles deposited and withdrawn
//              (noted.v1 matches the filter but has no handler: skipped).
//   version 2: every category; handles all three types, another digest.
// Per stream, the model keeps the number of events applied, the last revision
// (the handler refuses one that does not increase: a duplicate or reordered
// event), the balance and a digest of the positions applied in order; the
// `applied` table has one row per applied position (a primary key: a duplicate
// fails). Any event applied twice, or missed, changes the model.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cairn/projection.h"

namespace cairn_test {

struct CounterRow {
  std::int64_t events = 0;
  std::int64_t last_revision = -1;
  std::int64_t balance = 0;
  std::int64_t digest = 0;
  friend bool operator==(const CounterRow&, const CounterRow&) = default;
};

struct CounterModel {
  std::map<std::string, CounterRow> rows;
  std::uint64_t applied_count = 0;  // rows of `applied`
  std::uint64_t applied_sum = 0;    // sum of their positions
  friend bool operator==(const CounterModel&, const CounterModel&) = default;
};

inline std::int64_t AmountOf(std::string_view data) {
  const auto colon = data.find(':');
  if (colon == std::string_view::npos) return 0;
  std::int64_t amount = 0;
  for (std::size_t i = colon + 1; i < data.size() && data[i] >= '0' && data[i] <= '9'; ++i) {
    amount = amount * 10 + (data[i] - '0');
  }
  return amount;
}

inline bool CountersHandles(std::uint32_t version, std::string_view stream, std::string_view type) {
  const auto category = cairn::CategoryOf(stream);
  if (version == 1) {
    return (category == "acct" || category == "order") && (type == "deposited.v1" || type == "withdrawn.v1");
  }
  return type == "deposited.v1" || type == "withdrawn.v1" || type == "noted.v1";
}

inline CounterRow CountersStep(CounterRow row, std::uint32_t version, const cairn::EventView& event) {
  const std::int64_t amount = AmountOf(event.data);
  row.events += 1;
  row.last_revision = static_cast<std::int64_t>(event.revision);
  if (event.type == "deposited.v1") row.balance += amount;
  if (event.type == "withdrawn.v1") row.balance -= amount;
  const std::int64_t factor = version == 1 ? 31 : 37;
  row.digest = (row.digest * factor + static_cast<std::int64_t>(event.position)) % 1'000'000'007;
  return row;
}

// The projection; `handler_delay` slows every event down (to make a rebuild long enough to kill).
inline cairn::Projection CountersProjection(std::uint32_t version,
                                            std::chrono::microseconds handler_delay = std::chrono::microseconds(0)) {
  cairn::Projection projection;
  projection.name = "counters";
  projection.version = version;
  if (version == 1) projection.filter.categories = {"acct", "order"};
  projection.schema =
      "CREATE TABLE counters (stream TEXT PRIMARY KEY, events INTEGER NOT NULL, last_revision INTEGER NOT NULL,"
      " balance INTEGER NOT NULL, digest INTEGER NOT NULL);"
      "CREATE INDEX counters_by_balance ON counters (balance);"
      "CREATE TABLE applied (position INTEGER PRIMARY KEY);";
  if (version != 1) projection.schema += "CREATE VIEW totals AS SELECT count(*) AS streams, sum(events) AS events FROM counters;";
  auto handler = [version, handler_delay](cairn::ReadModelWriter& model, const cairn::EventView& event) -> cairn::Status {
    if (handler_delay.count() > 0) std::this_thread::sleep_for(handler_delay);
    auto rows = model.Query("SELECT events, last_revision, balance, digest FROM counters WHERE stream = ?1",
                            {std::string(event.stream)});
    if (!rows) return std::unexpected(rows.error());
    CounterRow row;
    if (!rows->empty()) {
      const auto& r = rows->front();
      row = {std::get<std::int64_t>(r[0]), std::get<std::int64_t>(r[1]), std::get<std::int64_t>(r[2]),
             std::get<std::int64_t>(r[3])};
    }
    if (static_cast<std::int64_t>(event.revision) <= row.last_revision) {
      return cairn::Fail(cairn::ErrorCode::kInvalidArgument,
                         "revision " + std::to_string(event.revision) + " of " + std::string(event.stream) +
                             " after " + std::to_string(row.last_revision) + ": a duplicate or reordered event");
    }
    row = CountersStep(row, version, event);
    if (auto ok = model.Execute(
            "INSERT INTO counters (stream, events, last_revision, balance, digest) VALUES (?1, ?2, ?3, ?4, ?5) "
            "ON CONFLICT (stream) DO UPDATE SET events = excluded.events, last_revision = excluded.last_revision, "
            "balance = excluded.balance, digest = excluded.digest",
            {std::string(event.stream), row.events, row.last_revision, row.balance, row.digest});
        !ok) {
      return ok;
    }
    return model.Execute("INSERT INTO applied (position) VALUES (?1)", {static_cast<std::int64_t>(event.position)});
  };
  for (const char* type : {"deposited.v1", "withdrawn.v1", "noted.v1"}) {
    if (version == 1 && std::string_view(type) == "noted.v1") continue;
    projection.handlers[type] = handler;
  }
  return projection;
}

// The model that applying `events` (the log in order) up to `up_to` gives.
inline CounterModel FoldCounters(std::span<const cairn::RecordedEvent> events, std::uint32_t version,
                                 std::uint64_t up_to) {
  CounterModel model;
  for (const auto& event : events) {
    if (event.position > up_to) break;
    if (!CountersHandles(version, event.stream, event.type)) continue;
    model.rows[event.stream] = CountersStep(model.rows[event.stream], version, event.view());
    ++model.applied_count;
    model.applied_sum += event.position;
  }
  return model;
}

// Reads the model through `db` (within the caller's transaction, if any);
// nullopt when it has no counters table.
inline std::optional<CounterModel> ReadCounters(sqlite3* db) {
  CounterModel model;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT stream, events, last_revision, balance, digest FROM counters", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::nullopt;
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    model.rows[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))] = {
        sqlite3_column_int64(stmt, 1), sqlite3_column_int64(stmt, 2), sqlite3_column_int64(stmt, 3),
        sqlite3_column_int64(stmt, 4)};
  }
  sqlite3_finalize(stmt);
  if (sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(position), 0) FROM applied", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::nullopt;
  }
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    model.applied_count = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0));
    model.applied_sum = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1));
  }
  sqlite3_finalize(stmt);
  return model;
}

// Appends `count` random events (1-3 per append) to streams of every category.
// Returns the number of events appended, or an error.
template <class Rng>
cairn::Result<std::size_t> AppendRandom(cairn::EventStore& store, Rng& rng, std::size_t appends,
                                        std::size_t max_events_per_append = 3) {
  static const char* kStreams[] = {"acct-1", "acct-2", "acct-3", "order-1", "order-2", "misc-1", "misc-2"};
  static const char* kTypes[] = {"deposited.v1", "deposited.v1", "withdrawn.v1", "noted.v1"};
  std::size_t appended = 0;
  for (std::size_t i = 0; i < appends; ++i) {
    std::vector<cairn::EventData> events(1 + rng() % max_events_per_append);
    for (auto& event : events) {
      event.type = kTypes[rng() % std::size(kTypes)];
      event.data = "{\"amount\":" + std::to_string(rng() % 1000) + "}";
    }
    auto result = store.Append(kStreams[rng() % std::size(kStreams)], cairn::ExpectedRevision::Any(), events);
    if (!result) return std::unexpected(result.error());
    appended += events.size();
  }
  return appended;
}

}  // namespace cairn_test
