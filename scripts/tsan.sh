#!/bin/sh
# ThreadSanitizer run: builds build-tsan (gcc, -DWSGW_TSAN=ON) and runs the
# ctest suite there with gcc's TSan runtime preloaded into mosquitto
# (WSGW_PRELOAD, as scripts/test.sh preloads ASan), so that the plugin's code
# on the broker thread and on the gateway thread is checked against each
# other. A test fails at teardown when its broker log has a ThreadSanitizer
# report (tests/integration/wsgw.py, SANITIZER_MARKERS); tests/tsan.supp
# holds what is Mosquitto's or libwebsockets' own, each with its reason.
#   scripts/tsan.sh [ctest arguments...]   e.g. scripts/tsan.sh -R integration_test_op
# (no arguments: -E bench_smoke, the load tool's check, which needs no TSan).
# Mosquitto and libwebsockets are not instrumented: TSan sees their locks and
# threads through its interceptors, not their own memory accesses.
set -eu
cd "$(dirname "$0")/.."
CC=gcc cmake -S . -B build-tsan -DWSGW_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-tsan -j"$(nproc)"
TSAN_LIB=$(gcc -print-file-name=libtsan.so)
[ $# -gt 0 ] || set -- -E bench_smoke
start=$(date +%s)
rc=0
(cd build-tsan && \
	WSGW_PRELOAD="$TSAN_LIB" \
	TSAN_OPTIONS="suppressions=$(pwd)/../tests/tsan.supp halt_on_error=0 second_deadlock_stack=1" \
	ctest --output-on-failure "$@") || rc=$?
echo "tsan: $(( $(date +%s) - start )) s"
exit $rc
