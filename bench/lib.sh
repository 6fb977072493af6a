# Shared by run.sh and smoke.sh: start and stop the two brokers under test.
#   gw      mosquitto + mosquitto_wsgw.so: MQTT on $GW_MQTT, gateway on $GW_WS
#   native  mosquitto with its own WebSockets listener on $NAT_WS, MQTT on $NAT_MQTT
# Both listen on 127.0.0.1 only (sources 127.0.0.2.. reach 127.0.0.1 too).

# bench_start_brokers DIR WSBENCH PLUGIN: sets GW_PID NAT_PID and the ports.
# A port can be taken between picking it and the broker's bind: three tries.
bench_start_brokers() {
	for try in 1 2 3; do
		bench_start_once "$@" && return 0
		echo "bench: broker start failed (try $try of 3)" >&2
	done
	return 1
}

bench_start_once() {
	dir=$1 wsb=$2 plugin=$3
	ports=""
	while [ "$(echo $ports | wc -w)" -lt 4 ]; do
		p=$($wsb freeport)
		case " $ports " in *" $p "*) ;; *) ports="$ports $p" ;; esac
	done
	set -- $ports
	GW_MQTT=$1 GW_WS=$2 NAT_MQTT=$3 NAT_WS=$4
	set -- "$dir" "$wsb" "$plugin"
	: > "$dir/gw.log"
	: > "$dir/native.log"
	user=""
	[ "$(id -u)" -eq 0 ] && user="user root"
	cat > "$dir/gw.conf" <<CONF
$user
listener $GW_MQTT 127.0.0.1
listener 0 $dir/gw.sock
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
plugin $plugin
plugin_opt_broker_socket $dir/gw.sock
plugin_opt_listen_port $GW_WS
plugin_opt_listen_address 127.0.0.1
plugin_opt_gateway_id bench
plugin_opt_max_connections 20000
plugin_opt_idle_timeout 0
plugin_opt_wsdo_ping_interval 3600
plugin_opt_wsdo_shared_sessions ${GW_SHARED:-8}
${GW_EXTRA_OPTS:-}
CONF
	cat > "$dir/native.conf" <<CONF
$user
listener $NAT_MQTT 127.0.0.1
listener $NAT_WS 127.0.0.1
protocol websockets
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
CONF
	${MOSQUITTO:-mosquitto} -c "$dir/gw.conf" 2>>"$dir/gw.log" &
	GW_PID=$!
	${MOSQUITTO:-mosquitto} -c "$dir/native.conf" 2>>"$dir/native.log" &
	NAT_PID=$!
	for p in $GW_MQTT $GW_WS $NAT_MQTT $NAT_WS; do
		if ! kill -0 "$GW_PID" 2>/dev/null || ! kill -0 "$NAT_PID" 2>/dev/null || ! $wsb waitport "$p" 10; then
			echo "bench: a broker did not start; logs:" >&2
			tail -5 "$dir/gw.log" "$dir/native.log" >&2
			bench_stop_brokers
			return 1
		fi
	done
	# The gateway refuses clients (503 NOT_READY) until its core session is up.
	$wsb waitready "$GW_WS" 10 || true
	sleep 0.2
	if ! kill -0 "$GW_PID" 2>/dev/null || ! kill -0 "$NAT_PID" 2>/dev/null; then
		echo "bench: a broker exited at start; logs:" >&2
		tail -5 "$dir/gw.log" "$dir/native.log" >&2
		bench_stop_brokers
		return 1
	fi
}

# bench_check_burst RESULTS: the last burst run of the gateway had every
# subscriber up and none failed. Prints the figures; returns 1 if not.
bench_check_burst() {
	awk -F'\t' '$1 == "burst" && $2 == "gw" { v[$3] = $4 }
		END {
			printf "bench: burst (gw, wsdo_shared_sessions 0): %d subscribers up, %d failed, %d dropped, connected in %.2f s (p99 %.0f ms)\n",
				v["subscribers"], v["failed"], v["dropped"], v["connect_s"], v["connect_p99_us"] / 1000
			exit !(v["subscribers"] >= 1000 && v["failed"] == 0 && v["dropped"] == 0)
		}' "$1"
}

bench_stop_one() {
	pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

bench_stop_brokers() {
	bench_stop_one "${GW_PID:-}"
	bench_stop_one "${NAT_PID:-}"
	GW_PID="" NAT_PID=""
}
