# Shared by run.sh and smoke.sh: start and stop the systems under test.
#   gw      mosquitto + mosquitto_wsgw.so: MQTT on $GW_MQTT, gateway on $GW_WS
#   native  mosquitto with its own WebSockets listener on $NAT_WS, MQTT on $NAT_MQTT
#   nchan   nginx + nchan on $NCHAN_PORT (run.sh only; bench_start_nchan)
# All listen on 127.0.0.1 only (sources 127.0.0.2.. reach 127.0.0.1 too).

# The gateway's credentials for the dialects that need one to accept a client
# (op's jwt provider and Comet's AUTH verify HS256 JWTs that wsbench signs with
# BENCH_SECRET; Comet's HTTP API takes BENCH_TOKEN; the content clients log in
# as BENCH_USER, whom the gateway broker's password file knows: the broker's
# own auth decides a content login). They change no speed: the gateway's own
# sessions are let in by the plugin before the password file is asked, and
# anonymous clients (the devices) stay allowed.
BENCH_SECRET=${BENCH_SECRET:-wsbench-jwt-secret-6c1f0e9a4b2d8c3e7f5a}
BENCH_TOKEN=${BENCH_TOKEN:-wsbench-service-token-91d3b7e2}
BENCH_USER=${BENCH_USER:-wsb}
BENCH_PASSWORD=${BENCH_PASSWORD:-wsbench-password-3e8a5c71}

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
	rm -f "$dir/passwd"
	${MOSQUITTO_PASSWD:-mosquitto_passwd} -c -b "$dir/passwd" "$BENCH_USER" "$BENCH_PASSWORD" >/dev/null || return 1
	cat > "$dir/gw.conf" <<CONF
$user
listener $GW_MQTT 127.0.0.1
listener 0 $dir/gw.sock
allow_anonymous true
password_file $dir/passwd
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
plugin_opt_jwt_hs256_secret $BENCH_SECRET
plugin_opt_comet_service_token $BENCH_TOKEN
plugin_opt_telegraphy_auth false
${GW_SHARED:+plugin_opt_wsdo_shared_sessions $GW_SHARED}
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

# bench_start_nchan DIR WSBENCH WORKERS: nginx (Debian's nginx-light) with
# libnginx-mod-nchan, WORKERS worker processes (a number or "auto"), on a free
# port; sets NCHAN_PORT, NCHAN_PID (the master) and NCHAN_PIDS (the workers,
# comma-separated: what serves the clients, and what wsbench measures).
# Subscribers: WebSocket on /sub/<channel>; publishers: POST /pub/<channel>.
# No message buffer (nchan_message_buffer_length 0): no scenario needs history,
# as none does on the brokers (no retained messages, clean sessions).
bench_start_nchan() {
	dir=$1 wsb=$2 workers=$3
	NCHAN_PORT=$($wsb freeport)
	mkdir -p "$dir/nchan-tmp"
	: > "$dir/nchan.log"
	user=""
	[ "$(id -u)" -eq 0 ] && user="user root;"
	cat > "$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
$user
daemon off;
master_process on;
worker_processes $workers;
worker_rlimit_nofile $(ulimit -n);
pid $dir/nginx.pid;
error_log $dir/nchan.log warn;
events {
	worker_connections $(( $(ulimit -n) - 100 ));
}
http {
	access_log off;
	client_body_temp_path $dir/nchan-tmp;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$NCHAN_PORT backlog=4096;
		nchan_message_buffer_length 0;
		location ~ ^/sub/(\w+)\$ {
			nchan_subscriber websocket;
			nchan_channel_id \$1;
		}
		location ~ ^/pub/(\w+)\$ {
			nchan_publisher;
			nchan_channel_id \$1;
		}
	}
}
CONF
	${NGINX:-nginx} -p "$dir" -e "$dir/nchan.log" -c "$dir/nginx.conf" 2>>"$dir/nchan.log" &
	NCHAN_PID=$!
	if ! $wsb waitport "$NCHAN_PORT" 10 || ! kill -0 "$NCHAN_PID" 2>/dev/null; then
		echo "bench: nchan did not start; log:" >&2
		tail -5 "$dir/nchan.log" >&2
		bench_stop_nchan
		return 1
	fi
	sleep 0.2
	NCHAN_PIDS=$(tr ' ' '\n' < "/proc/$NCHAN_PID/task/$NCHAN_PID/children" | grep . | paste -sd, -)
	[ -n "$NCHAN_PIDS" ] || NCHAN_PIDS=$NCHAN_PID
}

bench_stop_nchan() {
	bench_stop_one "${NCHAN_PID:-}"
	NCHAN_PID="" NCHAN_PIDS=""
}

# bench_need_nchan: installs nginx-light and libnginx-mod-nchan when missing
# (as root, with apt-get, like scripts/setup.sh for the project's packages).
bench_need_nchan() {
	[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] && command -v "${NGINX:-nginx}" >/dev/null && return 0
	echo "bench: installing nginx-light and libnginx-mod-nchan for the nchan runs"
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: not root: install nginx-light and libnginx-mod-nchan, or leave nchan out (SYSTEMS=\"gw native\")" >&2
		return 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light libnginx-mod-nchan >/dev/null \
		|| { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light libnginx-mod-nchan >/dev/null; }
	# Debian starts the packaged nginx service on port 80; the bench runs its own.
	if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then systemctl stop nginx; fi
}
