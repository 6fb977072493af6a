// websockets.do: listen on a channel, keep its member list, answer PING, ACK
// what asks for it, emit over HTTP, reconnect with backoff. Needs retry.js.
class WsdoChannel {
  // base: the gateway's http(s) URL with its wsdo mount ("https://rt.example.com")
  constructor(base, channel, on = {}) {
    this.base = base;
    this.channel = channel;
    this.on = on;                 // onReady(members), onData(payload, frame), onMembers(map), onError(e), onClose(ev), onFinal(code)
    this.members = new Map();     // clientID -> presence (the others; not yourself)
    this.clientID = null;
    this.backoff = new WsgwBackoff();
    this.stopped = false;
    this.open();
  }
  open() {
    const ws = this.ws = new WebSocket(wsgwWsUrl(this.base, encodeURIComponent(this.channel) + "/listen"));
    ws.onmessage = (ev) => this.frame(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      this.on.onClose?.(ev);
      if (this.stopped) return;
      if (WSGW_FINAL_CLOSES.has(ev.code)) { this.on.onFinal?.(ev.code, ev.reason); return; }
      setTimeout(() => this.open(), this.backoff.next());
    };
  }
  frame(f) {
    const p = f.payload;
    switch (f.type) {
    case "PING": this.send({ type: "PONG" }); break;
    case "CONNECTED":
      this.backoff.reset();
      this.clientID = f.clientID;
      this.members = new Map(p.members.map((m) => [m.clientID, m.presence]));
      this.on.onReady?.(this.members);
      break;
    case "PRESENCE:JOINED":
    case "PRESENCE:UPDATED":
      if (p.clientID !== this.clientID) this.members.set(p.clientID, p.presence);
      this.on.onMembers?.(this.members);
      break;
    case "PRESENCE:LEFT":
      this.members.delete(p.clientID);
      this.on.onMembers?.(this.members);
      break;
    case "DATA":
      if (f.requires_ack) this.send({ type: "ACK", payload: { eventID: f.eventID } });
      this.on.onData?.(p, f);
      break;
    case "ERROR": this.on.onError?.(p); break;
    }
  }
  send(obj) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj)); }
  setPresence(presence) { this.send({ type: "PRESENCE", payload: presence }); }
  // POST the payload as JSON; opts: {clients: 3 | ["client_a", ...], requireAck: true}.
  // Resolves to {status, body}: 200 {eventID, clients, unknown, acked?}, 408 ACK_TIMEOUT, ...
  async emit(payload, opts = {}) {
    const q = new URLSearchParams();
    if (opts.clients !== undefined) q.set("clients", [].concat(opts.clients).join(","));
    if (opts.requireAck) q.set("require-ack", "true");
    const url = wsgwUrl(this.base, encodeURIComponent(this.channel) + "/emit?" + q);
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload) });
    return { status: res.status, body: await res.json() };
  }
  close() { this.stopped = true; this.ws.close(1000); }
}
