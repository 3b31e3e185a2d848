// Upcasters: the registry, the chain walk of Apply, and the declarative steps
// (the file format is read in upcast_file.cc).
#include "cairn/upcast.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <expected>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "upcast_internal.h"

namespace cairn {

namespace schema_detail {

std::string DescribeStep(const Step& step) {
  auto path = [](const std::vector<std::string>& parts) {
    std::string text;
    for (const std::string& part : parts) {
      if (!text.empty()) text += '.';
      text += part;
    }
    return text;
  };
  switch (step.kind) {
    case Step::Kind::kRename: return "rename " + path(step.from) + " to " + step.to.back();
    case Step::Kind::kAdd: return "add " + path(step.to);
    case Step::Kind::kDrop: return "drop " + path(step.from);
    case Step::Kind::kMove: return "move " + path(step.from) + " to " + path(step.to);
    case Step::Kind::kType: return "type";
  }
  return "step";
}

}  // namespace schema_detail

using schema_detail::DescribeStep;
using schema_detail::Step;
using schema_detail::Upcaster;

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

// The allocator's first chunk lives inside the scratch, so that upcasting
// an ordinary event allocates nothing once the buffers have grown.
constexpr std::size_t kScratchBytes = 16 * 1024;

}  // namespace

struct Upcasters::Impl {
  // By base type, then by the version each upcaster starts from.
  std::unordered_map<std::string, std::map<std::uint32_t, Upcaster>, StringHash, std::equal_to<>> by_base;
  std::size_t count = 0;

  const Upcaster* Find(std::string_view base, std::uint32_t version) const {
    const auto chain = by_base.find(base);
    if (chain == by_base.end()) return nullptr;
    const auto found = chain->second.find(version);
    return found == chain->second.end() ? nullptr : &found->second;
  }
};

namespace schema_detail {

// A top-level member of an object being spliced: its key, and its value's
// bytes (from the data, a step, or FlatScratch::built).
struct FlatMember {
  std::string_view key;
  std::string_view value;
  int built = -1;  // the value is FlatScratch::built[built] instead
};

// Per-caller working memory of splicing (SplitMembers, FlatSteps, WriteMembers below).
struct FlatScratch {
  std::vector<FlatMember> members;
  std::vector<FlatMember> saved;  // the members before an upcaster's steps, in case they fall back
  std::deque<std::string> built;  // values made by the steps (nested objects); a deque keeps views into it valid
  std::size_t built_used = 0;
  std::string text;

  int Build(const Path& path, std::string_view value) {
    if (built_used == built.size()) built.emplace_back();
    built[built_used].clear();
    for (std::size_t i = 1; i < path.size(); ++i) {
      built[built_used].append("{\"", 2).append(path[i]).append("\":", 2);
    }
    built[built_used] += value;
    built[built_used].append(path.size() - 1, '}');
    return static_cast<int>(built_used++);
  }
  std::string_view ValueOf(const FlatMember& member) const {
    return member.built >= 0 ? std::string_view(built[static_cast<std::size_t>(member.built)]) : member.value;
  }
};

}  // namespace schema_detail

using schema_detail::FlatMember;

// Per-caller working memory of Apply: a JSON document and its output buffer.
struct UpcastedEvent::Scratch {
  char buffer[kScratchBytes];
  rapidjson::MemoryPoolAllocator<> allocator{buffer, sizeof buffer};
  rapidjson::Document document{&allocator};
  rapidjson::StringBuffer text;
};

UpcastedEvent::UpcastedEvent() = default;
UpcastedEvent::~UpcastedEvent() = default;

Upcasters::Upcasters() : impl_(std::make_unique<Impl>()) {}
Upcasters::~Upcasters() = default;
Upcasters::Upcasters(Upcasters&&) noexcept = default;
Upcasters& Upcasters::operator=(Upcasters&&) noexcept = default;

bool Upcasters::empty() const { return impl_->count == 0; }
std::size_t Upcasters::size() const { return impl_->count; }

