#!/bin/bash
# The whole benchmark, one command (docs/PERFORMANCE.md):
#
#   bench/run.sh
#
# Builds the plugin and wsbench (RelWithDebInfo, in build-bench/), then for each
# scenario starts two fresh brokers side by side -- mosquitto + mosquitto_wsgw.so
# ("gw", in its default configuration plus the credentials its dialects need,
# bench/lib.sh) and mosquitto with its own WebSockets listener ("native") --
# drives the gateway, then the native listener, with the same tool and the
# same load, stops both; for the scenarios nchan can run
# (`wsbench scenarios` says which), it then starts nginx + nchan with one worker
# ("nchan"), and for NCHAN_ALL_SCENARIOS once more with a worker per core
# ("nchan_all"). Finally it prints the table with the gateway/nchan and
# gateway/native ratios.
#
# Environment (all optional):
#   SCENARIOS      default: every scenario of `wsbench scenarios`, in its order
#   SYSTEMS        default "gw native nchan": the systems to measure
#   NCHAN_ALL_SCENARIOS  default "fanout_web channels": also run nchan with
#                  worker_processes auto (as many workers as cores)
#   WSBENCH_THREADS  load threads of wsbench (default: the cores)
#   IDLE_SESSIONS  idle sessions (default 10000; capped by the descriptor limit, see below)
#   OUT            results directory (default build-bench/bench-results)
#   WSBENCH_ARGS   extra wsbench options for every run (e.g. "--duration 5")
#   PLUGIN         the mosquitto_wsgw.so to measure (default: the one built here)
#   REPEAT         runs of every scenario (default 1); the table shows medians
#   GW_SHARED      wsdo_shared_sessions of the gateway (default: unset, the
#                  plugin's default, 8 shared broker sessions; 0 = a broker
#                  session per listener). The burst
#                  scenario always runs with 0 (1,000 broker sessions opened at
#                  once) and fails the run unless all 1,000 get in.
# nchan needs Debian's nginx-light and libnginx-mod-nchan: installed here with
# apt-get when missing (as root). Everything listens on and connects to
# 127.0.0.0/8 only; every run is bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SYSTEMS=${SYSTEMS:-"gw native nchan"}
NCHAN_ALL_SCENARIOS=${NCHAN_ALL_SCENARIOS:-"fanout_web channels"}
IDLE_SESSIONS=${IDLE_SESSIONS:-10000}
OUT=${OUT:-$BUILD/bench-results}
EXTRA=${WSBENCH_ARGS:-}
REPEAT=${REPEAT:-1}
THREADS=${WSBENCH_THREADS:+--threads $WSBENCH_THREADS}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target mosquitto_wsgw wsbench >/dev/null
WSB=$BUILD/bench/wsbench
PLUGIN=${PLUGIN:-$BUILD/mosquitto_wsgw.so}   # PLUGIN=/path/x.so measures another build of the plugin
. "$ROOT/bench/lib.sh"
SCENARIOS=${SCENARIOS:-$("$WSB" scenarios | cut -f1 | grep -v '^idle_full$' | paste -sd' ' -)}
case " $SYSTEMS " in *" nchan "*) bench_need_nchan ;; esac

# Descriptors: a listener on the shared session holds 1 in the broker process
# (its WebSocket), like a native client; with its own broker session it holds 3
# (WebSocket, the gateway's MQTT socket, the broker's end). Raise the soft limit
# to the hard one; without CAP_SYS_RESOURCE the hard limit is all there is.
# Unset GW_SHARED is the plugin's default (wsdo_shared_sessions 8): 1. The plugin keeps fd_reserve (1024) descriptors and
# room for max_http_connections (2000) out of what max_connections may use.
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
export GW_SHARED=${GW_SHARED:-}
GW_FDS_PER_SESSION=1
if [ "$GW_SHARED" = 0 ]; then GW_FDS_PER_SESSION=3; fi
GW_IDLE_CAP=$(( (NOFILE - 1024 - 2000) / GW_FDS_PER_SESSION / 100 * 100 ))
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
trap 'bench_stop_brokers; bench_stop_nchan; rm -rf "$DIR"' EXIT INT TERM

