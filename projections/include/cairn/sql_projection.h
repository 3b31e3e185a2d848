// cairn/sql_projection.h — read models declared in a file: SQL, no C++.
//
// A SQL projection file declares a read model's schema and, per event type,
// the SQL statements that apply an event to it. Statements use named
// parameters (:customer) taken from the event: JSON paths into its data and
// metadata (data.customer, data.items[0].price, metadata.correlation_id) and
// built-ins (:stream, :revision, :position, :recorded_at, …). The file is a
// small, strict subset of TOML; docs/sql-projections.md is its reference, and
// examples/projections/customer_totals.toml a complete example.
//
//   # customer_totals.toml
//   [projection]
//   name = "customer_totals"
//   version = 1
//   upcasters = "orders.json"   # optional: cairn/upcast.h's declarative file,
//                               # relative to this file; handlers name the newest types
//
//   [schema]
//   sql = 'CREATE TABLE customer_totals (customer TEXT PRIMARY KEY, total INTEGER NOT NULL)'
//
//   [on."order.placed.v1"]
//   sql = '''INSERT INTO customer_totals VALUES (:customer, :total)
//            ON CONFLICT (customer) DO UPDATE SET total = total + excluded.total'''
//   params = { customer = "data.customer", total = "data.total" }
//
//   auto projection = cairn::LoadSqlProjection("customer_totals.toml");
//   if (!projection) { std::cerr << projection.error().message() << "\n"; return 1; }  // FILE:LINE: …
//   (*runner)->Add(std::move(*projection));
//
// Everything that can be checked without events is checked when the file is
// loaded: the syntax, the keys, the names, and the SQL itself — the schema is
// run in an empty in-memory database and every statement is prepared against
// it, so a statement that does not compile, or names a parameter that is not
// defined (or a param that no statement uses), is an error with its line.
#pragma once

#include <string>
#include <string_view>

#include "cairn/projection.h"
#include "cairn/status.h"

namespace cairn {

// Parses and checks the SQL projection in `text`. `file_name` is only used in
// messages. Errors are kInvalidArgument with a message "FILE:LINE: what is
// wrong" (LINE is 1-based; problems of the whole file, such as a missing
// [projection] table, name line 1).
//
// The Projection's handlers are self-contained (they share nothing with the
// text or with each other) and may run on any thread. Each one runs its
// statements in order through ReadModelWriter::Prepare (cached statements,
// parameters bound by name) and steps each to completion; a failure returns an
// error naming the projection, the event type and position, the statement
// (FILE:LINE) and SQLite's message, with kBusy, kIOError or kCorruption when
// SQLite's error says so and kInvalidArgument otherwise (a constraint, a type
// mismatch, event data that is not valid JSON).
Result<Projection> ParseSqlProjection(std::string_view text, std::string_view file_name);

// Reads the file at `path` and parses it as ParseSqlProjection(text, path).
// kNotFound when there is no such file, kIOError when it cannot be read.
Result<Projection> LoadSqlProjection(const std::string& path);

}  // namespace cairn
