#!/bin/sh
# The mixed-traffic soak (tests/soak/soak.py) for MINUTES (default 30), on the
# ASan + UBSan build (build-asan, as scripts/test.sh builds it) with the
# sanitizer runtime preloaded into mosquitto: every wave's checks, and no
# sanitizer report in the broker log. SOAK_BUILD=plain runs the normal build
# (build/) instead, where each wave's RSS is also judged against its margin
# (under ASan, RSS holds the quarantine of freed blocks, here 32 MB, and the
# shadow memory: it is reported, not judged).
#   scripts/soak.sh [MINUTES] [soak.py options...]   e.g. scripts/soak.sh 5 --wave 10
set -eu
cd "$(dirname "$0")/.."
minutes=${1:-30}
[ $# -gt 0 ] && shift
if [ "${SOAK_BUILD:-asan}" = plain ]; then
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j"$(nproc)" --target mosquitto_wsgw
	exec env WSGW_PLUGIN="$PWD/build/mosquitto_wsgw.so" /usr/bin/python3 tests/soak/soak.py --minutes "$minutes" "$@"
fi
cmake -S . -B build-asan -DWSGW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$(nproc)" --target mosquitto_wsgw
exec env WSGW_PLUGIN="$PWD/build-asan/mosquitto_wsgw.so" \
	WSGW_PRELOAD="$(gcc -print-file-name=libasan.so)" \
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_odr_violation=0:quarantine_size_mb=32" \
	LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0" \
	/usr/bin/python3 tests/soak/soak.py --minutes "$minutes" "$@"
