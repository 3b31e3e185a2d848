#include "account.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "account_state.capnp.h"  // generated from account_state.capnp into the build tree

namespace bank {
namespace {

// The largest amount one command takes: 999,999,999,999.99.
constexpr std::int64_t kMaxAmountCents = 99'999'999'999'999;
constexpr std::size_t kMaxOwnerBytes = 200;

// `data` as a JSON object in `document`; false when it is not one.
bool ParseObject(std::string_view data, rapidjson::Document& document) {
  document.Parse(data.data(), data.size());
  return !document.HasParseError() && document.IsObject();
}

// The integer member `name` of a JSON object; nullopt when absent or not an integer.
std::optional<std::int64_t> Int64Member(const rapidjson::Document& object, const char* name) {
  auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsInt64()) return std::nullopt;
  return member->value.GetInt64();
}

// One event's JSON data, written with RapidJSON so that strings are escaped.
template <class Fill>
std::string JsonObject(Fill fill) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  fill(writer);
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

// Every decided event gets a fresh id. Were the same events sent again after a
// lost reply (kBusy, kIOError), the store would recognise them and not write
// them twice (see EventStore::Append). A conflict is different: the command is
// decided again on the new state, so it makes new events with new ids.
cairn::EventData NewEvent(std::string_view type, std::string data) {
  return {.id = cairn::EventId::NewV7(), .type = std::string(type), .data = std::move(data)};
}

std::string AmountData(std::int64_t amount_cents) {
  return JsonObject([&](auto& writer) {
    writer.Key("amount");
    writer.Int64(amount_cents);
  });
}

// Why `state` takes no deposit or withdrawal; nullopt when it does.
std::optional<Refusal> NotOpen(const AccountState& state) {
  if (!state.exists()) return Refusal{"there is no such account"};
  if (!state.open) return Refusal{"the account is closed"};
  return std::nullopt;
}

std::optional<Refusal> BadAmount(std::int64_t amount_cents) {
  if (amount_cents <= 0) return Refusal{"the amount must be positive"};
  if (amount_cents > kMaxAmountCents) return Refusal{"the amount is over " + FormatCents(kMaxAmountCents)};
  return std::nullopt;
}

}  // namespace

std::string StreamOf(std::string_view id) { return "account-" + std::string(id); }

void Account::Apply(State& state, const cairn::EventView& event) {
  if (event.type == kClosed) {
    state.open = false;
    return;
  }
  const bool deposit = event.type == kDeposited;
  if (event.type != kOpened && !deposit && event.type != kWithdrawn) return;  // not ours to know

  rapidjson::Document data;
  if (!ParseObject(event.data, data)) return;  // Decide* never writes such an event
  if (event.type == kOpened) {
    auto owner = data.FindMember("owner");
    if (owner == data.MemberEnd() || !owner->value.IsString()) return;
    state.owner.assign(owner->value.GetString(), owner->value.GetStringLength());
    state.open = true;
    return;
  }
  std::optional<std::int64_t> amount = Int64Member(data, "amount");
  if (!amount) return;
  // Decide* keeps the balance in range; checked arithmetic keeps a hand-made
  // event from being undefined behaviour all the same.
  std::int64_t balance = 0;
  const bool overflow = deposit ? __builtin_add_overflow(state.balance_cents, *amount, &balance)
                                : __builtin_sub_overflow(state.balance_cents, *amount, &balance);
  if (overflow) return;
  state.balance_cents = balance;
  ++state.transactions;
  state.last_transaction_at_us = event.recorded_at_us;
}

std::string Account::Encode(const State& state) {
  capnp::MallocMessageBuilder message;
  schema::AccountState::Builder root = message.initRoot<schema::AccountState>();
  root.setOwner(capnp::Text::Reader(state.owner.data(), state.owner.size()));
  root.setBalance(state.balance_cents);
  root.setOpen(state.open);
  root.setTransactions(state.transactions);
  root.setLastTransactionAt(state.last_transaction_at_us);
  // One flat message: the segment table, then the segments, in whole 8-byte words.
  const kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  const kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
  return {reinterpret_cast<const char*>(bytes.begin()), bytes.size()};
}

