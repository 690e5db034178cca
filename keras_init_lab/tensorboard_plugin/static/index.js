// The "gradient flow" tab: one per-layer statistic against the layer index, one line per
// run, at the step chosen with the slider (or played through). Data from this plugin's own
// routes (./statistics, ./profiles); nothing else is fetched.
import { drawChart, formatNumber } from "./static/chart.js";

const STYLE = `
body { font-family: Roboto, Arial, sans-serif; font-size: 13px; color: #212121; margin: 12px; }
h1 { font-size: 16px; font-weight: 500; margin: 0 0 8px; }
.controls { display: flex; flex-wrap: wrap; gap: 12px 20px; align-items: center; margin: 6px 0; }
.runs label { margin-right: 12px; white-space: nowrap; }
.swatch { display: inline-block; width: 18px; height: 3px; vertical-align: middle;
  margin-right: 4px; }
#gf-step { width: 320px; vertical-align: middle; }
.legend { margin: 6px 0; }
.legend div { margin: 2px 0; }
.verdict { padding: 1px 6px; border-radius: 3px; color: #fff; font-weight: 500; }
.note { color: #555; max-width: 900px; }
#gf-hover { min-height: 1.4em; color: #333; }
button { font-size: 13px; }
`;

const state = {
  statistics: null, // body of ./statistics
  stat: null, // selected statistic key
  profiles: {}, // run -> profile of the selected statistic
  selected: new Set(), // selected runs
  steps: [], // union of the selected runs' steps
  stepIndex: 0,
  timer: null,
};

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.appendChild(child);
  return node;
}

