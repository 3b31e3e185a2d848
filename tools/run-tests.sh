#!/usr/bin/env bash
# Installs, builds and runs the whole test suite twice: a normal build with
# warnings as errors (the benchmarks too, so that they keep compiling), then an
# AddressSanitizer + UndefinedBehaviorSanitizer build (no benchmarks: CI does not run them).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup/install-deps.sh
# The Kafka integration tests run against a real broker (docs/kafka-tests.md): resolve its jars
# once, before the suites. Each build tree's CTest fixture starts its own broker on free ports. If
# the jars cannot be had, go on: the fixture tries again, and fails the Kafka tests with the reason.
if ! bash tools/kafka/kafka.sh fetch; then
  echo "run-tests: the Kafka broker's jars could not be fetched (above): the Kafka tests will fail" >&2
fi
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
jobs=2

run_suite() {  # run_suite BUILD_DIR CMAKE_ARGS...
  local dir=$1
  shift
  echo "== configure $dir"
  cmake -S . -B "$dir" -G Ninja -DCAIRN_WERROR=ON "$@" >/dev/null
  echo "== build $dir"
  cmake --build "$dir" -j"$jobs"
  echo "== test $dir"
  ctest --test-dir "$dir" -j"$jobs" --output-on-failure --timeout 600
}

run_suite build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON -DCAIRN_BUILD_BENCH=OFF
