# The snapshot encoding of a bank account's state (examples/bank_account).
#
# A snapshot is derived data: the repository (cairn/snapshot.h) stores these
# bytes beside the log and trusts them only when the aggregate's
# kSchemaVersion matches the one they were written with. Cap'n Proto lets a
# newer schema read older bytes, but that does not make an old snapshot right:
# a field added here is read as its default from snapshots taken before it
# existed, which is wrong whenever its value is derived from past events. So
# any change here — a new field, a new meaning — goes with a new
# Account::kSchemaVersion (account.h); old snapshots are then ignored and the
# next ones are taken in the new format. Never change or reuse an ordinal.
@0xd593831ae9eef4ed;

$import "/capnp/c++.capnp".namespace("bank::schema");

struct AccountState {
  owner @0 :Text;                # from account.opened.v1; empty only for an account never opened
  balance @1 :Int64;             # in cents; never negative (withdrawals are refused first)
  open @2 :Bool;                 # false before account.opened.v1 and after account.closed.v1
  transactions @3 :UInt64;       # deposits and withdrawals so far
  lastTransactionAt @4 :Int64;   # recorded_at (µs since the Unix epoch, UTC) of the last one; 0 = none
}
