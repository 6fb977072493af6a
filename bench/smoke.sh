#!/bin/sh
# bench_smoke (ctest): a short run of wsbench against both systems, a few
# hundred sessions for a few seconds. It checks that the tool runs and that
# messages are delivered on both sides; it asserts no timing.
#   smoke.sh WSBENCH PLUGIN
set -eu
WSB=$1 PLUGIN=$2
. "$(dirname "$0")/lib.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
DIR=$(mktemp -d /tmp/wsb-smoke.XXXXXX)
trap 'bench_stop_brokers; rm -rf "$DIR"' EXIT INT TERM
bench_start_brokers "$DIR" "$WSB" "$PLUGIN"
R=$DIR/results.tsv
common="--subs 200 --channels 2 --rate 2000 --window 2 --duration 1 --warmup 0.3 --sat-duration 1 --settle-ms 300 --out $R"
"$WSB" --system gw --scenario fanout_web --ws 127.0.0.1:$GW_WS --mqtt 127.0.0.1:$GW_MQTT --pid $GW_PID $common --pub-conns 2
"$WSB" --system native --scenario fanout_web --ws 127.0.0.1:$NAT_WS --mqtt 127.0.0.1:$NAT_MQTT --pid $NAT_PID $common
"$WSB" --system gw --scenario device --ws 127.0.0.1:$GW_WS --mqtt 127.0.0.1:$GW_MQTT --pid $GW_PID $common
"$WSB" --system native --scenario device --ws 127.0.0.1:$NAT_WS --mqtt 127.0.0.1:$NAT_MQTT --pid $NAT_PID $common
"$WSB" report "$R"
fail=0
for s in fanout_web device; do
	for sys in gw native; do
		subs=$(awk -F'\t' -v s=$s -v y=$sys '$1==s && $2==y && $3=="subscribers" {print $4}' "$R")
		rate=$(awk -F'\t' -v s=$s -v y=$sys '$1==s && $2==y && $3=="rate_delivered" {print $4}' "$R")
		sat=$(awk -F'\t' -v s=$s -v y=$sys '$1==s && $2==y && $3=="sat_delivered" {print $4}' "$R")
		echo "smoke: $s/$sys: $subs subscribers, $rate msg/s at the offered rate, $sat msg/s closed loop"
		awk -v a="${subs:-0}" -v b="${rate:-0}" -v c="${sat:-0}" 'BEGIN { exit !(a == 200 && b > 0 && c > 0) }' || {
			echo "smoke: FAILED: $s/$sys delivered nothing or lost subscribers" >&2
			fail=1
		}
	done
done
for f in gw native; do
	if grep -v -e '^$' "$DIR/$f.log" | grep -q .; then echo "smoke: $f broker log:"; cat "$DIR/$f.log"; fi
done
exit $fail
