#!/usr/bin/env bash
# End-to-end test of the bank_account example on one backend:
#   open, 250 deposits -> show: exact balance, loaded from a snapshot with a short tail;
#   an overdraft is refused and appends nothing; a withdrawal and a close go through;
#   garbage snapshots at a newer revision (right event hash, garbage state) -> show
#   still prints the right balance, from the older snapshot, and reports what it ignored.
# Usage: bank_account_test.sh BANK_ACCOUNT TESTKIT sqlite|lmdb
set -euo pipefail
bank=$1
testkit=$2
backend=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/bank-account-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
store="$work/bank.$backend"
out="$work/out"

fail() { printf 'FAILED: %s\n' "$*" >&2; [[ -f "$out" ]] && sed 's/^/  | /' "$out" >&2; exit 1; }
ba() { "$bank" --store "$store" --backend "$backend" "$@"; }
# run EXPECTED_EXIT ARGS...: runs bank_account with ARGS, stdout+stderr into $out.
run() {
  local expected=$1 code=0
  shift
  ba "$@" >"$out" 2>&1 || code=$?
  [[ $code -eq $expected ]] || fail "bank_account $* exited $code, expected $expected"
  cat "$out"
}
# has REGEX: $out has a line matching REGEX (extended).
has() { grep -Eq -- "$1" "$out" || fail "no line matching /$1/"; }

run 0 open 42 "Ada Lovelace"
run 4 open 42 "Someone Else"                  # refused: it exists
has 'refused: the account is already open'
run 0 deposit-many 42 250 1.00
has '^250 deposits of 1.00 into account 42: balance 250.00, revision 250, 2 snapshots written$'

# Revisions 0..250; snapshots after the saves crossing 100 and 200 events: at revisions 99 and 199.
run 0 show 42
has '^balance: +250\.00$'
has '^transactions: +250$'
has '^revision: +250$'
has '^loaded from: +snapshot at revision 199, then 51 events folded$'
if grep -q '^ignored:' "$out"; then fail "nothing should have been ignored"; fi

# The invariant: no overdraft. Refused (exit 4), and no event appended.
run 4 withdraw 42 250.01
has 'refused: insufficient funds: the balance is 250.00, the withdrawal 250.01'
run 0 show 42
has '^balance: +250\.00$'
has '^revision: +250$'
run 2 withdraw 42 -5                          # not an amount: usage error
run 4 deposit 43 1.00                         # no such account
has 'refused: there is no such account'

# A small --snapshot-every on the command line: the next 3 deposits cross 252 (every 4 events).
run 0 --snapshot-every 4 deposit-many 42 3 0.10
has 'balance 250.30, revision 253, 1 snapshot written'
run 0 show 42
has '^balance: +250\.30$'
has '^loaded from: +snapshot at revision 251, then 2 events folded$'
run 0 withdraw 42 0.30
has 'balance 250.00, revision 254'

# Garbage at the head revision, with the hash of the head event and the right
# schema version: only Decode can tell. Each kind replaces the previous one
# (same revision); the load must ignore it and fall back to revision 251.
for kind in odd ones null-root out-of-bounds trailing; do
  "$testkit" plant "$store" account-42 "$kind" >/dev/null
  run 0 show 42
  has '^balance: +250\.00$'
  has '^revision: +254$'
  has '^loaded from: +snapshot at revision 251, then 3 events folded$'
  has '^ignored: +snapshots not trusted: 1 undecodable$'
done

# Saving over the garbage: the next snapshot lands past it and is trusted.
run 0 --snapshot-every 2 deposit 42 5.00
has 'balance 255.00, revision 255, 1 snapshot written'
run 0 show 42
has '^loaded from: +snapshot at revision 255, then 0 events folded$'
has '^balance: +255\.00$'

# Close: refused with money in it, then done once it is withdrawn.
run 4 close 42
has 'refused: the balance is 255.00: withdraw it before closing'
run 0 withdraw 42 255
run 0 close 42
run 0 show 42
has '^status: +closed$'
has '^balance: +0\.00$'
run 4 deposit 42 1
has 'refused: the account is closed'
echo "bank_account end to end on $backend: ok"
