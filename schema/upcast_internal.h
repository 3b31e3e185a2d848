// Internal: how upcasters are kept, shared by the registry (upcast.cc) and the
// loader of declarative files (upcast_file.cc).
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/upcast.h"

namespace cairn::schema_detail {

// A field's place in the data: member names from the root object down.
using Path = std::vector<std::string>;

// One declared transformation of an event's JSON data.
struct Step {
  enum class Kind : std::uint8_t { kRename, kAdd, kDrop, kMove, kType };
  Kind kind = Kind::kType;
  Path from;  // rename, drop, move: the field it takes
  Path to;    // rename: from's parent and the new name; add, move: where the field goes
  std::shared_ptr<const rapidjson::Document> value;  // add: the default
  std::string value_text;  // add: the default as compact JSON text
  std::string where;  // "FILE:LINE" of the step
};

// One upcaster from (base, from_version) to to_type: C++ (function) or declared (steps).
struct Upcaster {
  std::string base;
  std::uint32_t from_version = 0;
  std::string from_type;  // base.v<from_version>
  std::string to_type;    // base.v<from_version + 1>, or a renamed type at that version
  UpcastFunction function;
  std::vector<Step> steps;
  std::string where;  // "FILE:LINE" of a declared upcaster; empty for C++
  // Every step takes a top-level field (and puts it anywhere) with names that
  // need no JSON escaping: Apply may then splice the data's top-level members
  // instead of parsing it into a document (see FlatApply in upcast.cc).
  bool flat = false;
  // Some step of a flat upcaster may still need the document (a nested add or move destination).
  bool may_fall_back = false;
  // Some step changes the data (not only the type): without one the data is passed on untouched.
  bool changes_data = false;
  // The upcaster of to_type, if any: the chain's next link, set whenever one is registered.
  const Upcaster* next = nullptr;
};

// "rename amount to total", "move customer to buyer.id", … for messages.
std::string DescribeStep(const Step& step);

// What the loader may do to an Upcasters.
struct Access {
  // Registers `upcaster` (Upcasters::Register's checks); `where` ("FILE:LINE"
  // or empty) prefixes its errors and is kept for the messages of Apply and Check.
  static Status Add(Upcasters& upcasters, std::string_view base_type, std::uint32_t from_version,
                    std::string_view to_type, Upcaster upcaster, std::string_view where);
};

}  // namespace cairn::schema_detail
