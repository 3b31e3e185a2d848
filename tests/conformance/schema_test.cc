// JSON Schemas per event type (EventStore::PutSchema, GetSchema, ReadSchemas,
// DeleteSchema) and validation on append, on every backend: storage, history,
// refusals, nothing written by a refused append, reopening, other processes'
// schemas, and stores created before the schemas table / sub-database existed.
#include <lmdb.h>
#include <sqlite3.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "conformance.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;

constexpr const char* kPlacedSchema = R"({
  "$id": "urn:cairn:test:order-placed",
  "type": "object",
  "required": ["order_id", "total"],
  "properties": {
    "order_id": {"type": "string"},
    "total": {"type": "number", "minimum": 0},
    "lines": {"type": "array", "items": {"type": "object", "required": ["sku"],
                                          "properties": {"sku": {"type": "string", "pattern": "^[A-Z]+-[0-9]+$"}}}}
  }
})";

// A SchemaView, owned.
struct StoredSchema {
  std::string event_type;
  std::uint64_t registration = 0;
  std::int64_t registered_at_us = 0;
  std::string schema;
  bool current = false;
};

std::vector<StoredSchema> ReadAllSchemas(cairn::EventStore& store, const cairn::ReadSchemasOptions& options = {}) {
  std::vector<StoredSchema> schemas;
  auto read = store.ReadSchemas(
      [&](const cairn::SchemaView& view) {
        schemas.push_back({.event_type = std::string(view.event_type),
                           .registration = view.registration,
                           .registered_at_us = view.registered_at_us,
                           .schema = std::string(view.schema),
                           .current = view.current});
        return true;
      },
      options);
  CAIRN_REQUIRE_OK(read);
  REQUIRE(*read == schemas.size());
  return schemas;
}

std::string Error(const cairn::Result<cairn::AppendResult>& result) {
  REQUIRE_FALSE(result.has_value());
  return result.error().message();
}

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

TEST_CASE("a schema is registered, read, replaced with history and deleted", "[schemas]") {
  TestStore store;
  CAIRN_REQUIRE_ERROR(store->GetSchema("order.placed.v1"), ErrorCode::kNotFound);
  CHECK(ReadAllSchemas(*store).empty());

  auto first = store->PutSchema("order.placed.v1", kPlacedSchema);
  CAIRN_REQUIRE_OK(first);
  CHECK(*first == 1);
  auto got = store->GetSchema("order.placed.v1");
  CAIRN_REQUIRE_OK(got);
  CHECK(got->event_type == "order.placed.v1");
  CHECK(got->registration == 1);
  CHECK(got->schema == kPlacedSchema);  // byte-exact
  CHECK(got->registered_at_us > 0);

  const std::string newer = R"({"type":"object","required":["order_id"]})";
  auto second = store->PutSchema("order.placed.v1", newer);
  CAIRN_REQUIRE_OK(second);
  CHECK(*second == 2);
  CAIRN_REQUIRE_OK(store->PutSchema("account.opened", R"({"type":"object"})"));

  got = store->GetSchema("order.placed.v1");
  CAIRN_REQUIRE_OK(got);
  CHECK(got->registration == 2);
  CHECK(got->schema == newer);

  auto current = ReadAllSchemas(*store);
  REQUIRE(current.size() == 2);
  CHECK(current[0].event_type == "account.opened");  // type order
  CHECK(current[1].event_type == "order.placed.v1");
  CHECK(current[1].registration == 2);
  CHECK(current[1].current);

  auto history = ReadAllSchemas(*store, {.event_type = "order.placed.v1", .history = true});
  REQUIRE(history.size() == 2);
  CHECK(history[0].registration == 2);  // newest first
  CHECK(history[0].current);
  CHECK(history[1].registration == 1);
  CHECK_FALSE(history[1].current);
  CHECK(history[1].schema == kPlacedSchema);
  CHECK(history[1].registered_at_us <= history[0].registered_at_us);
  CHECK(ReadAllSchemas(*store, {.history = true}).size() == 3);

  auto deleted = store->DeleteSchema("order.placed.v1");
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 2);
  CAIRN_CHECK_ERROR(store->GetSchema("order.placed.v1"), ErrorCode::kNotFound);
  deleted = store->DeleteSchema("order.placed.v1");
  CAIRN_REQUIRE_OK(deleted);
  CHECK(*deleted == 0);
  // Registration numbers start again after a delete.
  auto again = store->PutSchema("order.placed.v1", newer);
  CAIRN_REQUIRE_OK(again);
  CHECK(*again == 1);
  RequireVerifyOk(*store);  // schemas are beside the log, not in it
  CHECK(Head(*store) == 0);
}

