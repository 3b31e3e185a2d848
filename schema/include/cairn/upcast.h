// cairn/upcast.h — versioned event types and upcasting on read.
//
// Stored events never change (the audit chain forbids it). When an event
// type's shape changes, the new shape gets a new version (".vN" suffix, see
// ParseEventTypeVersion in cairn/event.h) and an upcaster turns an event of
// version N into version N+1 as it is read. Upcasters chain: an event stored
// as order.placed.v1 is read as v3 through v1->v2 and v2->v3. Only the view
// changes — its type, data and metadata; its position, stream, revision, id,
// recorded-at, content type and hash stay those of the stored event.
//
//   cairn::Upcasters upcasters;
//   auto registered = upcasters.Register("order.placed", 1, [](cairn::UpcastEvent& event) {
//     event.data = RenameAmountToTotal(event.data);   // v1 -> v2
//     return cairn::Status{};
//   });
//   // or, declared in a file (docs/schemas.md):
//   auto loaded = cairn::LoadUpcasterFile("orders.json");   // errors name FILE:LINE
//
//   cairn::UpcastedEvent upcast;
//   store->ReadStream("order-42", {}, [&](const cairn::EventView& stored) {
//     auto changed = upcasters.Apply(stored, upcast);
//     if (!changed) { report(changed.error()); return false; }
//     const cairn::EventView& event = *changed ? upcast.view() : stored;
//     ...
//   });
//
// The repository (RepositoryOptions::upcasters), projections
// (Projection::upcasters, SQL projection files' `upcasters` key) and the CLI
// (`cairn read|replay --upcast FILE`) apply them for you.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"

namespace cairn {

class Upcasters;
namespace schema_detail {
struct Access;
struct FlatScratch;
}  // namespace schema_detail

// One event going through one upcaster (version N to N+1). The upcaster
// rewrites `data` and `metadata` in place; they hold version N's on entry.
struct UpcastEvent {
  const EventView& stored;     // the event as stored (position, stream, id, …): read-only context
  std::string_view from_type;  // the type before this step, e.g. "order.placed.v1"
  std::string_view to_type;    // the type after it, e.g. "order.placed.v2" (fixed at registration)
  std::string data;            // the data, in the stored event's content type
  std::string metadata;        // empty, or a JSON object
};

// An upcaster written in C++. An error fails the read of that event; Apply
// adds the event's position, type and the upcaster to its message. It may be
// called from several threads at once. It should not throw: an exception is
// caught and reported as its error ("threw …"), never passed on.
using UpcastFunction = std::function<Status(UpcastEvent&)>;

// What Apply produces: the upcast event, a view over buffers it owns. Reused
// across calls (its buffers keep their capacity). The view's stream and
// content type point into the stored event given to Apply, so it is valid as
// long as both that event and this object are, and until the next Apply into it.
class UpcastedEvent {
 public:
  UpcastedEvent();
  ~UpcastedEvent();
  // The view points into this object's buffers: it is neither copied nor moved.
  UpcastedEvent(const UpcastedEvent&) = delete;
  UpcastedEvent& operator=(const UpcastedEvent&) = delete;

  const EventView& view() const { return view_; }

 private:
  friend class Upcasters;
  struct Scratch;  // a JSON document for declared steps, made on first use
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<schema_detail::FlatScratch> flat_;  // the pieces of a spliced object, made on first use
  std::string type_;
  std::string data_;
  std::string metadata_;
  EventView view_;
};

// A set of upcasters, each from (base type, version N) to version N+1.
//
// Building (Register, LoadUpcasterFile) is single-threaded; once built, every
// const method may be called from any number of threads at once.
class Upcasters {
 public:
  Upcasters();
  ~Upcasters();
  Upcasters(Upcasters&&) noexcept;
  Upcasters& operator=(Upcasters&&) noexcept;
  Upcasters(const Upcasters&) = delete;
  Upcasters& operator=(const Upcasters&) = delete;

  // Registers `upcast` from `base_type` version `from_version` (>= 1) to
  // `to_type`: a type name with or without a version suffix, which must then
  // be from_version + 1; without one, ".v<from_version + 1>" is appended.
  // Empty `to_type`: base_type's next version (the usual case; a different
  // name renames the type). The resulting type is fixed here, so that
  // projections know which stored types become which (SourceTypes).
  // kInvalidArgument: a base type that is not a valid type or carries a
  // version suffix, from_version 0 or UINT32_MAX, a to_type with another
  // version, or an upcaster already registered from (base_type, from_version).
  Status Register(std::string_view base_type, std::uint32_t from_version, UpcastFunction upcast);
  Status Register(std::string_view base_type, std::uint32_t from_version, std::string_view to_type,
                  UpcastFunction upcast);

  // Checks that every base type's upcasters form one chain without a gap
  // (from 1, 2, 3 — not 1 and 3). kInvalidArgument naming the type and the
  // missing version. Apply works without it; loaders call it.
  Status Check() const;

  // Upcasts `in` to the newest version its chain reaches. Returns false, and
  // leaves `out` untouched, when no upcaster applies (then use `in` itself:
  // nothing is copied — an empty set, or a type without upcasters, costs one
  // lookup at most). Returns true with `out` holding the result otherwise.
  // A failing upcaster is kInvalidArgument naming the event's position, its
  // type and the upcaster (and for a declared one, its step and FILE:LINE).
  Result<bool> Apply(const EventView& in, UpcastedEvent& out) const;

  // The type an event of `type` has after Apply (`type` when none applies).
  std::string TargetType(std::string_view type) const;
  // Every stored type whose events Apply turns into `type`, `type` itself
  // first when no upcaster applies to it: what a reader filtering on the
  // newest type must ask the store for. Types without a version suffix stand
  // for version 1, so both "order.placed" and "order.placed.v1" are listed.
  std::vector<std::string> SourceTypes(std::string_view type) const;

  bool empty() const;
  std::size_t size() const;  // registered upcasters

 private:
  friend struct schema_detail::Access;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a declarative upcaster file (JSON; docs/schemas.md is its reference):
//
//   {"upcasters": [
//     {"type": "order.placed", "from": 1, "steps": [
//       {"rename": {"from": "amount", "to": "total"}},
//       {"add": {"field": "currency", "default": "EUR"}}]},
//     {"type": "order.placed", "from": 2, "steps": [
//       {"move": {"from": "customer", "to": "buyer.id"}},
//       {"drop": {"field": "legacy"}},
//       {"type": "order.submitted"}]}]}
//
// Steps work on the event's JSON data. Everything is checked on load: the
// JSON, the keys, the paths, duplicates and gaps in a chain. Errors are
// kInvalidArgument "FILE:LINE: what is wrong" (FILE = `file_name`).
Result<Upcasters> ParseUpcasters(std::string_view text, std::string_view file_name);

// Reads `path` and parses it as ParseUpcasters(text, path). kNotFound when
// there is no such file, kIOError when it cannot be read.
Result<Upcasters> LoadUpcasterFile(const std::string& path);

}  // namespace cairn
