// op pub/sub: requests matched to replies by id, pushes, resume after a cut
// with backoff (falling back to connect when the session is gone), topics
// re-subscribed only when resume could not recover them. Needs retry.js.
class OpClient {
  // url: the op endpoint ("wss://rt.example.com/pubsub");
  // auth(): returns {provider, access_token[, username]} (called at each connect)
  constructor(url, auth, on = {}) {
    this.url = url;
    this.auth = auth;
    this.on = on;                  // onReady(user, recovered), onMessage(topics, data, sender), onPresence(type, topics, sender), onFinal(code|error)
    this.nextId = 1;
    this.waiting = new Map();      // id -> {resolve, reject}
    this.session = null;           // resume token
    this.topics = new Set();       // what we want subscribed
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
      if (WSGW_FINAL_CLOSES.has(ev.code)) { this.on.onFinal?.(ev.code); return; }
      setTimeout(() => this.open(), this.backoff.next());
    };
  }
  async hello() {
    let r = null;
    try {
      if (this.session) r = await this.request({ op: "resume", session: this.session });
    } catch (e) {
      if (e.code !== 410 && e.code !== 401) return;   // 503 etc.: the close retries
    }
    try {
      if (!r) r = await this.request({ op: "connect", auth: await this.auth() });
    } catch (e) {
      if (e.code === 401) { this.stopped = true; this.ws.close(1000); this.on.onFinal?.(e); }
      return;
    }
    this.session = r.session;
    this.backoff.reset();
    // After a resume with recovered: true the broker kept the subscriptions
    // and delivers what was missed; otherwise subscribe again.
    if (!r.recovered && this.topics.size) await this.request({ op: "sub", topics: [...this.topics] });
    this.on.onReady?.(r.user, !!r.recovered);
  }
  frame(f) {
    if (f.type === "success" || (f.type === "error" && f.id !== undefined)) {
      const w = this.waiting.get(f.id);
      if (!w) return;
      this.waiting.delete(f.id);
      if (f.type === "success") w.resolve(f);
      else w.reject(Object.assign(new Error(f.message), { code: f.code }));
    } else if (f.op === "mesg") {
      this.on.onMessage?.(f.topics, f.data, f.sender);
    } else if (f.op === "pres") {
      this.on.onPresence?.(f.type, f.topics, f.sender);
    }
    // op "error"/"session" without id: rate limit, session lost (a close follows)
  }
  request(req) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...req, id }));
    });
  }
  async sub(topics) { topics.forEach((t) => this.topics.add(t)); return this.request({ op: "sub", topics }); }
  async unsub(topics) { topics.forEach((t) => this.topics.delete(t)); return this.request({ op: "unsub", topics }); }
  pub(topics, data) { return this.request({ op: "pub", topics, data }); }
  close() { this.stopped = true; this.ws.close(1000); }
}
