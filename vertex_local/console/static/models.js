// The Model Registry: every model, its versions with aliases, labels and metrics.json; a version's own page.

import { getJson, readGcsJson, v1 } from "./api.js";
import { chips, errorBox, facts, h, idOf, percent, time } from "./dom.js";

async function metricsOf(version) {
  if (!version.artifactUri) return null;
  try {
    return await readGcsJson(`${version.artifactUri.replace(/\/+$/, "")}/metrics.json`);
  } catch (error) {
    return { unreadable: error.message };
  }
}

function perClassBars(perClass) {
  const label = perClass.map((value, digit) => `${digit}: ${percent(value)}`).join(", ");
  return h("ol", { class: "per-class", start: 0, "aria-label": `Per-class accuracy, ${label}` },
    perClass.map((value, digit) => {
      const bar = h("span", { class: "bar" });
      bar.style.height = `${Math.max(0, Math.min(1, value)) * 100}%`;
      return h("li", { title: `${digit}: ${percent(value)}` }, h("span", { class: "track" }, bar), h("span", {}, digit));
    }));
}

function labels(map) {
  const entries = Object.entries(map || {});
  return entries.length ? chips(entries.map(([key, value]) => `${key}=${value}`), "label") : "—";
}

function versionCard(location, model, version, metrics) {
  const modelId = idOf(model.name);
  const deployed = (version.deployedModels || []).map((d) => h("a", { href: `#/endpoints/${idOf(d.endpoint)}` },
    `endpoint ${idOf(d.endpoint)} (deployed model ${d.deployedModelId})`));
  return h("article", { class: "card", "data-version": version.versionId },
    h("h3", {}, h("a", { href: `#/models/${modelId}/versions/${version.versionId}` }, `Version ${version.versionId}`)),
    chips(version.versionAliases || [], "alias"),
    facts([
      ["Accuracy", metrics && !metrics.unreadable ? percent(metrics.accuracy, 2) : metrics ? metrics.unreadable : "no metrics.json"],
      ["Per-class accuracy", metrics && metrics.per_class_accuracy ? perClassBars(metrics.per_class_accuracy) : "—"],
      ["Created", time(version.versionCreateTime)],
      ["Labels", labels(version.labels)],
      ["Artifact", h("code", {}, version.artifactUri || "—")],
      ["Serving image", h("code", {}, (version.containerSpec || {}).imageUri || "—")],
      ["Deployed", deployed.length ? h("ul", { class: "plain" }, deployed.map((link) => h("li", {}, link))) : "no"],
    ]));
}

export async function registryPage(ctx) {
  const { models = [] } = await getJson(v1(ctx.location, "models"));
  const heading = h("h1", {}, "Model Registry");
  if (!models.length) return [heading, h("p", {}, `No models in ${ctx.location} yet: \`make demo\` registers one.`)];
  const sections = await Promise.all(models.map(async (model) => {
    const { models: versions = [] } = await getJson(v1(ctx.location, `models/${idOf(model.name)}:listVersions`));
    versions.sort((a, b) => Number(b.versionId) - Number(a.versionId));
    const metrics = await Promise.all(versions.map(metricsOf));
    const headingId = `model-${idOf(model.name)}`;
    return h("section", { class: "model", "aria-labelledby": headingId, "data-model": idOf(model.name) },
      h("h2", { id: headingId }, model.displayName, " ", h("span", { class: "muted" }, `model ${idOf(model.name)}`)),
      h("div", { class: "cards" }, versions.map((version, i) => versionCard(ctx.location, model, version, metrics[i]))));
  }));
  return [heading, sections];
}

function confusionMatrix(matrix) {
  const peak = Math.max(1, ...matrix.flat());
  return h("table", { class: "confusion" },
    h("caption", {}, "Confusion matrix: rows are the true digit, columns the predicted one"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "true \\ predicted"),
      matrix.map((_, digit) => h("th", { scope: "col" }, digit)))),
    h("tbody", {}, matrix.map((row, truth) => h("tr", {}, h("th", { scope: "row" }, truth), row.map((count, predicted) => {
      const cell = h("td", { class: truth === predicted ? "hit" : count ? "miss" : "" }, count);
      cell.style.setProperty("--level", String(count / peak));
      return cell;
    })))));
}

export async function versionPage(ctx, modelId, versionId) {
  const version = await getJson(v1(ctx.location, `models/${modelId}@${versionId}`));
  const metrics = await metricsOf(version);
  const parts = [
    h("p", { class: "crumbs" }, h("a", { href: "#/models" }, "Model Registry"), " / ", version.displayName),
    h("h1", {}, `${version.displayName}, version ${version.versionId}`),
    versionCard(ctx.location, version, version, metrics),
  ];
  if (!metrics || metrics.unreadable) {
    parts.push(metrics ? errorBox(new Error(metrics.unreadable)) : h("p", {}, "This version has no metrics.json."));
    return parts;
  }
  parts.push(h("section", { "aria-labelledby": "evaluation" }, h("h2", { id: "evaluation" }, "Evaluation"),
    facts([
      ["Accuracy", percent(metrics.accuracy, 2)],
      ["Loss", metrics.loss === undefined ? "—" : Number(metrics.loss).toFixed(4)],
      ["Test examples", metrics.test_examples],
      ["Training examples", metrics.train_examples],
      ["Data", h("code", {}, metrics.data_fingerprint || "—")],
      ["Git SHA", h("code", {}, metrics.git_sha || "—")],
    ]),
    metrics.confusion_matrix ? confusionMatrix(metrics.confusion_matrix) : h("p", {}, "No confusion matrix.")));
  return parts;
}
