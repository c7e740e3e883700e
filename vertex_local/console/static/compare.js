// Compare versions: one sortable table of a model's versions, and two of them side by side (their figures, both
// confusion matrices, and the gate's paired verdict when the pipeline kept one beside the model).

import { gcsSize, getJson, readGcsJson, v1 } from "./api.js";
import { chips, facts, h, idOf, percent, time } from "./dom.js";
import { confusionMatrix, labels, metricsOf } from "./models.js";

const COLUMNS = [ // key, title, value(row) for sorting
  ["version", "Version", (r) => Number(r.version.versionId)],
  ["accuracy", "Accuracy", (r) => r.metrics?.accuracy ?? -1],
  ["lowest", "Lowest class accuracy", (r) => lowest(r.metrics)?.value ?? -1],
  ["size", "Size", (r) => r.size ?? -1],
  ["latency", "Model latency p50 (last hour)", (r) => r.latency ?? Infinity],
  ["sha", "Git SHA", (r) => r.metrics?.git_sha || r.version.labels?.git_sha || ""],
  ["created", "Created", (r) => r.version.versionCreateTime || ""],
];

function lowest(metrics) {
  const perClass = metrics?.per_class_accuracy;
  if (!Array.isArray(perClass) || !perClass.length) return null;
  const value = Math.min(...perClass);
  return { value, digit: perClass.indexOf(value) };
}

function megabytes(bytes) {
  return bytes === null || bytes === undefined ? "—" : `${(bytes / 1e6).toFixed(2)} MB`;
}

// The mean of a deployed model's p50 model latency over the last hour's slots that had requests, per endpoint.
async function latencies(versions) {
  const endpoints = [...new Set(versions.flatMap((v) => (v.deployedModels || []).map((d) => idOf(d.endpoint))))];
  const answers = await Promise.all(endpoints.map((id) => getJson(`/console/api/endpoints/${id}/metrics?window=1h`)
    .catch(() => ({ series: [] }))));
  const byDeployed = new Map();
  answers.flatMap((answer) => answer.series).forEach((s) => {
    const known = (s.modelP50Ms || []).filter((v) => v !== null);
    if (known.length) byDeployed.set(s.deployedModelId, known.reduce((a, b) => a + b, 0) / known.length);
  });
  return (version) => {
    const found = (version.deployedModels || []).map((d) => byDeployed.get(d.deployedModelId)).filter((v) => v !== undefined);
    return found.length ? Math.min(...found) : null;
  };
}

function sortedTable(ctx, modelId, rows, rerender) {
  const key = ctx.query.get("sort") || "version";
  const descending = ctx.query.get("order") !== "asc";
  const [, , value] = COLUMNS.find(([name]) => name === key) || COLUMNS[0];
  const ordered = [...rows].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
  });
  const header = COLUMNS.map(([name, title]) => h("th", { scope: "col",
    "aria-sort": name === key ? (descending ? "descending" : "ascending") : null },
  h("button", { type: "button", class: "sort", "data-sort": name, onclick: () => {
    ctx.setQuery({ sort: name, order: name === key && descending ? "asc" : "desc" });
    rerender();
  } }, title, name === key ? h("span", { "aria-hidden": "true" }, descending ? " ▼" : " ▲") : "")));
  return h("table", { class: "versions compare" },
    h("caption", {}, "Every version (press a column's title to sort by it)"),
    h("thead", {}, h("tr", {}, header, h("th", { scope: "col" }, "Aliases"))),
    h("tbody", {}, ordered.map((r) => {
      const low = lowest(r.metrics);
      return h("tr", { "data-version": r.version.versionId },
        h("th", { scope: "row" }, h("a", { href: `#/models/${modelId}/versions/${r.version.versionId}` },
          `Version ${r.version.versionId}`)),
        h("td", { class: "number" }, r.metrics ? percent(r.metrics.accuracy, 2) : "—"),
        h("td", { class: "number" }, low ? `${percent(low.value, 1)} (digit ${low.digit})` : "—"),
        h("td", { class: "number" }, megabytes(r.size)),
        h("td", { class: "number" }, r.latency === null ? "not served" : `${Number(r.latency.toPrecision(3))} ms`),
        h("td", {}, h("code", {}, r.metrics?.git_sha || r.version.labels?.git_sha || "—")),
        h("td", {}, time(r.version.versionCreateTime)),
        h("td", {}, chips(r.version.versionAliases || [], "alias")));
    })));
}

// gate.json kept beside a model dir (scripts/comparison/verdict_store.py: <run>/gate/gate.json), if it judged that model.
async function verdictFor(version) {
  const dir = String(version.artifactUri || "").replace(/\/+$/, "");
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  if (!parent.startsWith("gs://")) return null;
  const verdict = await readGcsJson(`${parent}/gate/gate.json`).catch(() => null);
  const judged = String(verdict?.candidate?.model_dir || "").replace(/\/+$/, "");
  return verdict && judged === dir ? verdict : null;
}

