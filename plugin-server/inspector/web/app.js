// The inspector's page: the list of requests (live, over server-sent
// events), and one request's story. Everything from the journal is put on
// the page as text (textContent), never as HTML: headers and bodies are
// what clients chose.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  rows: new Map(),     // key → summary shown in the list
  selected: null,      // the open request's key
  oldest: null,        // key of the oldest request listed, for "Older"
  filter: { api: "", hook: "", q: "" },
  live: null,
  lost: false,
};

// el builds an element: el("td", {class: "x"}, "text", child…).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const pad = (n, w) => String(n).padStart(w || 2, "0");
function clock(iso) {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
const ms = (us) => (us / 1000).toFixed(us < 10000 ? 2 : 1) + " ms";

// --- the URL: ?request=<id>&api=&hook=&q= -------------------------------

function readURL() {
  const p = new URLSearchParams(location.search);
  state.filter = { api: p.get("api") || "", hook: p.get("hook") || "", q: p.get("q") || "" };
  $("#f-text").value = state.filter.q;
  return p.get("request");
}

function writeURL(id) {
  const p = new URLSearchParams();
  if (id) p.set("request", id);
  for (const [k, v] of Object.entries(state.filter)) if (v) p.set(k, v);
  const q = p.toString();
  history.replaceState(null, "", q ? "?" + q : location.pathname);
}

// --- status --------------------------------------------------------------

function showStatus(s) {
  const box = $("#status");
  if (s.redis === "unreachable") {
    box.className = "status down";
    box.textContent = `Redis unreachable since ${clock(s.since)}: ${s.error} — retrying every second; showing what was read before`;
  } else if (s.redis === "connected") {
    box.className = "status ok";
    box.textContent = s.reconnected ? `Redis reconnected at ${clock(s.since)} · live` : "live";
  } else {
    box.className = "status";
    box.textContent = s.redis;
  }
  if (s.max) {
    state.records = s.records;
    state.max = s.max;
    showCount();
  }
}

function showCount() {
  if (state.max) $("#count").textContent = `${state.records} journal records held (at most ${state.max}, the newest)`;
}

function lostInspector() {
  state.lost = true;
  const box = $("#status");
  box.className = "status down";
  box.textContent = "Lost the inspector — reconnecting…";
}

// --- the list ------------------------------------------------------------

// matches is filter.match (index.go) for a request sent live.
function matches(s) {
  const f = state.filter;
  if (f.api && s.api_id !== f.api) return false;
  if (f.hook && !s.hooks.some((h) => h.name === f.hook || h.type === f.hook)) return false;
  return s.search.includes(f.q.toLowerCase());
}

function statusBadge(s) {
  if (s.undecodable) return el("span", { class: "badge s5" }, "?");
  if (!s.status) return el("span", { class: "badge", title: "the records do not say" }, "…");
  return el("span", {
    class: `badge s${String(s.status)[0]}`,
    title: `from ${s.status_source}`,
  }, s.status);
}

function hookChips(s) {
  return s.hooks.map((h) => {
    if (h.kind === "undecodable") return el("span", { class: "chip error" }, "undecodable");
    if (h.kind === "event") return el("span", { class: "chip event", title: "event" }, "⚡" + h.type);
    return el("span", {
      class: "chip" + (h.error ? " error" : h.changes ? " changed" : ""),
      title: `${h.type} ${h.name}` + (h.error ? " (error)" : h.changes ? ` (${h.changes} changes)` : " (unchanged)"),
    }, h.type);
  });
}

function row(s) {
  const tr = el("tr", { class: "req" + (s.undecodable ? " bad" : ""), dataset: { key: s.key, id: s.id } },
    el("td", { class: "time" }, clock(s.time)),
    el("td", {}, statusBadge(s)),
    el("td", { class: "path" }, s.undecodable ? "undecodable journal entry" : `${s.method || ""} ${s.path || ""}`),
    el("td", {}, s.api_id || ""),
    el("td", {}, hookChips(s)),
    el("td", { class: "id", title: `${s.id} (grouped by ${s.grouped_by})` }, s.id));
  tr.addEventListener("click", () => openRequest(s.key));
  if (s.key === state.selected) tr.classList.add("selected");
  return tr;
}

async function getJSON(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${resp.status}: ${(await resp.text()).trim()}`);
  return resp.json();
}

function listURL(before) {
  const p = new URLSearchParams();
  if (before) p.set("before", before);
  if (state.filter.api) p.set("api", state.filter.api);
  if (state.filter.hook) p.set("hook", state.filter.hook);
  if (state.filter.q) p.set("q", state.filter.q);
  return "api/requests?" + p;
}

function fillSelect(sel, values, current) {
  const keep = new Set([...sel.options].map((o) => o.value));
  for (const v of values) if (!keep.has(v)) sel.append(el("option", { value: v }, v));
  if (current && !keep.has(current) && !values.includes(current)) sel.append(el("option", { value: current }, current));
  sel.value = current;
}

// loadList (re)loads the first page; more appends the next one.
async function loadList(more) {
  let list;
  try {
    list = await getJSON(listURL(more ? state.oldest : ""));
  } catch (e) {
    lostInspector();
    return;
  }
  const body = $("#requests");
  if (!more) {
    body.replaceChildren();
    state.rows.clear();
  }
  for (const s of list.requests) {
    state.rows.set(s.key, s);
    body.append(row(s));
    state.oldest = s.key;
  }
  $("#more").hidden = !list.more;
  $("#empty").hidden = state.rows.size > 0;
  fillSelect($("#f-api"), list.apis || [], state.filter.api);
  fillSelect($("#f-hook"), list.hooks || [], state.filter.hook);
  showStatus(list.status);
}

// onRequest takes a request sent live: new ones go on top, changed ones
// are redrawn where they are.
function onRequest(s) {
  const body = $("#requests");
  const old = body.querySelector(`tr[data-key="${CSS.escape(s.key)}"]`);
  if (!matches(s)) return;
  const tr = row(s);
  if (old) {
    old.replaceWith(tr);
  } else {
    tr.classList.add("fresh");
    body.prepend(tr);
    $("#empty").hidden = true;
  }
  state.rows.set(s.key, s);
  if (s.key === state.selected) scheduleDetail(s.key);
}

function connectLive() {
  const es = new EventSource("api/live");
  state.live = es;
  es.addEventListener("open", () => {
    // Whatever happened while the stream was down, the list is redone.
    if (state.lost) {
      state.lost = false;
      loadList(false);
      if (state.selected) scheduleDetail(state.selected);
    }
  });
  es.addEventListener("status", (ev) => showStatus(JSON.parse(ev.data)));
  es.addEventListener("request", (ev) => {
    const live = JSON.parse(ev.data);
    state.records = live.records;
    showCount();
    onRequest(live.request);
  });
  es.addEventListener("error", () => lostInspector());
}

// --- one request -----------------------------------------------------------

let detailTimer = null;
function scheduleDetail(key) {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => openRequest(key, true), 150);
}

async function openRequest(id, refresh) {
  let d;
  const box = $("#detail");
  try {
    d = await getJSON("api/request?id=" + encodeURIComponent(id));
  } catch (e) {
    box.hidden = false;
    box.replaceChildren(el("p", { class: "problem" }, `Request ${id}: ${e.message}`));
    return;
  }
  if (refresh && d.key !== state.selected) return;
  state.selected = d.key;
  for (const tr of document.querySelectorAll("#requests tr.req")) {
    tr.classList.toggle("selected", tr.dataset.key === d.key);
  }
  writeURL(d.id);
  box.hidden = false;
  box.replaceChildren(...renderDetail(d));
}

function renderDetail(d) {
  const out = [];
  out.push(el("h2", {}, d.undecodable ? "Undecodable journal entry" : `${d.method || ""} ${d.path || ""}`));
  const meta = el("dl", { class: "meta" });
  const add = (k, ...v) => meta.append(el("dt", {}, k), el("dd", {}, ...v));
  add("request id", d.id);
  add("grouped by", d.grouped_by, d.grouped_by === "time"
    ? el("span", { class: "note" }, " — no X-Request-Id and no trace: records of one API and method close in time, a guess when requests overlap")
    : "");
  if (d.api_id) add("API", d.api_id);
  if (d.status) add("client's answer", `${d.status} (from ${d.status_source})`);
  if (d.replicas && d.replicas.length) add(d.replicas.length > 1 ? "replicas" : "replica", d.replicas.join(", "));
  if (d.trace_id) {
    add("trace", d.trace_url ? el("a", { href: d.trace_url, target: "_blank", rel: "noopener" }, d.trace_id) : d.trace_id);
  }
  add("model", `plugintest's model of gateway ${d.gateway || "(newest)"}`);
  out.push(meta);

  // The timeline: every record in the order the gateway made them.
  const end = Math.max(1, ...d.records.map((r) => rec(r) ? r.offset_us + rec(r).duration_us : 0));
  const tl = el("table", { class: "timeline" },
    el("thead", {}, el("tr", {},
      ["#", "kind", "hook type", "function", "API", "replica", "start", "duration", "session", "outcome", ""].map((h) => el("th", {}, h)))));
  const tb = el("tbody");
  const cards = [];
  d.records.forEach((r, i) => {
    const x = rec(r);
    const n = i + 1;
    if (!x) {
      tb.append(el("tr", { class: "error" }, el("td", {}, n), el("td", { colspan: 10, class: "problem" }, r.problem)));
      cards.push(problemCard(n, r));
      return;
    }
    const outcome = x.error ? "error: " + x.error : x.kind === "event" ? "" : (x.changes || []).join(", ") || "unchanged";
    const tr = el("tr", { class: x.kind + (x.error ? " error" : ""), dataset: { hook: x.hook_name || x.event_type } },
      el("td", {}, n), el("td", {}, x.kind),
      el("td", {}, x.hook_type || x.event_type), el("td", {}, x.hook_name || ""),
      el("td", {}, x.api_id || ""), el("td", {}, x.replica || ""),
      el("td", {}, "+" + ms(r.offset_us)), el("td", {}, ms(x.duration_us)),
      el("td", {}, x.session || ""), el("td", {}, outcome),
      el("td", { class: "bar" }, barFor(r.offset_us, x.duration_us, end)));
    tr.addEventListener("click", () => document.getElementById("card-" + n).scrollIntoView({ block: "start" }));
    tb.append(tr);
    cards.push(x.kind === "event" ? eventCard(n, r, x) : hookCard(n, r, x, d.gateway));
  });
  tl.append(tb);
  out.push(el("h3", {}, "Timeline"), tl, ...cards);
  return out;
}

function rec(r) { return r.record && r.record.kind ? r.record : null; }

function barFor(offset, dur, end) {
  const b = el("div");
  b.style.marginLeft = (100 * offset / end).toFixed(2) + "%";
  b.style.width = (100 * dur / end).toFixed(2) + "%";
  return el("div", {}, b);
}

function problemCard(n, r) {
  return el("details", { class: "hookcard error", id: "card-" + n, open: true },
    el("summary", {}, `${n}. ${r.problem}`),
    el("div", { class: "body" }, r.record ? jsonBlock(r.record) : ""));
}

function eventCard(n, r, x) {
  return el("details", { class: "hookcard", id: "card-" + n, open: true },
    el("summary", {}, `${n}. event ${x.event_type}` + (x.error ? ` — error: ${x.error}` : "")),
    el("div", { class: "body" }, el("h4", {}, "payload (redacted)"), jsonBlock(x.event)));
}

function hookCard(n, r, x, gateway) {
  const title = `${n}. ${x.hook_type} ${x.hook_name}` + (x.error ? ` — error: ${x.error}` : (x.changes || []).length ? " — changed" : " — unchanged");
  const body = el("div", { class: "body" });
  if (x.changes && x.changes.length) body.append(el("ul", { class: "changes" }, x.changes.map((c) => el("li", {}, c))));
  if (x.bodies || x.bytes) body.append(el("div", { class: "bodies" }, bodiesText(x)));
  const received = r.received || null;
  const returned = r.returned || null;
  body.append(el("div", { class: "cols" },
    el("div", {}, el("h4", {}, "received (redacted)"), received ? tree(received, returned, "received") : el("p", { class: "note" }, "not journaled")),
    el("div", {}, el("h4", {}, "returned" + (returned ? " (changes highlighted)" : "")),
      returned ? tree(returned, received, "returned")
        : el("p", { class: "note" }, x.error ? "nothing: the hook failed" : "the object as received: the hook changed nothing"))));
  if (r.prediction) body.append(predictionBox(r.prediction, x, gateway));
  return el("details", { class: "hookcard" + (x.error ? " error" : ""), id: "card-" + n, open: true, dataset: { hook: x.hook_name } },
    el("summary", {}, title), body);
}

// How the gateway sent the bodies (the journal's bodies and bytes).
const bodyModes = {
  "body+raw_body": "the bodies came twice, in body and raw_body (raw_body_only on the hook would send them once)",
  "raw_body_only": "the bodies came once, in raw_body only: raw_body_only is set on the hook",
  "raw_body": "the bodies came in raw_body only: not UTF-8, the gateway never copies them into body",
};

function bodiesText(x) {
  const parts = [];
  if (x.bodies) parts.push(bodyModes[x.bodies] || `bodies: ${x.bodies}`);
  if (x.bytes) parts.push(`the gateway sent ${fmtBytes(x.bytes)}`);
  return parts.join("; ");
}

function fmtBytes(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function predictionBox(p, x, gateway) {
  const box = el("div", { class: "prediction" });
  box.append(el("h4", {}, "what the gateway does with it"),
    el("div", { class: "model" }, `prediction of plugintest's model (gateway ${gateway || "newest"}), not an observation` +
      (p.truncated ? "; a body was cut by the journal, so is the one predicted" : "")));
  if (p.dropped) box.append(el("pre", {}, "the gateway drops the connection: no answer (a failed Response hook on this gateway line)"));
  if (p.upstream) {
    box.append(el("div", {}, x.hook_type === "Post" || x.hook_type === "Response" ? "the request goes on to the upstream:" : "the request goes on (to the next hook, then the upstream):"),
      el("pre", { class: "upstream" }, httpText(`${p.upstream.method} ${p.upstream.url}`, p.upstream)));
  }
  if (p.client) {
    box.append(el("div", {}, "the client gets:"),
      el("pre", { class: "client" }, httpText(`HTTP ${p.client.status}`, p.client)));
  }
  if (p.auth_failure) box.append(el("div", {}, "and the gateway fires an AuthFailure event"));
  if (p.session) {
    box.append(el("div", {}, "the key's session:"), jsonBlock(p.session),
      el("div", { class: "session-reuse" }, p.session_reused
        ? `with an ID extractor on the API, the gateway reuses it without calling this hook until ${p.session_reused}`
        : "the gateway calls this hook again on the next request (no id_extractor_deadline)"));
  }
  for (const w of p.warnings || []) box.append(el("div", { class: "warning" }, "⚠ " + w));
  return box;
}

function httpText(first, m) {
  const lines = [first];
  for (const k of Object.keys(m.header || {}).sort()) for (const v of m.header[k]) lines.push(`${k}: ${v}`);
  lines.push("", m.body_base64 ? "(base64) " + (m.body || "") : m.body || "");
  return lines.join("\n");
}

function jsonBlock(v) {
  return el("div", { class: "json" }, JSON.stringify(v, null, 2).split("\n").map((l) => el("div", { class: "line" }, l)));
}

// tree renders v as indented JSON, marking what differs from other: on the
// returned side what was added or changed, on the received side what the
// hook removed. raw_body is shown decoded too.
function tree(v, other, side) {
  const box = el("div", { class: "json " + side });
  walk(box, v, other, side, 0, null, true, other !== null && other !== undefined, "");
  return box;
}

// walk renders v at depth; o is the other side's value at the same place
// (compared when compare), inherited the mark of a block added or removed
// whole.
function walk(box, v, o, side, depth, key, last, compare, inherited) {
  const indent = "  ".repeat(depth);
  const label = key === null ? "" : JSON.stringify(key) + ": ";
  const comma = last ? "" : ",";
  let mark = inherited;
  if (!mark && compare && o === undefined) mark = side === "returned" ? "added" : "removed";
  const isObj = v !== null && typeof v === "object";
  if (!isObj) {
    if (!mark && compare && side === "returned" && JSON.stringify(v) !== JSON.stringify(o)) mark = "changed";
    box.append(el("div", { class: "line " + mark }, indent + label + JSON.stringify(v) + comma));
    if (key === "raw_body" && typeof v === "string" && v) {
      box.append(el("div", { class: "line decoded " + mark }, indent + "  ↳ " + decode(v)));
    }
    return;
  }
  const arr = Array.isArray(v);
  const oo = o !== null && typeof o === "object" ? o : undefined;
  if (!mark && compare && arr && JSON.stringify(v) !== JSON.stringify(o)) mark = side === "returned" ? "changed" : "";
  box.append(el("div", { class: "line " + mark }, indent + label + (arr ? "[" : "{")));
  const keys = arr ? v.map((_, i) => i) : Object.keys(v).sort();
  keys.forEach((k, i) => walk(box, v[k], oo === undefined ? undefined : oo[k], side, depth + 1, arr ? null : k,
    i === keys.length - 1, compare && !mark && !arr, mark));
  box.append(el("div", { class: "line " + mark }, indent + (arr ? "]" : "}") + comma));
}

function decode(b64) {
  try {
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    return "(not UTF-8 text)";
  }
}

// --- start -------------------------------------------------------------------

function onFilter() {
  state.filter = { api: $("#f-api").value, hook: $("#f-hook").value, q: $("#f-text").value.trim() };
  writeURL(state.selected ? (state.rows.get(state.selected) || {}).id : null);
  loadList(false);
}

document.addEventListener("DOMContentLoaded", async () => {
  const id = readURL();
  $("#f-api").addEventListener("change", onFilter);
  $("#f-hook").addEventListener("change", onFilter);
  let t = null;
  $("#f-text").addEventListener("input", () => { clearTimeout(t); t = setTimeout(onFilter, 200); });
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); onFilter(); });
  $("#more").addEventListener("click", () => loadList(true));
  await loadList(false);
  connectLive();
  if (id) openRequest(id);
});