Status Upcasters::Register(std::string_view base_type, std::uint32_t from_version, UpcastFunction upcast) {
  return Register(base_type, from_version, std::string_view(), std::move(upcast));
}

Status Upcasters::Register(std::string_view base_type, std::uint32_t from_version, std::string_view to_type,
                           UpcastFunction upcast) {
  if (!upcast) return Fail(ErrorCode::kInvalidArgument, "upcaster for " + std::string(base_type) + " is empty");
  Upcaster upcaster;
  upcaster.function = std::move(upcast);
  return schema_detail::Access::Add(*this, base_type, from_version, to_type, std::move(upcaster), "");
}

namespace schema_detail {

namespace {

// A name that can be written between quotes as it is.
bool NeedsNoEscape(std::string_view name) {
  return std::none_of(name.begin(), name.end(),
                      [](char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; });
}

bool CanSplice(std::vector<Step>& steps) {
  bool flat = true;
  for (Step& step : steps) {
    if (step.value) {
      rapidjson::StringBuffer text;
      rapidjson::Writer<rapidjson::StringBuffer> writer(text);
      step.value->Accept(writer);
      step.value_text.assign(text.GetString(), text.GetSize());
    }
    if (step.from.size() > 1) flat = false;
    for (const Path* path : {&step.from, &step.to}) {
      for (const std::string& name : *path) flat = flat && NeedsNoEscape(name);
    }
  }
  return flat;
}

}  // namespace

Status Access::Add(Upcasters& upcasters, std::string_view base_type, std::uint32_t from_version, std::string_view to_type,
           Upcaster upcaster, std::string_view where) {
  const std::string at = where.empty() ? std::string() : std::string(where) + ": ";
  if (auto valid = ValidateEventType(base_type); !valid) return Fail(ErrorCode::kInvalidArgument, at + valid.error().message());
  if (ParseEventTypeVersion(base_type).explicit_suffix) {
    return Fail(ErrorCode::kInvalidArgument,
                at + "\"" + std::string(base_type) +
                    "\" carries a version suffix: give the base type and the version it upcasts from separately");
  }
  if (from_version == 0 || from_version == UINT32_MAX) {
    return Fail(ErrorCode::kInvalidArgument,
                at + "an upcaster starts from a version from 1 to 4294967294, not " + std::to_string(from_version));
  }
  const std::uint32_t next = from_version + 1;
  std::string target;
  if (to_type.empty()) {
    target = VersionedEventType(base_type, next);
  } else {
    const EventTypeVersion parsed = ParseEventTypeVersion(to_type);
    if (parsed.explicit_suffix && parsed.version != next) {
      return Fail(ErrorCode::kInvalidArgument, at + "the upcaster from " + VersionedEventType(base_type, from_version) +
                                                   " must produce version " + std::to_string(next) + ", not \"" +
                                                   std::string(to_type) + "\"");
    }
    target = parsed.explicit_suffix ? std::string(to_type) : VersionedEventType(to_type, next);
  }
  if (auto valid = ValidateEventType(target); !valid) return Fail(ErrorCode::kInvalidArgument, at + valid.error().message());
  if (target.starts_with('$') || base_type.starts_with('$')) {
    return Fail(ErrorCode::kInvalidArgument, at + "types starting with '$' belong to the store and are never upcast");
  }

  auto& chain = upcasters.impl_->by_base[std::string(base_type)];
  if (const auto existing = chain.find(from_version); existing != chain.end()) {
    std::string message = at + "duplicate upcaster from " + VersionedEventType(base_type, from_version);
    if (!existing->second.where.empty()) message += " (first declared at " + existing->second.where + ")";
    return Fail(ErrorCode::kInvalidArgument, std::move(message));
  }
  if (!upcaster.function) upcaster.flat = CanSplice(upcaster.steps);
  upcaster.may_fall_back = std::any_of(upcaster.steps.begin(), upcaster.steps.end(), [](const Step& step) {
    return (step.kind == Step::Kind::kAdd || step.kind == Step::Kind::kMove) && step.to.size() > 1;
  });
  upcaster.changes_data = std::any_of(upcaster.steps.begin(), upcaster.steps.end(),
                                      [](const Step& step) { return step.kind != Step::Kind::kType; });
  upcaster.base = std::string(base_type);
  upcaster.from_version = from_version;
  upcaster.from_type = VersionedEventType(base_type, from_version);
  upcaster.to_type = std::move(target);
  upcaster.where = std::string(where);
  chain.emplace(from_version, std::move(upcaster));
  ++upcasters.impl_->count;
  // Link every upcaster to the next one of its chain (map nodes do not move), so that Apply
  // follows pointers instead of parsing and looking up each intermediate type.
  for (auto& [base, versions] : upcasters.impl_->by_base) {
    for (auto& [from, each] : versions) {
      const EventTypeVersion linked = ParseEventTypeVersion(each.to_type);
      each.next = upcasters.impl_->Find(linked.base, linked.version);
    }
  }
  return {};
}

}  // namespace schema_detail

