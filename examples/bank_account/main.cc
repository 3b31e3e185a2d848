// examples/bank_account/main.cc — a command-line bank on a cairn store.
//
//   bank_account --store bank.db open 42 "Ada Lovelace"
//   bank_account --store bank.db deposit 42 100.00
//   bank_account --store bank.db withdraw 42 250.00        # refused (exit 4): no overdraft, no event
//   bank_account --store bank.db deposit-many 42 250 1.00  # 250 deposits, one event and one save each
//   bank_account --store bank.db show 42                   # balance, revision, snapshot and tail
//
// Every command is one load–decide–save cycle through cairn::Repository, the
// way a service would run it:
//
//   1. load the account: the repository starts from its newest snapshot it can
//      trust and folds only the events after it;
//   2. decide: account.h's Decide* look at the state and return events or a refusal;
//   3. save, expecting the revision the account was loaded at. If someone else
//      saved meanwhile, the store answers kConflict and nothing was written:
//      load again and decide again (the answer may now differ), up to 3 times.
//
// Snapshots are taken by policy (--snapshot-every N, default 100 events: after
// the saves that cross 100, 200, …) and written in the background; the
// repository's destructor writes the queued ones before the program exits.
// `cairn snapshot list|show|delete|prune` shows and manages them.
//
// Exit codes: 0 done, 1 error, 2 usage, 3 still conflicting after 3 attempts,
// 4 refused by the account (e.g. insufficient funds).
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "account.h"
#include "cairn/snapshot.h"
#include "cairn/store.h"

namespace {

constexpr std::string_view kHelp =
    R"(usage: bank_account [options] COMMAND ARGS...

commands:
  open ACCOUNT OWNER                 open account ACCOUNT (stream "account-ACCOUNT") for OWNER
  deposit ACCOUNT AMOUNT             AMOUNT in units with up to two decimals: 12, 12.5, 12.50
  withdraw ACCOUNT AMOUNT            refused (exit 4) when the balance is short: no overdraft
  close ACCOUNT                      refused unless the balance is 0.00
  deposit-many ACCOUNT COUNT AMOUNT  COUNT deposits of AMOUNT, each its own event and save
  show ACCOUNT                       balance, revision, and how the load went (snapshot, events folded)

options:
  --store PATH          the store (default: $CAIRN_STORE, else bank.db); `open` creates it
  --backend B           auto (default), sqlite or lmdb: the backend of a store `open` creates
  --snapshot-every N    snapshot after saves crossing a multiple of N events (default 100; 0 = never)
  --keep K              snapshots kept per account, newest first (default 3; 0 = all)

exit codes: 0 done, 1 error, 2 usage, 3 still conflicting after 3 attempts, 4 refused by the account
)";

enum Exit : int { kOk = 0, kFailed = 1, kUsage = 2, kConflict = 3, kRefused = 4 };

// Load, decide, save: at most this many times when saves keep conflicting.
constexpr int kMaxAttempts = 3;

using Accounts = cairn::Repository<bank::Account>;
using LoadedAccount = cairn::Loaded<bank::AccountState>;
using Command = std::function<bank::Decision(const bank::AccountState&)>;

struct Flags {
  std::string store;
  cairn::BackendKind backend = cairn::BackendKind::kAuto;
  std::uint64_t snapshot_every = 100;
  std::size_t keep = 3;
  std::vector<std::string> args;  // the command and its arguments
};

int Usage(const std::string& problem) {
  std::fprintf(stderr, "bank_account: %s (see bank_account --help)\n", problem.c_str());
  return kUsage;
}

int Failed(const std::string& what, const cairn::Error& error) {
  std::fprintf(stderr, "bank_account: %s: %s\n", what.c_str(), error.ToString().c_str());
  return kFailed;
}

std::optional<std::uint64_t> ParseCount(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// Options may come before or after the command. nullopt (after printing why) on a bad command line.
std::optional<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  const char* env_store = std::getenv("CAIRN_STORE");
  flags.store = env_store && *env_store ? env_store : "bank.db";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kHelp.data(), 1, kHelp.size(), stdout);
      std::exit(kOk);
    }
    if (!arg.starts_with("--")) {
      flags.args.emplace_back(arg);
      continue;
    }
    if (i + 1 >= argc) {
      Usage(std::string(arg) + " needs a value");
      return std::nullopt;
    }
    const std::string_view value = argv[++i];
    if (arg == "--store") {
      flags.store = value;
    } else if (arg == "--backend") {
      if (value == "auto") {
        flags.backend = cairn::BackendKind::kAuto;
      } else if (value == "sqlite") {
        flags.backend = cairn::BackendKind::kSqlite;
      } else if (value == "lmdb") {
        flags.backend = cairn::BackendKind::kLmdb;
      } else {
        Usage("--backend is auto, sqlite or lmdb, not '" + std::string(value) + "'");
        return std::nullopt;
      }
    } else if (arg == "--snapshot-every" || arg == "--keep") {
      std::optional<std::uint64_t> n = ParseCount(value);
      if (!n) {
        Usage(std::string(arg) + " needs a number, not '" + std::string(value) + "'");
        return std::nullopt;
      }
      if (arg == "--keep") {
        flags.keep = static_cast<std::size_t>(*n);
      } else {
        flags.snapshot_every = *n;
      }
    } else {
      Usage("unknown option " + std::string(arg));
      return std::nullopt;
    }
  }
  return flags;
}

