// examples/bank_account/account.h — a bank account as a cairn aggregate.
//
// The account's history is a stream "account-<id>" of JSON events:
//
//   account.opened.v1     {"owner":"Ada Lovelace"}
//   account.deposited.v1  {"amount":1250}           amounts are integer cents: never floats for money
//   account.withdrawn.v1  {"amount":500}
//   account.closed.v1     {}
//
// Its state (AccountState) is what those events add up to. The traits type
// `Account` tells cairn::Repository how to fold an event into the state and how
// to encode the state for a snapshot (Cap'n Proto, account_state.capnp). The
// Decide* functions are the commands: they look at the state and either return
// the events to append or refuse — a refused command (an overdraft) appends
// nothing. Deciding is kept apart from loading and saving, which main.cc does
// in a load–decide–save loop that retries on a concurrency conflict:
//
//   cairn::Repository<bank::Account> accounts(*store, cairn::SnapshotPolicy::EveryEvents(100));
//   auto account = accounts.Load(bank::StreamOf("42"));         // newest snapshot + the events after it
//   auto events = bank::DecideWithdraw(account->state, 500);    // or a Refusal: "insufficient funds …"
//   if (events) auto saved = accounts.Save(*account, *events);  // kConflict: load again, decide again
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/snapshot.h"

namespace bank {

inline constexpr std::string_view kOpened = "account.opened.v1";
inline constexpr std::string_view kDeposited = "account.deposited.v1";
inline constexpr std::string_view kWithdrawn = "account.withdrawn.v1";
inline constexpr std::string_view kClosed = "account.closed.v1";

// The stream of account `id`: "account-<id>", so that its category is "account"
// (`cairn replay --category account`).
std::string StreamOf(std::string_view id);

// What an account's events add up to. A plain value: the Cap'n Proto message
// exists only inside Encode and Decode.
struct AccountState {
  std::string owner;                     // empty until account.opened.v1
  std::int64_t balance_cents = 0;        // never negative
  bool open = false;                     // opened and not closed
  std::uint64_t transactions = 0;        // deposits and withdrawals
  std::int64_t last_transaction_at_us = 0;  // recorded_at of the last one; 0 = none

  bool exists() const { return !owner.empty(); }
  friend bool operator==(const AccountState&, const AccountState&) = default;
};

// The aggregate's traits, as cairn::Aggregate describes them.
struct Account {
  using State = AccountState;
  // The version of Encode's format (account_state.capnp). Snapshots written
  // with another version are ignored, never misread: bump it with any change
  // of the schema or of what a field means.
  static constexpr std::uint32_t kSchemaVersion = 1;

  static State Initial() { return {}; }

  // Folds one recorded event into the state. Events are facts — they were
  // checked when they were decided — so Apply never refuses one; a type it does
  // not know (written by a newer version of this code) is skipped.
  static void Apply(State& state, const cairn::EventView& event);

  // The state as one flat Cap'n Proto message (a multiple of 8 bytes).
  static std::string Encode(const State& state);

  // The state in `bytes`, or nullopt when they are not a state this code
  // wrote: not whole 8-byte words, not a well-formed message (Cap'n Proto
  // throws kj::Exception on malformed input: caught here, never let out),
  // bytes after the message, or a state that breaks the account's invariants
  // (a snapshot is only ever taken of an opened account with a balance >= 0).
  // Never crashes and never reads outside `bytes`, whatever they hold.
  static std::optional<State> Decode(std::string_view bytes);
};
static_assert(cairn::Aggregate<Account>);

// Why a command was refused. Not an error of the program: the account said no.
struct Refusal {
  std::string reason;
};

// A command's outcome: the events to append (each with a fresh id), or a refusal.
using Decision = std::expected<std::vector<cairn::EventData>, Refusal>;

Decision DecideOpen(const AccountState& state, std::string_view owner);
Decision DecideDeposit(const AccountState& state, std::int64_t amount_cents);
// Refused when the account is not open, or when the balance is short: no overdraft.
Decision DecideWithdraw(const AccountState& state, std::int64_t amount_cents);
// Refused unless the account is open with a balance of zero.
Decision DecideClose(const AccountState& state);

// "12", "12.5" or "12.50" -> 1250 cents; nullopt for anything else (signs,
// more than two decimals, more than 90 trillion) — parsed exactly, no floats.
std::optional<std::int64_t> ParseAmount(std::string_view text);
// 1250 -> "12.50".
std::string FormatCents(std::int64_t cents);

}  // namespace bank