Status Upcasters::Check() const {
  // Sorted by base type, so that the first gap reported does not depend on hashing.
  std::map<std::string_view, const std::map<std::uint32_t, Upcaster>*> sorted;
  for (const auto& [base, chain] : impl_->by_base) sorted.emplace(base, &chain);
  for (const auto& [base, chain] : sorted) {
    std::optional<std::uint32_t> previous;
    for (const auto& [from, upcaster] : *chain) {
      if (previous && from != *previous + 1) {
        std::string message;
        if (!upcaster.where.empty()) message = upcaster.where + ": ";
        message += "gap in the chain of " + std::string(base) + ": upcasters from v" + std::to_string(*previous) +
                   " and from v" + std::to_string(from) + " but none from v" + std::to_string(*previous + 1);
        return Fail(ErrorCode::kInvalidArgument, std::move(message));
      }
      previous = from;
    }
  }
  return {};
}

std::string Upcasters::TargetType(std::string_view type) const {
  std::string current(type);
  for (;;) {
    const EventTypeVersion parsed = ParseEventTypeVersion(current);
    const Upcaster* upcaster = impl_->Find(parsed.base, parsed.version);
    if (upcaster == nullptr) return current;
    current = upcaster->to_type;
  }
}

std::vector<std::string> Upcasters::SourceTypes(std::string_view type) const {
  // Walk the upcasters backwards from `type`: every type that produces it, and
  // what produces those; keep those whose whole chain ends at `type`.
  std::vector<std::string> found;
  std::set<std::string, std::less<>> seen;
  std::vector<std::string> pending{std::string(type)};
  while (!pending.empty()) {
    std::string current = std::move(pending.back());
    pending.pop_back();
    if (!seen.insert(current).second) continue;
    if (TargetType(current) == type) found.push_back(current);
    for (const auto& [base, chain] : impl_->by_base) {
      for (const auto& [from, upcaster] : chain) {
        if (upcaster.to_type != current) continue;
        pending.push_back(upcaster.from_type);
        if (from == 1) pending.push_back(upcaster.base);  // an unversioned type is version 1
      }
    }
  }
  // `type` itself first, then the others in a stable order.
  auto self = std::find(found.begin(), found.end(), type);
  if (self != found.end()) std::rotate(found.begin(), self, self + 1);
  if (found.size() > 1) std::sort(found.begin() + (found.front() == type ? 1 : 0), found.end());
  return found;
}

namespace {

using schema_detail::Path;

rapidjson::Value* Member(rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  const auto found =
      object.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  return found == object.MemberEnd() ? nullptr : &found->value;
}

// The object that holds the last part of `path`; nullptr when some part of the way is missing.
rapidjson::Value* Parent(rapidjson::Value& root, const Path& path) {
  rapidjson::Value* value = &root;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    value = Member(*value, path[i]);
    if (value == nullptr) return nullptr;
  }
  return value->IsObject() ? value : nullptr;
}

