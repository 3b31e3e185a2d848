#!/usr/bin/env bash
# The main job: install dependencies, build cairn (and its examples), run the demo on the embedded SQLite default.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_TESTS=OFF >/dev/null
cmake --build build -j2
bash examples/demo.sh build/tools/cairn/cairn build/examples/bank_account/bank_account
