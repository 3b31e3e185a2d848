#!/usr/bin/env bash
# kcat (librdkafka's command-line client) produces keyed lines to a topic that
# `kafka.sh create-topic` made, and reads every one of them back, in order.
# Usage: kcat_smoke_test.sh KAFKA_SH BROKER_DIR   (a CTest test of the kafka_broker fixture)
set -euo pipefail
kafka_sh=$1
broker_dir=$2

fail() {
  echo "FAIL: $*" >&2
  bash "$kafka_sh" logs "$broker_dir" 40 >&2 || true
  exit 1
}

[[ -s $broker_dir/bootstrap ]] ||
  fail "no Kafka broker: $broker_dir/bootstrap is missing, so the kafka_broker fixture (kafka.broker_start) did not start one"
bootstrap=$(<"$broker_dir/bootstrap")
command -v kcat >/dev/null || fail "kcat not found (tools/setup/install-deps.sh installs it)"

topic=cairn-kcat-$$-$RANDOM
bash "$kafka_sh" create-topic "$broker_dir" "$topic" 1 retention.ms=3600000 ||
  fail "kafka.sh create-topic could not create $topic"

expected=$(for i in $(seq 1 20); do echo "key-$((i % 3)):value $i é"; done)
kcat -P -b "$bootstrap" -t "$topic" -K: -X enable.idempotence=true -m 10 <<<"$expected" ||
  fail "kcat -P could not produce to $topic"
got=$(timeout 60 kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q -f '%k:%s\n' -m 10) ||
  fail "kcat -C could not read $topic back"
if [[ "$got" != "$expected" ]]; then
  diff <(echo "$expected") <(echo "$got") >&2 || true
  fail "kcat read back something else than it produced to $topic"
fi
echo "kcat round trip: $(wc -l <<<"$got") messages through $topic on $bootstrap"
