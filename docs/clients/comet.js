// Comet: AUTH first (with the room to join), answer every server HB, pushes,
// JOIN to move between rooms, reconnect with backoff (a new token each time:
// the gateway checks it at AUTH only). Needs retry.js.
class CometClient {
  // url: "wss://rt.example.com/comet/Comet/Subscribe"; getToken(): a JWT whose sub is the uid
  constructor(url, getToken, room = "", on = {}) {
    this.url = url;
    this.getToken = getToken;
    this.room = room;
    this.on = on;                  // onReady(), onPush(evt), onError(error), onFinal(code)
    this.backoff = new WsgwBackoff();
    this.stopped = false;
    this.open();
  }
  async open() {
    const token = await this.getToken();
    const ws = this.ws = new WebSocket(this.url);
    let ready = false;
    ws.onopen = () => this.send({ t: 1, auth: { token }, join: { rid: this.room } });
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.error) { this.on.onError?.(f.error); return; }
      if (f.t === "HB") {
        // The first HB says AUTH was accepted and the subscriptions are in;
        // every HB wants one back (any uplink frame keeps the session).
        if (!ready) { ready = true; this.backoff.reset(); this.on.onReady?.(); }
        else this.send({ t: 0, hb: {} });
      } else if (f.t === "PUSH") {
        this.on.onPush?.(f.push.evt);
      }
    };
    ws.onclose = (ev) => {
      if (this.stopped) return;
      // 1008 (refused token, AUTH errors) and 4001 (a newer session of this
      // uid) are final; 4000 (heartbeat timeout), 1001, 1006, 1011 are retried.
      if (WSGW_FINAL_CLOSES.has(ev.code)) { this.on.onFinal?.(ev.code); return; }
      setTimeout(() => this.open(), this.backoff.next());
    };
  }
  send(obj) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj)); }
  join(room) { this.room = room; this.send({ t: 2, join: { rid: room } }); }
  close() { this.stopped = true; this.ws.close(1000); }
}
