#!/usr/bin/env bash
# The independent verifier (tools/audit/verify_chain.py, Python's standard library only)
# must agree with `cairn verify` on the head hash, and must catch a changed row.
# Usage: verify_chain_test.sh CAIRN VERIFY_CHAIN_PY
set -euo pipefail
cairn=$1
verifier=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CAIRN_STORE="$work/audit.db"

"$cairn" init >/dev/null
"$cairn" append order-1 --type order.placed.v1 --data '{"total": 42, "note": "déjà vu"}' \
  --metadata '{"correlation_id":"c-1"}' >/dev/null
printf 'opaque\x00bytes\xff' >"$work/blob.bin"
"$cairn" append blob-1 --type blob.stored.v1 --content-type application/octet-stream \
  --data "@$work/blob.bin" >/dev/null
"$cairn" append "ordre-é" --type order.placed.v1 --data '[1, 2.50, null]' >/dev/null
"$cairn" delete order-1 >/dev/null

cairn_head=$("$cairn" verify | python3 -c 'import json, sys; print(json.load(sys.stdin)["head_hash"])')
python_out=$(python3 "$verifier" "$CAIRN_STORE")
python_head=${python_out##* }
if [[ "$cairn_head" != "$python_head" ]]; then
  echo "FAIL: cairn verify head $cairn_head, verify_chain.py head $python_head" >&2
  exit 1
fi

# Change one row behind the store's back: both verifiers must fail.
sqlite3 "$CAIRN_STORE" "DROP TRIGGER events_are_immutable; UPDATE events SET data = '[1, 2.5, null]' WHERE position = 3;"
if python3 "$verifier" "$CAIRN_STORE" 2>"$work/py.err"; then
  echo "FAIL: verify_chain.py accepted a changed row" >&2
  exit 1
fi
grep -q "position 3" "$work/py.err" || { echo "FAIL: verify_chain.py did not name position 3" >&2; exit 1; }
set +e
"$cairn" verify >/dev/null 2>&1
code=$?
set -e
[[ $code -eq 4 ]] || { echo "FAIL: cairn verify exited $code after tampering, expected 4" >&2; exit 1; }
echo "ok: both verifiers agree (head $cairn_head) and both catch a changed row"