std::optional<AccountState> Account::Decode(std::string_view bytes) {
  // A flat message is whole words. Anything else is not one of ours (and
  // FlatArrayMessageReader would need the tail padded to read it at all).
  constexpr std::size_t kWordBytes = sizeof(capnp::word);
  if (bytes.empty() || bytes.size() % kWordBytes != 0) return std::nullopt;
  // Cap'n Proto reads the message in place as 8-byte words and requires them
  // 8-byte aligned; a string_view from the store promises no alignment, so
  // decode from an aligned copy (a snapshot is small; the copy is cheap).
  std::vector<capnp::word> words(bytes.size() / kWordBytes);
  std::memcpy(words.data(), bytes.data(), bytes.size());

  // Cap'n Proto checks every pointer against the message's bounds as it is
  // followed and throws kj::Exception when one is out of bounds or of the
  // wrong kind: garbage is an exception, not a crash. Catch it here: the
  // aggregate's contract is "nullopt when the bytes do not decode".
  try {
    capnp::ReaderOptions options;
    // A well-formed state is read about once; garbage must not make us read more.
    options.traversalLimitInWords = 4 * words.size();
    capnp::FlatArrayMessageReader message(kj::arrayPtr(words.data(), words.size()), options);
    if (message.getEnd() != words.data() + words.size()) return std::nullopt;  // bytes after the message

    const schema::AccountState::Reader root = message.getRoot<schema::AccountState>();
    const capnp::Text::Reader owner = root.getOwner();
    AccountState state{.owner = std::string(owner.cStr(), owner.size()),
                       .balance_cents = root.getBalance(),
                       .open = root.getOpen(),
                       .transactions = root.getTransactions(),
                       .last_transaction_at_us = root.getLastTransactionAt()};
    // Well-formed is not the same as right: an empty message (a null root
    // pointer) reads as all defaults. A snapshot is only taken after the
    // account was opened, and no decided event makes a balance negative.
    if (!state.exists() || state.balance_cents < 0) return std::nullopt;
    return state;
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

Decision DecideOpen(const AccountState& state, std::string_view owner) {
  if (state.exists()) return std::unexpected(Refusal{"the account is already open (owner " + state.owner + ")"});
  if (owner.empty() || owner.size() > kMaxOwnerBytes) {
    return std::unexpected(Refusal{"the owner's name must have 1 to " + std::to_string(kMaxOwnerBytes) + " bytes"});
  }
  for (unsigned char c : owner) {
    if (c < 0x20 || c == 0x7f) return std::unexpected(Refusal{"the owner's name has a control character"});
  }
  std::vector<cairn::EventData> events;
  events.push_back(NewEvent(kOpened, JsonObject([&](auto& writer) {
                              writer.Key("owner");
                              writer.String(owner.data(), static_cast<rapidjson::SizeType>(owner.size()));
                            })));
  return events;
}

Decision DecideDeposit(const AccountState& state, std::int64_t amount_cents) {
  if (auto refused = NotOpen(state)) return std::unexpected(std::move(*refused));
  if (auto refused = BadAmount(amount_cents)) return std::unexpected(std::move(*refused));
  std::int64_t ignored = 0;
  if (__builtin_add_overflow(state.balance_cents, amount_cents, &ignored)) {
    return std::unexpected(Refusal{"the balance would overflow"});
  }
  std::vector<cairn::EventData> events;
  events.push_back(NewEvent(kDeposited, AmountData(amount_cents)));
  return events;
}

Decision DecideWithdraw(const AccountState& state, std::int64_t amount_cents) {
  if (auto refused = NotOpen(state)) return std::unexpected(std::move(*refused));
  if (auto refused = BadAmount(amount_cents)) return std::unexpected(std::move(*refused));
  // The invariant this aggregate exists for: no overdraft. The command is
  // refused and nothing is appended; the log only ever holds what happened.
  if (amount_cents > state.balance_cents) {
    return std::unexpected(Refusal{"insufficient funds: the balance is " + FormatCents(state.balance_cents) +
                                   ", the withdrawal " + FormatCents(amount_cents)});
  }
  std::vector<cairn::EventData> events;
  events.push_back(NewEvent(kWithdrawn, AmountData(amount_cents)));
  return events;
}

Decision DecideClose(const AccountState& state) {
  if (auto refused = NotOpen(state)) return std::unexpected(std::move(*refused));
  if (state.balance_cents != 0) {
    return std::unexpected(
        Refusal{"the balance is " + FormatCents(state.balance_cents) + ": withdraw it before closing"});
  }
  std::vector<cairn::EventData> events;
  events.push_back(NewEvent(kClosed, "{}"));
  return events;
}

std::optional<std::int64_t> ParseAmount(std::string_view text) {
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 12 || fraction.size() > 2) return std::nullopt;
  if (dot != std::string_view::npos && fraction.empty()) return std::nullopt;  // "12."
  std::int64_t cents = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    cents = cents * 10 + (c - '0');
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const char c = i < fraction.size() ? fraction[i] : '0';
    if (c < '0' || c > '9') return std::nullopt;
    cents = cents * 10 + (c - '0');
  }
  return cents;
}

std::string FormatCents(std::int64_t cents) {
  // Through unsigned: -INT64_MIN does not fit an int64_t.
  const std::uint64_t magnitude =
      cents < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(cents) : static_cast<std::uint64_t>(cents);
  char text[32];
  std::snprintf(text, sizeof text, "%s%llu.%02llu", cents < 0 ? "-" : "",
                static_cast<unsigned long long>(magnitude / 100), static_cast<unsigned long long>(magnitude % 100));
  return text;
}

}  // namespace bank
