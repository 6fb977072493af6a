#!/bin/bash
# Fan-out across two bridged brokers (docs/SCALING.md), one command:
#
#   bench/bridge.sh
#
# Starts the gateway's broker (mosquitto + mosquitto_wsgw.so, as run.sh does)
# and a second, plain mosquitto ("A") bridged to it the way docs/SCALING.md
# says (topic wsgw/# both 1, MQTT v5, try_private), then runs wsbench's
# `fanout` scenario twice against the gateway: 1,000 websockets.do listeners
# of one channel on the gateway's broker, the MQTT publisher on that same
# broker ("local"), then on broker A ("bridged": every message crosses the
# bridge first). The gateway's broker and A are measured together (CPU and
# RSS summed over both processes in the bridged run). REPEAT rounds
# (default 1), interleaved; the table shows medians.
#
# Environment (all optional): REPEAT, PLUGIN, OUT, WSBENCH_ARGS, WSBENCH_THREADS
# as for run.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
OUT=${OUT:-$BUILD/bridge-results}
EXTRA=${WSBENCH_ARGS:-}
REPEAT=${REPEAT:-1}
THREADS=${WSBENCH_THREADS:+--threads $WSBENCH_THREADS}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target mosquitto_wsgw wsbench >/dev/null
WSB=$BUILD/bench/wsbench
PLUGIN=${PLUGIN:-$BUILD/mosquitto_wsgw.so}
. "$ROOT/bench/lib.sh"

mkdir -p "$OUT"
stamp=$(date +%Y%m%d-%H%M%S)
RES=$OUT/bridge-$stamp.tsv
LOG=$OUT/bridge-$stamp.log
DIR=$(mktemp -d /tmp/wsb-bridge.XXXX)
A_PID=""
cleanup() {
	bench_stop_one "$A_PID"
	bench_stop_brokers
	rm -rf "$DIR"
}
trap cleanup EXIT

# Broker A: plain, anonymous, bridged to the gateway's broker.
start_a() {
	local user=""
	[ "$(id -u)" -eq 0 ] && user="user root"
	A_MQTT=$("$WSB" freeport)
	cat > "$DIR/a.conf" <<CONF
$user
listener $A_MQTT 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
connection to-gateway
address 127.0.0.1:$GW_MQTT
topic wsgw/# both 1
bridge_protocol_version mqttv50
try_private true
cleansession true
CONF
	: > "$DIR/a.log"
	${MOSQUITTO:-mosquitto} -c "$DIR/a.conf" 2>>"$DIR/a.log" &
	A_PID=$!
	"$WSB" waitport "$A_MQTT" 10
	# the bridge is up once the gateway's broker has its client
	sleep 1
}

run() {   # label mqtt-port pids
	timeout 300 "$WSB" --system gw --label "$1" --scenario fanout --ws 127.0.0.1:$GW_WS --mqtt 127.0.0.1:$2 \
		--pid "$3" --out "$RES" $THREADS $EXTRA >>"$LOG" 2> >(tee -a "$LOG" >&2) \
		|| echo "bench: fanout/$1 failed" | tee -a "$LOG"
}

for rep in $(seq "$REPEAT"); do
	bench_start_brokers "$DIR" "$WSB" "$PLUGIN"
	bench_stop_one "$NAT_PID"   # the native broker of lib.sh is not used here
	NAT_PID=""
	start_a
	echo "bench: round $rep: gateway broker $GW_PID, broker A $A_PID (bridged)" | tee -a "$LOG"
	run local "$GW_MQTT" "$GW_PID"
	run bridged "$A_MQTT" "$GW_PID,$A_PID"
	bench_stop_one "$A_PID"
	A_PID=""
	bench_stop_brokers
done

echo
echo "results: $RES"
echo "log:     $LOG"
echo
# Medians of the rounds, local beside bridged (wsbench report knows the
# systems gw, native and nchan only).
awk -F'\t' '
	{ k = $3; v[$2, k, ++n[$2, k]] = $4; keys[k] = 1 }
	function median(l, k,    m, i, j, t, a) {
		m = n[l, k]
		for(i = 1; i <= m; i++) a[i] = v[l, k, i]
		for(i = 1; i <= m; i++) for(j = i + 1; j <= m; j++) if(a[j] < a[i]){ t = a[i]; a[i] = a[j]; a[j] = t }
		return m ? (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2) : "-"
	}
	END {
		split("sat_delivered sat_per_broker_cpu_s sat_broker_cpu_pct sat_tool_cpu_pct rate_offered rate_delivered rate_lost rate_p50_us rate_p99_us rate_p999_us rate_broker_cpu_pct", order, " ")
		print "| metric (fanout, medians) | local | bridged | bridged/local |"
		print "|---|---:|---:|---:|"
		for(i = 1; i in order; i++){
			k = order[i]
			if(!(k in keys)) continue
			a = median("local", k); b = median("bridged", k)
			printf "| %s | %.6g | %.6g | %s |\n", k, a, b, a + 0 ? sprintf("%.2fx", b / a) : "-"
		}
	}' "$RES" | tee -a "$LOG"