// As Parent, creating the missing objects on the way. The error names a part
// of the way that exists but is not an object.
std::expected<rapidjson::Value*, std::string> MakeParent(rapidjson::Value& root, const Path& path,
                                                         rapidjson::Document::AllocatorType& allocator) {
  rapidjson::Value* value = &root;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    rapidjson::Value* next = Member(*value, path[i]);
    if (next == nullptr) {
      value->AddMember(rapidjson::Value(path[i].data(), static_cast<rapidjson::SizeType>(path[i].size()), allocator),
                       rapidjson::Value(rapidjson::kObjectType), allocator);
      next = &(value->MemberEnd() - 1)->value;
    } else if (!next->IsObject()) {
      return std::unexpected(path[i] + " is not an object");
    }
    value = next;
  }
  return value;
}

rapidjson::Value::MemberIterator FindIn(rapidjson::Value& object, std::string_view name) {
  return object.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
}

// Applies one declared step to the event's data. The error is the message.
std::expected<void, std::string> RunStep(const Step& step, rapidjson::Document& document) {
  auto& allocator = document.GetAllocator();
  switch (step.kind) {
    case Step::Kind::kType: return {};
    case Step::Kind::kRename: {
      rapidjson::Value* parent = Parent(document, step.from);
      if (parent == nullptr) return {};  // nothing to rename
      const auto member = FindIn(*parent, step.from.back());
      if (member == parent->MemberEnd()) return {};
      if (FindIn(*parent, step.to.back()) != parent->MemberEnd()) {
        return std::unexpected("the data already has a field " + step.to.back());
      }
      // Renamed in place: the field keeps its place among its siblings.
      member->name.SetString(step.to.back().data(), static_cast<rapidjson::SizeType>(step.to.back().size()),
                             allocator);
      return {};
    }
    case Step::Kind::kAdd: {
      auto parent = MakeParent(document, step.to, allocator);
      if (!parent) return std::unexpected(parent.error());
      if (FindIn(**parent, step.to.back()) != (*parent)->MemberEnd()) return {};  // present: a default does not replace it
      (*parent)->AddMember(
          rapidjson::Value(step.to.back().data(), static_cast<rapidjson::SizeType>(step.to.back().size()), allocator),
          rapidjson::Value(*step.value, allocator), allocator);
      return {};
    }
    case Step::Kind::kDrop: {
      rapidjson::Value* parent = Parent(document, step.from);
      if (parent == nullptr) return {};
      const auto member = FindIn(*parent, step.from.back());
      if (member != parent->MemberEnd()) parent->EraseMember(member);  // keeps the others' order
      return {};
    }
    case Step::Kind::kMove: {
      rapidjson::Value* parent = Parent(document, step.from);
      if (parent == nullptr) return {};
      const auto member = FindIn(*parent, step.from.back());
      if (member == parent->MemberEnd()) return {};
      // Checked before anything changes, so that a failing move leaves no half-done data behind.
      if (rapidjson::Value* target_parent = Parent(document, step.to);
          target_parent != nullptr && FindIn(*target_parent, step.to.back()) != target_parent->MemberEnd()) {
        return std::unexpected("the data already has a field at the destination");
      }
      rapidjson::Value moved(std::move(member->value));
      parent->EraseMember(member);
      auto target = MakeParent(document, step.to, allocator);
      if (!target) return std::unexpected(target.error());
      (*target)->AddMember(
          rapidjson::Value(step.to.back().data(), static_cast<rapidjson::SizeType>(step.to.back().size()), allocator),
          moved, allocator);
      return {};
    }
  }
  return {};
}

// --- Splicing: the steps of a flat upcaster on the data's top-level members.
//
// The data is split into its top-level members (key and value bytes, found by
// a scan that skips over values without parsing them); the steps rename,
// drop, add and move members; the object is written again from the pieces.
// Values the steps do not build are copied byte for byte. Anything the scan
// does not expect (an escaped key, a value that ends oddly, not an object) and
// any step that would reach into an existing member's value hands the event
// to the document (kFallback), which gives the same result or the same error.


