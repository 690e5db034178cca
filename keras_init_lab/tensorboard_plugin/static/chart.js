// A small SVG line chart: per-layer values against the layer index, linear or log10 y axis.
// Shared by the "gradient flow" TensorBoard plugin (served as a module) and the explorable
// page of `keras-init-lab explore` (inlined into its one HTML file). No dependency, no
// network: every element is built with the DOM API.
//
// drawChart(svg, spec) where spec = {
//   width, height, xLabel, yLabel, scale: "log" | "linear",
//   xMax: largest layer index (x runs from 1 to xMax),
//   yDomain: optional [low, high] (else from the points; log: whole decades),
//   series: [{key, label, colour, dashed, points: [{x, y, title, attrs}]}],
//   bands: [{y0, y1, colour, key}]   (horizontal bands across the chart),
// }
// Points with y null (or <= 0 on a log axis) are not drawn and break the line.
// Each point is a <circle class="point"> carrying the given data-* attributes and a <title>
// (the browser's hover label); each line is a <path class="line" data-series=key>.

const SVG = "http://www.w3.org/2000/svg"; // the SVG namespace: a name, never fetched

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

// Round numbers for tick labels: 1e-3, 0.02, 150.
export function formatNumber(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) {
    const [mantissa, exponent] = value.toExponential(1).split("e");
    const m = mantissa.replace(/\.0$/, "");
    return `${m}e${Number(exponent)}`;
  }
  return String(Number(value.toPrecision(3)));
}

function linearTicks(low, high, count) {
  const span = high - low || 1;
  const raw = span / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw) || 10 * power;
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}

function domainOf(spec) {
  if (spec.yDomain) return spec.yDomain;
  const log = spec.scale === "log";
  const ys = [];
  for (const series of spec.series) {
    for (const p of series.points) {
      if (p.y !== null && Number.isFinite(p.y) && (!log || p.y > 0)) ys.push(p.y);
    }
  }
  for (const band of spec.bands || []) {
    for (const y of [band.y0, band.y1]) if (Number.isFinite(y) && (!log || y > 0)) ys.push(y);
  }
  if (!ys.length) return log ? [1e-3, 1] : [0, 1];
  let low = Math.min(...ys);
  let high = Math.max(...ys);
  if (log) {
    low = Math.pow(10, Math.floor(Math.log10(low)));
    high = Math.pow(10, Math.ceil(Math.log10(high)));
    if (high <= low) high = low * 10;
    return [low, high];
  }
  if (high === low) {
    high = low + 1;
  }
  const pad = (high - low) * 0.05;
  return [low - pad, high + pad];
}

export function drawChart(svg, spec) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const width = spec.width || 760;
  const height = spec.height || 380;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const margin = { left: 70, right: 16, top: 12, bottom: 46 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const log = spec.scale === "log";
  const [low, high] = domainOf(spec);
  const xMax = Math.max(spec.xMax || 1, 1);
  const x = (i) => margin.left + (xMax === 1 ? plotW / 2 : ((i - 1) / (xMax - 1)) * plotW);
  const yScale = (v) => {
    const t = log
      ? (Math.log10(v) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))
      : (v - low) / (high - low);
    return margin.top + (1 - t) * plotH;
  };
  const clampY = (v) => Math.min(margin.top + plotH, Math.max(margin.top, yScale(v)));
  svg.dataset.yLow = String(low);
  svg.dataset.yHigh = String(high);
  svg.dataset.scale = log ? "log" : "linear";

  const axes = el("g", { class: "axes", "font-size": 11, fill: "#333" }, svg);
  el("rect", { x: margin.left, y: margin.top, width: plotW, height: plotH, fill: "#fff",
    stroke: "#bbb" }, axes);
  // y ticks: powers of ten (log) or round numbers (linear)
  let yTicks;
  if (log) {
    yTicks = [];
    const first = Math.round(Math.log10(low));
    const last = Math.round(Math.log10(high));
    const stride = Math.max(1, Math.ceil((last - first) / 8));
    for (let e = first; e <= last; e += stride) yTicks.push(Math.pow(10, e));
  } else {
    yTicks = linearTicks(low, high, 6);
  }
  for (const v of yTicks) {
    const y = yScale(v);
    el("line", { x1: margin.left, x2: margin.left + plotW, y1: y, y2: y, stroke: "#eee" }, axes);
    const label = el("text", { x: margin.left - 6, y: y + 4, "text-anchor": "end" }, axes);
    label.textContent = formatNumber(v);
  }
  // x ticks: layer indices, thinned to at most ~20 labels
  const xStride = Math.max(1, Math.ceil(xMax / 20));
  for (let i = 1; i <= xMax; i += xStride) {
    const label = el("text", { x: x(i), y: margin.top + plotH + 16, "text-anchor": "middle" },
      axes);
    label.textContent = String(i);
  }
  const xLabel = el("text", { x: margin.left + plotW / 2, y: height - 8,
    "text-anchor": "middle" }, axes);
  xLabel.textContent = spec.xLabel || "layer index (input \u2192 output)";
  const yLabel = el("text", { x: 14, y: margin.top + plotH / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${margin.top + plotH / 2})` }, axes);
  yLabel.textContent = spec.yLabel || "";

  const bands = el("g", { class: "bands" }, svg);
  for (const band of spec.bands || []) {
    if (!Number.isFinite(band.y0) || !Number.isFinite(band.y1)) continue;
    if (log && (band.y0 <= 0 || band.y1 <= 0)) continue;
    const y0 = clampY(band.y1);
    const y1 = clampY(band.y0);
    el("rect", { class: "band", "data-series": band.key, x: margin.left, y: y0, width: plotW,
      height: Math.max(0, y1 - y0), fill: band.colour, "fill-opacity": 0.07, stroke: band.colour,
      "stroke-opacity": 0.5, "stroke-dasharray": "4 3", "data-y0": band.y0,
      "data-y1": band.y1 }, bands);
  }

  const lines = el("g", { class: "lines" }, svg);
  for (const series of spec.series) {
    let d = "";
    let pen = false;
    let drawn = 0;
    for (const p of series.points) {
      const ok = p.y !== null && Number.isFinite(p.y) && (!log || p.y > 0);
      if (!ok) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${x(p.x).toFixed(2)},${clampY(p.y).toFixed(2)}`;
      pen = true;
      drawn += 1;
    }
    el("path", { class: "line", "data-series": series.key, "data-points": drawn, d,
      fill: "none", stroke: series.colour, "stroke-width": 2,
      "stroke-dasharray": series.dashed ? "6 4" : "none" }, lines);
    const group = el("g", { class: "points", "data-series": series.key }, lines);
    for (const p of series.points) {
      const ok = p.y !== null && Number.isFinite(p.y) && (!log || p.y > 0);
      if (!ok) continue;
      const dot = el("circle", { class: "point", cx: x(p.x).toFixed(2),
        cy: clampY(p.y).toFixed(2), r: series.dashed ? 2.5 : 3.5, fill: series.colour },
        group);
      for (const [key, value] of Object.entries(p.attrs || {})) {
        dot.setAttribute(`data-${key}`, String(value));
      }
      if (p.title) el("title", {}, dot).textContent = p.title;
    }
  }
  return { x, y: yScale, low, high };
}
