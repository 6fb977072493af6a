"""/healthz and /metrics on the gateway's listener (issue 16): /metrics read with
a real parser (python3-prometheus-client's text parser), its values moving as
traffic is made; /healthz 503 while the broker is away, 200 once it is back;
metrics_token, health_path and metrics_path."""
import asyncio
import time

from prometheus_client.parser import text_string_to_metric_families

import wsgw

WSDO = "websockets.do"


async def scrape(gw, token=None):
    """{(sample name, ((label, value), ...)): value} of one scrape; asserts the
    content type of the format 0.0.4 and that it parses."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await wsgw.http(gw.ws_port, "GET", "/metrics", headers=headers)
    assert r.status == 200, r
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", r.headers
    out = {}
    for family in text_string_to_metric_families(r.raw.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def val(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), 0)


async def test_metrics_move_with_traffic(start_gateway):
    # Long dialect pings: no PING frame lands between two scrapes.
    gw = start_gateway(wsdo_ping_interval=3600, origins="https://a.example")
    m0 = await scrape(gw)
    for name in ("wsgw_ready", "wsgw_broker_up"):
        assert val(m0, name) == 1, name
    assert val(m0, "wsgw_sessions", dialect=WSDO) == 0
    a, b = await gw.listeners("m", 2)
    m1 = await scrape(gw)
    assert val(m1, "wsgw_sessions", dialect=WSDO) == 2
    assert val(m1, "wsgw_connects_total", dialect=WSDO) == 2
    # An emit to the two listeners: two frames out, two broker deliveries timed.
    r = await gw.emit_post("m", {"n": 1})
    assert r.status == 200, r
    for listener in (a, b):
        await listener.recv_type("DATA", 3)
    await asyncio.sleep(0.1)
    m2 = await scrape(gw)
    assert val(m2, "wsgw_messages_out_total", dialect=WSDO) - val(m1, "wsgw_messages_out_total", dialect=WSDO) == 2
    assert val(m2, "wsgw_bytes_out_total", dialect=WSDO) > val(m1, "wsgw_bytes_out_total", dialect=WSDO)
    count = "wsgw_delivery_latency_seconds_count"
    assert val(m2, count) - val(m1, count) == 2, (val(m1, count), val(m2, count))
    inf = val(m2, "wsgw_delivery_latency_seconds_bucket", le="+Inf")
    assert inf == val(m2, count)
    assert 0 < val(m2, "wsgw_delivery_latency_seconds_sum") < 10 * val(m2, count)
    # A device's publish is a broker delivery too.
    gw.mqtt().publish("wsgw/wsdo/m", {"from": "device"})
    await a.recv_type("DATA", 3)
    await b.recv_type("DATA", 3)
    await asyncio.sleep(0.1)
    m3 = await scrape(gw)
    assert val(m3, count) - val(m2, count) == 2
    # A message in from a client.
    await a.send({"type": "NOT_A_TYPE"})
    await a.recv_type("ERROR", 3)
    m4 = await scrape(gw)
    assert val(m4, "wsgw_messages_in_total", dialect=WSDO) - val(m3, "wsgw_messages_in_total", dialect=WSDO) == 1
    assert val(m4, "wsgw_bytes_in_total", dialect=WSDO) - val(m3, "wsgw_bytes_in_total", dialect=WSDO) \
        == len('{"type": "NOT_A_TYPE"}')
    # Refusals, by where, dialect and reason.
    assert await wsgw.handshake_status(gw.ws_port, gw.path("m", "listen"), origin="https://b.example") == 403
    r = await gw.emit_get("m", {"x": "1"}, headers={"Origin": "https://b.example"})
    assert r.status == 403, r
    m5 = await scrape(gw)
    refused = "wsgw_refused_total"
    assert val(m5, refused, on="upgrade", dialect=WSDO, reason="ORIGIN_NOT_ALLOWED") \
        - val(m4, refused, on="upgrade", dialect=WSDO, reason="ORIGIN_NOT_ALLOWED") == 1
    assert val(m5, refused, on="http", dialect=WSDO, reason="ORIGIN_NOT_ALLOWED") == 1
    assert val(m5, "wsgw_http_requests_total", endpoint=WSDO, code="403") == 1
    assert val(m5, "wsgw_http_requests_total", endpoint=WSDO, code="200") >= 2   # probe + emit
    assert val(m5, "wsgw_http_requests_total", endpoint="metrics", code="200") >= 5
    # The other dialects are there with zeros.
    for d in ("op", "Telegraphy", "Comet"):
        assert ("wsgw_sessions", (("dialect", d),)) in m5, d
        assert ("wsgw_connects_total", (("dialect", d),)) in m5, d


async def test_rate_limited_frames_counted(start_gateway):
    gw = start_gateway(rate_limit=1, rate_burst=1, wsdo_ping_interval=3600)
    a = await gw.listen("r")
    for _ in range(6):
        await a.send({"type": "NOT_A_TYPE"})
    await a.recv_type("ERROR", 3)
    await asyncio.sleep(0.2)
    m = await scrape(gw)
    assert val(m, "wsgw_rate_limited_total", dialect=WSDO) >= 4, m
    assert val(m, "wsgw_messages_in_total", dialect=WSDO) == 6


async def test_health_follows_the_broker(start_gateway):
    # The gateway's sessions go to a second broker, which is stopped and
    # started again: /healthz and the link metrics follow it.
    upstream = wsgw.Broker(plugin=False)
    upstream.start(plugin=False)
    try:
        gw = start_gateway(broker_socket=None, broker_host="127.0.0.1", broker_port=upstream.mqtt_port)
        r = await wsgw.http(gw.ws_port, "GET", "/healthz")
        assert r.status == 200 and r.json == {"status": "ok", "ready": True, "broker": True}, r
        upstream.stop()
        deadline = time.monotonic() + 10
        while True:
            r = await wsgw.http(gw.ws_port, "GET", "/healthz")
            if r.status != 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert r.status == 503 and r.json == {"status": "unavailable", "ready": False, "broker": False}, r
        m = await scrape(gw)
        assert val(m, "wsgw_ready") == 0 and val(m, "wsgw_broker_up") == 0
        assert val(m, "wsgw_broker_lost_total") == 1
        # Other requests are refused as not ready, and counted.
        r = await gw.emit_get("h", {"x": "1"})
        assert r.status == 503 and r.json["error"] == "NOT_READY", r
        upstream.start(plugin=False)
        deadline = time.monotonic() + 15
        while True:
            r = await wsgw.http(gw.ws_port, "GET", "/healthz")
            if r.status == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert r.status == 200 and r.json["status"] == "ok", r
        m = await scrape(gw)
        assert val(m, "wsgw_ready") == 1 and val(m, "wsgw_broker_up") == 1
        assert val(m, "wsgw_broker_reconnects_total") == 1
        assert val(m, "wsgw_refused_total", on="http", dialect=WSDO, reason="NOT_READY") >= 1
        # Only GET.
        r = await wsgw.http(gw.ws_port, "POST", "/healthz", body=b"")
        assert r.status == 405 and r.headers["allow"] == "GET", r
    finally:
        upstream.stop()
        upstream.cleanup()


async def test_metrics_token_and_paths(start_gateway):
    gw = start_gateway(metrics_token="s3cret", health_path="/ops/health")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer s3cret2"},
                    {"Authorization": "Basic s3cret"}):
        r = await wsgw.http(gw.ws_port, "GET", "/metrics", headers=headers)
        assert r.status == 401 and r.json["error"] == "UNAUTHORIZED", (headers, r)
    m = await scrape(gw, token="s3cret")
    assert val(m, "wsgw_http_requests_total", endpoint="metrics", code="401") == 4
    r = await wsgw.http(gw.ws_port, "GET", "/ops/health?probe=1")
    assert r.status == 200 and r.json["status"] == "ok", r
    r = await wsgw.http(gw.ws_port, "GET", "/healthz")
    assert r.status == 404, r
    gw2 = start_gateway(health_path="off", metrics_path="off")
    for path in ("/healthz", "/metrics"):
        r = await wsgw.http(gw2.ws_port, "GET", path)
        assert r.status == 404, (path, r)