TEST_CASE("appends are validated against their type's schema", "[schemas]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", kPlacedSchema));

  SECTION("valid data is accepted, other types are not checked") {
    CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(),
                                   {Json("order.placed.v1", R"({"order_id":"o1","total":42,"lines":[{"sku":"AB-1"}]})"),
                                    Json("order.noted.v1", R"({"anything":[1,2]})")}));
    CHECK(Head(*store) == 2);
  }

  SECTION("an invalid event is refused, naming type, schema, pointer and keyword") {
    auto refused = store->Append("order-1", ExpectedRevision::Any(),
                                 {Json("order.placed.v1", R"({"order_id":"o1","total":-5})")});
    CAIRN_REQUIRE_ERROR(refused, ErrorCode::kInvalidArgument);
    const std::string message = Error(refused);
    INFO(message);
    CHECK(Contains(message, "order.placed.v1"));
    CHECK(Contains(message, "urn:cairn:test:order-placed"));
    CHECK(Contains(message, "\"/total\""));
    CHECK(Contains(message, "minimum"));

    refused = store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", R"({"total":1})")});
    CAIRN_REQUIRE_ERROR(refused, ErrorCode::kInvalidArgument);
    CHECK(Contains(Error(refused), "required"));

    refused = store->Append("order-1", ExpectedRevision::Any(),
                            {Json("order.placed.v1", R"({"order_id":"o","total":1,"lines":[{"sku":"AB-1"},{"sku":"x"}]})")});
    CAIRN_REQUIRE_ERROR(refused, ErrorCode::kInvalidArgument);
    CHECK(Contains(Error(refused), "\"/lines/1/sku\""));
    CHECK(Contains(Error(refused), "pattern"));
    CHECK(Head(*store) == 0);
  }

  SECTION("an append whose second event is invalid writes nothing") {
    auto refused = store->Append("order-1", ExpectedRevision::NoStream(),
                                 {Json("order.placed.v1", R"({"order_id":"o1","total":1})"),
                                  Json("order.placed.v1", R"({"order_id":7,"total":1})"),
                                  Json("order.noted.v1")});
    CAIRN_REQUIRE_ERROR(refused, ErrorCode::kInvalidArgument);
    CHECK(Contains(Error(refused), "event 1 (order.placed.v1)"));
    CHECK(Contains(Error(refused), "\"/order_id\""));
    CHECK(Head(*store) == 0);
    auto info = store->GetStreamInfo("order-1");
    CAIRN_REQUIRE_OK(info);
    CHECK_FALSE(info->exists);
  }

  SECTION("non-JSON data of a type with a schema is refused") {
    cairn::EventData bytes = Json("order.placed.v1", "\x01\x02");
    bytes.content_type = "application/octet-stream";
    auto refused = store->Append("order-1", ExpectedRevision::Any(), {bytes});
    CAIRN_REQUIRE_ERROR(refused, ErrorCode::kInvalidArgument);
    CHECK(Contains(Error(refused), "must be JSON"));
    CHECK(Head(*store) == 0);
  }

  SECTION("a replaced schema applies from the next append, a deleted one no longer") {
    CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", R"({"type":"object","required":["currency"]})"));
    CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(),
                                    {Json("order.placed.v1", R"({"order_id":"o1","total":1})")}),
                      ErrorCode::kInvalidArgument);
    CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", R"({"currency":"EUR"})")}));
    CAIRN_REQUIRE_OK(store->DeleteSchema("order.placed.v1"));
    CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", R"([1])")}));
    CHECK(Head(*store) == 2);
  }
}

