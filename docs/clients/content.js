// Content sync: requests matched to results by id, a local copy of every
// watched document kept current from `changed` notifications (JSON Patch
// applied here, a re-fetch when none is given), writes with the version the
// copy has (409: the copy is refreshed and the caller decides), reconnect
// with the session token after a cut, and a fresh login when the session is
// gone. Needs retry.js.
function wsgwJsonPatch(doc, patch) {
  // RFC 6902 on a copy; throws on an operation that does not apply.
  const root = { v: structuredClone(doc) };
  const walk = (path) => {
    const parts = path === "" ? [] : path.slice(1).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    let parent = root, key = "v";
    for (const p of parts) {
      parent = parent[key];
      if (parent === null || typeof parent !== "object") throw new Error("no such path " + path);
      key = Array.isArray(parent) && p !== "-" ? Number(p) : p;
    }
    return [parent, key];
  };
  const get = (path) => { const [o, k] = walk(path); if (!(k in o)) throw new Error("no such path " + path); return o[k]; };
  const remove = (path) => {
    const [o, k] = walk(path);
    const v = get(path);
    if (Array.isArray(o)) o.splice(k, 1); else delete o[k];
    return v;
  };
  const add = (path, value) => {
    const [o, k] = walk(path);
    if (Array.isArray(o)) o.splice(k === "-" ? o.length : k, 0, value); else o[k] = value;
  };
  for (const op of patch) {
    switch (op.op) {
    case "add": add(op.path, structuredClone(op.value)); break;
    case "remove": remove(op.path); break;
    case "replace": remove(op.path); add(op.path, structuredClone(op.value)); break;
    case "move": add(op.path, remove(op.from)); break;
    case "copy": add(op.path, structuredClone(get(op.from))); break;
    case "test": if (JSON.stringify(get(op.path)) !== JSON.stringify(op.value)) throw new Error("test failed"); break;
    default: throw new Error("unknown op " + op.op);
    }
  }
  return root.v;
}

const sameVer = (a, b) => JSON.stringify(a) === JSON.stringify(b);

class ContentClient {
  // url: "wss://rt.example.com/content"; credentials(): {username, password}
  constructor(url, credentials, on = {}) {
    this.url = url;
    this.credentials = credentials;
    this.on = on;                  // onReady(login data), onChange(key, content, ver), onRevoke(key), onFinal(code|error)
    this.nextId = 1;
    this.waiting = new Map();      // id -> {resolve, reject}
    this.session = null;
    this.docs = new Map();         // JSON of a key -> {key, ver, content}: the watched documents
    this.backoff = new WsgwBackoff();
    this.stopped = false;
    this.open();
  }
  open() {
    const ws = this.ws = new WebSocket(this.url);
    ws.onopen = () => this.hello();
    ws.onmessage = (ev) => this.frame(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      for (const w of this.waiting.values()) w.reject(Object.assign(new Error("closed"), { status: 0 }));
      this.waiting.clear();
      if (this.stopped) return;
      if (WSGW_FINAL_CLOSES.has(ev.code)) { this.on.onFinal?.(ev.code); return; }
      setTimeout(() => this.open(), this.backoff.next());
    };
  }
  async hello() {
    let data = null;
    try {
      if (this.session) data = await this.request("reconnect", { session: this.session });
    } catch (e) {
      if (e.code !== 4010220) return;        // 503: the close retries
    }
    const resumed = !!data;
    try {
      if (!data) data = await this.request("login", await this.credentials());
    } catch (e) {
      if (e.code === 4010130) { this.stopped = true; this.ws.close(1000); this.on.onFinal?.(e); }
      return;
    }
    this.session = data.session;
    this.backoff.reset();
    // A reconnect restores the watches and pushes what changed; a new session
    // watches again, from the versions we have (204 or a 206 patch if unchanged or close).
    if (!resumed) for (const d of this.docs.values()) this.watch(d.key).catch(() => {});
    this.on.onReady?.(data);
  }
  frame(f) {
    if (f.type === "notify") {
      for (const e of f.data) {
        if (f.cls === "changed" && e.content) this.changed(e);
        else if (f.cls === "revoke") { this.docs.delete(JSON.stringify(e)); this.on.onRevoke?.(e); }
      }
      return;
    }
    const w = this.waiting.get(f.id);
    if (!w) return;
    this.waiting.delete(f.id);
    if (f.type === "result") w.resolve({ status: f.status, ...(f.data || {}) });
    else w.reject(Object.assign(new Error(f.data?.msg), { status: f.status, code: f.data?.code }));
  }
  changed(e) {
    const d = this.docs.get(JSON.stringify(e.key));
    if (!d || sameVer(d.ver, e.ver)) return;   // our own write, already applied
    if (e.patch) {
      try {
        this.store(d, wsgwJsonPatch(d.content, e.patch), e.ver);
        return;
      } catch (err) { /* our copy is not what the patch was made for: fetch */ }
    }
    this.watch(d.key).catch(() => {});
  }
  store(d, content, ver) {
    d.content = content;
    d.ver = ver;
    this.on.onChange?.(d.key, content, ver);
  }
  request(cls, data) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ type: "request", id, cls, data }));
    });
  }
  // Reads key and keeps it current; resolves to its content.
  async watch(key) {
    const k = JSON.stringify(key);
    const d = this.docs.get(k) || { key, ver: null, content: undefined };
    this.docs.set(k, d);
    const r = await this.request("get_content", { key, ver: d.ver, subscribe: true });
    if (r.status === 200) this.store(d, r.content, r.ver);
    else if (r.status === 206) this.store(d, wsgwJsonPatch(d.content, r.patch), r.ver);
    return d.content;
  }
  // Applies patch to the version we have. A 409 (someone else wrote first)
  // refreshes our copy and rethrows: the caller looks at the new content and
  // decides whether to patch again.
  async patch(key, patch) {
    const d = this.docs.get(JSON.stringify(key));
    try {
      const base = d ? d.ver : null;
      const r = await this.request("patch_content", { key, ver: base, patch });
      // The `changed` of our own write may have come first and done this.
      if (d && sameVer(d.ver, base)) this.store(d, wsgwJsonPatch(d.content, patch), r.ver);
      return r.ver;
    } catch (e) {
      if (e.code === 4090630 && d) await this.watch(key);
      throw e;
    }
  }
  close() { this.stopped = true; this.ws.close(1000); }
}