enum class FlatOutcome : std::uint8_t { kDone, kFallback };

std::size_t SkipSpace(std::string_view text, std::size_t at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) ++at;
  return at;
}

// Past the string that starts at `at` (its opening quote); npos when it does not end.
// Jumps from quote to quote (memchr): a quote ends the string unless an odd
// number of backslashes stands before it.
std::size_t SkipString(std::string_view text, std::size_t at) {
  const std::size_t first = at + 1;
  for (std::size_t from = first;;) {
    const std::size_t quote = text.find('"', from);
    if (quote == std::string_view::npos) return quote;
    std::size_t backslashes = 0;
    while (quote - backslashes > first && text[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote + 1;
    from = quote + 1;
  }
}

// Past the value that starts at `at`; npos when it does not end where a value should.
std::size_t SkipValue(std::string_view text, std::size_t at) {
  if (at >= text.size()) return std::string_view::npos;
  const char first = text[at];
  if (first == '"') return SkipString(text, at);
  if (first == '{' || first == '[') {
    int depth = 0;
    while (at < text.size()) {
      const char c = text[at];
      if (c == '"') {
        at = SkipString(text, at);
        if (at == std::string_view::npos) return at;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return at + 1;
      }
      ++at;
    }
    return std::string_view::npos;
  }
  while (at < text.size() && text[at] != ',' && text[at] != '}' && text[at] != ']' && text[at] != ' ' &&
         text[at] != '\t' && text[at] != '\n' && text[at] != '\r') {
    ++at;
  }
  return at;
}

// The top-level members of `text`; false when it is not an object the scan understands.
bool SplitMembers(std::string_view text, std::vector<FlatMember>& members) {
  members.clear();
  std::size_t at = SkipSpace(text, 0);
  if (at >= text.size() || text[at] != '{') return false;
  at = SkipSpace(text, at + 1);
  if (at < text.size() && text[at] == '}') return SkipSpace(text, at + 1) == text.size();
  for (;;) {
    if (at >= text.size() || text[at] != '"') return false;
    const std::size_t key_end = SkipString(text, at);
    if (key_end == std::string_view::npos) return false;
    const std::string_view key = text.substr(at + 1, key_end - at - 2);
    if (key.find('\\') != std::string_view::npos) return false;  // escaped: the document compares it
    at = SkipSpace(text, key_end);
    if (at >= text.size() || text[at] != ':') return false;
    at = SkipSpace(text, at + 1);
    const std::size_t value_end = SkipValue(text, at);
    if (value_end == std::string_view::npos || value_end == at) return false;
    members.push_back({.key = key, .value = text.substr(at, value_end - at)});
    at = SkipSpace(text, value_end);
    if (at >= text.size()) return false;
    if (text[at] == '}') return SkipSpace(text, at + 1) == text.size();
    if (text[at] != ',') return false;
    at = SkipSpace(text, at + 1);
  }
}

std::vector<FlatMember>::iterator FindFlat(std::vector<FlatMember>& members, std::string_view key) {
  return std::find_if(members.begin(), members.end(), [&](const FlatMember& member) { return member.key == key; });
}



// Runs `steps` on the members of flat (split by SplitMembers). kFallback when
// a step would reach into an existing member's value; the members may then be
// half-changed (the caller restores them). The error is (step index, message).
std::expected<FlatOutcome, std::pair<std::size_t, std::string>> FlatSteps(const std::vector<Step>& steps,
                                                                         schema_detail::FlatScratch& flat) {
  auto& members = flat.members;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    switch (step.kind) {
      case Step::Kind::kType: break;
      case Step::Kind::kRename: {
        const auto member = FindFlat(members, step.from.back());
        if (member == members.end()) break;
        if (FindFlat(members, step.to.back()) != members.end()) {
          return std::unexpected(std::pair(i, "the data already has a field " + step.to.back()));
        }
        member->key = step.to.back();
        break;
      }
      case Step::Kind::kDrop: {
        const auto member = FindFlat(members, step.from.back());
        if (member != members.end()) members.erase(member);
        break;
      }
      case Step::Kind::kAdd: {
        const auto existing = FindFlat(members, step.to.front());
        if (step.to.size() == 1) {
          if (existing == members.end()) members.push_back({.key = step.to.front(), .value = step.value_text});
          break;
        }
        if (existing != members.end()) return FlatOutcome::kFallback;  // into an existing value
        members.push_back({.key = step.to.front(), .built = flat.Build(step.to, step.value_text)});
        break;
      }
      case Step::Kind::kMove: {
        const auto member = FindFlat(members, step.from.back());
        if (member == members.end()) break;
        if (FindFlat(members, step.to.front()) != members.end()) {
          if (step.to.size() > 1) return FlatOutcome::kFallback;  // into an existing value
          return std::unexpected(std::pair(i, std::string("the data already has a field at the destination")));
        }
        FlatMember moved = *member;
        members.erase(member);
        moved.key = step.to.front();
        if (step.to.size() > 1) moved.built = flat.Build(step.to, flat.ValueOf(moved));
        members.push_back(moved);
        break;
      }
    }
  }
  return FlatOutcome::kDone;
}

// The object of flat's members, into flat.text.
void WriteMembers(schema_detail::FlatScratch& flat) {
  std::string& text = flat.text;
  text.clear();
  text.push_back('{');
  for (std::size_t i = 0; i < flat.members.size(); ++i) {
    if (i > 0) text.push_back(',');
    text.push_back('"');
    text.append(flat.members[i].key);
    text.append("\":", 2);
    text.append(flat.ValueOf(flat.members[i]));
  }
  text.push_back('}');
}


}  // namespace

