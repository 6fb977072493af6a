// Telegraphy: CONNECT with a single-use auth token, ids in sequence (0, 1,
// 2, ... continued across RECONNECT), events, RECONNECT after a cut with
// backoff; a refused session (4003) falls back to a fresh token. Needs retry.js.
class TelegraphyClient {
  // url: "wss://rt.example.com/telegraphy"; getToken(): a fresh auth token
  // from your web application (each one works once)
  constructor(url, getToken, on = {}) {
    this.url = url;
    this.getToken = getToken;
    this.on = on;                  // onReady(reconnected), onEvent(name, data), onFinal(reason)
    this.id = 0;                   // the next message's id
    this.waiting = new Map();
    this.sessionToken = null;
    this.subs = [];                // [{event_name, filters, permanent}] to restore if the session is lost
    this.backoff = new WsgwBackoff();
    this.stopped = false;
    this.open();
  }
  open() {
    const ws = this.ws = new WebSocket(this.url);
    ws.onopen = () => this.hello();
    ws.onmessage = (ev) => this.frame(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      for (const w of this.waiting.values()) w.reject(new Error("closed " + ev.code));
      this.waiting.clear();
      if (this.stopped) return;
      if (ev.code === 4003 && this.sessionToken) this.sessionToken = null;  // session gone: CONNECT anew
      else if (WSGW_FINAL_CLOSES.has(ev.code)) { this.on.onFinal?.(ev.code); return; }
      setTimeout(() => this.open(), this.backoff.next());
    };
  }
  async hello() {
    let r;
    const resumed = !!this.sessionToken;
    if (resumed) {
      r = await this.send("RECONNECT", { session_token: this.sessionToken });
    } else {
      this.id = 0;                 // a new connection's CONNECT has id 0
      r = await this.send("CONNECT", { auth_token: await this.getToken() });
    }
    if (!r.success) return;        // INVALID_*: the gateway closes with 4003
    if (r.data?.session_token) this.sessionToken = r.data.session_token;
    // Permanent subscriptions survive a RECONNECT (and their missed events
    // follow); the others end with each connection, so they are set up again,
    // and all of them on a new session.
    for (const s of this.subs) if (!resumed || !s.permanent) await this.send("SUBSCRIBE", s);
    this.backoff.reset();
    this.on.onReady?.(resumed);
  }
  frame(f) {
    if (f.event !== undefined) { this.on.onEvent?.(f.event, f.data); return; }
    const w = this.waiting.get(f.id);
    if (w) { this.waiting.delete(f.id); w.resolve(f); }
  }
  // Every message takes the next id; the reply carries it back.
  send(message, args) {
    const id = this.id++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ message, id, args }));
    });
  }
  async subscribe(event_name, filters = {}, permanent = false) {
    const s = { event_name, filters, permanent, lazy: true };
    this.subs.push(s);
    return this.send("SUBSCRIBE", s);
  }
  close() { this.stopped = true; this.ws.close(1000); }
}
