#!/usr/bin/env bash
# Installs what cairn needs to build and test, from Debian's packages only.
# Safe to run again: packages already present are not fetched.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git python3
  libsqlite3-dev sqlite3 libsodium-dev libfmt-dev libcli11-dev rapidjson-dev catch2
  liblmdb-dev capnproto libcapnp-dev
  python3-pydantic  # tests/bridge: the platform standard's EventEnvelope as a pydantic model
  # The Kafka bridge and its integration tests (docs/kafka-tests.md): librdkafka, kcat, and a
  # real broker, whose jars Maven resolves from Maven Central and Java 17 runs.
  librdkafka-dev kcat openjdk-17-jre-headless maven
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
