// Internal: the JSON Schemas of event types (EventStore::PutSchema) — checking a
// document before it is registered, compiling it once, and validating event
// data against it. The validator is RapidJSON's (rapidjson/schema.h), which
// implements JSON Schema draft 4; nothing here is a validator of its own.
//
//   auto compiled = CompiledSchema::Compile("order.placed.v1", 1, R"({"type":"object","required":["total"]})");
//   if (auto ok = compiled->Validate(R"({"total":42})"); !ok) { /* ok.error().message() says where */ }
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::detail {

// Ok when `document` is a JSON Schema that RapidJSON enforces as written: a JSON
// object that validates against the draft-4 meta-schema, whose "$schema" (if
// any) is draft 4, that uses no keyword of a later draft which draft 4 would
// silently ignore (const, contains, if/then/else, …), whose "pattern"s and
// "patternProperties" compile, and whose every "$ref" points inside the
// document (there is no remote schema provider). Otherwise kInvalidArgument,
// the message saying what is wrong and where (a JSON pointer).
Status CheckSchemaDocument(std::string_view document);

// One registered schema, compiled, shared between threads. Validate may be
// called from any thread at once: each validation has its own validator state,
// but RapidJSON 1.1.0's regex keeps its match state inside the compiled
// pattern, so validations of a schema that has patterns take turns.
class CompiledSchema {
 public:
  // Never fails: a stored document that does not compile (written by something
  // other than PutSchema) gives a schema whose Validate fails with kCorruption,
  // so that events of its type are refused rather than let through unchecked.
  static std::shared_ptr<const CompiledSchema> Compile(std::string_view event_type, std::uint64_t registration,
                                                       std::string_view document);
  ~CompiledSchema();
  CompiledSchema(const CompiledSchema&) = delete;
  CompiledSchema& operator=(const CompiledSchema&) = delete;

  // Ok when `data` — valid JSON, as Append has already checked — validates.
  // Otherwise kInvalidArgument: "data does not match the JSON Schema of
  // "T" (registration N, $id "…"): at "/total": fails "minimum" (schema "#/properties/total")".
  Status Validate(std::string_view data) const;

  const std::string& event_type() const { return event_type_; }
  std::uint64_t registration() const { return registration_; }
  // How messages name the schema: the type, its registration and its $id, id or title.
  const std::string& name() const { return name_; }
  const std::string& document() const { return document_; }

 private:
  struct Compiled;
  CompiledSchema(std::string event_type, std::uint64_t registration, std::string_view document);

  std::string event_type_;
  std::uint64_t registration_;
  std::string document_;
  std::string name_;
  std::unique_ptr<Compiled> compiled_;  // null when the document did not compile
  std::string broken_;                  // why, then
  bool has_patterns_ = false;           // "pattern" or "patternProperties" somewhere in it
  mutable std::mutex pattern_mutex_;    // held by a validation when has_patterns_
};

// The current schemas of a store at one schema generation: what appends are
// checked against. Immutable once built; the store swaps in a new one.
struct SchemaSet {
  std::uint64_t generation = 0;
  std::map<std::string, std::shared_ptr<const CompiledSchema>, std::less<>> by_type;

  // The schema of `type`, or null when it has none.
  const CompiledSchema* Find(std::string_view type) const {
    auto it = by_type.find(type);
    return it == by_type.end() ? nullptr : it->second.get();
  }
  // The compiled schema of (`type`, `registration`) in this set, else a new compilation of `document`.
  std::shared_ptr<const CompiledSchema> Reuse(std::string_view type, std::uint64_t registration,
                                              std::string_view document) const;
};

}  // namespace cairn::detail
