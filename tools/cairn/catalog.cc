#include "catalog.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "cairn/envelope.h"
#include "json_text.h"

namespace cairn::cli {
namespace {

// The JSON type of a compact JSON value's text.
std::string_view JsonTypeOf(std::string_view value) {
  if (value.empty()) return "null";
  switch (value.front()) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't':
    case 'f': return "boolean";
    case 'n': return "null";
    default:
      return value.find_first_of(".eE") == std::string_view::npos ? "integer" : "number";
  }
}

// What the scan keeps per type besides the entry.
struct Building {
  CatalogEntry entry;
  std::set<std::string, std::less<>> categories;
  std::map<std::string, std::size_t, std::less<>> field_index;  // name -> index in entry.fields
  std::set<std::string, std::less<>> routed_categories;
};

}  // namespace

std::string_view BaseTypeOf(std::string_view event_type) { return ParseEventTypeVersion(event_type).base; }

std::string SchemaLabelOf(std::string_view schema) {
  auto members = SplitJsonObject(schema);
  if (!members) return "";
  for (const char* key : {"$id", "id", "title"}) {
    for (const JsonMember& member : *members) {
      if (member.name != key) continue;
      if (auto text = JsonStringValue(member.value)) return *text;
    }
  }
  return "";
}

std::string_view DomainOf(std::string_view event_type) {
  const std::string_view base = BaseTypeOf(event_type);
  const std::size_t first = base.find('.');
  if (first == std::string_view::npos) return base;
  // <project>.<domain>.<entity>.<action>: four segments or more name the project first.
  const std::size_t second = base.find('.', first + 1);
  const std::size_t third = second == std::string_view::npos ? second : base.find('.', second + 1);
  if (third != std::string_view::npos) return base.substr(first + 1, second - first - 1);
  return base.substr(0, first);  // <domain>.<entity>[.<action>]
}

Result<Catalog> BuildCatalog(EventStore& store, const CatalogOptions& options) {
  Catalog catalog;
  std::map<std::string, Building, std::less<>> types;
  std::optional<Error> route_failure;
  auto read = store.ReadLog(ReadLogOptions{}, [&](const EventView& event) {
    auto it = types.find(event.type);
    if (it == types.end()) {
      it = types.emplace(std::string(event.type), Building{}).first;
      CatalogEntry& entry = it->second.entry;
      entry.event_type = std::string(event.type);
      entry.base_type = std::string(BaseTypeOf(event.type));
      entry.version = SchemaVersionOf(event.type);
      entry.first_position = event.position;
      entry.first_recorded_at_us = event.recorded_at_us;
    }
    Building& building = it->second;
    CatalogEntry& entry = building.entry;
    ++entry.events;
    ++catalog.events;
    entry.last_position = event.position;
    entry.last_recorded_at_us = event.recorded_at_us;
    const std::string_view category = CategoryOf(event.stream);
    if (!building.categories.contains(category)) building.categories.emplace(category);
    if (options.route && !building.routed_categories.contains(category)) {
      building.routed_categories.emplace(category);
      auto topic = options.route(event);
      if (topic) {
        if (std::find(entry.topics.begin(), entry.topics.end(), *topic) == entry.topics.end()) {
          entry.topics.push_back(*topic);
        }
      } else if (topic.error().code() == ErrorCode::kNotFound) {
        entry.routing_errors.push_back(topic.error().message());
      } else {
        route_failure = topic.error();
        return false;
      }
    }
    if (!IsJsonContentType(event.content_type)) {
      ++entry.non_json;
      return true;
    }
    if (entry.sampled >= options.sample_per_type) return true;
    auto members = SplitJsonObject(event.data);
    if (!members) return true;  // JSON, but not an object: no fields to list
    ++entry.sampled;
    for (const JsonMember& member : *members) {
      auto [field, inserted] = building.field_index.try_emplace(member.name, entry.fields.size());
      if (inserted) entry.fields.push_back(CatalogField{.name = member.name});
      CatalogField& seen = entry.fields[field->second];
      ++seen.seen;
      const std::string_view type = JsonTypeOf(member.value);
      if (std::find(seen.json_types.begin(), seen.json_types.end(), type) == seen.json_types.end()) {
        seen.json_types.emplace_back(type);
      }
    }
    return true;
  });
  if (!read) return Fail(read.error());
  if (route_failure) return Fail(*route_failure);

  std::map<std::string, SchemaInfo, std::less<>> schemas;
  auto schemas_read = store.ReadSchemas([&](const SchemaView& schema) {
    schemas.emplace(std::string(schema.event_type), SchemaInfo{.event_type = std::string(schema.event_type),
                                                               .registration = schema.registration,
                                                               .registered_at_us = schema.registered_at_us,
                                                               .schema = std::string(schema.schema)});
    return true;
  });
  if (!schemas_read) return Fail(schemas_read.error());

  for (auto& [type, building] : types) {
    CatalogEntry& entry = building.entry;
    entry.categories.assign(building.categories.begin(), building.categories.end());
    if (auto it = schemas.find(type); it != schemas.end()) {
      entry.schema = std::move(it->second);
      schemas.erase(it);
    }
    catalog.head_position = std::max(catalog.head_position, entry.last_position);
    catalog.entries.push_back(std::move(entry));
  }
  for (auto& [type, schema] : schemas) catalog.schemas_without_events.push_back(std::move(schema));
  std::sort(catalog.entries.begin(), catalog.entries.end(), [](const CatalogEntry& a, const CatalogEntry& b) {
    const std::string_view domain_a = DomainOf(a.base_type), domain_b = DomainOf(b.base_type);
    return std::tie(domain_a, a.base_type, a.version, a.event_type) <
           std::tie(domain_b, b.base_type, b.version, b.event_type);
  });
  return catalog;
}

}  // namespace cairn::cli