{
	echo "# wsbench run $STAMP"
	echo "# machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
	echo "# mosquitto $(mosquitto -h 2>&1 | awk 'NR==1 {print $3}'), libwebsockets $(pkg-config --modversion libwebsockets), jansson $(pkg-config --modversion jansson), libmosquitto $(pkg-config --modversion libmosquitto)"
	echo "# ulimit -n $NOFILE; idle sessions $IDLE_N (requested $IDLE_SESSIONS); plugin $PLUGIN; wsdo_shared_sessions ${GW_SHARED:-default} (burst: 0)"
	if case " $SYSTEMS " in *" nchan "*) true ;; *) false ;; esac; then
		echo "# nginx $(nginx -v 2>&1 | sed 's|.*/||'), nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?'); wsbench threads ${WSBENCH_THREADS:-$(nproc)}"
	fi
	echo "# source: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- plugin mapping 2>/dev/null | grep -q . && echo ' + uncommitted changes in plugin/ or mapping/')"
} | tee "$LOG"

has() {   # has WORD LIST
	case " $2 " in *" $1 "*) return 0 ;; esac
	return 1
}

run_one() {   # scenario system label ws-port mqtt-port pids, extra args
	local scen=$1 sys=$2 label=$3 ws=$4 mqtt=$5 pids=$6; shift 6
	timeout 300 "$WSB" --system "$sys" --label "$label" --scenario "$scen" --ws 127.0.0.1:$ws ${mqtt:+--mqtt 127.0.0.1:$mqtt} \
		--pid "$pids" --secret "$BENCH_SECRET" --token "$BENCH_TOKEN" --login "$BENCH_USER:$BENCH_PASSWORD" \
		--out "$RES" $THREADS $EXTRA "$@" \
		>>"$LOG" 2> >(tee -a "$LOG" >&2) || echo "bench: $scen/$label failed" | tee -a "$LOG"
}

# One scenario on every system it runs against (wsbench scenarios) that
# SYSTEMS names: the two brokers side by side, then nchan.
run_pair() {   # scenario, extra args for every system
	local scen=$1; shift
	local systems t0=$SECONDS
	systems=$("$WSB" scenarios | awk -F'\t' -v s="$scen" '$1 == s {print $2}')
	if { has gw "$SYSTEMS" && has gw "$systems"; } || { has native "$SYSTEMS" && has native "$systems"; }; then
		bench_start_brokers "$DIR" "$WSB" "$PLUGIN"
		echo "bench: $scen: gw (pid $GW_PID), native (pid $NAT_PID)" | tee -a "$LOG"
		if has gw "$SYSTEMS" && has gw "$systems"; then run_one "$scen" gw gw "$GW_WS" "$GW_MQTT" "$GW_PID" "$@"; fi
		if has native "$SYSTEMS" && has native "$systems"; then run_one "$scen" native native "$NAT_WS" "$NAT_MQTT" "$NAT_PID" "$@"; fi
		bench_stop_brokers
	fi
	if has nchan "$SYSTEMS" && has nchan "$systems"; then
		local workers label
		for workers in 1 auto; do
			label=nchan
			if [ "$workers" = auto ]; then
				has "$scen" "$NCHAN_ALL_SCENARIOS" || continue
				label=nchan_all
			fi
			bench_start_nchan "$DIR" "$WSB" "$workers" || { echo "bench: $scen/$label: nchan did not start" | tee -a "$LOG"; continue; }
			echo "bench: $scen: $label (master $NCHAN_PID, workers $NCHAN_PIDS)" | tee -a "$LOG"
			run_one "$scen" nchan "$label" "$NCHAN_PORT" "" "$NCHAN_PIDS" "$@"
			bench_stop_nchan
		done
	fi
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
			run_one idle_full native native "$NAT_WS" "" "$NAT_PID" --subs "$IDLE_SESSIONS"
			bench_stop_brokers
		fi
		;;
	burst)
		# The default mode: 1,000 listeners open 1,000 broker sessions at once
		# through the connect queue (plugin/link.c). Every one must get in.
		GW_SHARED=0 run_pair burst
		if has gw "$SYSTEMS"; then bench_check_burst "$RES" | tee -a "$LOG" || BURST_FAILED=1; fi
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
