/* chaoskit HTML report: draws the charts as inline SVG from the embedded JSON data.
   No network access, no libraries. Each chart container gets data-rendered="true" and
   data-marks="<number of marks drawn>"; the body gets data-charts-rendered="<count>". */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 560, H = 260, M = { l: 56, r: 14, t: 12, b: 38 };
  var COLORS = { ok: "#2da44e", fail: "#cf222e", critical: "#cf222e", warning: "#bf8700",
                 info: "#0969da", passed: "#8c959f", bar: "#0969da" };

  function showError(msg) {
    var box = document.getElementById("chaoskit-errors");
    if (box) { box.textContent += msg + "\n"; }
  }
  window.addEventListener("error", function (e) { showError("error: " + e.message); });

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function text(parent, x, y, s, attrs) {
    var t = el("text", Object.assign({ x: x, y: y, "font-size": 11, fill: "#656d76" },
                                     attrs || {}), parent);
    t.textContent = s;
    return t;
  }
  function title(node, s) { el("title", {}, node).textContent = s; }
  function svg(container) {
    var s = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
                        "aria-label": container.getAttribute("aria-label") || "chart" });
    container.appendChild(s);
    return s;
  }
  function nice(max) {
    if (!(max > 0)) { return 1; }
    var step = Math.pow(10, Math.floor(Math.log10(max))) / 2;
    return Math.ceil(max / step - 1e-9) * step;
  }
  function fmt(v) {
    if (v === 0) { return "0"; }
    if (Math.abs(v) >= 1000) { return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + "k"; }
    if (Math.abs(v) >= 10) { return v.toFixed(0); }
    return String(parseFloat(v.toPrecision(2)));  /* two significant digits: 0.0025, 1.8 */
  }
  function axes(s, xmax, ymax, xlabel, ylabel, xmin) {
    xmin = xmin || 0;
    var pw = W - M.l - M.r, ph = H - M.t - M.b, i;
    for (i = 0; i <= 4; i++) {
      var y = M.t + ph - (ph * i) / 4;
      el("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: "#eaeef2" }, s);
      text(s, M.l - 6, y + 4, fmt((ymax * i) / 4), { "text-anchor": "end" });
    }
    for (i = 0; i <= 4; i++) {
      var x = M.l + (pw * i) / 4;
      text(s, x, H - M.b + 15, fmt(xmin + ((xmax - xmin) * i) / 4), { "text-anchor": "middle" });
    }
    el("line", { x1: M.l, x2: W - M.r, y1: M.t + ph, y2: M.t + ph, stroke: "#8c959f" }, s);
    text(s, M.l + pw / 2, H - 6, xlabel, { "text-anchor": "middle" });
    text(s, 12, M.t + ph / 2, ylabel,
         { "text-anchor": "middle", transform: "rotate(-90 12 " + (M.t + ph / 2) + ")" });
    return { pw: pw, ph: ph };
  }
  function empty(container, msg) {
    var d = document.createElement("div");
    d.className = "empty";
    d.textContent = msg;
    container.appendChild(d);
    return 0;
  }

  function timeline(container, pts) {
    if (!pts.length) { return empty(container, "no iterations recorded"); }
    var s = svg(container), xmax = 0, ymax = 0, marks = 0;
    pts.forEach(function (p) { xmax = Math.max(xmax, p[0]); ymax = Math.max(ymax, p[1]); });
    xmax = nice(xmax); ymax = nice(ymax);
    var a = axes(s, xmax, ymax, "time since start (s)", "iteration duration (ms)");
    pts.forEach(function (p) {
      var x = M.l + (p[0] / xmax) * a.pw, y = M.t + a.ph - (p[1] / ymax) * a.ph, node;
      if (p[2]) {
        node = el("circle", { cx: x, cy: y, r: 2.2, fill: COLORS.ok, "fill-opacity": 0.55,
                              "class": "mark ok" }, s);
      } else {
        node = el("path", { d: "M" + (x - 4) + " " + (y - 4) + "l8 8m0 -8l-8 8",
                            stroke: COLORS.fail, "stroke-width": 2, "class": "mark fail" }, s);
      }
      title(node, "iteration " + p[3] + ": " + p[1].toFixed(2) + " ms" + (p[2] ? "" : " (failed)"));
      marks++;
    });
    return marks;
  }

  function histogram(container, h) {
    if (!h.counts.length) { return empty(container, "no durations recorded"); }
    var s = svg(container), marks = 0, i, ymax = 0;
    for (i = 0; i < h.counts.length; i++) { ymax = Math.max(ymax, h.counts[i]); }
    var xmax = h.edges[h.edges.length - 1], xmin = h.edges[0];
    ymax = nice(ymax);
    var a = axes(s, xmax, ymax, "iteration duration (ms)", "iterations", xmin);
    var bw = a.pw / h.counts.length;
    for (i = 0; i < h.counts.length; i++) {
      var ok = h.counts[i] - h.failed[i], x = M.l + i * bw;
      var hOk = (ok / ymax) * a.ph, hFail = (h.failed[i] / ymax) * a.ph;
      var r1 = el("rect", { x: x + 1, y: M.t + a.ph - hOk, width: Math.max(bw - 2, 1),
                            height: hOk, fill: COLORS.ok, "class": "mark" }, s);
      title(r1, fmt(h.edges[i]) + "-" + fmt(h.edges[i + 1]) + " ms: " + h.counts[i] +
                " iteration(s), " + h.failed[i] + " failed");
      if (h.failed[i]) {
        el("rect", { x: x + 1, y: M.t + a.ph - hOk - hFail, width: Math.max(bw - 2, 1),
                     height: hFail, fill: COLORS.fail, "class": "mark" }, s);
      }
      marks++;
    }
    return marks;
  }

  function bars(container, rows, colorOf, unit) {
    if (!rows.length) { return empty(container, "nothing to show"); }
    var rowH = 24, height = Math.max(rows.length * rowH + 24, 60);
    var s = el("svg", { viewBox: "0 0 " + W + " " + height, role: "img" });
    container.appendChild(s);
    var max = 0, left = 170, pw = W - left - 60;
    rows.forEach(function (r) { max = Math.max(max, r.value); });
    max = max || 1;
    rows.forEach(function (r, i) {
      var y = 8 + i * rowH, w = Math.max((r.value / max) * pw, r.value ? 2 : 0);
      text(s, left - 8, y + 15, r.label.length > 26 ? r.label.slice(0, 25) + "\u2026" : r.label,
           { "text-anchor": "end", fill: "#1f2328" });
      var b = el("rect", { x: left, y: y + 3, width: w, height: rowH - 8,
                           fill: colorOf(r), rx: 2, "class": "mark" }, s);
      title(b, r.label + ": " + r.value + " " + unit);
      text(s, left + w + 6, y + 15, String(r.value), {});
    });
    return rows.length;
  }

  var data = JSON.parse(document.getElementById("chaoskit-data").textContent);
  var charts = [
    ["chart-timeline", function (c) { return timeline(c, data.iterations); }],
    ["chart-durations", function (c) { return histogram(c, data.histogram); }],
    ["chart-validators", function (c) {
      return bars(c, data.validators.map(function (v) {
        return { label: v.name, value: v.violations, severity: v.passed ? "passed" : v.severity };
      }), function (r) { return COLORS[r.severity] || COLORS.bar; }, "violation(s)");
    }],
    ["chart-faults", function (c) {
      return bars(c, data.faults.map(function (f) {
        return { label: f.fault, value: f.failures };
      }), function () { return COLORS.fail; }, "failed iteration(s)");
    }]
  ];
  var rendered = 0;
  charts.forEach(function (entry) {
    var node = document.getElementById(entry[0]);
    if (!node) { showError("missing chart container " + entry[0]); return; }
    try {
      var marks = entry[1](node);
      node.setAttribute("data-rendered", "true");
      node.setAttribute("data-marks", String(marks));
      rendered++;
    } catch (e) {
      showError(entry[0] + ": " + e);
      throw e;
    }
  });
  document.body.setAttribute("data-charts-rendered", String(rendered));
})();
