// packet-exporter's live view. The overview polls the summary every second
// (the host and each interface's rates, from the agent's two-minute
// history: no collection); selecting an interface polls its detail
// instead. The selection is the page's URL (?interface=NAME), so a link
// can be shared and the back button works. No dependencies; text is only
// ever set as text.
"use strict";

const endpoint = "/api/v1/live";
const period = 1000; // ms between polls
const historySeconds = 120; // what the charts span

// Colours come from the style sheet: one colour per direction everywhere.
const style = getComputedStyle(document.documentElement);
const colour = (name) => style.getPropertyValue(name).trim();

// Names sort naturally: s2 before s10.
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

const svgNS = "http://www.w3.org/2000/svg";

function si(value, unit) {
  const prefixes = ["", "k", "M", "G", "T"];
  let i = 0;
  while (Math.abs(value) >= 1000 && i < prefixes.length - 1) { value /= 1000; i++; }
  const digits = value >= 100 || i === 0 ? 0 : 1;
  return value.toFixed(digits) + " " + prefixes[i] + unit;
}

// setValue shows a rate in cell, keeping the number in data-value.
function setValue(cell, value, unit) {
  const text = value === null || value === undefined ? "–" : si(value, unit);
  if (cell.textContent !== text) cell.textContent = text;
  cell.dataset.value = value === null || value === undefined ? "" : String(value);
}

// widthBar is a bar filling fraction of its cell (set through the CSS
// object model: a Content-Security-Policy without 'unsafe-inline' allows it).
function widthBar(cls, fraction) {
  const bar = el("div", { class: cls });
  bar.style.width = (Math.max(0, Math.min(1, fraction)) * 100).toFixed(1) + "%";
  return bar;
}

function fillTable(table, rows) {
  table.tBodies[0].replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map((c) => {
    const td = el("td", {}, c);
    if (typeof c === "string" && /^[–0-9]/.test(c)) td.className = "num";
    return td;
  }))));
}

// rate is the per-second increase from a to b over seconds; a counter that
// went down (the exporter restarted) gives null.
function rate(a, b, seconds) {
  if (a === undefined || b === undefined || seconds <= 0 || b < a) return null;
  return (b - a) / seconds;
}

function protocolName(networkType, transport) {
  return transport && transport !== "none" ? networkType + "/" + transport : networkType || "other";
}

// ---- Rates and charts ----