Result<bool> Upcasters::Apply(const EventView& in, UpcastedEvent& out) const {
  if (impl_->count == 0) return false;
  const EventTypeVersion first = ParseEventTypeVersion(in.type);
  const Upcaster* upcaster = impl_->Find(first.base, first.version);
  if (upcaster == nullptr) return false;

  // Where the data and metadata currently are: the stored event's (not yet
  // copied), out's own buffers, or (data only) the scratch document.
  bool data_owned = false;
  bool metadata_owned = false;
  bool in_document = false;  // the document holds the current data
  bool document_changed = false;
  std::string_view current_type = in.type;
  if (!out.scratch_) out.scratch_ = std::make_unique<UpcastedEvent::Scratch>();
  UpcastedEvent::Scratch& scratch = *out.scratch_;

  const auto fail = [&](const Upcaster& failed, std::string_view what) {
    std::string message = "position " + std::to_string(in.position) + " (" + std::string(in.type) +
                          "): upcaster from " + failed.from_type + " to " + failed.to_type;
    if (!failed.where.empty()) message += " (" + failed.where + ")";
    return Fail(ErrorCode::kInvalidArgument, message + ": " + std::string(what));
  };
  const auto data_view = [&]() -> std::string_view { return data_owned ? std::string_view(out.data_) : in.data; };
  // Consecutive splicing upcasters work on one split of the data: the members
  // (views into data_view() and flat.built) hold the current data while
  // `spliced` is set, until written back once by `unsplice`.
  bool spliced = false;
  const auto unsplice = [&] {
    if (!spliced) return;
    WriteMembers(*out.flat_);
    out.data_.swap(out.flat_->text);  // the members pointed into the old data; the new text is complete
    data_owned = true;
    spliced = false;
  };
  const auto serialize = [&] {
    scratch.text.Clear();
    rapidjson::Writer<rapidjson::StringBuffer> writer(scratch.text);
    scratch.document.Accept(writer);
    out.data_.assign(scratch.text.GetString(), scratch.text.GetSize());
    data_owned = true;
    in_document = false;
    document_changed = false;
  };

  for (; upcaster != nullptr;) {
    if (upcaster->function) {
      unsplice();
      if (in_document && document_changed) serialize();
      in_document = false;
      UpcastEvent event{.stored = in,
                        .from_type = current_type,
                        .to_type = upcaster->to_type,
                        .data = std::string(data_view()),
                        .metadata = metadata_owned ? std::move(out.metadata_) : std::string(in.metadata)};
      Status done;
      try {
        done = upcaster->function(event);
      } catch (const std::exception& error) {
        done = Fail(ErrorCode::kInvalidArgument, std::string("threw ") + error.what());
      } catch (...) {
        done = Fail(ErrorCode::kInvalidArgument, "threw an exception");
      }
      if (!done) return fail(*upcaster, done.error().message());
      out.data_ = std::move(event.data);
      out.metadata_ = std::move(event.metadata);
      data_owned = metadata_owned = true;
    } else {
      bool done = !upcaster->changes_data;  // a type step alone: the data goes on as it is
      if (!done && upcaster->flat && !in_document && IsJsonContentType(in.content_type)) {
        if (!out.flat_) out.flat_ = std::make_unique<schema_detail::FlatScratch>();
        schema_detail::FlatScratch& flat = *out.flat_;
        if (!spliced && SplitMembers(data_view(), flat.members)) {
          spliced = true;
          flat.built_used = 0;
        }
        if (spliced) {
          if (upcaster->may_fall_back) flat.saved = flat.members;
          const std::size_t built_used = flat.built_used;
          auto result = FlatSteps(upcaster->steps, flat);
          if (!result) {
            const Step& step = upcaster->steps[result.error().first];
            return fail(*upcaster, "step " + std::to_string(result.error().first + 1) + " (" + DescribeStep(step) +
                                       ", " + step.where + "): " + result.error().second);
          }
          if (*result == FlatOutcome::kDone) {
            done = true;
          } else {  // this upcaster goes to the document, from the data as the previous ones left it
            flat.members.swap(flat.saved);
            flat.built_used = built_used;
          }
        }
      }
      if (!done) unsplice();
      for (std::size_t i = 0; !done && i < upcaster->steps.size(); ++i) {
        const Step& step = upcaster->steps[i];
        if (step.kind == Step::Kind::kType) continue;
        if (!in_document) {
          if (!IsJsonContentType(in.content_type)) {
            return fail(*upcaster, "step " + std::to_string(i + 1) + " (" + DescribeStep(step) + ", " + step.where +
                                       "): the data is not JSON (content type " + std::string(in.content_type) + ")");
          }
          const std::string_view text = data_view();
          scratch.document.SetNull();
          scratch.allocator.Clear();
          scratch.document.Parse<rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
          if (scratch.document.HasParseError()) {
            return fail(*upcaster, "step " + std::to_string(i + 1) + " (" + DescribeStep(step) + ", " + step.where +
                                       "): the data is not valid JSON at byte " +
                                       std::to_string(scratch.document.GetErrorOffset()) + ": " +
                                       rapidjson::GetParseError_En(scratch.document.GetParseError()));
          }
          if (!scratch.document.IsObject()) {
            return fail(*upcaster, "step " + std::to_string(i + 1) + " (" + DescribeStep(step) + ", " + step.where +
                                       "): the data is not a JSON object");
          }
          in_document = true;
        }
        if (auto ran = RunStep(step, scratch.document); !ran) {
          return fail(*upcaster,
                      "step " + std::to_string(i + 1) + " (" + DescribeStep(step) + ", " + step.where + "): " + ran.error());
        }
        document_changed = true;
      }
    }
    current_type = upcaster->to_type;
    upcaster = upcaster->next;
  }
  unsplice();
  if (in_document && document_changed) serialize();

  out.type_.assign(current_type);
  out.view_ = in;
  out.view_.type = out.type_;
  out.view_.data = data_owned ? std::string_view(out.data_) : in.data;
  out.view_.metadata = metadata_owned ? std::string_view(out.metadata_) : in.metadata;
  return true;
}

}  // namespace cairn