TEST_CASE("an invalid schema document is refused at PutSchema", "[schemas]") {
  TestStore store;
  struct Case {
    const char* document;
    const char* expected;  // part of the message
  };
  const Case cases[] = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "must be a JSON object"},
      {R"({"type":"strnig"})", "not a valid draft-4 JSON Schema"},
      {R"({"properties":{"n":{"minimum":"zero"}}})", "/properties/n/minimum"},
      {R"({"required":[]})", "not a valid draft-4"},
      {R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"})", "draft 4"},
      {R"({"properties":{"kind":{"const":"x"}}})", "\"const\" is not a draft-4 keyword"},
      {R"({"$ref":"#/definitions/missing"})", "does not point to anything"},
      {R"({"$ref":"https://example.com/other.json"})", "remote schemas are not fetched"},
      {R"({"properties":{"s":{"type":"string","pattern":"(unclosed"}}})", "/properties/s/pattern"},
      {R"({"pattern":"^\\d+$"})", "no classes like \\d"},
      {R"({"pattern":"a|"})", "an empty alternative"},
      {R"({"pattern":"{2}a"})", "with nothing to repeat"},
      {R"({"pattern":"a$b"})", "'^' or '$' inside the pattern"},
      {R"({"patternProperties":{"x{2,1}":{}}})", "/patternProperties/x{2,1}"},
  };
  for (const Case& c : cases) {
    INFO(c.document);
    auto put = store->PutSchema("order.placed.v1", c.document);
    CAIRN_REQUIRE_ERROR(put, ErrorCode::kInvalidArgument);
    INFO(put.error().message());
    CHECK(Contains(put.error().message(), c.expected));
    CHECK(Contains(put.error().message(), "order.placed.v1"));
  }
  CAIRN_CHECK_ERROR(store->PutSchema("$stream.deleted", "{}"), ErrorCode::kInvalidArgument);
  CAIRN_CHECK_ERROR(store->PutSchema("", "{}"), ErrorCode::kInvalidArgument);
  CHECK(ReadAllSchemas(*store).empty());
  // Draft 4 declared explicitly, definitions and local references are fine.
  CAIRN_CHECK_OK(store->PutSchema("order.placed.v1", R"({"$schema":"http://json-schema.org/draft-04/schema#",
      "definitions":{"money":{"type":"number","minimum":0}},
      "properties":{"total":{"$ref":"#/definitions/money"}}})"));
  CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", R"({"total":-1})")}),
                    ErrorCode::kInvalidArgument);
}

TEST_CASE("schemas survive reopening, and a read-only store validates nothing but reads them", "[schemas]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", kPlacedSchema));
  CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", R"({"type":"object","required":["order_id"]})"));
  store.Reopen();
  auto got = store->GetSchema("order.placed.v1");
  CAIRN_REQUIRE_OK(got);
  CHECK(got->registration == 2);
  CHECK(ReadAllSchemas(*store, {.history = true}).size() == 2);
  CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", "{}")}),
                    ErrorCode::kInvalidArgument);
  store.Close();

  cairn::Options options = TestOptions();
  options.create_if_missing = false;
  options.read_only = true;
  auto read_only = cairn::EventStore::Open(store.path(), options);
  CAIRN_REQUIRE_OK(read_only);
  CHECK(ReadAllSchemas(**read_only).size() == 1);
  CAIRN_CHECK_ERROR((*read_only)->PutSchema("x.y", "{}"), ErrorCode::kNotSupported);
  CAIRN_CHECK_ERROR((*read_only)->DeleteSchema("order.placed.v1"), ErrorCode::kNotSupported);
}

// Two store objects on one file stand for two processes (each has its own
// cache): a schema one registers must be honoured by the other's next append,
// although its cache was loaded before.
TEST_CASE("a schema registered through another store object is honoured at once", "[schemas]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), {Json("order.placed.v1", "{}")}));
  cairn::Options options = TestOptions();
  options.create_if_missing = false;
  {
    auto other = cairn::EventStore::Open(store.path(), options);
    CAIRN_REQUIRE_OK(other);
    CAIRN_REQUIRE_OK((*other)->PutSchema("order.placed.v1", R"({"type":"object","required":["order_id"]})"));
  }
  auto refused = store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", "{}")});
  CAIRN_REQUIRE_ERROR(refused, ErrorCode::kInvalidArgument);
  CHECK(Contains(Error(refused), "required"));
  CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", R"({"order_id":"a"})")}));
  {
    auto other = cairn::EventStore::Open(store.path(), options);
    CAIRN_REQUIRE_OK(other);
    CAIRN_REQUIRE_OK((*other)->DeleteSchema("order.placed.v1"));
  }
  CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", "{}")}));
  CHECK(Head(*store) == 3);
}

TEST_CASE("concurrent appends and schema changes never let an invalid event in", "[schemas][concurrency]") {
  TestStore store;
  const std::string strict = R"({"type":"object","required":["ok"]})";
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      (void)store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", "{}")});
      (void)store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", R"({"ok":1})")});
    }
  });
  for (int i = 0; i < 20; ++i) {
    CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", strict));
    CAIRN_REQUIRE_OK(store->DeleteSchema("order.placed.v1"));
  }
  CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", strict));
  const std::uint64_t strict_from = Head(*store) + 1;
  for (int i = 0; i < 20; ++i) {
    (void)store->Append("order-2", ExpectedRevision::Any(), {Json("order.placed.v1", "{}")});
  }
  stop = true;
  writer.join();
  // Every event committed after the last registration has "ok".
  for (const auto& event : ReadLogAll(*store, {.from_position = strict_from})) {
    INFO("position " << event.position << ": " << event.data);
    CHECK(event.data == R"({"ok":1})");
  }
}

