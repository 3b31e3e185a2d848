// tests/projections/projection_test.h — what the projections tests share.
//
//   cairn_test::ProjectionFixture fx;               // a store of the backend under test + a read-model path
//   auto runner = fx.Runner({.max_batch_events = 50});
//   CAIRN_REQUIRE_OK(runner->Add(cairn_test::CountersProjection(1)));
//   CAIRN_REQUIRE_OK(runner->RunToHead());
//   cairn_test::Db db(fx.model);                    // a connection of the test's own
//   REQUIRE(db.Int("SELECT version FROM cairn_projections") == 1);
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cairn/projection.h"
#include "conformance.h"
#include "counters_projection.h"

namespace cairn_test {

inline std::string ProjectionsHelperPath() { return CAIRN_PROJECTIONS_HELPER; }

// Polls `condition` every 2 ms until it holds or `timeout` passes; returns whether it held.
inline bool WaitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// A SQLite connection of the test's own (read-only unless asked otherwise).
class Db {
 public:
  explicit Db(const std::string& path, bool writable = false) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, nullptr);
    db_ = raw;
    if (rc != SQLITE_OK) throw std::runtime_error("cannot open " + path + ": " + sqlite3_errstr(rc));
    sqlite3_busy_timeout(db_, 30'000);
  }
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }

  // Every row, each column as text ("NULL" for NULL). Throws on an error.
  std::vector<std::vector<std::string>> Rows(const std::string& sql) const {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      std::string message = sqlite3_errmsg(db_);
      sqlite3_finalize(stmt);
      throw std::runtime_error(sql + ": " + message);
    }
    std::vector<std::vector<std::string>> rows;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      auto& row = rows.emplace_back();
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        row.push_back(text != nullptr ? text : "NULL");
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) throw std::runtime_error(sql + ": " + sqlite3_errstr(rc));
    return rows;
  }
  // The first column of the first row as an integer (0 when there is no row).
  std::int64_t Int(const std::string& sql) const {
    auto rows = Rows(sql);
    return rows.empty() || rows[0].empty() || rows[0][0] == "NULL" ? 0 : std::stoll(rows[0][0]);
  }
  void Exec(const std::string& sql) const {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message != nullptr ? message : "?";
      sqlite3_free(message);
      throw std::runtime_error(sql + ": " + text);
    }
  }
  bool HasTable(const std::string& name) const {
    return Int("SELECT count(*) FROM sqlite_master WHERE name = '" + name + "'") > 0;
  }

 private:
  sqlite3* db_ = nullptr;
};

// A store of the backend under test, in a temp dir of its own, and the path of
// a read model beside it.
struct ProjectionFixture {
  TestStore store;
  std::string model = store.dir().File("model.db");

  std::unique_ptr<cairn::ProjectionRunner> Runner(cairn::RunnerOptions options = {}) {
    auto runner = cairn::ProjectionRunner::Open(cairn::StoreSource(*store), model, std::move(options));
    CAIRN_REQUIRE_OK(runner);
    return std::move(*runner);
  }
  std::uint64_t HeadPosition() { return Head(*store); }
  std::vector<cairn::RecordedEvent> Log() { return ReadLogAll(*store); }
  // The files next to the read model whose names end in ".shadow".
  std::vector<std::string> ShadowFiles() const {
    std::vector<std::string> found;
    for (const auto& name : ListDir(store.dir().path())) {
      if (name.ends_with(".shadow")) found.push_back(name);
    }
    return found;
  }
};

// Appends one event per type in `types` to `stream`, in one append.
inline cairn::AppendResult AppendTypes(cairn::EventStore& store, const std::string& stream,
                                       const std::vector<std::string>& types, const std::string& data = "{}") {
  std::vector<cairn::EventData> events;
  for (const auto& type : types) events.push_back(Json(type, data));
  auto appended = store.Append(stream, cairn::ExpectedRevision::Any(), events);
  CAIRN_REQUIRE_OK(appended);
  return *appended;
}

// Appends `count` events of `type` to `stream`, `per_append` at a time.
inline void AppendMany(cairn::EventStore& store, const std::string& stream, const std::string& type, std::size_t count,
                       std::size_t per_append = 100) {
  for (std::size_t done = 0; done < count;) {
    std::vector<cairn::EventData> events;
    for (; done < count && events.size() < per_append; ++done) {
      events.push_back(Json(type, "{\"amount\":" + std::to_string(done % 100) + "}"));
    }
    CAIRN_REQUIRE_OK(store.Append(stream, cairn::ExpectedRevision::Any(), events));
  }
}

// A projection that records every event it applies in `<name>_seen` (position
// PRIMARY KEY: a duplicate fails) and counts them per stream in `<name>_count`.
inline cairn::Projection SeenProjection(const std::string& name, cairn::ProjectionFilter filter,
                                        const std::vector<std::string>& handled_types) {
  cairn::Projection projection;
  projection.name = name;
  projection.filter = std::move(filter);
  projection.schema = "CREATE TABLE " + name + "_seen (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, type TEXT NOT NULL);"
                      "CREATE TABLE " + name + "_count (stream TEXT PRIMARY KEY, n INTEGER NOT NULL);";
  const std::string insert = "INSERT INTO " + name + "_seen (position, stream, type) VALUES (?1, ?2, ?3)";
  const std::string count = "INSERT INTO " + name + "_count (stream, n) VALUES (?1, 1) "
                            "ON CONFLICT (stream) DO UPDATE SET n = n + 1";
  for (const auto& type : handled_types) {
    projection.handlers[type] = [insert, count](cairn::ReadModelWriter& model, const cairn::EventView& event) {
      if (auto ok = model.Execute(insert, {static_cast<std::int64_t>(event.position), std::string(event.stream),
                                           std::string(event.type)});
          !ok) {
        return ok;
      }
      return model.Execute(count, {std::string(event.stream)});
    };
  }
  return projection;
}

// The positions in `<name>_seen`, ascending.
inline std::vector<std::uint64_t> SeenPositions(const Db& db, const std::string& name) {
  std::vector<std::uint64_t> positions;
  for (const auto& row : db.Rows("SELECT position FROM " + name + "_seen ORDER BY position")) {
    positions.push_back(std::stoull(row[0]));
  }
  return positions;
}

// The model of the live read model and its checkpoint, read in one transaction.
struct LiveCounters {
  std::uint32_t version = 0;
  std::uint64_t position = 0;
  std::optional<CounterModel> model;
};
inline LiveCounters ReadLiveCounters(const Db& db) {
  db.Exec("BEGIN");
  LiveCounters live;
  auto rows = db.Rows("SELECT version, position FROM cairn_projections WHERE name = 'counters'");
  if (!rows.empty()) {
    live.version = static_cast<std::uint32_t>(std::stoul(rows[0][0]));
    live.position = std::stoull(rows[0][1]);
  }
  live.model = ReadCounters(db.get());
  db.Exec("COMMIT");
  return live;
}

}  // namespace cairn_test