async function getJson(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function statistic() {
  return state.statistics.statistics.find((s) => s.key === state.stat);
}

function runColour(run) {
  const runs = Object.keys(state.profiles).sort();
  const colours = state.statistics.run_colours;
  return colours[runs.indexOf(run) % colours.length];
}

// Index of the last record of `profile` at or before `step` (-1: none yet).
function recordAt(profile, step) {
  let found = -1;
  profile.steps.forEach((s, i) => {
    if (s <= step) found = i;
  });
  return found;
}

function changeText(change, anchor) {
  const path = anchor === "first" ? "from the input to the output" : "from the output to the input";
  return change === null ? "no end-to-end change (a layer has no value)"
    : `x${formatNumber(change)} ${path}`;
}

function draw() {
  const stat = statistic();
  const svg = document.getElementById("gf-chart");
  const legend = document.getElementById("gf-legend");
  legend.textContent = "";
  const step = state.steps[state.stepIndex];
  document.getElementById("gf-step-label").textContent =
    step === undefined ? "no step" : `step ${step} (${state.stepIndex + 1} of ${state.steps.length})`;
  const series = [];
  const bands = [];
  let xMax = 1;
  let allY = [];
  const facts = state.statistics.verdicts;
  for (const run of Object.keys(state.profiles).sort()) {
    if (!state.selected.has(run)) continue;
    const profile = state.profiles[run];
    for (const row of profile.values) allY = allY.concat(row.filter((v) => v !== null));
    xMax = Math.max(xMax, profile.layers.length);
    const colour = runColour(run);
    const index = step === undefined ? -1 : recordAt(profile, step);
    const line = h("div", {}, h("span", { class: "swatch", style: `background:${colour}` }));
    line.appendChild(document.createTextNode(`${run}: `));
    if (index < 0) {
      line.appendChild(document.createTextNode(`no record at or before step ${step}`));
      legend.appendChild(line);
      continue;
    }
    const row = profile.values[index];
    const recordStep = profile.steps[index];
    series.push({
      key: run,
      label: run,
      colour,
      points: row.map((value, i) => ({
        x: i + 1,
        y: value,
        title: `${run}\nlayer ${i + 1}: ${profile.layers[i]}\n${stat.label} = ${
          value === null ? "no value" : formatNumber(value)}\nstep ${recordStep}`,
        attrs: { run, layer: profile.layers[i], index: i + 1, step: recordStep,
          value: value === null ? "null" : value },
      })),
    });
    const anchorValue = stat.anchor === "first" ? row[0] : row[row.length - 1];
    if (stat.anchor && anchorValue !== null) {
      const factor = facts.stable_factor;
      bands.push(stat.log10_values
        ? { key: run, colour, y0: anchorValue - Math.log10(factor), y1: anchorValue + Math.log10(factor) }
        : { key: run, colour, y0: anchorValue / factor, y1: anchorValue * factor });
    }
    line.appendChild(document.createTextNode(`step ${recordStep}, ${profile.layers.length} layers`));
    const verdict = profile.verdict[index];
    if (verdict) {
      line.appendChild(document.createTextNode(`; ${changeText(profile.change[index], stat.anchor)} `));
      line.appendChild(h("span", { class: "verdict", "data-run": run,
        style: `background:${facts.colours[verdict]}`, text: verdict }));
    }
    const order = profile.order.source === "names"
      ? " (layer order guessed from the names: no layout names these layers)"
      : profile.order.source === "sibling_layout"
        ? ` (layer order from the layout of ${profile.order.run})` : "";
    line.appendChild(document.createTextNode(order));
    legend.appendChild(line);
  }
  // One y range for every step of the selected runs: the axis stays put while playing.
  let yDomain;
  const positive = allY.filter((v) => v > 0);
  if (stat.scale === "log" && positive.length) {
    const bandLow = bands.length ? Math.min(...bands.map((b) => b.y0)) : Infinity;
    const bandHigh = bands.length ? Math.max(...bands.map((b) => b.y1)) : 0;
    yDomain = [
      Math.pow(10, Math.floor(Math.log10(Math.min(...positive, bandLow)))),
      Math.pow(10, Math.ceil(Math.log10(Math.max(...positive, bandHigh)))),
    ];
    if (yDomain[1] <= yDomain[0]) yDomain[1] = yDomain[0] * 10;
  }
  drawChart(svg, {
    width: 820,
    height: 400,
    scale: stat.scale,
    xMax,
    yDomain,
    yLabel: stat.label,
    series,
    bands,
  });
  svg.dataset.step = step === undefined ? "" : String(step);
  svg.dataset.statistic = stat.key;
}

function updateSteps() {
  const steps = new Set();
  for (const run of state.selected) {
    for (const s of (state.profiles[run] || { steps: [] }).steps) steps.add(s);
  }
  state.steps = Array.from(steps).sort((a, b) => a - b);
  const slider = document.getElementById("gf-step");
  slider.max = String(Math.max(0, state.steps.length - 1));
  state.stepIndex = Math.min(state.stepIndex, Math.max(0, state.steps.length - 1));
  slider.value = String(state.stepIndex);
}

function buildRunBoxes() {
  const box = document.getElementById("gf-runs");
  box.textContent = "";
  for (const run of Object.keys(state.profiles).sort()) {
    const input = h("input", { type: "checkbox", "data-run": run });
    input.checked = state.selected.has(run);
    input.addEventListener("change", () => {
      if (input.checked) state.selected.add(run);
      else state.selected.delete(run);
      updateSteps();
      draw();
    });
    box.appendChild(h("label", {}, input,
      h("span", { class: "swatch", style: `background:${runColour(run)}` }),
      document.createTextNode(run)));
  }
}

async function loadStatistic() {
  const stat = statistic();
  const body = await getJson(`./profiles?stat=${encodeURIComponent(stat.key)}`);
  state.profiles = body.runs;
  const runs = Object.keys(state.profiles);
  const known = runs.filter((r) => state.selected.has(r));
  state.selected = new Set(known.length ? known : runs);
  const v = state.statistics.verdicts;
  document.getElementById("gf-meaning").textContent = stat.meaning + (stat.anchor
    ? ` Band: x${v.stable_factor} either way of the ${stat.anchor} layer, where the signal ` +
      "starts. Verdict on the end-to-end change of the plotted quantity, in the words and " +
      `thresholds of keras-init-lab propagate: stable within x${v.stable_factor} either way, ` +
      `decaying / growing from x${v.stable_factor} to x${v.extreme_factor}, vanishing / ` +
      `exploding beyond x${v.extreme_factor}.`
    : "");
  buildRunBoxes();
  state.stepIndex = Number.MAX_SAFE_INTEGER;
  updateSteps();
  draw();
}

function play() {
  const button = document.getElementById("gf-play");
  if (state.timer) {
    clearInterval(state.timer);
    state.timer = null;
    button.textContent = "play";
    return;
  }
  if (state.stepIndex >= state.steps.length - 1) state.stepIndex = 0;
  button.textContent = "pause";
  state.timer = setInterval(() => {
    if (state.stepIndex >= state.steps.length - 1) {
      play();
      return;
    }
    state.stepIndex += 1;
    document.getElementById("gf-step").value = String(state.stepIndex);
    draw();
  }, 700);
}

export async function render() {
  document.head.appendChild(h("style", { text: STYLE }));
  const root = h("div", { id: "gf-root" });
  document.body.appendChild(root);
  root.appendChild(h("h1", { text: "Gradient flow: per-layer statistics against depth" }));
  const select = h("select", { id: "gf-stat" });
  const slider = h("input", { id: "gf-step", type: "range", min: "0", max: "0", value: "0",
    step: "1" });
  const playButton = h("button", { id: "gf-play", text: "play" });
  const reload = h("button", { id: "gf-reload", text: "reload" });
  root.appendChild(h("div", { class: "controls" },
    h("label", { text: "statistic " }, select),
    h("span", {}, h("label", { text: "step " }, slider), h("span", { id: "gf-step-label" })),
    playButton, reload));
  root.appendChild(h("div", { class: "controls runs", id: "gf-runs" }));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.id = "gf-chart";
  root.appendChild(svg);
  root.appendChild(h("div", { id: "gf-hover" }));
  root.appendChild(h("div", { class: "legend", id: "gf-legend" }));
  root.appendChild(h("p", { class: "note", id: "gf-meaning" }));
  root.appendChild(h("p", { class: "note", text:
    "Layers from the input (1) to the output; hover a point for the layer's name. Runs: " +
    "every run with the statistic's tags (GradientStats writes gradient norms and update " +
    "ratios to <run>/train, ActivationStats the activation statistics to <run>/activations)." }));

  svg.addEventListener("mouseover", (event) => {
    const point = event.target.closest ? event.target.closest("circle.point") : null;
    if (!point) return;
    document.getElementById("gf-hover").textContent =
      `${point.dataset.run}: layer ${point.dataset.index} ${point.dataset.layer} = ` +
      `${point.dataset.value === "null" ? "no value" : formatNumber(Number(point.dataset.value))}` +
      ` at step ${point.dataset.step}`;
  });
  slider.addEventListener("input", () => {
    state.stepIndex = Number(slider.value);
    draw();
  });
  playButton.addEventListener("click", play);
  select.addEventListener("change", async () => {
    state.stat = select.value;
    await loadStatistic();
  });
  reload.addEventListener("click", async () => {
    await start(select);
  });
  await start(select);
}

async function start(select) {
  try {
    state.statistics = await getJson("./statistics");
  } catch (error) {
    document.getElementById("gf-legend").textContent = `Could not load the statistics: ${error}`;
    return;
  }
  const available = state.statistics.statistics.filter((s) => s.runs.length);
  select.textContent = "";
  for (const s of available) select.appendChild(h("option", { value: s.key, text: s.label }));
  if (!available.length) {
    document.getElementById("gf-legend").textContent =
      "No run holds per-layer statistics yet: train with keras_init_lab.callbacks.GradientStats" +
      "(log_dir=...) or ActivationStats(probe, log_dir=...).";
    return;
  }
  if (!available.some((s) => s.key === state.stat)) state.stat = available[0].key;
  select.value = state.stat;
  await loadStatistic();
  document.body.dataset.ready = "true";
}
