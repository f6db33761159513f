// packet-exporter's live view: polls the snapshot endpoint every second and
// draws rates computed from two consecutive snapshots. No dependencies.
"use strict";

const endpoint = "/api/v1/live";
const period = 1000; // ms between snapshots
const historyLength = 120; // points kept per interface: two minutes

let previous = null; // the last snapshot
const history = new Map(); // interface name -> [{t, rx, tx}] in bits/s

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

// widthBar is a bar filling fraction of its cell (set through the CSS
// object model: a Content-Security-Policy without 'unsafe-inline' allows it).
function widthBar(cls, fraction) {
  const bar = el("div", { class: cls });
  bar.style.width = (fraction * 100).toFixed(1) + "%";
  return bar;
}

function si(value, unit) {
  const prefixes = ["", "k", "M", "G", "T"];
  let i = 0;
  while (Math.abs(value) >= 1000 && i < prefixes.length - 1) { value /= 1000; i++; }
  const digits = value >= 100 || i === 0 ? 0 : 1;
  return value.toFixed(digits) + " " + prefixes[i] + unit;
}

// rate is the per-second increase from a to b over seconds; a counter that
// went down (the exporter restarted) gives null.
function rate(a, b, seconds) {
  if (a === undefined || b === undefined || seconds <= 0 || b < a) return null;
  return (b - a) / seconds;
}

function byName(list) {
  return new Map(list.map((x) => [x.name, x]));
}

function protocolsOf(snapshot) {
  const totals = new Map();
  for (const i of snapshot.interfaces) {
    for (const d of [i.receive, i.transmit]) {
      for (const p of d.protocols) {
        const key = p.transport && p.transport !== "none" ? p.network_type + "/" + p.transport : p.network_type || "other";
        const t = totals.get(key) || { packets: 0, bytes: 0 };
        t.packets += p.packets; t.bytes += p.bytes;
        totals.set(key, t);
      }
    }
  }
  return totals;
}

function sizesOf(snapshot) {
  let bounds = [];
  let counts = [];
  for (const i of snapshot.interfaces) {
    for (const d of [i.receive, i.transmit]) {
      if (!d.sizes.bounds.length) continue;
      if (!bounds.length) { bounds = d.sizes.bounds; counts = d.sizes.counts.map(() => 0); }
      if (d.sizes.counts.length !== counts.length) continue;
      d.sizes.counts.forEach((c, k) => { counts[k] += c; });
    }
  }
  return { bounds, counts };
}

function renderInterfaces(snapshot, seconds) {
  const container = document.getElementById("interfaces");
  const before = previous ? byName(previous.interfaces) : new Map();
  const seen = new Set();
  for (const i of snapshot.interfaces) {
    seen.add(i.name);
    const p = before.get(i.name);
    const rx = { bps: null, pps: null }, tx = { bps: null, pps: null };
    if (p) {
      rx.bps = rate(p.receive.bytes * 8, i.receive.bytes * 8, seconds);
      rx.pps = rate(p.receive.packets, i.receive.packets, seconds);
      tx.bps = rate(p.transmit.bytes * 8, i.transmit.bytes * 8, seconds);
      tx.pps = rate(p.transmit.packets, i.transmit.packets, seconds);
    }
    const points = history.get(i.name) || [];
    if (rx.bps !== null && tx.bps !== null) {
      points.push({ t: snapshot.time_unix_ms, rx: rx.bps, tx: tx.bps });
      while (points.length > historyLength) points.shift();
    }
    history.set(i.name, points);

    let card = container.querySelector(`article[data-interface="${CSS.escape(i.name)}"]`);
    if (!card) {
      card = el("article", { class: "iface", "data-interface": i.name },
        el("h3", {}, i.name), el("div", { class: "info" }),
        el("div", { class: "rates" },
          el("span", {}, ""), el("span", { class: "rx" }, "rx"), el("span", { class: "tx" }, "tx"),
          el("span", {}, "bits/s"), el("span", { class: "rx rx-bps" }), el("span", { class: "tx tx-bps" }),
          el("span", {}, "packets/s"), el("span", { class: "rx rx-pps" }), el("span", { class: "tx tx-pps" })),
        el("canvas", { width: 600, height: 180 }));
      container.append(card);
    }
    card.querySelector(".info").textContent = describe(i.info);
    for (const [cls, v, unit] of [["rx-bps", rx.bps, "b/s"], ["tx-bps", tx.bps, "b/s"], ["rx-pps", rx.pps, "p/s"], ["tx-pps", tx.pps, "p/s"]]) {
      const cell = card.querySelector("." + cls);
      cell.textContent = v === null ? "–" : si(v, unit);
      cell.dataset.value = v === null ? "" : String(v);
    }
    draw(card.querySelector("canvas"), points);
  }
  for (const card of container.querySelectorAll("article[data-interface]")) {
    if (!seen.has(card.dataset.interface)) { card.remove(); history.delete(card.dataset.interface); }
  }
  const empty = container.querySelector(".empty");
  if (empty) empty.hidden = snapshot.interfaces.length > 0;
}