function gateBlock(verdict, version) {
  if (!verdict) return null;
  const comparison = verdict.comparison || {};
  return h("section", { class: "gate", "aria-labelledby": "gate-title" },
    h("h3", { id: "gate-title" }, `The gate's verdict on version ${version.versionId}`),
    facts([
      ["Passed", verdict.passed ? "yes" : "no"], ["Reason", verdict.reason],
      ["Candidate accuracy", percent(verdict.candidate?.accuracy, 2)],
      ["Production accuracy", verdict.production ? percent(verdict.production.accuracy, 2) : "—"],
      ["Paired test", comparison.test ? `${comparison.test}, p = ${Number(comparison.p_value).toPrecision(3)}` : "—"],
      ["Only production right", comparison.production_only_right], ["Only candidate right", comparison.candidate_only_right],
    ]));
}

function sideBySide(rows, a, b, verdicts) {
  const [left, right] = [a, b].map((id) => rows.find((r) => r.version.versionId === id));
  if (!left || !right) return h("p", {}, "Pick two versions to compare.");
  const column = (r) => {
    const m = r.metrics || {};
    return h("section", { class: "card", "data-side": r.version.versionId },
      h("h3", {}, `Version ${r.version.versionId}`), chips(r.version.versionAliases || [], "alias"),
      facts([["Accuracy", percent(m.accuracy, 2)], ["Loss", m.loss === undefined ? "—" : Number(m.loss).toFixed(4)],
        ["Size", megabytes(r.size)], ["Git SHA", h("code", {}, m.git_sha || "—")], ["Labels", labels(r.version.labels)],
        ["Epochs", (m.history || []).length || "—"]]),
      m.confusion_matrix ? confusionMatrix(m.confusion_matrix, `Version ${r.version.versionId}: rows true, columns predicted`)
        : h("p", {}, "No confusion matrix."));
  };
  const perClass = (left.metrics?.per_class_accuracy || []).map((value, digit) => {
    const other = (right.metrics?.per_class_accuracy || [])[digit];
    const change = other === undefined ? null : (other - value) * 100;
    return h("tr", {}, h("th", { scope: "row" }, digit), h("td", { class: "number" }, percent(value, 1)),
      h("td", { class: "number" }, percent(other, 1)),
      h("td", { class: `number ${change < 0 ? "worse" : ""}` }, change === null ? "—" : `${change >= 0 ? "+" : ""}${change.toFixed(1)} pt`));
  });
  return [h("div", { class: "side-by-side" }, column(left), column(right)),
    h("table", { class: "per-class-diff" }, h("caption", {}, `Per-class accuracy, version ${a} against ${b}`),
      h("thead", {}, h("tr", {}, ["Digit", `Version ${a}`, `Version ${b}`, "Change"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, perClass)),
    gateBlock(verdicts[1], right.version) || gateBlock(verdicts[0], left.version)
      || h("p", { id: "no-verdict" }, "No gate verdict is kept beside either version (the pipeline's keep_verdict step "
        + "stores one beside each model it judged).")];
}

export async function comparePage(ctx, modelId) {
  const model = await getJson(v1(ctx.location, `models/${modelId}`));
  const { models: versions = [] } = await getJson(v1(ctx.location, `models/${modelId}:listVersions`));
  versions.sort((x, y) => Number(y.versionId) - Number(x.versionId));
  const [latencyOf, metrics, sizes] = await Promise.all([latencies(versions), Promise.all(versions.map(metricsOf)),
    Promise.all(versions.map((v) => gcsSize(v.artifactUri).catch(() => null)))]);
  const rows = versions.map((version, i) => ({ version, metrics: metrics[i] && !metrics[i].unreadable ? metrics[i] : null,
    size: sizes[i], latency: latencyOf(version) }));
  const ids = versions.map((v) => v.versionId);
  const pick = (name, fallback) => (ids.includes(ctx.query.get(name)) ? ctx.query.get(name) : fallback);
  const choose = (id, chosen) => h("select", { id }, versions.map((v) => h("option", { value: v.versionId },
    `Version ${v.versionId}${(v.versionAliases || []).length ? ` (${v.versionAliases.join(", ")})` : ""}`)));
  const [first, second] = [choose("compare-a"), choose("compare-b")];
  first.value = pick("a", ids[1] || ids[0]);
  second.value = pick("b", ids[0]);
  const table = h("div");
  const pair = h("div");
  const drawTable = () => table.replaceChildren(sortedTable(ctx, modelId, rows, drawTable));
  const drawPair = async () => {
    const chosen = [first.value, second.value].map((id) => versions.find((v) => v.versionId === id));
    const verdicts = await Promise.all(chosen.map(verdictFor));
    pair.replaceChildren(...[sideBySide(rows, first.value, second.value, verdicts)].flat());
  };
  [first, second].forEach((select) => select.addEventListener("change", () => {
    ctx.setQuery({ a: first.value, b: second.value });
    drawPair();
  }));
  drawTable();
  await drawPair();
  return [
    h("p", { class: "crumbs" }, h("a", { href: "#/models" }, "Model Registry"), " / ", model.displayName),
    h("h1", {}, `Compare the versions of ${model.displayName}`),
    table,
    h("h2", {}, "Side by side"),
    h("p", { class: "inline" }, h("label", { for: "compare-a" }, "Version"), first,
      h("label", { for: "compare-b" }, "against"), second),
    pair,
  ];
}
