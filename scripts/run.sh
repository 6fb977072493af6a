#!/bin/sh
# Quick start: install what is missing, build, install the plugin and run a
# real mosquitto with it on conf/mosquitto.conf (foreground; Ctrl-C stops it).
#   MQTT for devices:      tcp://localhost:1883
#   WebSocket/HTTP:        http://localhost:8080  (e.g. ws://localhost:8080/lobby/listen)
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO cmake --install build --prefix /usr/local >/dev/null
# The broker drops to the mosquitto user before it creates the unix socket.
$SUDO install -d -o mosquitto -g mosquitto /run/mosquitto /var/lib/mosquitto
echo "run: mosquitto -c conf/mosquitto.conf (plugin /usr/local/lib/mosquitto_wsgw.so)"
exec $SUDO mosquitto -c conf/mosquitto.conf