// describe summarises an interface's info attributes: its kind, and the
// pod or container behind it.
function describe(info) {
  const parts = [];
  if (info["packet_exporter.interface.kind"]) parts.push(info["packet_exporter.interface.kind"]);
  if (info["k8s.pod.name"]) parts.push("pod " + (info["k8s.namespace.name"] ? info["k8s.namespace.name"] + "/" : "") + info["k8s.pod.name"]);
  if (info["container.name"]) parts.push("container " + info["container.name"]);
  if (info["packet_exporter.interface.master"]) parts.push("master " + info["packet_exporter.interface.master"]);
  return parts.join(" · ");
}

function draw(canvas, points) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(document.documentElement);
  ctx.strokeStyle = style.getPropertyValue("--line");
  ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(0, h - 0.5); ctx.lineTo(w, h - 0.5); ctx.stroke();
  if (points.length < 2) return;
  const top = Math.max(1, ...points.map((p) => Math.max(p.rx, p.tx)));
  const x = (k) => w - (points.length - 1 - k) * (w / (historyLength - 1));
  const y = (v) => h - 2 - (v / top) * (h - 22);
  for (const [key, color] of [["rx", "--rx"], ["tx", "--tx"]]) {
    ctx.strokeStyle = style.getPropertyValue(color);
    ctx.lineWidth = 3;
    ctx.beginPath();
    points.forEach((p, k) => (k ? ctx.lineTo(x(k), y(p[key])) : ctx.moveTo(x(k), y(p[key]))));
    ctx.stroke();
  }
  ctx.fillStyle = style.getPropertyValue("--muted");
  ctx.font = "20px system-ui, sans-serif";
  ctx.fillText("max " + si(top, "b/s"), 4, 18);
}

function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
}

function renderProtocols(snapshot, seconds) {
  const now = protocolsOf(snapshot);
  const before = previous ? protocolsOf(previous) : new Map();
  const rows = [];
  let sum = 0;
  for (const [key, t] of now) {
    const b = before.get(key);
    const pps = b ? rate(b.packets, t.packets, seconds) : null;
    const bps = b ? rate(b.bytes * 8, t.bytes * 8, seconds) : null;
    rows.push({ key, pps, bps, total: t.packets });
    sum += pps || 0;
  }
  // Busiest first; without traffic, by total.
  rows.sort((a, b) => (b.pps || 0) - (a.pps || 0) || b.total - a.total);
  fillTable("protocols", rows.map((r) => {
    const share = sum > 0 && r.pps ? r.pps / sum : 0;
    const bar = widthBar("share", share);
    return [r.key, r.pps === null ? "–" : si(r.pps, "p/s"), r.bps === null ? "–" : si(r.bps, "b/s"), bar];
  }));
}

