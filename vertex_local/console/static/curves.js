// Training curves per epoch from metrics.json's "history" (trainer/export.py: one row per epoch with Keras' loss,
// accuracy, val_loss and val_accuracy), training and validation on one chart.

import { lineChart, units } from "./charts.js";
import { h } from "./dom.js";

const CURVES = [
  ["loss", "Loss per epoch", units("")],
  ["accuracy", "Accuracy per epoch", units(" %", 100)],
];

export function trainingCurves(metrics) {
  const rows = (metrics && Array.isArray(metrics.history) ? metrics.history : []).filter((row) => row && row.epoch);
  if (!rows.length) return h("p", { id: "no-curves" }, "metrics.json holds no per-epoch history.");
  const epochs = rows.map((row) => row.epoch);
  const column = (name) => rows.map((row) => (Number.isFinite(row[name]) ? row[name] : null));
  return h("div", { class: "charts curves" }, CURVES.map(([metric, title, unit]) => lineChart({
    title, metric, times: epochs, unit, live: false, timeLabel: (epoch) => `epoch ${epoch}`,
    series: [{ name: "training", values: column(metric) }, { name: "validation", values: column(`val_${metric}`) }],
  })));
}
