#!/bin/sh
# Runs the libFuzzer harnesses of tests/fuzz/ (README.md there).
#   scripts/fuzz.sh [SECONDS] [harness...]
# Builds build-fuzz (clang, -DWSGW_FUZZ=ON: libFuzzer + ASan + UBSan) and runs
# each harness (default: all) for SECONDS (default 20) from its checked-in
# corpus, tests/fuzz/corpus/<harness>/, with its dictionary. What a run adds
# to the corpus stays in build-fuzz/fuzz/<harness>/corpus/ (kept for the next
# run); a finding (crash, leak, UB, timeout, FUZZ_CHECK) leaves its input in
# build-fuzz/fuzz/<harness>/ and makes the script fail: replay it with
#   build-fuzz/tests/fuzz/fuzz_<harness> <that file>
# FUZZ_JOBS=N runs N harnesses at a time (default 1). Each harness's last
# line says its executions and coverage: "fuzz: <h>: <runs> runs, cov <c> ft <f>".
set -eu
cd "$(dirname "$0")/.."

ALL="mqttw wsdo op tele comet jsonutil jwtauth stoken topic mirror content jsonpatch"
ALL="$ALL proxy http1 wsframe"
secs=${1:-20}
[ $# -gt 0 ] && shift
harnesses=${*:-$ALL}
jobs=${FUZZ_JOBS:-1}

CC=clang cmake -S . -B build-fuzz -DWSGW_FUZZ=ON -DWSGW_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzzers >/dev/null

dict_of() {
	case $1 in
	mqttw|wsdo|op|tele|comet|content|jsonpatch|http1) echo "tests/fuzz/$1.dict" ;;
	jsonutil|jwtauth|stoken|mirror) echo "tests/fuzz/json.dict" ;;
	*) echo "" ;;
	esac
}

# One harness; its log in build-fuzz/fuzz/<h>.log; 0, or 1 on a finding.
run_one() {
	h=$1
	out=build-fuzz/fuzz/$h
	bin=build-fuzz/tests/fuzz/fuzz_$h
	[ -x "$bin" ] || { echo "fuzz: no harness $h (one of: $ALL)"; return 1; }
	mkdir -p "$out/corpus"
	dict=$(dict_of "$h")
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
		-print_final_stats=1 -artifact_prefix="$out/"
	[ -n "$dict" ] && set -- "$@" -dict="$dict"
	if ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1" \
			"$bin" "$@" "$out/corpus" "tests/fuzz/corpus/$h" >"$out.log" 2>&1; then
		stats=$(grep -E '^#[0-9]+.*cov: ' "$out.log" | tail -n 1)
		runs=$(grep -E '^stat::number_of_executed_units' "$out.log" | awk '{print $2}')
		cov=$(echo "$stats" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
		ft=$(echo "$stats" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
		echo "fuzz: $h: ${runs:-?} runs, cov ${cov:-?} ft ${ft:-?}"
		return 0
	fi
	echo "fuzz: $h: FINDING (log: $out.log)"
	grep -E 'ERROR|FUZZ_CHECK|runtime error|SUMMARY|artifact|Test unit written' "$out.log" | head -n 12
	return 1
}

fail=0
running=0
pids=""
for h in $harnesses; do
	run_one "$h" &
	pids="$pids $!"
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		for p in $pids; do wait "$p" || fail=1; done
		pids=""
		running=0
	fi
done
for p in $pids; do wait "$p" || fail=1; done
if [ "$fail" -ne 0 ]; then
	echo "fuzz: FAILED"
	exit 1
fi
echo "fuzz: every harness ran ${secs}s without a finding"