function renderSizes(snapshot, seconds) {
  const now = sizesOf(snapshot);
  const before = previous ? sizesOf(previous) : { counts: [] };
  const delta = seconds > 0 && before.counts.length === now.counts.length ? now.counts.map((c, k) => c - before.counts[k]) : null;
  let values, format, hint;
  if (!delta || delta.some((d) => d < 0) || delta.every((d) => d === 0)) {
    values = now.counts;
    format = (v) => String(v);
    hint = "Frames per size since counting began (none in the last second), Ethernet header included.";
  } else {
    values = delta.map((d) => d / seconds);
    format = (v) => si(v, "p/s");
    hint = "Frames per second by size, Ethernet header included.";
  }
  document.getElementById("sizes-hint").textContent = hint;
  const top = Math.max(1, ...values);
  const cells = [];
  values.forEach((v, k) => {
    const label = k < now.bounds.length ? "≤ " + now.bounds[k] + " B" : "> " + now.bounds[now.bounds.length - 1] + " B";
    cells.push(el("span", {}, label), widthBar("bar", v / top), el("span", {}, format(v)));
  });
  document.getElementById("sizes").replaceChildren(...cells);
}

// The drop table shows losses (drops whose category is one, d.loss) only,
// unless "Show every category" is checked.
let dropRows = []; // the last snapshot's drops, each with its rate

function dropKey(d) {
  return d.reason + "\u0000" + d.category;
}

function renderDrops(snapshot, seconds) {
  const before = new Map((previous ? previous.drops : []).map((d) => [dropKey(d), d.packets]));
  dropRows = snapshot.drops.map((d) => {
    const k = dropKey(d);
    return { ...d, rate: before.has(k) ? rate(before.get(k), d.packets, seconds) : null };
  });
  drawDrops();
}

// drawDrops fills the drop table from dropRows: the losses, or every
// category when asked, and says what is hidden.
function drawDrops() {
  const all = document.getElementById("drops-all").checked;
  const shown = [], hidden = [];
  for (const d of dropRows) (all || d.loss ? shown : hidden).push(d);
  fillTable("drops", shown.map((d) => [d.reason, d.category || "none", d.rate === null ? "–" : si(d.rate, "p/s"), String(d.packets)]));
  const empty = document.getElementById("drops-empty");
  empty.textContent = dropRows.length === 0 ? "No drops counted (or drops.enabled is false)." : "No losses counted (network or host drops).";
  empty.hidden = shown.length > 0;
  document.getElementById("drops").hidden = shown.length === 0;
  const note = document.getElementById("drops-hidden");
  if (hidden.length > 0) {
    const packets = hidden.reduce((n, d) => n + d.packets, 0);
    const categories = [...new Set(hidden.map((d) => d.category || "none"))].join(", ");
    note.textContent = `${packets} ${packets === 1 ? "drop" : "drops"} of other categories hidden (${categories}).`;
  }
  note.hidden = hidden.length === 0;
}

document.getElementById("drops-all").addEventListener("change", drawDrops);

function renderAgent(snapshot) {
  const a = snapshot.agent;
  const items = [["programs attached", String(a.attached.length)], ["attach failures", String(a.attach_failures)],
    ["events lost", String(a.events_lost)], ["parse errors", String(a.parse_errors)],
    ["updated", new Date(snapshot.time_unix_ms).toLocaleTimeString()]];
  document.getElementById("agent").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  fillTable("hooks", a.attached.map((h) => [h.interface, h.direction, h.mode ? `${h.hook} (${h.mode})` : h.hook]));
}

function setStatus(text, error) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

async function poll() {
  try {
    const response = await fetch(endpoint, { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(`${endpoint}: HTTP ${response.status}`);
    const snapshot = await response.json();
    const seconds = previous ? (snapshot.time_unix_ms - previous.time_unix_ms) / 1000 : 0;
    renderInterfaces(snapshot, seconds);
    renderProtocols(snapshot, seconds);
    renderSizes(snapshot, seconds);
    renderDrops(snapshot, seconds);
    renderAgent(snapshot);
    previous = snapshot;
    setStatus("live", false);
  } catch (e) {
    setStatus("no data: " + e.message, true);
  }
  setTimeout(poll, period);
}

poll();
