// examples/bank_account/testkit.cc — what the example's tests need beyond the
// bank_account binary itself (built only with the tests).
//
//   bank_account_testkit plant STORE STREAM KIND   save a snapshot of garbage at the stream's head
//                                                  revision, with the right event hash and schema
//                                                  version: only Decode can tell it is garbage
//   bank_account_testkit decode-garbage            Account::Decode on truncated, bit-flipped,
//                                                  padded and random bytes: never a crash (run it
//                                                  under ASan+UBSan), nullopt where it must be
//
// KIND: odd (13 bytes, not whole words), ones (64 bytes of 0xff: a nonsense
// segment table), null-root (a well-formed empty message: all defaults, which
// break the account's invariants), out-of-bounds (a root pointer past the
// message), trailing (a real state followed by a stray word).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "account.h"
#include "cairn/store.h"

namespace {

// A flat Cap'n Proto message of one segment: the segment table word (segment
// count - 1, then the segment's size in words: two little-endian u32), then the words.
std::string OneSegment(std::initializer_list<std::uint64_t> words) {
  std::string bytes(8, '\0');
  const auto size = static_cast<std::uint32_t>(words.size());
  std::memcpy(bytes.data() + 4, &size, 4);  // x86-64 is little-endian, as Cap'n Proto
  for (std::uint64_t word : words) bytes.append(reinterpret_cast<const char*>(&word), 8);
  return bytes;
}

bank::AccountState SampleState() {
  return {.owner = "Ada Lovelace",
          .balance_cents = 25'000,
          .open = true,
          .transactions = 250,
          .last_transaction_at_us = 1'700'000'000'000'000};
}

std::optional<std::string> Garbage(std::string_view kind) {
  if (kind == "odd") return std::string("not a state");
  if (kind == "ones") return std::string(64, '\xff');
  if (kind == "null-root") return OneSegment({0});
  // A struct pointer (low two bits 0) whose offset (bits 2..31) is 1,000 words
  // past it, to a struct of one data word (bits 32..47).
  if (kind == "out-of-bounds") return OneSegment({(std::uint64_t{1} << 32) | (1000u << 2)});
  if (kind == "trailing") return bank::Account::Encode(SampleState()) + std::string(8, '\0');
  return std::nullopt;
}

int Plant(const std::string& path, const std::string& stream, std::string_view kind) {
  std::optional<std::string> garbage = Garbage(kind);
  if (!garbage) {
    std::fprintf(stderr, "testkit: unknown garbage kind '%.*s'\n", static_cast<int>(kind.size()), kind.data());
    return 2;
  }
  auto store = cairn::EventStore::Open(path);
  if (!store) return std::fprintf(stderr, "testkit: %s\n", store.error().ToString().c_str()), 1;
  auto info = (*store)->GetStreamInfo(stream);
  if (!info || !info->exists) return std::fprintf(stderr, "testkit: no stream %s\n", stream.c_str()), 1;
  cairn::Hash hash{};
  auto read = (*store)->ReadStream(stream, {.from_revision = info->head_revision, .max_count = 1},
                                   [&](const cairn::EventView& event) {
                                     hash = event.hash;
                                     return false;
                                   });
  if (!read || *read != 1) return std::fprintf(stderr, "testkit: cannot read the head of %s\n", stream.c_str()), 1;
  auto saved = (*store)->SaveSnapshot({.stream = stream,
                                       .revision = *info->head_revision,
                                       .schema_version = bank::Account::kSchemaVersion,
                                       .event_hash = hash,
                                       .state = *garbage});
  if (!saved) return std::fprintf(stderr, "testkit: %s\n", saved.error().ToString().c_str()), 1;
  std::printf("planted %zu bytes of '%.*s' garbage at revision %llu of %s\n", garbage->size(),
              static_cast<int>(kind.size()), kind.data(), static_cast<unsigned long long>(*info->head_revision),
              stream.c_str());
  return 0;
}

int failures = 0;

void Expect(bool ok, const std::string& what) {
  if (ok) return;
  ++failures;
  std::fprintf(stderr, "FAILED: %s\n", what.c_str());
}

int DecodeGarbage() {
  const bank::AccountState sample = SampleState();
  const std::string good = bank::Account::Encode(sample);
  Expect(good.size() % 8 == 0, "an encoded state is whole words");
  Expect(bank::Account::Decode(good) == sample, "a state survives Encode and Decode");

  // Misaligned input: the same bytes one byte into a buffer.
  const std::string shifted = "x" + good;
  Expect(bank::Account::Decode(std::string_view(shifted).substr(1)) == sample, "a misaligned view decodes");

  for (std::string_view kind : {"odd", "ones", "null-root", "out-of-bounds", "trailing"}) {
    Expect(!bank::Account::Decode(*Garbage(kind)), std::string(kind) + " garbage does not decode");
  }
  Expect(!bank::Account::Decode(""), "no bytes do not decode");

  // Every truncation of a good state: nothing shorter is a whole message.
  std::uint64_t tried = 0;
  for (std::size_t n = 0; n < good.size(); ++n, ++tried) {
    Expect(!bank::Account::Decode(std::string_view(good).substr(0, n)),
           "a state cut to " + std::to_string(n) + " bytes does not decode");
  }
  // Every single-bit flip: many still decode (to another state: snapshots
  // carry no checksum of their own; the event hash guards which events they
  // summarise, not their bytes), none may crash or read out of bounds.
  std::uint64_t flipped_decoded = 0;
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit, ++tried) {
    std::string flipped = good;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    if (bank::Account::Decode(flipped)) ++flipped_decoded;
  }
  // Random words, and random words behind a plausible segment table.
  std::mt19937_64 random(42);
  for (int i = 0; i < 20'000; ++i, ++tried) {
    std::string bytes((1 + random() % 16) * 8, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    if (i % 2 == 0) {
      const std::uint32_t table[2] = {0, static_cast<std::uint32_t>(bytes.size() / 8 - 1)};
      std::memcpy(bytes.data(), table, sizeof table);
    }
    (void)bank::Account::Decode(bytes);
  }
  std::printf("decoded %llu garbage inputs without a crash (%llu of %zu single-bit flips still decode); %d failures\n",
              static_cast<unsigned long long>(tried), static_cast<unsigned long long>(flipped_decoded),
              good.size() * 8, failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "plant" && argc == 5) return Plant(argv[2], argv[3], argv[4]);
  if (mode == "decode-garbage" && argc == 2) return DecodeGarbage();
  std::fprintf(stderr, "usage: bank_account_testkit plant STORE STREAM KIND | decode-garbage\n");
  return 2;
}
