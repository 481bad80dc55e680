// alloc-report html: draws the flamegraph, the heap over time and the
// histograms from the JSON in #report-data, and makes the tables sortable.
// No libraries, no network. After drawing, each chart records what it drew in
// data-* attributes (the browser test reads them).
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("report-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";

  // ---- Numbers, as alloc_core::number writes them --------------------------

  const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

  // One decimal, ties to even like Rust's formatting of an exact tie.
  function fixed1(v) {
    const t = v * 10;
    let r = Math.round(t);
    if (Math.abs(t - Math.trunc(t)) === 0.5 && r % 2 !== 0) r -= 1;
    return (r / 10).toFixed(1);
  }

  function fmtBytes(n) {
    if (n < 1024) return Math.round(n) + " B";
    let v = n / 1024;
    let u = 0;
    while (u + 1 < UNITS.length && Math.round(v * 10) / 10 >= 1024) {
      v /= 1024;
      u += 1;
    }
    return fixed1(v) + " " + UNITS[u];
  }

  function fmtCount(n) {
    return Math.round(n).toLocaleString("en-US");
  }

  function fmtDuration(ns) {
    const SEC = 1e9;
    if (ns < 1e3) return Math.round(ns) + " ns";
    if (ns < 999950) return fixed1(ns / 1e3) + " µs";
    if (ns < 999950000) return fixed1(ns / 1e6) + " ms";
    if (ns < 59995 * 1e6) return (ns / 1e9).toFixed(2) + " s";
    if (ns < 3600 * SEC) {
      const s = Math.floor((ns + SEC / 2) / SEC);
      return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    }
    const m = Math.floor((ns + 30 * SEC) / (60 * SEC));
    return Math.floor(m / 60) + "h " + String(m % 60).padStart(2, "0") + "m";
  }

  function fmtPercent(part, whole) {
    if (whole === 0) return "-";
    const share = (part / whole) * 100;
    if (part > 0 && share < 0.05) return "<0.1%";
    return share.toFixed(1) + "%";
  }

  // ---- Small DOM helpers ----------------------------------------------------

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function message(container, text) {
    container.replaceChildren(el("p", { class: "empty" }, text));
  }

  // Runs a drawing step; if it throws, the section says so and the error
  // still reaches the console (so it is never hidden), while the rest of the
  // page keeps working.
  function guarded(container, what, f) {
    try {
      f();
    } catch (e) {
      if (container) {
        container.replaceChildren(el("p", { class: "empty error" }, "Could not draw the " + what + ": " + e.message));
      }
      setTimeout(function () { throw e; });
    }
  }

  // ---- Tooltip --------------------------------------------------------------

  const tooltip = document.getElementById("tooltip");

  // `title` in bold, then rows of [label, value] pairs or plain strings.
  function showTip(ev, title, rows) {
    const parts = [el("div", { class: "t" }, title)];
    for (const r of rows) {
      const row = el("div", { class: "r" });
      if (Array.isArray(r)) {
        row.append(r[0] + " ", el("b", {}, r[1]));
      } else {
        row.textContent = r;
      }
      parts.push(row);
    }
    tooltip.replaceChildren(...parts);
    tooltip.hidden = false;
    moveTip(ev);
  }

  function moveTip(ev) {
    const pad = 14;
    const w = tooltip.offsetWidth;
    const h = tooltip.offsetHeight;
    let x = ev.clientX + pad;
    let y = ev.clientY + pad;
    if (x + w > window.innerWidth - 4) x = Math.max(4, ev.clientX - w - pad);
    if (y + h > window.innerHeight - 4) y = Math.max(4, ev.clientY - h - pad);
    tooltip.style.left = x + "px";
    tooltip.style.top = y + "px";
  }

  function hideTip() {
    tooltip.hidden = true;
  }

  // ---- Axis ticks -----------------------------------------------------------

  // About `count` round ticks from 0 to `max`, in the unit that suits `max`.
  function ticks(max, kind, count) {
    let scale = 1;
    let unit = "";
    if (kind === "bytes") {
      const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
      let u = 0;
      while (u + 1 < units.length && max / scale >= 1024) {
        scale *= 1024;
        u += 1;
      }
      unit = units[u];
    } else {
      const units = [[1, "ns"], [1e3, "µs"], [1e6, "ms"], [1e9, "s"]];
      for (const [s, name] of units) {
        if (max >= s || s === 1) {
          scale = s;
          unit = name;
        }
      }
    }
    const span = max / scale;
    const raw = span / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    const out = [];
    for (let v = 0; v <= span * 1.0001; v += step) {
      const label = (Math.round(v * 1000) / 1000).toLocaleString("en-US") + " " + unit;
      out.push([v * scale, label]);
    }
    return out;
  }

  // ---- Flamegraph -----------------------------------------------------------

  const flameBox = document.getElementById("flame");
  const flameCaption = document.getElementById("flame-caption");
  const searchBox = document.getElementById("flame-search");
  const matchOut = document.getElementById("flame-match");
  const resetButton = document.getElementById("flame-reset");
  const metricButtons = Array.from(document.querySelectorAll("#metric-buttons button"));
  const ROW = 20;
  const trees = {};
  const state = { metric: "bytes", search: "", zoom: null, sort: "" };

  function buildTree(flame) {
    const root = { name: -1, value: 0, children: [], parent: null, depth: 0, index: new Map() };
    for (const [stack, value] of flame.stacks) {
      let node = root;
      root.value += value;
      for (const id of stack) {
        let child = node.index.get(id);
        if (!child) {
          child = { name: id, value: 0, children: [], parent: node, depth: node.depth + 1, index: new Map() };
          node.index.set(id, child);
          node.children.push(child);
        }
        child.value += value;
        node = child;
      }
    }
    (function order(node) {
      node.children.sort((a, b) => b.value - a.value || (data.names[a.name] < data.names[b.name] ? -1 : 1));
      node.children.forEach(order);
    })(root);
    return root;
  }

  function flameOf(metric) {
    return data.flames.find((f) => f.metric === metric) || data.flames[0];
  }

  function treeOf(metric) {
    if (!trees[metric]) trees[metric] = buildTree(flameOf(metric));
    return trees[metric];
  }

  function nameOf(node) {
    return node.name < 0 ? "all" : data.names[node.name];
  }

  function frameColor(node) {
    const name = nameOf(node);
    let h = 2166136261;
    for (let i = 0; i < name.length; i++) {
      h ^= name.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    const r = ((h >>> 0) % 1000) / 1000;
    const kind = node.name < 0 ? 1 : data.kinds[node.name];
    if (kind === 0) return "hsl(" + (12 + r * 32).toFixed(0) + ", " + (78 + r * 10).toFixed(0) + "%, " + (58 + r * 9).toFixed(0) + "%)";
    if (kind === 1) return "hsl(" + (200 + r * 25).toFixed(0) + ", " + (30 + r * 14).toFixed(0) + "%, " + (70 + r * 8).toFixed(0) + "%)";
    return "hsl(220, 6%, " + (76 + r * 8).toFixed(0) + "%)";
  }

  function matches(node, query) {
    return node.name >= 0 && data.names[node.name].toLowerCase().includes(query);
  }

  // The value under frames that match, each counted once (a match inside a
  // matching frame adds nothing), and how many frames match.
  function matchedValue(root, query) {
    let value = 0;
    let frames = 0;
    (function walk(node, covered) {
      const hit = matches(node, query);
      if (hit) frames += 1;
      if (hit && !covered) value += node.value;
      for (const c of node.children) walk(c, covered || hit);
    })(root, false);
    return { value, frames };
  }

  function drawFlame() {
    const flame = flameOf(state.metric);
    const root = treeOf(state.metric);
    for (const b of metricButtons) b.setAttribute("aria-pressed", String(b.dataset.metric === state.metric));
    flameBox.dataset.metric = flame.metric;
    flameBox.dataset.total = String(flame.total);
    flameBox.dataset.totalLabel = flame.is_bytes ? fmtBytes(flame.total) : fmtCount(flame.total);
    const fmt = flame.is_bytes ? fmtBytes : fmtCount;
    if (flame.total === 0) {
      const why = data.flames.every((f) => f.total === 0)
        ? "No allocations were recorded: there is nothing to draw."
        : flame.metric === "live"
          ? "Nothing was live at the end: no leaks to draw."
          : "No callsite has any " + flame.describe + ".";
      message(flameBox, why);
      flameBox.style.height = "";
      flameBox.dataset.frames = "0";
      flameCaption.textContent = "";
      updateMatch(root, flame, fmt);
      resetButton.disabled = true;
      return;
    }
    let zoom = state.zoom && state.zoom.root === root ? state.zoom.node : root;
    const width = flameBox.clientWidth || 1000;
    const scale = width / zoom.value;
    const query = state.search.toLowerCase();
    const nodes = [];
    // The zoomed frame's ancestors, full width, as context.
    for (let a = zoom.parent; a; a = a.parent) nodes.push([a, 0, width, true]);
    let maxDepth = zoom.depth;
    (function place(node, x) {
      const w = node.value * scale;
      if (w < 0.6) return;
      nodes.push([node, x, w, false]);
      if (node.depth > maxDepth) maxDepth = node.depth;
      let cx = x;
      for (const c of node.children) {
        place(c, cx);
        cx += c.value * scale;
      }
    })(zoom, 0);
    const frag = document.createDocumentFragment();
    const byElement = [];
    for (const [node, x, w, context] of nodes) {
      const kind = node.name < 0 ? 1 : data.kinds[node.name];
      const cls = ["fr", kind === 0 ? "user" : kind === 1 ? "lib" : "unk"];
      if (context) cls.push("ctx");
      if (query && matches(node, query)) cls.push("hit");
      const d = el("div", { class: cls.join(" "), "data-i": String(byElement.length) });
      d.style.left = x.toFixed(2) + "px";
      d.style.width = Math.max(w - 1, 0.5).toFixed(2) + "px";
      d.style.top = node.depth * ROW + "px";
      d.style.background = frameColor(node);
      if (w > 28) d.textContent = node.name < 0 ? "all: " + fmt(node.value) + " " + flame.describe : nameOf(node);
      frag.append(d);
      byElement.push(node);
    }
    flameBox.replaceChildren(frag);
    flameBox.style.height = (maxDepth + 1) * ROW + "px";
    flameBox.classList.toggle("searching", query !== "");
    flameBox.dataset.frames = String(nodes.length);
    flameBox.dataset.depth = String(maxDepth);
    flameBox.nodes = byElement;
    resetButton.disabled = zoom === root;
    flameCaption.textContent =
      zoom === root
        ? "Showing all " + fmt(root.value) + " " + flame.describe + (data.sample_rate_bytes ? " (sampled: estimates)" : "") + "."
        : "Zoomed into " + nameOf(zoom) + ": " + fmt(zoom.value) + " of " + fmt(root.value) + " (" + fmtPercent(zoom.value, root.value) + ").";
    updateMatch(root, flame, fmt);
  }

  function updateMatch(root, flame, fmt) {
    const query = state.search.toLowerCase();
    if (!query) {
      matchOut.textContent = "";
      delete matchOut.dataset.pct;
      delete matchOut.dataset.frames;
      return;
    }
    const m = matchedValue(root, query);
    const pct = root.value ? (m.value / root.value) * 100 : 0;
    matchOut.dataset.pct = pct.toFixed(1);
    matchOut.dataset.frames = String(m.frames);
    matchOut.dataset.value = String(m.value);
    matchOut.textContent =
      m.frames === 0
        ? "No frame matches “" + state.search + "”"
        : "Matched " + fmtPercent(m.value, root.value) + " of " + flame.describe + " (" + fmt(m.value) + ", " + m.frames + (m.frames === 1 ? " frame)" : " frames)");
  }

  flameBox.addEventListener("click", function (ev) {
    const node = ev.target.dataset && ev.target.dataset.i !== undefined ? flameBox.nodes[Number(ev.target.dataset.i)] : null;
    if (!node) return;
    const root = treeOf(state.metric);
    state.zoom = node === root ? null : { root, node };
    drawFlame();
  });
  flameBox.addEventListener("mousemove", function (ev) {
    const i = ev.target.dataset ? ev.target.dataset.i : undefined;
    if (i === undefined) return hideTip();
    const node = flameBox.nodes[Number(i)];
    const flame = flameOf(state.metric);
    const fmt = flame.is_bytes ? fmtBytes : fmtCount;
    const root = treeOf(state.metric);
    const rows = [[flame.describe + ":", fmt(node.value)], ["share of all:", fmtPercent(node.value, root.value)]];
    if (node.parent) rows.push(["share of caller:", fmtPercent(node.value, node.parent.value)]);
    rows.push(node.name < 0 ? "every stack" : ["kind:", ["your code", "library", "unknown"][data.kinds[node.name]]]);
    rows.push("click to zoom");
    showTip(ev, nameOf(node), rows);
  });
  flameBox.addEventListener("mouseleave", hideTip);
  resetButton.addEventListener("click", function () {
    state.zoom = null;
    drawFlame();
  });
  for (const b of metricButtons) {
    b.addEventListener("click", function () {
      state.metric = b.dataset.metric;
      state.zoom = null;
      drawFlame();
      saveHash();
    });
  }
  searchBox.addEventListener("input", function () {
    state.search = searchBox.value.trim();
    drawFlame();
    saveHash();
  });

  // ---- Heap over time -------------------------------------------------------

  function drawTimeline() {
    const box = document.getElementById("timeline");
    const tl = data.timeline;
    const pts = tl.points;
    box.dataset.points = String(pts.length);
    if (pts.length === 0) {
      message(
        box,
        tl.peak.bytes > 0
          ? "No heap timeline was recorded. The peak was " + fmtBytes(tl.peak.bytes) + " at " + fmtDuration(tl.peak.t_ns) + "."
          : "No heap timeline was recorded: the program allocated nothing while it was profiled."
      );
      return;
    }
    const W = box.clientWidth || 1000;
    const H = 280;
    const m = { l: 74, r: 18, t: 26, b: 30 };
    const iw = W - m.l - m.r;
    const ih = H - m.t - m.b;
    const tMax = Math.max(tl.duration_ns, pts[pts.length - 1][0], tl.peak.t_ns, 1);
    let yMax = tl.peak.bytes;
    for (const p of pts) yMax = Math.max(yMax, p[2]);
    yMax = Math.max(yMax * 1.12, 1);
    const x = (t) => m.l + (t / tMax) * iw;
    const y = (v) => m.t + ih - (v / yMax) * ih;
    const svg = svgEl("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Live heap over time" });
    const axis = svgEl("g", { class: "axis" });
    for (const [v, label] of ticks(yMax / 1.12, "bytes", 5)) {
      axis.append(svgEl("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
      axis.append(svgEl("text", { x: m.l - 8, y: y(v) + 4, "text-anchor": "end" }, label));
    }
    for (const [v, label] of ticks(tMax, "time", 8)) {
      if (x(v) > W - m.r + 1) continue;
      axis.append(svgEl("line", { x1: x(v), x2: x(v), y1: m.t + ih, y2: m.t + ih + 5 }));
      axis.append(svgEl("text", { x: x(v), y: H - 8, "text-anchor": "middle" }, label));
    }
    svg.append(axis);
    // From the start at zero, through every point, to the end.
    const first = "M" + x(0).toFixed(1) + "," + y(0).toFixed(1);
    let band = first;
    let line = first;
    for (const p of pts) {
      band += "L" + x(p[0]).toFixed(1) + "," + y(p[2]).toFixed(1);
      line += "L" + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1);
    }
    band += "L" + x(pts[pts.length - 1][0]).toFixed(1) + "," + y(0).toFixed(1) + "Z";
    svg.append(svgEl("path", { class: "tl-band", d: band }));
    svg.append(svgEl("path", { class: "tl-line", d: line }));
    // The peak: a dashed line, a dot and a label.
    const px = x(tl.peak.t_ns);
    const py = y(tl.peak.bytes);
    const peak = svgEl("g", { id: "peak-marker" });
    peak.append(svgEl("line", { class: "peak-line", x1: px, x2: px, y1: m.t + ih, y2: py }));
    peak.append(svgEl("circle", { class: "peak-dot", cx: px, cy: py, r: 5 }));
    const right = px < m.l + iw * 0.7;
    peak.append(
      svgEl("text", { id: "peak-label", class: "peak-label", x: right ? px + 9 : px - 9, y: Math.max(py - 8, 12), "text-anchor": right ? "start" : "end" }, tl.peak.label)
    );
    svg.append(peak);
    // Hover: the nearest point.
    const guide = svgEl("line", { class: "guide", y1: m.t, y2: m.t + ih, visibility: "hidden" });
    const dot = svgEl("circle", { class: "guide-dot", r: 4, visibility: "hidden" });
    svg.append(guide, dot);
    const hover = svgEl("rect", { x: m.l, y: m.t, width: iw, height: ih, fill: "transparent" });
    hover.addEventListener("mousemove", function (ev) {
      const r = svg.getBoundingClientRect();
      const t = ((ev.clientX - r.left - m.l) / iw) * tMax;
      let lo = 0;
      let hi = pts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pts[mid][0] < t) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0 && Math.abs(pts[lo - 1][0] - t) < Math.abs(pts[lo][0] - t)) lo -= 1;
      const p = pts[lo];
      guide.setAttribute("x1", x(p[0]));
      guide.setAttribute("x2", x(p[0]));
      dot.setAttribute("cx", x(p[0]));
      dot.setAttribute("cy", y(p[1]));
      guide.setAttribute("visibility", "visible");
      dot.setAttribute("visibility", "visible");
      showTip(ev, "at " + fmtDuration(p[0]), [
        ["live:", fmtBytes(p[1]) + " in " + fmtCount(p[3]) + " blocks"],
        ["most since previous point:", fmtBytes(p[2])],
        ["of peak:", fmtPercent(p[1], tl.peak.bytes)],
      ]);
    });
    hover.addEventListener("mouseleave", function () {
      guide.setAttribute("visibility", "hidden");
      dot.setAttribute("visibility", "hidden");
      hideTip();
    });
    svg.insertBefore(hover, guide);
    peak.addEventListener("mousemove", function (ev) {
      showTip(ev, "Peak", [["live:", fmtBytes(tl.peak.bytes) + " in " + fmtCount(tl.peak.blocks) + " blocks"], ["first reached at:", fmtDuration(tl.peak.t_ns)]]);
    });
    peak.addEventListener("mouseleave", hideTip);
    box.replaceChildren(svg);
  }

  // ---- Histograms -----------------------------------------------------------

  function drawHist(h) {
    const box = document.getElementById("hist-" + h.kind);
    const head = [el("h3", {}, h.title), el("div", { class: "sub" }, h.blocks ? h.total_label : "")];
    const bs = h.buckets;
    box.dataset.bars = "0";
    if (bs.length === 0) {
      const why = h.kind === "lifetime" ? "No block was freed: no lifetimes to show." : "No blocks were recorded.";
      box.replaceChildren(...head, el("p", { class: "empty" }, why));
      return;
    }
    const W = box.clientWidth || 360;
    const H = 210;
    const m = { l: 8, r: 8, t: 10, b: 40 };
    const iw = W - m.l - m.r;
    const ih = H - m.t - m.b;
    const max = Math.max(...bs.map((b) => b.blocks), 1);
    const bw = iw / bs.length;
    const svg = svgEl("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": h.title });
    const axis = svgEl("g", { class: "axis" });
    axis.append(svgEl("line", { x1: m.l, x2: W - m.r, y1: m.t + ih + 0.5, y2: m.t + ih + 0.5 }));
    const every = Math.max(1, Math.ceil(bs.length / Math.max(1, Math.floor(iw / 46))));
    let bars = 0;
    bs.forEach(function (b, i) {
      const g = svgEl("g", { class: "b" });
      const bh = b.blocks === 0 ? 0 : Math.max(2, (b.blocks / max) * ih);
      const x0 = m.l + i * bw;
      g.append(svgEl("rect", { class: "bar" + (b.blocks === 0 ? " zero" : ""), x: x0 + bw * 0.12, y: m.t + ih - bh, width: Math.max(bw * 0.76, 1), height: bh, rx: Math.min(3, bw * 0.2) }));
      g.append(svgEl("rect", { class: "hover", x: x0, y: m.t, width: bw, height: ih }));
      g.addEventListener("mousemove", function (ev) {
        showTip(ev, b.range, [["blocks:", fmtCount(b.blocks) + " (" + fmtPercent(b.blocks, h.blocks) + ")"], ["bytes:", fmtBytes(b.bytes)]]);
      });
      g.addEventListener("mouseleave", hideTip);
      svg.append(g);
      if (b.blocks > 0) bars += 1;
      if (i % every === 0) {
        const tx = x0 + bw / 2;
        axis.append(svgEl("text", { x: tx, y: m.t + ih + 14, "text-anchor": "end", transform: "rotate(-35 " + tx + " " + (m.t + ih + 14) + ")" }, b.tick));
      }
    });
    svg.append(axis);
    box.replaceChildren(...head, svg);
    box.dataset.bars = String(bars);
  }

  // ---- Tables ---------------------------------------------------------------

  function sortTable(table, col, dir) {
    const th = table.tHead.rows[0].cells[col];
    const numeric = th.dataset.sort === "num";
    const groups = Array.from(table.tBodies);
    const key = (g) => {
      const c = g.rows[0].cells[col];
      return numeric ? Number(c.dataset.v) : (c.dataset.v || c.textContent).toLowerCase();
    };
    groups.sort(function (a, b) {
      const ka = key(a);
      const kb = key(b);
      const c = ka < kb ? -1 : ka > kb ? 1 : 0;
      return dir === "ascending" ? c : -c;
    });
    for (const h of table.tHead.rows[0].cells) h.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir);
    table.append(...groups);
    table.dataset.sortedBy = th.textContent.toLowerCase();
  }

  function setUpTable(table) {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      const go = function () {
        const numeric = th.dataset.sort === "num";
        const now = th.getAttribute("aria-sort");
        const dir = now ? (now === "ascending" ? "descending" : "ascending") : numeric && col > 0 ? "descending" : "ascending";
        sortTable(table, col, dir);
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          go();
        }
      });
    });
    table.addEventListener("click", function (ev) {
      const row = ev.target.closest("tr.row");
      if (!row || ev.target.closest("a")) return;
      const stack = row.nextElementSibling;
      const open = stack.hidden;
      stack.hidden = !open;
      row.querySelector("button.expand").setAttribute("aria-expanded", String(open));
    });
  }

  // ---- Shareable state in the URL fragment: #metric=live&search=parse&sort=blocks

  function readHash() {
    const h = location.hash.slice(1);
    if (!h.includes("=")) return;
    const params = new URLSearchParams(h);
    const metric = params.get("metric");
    if (metric && data.flames.some((f) => f.metric === metric)) state.metric = metric;
    if (params.has("search")) state.search = params.get("search").trim();
    if (params.has("sort")) state.sort = params.get("sort").toLowerCase();
    searchBox.value = state.search;
    state.zoom = null;
  }

  function saveHash() {
    const params = new URLSearchParams();
    if (state.metric !== "bytes") params.set("metric", state.metric);
    if (state.search) params.set("search", state.search);
    const h = params.toString();
    history.replaceState(null, "", h ? "#" + h : location.pathname + location.search);
  }

  function applySort() {
    if (!state.sort) return;
    for (const table of document.querySelectorAll("table.sortable")) {
      const col = Array.from(table.tHead.rows[0].cells).findIndex((th) => th.textContent.toLowerCase() === state.sort);
      if (col >= 0) sortTable(table, col, "descending");
    }
  }

  // ---- Start ----------------------------------------------------------------

  readHash();
  guarded(flameBox, "flamegraph", drawFlame);
  guarded(document.getElementById("timeline"), "timeline", drawTimeline);
  for (const h of data.hists) guarded(document.getElementById("hist-" + h.kind), "histogram", () => drawHist(h));
  for (const t of document.querySelectorAll("table.sortable")) guarded(null, "table", () => setUpTable(t));
  guarded(null, "table", applySort);

  window.addEventListener("hashchange", function () {
    if (!location.hash.includes("=")) return;
    readHash();
    guarded(flameBox, "flamegraph", drawFlame);
    guarded(null, "table", applySort);
  });
  let resizeTimer = 0;
  let lastWidth = document.documentElement.clientWidth;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      if (document.documentElement.clientWidth === lastWidth) return;
      lastWidth = document.documentElement.clientWidth;
      guarded(flameBox, "flamegraph", drawFlame);
      guarded(document.getElementById("timeline"), "timeline", drawTimeline);
      for (const h of data.hists) guarded(document.getElementById("hist-" + h.kind), "histogram", () => drawHist(h));
    }, 120);
  });
  document.body.dataset.ready = "1";
})();
