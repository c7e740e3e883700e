// Line charts as plain SVG: one line per deployed model, the latest and peak values written out beside them.

import { h, svg } from "./dom.js";

const COLORS = ["#1a73e8", "#c5221f", "#188038", "#b06000", "#9334e6", "#007b83"];
const DASHES = [null, "7 4", "2 3", "9 3 2 3"]; // a second cue besides colour
const WIDTH = 640;
const HEIGHT = 170;
const PAD = { left: 54, right: 10, top: 10, bottom: 22 };

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= value);
}

export function seriesStyle(index) {
  return { color: COLORS[index % COLORS.length], dash: DASHES[Math.floor(index / COLORS.length) % DASHES.length] };
}

function clock(seconds, span) {
  const date = new Date(seconds * 1000);
  const options = span > 86400 ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" };
  return date.toLocaleString([], options);
}

function linePath(values, x, y) {
  let path = "";
  let open = false;
  values.forEach((value, index) => {
    if (value === null || !Number.isFinite(value)) {
      open = false;
      return;
    }
    path += `${open ? "L" : "M"}${x(index).toFixed(1)} ${y(value).toFixed(1)}`;
    open = true;
  });
  return path;
}

function isolated(values) {
  return values.flatMap((value, index) => {
    const alone = value !== null && values[index - 1] == null && values[index + 1] == null;
    return alone ? [index] : [];
  });
}

function summary(values) {
  const known = values.filter((value) => value !== null && Number.isFinite(value));
  if (!known.length) return { latest: null, peak: null };
  return { latest: known[known.length - 1], peak: Math.max(...known) };
}

export function swatch(index) {
  const style = seriesStyle(index);
  return svg("svg", { class: "swatch", viewBox: "0 0 24 8", "aria-hidden": "true" },
    svg("line", { x1: 0, x2: 24, y1: 4, y2: 4, stroke: style.color, "stroke-width": 3, "stroke-dasharray": style.dash }));
}

// A figure as people read it: three significant digits at most (12.5, 0.042, 1,250), never rounded to a lie.
export function figure(value) {
  if (value === 0) return "0";
  const size = Math.abs(value);
  if (size >= 100) return Math.round(value).toLocaleString("en-US");
  return String(Number(value.toPrecision(3)));
}

// One unit for every label of a chart: the axis labels share their decimals (0.0/s, 12.5/s, 25.0/s).
export function units(unit, scale = 1) {
  const text = (digits) => (v) => `${digits === null ? figure(v * scale) : (v * scale).toFixed(digits)}${unit}`;
  return { value: text(null), axis: (step) => text(decimalsOf(step * scale)) };
}

function decimalsOf(step) {
  return [0, 1, 2, 3].find((digits) => Math.abs(Math.round(step * 10 ** digits) - step * 10 ** digits) < 1e-6) ?? 3;
}

const TICKS = 5; // time labels along the bottom, evenly spaced, the last one "now" for live charts

function chartWidth() {
  return window.innerWidth < 600 ? 360 : WIDTH; // on a phone the drawing is about as wide as the screen: text stays ~12 px
}

function readoutText(series, times, index, unit, timeLabel) {
  const values = series.map((s) => `${s.name} ${s.values[index] === null ? "—" : unit.value(s.values[index])}`);
  return `${timeLabel(times[index], index)}: ${values.join(", ")}`;
}

// metric: the series' column name; series: [{ name, values }]; unit: units(...); timeLabel(t, index) -> text;
// live: the last slot is the current one ("now").
export function lineChart({ title, metric, times, series, unit, timeLabel = null, live = true }) {
  const width = chartWidth();
  const known = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
  const top = niceMax(Math.max(0, ...known));
  const last = Math.max(1, times.length - 1);
  const x = (i) => PAD.left + (i / last) * (width - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const span = times.length ? times[times.length - 1] - times[0] : 0;
  const label = timeLabel || ((t, index) => (live && index === times.length - 1 ? "now" : clock(t, span)));
  const axisText = unit.axis(top / 2);
  const grid = [0, top / 2, top].map((value) => [
    svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y(value), y2: y(value), class: "grid" }),
    svg("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end", class: "y-tick" }, axisText(value)),
  ]);
  const ticks = times.length < 2 ? [] : Array.from({ length: TICKS }, (_, k) => Math.round((k * last) / (TICKS - 1)))
    .filter((index, k, all) => all.indexOf(index) === k);
  const axis = ticks.map((index, k) => svg("text", { x: x(index), y: HEIGHT - 6, class: "x-tick",
    "text-anchor": k === 0 ? "start" : k === ticks.length - 1 ? "end" : "middle" }, label(times[index], index)));
  const lines = series.map((s, index) => {
    const style = seriesStyle(index);
    return svg("g", { stroke: style.color, fill: style.color },
      svg("path", { d: linePath(s.values, x, y), fill: "none", "stroke-width": 2, "stroke-dasharray": style.dash }),
      isolated(s.values).map((i) => svg("circle", { cx: x(i), cy: y(s.values[i]), r: 2.5, stroke: "none" })));
  });
  const facts = series.map((s) => ({ name: s.name, now: s.values.length ? s.values[s.values.length - 1] : null,
    peak: summary(s.values).peak }));
  const shown = (value) => (value === null || value === undefined ? "—" : unit.value(value));
  const described = facts.map((f) => `${f.name}: ${live ? "now" : "last"} ${shown(f.now)}, peak ${shown(f.peak)}`)
    .join("; ");
  const cursor = svg("line", { class: "cursor", y1: PAD.top, y2: HEIGHT - PAD.bottom, x1: -10, x2: -10 });
  const readout = h("p", { class: "readout muted", "aria-hidden": "true" }, "\u00a0");
  const drawing = svg("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, role: "img",
    "aria-label": `${title}. ${described || "No requests in this window."}` }, grid, axis, lines, cursor);
  const hover = (event) => {
    const box = drawing.getBoundingClientRect();
    const at = ((event.clientX - box.left) / box.width) * width;
    const index = Math.max(0, Math.min(times.length - 1, Math.round(((at - PAD.left) / (width - PAD.left - PAD.right)) * last)));
    if (!times.length) return;
    cursor.setAttribute("x1", x(index));
    cursor.setAttribute("x2", x(index));
    readout.textContent = readoutText(series, times, index, unit, label);
  };
  drawing.addEventListener("pointermove", hover);
  drawing.addEventListener("pointerleave", () => {
    cursor.setAttribute("x1", -10);
    cursor.setAttribute("x2", -10);
    readout.textContent = "\u00a0";
  });
  return h("figure", { class: "chart", "data-metric": metric },
    h("figcaption", {}, title),
    drawing, readout,
    h("ul", { class: "legend" }, facts.length ? facts.map((f, index) => h("li", {
      "data-series": f.name, "data-latest": f.now ?? "", "data-peak": f.peak ?? "",
    }, swatch(index), `${f.name}: ${live ? "now" : "last"} ${shown(f.now)}, peak ${shown(f.peak)}`)) :
      h("li", {}, "No requests in this window.")));
}
