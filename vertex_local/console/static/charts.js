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

// metric: the series' column name; series: [{ name, values }]; format(value) -> text with its unit.
export function lineChart({ title, metric, times, series, format }) {
  const known = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
  const top = niceMax(Math.max(0, ...known));
  const x = (i) => PAD.left + (i / Math.max(1, times.length - 1)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const span = times.length ? times[times.length - 1] - times[0] : 0;
  const grid = [0, top / 2, top].map((value) => [
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: "grid" }),
    svg("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, format(value)),
  ]);
  const axis = times.length
    ? [
        svg("text", { x: PAD.left, y: HEIGHT - 6 }, clock(times[0], span)),
        svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end" }, clock(times[times.length - 1], span)),
      ]
    : [];
  const lines = series.map((s, index) => {
    const style = seriesStyle(index);
    return svg("g", { stroke: style.color, fill: style.color },
      svg("path", { d: linePath(s.values, x, y), fill: "none", "stroke-width": 2, "stroke-dasharray": style.dash }),
      isolated(s.values).map((i) => svg("circle", { cx: x(i), cy: y(s.values[i]), r: 2.5, stroke: "none" })));
  });
  const facts = series.map((s) => ({ name: s.name, ...summary(s.values) }));
  const described = facts.map((f) => `${f.name}: latest ${f.latest === null ? "none" : format(f.latest)}, ` +
    `peak ${f.peak === null ? "none" : format(f.peak)}`).join("; ");
  const label = `${title}. ${described || "No requests in this window."}`;
  return h("figure", { class: "chart", "data-metric": metric },
    h("figcaption", {}, title),
    svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label }, grid, axis, lines),
    h("ul", { class: "legend" }, facts.length ? facts.map((f, index) => h("li", {
      "data-series": f.name, "data-latest": f.latest ?? "", "data-peak": f.peak ?? "",
    }, swatch(index), `${f.name}: now `,
    f.latest === null ? "—" : format(f.latest), ", peak ", f.peak === null ? "—" : format(f.peak))) :
      h("li", {}, "No requests in this window.")));
}
