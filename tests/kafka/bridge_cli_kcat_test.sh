#!/usr/bin/env bash
# The operator's path end to end: events appended with `cairn append`, published
# with `cairn bridge run --to-head` (the example bridge file's routing and
# dead-lettering, its brokers replaced with -X), read back with kcat: one message
# per event, keyed by stream, in each stream's order, with the envelope's headers;
# the oversized event in the dead-letter topic; `cairn bridge status` caught up.
# Usage: bridge_cli_kcat_test.sh KAFKA_SH BROKER_DIR CAIRN BRIDGE_TOML
set -euo pipefail
kafka_sh=$1
broker_dir=$2
cairn=$3
example=$4

fail() {
  echo "FAIL: $*" >&2
  bash "$kafka_sh" logs "$broker_dir" 40 >&2 || true
  exit 1
}

[[ -s $broker_dir/bootstrap ]] || fail "no Kafka broker: $broker_dir/bootstrap is missing"
bootstrap=$(<"$broker_dir/bootstrap")
command -v kcat >/dev/null || fail "kcat not found (tools/setup/install-deps.sh installs it)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CAIRN_STORE=$work/orders.db
"$cairn" init >/dev/null

# The example bridge, under a name and topics of this run's own (topics persist on the broker).
run=r$$x$RANDOM
sed -e "s/^name = \"orders-prod\"/name = \"orders-$run\"/" \
    -e "s/acme\.prod\./acme.$run./g" \
    -e "s/^bootstrap.servers = .*/bootstrap.servers = \"$bootstrap\"/" "$example" >"$work/orders.toml"
# Appended only with max.message.bytes=4096 on the order topic: the big event is poison.
while read -r topic partitions; do
  extra=()
  [[ $topic == "acme.$run.orders.order" ]] && extra=(max.message.bytes=4096)
  bash "$kafka_sh" create-topic "$broker_dir" "$topic" "$partitions" "${extra[@]}" >/dev/null 2>&1 ||
    fail "could not create $topic"
done < <("$cairn" bridge topics --config "$work/orders.toml" | sed -e 's/.*"topic":"\([^"]*\)".*/\1 3/')

for i in 1 2 3; do
  "$cairn" append "order-$i" --type acme.orders.order.placed.v1 --data "{\"n\":$i}" \
    --metadata '{"correlation_id":"5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70"}' >/dev/null
  "$cairn" append "order-$i" --type acme.orders.order.paid.v1 --data "{\"n\":$i}" >/dev/null
done
"$cairn" append customer-1 --type acme.crm.customer.joined.v1 --data '{}' >/dev/null
big=$(head -c 6000 /dev/urandom | base64 -w0)  # random: the bridge file's zstd cannot shrink it under 4096
"$cairn" append order-1 --type acme.orders.order.noted.v1 --data "{\"note\":\"$big\"}" >/dev/null   # position 8

status=$("$cairn" bridge run --config "$work/orders.toml" --to-head 2>"$work/run.err") ||
  { cat "$work/run.err" >&2; fail "cairn bridge run failed"; }
grep -q '"checkpoint":8' <<<"$status" || fail "run ended at another checkpoint: $status"
grep -q '"published":7' <<<"$status" || fail "not 7 published: $status"
grep -q '"dead_lettered":1' <<<"$status" || fail "not 1 dead-lettered: $status"

orders=$(timeout 60 kcat -C -b "$bootstrap" -t "acme.$run.orders.order" -o beginning -e -q -c 6 \
  -f '%k %h\n') || fail "kcat could not read the order topic"
[[ $(wc -l <<<"$orders") -eq 6 ]] || fail "expected 6 order messages, got: $orders"
for i in 1 2 3; do
  types=$(grep "^order-$i " <<<"$orders" | sed -e 's/.*event_type=\([^,]*\),.*/\1/' | tr '\n' ' ')
  [[ $types == "acme.orders.order.placed.v1 acme.orders.order.paid.v1 " ]] ||
    fail "order-$i: events out of order or missing: $types"
done
grep -q 'X-Idempotency-Key=order-1:0' <<<"$orders" || fail "no X-Idempotency-Key header: $orders"
grep -q 'correlation_id=5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70' <<<"$orders" || fail "no correlation_id header"
grep -q 'content-type=application/json' <<<"$orders" || fail "no content-type header"

customers=$(timeout 60 kcat -C -b "$bootstrap" -t "acme.$run.customers.customer" -o beginning -e -q -c 1 -f '%k %s\n')
grep -q '^customer-1 {"event_id":' <<<"$customers" || fail "the customer event is not on its topic: $customers"

dead=$(timeout 60 kcat -C -b "$bootstrap" -t "acme.$run.orders.order.dlq.v1" -o beginning -e -q -c 1 -f '%k %h %s\n')
grep -q '^order-1 ' <<<"$dead" || fail "no dead letter for order-1: $dead"
grep -q 'cairn-dlq-error-code=MSG_SIZE_TOO_LARGE' <<<"$dead" || fail "dead letter without its error: $dead"
grep -q '"position":8' <<<"$dead" || fail "dead letter does not name position 8: $dead"

saved=$("$cairn" bridge status --config "$work/orders.toml")
grep -q '"lag_events":0' <<<"$saved" || fail "status not caught up: $saved"
echo "bridge end to end: 7 published, 1 dead-lettered, read back with kcat from $bootstrap"
