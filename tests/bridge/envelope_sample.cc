// envelope_sample — prints the Kafka records the bridge would publish for the
// given events, for tests/bridge/envelope_standard_test.py (which parses them
// with the platform standard's own EventEnvelope model).
//
// Usage: envelope_sample --store PATH --source-service NAME [--format json|capnp] < events.jsonl
//
// Each input line is a JSON object describing one event to append, in order:
//   {"stream": "order-42", "type": "acme.orders.order.placed.v1",
//    "data": "<the data's text>" | "data_base64": "<the data's bytes>",
//    "content_type": "application/json" (default), "metadata": "<a JSON object's text>" (optional)}
// The events are appended to a new store at PATH, read back from its log and
// printed one record per line (JSON Lines), in log order:
//   {"key": "<stream>", "value": "<the JSON envelope, as text>" | "value_base64": "<the Cap'n Proto envelope>",
//    "headers": [["event_id", "..."], ...]}
// Exit status 0, or 1 with a message on stderr.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/envelope.h"
#include "cairn/store.h"
#include "text_codec.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "envelope_sample: " << message << "\n";
  return 1;
}

// The string member `name` of `object`, or `fallback` when it is absent.
std::string StringMember(const rapidjson::Value& object, const char* name, std::string fallback = {}) {
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return fallback;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

}  // namespace

int main(int argc, char** argv) {
  std::string store_path;
  std::string source_service;
  cairn::EnvelopeFormat format = cairn::EnvelopeFormat::kJson;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return Fail("missing value after " + std::string(arg));
    const std::string value = argv[++i];
    if (arg == "--store") {
      store_path = value;
    } else if (arg == "--source-service") {
      source_service = value;
    } else if (arg == "--format") {
      if (value != "json" && value != "capnp") return Fail("--format must be json or capnp");
      format = value == "capnp" ? cairn::EnvelopeFormat::kCapnp : cairn::EnvelopeFormat::kJson;
    } else {
      return Fail("unknown option " + std::string(arg));
    }
  }
  if (store_path.empty() || source_service.empty()) {
    return Fail("usage: envelope_sample --store PATH --source-service NAME [--format json|capnp] < events.jsonl");
  }

  auto store = cairn::EventStore::Open(store_path, {.create_if_missing = true});
  if (!store) return Fail(store.error().ToString());
  std::string line;
  for (int number = 1; std::getline(std::cin, line); ++number) {
    if (line.empty()) continue;
    rapidjson::Document input;
    input.Parse(line.data(), line.size());
    if (input.HasParseError() || !input.IsObject())
      return Fail("line " + std::to_string(number) + ": not a JSON object");
    cairn::EventData event;
    event.type = StringMember(input, "type");
    event.content_type = StringMember(input, "content_type", std::string(cairn::kContentTypeJson));
    event.metadata = StringMember(input, "metadata");
    if (input.HasMember("data_base64")) {
      auto bytes = cairn::detail::Base64Decode(StringMember(input, "data_base64"));
      if (!bytes) return Fail("line " + std::to_string(number) + ": data_base64: " + bytes.error());
      event.data = std::move(*bytes);
    } else {
      event.data = StringMember(input, "data");
    }
    auto appended = (*store)->Append(StringMember(input, "stream"), cairn::ExpectedRevision::Any(), {event});
    if (!appended) return Fail("line " + std::to_string(number) + ": " + appended.error().ToString());
  }

  std::string failure;
  auto read = (*store)->ReadLog({}, [&](const cairn::EventView& event) {
    auto envelope = cairn::MakeEnvelope(event, source_service);
    if (!envelope) {
      failure = envelope.error().ToString();
      return false;
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartObject();
    WriteString(writer, "key");
    WriteString(writer, envelope->stream);
    if (format == cairn::EnvelopeFormat::kJson) {
      WriteString(writer, "value");
      WriteString(writer, cairn::EnvelopeJson(*envelope));
    } else {
      WriteString(writer, "value_base64");
      WriteString(writer, cairn::detail::Base64Encode(cairn::EnvelopeCapnp(*envelope)));
    }
    WriteString(writer, "headers");
    writer.StartArray();
    for (const auto& [name, value] : cairn::EnvelopeHeaders(*envelope, format)) {
      writer.StartArray();
      WriteString(writer, name);
      WriteString(writer, value);
      writer.EndArray();
    }
    writer.EndArray();
    writer.EndObject();
    std::cout << std::string_view(buffer.GetString(), buffer.GetSize()) << "\n";
    return true;
  });
  if (!read) return Fail(read.error().ToString());
  if (!failure.empty()) return Fail(failure);
  std::cout.flush();
  return std::cout ? 0 : Fail("cannot write to stdout");
}
