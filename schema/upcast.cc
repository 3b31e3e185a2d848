// Upcasters: the registry, the chain walk of Apply, and the declarative steps
// (the file format is read in upcast_file.cc).
#include "cairn/upcast.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
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
  upcaster.base = std::string(base_type);
  upcaster.from_version = from_version;
  upcaster.from_type = VersionedEventType(base_type, from_version);
  upcaster.to_type = std::move(target);
  upcaster.where = std::string(where);
  chain.emplace(from_version, std::move(upcaster));
  ++upcasters.impl_->count;
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
      for (std::size_t i = 0; i < upcaster->steps.size(); ++i) {
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
    const EventTypeVersion next = ParseEventTypeVersion(current_type);
    upcaster = impl_->Find(next.base, next.version);
  }
  if (in_document && document_changed) serialize();

  out.type_.assign(current_type);
  out.view_ = in;
  out.view_.type = out.type_;
  out.view_.data = data_owned ? std::string_view(out.data_) : in.data;
  out.view_.metadata = metadata_owned ? std::string_view(out.metadata_) : in.metadata;
  return true;
}

}  // namespace cairn
