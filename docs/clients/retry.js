// Shared by the snippets: when to reconnect, and how long to wait.
// Close codes the gateway sends (docs/protocols/*.md) fall in two groups:
// retry (the gateway or the broker went away, or the link timed out) and
// final (the gateway refused this client: a new attempt would be refused too).
const WSGW_FINAL_CLOSES = new Set([
  1008, // policy: refused auth, forbidden by the broker's ACL, slow consumer
  1009, // a frame over max_frame_size: the client's own bug
  4001, // replaced: a newer session of the same user (another tab) took over
  4003, // Telegraphy: invalid token or session (get a new token, then CONNECT)
]);
// 1001 shutdown/idle, 1006 no close frame (network, or an upgrade refused with
// 503 NOT_READY while the gateway starts), 1011 broker unavailable, 4000 ping or
// heartbeat timeout: retried.

class WsgwBackoff {
  constructor(baseMs = 500, capMs = 30000) {
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.attempt = 0;
  }
  // Exponential with "equal jitter": half the step fixed, half random, so a
  // thousand pages cut off by one broker restart do not come back in step.
  next() {
    const step = Math.min(this.capMs, this.baseMs * 2 ** this.attempt++);
    return step / 2 + Math.random() * step / 2;
  }
  reset() { this.attempt = 0; }
}

// path below base ("https://h/rt" + "lobby/listen" = "https://h/rt/lobby/listen")
function wsgwUrl(base, path) {
  return new URL(path, base.endsWith("/") ? base : base + "/");
}
function wsgwWsUrl(base, path) {
  const u = wsgwUrl(base, path);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}