// Runs one command on the account in `stream`: load (unless `account` already
// holds it as last loaded or saved), decide, save. On a conflict — another
// writer saved first — loads again and decides again: the command is judged
// against the state it will actually apply to, so a withdrawal that was fine a
// moment ago may now be refused. On success `account` is the account after
// the save (Save folds the new events in), ready for the next command.
int Execute(Accounts& accounts, const std::string& stream, std::optional<LoadedAccount>& account,
            const Command& decide) {
  for (int attempt = 1;; ++attempt) {
    if (!account) {
      cairn::Result<LoadedAccount> loaded = accounts.Load(stream);
      if (!loaded) return Failed("loading " + stream, loaded.error());
      account = std::move(*loaded);
    }
    bank::Decision decision = decide(account->state);
    if (!decision) {
      std::fprintf(stderr, "bank_account: refused: %s\n", decision.error().reason.c_str());
      return kRefused;
    }
    cairn::Result<cairn::AppendResult> saved = accounts.Save(*account, *decision);
    if (saved) return kOk;
    // On a conflict nothing was written and `account` is merely out of date;
    // after other errors it may not match the log either. Load it again.
    account.reset();
    if (saved.error().code() != cairn::ErrorCode::kConflict) return Failed("saving to " + stream, saved.error());
    const std::optional<std::uint64_t> actual = saved.error().conflict()->actual_revision;
    if (attempt == kMaxAttempts) {
      std::fprintf(stderr, "bank_account: %s kept changing: gave up after %d conflicting attempts\n", stream.c_str(),
                   kMaxAttempts);
      return kConflict;
    }
    std::fprintf(stderr, "bank_account: %s was changed meanwhile (now at revision %s): loading it again\n",
                 stream.c_str(), actual ? std::to_string(*actual).c_str() : "none");
  }
}

// Microseconds since the Unix epoch as ISO-8601 UTC, e.g. 2024-05-01T12:00:00.123456Z.
std::string FormatTime(std::int64_t us) {
  if (us == 0) return "never";
  std::int64_t seconds = us / 1'000'000;
  std::int64_t micros = us % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    --seconds;
  }
  const auto time = static_cast<time_t>(seconds);
  tm utc{};
  gmtime_r(&time, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%s.%06dZ", date, static_cast<int>(micros));
  return text;
}

// show: the account, and what the load did. Snapshots the repository did not
// trust are reported, not hidden: the load fell back past them.
int Show(Accounts& accounts, const std::string& id, const std::string& stream) {
  cairn::Result<LoadedAccount> loaded = accounts.Load(stream);
  if (!loaded) return Failed("loading " + stream, loaded.error());
  const bank::AccountState& state = loaded->state;
  if (!state.exists()) {
    std::fprintf(stderr, "bank_account: there is no account %s\n", id.c_str());
    return kFailed;
  }
  std::printf("account:       %s\n", id.c_str());
  std::printf("stream:        %s\n", stream.c_str());
  std::printf("owner:         %s\n", state.owner.c_str());
  std::printf("status:        %s\n", state.open ? "open" : "closed");
  std::printf("balance:       %s\n", bank::FormatCents(state.balance_cents).c_str());
  std::printf("transactions:  %llu\n", static_cast<unsigned long long>(state.transactions));
  std::printf("last activity: %s\n", FormatTime(state.last_transaction_at_us).c_str());
  std::printf("revision:      %llu\n", static_cast<unsigned long long>(loaded->revision.value_or(0)));
  if (loaded->snapshot_revision) {
    std::printf("loaded from:   snapshot at revision %llu, then %llu event%s folded\n",
                static_cast<unsigned long long>(*loaded->snapshot_revision),
                static_cast<unsigned long long>(loaded->events_folded), loaded->events_folded == 1 ? "" : "s");
  } else {
    std::printf("loaded from:   the first event, %llu event%s folded (no snapshot)\n",
                static_cast<unsigned long long>(loaded->events_folded), loaded->events_folded == 1 ? "" : "s");
  }
  const cairn::SnapshotCounters counters = accounts.counters();
  std::string ignored;
  for (const auto& [name, count] : {std::pair{"undecodable", counters.ignored_undecodable},
                                    std::pair{"event-hash", counters.ignored_event_hash},
                                    std::pair{"schema-version", counters.ignored_schema_version},
                                    std::pair{"past-head", counters.ignored_past_head}}) {
    if (count == 0) continue;
    ignored += (ignored.empty() ? "" : ", ") + std::to_string(count) + " " + name;
  }
  if (!ignored.empty()) std::printf("ignored:       snapshots not trusted: %s\n", ignored.c_str());
  return kOk;
}