// rateGrid fills a received/transmitted grid of bits/s and packets/s.
function rateGrid(container, r) {
  if (!container.firstChild) {
    container.append(el("span"), el("span", { class: "rx" }, "received"), el("span", { class: "tx" }, "transmitted"),
      el("span", {}, "bits/s"), el("span", { class: "rx value", "data-key": "rxBits" }), el("span", { class: "tx value", "data-key": "txBits" }),
      el("span", {}, "packets/s"), el("span", { class: "rx value", "data-key": "rxPackets" }), el("span", { class: "tx value", "data-key": "txPackets" }));
  }
  const cell = (k) => container.querySelector(`[data-key="${k}"]`);
  setValue(cell("rxBits"), r ? r.receive_bits_per_second : null, "b/s");
  setValue(cell("txBits"), r ? r.transmit_bits_per_second : null, "b/s");
  setValue(cell("rxPackets"), r ? r.receive_packets_per_second : null, "p/s");
  setValue(cell("txPackets"), r ? r.transmit_packets_per_second : null, "p/s");
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceCeil(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// drawChart draws two minutes of bits/s each way (history: the columns
// times_unix_ms, receive_bits_per_second and transmit_bits_per_second),
// with a time axis below and the scale above the plot, so no label covers
// the data.
function drawChart(canvas, history) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth, cssH = canvas.clientHeight;
  if (cssW === 0) return;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const top = 22, bottom = 20, left = 4, right = 4;
  const w = cssW - left - right, h = cssH - top - bottom;
  const times = history.times_unix_ms;
  const end = times.length ? times[times.length - 1] : Date.now();
  const x = (t) => left + w - ((end - t) / 1000 / historySeconds) * w;
  const peak = Math.max(0, ...history.receive_bits_per_second, ...history.transmit_bits_per_second);
  const scale = niceCeil(peak);
  const y = (v) => top + h - (v / scale) * h;

  ctx.font = "12px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.strokeStyle = colour("--line");
  ctx.fillStyle = colour("--muted");
  // Scale: lines at the top and half way, labelled above the plot.
  ctx.beginPath();
  for (const v of [scale, scale / 2, 0]) { ctx.moveTo(left, Math.round(y(v)) + 0.5); ctx.lineTo(left + w, Math.round(y(v)) + 0.5); }
  ctx.stroke();
  ctx.textBaseline = "bottom";
  ctx.textAlign = "left";
  ctx.fillText(si(scale, "b/s") + " (top line)", left, top - 4);
  // Legend, top right.
  ctx.textAlign = "right";
  let lx = left + w;
  for (const [label, c] of [["transmitted", "--tx"], ["received", "--rx"]]) {
    ctx.fillStyle = colour("--muted");
    ctx.fillText(label, lx, top - 4);
    lx -= ctx.measureText(label).width + 4;
    ctx.fillStyle = colour(c);
    ctx.fillRect(lx - 12, top - 12, 12, 4);
    lx -= 24;
  }
  // Time axis: every 30 s back from the last sample.
  ctx.fillStyle = colour("--muted");
  ctx.textBaseline = "top";
  for (let s = 0; s <= historySeconds; s += 30) {
    const tx = x(end - s * 1000);
    ctx.textAlign = s === 0 ? "right" : s === historySeconds ? "left" : "center";
    ctx.fillText(s === 0 ? "now" : `−${s} s`, tx, top + h + 4);
    ctx.strokeStyle = colour("--line");
    ctx.beginPath(); ctx.moveTo(Math.round(tx) + 0.5, top + h); ctx.lineTo(Math.round(tx) + 0.5, top + h + 3); ctx.stroke();
  }
  // The lines, each window drawn at its end.
  ctx.lineWidth = 2;
  for (const [key, c] of [["receive_bits_per_second", "--rx"], ["transmit_bits_per_second", "--tx"]]) {
    ctx.strokeStyle = colour(c);
    ctx.beginPath();
    history[key].forEach((v, k) => (k ? ctx.lineTo(x(times[k]), y(v)) : ctx.moveTo(x(times[k]), y(v))));
    ctx.stroke();
  }
}

// sparkline is a small SVG polyline of values, scaled to their own peak.
function sparkline() {
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", "0 0 60 16");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "trend");
  svg.setAttribute("aria-hidden", "true");
  svg.append(document.createElementNS(svgNS, "polyline"));
  return svg;
}

function setSparkline(svg, values) {
  const peak = Math.max(0, ...values);
  const n = values.length;
  const points = values.map((v, k) => `${(60 - (n - 1 - k)).toFixed(0)},${(15 - (peak > 0 ? (v / peak) * 14 : 0)).toFixed(1)}`).join(" ");
  const line = svg.firstChild;
  if (line.getAttribute("points") !== points) line.setAttribute("points", points);
}

// ---- The overview: host and interfaces ----

const view = {
  sort: { key: "traffic", descending: true },
  filter: "",
  group: "",
  showIdle: false,
  summary: null,
};

const hostRates = document.getElementById("host-rates");
const hostChart = document.getElementById("host-chart");
const tbody = document.querySelector("#interfaces tbody");
const rowsByName = new Map(); // interface name -> its row's elements
const groupRows = new Map(); // group key -> its header row

function renderHost(s) {
  const devices = s.host.devices;
  document.getElementById("host-devices").textContent = devices.length
    ? `The sum of the host's ${devices.length === 1 ? "device" : devices.length + " devices"} (${devices.join(", ")}): what enters and leaves the host, pods' traffic counted once.`
    : "No device of the host is counted: the host's totals are the sum of its physical devices and bonds.";
  // Without a device there is nothing to add up: no numbers, no chart.
  hostRates.hidden = hostChart.hidden = devices.length === 0;
  rateGrid(hostRates, s.host.history.times_unix_ms.length ? s.host.now : null);
  if (devices.length) drawChart(hostChart, s.host.history);
  renderProtocolRates(document.getElementById("protocols"), document.getElementById("protocols-empty"),
    s.host.protocols.map((p) => ({ name: protocolName(p.network_type, p.transport), rx: p.receive_packets_per_second,
      tx: p.transmit_packets_per_second, bits: p.receive_bits_per_second + p.transmit_bits_per_second })));
  renderDrops(s.host.drops);
}

// renderProtocolRates fills a protocol mix: packets/s each way, bits/s,
// and each protocol's share of the packets (both directions).
function renderProtocolRates(table, empty, rows) {
  rows = rows.filter((r) => r.rx !== null && r.rx + r.tx > 0);
  rows.sort((a, b) => (b.rx + b.tx) - (a.rx + a.tx) || collator.compare(a.name, b.name));
  const total = rows.reduce((n, r) => n + r.rx + r.tx, 0);
  fillTable(table, rows.map((r) => {
    const share = total > 0 ? (r.rx + r.tx) / total : 0;
    const cell = el("div", { class: "sharecell" }, widthBar("share", share), el("span", {}, (share * 100).toFixed(share < 0.1 ? 1 : 0) + " %"));
    return [r.name, si(r.rx, "p/s"), si(r.tx, "p/s"), si(r.bits, "b/s"), cell];
  }));
  table.hidden = rows.length === 0;
  empty.hidden = rows.length > 0;
}

// The host's drop table shows losses (d.loss) only, unless "Show every
// category" is checked.
let hostDrops = [];

function renderDrops(drops) {
  hostDrops = drops;
  const all = document.getElementById("drops-all").checked;
  const shown = [], hidden = [];
  for (const d of drops) (all || d.loss ? shown : hidden).push(d);
  fillTable(document.getElementById("drops"), shown.map((d) => [d.reason, d.category || "none", si(d.packets_per_second, "p/s"), String(d.packets)]));
  const empty = document.getElementById("drops-empty");
  empty.textContent = drops.length === 0 ? "No drops in the last two minutes (or drops.enabled is false)." : "No losses in the last two minutes (network or host drops).";
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

document.getElementById("drops-all").addEventListener("change", () => renderDrops(hostDrops));

// Each column's value, and whether it sorts as text.
const columns = {
  name: { text: true, of: (i) => i.name },
  kind: { text: true, of: (i) => i.kind },
  workload: { text: true, of: (i) => i.pod || i.container || "" },
  namespace: { text: true, of: (i) => i.namespace || "" },
  rxBits: { of: (i) => i.now.receive_bits_per_second },
  txBits: { of: (i) => i.now.transmit_bits_per_second },
  rxPackets: { of: (i) => i.now.receive_packets_per_second },
  txPackets: { of: (i) => i.now.transmit_packets_per_second },
  drops: { of: (i) => i.drops_per_second },
  traffic: { of: (i) => i.now.receive_bits_per_second + i.now.transmit_bits_per_second },
};

function compareRows(a, b) {
  const col = columns[view.sort.key];
  const va = col.of(a), vb = col.of(b);
  let c = col.text ? collator.compare(va, vb) : va - vb;
  // Empty text last whatever the direction; ties by name.
  if (col.text && (va === "") !== (vb === "")) return va === "" ? 1 : -1;
  if (view.sort.descending) c = -c;
  return c || collator.compare(a.name, b.name);
}

function matches(i, words) {
  const hay = [i.name, i.pod, i.namespace, i.container].filter(Boolean).join(" ").toLowerCase();
  return words.every((w) => hay.includes(w));
}

function groupOf(i) {
  if (view.group === "namespace") return i.namespace ? "namespace " + i.namespace : "no namespace";
  if (view.group === "kind") return "kind " + (i.kind || "unknown");
  return "";
}

function rowFor(i) {
  let r = rowsByName.get(i.name);
  if (r) return r;
  const link = el("a", { href: "?interface=" + encodeURIComponent(i.name) }, i.name);
  link.addEventListener("click", (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return; // a new tab or window
    e.preventDefault();
    select(i.name, { fromTable: true });
  });
  const cells = {};
  const tr = el("tr", { "data-interface": i.name });
  const add = (key, cls, ...children) => { const td = el("td", cls ? { class: cls } : {}, ...children); cells[key] = td; tr.append(td); };
  add("name", "name", link);
  add("kind", "wide");
  add("workload", "");
  add("namespace", "roomy");
  add("rxBits", "num rx");
  add("txBits", "num tx");
  add("rxPackets", "num rx wide");
  add("txPackets", "num tx wide");
  add("drops", "num roomy");
  const spark = sparkline();
  add("trend", "wide", spark);
  r = { tr, cells, spark };
  rowsByName.set(i.name, r);
  return r;
}

function setText(cell, text) {
  if (cell.textContent !== text) cell.textContent = text;
}

function renderInterfaces(s) {
  const words = view.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const listed = s.interfaces.filter((i) => matches(i, words) && (view.showIdle || words.length > 0 || i.trend.length > 0));
  listed.sort(compareRows);
  // Groups, the busiest first.
  const groups = new Map();
  for (const i of listed) {
    const key = groupOf(i);
    const g = groups.get(key) || { key, members: [], traffic: 0 };
    g.members.push(i);
    g.traffic += columns.traffic.of(i);
    groups.set(key, g);
  }
  const ordered = [...groups.values()];
  if (view.group) ordered.sort((a, b) => b.traffic - a.traffic || collator.compare(a.key, b.key));

  const wanted = [];
  const seen = new Set();
  for (const g of ordered) {
    if (view.group) {
      let header = groupRows.get(g.key);
      if (!header) {
        header = el("tr", { class: "group" }, el("th", { colspan: "10" }));
        groupRows.set(g.key, header);
      }
      setText(header.firstChild, `${g.key} · ${g.members.length} ${g.members.length === 1 ? "interface" : "interfaces"} · ${si(g.traffic, "b/s")}`);
      wanted.push(header);
    }
    for (const i of g.members) {
      const r = rowFor(i);
      seen.add(i.name);
      setText(r.cells.kind, i.kind);
      setText(r.cells.workload, i.pod ? "pod " + i.pod : i.container ? "container " + i.container : "");
      setText(r.cells.namespace, i.namespace || "");
      setValue(r.cells.rxBits, i.now.receive_bits_per_second, "b/s");
      setValue(r.cells.txBits, i.now.transmit_bits_per_second, "b/s");
      setValue(r.cells.rxPackets, i.now.receive_packets_per_second, "p/s");
      setValue(r.cells.txPackets, i.now.transmit_packets_per_second, "p/s");
      setValue(r.cells.drops, i.drops_per_second, "p/s");
      setSparkline(r.spark, i.trend);
      wanted.push(r.tr);
    }
  }
  for (const [name, r] of rowsByName) if (!seen.has(name)) { r.tr.remove(); rowsByName.delete(name); }
  for (const [key, header] of groupRows) if (!groups.has(key) || !view.group) { header.remove(); groupRows.delete(key); }
  // Move rows only where the order changed.
  let at = tbody.firstChild;
  for (const node of wanted) {
    if (node === at) { at = at.nextSibling; continue; }
    tbody.insertBefore(node, at);
  }
  while (at) { const next = at.nextSibling; at.remove(); at = next; }

  const counted = s.interfaces.length + (s.idle_listed ? 0 : s.idle);
  const empty = document.getElementById("interfaces-empty");
  empty.hidden = listed.length > 0;
  empty.textContent = words.length ? `No interface matches “${view.filter}”.` : counted ? "No traffic in the last two minutes." : "No interface counted yet.";
  const note = document.getElementById("idle-note");
  const idle = s.idle;
  if (!view.showIdle && !words.length && idle > 0) {
    if (note.dataset.idle !== String(idle)) { // rebuilt only when it changes: a focused button stays
      note.replaceChildren(`${idle} idle ${idle === 1 ? "interface" : "interfaces"} (no frame in the last two minutes) folded. `,
        button("Show them", () => { document.getElementById("show-idle").checked = true; view.showIdle = true; refresh(); }));
      note.dataset.idle = String(idle);
    }
    note.hidden = false;
  } else {
    note.hidden = true;
  }
  for (const th of document.querySelectorAll("#interfaces thead th")) {
    const key = th.firstChild.dataset.sort;
    if (key === view.sort.key) th.setAttribute("aria-sort", view.sort.descending ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
  }
}

// renderAgent shows the agent's health; a failure or a loss stands out.
function renderAgent(a) {
  const items = [["interfaces counted", a.interfaces_counted, false], ["programs attached", a.programs_attached, false],
    ["interfaces skipped", a.interfaces_skipped, a.interfaces_skipped > 0], ["attach failures", a.attach_failures, a.attach_failures > 0],
    ["events lost", a.events_lost, a.events_lost > 0], ["frames with a parse error", a.parse_errors, false]];
  document.getElementById("agent").replaceChildren(...items.flatMap(([k, v, bad]) => [el("dt", {}, k), el("dd", bad ? { class: "bad" } : {}, String(v))]));
}

function button(text, onclick) {
  const b = el("button", { type: "button", class: "link" }, text);
  b.addEventListener("click", onclick);
  return b;
}

for (const b of document.querySelectorAll("#interfaces thead button")) {
  b.addEventListener("click", () => {
    const key = b.dataset.sort;
    if (view.sort.key === key) view.sort.descending = !view.sort.descending;
    else view.sort = { key, descending: !columns[key].text };
    if (view.summary) renderInterfaces(view.summary);
  });
}
document.getElementById("filter").addEventListener("input", (e) => {
  const was = view.filter.trim() !== "";
  view.filter = e.target.value.trim();
  // A filter searches the idle interfaces too: they are fetched for it.
  if (was !== (view.filter !== "") && !view.showIdle) refresh();
  else if (view.summary) renderInterfaces(view.summary);
});
document.getElementById("group").addEventListener("change", (e) => {
  view.group = e.target.value;
  if (view.summary) renderInterfaces(view.summary);
});
document.getElementById("show-idle").addEventListener("change", (e) => {
  view.showIdle = e.target.checked;
  refresh();
});

// ---- One interface's detail ----

let detailPrevious = null; // the last detail of the selected interface

const infoLabels = [
  ["packet_exporter.interface.kind", "kind"],
  ["packet_exporter.interface.master", "master"],
  ["k8s.pod.name", "pod (behind its peer)"],
  ["k8s.namespace.name", "namespace"],
  ["container.name", "container"],
  ["container.id", "container id"],
];

function renderDetail(d) {
  const prev = detailPrevious && detailPrevious.interface.name === d.interface.name ? detailPrevious : null;
  const seconds = prev ? (d.time_unix_ms - prev.time_unix_ms) / 1000 : 0;
  const i = d.interface;
  setText(document.getElementById("detail-name"), i.name);
  const what = [];
  for (const [key, label] of infoLabels) if (i.info[key]) what.push(el("dt", {}, label), el("dd", {}, i.info[key]));
  document.getElementById("detail-what").replaceChildren(...what);

  // Rates from two details (exact), else the history's last window.
  const h = d.history;
  const last = h.times_unix_ms.length - 1;
  let now = last < 0 ? null : { receive_bits_per_second: h.receive_bits_per_second[last], transmit_bits_per_second: h.transmit_bits_per_second[last],
    receive_packets_per_second: h.receive_packets_per_second[last], transmit_packets_per_second: h.transmit_packets_per_second[last] };
  if (prev) {
    now = { receive_bits_per_second: rate(prev.interface.receive.bytes * 8, i.receive.bytes * 8, seconds),
      transmit_bits_per_second: rate(prev.interface.transmit.bytes * 8, i.transmit.bytes * 8, seconds),
      receive_packets_per_second: rate(prev.interface.receive.packets, i.receive.packets, seconds),
      transmit_packets_per_second: rate(prev.interface.transmit.packets, i.transmit.packets, seconds) };
  }
  rateGrid(document.getElementById("detail-rates"), now);
  drawChart(document.getElementById("detail-chart"), h);

  // Protocol mix, and the mix inside tunnels, from two details.
  const totals = (snap, list, nameOf) => {
    const m = new Map();
    for (const [dir, key] of [["receive", "rx"], ["transmit", "tx"]]) {
      for (const p of snap.interface[dir][list]) {
        const name = nameOf(p);
        const t = m.get(name) || { rx: 0, tx: 0, bytes: 0 };
        t[key] += p.packets; t.bytes += p.bytes;
        m.set(name, t);
      }
    }
    return m;
  };
  const mixRows = (list, nameOf) => {
    const rows = [];
    if (!prev) return rows;
    const before = totals(prev, list, nameOf);
    for (const [name, t] of totals(d, list, nameOf)) {
      const b = before.get(name) || { rx: 0, tx: 0, bytes: 0 };
      const rx = rate(b.rx, t.rx, seconds), tx = rate(b.tx, t.tx, seconds), bits = rate(b.bytes * 8, t.bytes * 8, seconds);
      if (rx !== null && tx !== null && bits !== null) rows.push({ name, rx, tx, bits });
    }
    return rows;
  };
  const protocolOf = (p) => protocolName(p.network_type, p.transport);
  renderProtocolRates(document.getElementById("detail-protocols"), document.getElementById("detail-protocols-empty"),
    mixRows("protocols", protocolOf));
  // Shown on an interface that has carried tunnels since counting began.
  document.getElementById("detail-tunnels-section").hidden = !(i.receive.tunnels.length || i.transmit.tunnels.length);
  renderProtocolRates(document.getElementById("detail-tunnels"), document.getElementById("detail-tunnels-empty"),
    mixRows("tunnels", (p) => `${p.tunnel} · ${protocolOf(p)}`));
  renderSizes(d, prev, seconds);

  const before = new Map((prev ? prev.drops : []).map((x) => [x.reason + "\u0000" + x.category, x.packets]));
  fillTable(document.getElementById("detail-drops"), d.drops.map((x) => {
    const r = rate(before.get(x.reason + "\u0000" + x.category), x.packets, seconds);
    return [x.reason, x.category || "none", r === null ? "–" : si(r, "p/s"), String(x.packets)];
  }));
  document.getElementById("detail-drops").hidden = d.drops.length === 0;
  document.getElementById("detail-drops-empty").hidden = d.drops.length > 0;

  const hooks = d.attached.map((x) => [x.direction, x.mode ? `${x.hook} (${x.mode})` : x.hook]);
  if (!hooks.length) hooks.push(["–", "no program attached: nothing is counted"]);
  if (d.attach_failures) hooks.push(["–", `${d.attach_failures} failed ${d.attach_failures === 1 ? "attachment" : "attachments"} (packet_exporter.attach.failures)`]);
  fillTable(document.getElementById("detail-hooks"), hooks);
  detailPrevious = d;
}

// renderSizes draws the packet sizes of each direction side by side, per
// second from two details, or since counting began.
function renderSizes(d, prev, seconds) {
  const dirs = [["receive", "rx", "received"], ["transmit", "tx", "transmitted"]];
  const bounds = d.interface.receive.sizes.bounds.length ? d.interface.receive.sizes.bounds : d.interface.transmit.sizes.bounds;
  const values = {};
  let perSecond = prev !== null && seconds > 0;
  for (const [dir, key] of dirs) {
    const now = d.interface[dir].sizes.counts;
    const was = prev ? prev.interface[dir].sizes.counts : [];
    values[key] = now.map((c, k) => (was.length === now.length ? c - was[k] : -1));
    if (!now.length) values[key] = bounds.map(() => 0).concat([0]);
  }
  if (values.rx.some((v) => v < 0) || values.tx.some((v) => v < 0) || [...values.rx, ...values.tx].every((v) => v === 0)) perSecond = false;
  if (perSecond) {
    for (const [, key] of dirs) values[key] = values[key].map((v) => v / seconds);
  } else {
    for (const [dir, key] of dirs) values[key] = d.interface[dir].sizes.counts.length ? d.interface[dir].sizes.counts : values[key].map(() => 0);
  }
  setText(document.getElementById("detail-sizes-hint"), perSecond
    ? "Frames per second by size, Ethernet header included."
    : "Frames per size since counting began (none in the last second), Ethernet header included.");
  const peak = Math.max(1, ...values.rx, ...values.tx);
  const format = perSecond ? (v) => si(v, "p/s") : (v) => String(v);
  const cells = [el("span"), el("span", { class: "rx" }, "received"), el("span", { class: "tx" }, "transmitted")];
  const n = Math.max(values.rx.length, values.tx.length);
  for (let k = 0; k < n; k++) {
    const label = k < bounds.length ? "≤ " + bounds[k] + " B" : bounds.length ? "> " + bounds[bounds.length - 1] + " B" : "any size";
    cells.push(el("span", {}, label));
    for (const [, key] of dirs) {
      const v = values[key][k] || 0;
      cells.push(el("div", { class: "sizebar" }, widthBar("bar " + key, v / peak), el("span", {}, format(v))));
    }
  }
  document.getElementById("detail-sizes").replaceChildren(...cells);
}

// ---- Polling and the URL ----

function selected() {
  return new URLSearchParams(location.search).get("interface");
}

// select shows interface name (null: the overview) as a new entry of the
// browser's history; state says where it was selected from.
function select(name, state) {
  history.pushState(state || null, "", name === null ? location.pathname : "?interface=" + encodeURIComponent(name));
  show();
}

document.getElementById("back").addEventListener("click", (e) => {
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  // Back where the user came from when it was the table; else to the table.
  if (history.state && history.state.fromTable) history.back();
  else select(null);
});
window.addEventListener("popstate", show);

// show shows the view the URL asks for and polls it at once.
function show() {
  const name = selected();
  document.getElementById("overview").hidden = name !== null;
  document.getElementById("detail").hidden = name === null;
  document.title = name === null ? "packet-exporter" : name + " · packet-exporter";
  if (name !== null && (!detailPrevious || detailPrevious.interface.name !== name)) {
    detailPrevious = null;
    setText(document.getElementById("detail-name"), name);
  }
  refresh();
}

function setStatus(text, error) {
  const s = document.getElementById("status");
  setText(s, text);
  s.classList.toggle("error", error);
}

let timer = null;
let generation = 0; // a poll's answer for a view no longer shown is dropped

// refresh polls now, and then every period.
function refresh() {
  clearTimeout(timer);
  poll(++generation);
}

async function poll(gen) {
  const name = selected();
  try {
    if (name !== null) {
      const response = await fetch(endpoint + "?interface=" + encodeURIComponent(name), { cache: "no-store", credentials: "same-origin" });
      if (gen !== generation) return;
      if (response.status === 404) {
        setStatus(`${name} is not counted`, true);
      } else {
        if (!response.ok) throw new Error(`${endpoint}: HTTP ${response.status}`);
        renderDetail(await response.json());
        setStatus("live · updated " + new Date().toLocaleTimeString(), false);
      }
    } else {
      const withIdle = view.showIdle || view.filter !== "";
      const response = await fetch(endpoint + "?view=summary" + (withIdle ? "&idle=1" : ""), { cache: "no-store", credentials: "same-origin" });
      if (!response.ok) throw new Error(`${endpoint}: HTTP ${response.status}`);
      const s = await response.json();
      if (gen !== generation) return;
      s.idle_listed = withIdle;
      view.summary = s;
      renderHost(s);
      renderInterfaces(s);
      renderAgent(s.agent);
      const counted = withIdle ? s.interfaces.length : s.interfaces.length + s.idle;
      setStatus(`live · ${counted} ${counted === 1 ? "interface" : "interfaces"} counted · updated ${new Date(s.time_unix_ms || Date.now()).toLocaleTimeString()}`, false);
    }
  } catch (e) {
    if (gen !== generation) return;
    setStatus("no data: " + e.message, true);
  }
  // A hidden page does not poll; it polls again when shown.
  if (!document.hidden) timer = setTimeout(() => poll(gen), period);
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
window.addEventListener("resize", () => {
  if (view.summary && selected() === null) drawChart(hostChart, view.summary.host.history);
  else if (detailPrevious) drawChart(document.getElementById("detail-chart"), detailPrevious.history);
});

show();
