#!/usr/bin/env bash
# The cairn tour: appends, a concurrency conflict, an idempotent retry, a replay,
# a tombstone, an audit and a move to LMDB — on the embedded SQLite default, with the cairn CLI.
# Usage: examples/demo.sh [PATH-TO-cairn]
set -uo pipefail
cairn=${1:-cairn}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CAIRN_STORE="$work/orders.db"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; echo "(exit code $?)"; }
# step_stdin FILE TITLE COMMAND...: the same, with FILE on standard input.
# step_stdout FILE TITLE COMMAND...: the same, with standard output into FILE.
step_stdout() { printf '\n\033[1m== %s\033[0m\n$ %s > %s\n' "$2" "${*:3}" "$(basename "$1")"; "${@:3}" >"$1"; echo "(exit code $?, $(wc -l <"$1") lines)"; }
step_stdin() { printf '\n\033[1m== %s\033[0m\n$ %s < %s\n' "$2" "${*:3}" "$(basename "$1")"; "${@:3}" <"$1"; echo "(exit code $?)"; }

step "Create a store" "$cairn" init
step "Open order 42: the stream must not exist yet" \
  "$cairn" append order-42 --type order.placed.v1 --expect no-stream \
  --data '{"customer":"c-7","items":[{"sku":"tea","qty":2}],"total":18.5}' \
  --metadata '{"correlation_id":"req-1","actor":"alice"}'
step "Pay it, expecting revision 0" \
  "$cairn" append order-42 --type order.paid.v1 --expect 0 --data '{"amount":18.5}' \
  --id 0190a5c8-7e1c-7a3b-9f00-0123456789ab
step "A second writer still believes the order is at revision 0: conflict (exit 3)" \
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
step "Reading it now says it is deleted (exit 1)" "$cairn" read order-43
step "Audit the whole store" "$cairn" verify
step "What is in it" "$cairn" stats
step_stdout "$work/orders.jsonl" "Export the log, byte-exact, as JSON Lines" "$cairn" export
step "Rebuild it as an LMDB store (refused if the chain does not verify)" \
  "$cairn" import "$work/orders.jsonl" --store "$work/orders.mdb" --backend lmdb
step "The LMDB copy verifies to the same head hash" "$cairn" --store "$work/orders.mdb" verify
