#!/bin/sh
# Installs what is missing, builds, and runs every test in three builds: a normal build
# (unit + integration, plus a valgrind shutdown check) and an AddressSanitizer +
# UBSan build (unit + integration with the sanitizer runtime preloaded into
# mosquitto). ctest prints its summary line for each. Then every libFuzzer
# harness of tests/fuzz/ for 20 s from its corpus (scripts/fuzz.sh). First of
# all, the static analysis of plugin/ and mapping/ (scripts/lint.sh); after
# the ASan build, the ThreadSanitizer build (scripts/tsan.sh).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh --test

echo "== static analysis: clang-tidy, cppcheck =="
scripts/lint.sh

echo "== tests: normal build =="
(cd build && WSGW_VALGRIND=1 ctest --output-on-failure)

echo "== tests: ASan + UBSan build =="
cmake -S . -B build-asan -DWSGW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$(nproc)"
ASAN_LIB=$(gcc -print-file-name=libasan.so)
(cd build-asan && \
	WSGW_PRELOAD="$ASAN_LIB" \
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_odr_violation=0" \
	LSAN_OPTIONS="suppressions=$(pwd)/../tests/lsan.supp:print_suppressions=0" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0" \
	ctest --output-on-failure -E bench_smoke)
# (bench_smoke checks the load tool, built and run in the normal build above.)

echo "== tests: ThreadSanitizer build =="
# Two files stay out: with libtsan preloaded, mosquitto dies (SIGSEGV) in
# test_descriptor_reserve's lowered descriptor limit and now and then in
# test_listen_ipv6_literal, with the plugin built without TSan too
# (docs/TESTING.md); both run in the two builds above.
scripts/tsan.sh -E 'bench_smoke|integration_test_core_conn|integration_test_http_hostile'

echo "== fuzzing: 20 s per harness =="
scripts/fuzz.sh 20
