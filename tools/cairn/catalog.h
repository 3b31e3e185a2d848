// The event catalog: what event types a store actually holds, built from its
// log (and schemas), and — given a router such as a bridge file's — where each
// type is published. `cairn catalog` formats it (catalog_command.cc).
//
//   CatalogOptions options;
//   options.route = [&](const EventView& e) { return config.Route(e); };  // optional
//   auto catalog = BuildCatalog(*store, options);
//   for (const CatalogEntry& entry : catalog->entries) std::cout << entry.event_type << " " << entry.events << "\n";
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/store.h"

namespace cairn::cli {

// A top-level member of the JSON data seen in the sampled events of a type.
struct CatalogField {
  std::string name;
  // The JSON types it had, in first-seen order: object, array, string,
  // integer, number (not an integer), boolean, null.
  std::vector<std::string> json_types;
  std::uint64_t seen = 0;  // in how many of the sampled events
};

// One event type (one version of a base type).
struct CatalogEntry {
  std::string event_type;  // as stored, e.g. "order.placed.v2"
  std::string base_type;   // without its ".vN" suffix, e.g. "order.placed"
  std::uint32_t version = 1;  // N of ".vN"; 1 when unversioned (bridge's SchemaVersionOf)
  std::uint64_t events = 0;
  std::uint64_t first_position = 0;
  std::uint64_t last_position = 0;
  std::int64_t first_recorded_at_us = 0;
  std::int64_t last_recorded_at_us = 0;
  // The categories of the streams it was appended to (byte order).
  std::vector<std::string> categories;
  // Fields of the first CatalogOptions::sample_per_type events with JSON object data.
  std::uint64_t sampled = 0;
  std::vector<CatalogField> fields;
  // Events whose data is not JSON (another content type), so not sampled.
  std::uint64_t non_json = 0;
  std::optional<SchemaInfo> schema;  // its current JSON Schema, if registered
  // With a router: the distinct topics its events go to, in first-seen order,
  // and the routing errors of those that go nowhere (e.g. unroutable).
  std::vector<std::string> topics;
  std::vector<std::string> routing_errors;
};

struct Catalog {
  std::uint64_t head_position = 0;  // the log's head when the scan ended
  std::uint64_t events = 0;
  // By domain (DomainOf), base type (byte order), version, then type.
  std::vector<CatalogEntry> entries;
  // Types with a schema but no event in the log (not in `entries`).
  std::vector<SchemaInfo> schemas_without_events;
};

struct CatalogOptions {
  // Events per type whose data is looked at for fields. Default: 100.
  std::size_t sample_per_type = 100;
  // Where an event is published, e.g. BridgeConfig::Route. Asked once per
  // (type, category) seen; may be empty (no topics).
  std::function<Result<std::string>(const EventView&)> route;
};

// Scans the whole log once (in one read) and reads the schemas.
Result<Catalog> BuildCatalog(EventStore& store, const CatalogOptions& options = {});

// "order.placed" for "order.placed.v2" and for "order.placed" (ParseEventTypeVersion's base).
std::string_view BaseTypeOf(std::string_view event_type);
// How people recognise a JSON Schema document: its "$id", else "id", else "title"; empty when none.
std::string SchemaLabelOf(std::string_view schema);
// The domain a type is grouped under in the catalog's markdown. The standards
// name types <project>.<domain>.<entity>.<action>[.vN] ("acme.orders.order.placed.v1"
// -> "orders") or <domain>.<entity>[.<action>] ("order.placed" -> "order"): the
// second segment when the base type has four or more, else the first.
std::string_view DomainOf(std::string_view event_type);

}  // namespace cairn::cli
