// The bridge's envelope: made from a recorded event, written and read as JSON
// and as Cap'n Proto (see cairn/envelope.h and docs/bridge.md).
#include "cairn/envelope.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <array>
#include <cstring>
#include <iterator>
#include <utility>

#include "envelope.capnp.h"
#include "text_codec.h"

namespace cairn {
namespace {

namespace wire = detail::envelope_capnp;

constexpr std::size_t kWordBytes = sizeof(capnp::word);
constexpr std::string_view kEncodingJson = "json";
constexpr std::string_view kEncodingBase64 = "base64";

std::unexpected<Error> Invalid(std::string message) { return Fail(ErrorCode::kInvalidArgument, std::move(message)); }

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

Status CheckSize(std::string_view bytes, std::string_view field) {
  if (bytes.size() > kMaxEnvelopeFieldBytes) {
    return Invalid(std::string(field) + " is " + std::to_string(bytes.size()) +
                   " bytes, more than an envelope carries (" + std::to_string(kMaxEnvelopeFieldBytes) + ")");
  }
  return {};
}

// A JSON field holding one JSON value exactly, without whitespace around it.
// `parsed`: the caller has already seen it parse as that (the JSON need not be read again).
Status CheckJsonValue(std::string_view text, std::string_view field, bool object, bool parsed) {
  if (auto size = CheckSize(text, field); !size) return size;
  if (detail::TrimJsonSpace(text).size() != text.size()) {
    return Invalid(std::string(field) + " has whitespace around its JSON value");
  }
  if (parsed) return {};
  if (object) {
    if (auto scanned = detail::ScanJsonObject(text); !scanned) {
      return Invalid(std::string(field) + " must be a JSON object: " + scanned.error());
    }
  } else if (auto checked = detail::CheckJsonText(text); !checked) {
    return Invalid(std::string(field) + " is " + checked.error());
  }
  return {};
}

// ---- JSON ----------------------------------------------------------------

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteString(JsonWriter& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void WriteOptional(JsonWriter& writer, std::string_view key, const std::optional<std::string>& value) {
  WriteString(writer, key);
  if (value) {
    WriteString(writer, *value);
  } else {
    writer.Null();
  }
}

// An unsigned JSON integer as written: digits only, no sign, fraction or exponent.
std::optional<std::uint64_t> ParseUnsigned(std::string_view digits) {
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// The optional ids of `envelope` (an Envelope, or a const one), by their names.
template <class E>
auto OptionalIds(E& envelope) {
  using Id = decltype(&envelope.correlation_id);
  return std::array<std::pair<std::string_view, Id>, 3>{{{"correlation_id", &envelope.correlation_id},
                                                         {"causation_id", &envelope.causation_id},
                                                         {"trace_id", &envelope.trace_id}}};
}

// ---- Cap'n Proto ---------------------------------------------------------

std::size_t Words(std::size_t bytes) { return (bytes + kWordBytes - 1) / kWordBytes; }
std::size_t TextWords(std::string_view text) { return Words(text.size() + 1); }

// An upper bound of the words `envelope` takes in one segment: the root
// pointer, the struct, then each blob padded to whole words (capnp's layout).
std::size_t SegmentWords(const Envelope& envelope) {
  std::size_t words = 1 + wire::Envelope::_capnpPrivate::dataWordSize + wire::Envelope::_capnpPrivate::pointerCount;
  words += Words(envelope.event_id.bytes.size());
  for (std::string_view text : {std::string_view(envelope.event_type), std::string_view(envelope.source_service),
                                std::string_view(envelope.stream), std::string_view(envelope.data_content_type),
                                std::string_view(envelope.metadata)}) {
    words += TextWords(text);
  }
  for (const auto* id : {&envelope.correlation_id, &envelope.causation_id, &envelope.trace_id}) {
    if (*id) words += TextWords(**id);
  }
  return words + Words(envelope.data.size());
}

void SetText(capnp::Text::Builder builder, std::string_view text) {
  if (!text.empty()) std::memcpy(builder.begin(), text.data(), text.size());
}

std::string_view ViewOf(capnp::Text::Reader text) { return {text.begin(), text.size()}; }
std::string_view ViewOf(capnp::Data::Reader bytes) {
  return {reinterpret_cast<const char*>(bytes.begin()), bytes.size()};
}

}  // namespace

std::string_view EnvelopeContentType(EnvelopeFormat format) {
  return format == EnvelopeFormat::kCapnp ? kEnvelopeCapnpContentType : kEnvelopeJsonContentType;
}

std::optional<EnvelopeFormat> EnvelopeFormatOfContentType(std::string_view content_type) {
  std::string base(content_type.substr(0, content_type.find(';')));
  while (!base.empty() && (base.back() == ' ' || base.back() == '\t')) base.pop_back();
  while (!base.empty() && (base.front() == ' ' || base.front() == '\t')) base.erase(base.begin());
  std::transform(base.begin(), base.end(), base.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  if (base == kEnvelopeJsonContentType) return EnvelopeFormat::kJson;
  if (base == kEnvelopeCapnpContentType) return EnvelopeFormat::kCapnp;
  return std::nullopt;
}

std::uint32_t SchemaVersionOf(std::string_view event_type) {
  return ParseEventTypeVersion(event_type).version;
}

Status ValidateSourceService(std::string_view service) {
  // A name, with the store's one rule for names (that of stream names and event types).
  auto valid = ValidateEventType(service);
  if (valid) return {};
  static constexpr std::string_view kTypeWords = "invalid event type";
  std::string message = valid.error().message();
  if (message.starts_with(kTypeWords)) message.replace(0, kTypeWords.size(), "invalid source_service");
  return Invalid(std::move(message));
}

namespace {

// What ValidateEnvelope checks; the flags say which JSON the caller has already parsed.
struct KnownJson {
  bool data = false;
  bool metadata = false;
};

Status CheckEnvelope(const Envelope& envelope, KnownJson known) {
  if (auto valid = ValidateEventType(envelope.event_type); !valid) {
    return Invalid("event_type " + Quoted(envelope.event_type) + ": " + valid.error().message());
  }
  if (auto valid = ValidateStreamName(envelope.stream); !valid) {
    return Invalid("stream " + Quoted(envelope.stream) + ": " + valid.error().message());
  }
  if (auto valid = ValidateSourceService(envelope.source_service); !valid) return valid;
  for (const auto& [field, id] : OptionalIds(envelope)) {
    if (!*id) continue;
    if (auto size = CheckSize(**id, field); !size) return size;
    if (!detail::IsValidUtf8(**id)) return Invalid(std::string(field) + " is not valid UTF-8");
  }
  if (envelope.position == 0) return Invalid("position must be at least 1 (positions are 1-based)");
  if (!detail::IsFormattableTimestamp(envelope.event_timestamp_us)) {
    return Invalid("event_timestamp " + std::to_string(envelope.event_timestamp_us) +
                   " µs since the epoch is outside years 0001 to 9999");
  }
  if (const std::uint32_t expected = SchemaVersionOf(envelope.event_type); envelope.schema_version != expected) {
    return Invalid("schema_version " + std::to_string(envelope.schema_version) + " does not match the event type " +
                   Quoted(envelope.event_type) + " (version " + std::to_string(expected) + ")");
  }
  const std::string_view content_type = envelope.data_content_type;
  if (content_type.empty() || content_type.size() > 255 ||
      !std::all_of(content_type.begin(), content_type.end(), [](char c) { return c >= 0x20 && c <= 0x7e; })) {
    return Invalid("data_content_type " + Quoted(content_type) + " must be 1 to 255 printable ASCII characters");
  }
  if (IsJsonContentType(content_type)) {
    if (auto valid = CheckJsonValue(envelope.data, "data", /*object=*/false, known.data); !valid) return valid;
  } else if (auto size = CheckSize(envelope.data, "data"); !size) {
    return size;
  }
  if (!envelope.metadata.empty()) {
    if (auto valid = CheckJsonValue(envelope.metadata, "metadata", /*object=*/true, known.metadata); !valid) {
      return valid;
    }
  }
  return {};
}

}  // namespace

Status ValidateEnvelope(const Envelope& envelope) { return CheckEnvelope(envelope, {}); }

Result<Envelope> MakeEnvelope(const EventView& event, std::string_view source_service) {
  Envelope envelope;
  if (auto made = FillEnvelope(event, source_service, envelope); !made) return Fail(made.error());
  return envelope;
}

Status FillEnvelope(const EventView& event, std::string_view source_service, Envelope& envelope) {
  const auto fail = [&](std::string_view why) {
    return Invalid("cannot make the envelope of the event at position " + std::to_string(event.position) + " (stream " +
                   Quoted(event.stream) + ", revision " + std::to_string(event.revision) + "): " + std::string(why));
  };
  envelope.event_id = event.id;
  envelope.event_type.assign(event.type);
  envelope.event_timestamp_us = event.recorded_at_us;
  envelope.source_service.assign(source_service);
  envelope.correlation_id.reset();
  envelope.causation_id.reset();
  envelope.trace_id.reset();
  envelope.schema_version = SchemaVersionOf(event.type);
  envelope.stream.assign(event.stream);
  envelope.revision = event.revision;
  envelope.position = event.position;
  envelope.data_content_type.assign(event.content_type);
  envelope.data.assign(IsJsonContentType(event.content_type) ? detail::TrimJsonSpace(event.data) : event.data);
  envelope.metadata.assign(detail::TrimJsonSpace(event.metadata));
  if (!envelope.metadata.empty()) {
    auto members = detail::ScanJsonObject(envelope.metadata);
    if (!members) return fail("its metadata must be a JSON object: " + members.error());
    const auto ids = OptionalIds(envelope);
    bool seen[ids.size()] = {};
    for (const detail::JsonMember& member : *members) {
      const auto it = std::find_if(ids.begin(), ids.end(), [&](const auto& id) { return id.first == member.name; });
      if (it == ids.end()) continue;
      // Which of two values would a consumer take? Neither: the event is ambiguous.
      if (std::exchange(seen[it - ids.begin()], true)) return fail("metadata has " + member.name + " more than once");
      if (member.kind == detail::JsonKind::kNull) continue;
      if (member.kind != detail::JsonKind::kString) {
        return fail("metadata." + member.name + " must be a string (or null), not " +
                    std::string(detail::JsonKindName(member.kind)));
      }
      *it->second = member.scalar;
    }
  }
  // The metadata was scanned above; the data is read once, here.
  if (auto valid = CheckEnvelope(envelope, {.metadata = true}); !valid) return fail(valid.error().message());
  return {};
}

std::string EnvelopeJson(const Envelope& envelope) {
  std::string json;
  WriteEnvelopeJson(envelope, json);
  return json;
}

void WriteEnvelopeJson(const Envelope& envelope, std::string& out) {
  // One buffer per thread, kept: no allocation per envelope once it has grown.
  thread_local rapidjson::StringBuffer buffer;
  buffer.Clear();
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteString(writer, "event_id");
  WriteString(writer, envelope.event_id.ToString());
  WriteString(writer, "event_type");
  WriteString(writer, envelope.event_type);
  WriteString(writer, "event_timestamp");
  WriteString(writer, detail::FormatIsoTimestamp(envelope.event_timestamp_us));
  WriteString(writer, "source_service");
  WriteString(writer, envelope.source_service);
  WriteOptional(writer, "correlation_id", envelope.correlation_id);
  WriteOptional(writer, "causation_id", envelope.causation_id);
  WriteOptional(writer, "trace_id", envelope.trace_id);
  WriteString(writer, "schema_version");
  writer.Uint(envelope.schema_version);
  WriteString(writer, "stream");
  WriteString(writer, envelope.stream);
  WriteString(writer, "revision");
  writer.Uint64(envelope.revision);
  WriteString(writer, "position");
  writer.Uint64(envelope.position);
  WriteString(writer, "data_content_type");
  WriteString(writer, envelope.data_content_type);
  const bool json_data = IsJsonContentType(envelope.data_content_type);
  WriteString(writer, "data_encoding");
  WriteString(writer, json_data ? kEncodingJson : kEncodingBase64);
  WriteString(writer, "metadata");
  if (envelope.metadata.empty()) {
    writer.Null();
  } else {
    const std::string_view metadata = detail::TrimJsonSpace(envelope.metadata);
    writer.RawValue(metadata.data(), metadata.size(), rapidjson::kObjectType);
  }
  WriteString(writer, "data");
  if (json_data) {
    // The stored JSON itself, byte for byte: numbers keep every digit.
    const std::string_view data = detail::TrimJsonSpace(envelope.data);
    writer.RawValue(data.data(), data.size(), rapidjson::kObjectType);
  } else {
    WriteString(writer, detail::Base64Encode(envelope.data));
  }
  writer.EndObject();
  out.assign(buffer.GetString(), buffer.GetSize());
}

Result<Envelope> ParseEnvelopeJson(std::string_view json) {
  const auto fail = [](std::string_view why) { return Invalid("invalid JSON envelope: " + std::string(why)); };
  auto scanned = detail::ScanJsonObject(json);
  if (!scanned) return fail(scanned.error());

  // The known members, found once each; unknown ones are skipped.
  static constexpr std::string_view kFields[] = {
      "event_id",     "event_type",        "event_timestamp", "source_service", "correlation_id",
      "causation_id", "trace_id",          "schema_version",  "stream",         "revision",
      "position",     "data_content_type", "data_encoding",   "metadata",       "data"};
  constexpr std::size_t kFieldCount = std::size(kFields);
  std::array<const detail::JsonMember*, kFieldCount> found{};
  for (const detail::JsonMember& member : *scanned) {
    const auto* it = std::find(std::begin(kFields), std::end(kFields), member.name);
    if (it == std::end(kFields)) continue;
    auto& slot = found[static_cast<std::size_t>(it - std::begin(kFields))];
    if (slot != nullptr) return fail("duplicate member \"" + member.name + "\"");
    slot = &member;
  }
  const auto field = [&](std::string_view name) {
    return found[static_cast<std::size_t>(std::find(std::begin(kFields), std::end(kFields), name) -
                                          std::begin(kFields))];
  };
  const auto required = [&](std::string_view name, detail::JsonKind kind) -> Result<const detail::JsonMember*> {
    const detail::JsonMember* member = field(name);
    if (member == nullptr) return fail("missing member \"" + std::string(name) + "\"");
    if (member->kind != kind) {
      return fail("\"" + std::string(name) + "\" must be " + std::string(detail::JsonKindName(kind)) + ", not " +
                  std::string(detail::JsonKindName(member->kind)));
    }
    return member;
  };
  // A string, or nullopt when the member is null or absent.
  const auto optional_string = [&](std::string_view name) -> Result<std::optional<std::string>> {
    const detail::JsonMember* member = field(name);
    if (member == nullptr || member->kind == detail::JsonKind::kNull) return std::optional<std::string>();
    if (member->kind != detail::JsonKind::kString) {
      return fail("\"" + std::string(name) + "\" must be a string or null, not " +
                  std::string(detail::JsonKindName(member->kind)));
    }
    return std::optional<std::string>(member->scalar);
  };
  const auto unsigned_number = [&](std::string_view name, std::uint64_t max) -> Result<std::uint64_t> {
    auto member = required(name, detail::JsonKind::kNumber);
    if (!member) return Fail(member.error());
    const auto value = ParseUnsigned((*member)->scalar);
    if (!value || *value > max) {
      return fail("\"" + std::string(name) + "\" must be an integer from 0 to " + std::to_string(max) + ", not " +
                  (*member)->scalar);
    }
    return *value;
  };

  Envelope envelope;
  auto id = required("event_id", detail::JsonKind::kString);
  if (!id) return Fail(id.error());
  auto parsed_id = EventId::Parse((*id)->scalar);
  if (!parsed_id || (*id)->scalar.size() != 36) {
    return fail("\"event_id\" must be a UUID such as 0190a5c8-7e1c-7a3b-9f00-0123456789ab, not " +
                Quoted((*id)->scalar));
  }
  envelope.event_id = *parsed_id;
  auto type = required("event_type", detail::JsonKind::kString);
  if (!type) return Fail(type.error());
  envelope.event_type = (*type)->scalar;
  auto timestamp = required("event_timestamp", detail::JsonKind::kString);
  if (!timestamp) return Fail(timestamp.error());
  auto when = detail::ParseIsoTimestamp((*timestamp)->scalar);
  if (!when) return fail("\"event_timestamp\": " + when.error());
  envelope.event_timestamp_us = *when;
  auto source = required("source_service", detail::JsonKind::kString);
  if (!source) return Fail(source.error());
  envelope.source_service = (*source)->scalar;
  for (const auto& [name, out] : OptionalIds(envelope)) {
    auto value = optional_string(name);
    if (!value) return Fail(value.error());
    *out = std::move(*value);
  }
  auto version = unsigned_number("schema_version", UINT32_MAX);
  if (!version) return Fail(version.error());
  envelope.schema_version = static_cast<std::uint32_t>(*version);
  auto stream = required("stream", detail::JsonKind::kString);
  if (!stream) return Fail(stream.error());
  envelope.stream = (*stream)->scalar;
  auto revision = unsigned_number("revision", UINT64_MAX);
  if (!revision) return Fail(revision.error());
  envelope.revision = *revision;
  auto position = unsigned_number("position", UINT64_MAX);
  if (!position) return Fail(position.error());
  envelope.position = *position;
  auto content_type = required("data_content_type", detail::JsonKind::kString);
  if (!content_type) return Fail(content_type.error());
  envelope.data_content_type = (*content_type)->scalar;
  auto encoding = required("data_encoding", detail::JsonKind::kString);
  if (!encoding) return Fail(encoding.error());
  const bool json_data = IsJsonContentType(envelope.data_content_type);
  const std::string_view expected_encoding = json_data ? kEncodingJson : kEncodingBase64;
  if ((*encoding)->scalar != expected_encoding) {
    return fail("\"data_encoding\" must be \"" + std::string(expected_encoding) + "\" for data_content_type " +
                Quoted(envelope.data_content_type) + ", not " + Quoted((*encoding)->scalar));
  }
  if (const detail::JsonMember* metadata = field("metadata");
      metadata != nullptr && metadata->kind != detail::JsonKind::kNull) {
    if (metadata->kind != detail::JsonKind::kObject) {
      return fail("\"metadata\" must be an object or null, not " + std::string(detail::JsonKindName(metadata->kind)));
    }
    envelope.metadata = std::string(json.substr(metadata->begin, metadata->end - metadata->begin));
  }
  const detail::JsonMember* data = field("data");
  if (data == nullptr) return fail("missing member \"data\"");
  if (json_data) {
    envelope.data = std::string(json.substr(data->begin, data->end - data->begin));
  } else {
    if (data->kind != detail::JsonKind::kString) {
      return fail("\"data\" must be a base64 string (data_encoding \"base64\"), not " +
                  std::string(detail::JsonKindName(data->kind)));
    }
    auto bytes = detail::Base64Decode(data->scalar);
    if (!bytes) return fail("\"data\": " + bytes.error());
    envelope.data = std::move(*bytes);
  }
  // Data and metadata were parsed with the envelope; the rest is checked here.
  if (auto valid = CheckEnvelope(envelope, {.data = json_data, .metadata = true}); !valid) {
    return fail(valid.error().message());
  }
  return envelope;
}

std::string EnvelopeCapnp(const Envelope& envelope) {
  try {
    // A first segment large enough for everything: the message stays one segment.
    capnp::MallocMessageBuilder message(static_cast<unsigned>(SegmentWords(envelope) + 8),
                                        capnp::AllocationStrategy::FIXED_SIZE);
    auto root = message.initRoot<wire::Envelope>();
    root.setEventId(kj::arrayPtr(envelope.event_id.bytes.data(), envelope.event_id.bytes.size()));
    SetText(root.initEventType(static_cast<unsigned>(envelope.event_type.size())), envelope.event_type);
    root.setEventTimestampMicros(envelope.event_timestamp_us);
    SetText(root.initSourceService(static_cast<unsigned>(envelope.source_service.size())), envelope.source_service);
    if (envelope.correlation_id) {
      SetText(root.initCorrelationId(static_cast<unsigned>(envelope.correlation_id->size())), *envelope.correlation_id);
    }
    if (envelope.causation_id) {
      SetText(root.initCausationId(static_cast<unsigned>(envelope.causation_id->size())), *envelope.causation_id);
    }
    if (envelope.trace_id) {
      SetText(root.initTraceId(static_cast<unsigned>(envelope.trace_id->size())), *envelope.trace_id);
    }
    root.setSchemaVersion(envelope.schema_version);
    SetText(root.initStream(static_cast<unsigned>(envelope.stream.size())), envelope.stream);
    root.setRevision(envelope.revision);
    root.setPosition(envelope.position);
    SetText(root.initDataContentType(static_cast<unsigned>(envelope.data_content_type.size())),
            envelope.data_content_type);
    // Empty data and metadata stay null: no bytes at all (a reader sees them as empty).
    if (!envelope.data.empty()) {
      auto data = root.initData(static_cast<unsigned>(envelope.data.size()));
      std::memcpy(data.begin(), envelope.data.data(), envelope.data.size());
    }
    if (!envelope.metadata.empty()) {
      SetText(root.initMetadata(static_cast<unsigned>(envelope.metadata.size())), envelope.metadata);
    }
    if (message.getSegmentsForOutput().size() != 1) return {};  // SegmentWords is an upper bound: never happens
    const kj::Array<capnp::word> flat = capnp::messageToFlatArray(message);
    const auto bytes = flat.asBytes();
    return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  } catch (const kj::Exception&) {
    return {};  // only an envelope that fails ValidateEnvelope (a blob over capnp's limit) gets here
  }
}

Result<Envelope> ParseEnvelopeCapnp(std::string_view message) {
  const auto fail = [](std::string_view why) { return Invalid("invalid Cap'n Proto envelope: " + std::string(why)); };
  if (message.size() < 2 * kWordBytes || message.size() % kWordBytes != 0) {
    return fail("a flat message is a whole number of 8-byte words, at least 2; got " + std::to_string(message.size()) +
                " bytes");
  }
  // Copied into words: Kafka hands out bytes with no alignment promise.
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(message.size() / kWordBytes);
  std::memcpy(words.begin(), message.data(), message.size());
  Envelope envelope;
  try {
    capnp::ReaderOptions options;
    // Every word is read at most once by a well-formed envelope: this bounds what a forged one can cost.
    options.traversalLimitInWords = words.size() + 64;
    options.nestingLimit = 4;
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) {
      return fail(std::to_string((words.end() - reader.getEnd()) * kWordBytes) + " bytes after the message");
    }
    const wire::Envelope::Reader root = reader.getRoot<wire::Envelope>();
    if (!root.hasEventId() || root.getEventId().size() != envelope.event_id.bytes.size()) {
      return fail("eventId must be 16 bytes, not " + std::to_string(root.getEventId().size()));
    }
    envelope.event_id = EventId::FromBytes(ViewOf(root.getEventId()));
    envelope.event_type = ViewOf(root.getEventType());
    envelope.event_timestamp_us = root.getEventTimestampMicros();
    envelope.source_service = ViewOf(root.getSourceService());
    if (root.hasCorrelationId()) envelope.correlation_id = std::string(ViewOf(root.getCorrelationId()));
    if (root.hasCausationId()) envelope.causation_id = std::string(ViewOf(root.getCausationId()));
    if (root.hasTraceId()) envelope.trace_id = std::string(ViewOf(root.getTraceId()));
    envelope.schema_version = root.getSchemaVersion();
    envelope.stream = ViewOf(root.getStream());
    envelope.revision = root.getRevision();
    envelope.position = root.getPosition();
    envelope.data_content_type = ViewOf(root.getDataContentType());
    envelope.data = ViewOf(root.getData());
    envelope.metadata = ViewOf(root.getMetadata());
  } catch (const kj::Exception& e) {
    return fail(e.getDescription().cStr());
  }
  if (auto valid = ValidateEnvelope(envelope); !valid) return fail(valid.error().message());
  return envelope;
}

std::vector<std::pair<std::string, std::string>> EnvelopeHeaders(const Envelope& envelope, EnvelopeFormat format) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(10);
  VisitEnvelopeHeaders(envelope, format,
                       [&headers](std::string_view name, std::string_view value) { headers.emplace_back(name, value); });
  return headers;
}

void VisitEnvelopeHeaders(const Envelope& envelope, EnvelopeFormat format,
                          const std::function<void(std::string_view name, std::string_view value)>& visit) {
  visit(kHeaderEventId, envelope.event_id.ToString());
  visit(kHeaderEventType, envelope.event_type);
  if (envelope.correlation_id) visit(kHeaderCorrelationId, *envelope.correlation_id);
  if (envelope.causation_id) visit(kHeaderCausationId, *envelope.causation_id);
  if (envelope.trace_id) visit(kHeaderTraceId, *envelope.trace_id);
  visit(kHeaderSourceService, envelope.source_service);
  visit(kHeaderContentType, EnvelopeContentType(format));
  char number[24];
  const auto decimal = [&number](std::uint64_t value) {
    auto [end, error] = std::to_chars(number, number + sizeof number, value);
    return std::string_view(number, static_cast<std::size_t>(end - number));
  };
  std::string key = envelope.stream;
  key += ':';
  key += decimal(envelope.revision);
  visit(kHeaderIdempotencyKey, key);
  visit(kHeaderOriginalTimestamp, detail::FormatIsoTimestamp(envelope.event_timestamp_us));
  visit(kHeaderPosition, decimal(envelope.position));
}

}  // namespace cairn
