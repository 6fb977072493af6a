#!/bin/bash
# The whole benchmark, one command (docs/PERFORMANCE.md):
#
#   bench/run.sh
#
# Builds the plugin and wsbench (RelWithDebInfo, in build-bench/), then for each
# scenario starts two fresh brokers side by side -- mosquitto + mosquitto_wsgw.so
# ("gw") and mosquitto with its own WebSockets listener ("native") -- drives the
# gateway, then the native listener, with the same tool and the same load, stops
# both, and finally prints the table with the gateway/native ratios.
#
# Environment (all optional):
#   SCENARIOS      default "idle burst fanout fanout_web channels device content"
#   IDLE_SESSIONS  idle sessions (default 10000; capped by the descriptor limit, see below)
#   OUT            results directory (default build-bench/bench-results)
#   WSBENCH_ARGS   extra wsbench options for every run (e.g. "--duration 5")
#   PLUGIN         the mosquitto_wsgw.so to measure (default: the one built here)
#   REPEAT         runs of every scenario (default 1); the table shows medians
#   GW_SHARED      wsdo_shared_sessions of the gateway (default 8; 0 = one broker
#                  session per listener, the plugin's default). The burst scenario
#                  always runs with 0 (the default mode: 1,000 broker sessions
#                  opened at once) and fails the run unless all 1,000 get in.
# Everything listens on and connects to 127.0.0.0/8 only; every run is bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SCENARIOS=${SCENARIOS:-"idle burst fanout fanout_web channels device content"}
IDLE_SESSIONS=${IDLE_SESSIONS:-10000}
OUT=${OUT:-$BUILD/bench-results}
EXTRA=${WSBENCH_ARGS:-}
REPEAT=${REPEAT:-1}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target mosquitto_wsgw wsbench >/dev/null
WSB=$BUILD/bench/wsbench
PLUGIN=${PLUGIN:-$BUILD/mosquitto_wsgw.so}   # PLUGIN=/path/x.so measures another build of the plugin
. "$ROOT/bench/lib.sh"

# Descriptors: a listener on the shared session holds 1 in the broker process
# (its WebSocket), like a native client; with its own broker session it holds 3
# (WebSocket, the gateway's MQTT socket, the broker's end). Raise the soft limit
# to the hard one; without CAP_SYS_RESOURCE the hard limit is all there is.
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
export GW_SHARED=${GW_SHARED:-8}
GW_FDS_PER_SESSION=1
[ "$GW_SHARED" != 0 ] || GW_FDS_PER_SESSION=3
GW_IDLE_CAP=$(( (NOFILE - 200) / GW_FDS_PER_SESSION / 100 * 100 ))
IDLE_N=$IDLE_SESSIONS
if [ "$GW_IDLE_CAP" -lt "$IDLE_N" ]; then
	echo "bench: ulimit -n is $NOFILE: the gateway can hold $GW_IDLE_CAP sessions ($GW_FDS_PER_SESSION descriptors each);"
	echo "bench: idle runs both systems at $GW_IDLE_CAP sessions, and the native listener alone at $IDLE_SESSIONS (idle_full)"
	IDLE_N=$GW_IDLE_CAP
fi
if [ $(( IDLE_SESSIONS + 100 )) -gt "$NOFILE" ]; then
	echo "bench: ulimit -n $NOFILE is too low for $IDLE_SESSIONS client sessions" >&2
	exit 1
fi

mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES=$OUT/results-$STAMP.tsv
LOG=$OUT/run-$STAMP.log
DIR=$(mktemp -d /tmp/wsb-run.XXXXXX)
trap 'bench_stop_brokers; rm -rf "$DIR"' EXIT INT TERM

{
	echo "# wsbench run $STAMP"
	echo "# machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
	echo "# mosquitto $(mosquitto -h 2>&1 | awk 'NR==1 {print $3}'), libwebsockets $(pkg-config --modversion libwebsockets), jansson $(pkg-config --modversion jansson), libmosquitto $(pkg-config --modversion libmosquitto)"
	echo "# ulimit -n $NOFILE; idle sessions $IDLE_N (requested $IDLE_SESSIONS); plugin $PLUGIN; wsdo_shared_sessions $GW_SHARED (burst: 0)"
	echo "# source: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- plugin mapping 2>/dev/null | grep -q . && echo ' + uncommitted changes in plugin/ or mapping/')"
} | tee "$LOG"

run_pair() {   # scenario, extra args for both systems
	local scen=$1; shift
	bench_start_brokers "$DIR" "$WSB" "$PLUGIN"
	echo "bench: $scen: gw (pid $GW_PID), native (pid $NAT_PID)" | tee -a "$LOG"
	local t0=$SECONDS
	timeout 300 "$WSB" --system gw --scenario "$scen" --ws 127.0.0.1:$GW_WS --mqtt 127.0.0.1:$GW_MQTT \
		--pid "$GW_PID" --out "$RES" $EXTRA "$@" >>"$LOG" 2> >(tee -a "$LOG" >&2) || echo "bench: $scen/gw failed" | tee -a "$LOG"
	timeout 300 "$WSB" --system native --scenario "$scen" --ws 127.0.0.1:$NAT_WS --mqtt 127.0.0.1:$NAT_MQTT \
		--pid "$NAT_PID" --out "$RES" $EXTRA "$@" >>"$LOG" 2> >(tee -a "$LOG" >&2) || echo "bench: $scen/native failed" | tee -a "$LOG"
	bench_stop_brokers
	echo "bench: $scen took $((SECONDS - t0)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
}

for rep in $(seq "$REPEAT"); do
[ "$REPEAT" -gt 1 ] && echo "bench: round $rep of $REPEAT" | tee -a "$LOG"
for scen in $SCENARIOS; do
	case $scen in
	idle)
		run_pair idle --subs "$IDLE_N"
		if [ "$IDLE_N" -lt "$IDLE_SESSIONS" ]; then
			bench_start_brokers "$DIR" "$WSB" "$PLUGIN"
			timeout 300 "$WSB" --system native --scenario idle_full --ws 127.0.0.1:$NAT_WS --pid "$NAT_PID" \
				--subs "$IDLE_SESSIONS" --out "$RES" $EXTRA >>"$LOG" 2> >(tee -a "$LOG" >&2) || true
			bench_stop_brokers
		fi
		;;
	burst)
		# The default mode: 1,000 listeners open 1,000 broker sessions at once
		# through the connect queue (plugin/link.c). Every one must get in.
		GW_SHARED=0 run_pair burst
		bench_check_burst "$RES" | tee -a "$LOG" || BURST_FAILED=1
		;;
	content)
		# The content clients log in as the user wsb: the broker's own auth
		# decides, so the gateway's broker gets a password file (anonymous
		# clients, the device among them, stay allowed).
		mosquitto_passwd -c -b "$DIR/passwd" wsb bench
		GW_EXTRA_OPTS="password_file $DIR/passwd" run_pair content
		;;
	*)
		run_pair "$scen"
		;;
	esac
done
done

echo
echo "results: $RES"
echo "log:     $LOG"
echo
"$WSB" report "$RES" | tee -a "$LOG"
if [ -n "${BURST_FAILED:-}" ]; then
	echo "bench: FAILED: not every burst session got in (see above)" | tee -a "$LOG"
	exit 1
fi
