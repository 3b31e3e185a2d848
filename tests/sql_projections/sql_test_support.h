// Helpers of the SQL projection tests: a minimal ReadModelWriter over a SQLite
// connection (so that handlers are tested without the runner), events, and
// reading rows back.
#pragma once

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/projection.h"
#include "cairn/sql_projection.h"
#include "test_util.h"

namespace sql_test {

// The date 1714566896123456 µs stands for: 2024-05-01T12:34:56.123456Z.
inline constexpr std::int64_t kRecordedAtUs = 1714566896123456;

inline cairn::RecordedEvent MakeEvent(std::uint64_t position, std::string stream, std::uint64_t revision,
                                      std::string type, std::string data, std::string metadata = "",
                                      std::string content_type = std::string(cairn::kContentTypeJson)) {
  cairn::RecordedEvent event;
  event.position = position;
  event.stream = std::move(stream);
  event.revision = revision;
  event.id = *cairn::EventId::Parse("0190a5c8-7e1c-7a3b-9f00-0123456789ab");
  event.type = std::move(type);
  event.recorded_at_us = kRecordedAtUs;
  event.content_type = std::move(content_type);
  event.data = std::move(data);
  event.metadata = std::move(metadata);
  return event;
}

// A read-model writer as small as the interface allows: one connection, a
// statement cache, no transactions of its own.
class TestWriter final : public cairn::ReadModelWriter {
 public:
  TestWriter() {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    db_ = raw;
    if (rc != SQLITE_OK) throw std::runtime_error("cannot open an in-memory database");
  }
  ~TestWriter() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  TestWriter(const TestWriter&) = delete;
  TestWriter& operator=(const TestWriter&) = delete;

  using cairn::ReadModelWriter::Execute;
  using cairn::ReadModelWriter::Query;

  cairn::Status Execute(std::string_view sql, std::span<const cairn::SqlValue> params) override {
    auto rows = Query(sql, params);
    if (!rows) return cairn::Fail(rows.error());
    return {};
  }

  cairn::Result<std::vector<std::vector<cairn::SqlValue>>> Query(std::string_view sql,
                                                                 std::span<const cairn::SqlValue> params) override {
    auto prepared = Prepare(sql);
    if (!prepared) return cairn::Fail(prepared.error());
    sqlite3_stmt* stmt = *prepared;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int at = static_cast<int>(i + 1);
      const cairn::SqlValue& value = params[i];
      if (std::holds_alternative<std::nullptr_t>(value)) {
        sqlite3_bind_null(stmt, at);
      } else if (const auto* integer = std::get_if<std::int64_t>(&value)) {
        sqlite3_bind_int64(stmt, at, *integer);
      } else if (const auto* real = std::get_if<double>(&value)) {
        sqlite3_bind_double(stmt, at, *real);
      } else if (const auto* text = std::get_if<std::string>(&value)) {
        sqlite3_bind_text64(stmt, at, text->data(), text->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else {
        const auto& blob = std::get<cairn::SqlBlob>(value).bytes;
        sqlite3_bind_blob64(stmt, at, blob.data(), blob.size(), SQLITE_TRANSIENT);
      }
    }
    std::vector<std::vector<cairn::SqlValue>> rows;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<cairn::SqlValue> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL: row.emplace_back(nullptr); break;
          case SQLITE_INTEGER: row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c))); break;
          case SQLITE_FLOAT: row.emplace_back(sqlite3_column_double(stmt, c)); break;
          case SQLITE_TEXT:
            row.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
                                         static_cast<std::size_t>(sqlite3_column_bytes(stmt, c))));
            break;
          default: {
            const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt, c));
            row.emplace_back(cairn::SqlBlob{std::string(bytes == nullptr ? "" : bytes,
                                                        static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)))});
          }
        }
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) {
      std::string message = sqlite3_errmsg(db_);
      sqlite3_reset(stmt);
      return cairn::Fail(cairn::ErrorCode::kInvalidArgument, message);
    }
    sqlite3_reset(stmt);
    return rows;
  }

  cairn::Result<sqlite3_stmt*> Prepare(std::string_view sql) override {
    if (auto it = cache_.find(std::string(sql)); it != cache_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                      &stmt, &tail);
    if (rc != SQLITE_OK) return cairn::Fail(cairn::ErrorCode::kInvalidArgument, sqlite3_errmsg(db_));
    if (stmt == nullptr) return cairn::Fail(cairn::ErrorCode::kInvalidArgument, "no statement");
    // Strict like a real writer may be: one statement, nothing after it.
    if (tail != sql.data() + sql.size()) {
      sqlite3_finalize(stmt);
      return cairn::Fail(cairn::ErrorCode::kInvalidArgument, "text after the statement: " + std::string(tail));
    }
    ++prepares_;
    cache_.emplace(std::string(sql), stmt);
    return stmt;
  }

  sqlite3* db() override { return db_; }

  int prepares() const { return prepares_; }

  // Runs a projection's schema.
  void Create(const cairn::Projection& projection) {
    char* error = nullptr;
    if (sqlite3_exec(db_, projection.schema.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      std::string message = error != nullptr ? error : "?";
      sqlite3_free(error);
      FAIL("schema: " << message);
    }
  }

  // Rows of `sql`, which must succeed.
  std::vector<std::vector<cairn::SqlValue>> Rows(std::string_view sql) {
    auto rows = Query(sql);
    INFO("query: " << sql << " -> " << (rows ? std::string("ok") : rows.error().ToString()));
    REQUIRE(rows.has_value());
    return *rows;
  }

  // The only value of a query returning one row of one column.
  cairn::SqlValue Value(std::string_view sql) {
    auto rows = Rows(sql);
    REQUIRE(rows.size() == 1);
    REQUIRE(rows[0].size() == 1);
    return rows[0][0];
  }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
  int prepares_ = 0;
};

// Parses `text`, which must be a valid SQL projection.
inline cairn::Projection Parse(std::string_view text, std::string_view file = "test.toml") {
  auto projection = cairn::ParseSqlProjection(text, file);
  INFO("result: " << cairn_test::Describe(projection));
  REQUIRE(projection.has_value());
  return std::move(*projection);
}

// Applies `event` with the projection's handler for its type (which must exist).
inline cairn::Status Apply(const cairn::Projection& projection, cairn::ReadModelWriter& writer,
                           const cairn::RecordedEvent& event) {
  auto handler = projection.handlers.find(event.type);
  REQUIRE(handler != projection.handlers.end());
  return handler->second(writer, event.view());
}

inline void RequireApplied(const cairn::Projection& projection, cairn::ReadModelWriter& writer,
                           const cairn::RecordedEvent& event) {
  auto applied = Apply(projection, writer, event);
  INFO("event " << event.type << " at " << event.position << ": " << cairn_test::Describe(applied));
  REQUIRE(applied.has_value());
}

}  // namespace sql_test

namespace Catch {
template <>
struct StringMaker<cairn::SqlValue> {
  static std::string convert(const cairn::SqlValue& value) {
    if (std::holds_alternative<std::nullptr_t>(value)) return "NULL";
    if (const auto* integer = std::get_if<std::int64_t>(&value)) return "INTEGER " + std::to_string(*integer);
    if (const auto* real = std::get_if<double>(&value)) return "REAL " + Catch::StringMaker<double>::convert(*real);
    if (const auto* text = std::get_if<std::string>(&value)) return "TEXT '" + *text + "'";
    return "BLOB " + std::to_string(std::get<cairn::SqlBlob>(value).bytes.size()) + " bytes";
  }
};
}  // namespace Catch