int Run(const Flags& flags) {
  const std::vector<std::string>& args = flags.args;
  if (args.empty()) return Usage("no command");
  const std::string& command = args[0];
  auto want = [&](std::size_t n) { return args.size() == n + 1; };
  if (!(((command == "show" || command == "close") && want(1)) ||
        ((command == "open" || command == "deposit" || command == "withdraw") && want(2)) ||
        (command == "deposit-many" && want(3)))) {
    return Usage("unknown command or wrong number of arguments: " + command);
  }
  const std::string& id = args[1];
  const std::string stream = bank::StreamOf(id);
  if (auto valid = cairn::ValidateStreamName(stream); !valid) return Usage("bad ACCOUNT: " + valid.error().message());

  std::optional<std::int64_t> amount;
  std::optional<std::uint64_t> count;
  if (command == "deposit" || command == "withdraw" || command == "deposit-many") {
    amount = bank::ParseAmount(args.back());
    if (!amount) return Usage("AMOUNT is like 12, 12.5 or 12.50, not '" + args.back() + "'");
  }
  if (command == "deposit-many" && (!(count = ParseCount(args[2])) || *count == 0)) {
    return Usage("COUNT is a positive number, not '" + args[2] + "'");
  }

  // `open` may create the store; the other commands need an existing one.
  cairn::Result<std::unique_ptr<cairn::EventStore>> store =
      cairn::EventStore::Open(flags.store, {.backend = flags.backend, .create_if_missing = command == "open"});
  if (!store) return Failed("opening " + flags.store, store.error());

  // Declared after the store, so destroyed before it: the repository's
  // destructor writes the snapshots still queued, into the open store.
  cairn::SnapshotPolicy policy = cairn::SnapshotPolicy::EveryEvents(flags.snapshot_every, flags.keep);
  Accounts accounts(**store, policy);

  if (command == "show") return Show(accounts, id, stream);

  std::optional<LoadedAccount> account;
  int result = kOk;
  std::string done;  // what happened, for the summary line
  if (command == "open") {
    result = Execute(accounts, stream, account,
                     [&](const bank::AccountState& state) { return bank::DecideOpen(state, args[2]); });
    done = "opened account " + id + " for " + args[2];
  } else if (command == "deposit") {
    result = Execute(accounts, stream, account,
                     [&](const bank::AccountState& state) { return bank::DecideDeposit(state, *amount); });
    done = "deposited " + bank::FormatCents(*amount) + " into account " + id;
  } else if (command == "withdraw") {
    result = Execute(accounts, stream, account,
                     [&](const bank::AccountState& state) { return bank::DecideWithdraw(state, *amount); });
    done = "withdrew " + bank::FormatCents(*amount) + " from account " + id;
  } else if (command == "close") {
    result = Execute(accounts, stream, account,
                     [](const bank::AccountState& state) { return bank::DecideClose(state); });
    done = "closed account " + id;
  } else {  // deposit-many: one command after another, each on the account as the last save left it
    std::uint64_t made = 0;
    for (; made < *count; ++made) {
      result = Execute(accounts, stream, account,
                       [&](const bank::AccountState& state) { return bank::DecideDeposit(state, *amount); });
      if (result != kOk) {
        std::fprintf(stderr, "bank_account: stopped after %llu of %llu deposits\n",
                     static_cast<unsigned long long>(made), static_cast<unsigned long long>(*count));
        break;
      }
    }
    done = std::to_string(made) + " deposits of " + bank::FormatCents(*amount) + " into account " + id;
  }
  if (result != kOk) return result;

  // The snapshots this run queued are written in the background; wait for
  // them, to report them. (Without this, ~Repository would still write them.)
  // A snapshot that fails to write is logged on stderr by the repository and
  // does not fail the command: the events are saved, the snapshot only saves time.
  accounts.Flush();
  const std::uint64_t snapshots = accounts.counters().snapshots_written;
  std::printf("%s: balance %s, revision %llu, %llu snapshot%s written\n", done.c_str(),
              bank::FormatCents(account->state.balance_cents).c_str(),
              static_cast<unsigned long long>(account->revision.value_or(0)),
              static_cast<unsigned long long>(snapshots), snapshots == 1 ? "" : "s");
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Flags> flags = ParseFlags(argc, argv);
  if (!flags) return kUsage;
  return Run(*flags);
}
