#!/bin/sh
# Installs what is missing (Debian 12 packages) and builds the plugin.
#   scripts/setup.sh            runtime + build dependencies, build into build/
#   scripts/setup.sh --test     also the test dependencies
# Used by scripts/run.sh, scripts/test.sh and docker/Dockerfile.
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev \
libwebsockets-dev libwebsockets-evlib-ev libev-dev libjansson-dev libjwt-dev libssl-dev uthash-dev"
# libFuzzer's runtime (scripts/fuzz.sh) is in the package of Debian's default
# clang, which clang only recommends: clang 14 on Debian 12, 19 on Debian 13.
CLANG_RT=libclang-rt-14-dev
[ "$(. /etc/os-release 2>/dev/null; echo "${VERSION_ID:-}")" = 13 ] && CLANG_RT=libclang-rt-19-dev
# chromium: the browser tests (tests/integration/browser.py drives it over the
# DevTools protocol); python3-prometheus-client: its parser reads /metrics;
# python3-pil reads the demo page's screenshot; nginx: docs/deploy/nginx.conf
# is tested in front of the gateway (test_web_proxy.py).
TEST_PKGS="libcmocka-dev python3 python3-websockets python3-paho-mqtt python3-pytest python3-jwt python3-cryptography python3-jsonpatch python3-prometheus-client python3-pil openssl nginx chromium iproute2 valgrind clang $CLANG_RT clang-tidy cppcheck"

want="$PKGS"
tests=OFF
if [ "${1:-}" = "--test" ]; then
	want="$want $TEST_PKGS"
	tests=ON
fi

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSGW_TESTS=$tests >/dev/null
cmake --build build -j"$(nproc)"
