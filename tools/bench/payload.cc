// Event payloads shared by every subject of the benchmark.
#include <algorithm>

#include <fmt/format.h>

#include "subject.h"

namespace cairn::bench {
namespace {

// Enough variants that consecutive rows differ; few enough to build instantly.
constexpr std::size_t kVariants = 64;

// Closes the JSON object `open_object` (which has at least one member and no
// closing brace) with a "pad" member so that the result is exactly `size` bytes
// when it fits: the benchmark promises fixed event sizes.
std::string CloseJsonObjectAt(std::string open_object, std::size_t size) {
  constexpr std::string_view kPadPrefix = R"(,"pad":")";
  constexpr std::size_t kPadOverhead = kPadPrefix.size() + 2;  // closing quote and brace
  if (open_object.size() + kPadOverhead < size) {
    open_object += kPadPrefix;
    open_object.append(size - open_object.size() - 2, 'x');
    open_object += '"';
  }
  open_object += '}';
  return open_object;
}

// A hex string shaped like a UUID, derived from `seed`; only its looks matter.
std::string FakeUuid(std::uint64_t seed) {
  const std::uint64_t a = seed * 0x9E3779B97F4A7C15ull;
  const std::uint64_t b = (seed + 1) * 0xC2B2AE3D27D4EB4Full;
  return fmt::format("{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF,
                     a & 0xFFF, b >> 52, b & 0xFFFFFFFFFFFFull);
}

Payload MakeVariant(std::size_t variant) {
  const std::size_t qty = 1 + variant % 5;
  const std::size_t unit_cents = 499 + 100 * variant;
  std::string data = fmt::format(
      R"({{"order_id":"ord-{:06d}","customer_id":"cust-{:05d}","currency":"EUR",)"
      R"("lines":[{{"sku":"SKU-{:04d}","qty":{},"unit_cents":{}}}],"total_cents":{})",
      100000 + variant, 4200 + variant, 1000 + variant, qty, unit_cents, qty * unit_cents);
  std::string metadata = fmt::format(R"({{"correlation_id":"{}","actor":"bench")", FakeUuid(variant));
  return Payload{
      .type = "order.placed.v1",
      .data = CloseJsonObjectAt(std::move(data), kDataBytes),
      .metadata = CloseJsonObjectAt(std::move(metadata), kMetadataBytes),
  };
}

}  // namespace

std::vector<Payload> MakePayloads(std::size_t count) {
  std::vector<Payload> variants;
  variants.reserve(std::min(count, kVariants));
  for (std::size_t i = 0; i < std::min(count, kVariants); ++i) variants.push_back(MakeVariant(i));
  std::vector<Payload> payloads;
  payloads.reserve(count);
  for (std::size_t i = 0; i < count; ++i) payloads.push_back(variants[i % kVariants]);
  return payloads;
}

}  // namespace cairn::bench
