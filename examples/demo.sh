#!/usr/bin/env bash
# The cairn tour: appends, a concurrency conflict, an idempotent retry, a replay,
# a tombstone, an audit and a move to LMDB — on the embedded SQLite default, with the cairn CLI —
# then an aggregate loaded through snapshots (examples/bank_account) and `cairn snapshot`,
# and a read model built by a SQL projection (`cairn projection`).
# Usage: examples/demo.sh [PATH-TO-cairn [PATH-TO-bank_account]]
# (bank_account defaults to examples/bank_account/bank_account in cairn's build tree.)
#
# Every step says which exit code it must have (0 unless it shows a refusal or a
# conflict) and some what their output must say: the demo stops at the first
# step that does otherwise, and exits 1.
set -euo pipefail
cairn=${1:-cairn}
if [[ $# -ge 2 ]]; then
  bank_account=$2
elif [[ $cairn == */* ]]; then
  bank_account="$(dirname "$cairn")/../../examples/bank_account/bank_account"
else
  bank_account=bank_account
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CAIRN_STORE="$work/orders.db"

die() { printf '\n\033[1;31mdemo FAILED: %s\033[0m\n' "$*" >&2; exit 1; }
command -v "$cairn" >/dev/null || die "no cairn binary at '$cairn'"
command -v "$bank_account" >/dev/null ||
  die "no bank_account binary at '$bank_account' (build with -DCAIRN_BUILD_EXAMPLES=ON, or pass its path)"

# step [--exit CODE] [--expect REGEX]... TITLE COMMAND...: shows and runs COMMAND;
# stops the demo unless it exits CODE (default 0) and its output has a line
# matching each REGEX (extended).
# step_stdin FILE TITLE COMMAND...: the same (exit 0), with FILE on standard input.
# step_stdout FILE TITLE COMMAND...: the same (exit 0), with standard output into FILE.
step() {
  local expected=0 patterns=() code=0
  while [[ $1 == --exit || $1 == --expect ]]; do
    if [[ $1 == --exit ]]; then expected=$2; else patterns+=("$2"); fi
    shift 2
  done
  local title=$1
  shift
  printf '\n\033[1m== %s\033[0m\n$ %s\n' "$title" "$*"
  "$@" >"$work/step.out" 2>&1 || code=$?
  cat "$work/step.out"
  echo "(exit code $code)"
  [[ $code -eq $expected ]] || die "\"$title\" exited $code, expected $expected"
  local pattern
  for pattern in ${patterns[@]+"${patterns[@]}"}; do
    grep -Eq -- "$pattern" "$work/step.out" || die "\"$title\": no line of its output matches /$pattern/"
  done
}
step_stdout() {
  local code=0
  printf '\n\033[1m== %s\033[0m\n$ %s > %s\n' "$2" "${*:3}" "$(basename "$1")"
  "${@:3}" >"$1" || code=$?
  echo "(exit code $code, $(wc -l <"$1") lines)"
  [[ $code -eq 0 ]] || die "\"$2\" exited $code"
}
step_stdin() {
  local code=0
  printf '\n\033[1m== %s\033[0m\n$ %s < %s\n' "$2" "${*:3}" "$(basename "$1")"
  "${@:3}" <"$1" || code=$?
  echo "(exit code $code)"
  [[ $code -eq 0 ]] || die "\"$2\" exited $code"
}

step "Create a store" "$cairn" init
step "Open order 42: the stream must not exist yet" \
  "$cairn" append order-42 --type order.placed.v1 --expect no-stream \
  --data '{"customer":"c-7","items":[{"sku":"tea","qty":2}],"total":18.5}' \
  --metadata '{"correlation_id":"req-1","actor":"alice"}'
step "Pay it, expecting revision 0" \
  "$cairn" append order-42 --type order.paid.v1 --expect 0 --data '{"amount":18.5}' \
  --id 0190a5c8-7e1c-7a3b-9f00-0123456789ab
step --exit 3 "A second writer still believes the order is at revision 0: conflict (exit 3)" \
  "$cairn" append order-42 --type order.cancelled.v1 --expect 0 --data '{"reason":"changed mind"}'
step "The payment is retried after a lost reply: same id, nothing written twice" \
  "$cairn" append order-42 --type order.paid.v1 --expect 0 --data '{"amount":18.5}' \
  --id 0190a5c8-7e1c-7a3b-9f00-0123456789ab
printf '%s\n' \
  '{"stream":"order-43","type":"order.placed.v1","data":{"customer":"c-9","total":7},"expect":"no-stream"}' \
  '{"stream":"order-43","type":"order.shipped.v1","data":{"carrier":"post"},"expect":0}' \
  '{"stream":"customer-c-7","type":"customer.registered.v1","data":{"name":"Ada"}}' >"$work/batch.jsonl"
step_stdin "$work/batch.jsonl" "A batch from JSON Lines: one line, one append" "$cairn" append --batch
step "Read one stream" "$cairn" read order-42 --format table
step "Replay the order category from the global log" "$cairn" replay --category order
step "Delete (tombstone) order-43" "$cairn" delete order-43
step --exit 1 "Reading it now says it is deleted (exit 1)" "$cairn" read order-43
step "Audit the whole store" "$cairn" verify
step "What is in it" "$cairn" stats
step_stdout "$work/orders.jsonl" "Export the log, byte-exact, as JSON Lines" "$cairn" export
step "Rebuild it as an LMDB store (refused if the chain does not verify)" \
  "$cairn" import "$work/orders.jsonl" --store "$work/orders.mdb" --backend lmdb
step "The LMDB copy verifies to the same head hash" "$cairn" --store "$work/orders.mdb" verify

# Snapshots. bank_account (examples/bank_account) is a service's code in
# miniature: an account aggregate loaded and saved through cairn::Repository,
# which snapshots it every 100 events (keeping 3) and loads it from the newest
# snapshot it can trust plus the events after it. cairn only shows and manages
# the snapshots: taking one needs the aggregate's code.
export CAIRN_STORE="$work/bank.db"  # both programs read it
step --expect '^opened account 7' "Snapshots — open bank account 7 (its stream is account-7)" \
  "$bank_account" open 7 "Ada Lovelace"
step --expect 'balance 342\.00, revision 342, 3 snapshots written' \
  "342 deposits, each its own event and save: snapshots at revisions 99, 199 and 299" \
  "$bank_account" deposit-many 7 342 1.00
step --exit 4 --expect 'refused: insufficient funds' "Withdraw 500.00: refused, nothing appended (exit 4)" \
  "$bank_account" withdraw 7 500
step --expect 'balance 300\.00, revision 343' "Withdraw 42.00" "$bank_account" withdraw 7 42
step --expect '^balance: +300\.00$' --expect '^loaded from: +snapshot at revision 299, then 44 events folded$' \
  "Load it: the snapshot at revision 299, then only the 44 events after it" "$bank_account" show 7
step --expect '^account-7 +299 ' --expect '^account-7 +199 ' --expect '^account-7 +99 ' \
  "The snapshots the store keeps beside the log" "$cairn" snapshot list --format table
step --expect 'problem +none' "The newest, its state (Cap'n Proto) included" \
  "$cairn" snapshot show account-7 --format table
step --expect '"deleted":1' "Delete the newest snapshot: derived data, no event is touched" \
  "$cairn" snapshot delete account-7
step --expect '^balance: +300\.00$' --expect '^loaded from: +snapshot at revision 199, then 144 events folded$' \
  "Load again: it falls back to the older snapshot, same balance" "$bank_account" show 7
step --expect '"deleted":1' "Keep only each stream's newest snapshot" "$cairn" snapshot prune --keep 1
step --expect '^account-7 +199 ' "What is left" "$cairn" snapshot list --format table
step "Snapshots are not on the audit chain: the log still verifies" "$cairn" verify

# Projections. A read model of orders and spend per customer, declared in SQL
# (examples/projections/customer_totals.toml, no C++), built by `cairn projection
# run` into its own SQLite file, then kept up to date: each event applied once.
projection="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/projections/customer_totals.toml"
read_model="$work/read-model.db"
export CAIRN_STORE="$work/orders.db"  # back to the orders
step "Projections — one more order for customer c-7" \
  "$cairn" append order-44 --type order.placed.v1 --expect no-stream --data '{"customer":"c-7","total":10}'
step --expect '"name":"customer_totals"' --expect '"lag_events":0' \
  "Build the customer_totals read model from the log (SQL projection, no code)" \
  "$cairn" projection run "$projection" --read-model "$read_model"
step --expect '^c-7\|2\|28\.5$' --expect '^c-9\|1\|7$' "Query it like any SQLite database" \
  sqlite3 "$read_model" "SELECT customer, orders, total FROM customer_totals ORDER BY customer"
step "Order 44 is cancelled" \
  "$cairn" append order-44 --type order.cancelled.v1 --expect 0 --data '{"reason":"changed mind"}'
step --expect '"lag_events":0' "Run again: only the new event is applied" \
  "$cairn" projection run "$projection" --read-model "$read_model"
step --expect '^c-7\|1\|18\.5$' "c-7 is back to one order" \
  sqlite3 "$read_model" "SELECT customer, orders, total FROM customer_totals ORDER BY customer"
step --expect 'customer_totals' "Where each projection stands" \
  "$cairn" projection status --read-model "$read_model" --format table

printf '\n\033[1mdemo: every step did what it should\033[0m\n'
