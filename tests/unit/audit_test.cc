// The audit chain's canonical bytes and hash, checked against a layout built
// by hand from cairn/audit.h and against libsodium's BLAKE2b directly.
#include <sodium.h>

#include <string>

#include "cairn/audit.h"
#include "cairn/event.h"
#include "test_util.h"

namespace cairn_test {
namespace {

std::string Bytes(std::initializer_list<unsigned> values) {
  std::string bytes;
  for (unsigned value : values) bytes.push_back(static_cast<char>(value));
  return bytes;
}

cairn::EventId Id(std::string_view text) {
  auto id = cairn::EventId::Parse(text);
  REQUIRE(id.has_value());
  return *id;
}

// BLAKE2b-256(previous || message), computed with libsodium here.
cairn::Hash Blake2b(const cairn::Hash& previous, const std::string& message) {
  REQUIRE(sodium_init() >= 0);
  std::string input(reinterpret_cast<const char*>(previous.data()), previous.size());
  input += message;
  cairn::Hash out{};
  REQUIRE(crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size(), nullptr, 0) == 0);
  return out;
}

// position 0x0102030405060708, "order-42", revision 3, a known id,
// "order.placed.v1", recorded at 1700000000123456 us, JSON data, no metadata.
cairn::EventView FirstEvent() {
  cairn::EventView event;
  event.position = 0x0102030405060708ull;
  event.stream = "order-42";
  event.revision = 3;
  event.id = Id("0190a5c8-7e1c-7a3b-9f00-0123456789ab");
  event.type = "order.placed.v1";
  event.recorded_at_us = 1700000000123456;
  event.content_type = cairn::kContentTypeJson;
  event.data = R"({"total":42})";
  event.metadata = "";
  event.hash.fill(0xEE);  // not part of the canonical bytes
  return event;
}

const std::string kFirstCanonical =
    Bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}) +                 // u64 position
    Bytes({0x00, 0x00, 0x00, 0x08}) + "order-42" +                             // str stream
    Bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03}) +                 // u64 revision
    Bytes({0x01, 0x90, 0xa5, 0xc8, 0x7e, 0x1c, 0x7a, 0x3b,                    // 16-byte id
           0x9f, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab}) +
    Bytes({0x00, 0x00, 0x00, 0x0f}) + "order.placed.v1" +                      // str type
    Bytes({0x00, 0x06, 0x0a, 0x24, 0x18, 0x20, 0x22, 0x40}) +                 // i64 recorded_at_us
    Bytes({0x00, 0x00, 0x00, 0x10}) + "application/json" +                    // str content_type
    Bytes({0x00, 0x00, 0x00, 0x0c}) + R"({"total":42})" +                      // bytes data
    Bytes({0x00, 0x00, 0x00, 0x00});                                           // bytes metadata (none)

// Position 1, revision 0, a negative time, binary data with NULs, metadata.
cairn::EventView SecondEvent(const std::string& data) {
  cairn::EventView event;
  event.position = 1;
  event.stream = "\xc3\xa9-1";  // "é-1": lengths are in bytes
  event.revision = 0;
  event.id = Id("FFEEDDCCBBAA99887766554433221100");
  event.type = "t";
  event.recorded_at_us = -1;
  event.content_type = cairn::kContentTypeOctets;
  event.data = data;
  event.metadata = R"({"correlation_id":"c-1"})";
  return event;
}

const std::string kSecondData = std::string("\0\x01\0", 3);
const std::string kSecondCanonical =
    Bytes({0, 0, 0, 0, 0, 0, 0, 1}) +
    Bytes({0, 0, 0, 4}) + "\xc3\xa9-1" +
    Bytes({0, 0, 0, 0, 0, 0, 0, 0}) +
    Bytes({0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00}) +
    Bytes({0, 0, 0, 1}) + "t" +
    Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) +
    Bytes({0, 0, 0, 24}) + "application/octet-stream" +
    Bytes({0, 0, 0, 3}) + kSecondData +
    Bytes({0, 0, 0, 24}) + R"({"correlation_id":"c-1"})";

TEST_CASE("CanonicalBytes follows the documented layout", "[audit]") {
  CHECK(cairn::CanonicalBytes(FirstEvent()) == kFirstCanonical);
  CHECK(cairn::CanonicalBytes(SecondEvent(kSecondData)) == kSecondCanonical);
}

TEST_CASE("CanonicalBytes ignores the stored hash", "[audit]") {
  auto event = FirstEvent();
  const auto bytes = cairn::CanonicalBytes(event);
  event.hash.fill(0x11);
  CHECK(cairn::CanonicalBytes(event) == bytes);
}

TEST_CASE("CanonicalBytes changes with every field", "[audit]") {
  const auto base = cairn::CanonicalBytes(FirstEvent());
  auto changed = [&](auto mutate) {
    auto event = FirstEvent();
    mutate(event);
    return cairn::CanonicalBytes(event) != base;
  };
  CHECK(changed([](cairn::EventView& e) { e.position += 1; }));
  CHECK(changed([](cairn::EventView& e) { e.stream = "order-43"; }));
  CHECK(changed([](cairn::EventView& e) { e.revision += 1; }));
  CHECK(changed([](cairn::EventView& e) { e.id.bytes[15] ^= 1; }));
  CHECK(changed([](cairn::EventView& e) { e.type = "order.placed.v2"; }));
  CHECK(changed([](cairn::EventView& e) { e.recorded_at_us += 1; }));
  CHECK(changed([](cairn::EventView& e) { e.content_type = "application/vnd.x+json"; }));
  CHECK(changed([](cairn::EventView& e) { e.data = R"({"total":43})"; }));
  CHECK(changed([](cairn::EventView& e) { e.metadata = "{}"; }));
  // Length prefixes keep field boundaries unambiguous.
  CHECK(changed([](cairn::EventView& e) {
    e.stream = "order-4";
    e.type = "2order.placed.v1";
  }));
}

TEST_CASE("ChainHash is BLAKE2b-256 of previous hash and canonical bytes", "[audit]") {
  CHECK(cairn::kGenesisHash == cairn::Hash{});
  const auto first = FirstEvent();
  const auto second = SecondEvent(kSecondData);
  const auto h1 = cairn::ChainHash(cairn::kGenesisHash, first);
  CHECK(h1 == Blake2b(cairn::kGenesisHash, kFirstCanonical));
  const auto h2 = cairn::ChainHash(h1, second);
  CHECK(h2 == Blake2b(h1, kSecondCanonical));
  CHECK(h2 != cairn::ChainHash(cairn::kGenesisHash, second));  // the chain depends on its past
}

TEST_CASE("HashToHex is 64 lower-case hex digits", "[audit]") {
  cairn::Hash hash{};
  for (std::size_t i = 0; i < hash.size(); ++i) hash[i] = static_cast<std::uint8_t>(i * 8 + 0x0A);
  CHECK(cairn::HashToHex(hash) == "0a121a222a323a424a525a626a727a828a929aa2aab2bac2cad2dae2eaf2fa02");
  CHECK(cairn::HashToHex(cairn::kGenesisHash) == std::string(64, '0'));
}

}  // namespace
}  // namespace cairn_test