// RapidJSON's regex keeps its match state in the compiled pattern: appends
// validated on several threads at once must still all be judged right.
TEST_CASE("validations of a schema with patterns on many threads at once", "[schemas][concurrency]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", R"({"properties":{"sku":{"type":"string","pattern":"^[A-Z]+-[0-9]+$"}}})"));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const bool valid = (i + t) % 2 == 0;
        auto appended = store->Append("order-" + std::to_string(t), ExpectedRevision::Any(),
                                      {Json("order.placed.v1", valid ? R"({"sku":"ABC-12345"})" : R"({"sku":"abc-1"})")});
        if (appended.has_value() != valid) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  CHECK(Head(*store) == 400);
}

// Removes the schemas table (SQLite) or sub-database (LMDB) and the schema
// generation of the closed store at `path`: a format-1 store created before
// schemas existed.
void DropSchemaStorage(const std::string& path) {
  if (TestBackend() == cairn::BackendKind::kSqlite) {
    sqlite3* db = nullptr;
    const int opened = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    char* message = nullptr;
    const int dropped =
        opened == SQLITE_OK ? sqlite3_exec(db, "DROP TABLE schemas; DELETE FROM cairn_meta WHERE key = 'schema_generation'",
                                           nullptr, nullptr, &message)
                            : opened;
    INFO("sqlite: " << (message != nullptr ? message : sqlite3_errstr(dropped)));
    sqlite3_free(message);
    sqlite3_close_v2(db);
    REQUIRE(dropped == SQLITE_OK);
    return;
  }
  REQUIRE(TestBackend() == cairn::BackendKind::kLmdb);
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 8);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "schemas", 0, &dbi) == MDB_SUCCESS);
  REQUIRE(mdb_drop(txn, dbi, 1) == MDB_SUCCESS);  // 1: delete it from the environment, not just empty it
  MDB_dbi meta = 0;
  REQUIRE(mdb_dbi_open(txn, "cairn_meta", 0, &meta) == MDB_SUCCESS);
  MDB_val key{.mv_size = 17, .mv_data = const_cast<char*>("schema_generation")};
  const int removed = mdb_del(txn, meta, &key, nullptr);
  REQUIRE((removed == MDB_SUCCESS || removed == MDB_NOTFOUND));
  REQUIRE(mdb_txn_commit(txn) == MDB_SUCCESS);
  mdb_env_close(env);
}

TEST_CASE("a store created before schemas existed opens, has none and can register one", "[schemas][old-store]") {
  TestStore store;
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), NumberedEvents(3, "order.placed.v1")));
  CAIRN_REQUIRE_OK(store->PutSchema("order.placed.v1", R"({"type":"object","required":["gone"]})"));
  const auto log = ReadLogAll(*store);
  store.Close();
  DropSchemaStorage(store.path());

  SECTION("read-only: no schemas") {
    cairn::Options options = TestOptions();
    options.create_if_missing = false;
    options.read_only = true;
    auto opened = cairn::EventStore::Open(store.path(), options);
    CAIRN_REQUIRE_OK(opened);
    CHECK(ReadAllSchemas(**opened).empty());
    CAIRN_CHECK_ERROR((*opened)->GetSchema("order.placed.v1"), ErrorCode::kNotFound);
    CHECK(ReadLogAll(**opened) == log);
  }

  SECTION("writable: appends unchecked, then a schema is registered and enforced") {
    store.Reopen();
    CHECK(ReadAllSchemas(*store).empty());
    CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", "{}")}));
    auto deleted = store->DeleteSchema("order.placed.v1");
    CAIRN_REQUIRE_OK(deleted);
    CHECK(*deleted == 0);
    auto put = store->PutSchema("order.placed.v1", R"({"type":"object","required":["n"]})");
    CAIRN_REQUIRE_OK(put);
    CHECK(*put == 1);
    CAIRN_CHECK_ERROR(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", "{}")}),
                      ErrorCode::kInvalidArgument);
    CAIRN_CHECK_OK(store->Append("order-1", ExpectedRevision::Any(), {Json("order.placed.v1", R"({"n":9})")}));
    store.Reopen();
    CHECK(ReadAllSchemas(*store).size() == 1);
    RequireVerifyOk(*store);
  }
}

}  // namespace
}  // namespace cairn_test
