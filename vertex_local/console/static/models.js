// The Model Registry: every model with its versions as one compact table (newest first, metrics read only for the
// rows shown, each metrics.json once); a version's own page with its evaluation, training curves, links and actions.

import { getJson, readGcsJson, v1 } from "./api.js";
import { chips, errorBox, facts, h, idOf, patch, percent, time } from "./dom.js";

const SHOWN = 10; // versions per model before "Show all": 50 versions stay one screen and ten metrics.json reads
const REFRESH_MS = 5000;
const metricsCache = new Map(); // artifactUri -> Promise of its metrics.json: read once per page load

export function metricsOf(version) {
  if (!version.artifactUri) return Promise.resolve(null);
  const uri = `${version.artifactUri.replace(/\/+$/, "")}/metrics.json`;
  if (!metricsCache.has(uri)) {
    metricsCache.set(uri, readGcsJson(uri).catch((error) => {
      metricsCache.delete(uri); // a server that was down is asked again next time
      return { unreadable: error.message };
    }));
  }
  return metricsCache.get(uri);
}

export function perClassBars(perClass) {
  const label = perClass.map((value, digit) => `${digit}: ${percent(value)}`).join(", ");
  return h("ol", { class: "per-class", start: 0, "aria-label": `Per-class accuracy, ${label}` },
    perClass.map((value, digit) => {
      const bar = h("span", { class: "bar" });
      bar.style.height = `${Math.max(0, Math.min(1, value)) * 100}%`;
      return h("li", { title: `${digit}: ${percent(value)}` }, h("span", { class: "track" }, bar), h("span", {}, digit));
    }));
}

export function labels(map) {
  const entries = Object.entries(map || {});
  return entries.length ? chips(entries.map(([key, value]) => `${key}=${value}`), "label") : "—";
}

function accuracyText(metrics) {
  if (!metrics) return "no metrics.json";
  return metrics.unreadable ? metrics.unreadable : percent(metrics.accuracy, 2);
}

function deployedLinks(version) {
  const links = (version.deployedModels || []).map((d) => h("a", { href: `#/endpoints/${idOf(d.endpoint)}` },
    `endpoint ${idOf(d.endpoint)}`));
  return links.length ? links.flatMap((link, i) => (i ? [", ", link] : [link])) : "no";
}

function versionRow(modelId, version, metrics) {
  return h("tr", { "data-version": version.versionId, "data-key": version.versionId },
    h("th", { scope: "row" }, h("a", { href: `#/models/${modelId}/versions/${version.versionId}` },
      `Version ${version.versionId}`)),
    h("td", {}, chips(version.versionAliases || [], "alias")),
    h("td", { class: "number" }, accuracyText(metrics)),
    h("td", {}, labels(version.labels)),
    h("td", {}, time(version.versionCreateTime)),
    h("td", {}, deployedLinks(version)));
}

async function modelSection(ctx, model, expanded, redraw) {
  const modelId = idOf(model.name);
  const { models: versions = [] } = await getJson(v1(ctx.location, `models/${modelId}:listVersions`));
  versions.sort((a, b) => Number(b.versionId) - Number(a.versionId));
  const shown = expanded.has(modelId) ? versions : versions.slice(0, SHOWN);
  const metrics = await Promise.all(shown.map(metricsOf));
  const headingId = `model-${modelId}`;
  const more = versions.length > shown.length ? h("button", { type: "button", "data-key": "more",
    onclick: () => { expanded.add(modelId); redraw(); } }, `Show all ${versions.length} versions`) : null;
  return h("section", { class: "model", "aria-labelledby": headingId, "data-model": modelId, "data-key": modelId },
    h("h2", { id: headingId }, model.displayName, " ", h("span", { class: "muted" }, `model ${modelId}`)),
    h("p", {}, h("a", { href: `#/models/${modelId}/compare` }, `Compare the versions of ${model.displayName}`)),
    h("table", { class: "versions" },
      h("caption", {}, `${versions.length} version${versions.length === 1 ? "" : "s"}, newest first`),
      h("thead", {}, h("tr", {}, ["Version", "Aliases", "Accuracy", "Labels", "Created", "Deployed to"]
        .map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, shown.map((version, i) => versionRow(modelId, version, metrics[i])))),
    more);
}

export async function registryPage(ctx) {
  const body = h("div");
  const expanded = new Set();
  const draw = async () => {
    const { models = [] } = await getJson(v1(ctx.location, "models"));
    if (!models.length) {
      patch(body, h("p", {}, `No models in ${ctx.location} yet: \`make demo\` registers one.`));
      return;
    }
    patch(body, await Promise.all(models.map((model) => modelSection(ctx, model, expanded, () => draw()))));
  };
  await draw();
  ctx.every(REFRESH_MS, draw);
  return [h("h1", {}, "Model Registry"), body];
}

export function confusionMatrix(matrix, caption = "Confusion matrix: rows are the true digit, columns the predicted one") {
  const peak = Math.max(1, ...matrix.flat());
  return h("table", { class: "confusion" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "true \\ predicted"),
      matrix.map((_, digit) => h("th", { scope: "col" }, digit)))),
    h("tbody", {}, matrix.map((row, truth) => h("tr", {}, h("th", { scope: "row" }, truth), row.map((count, predicted) => {
      const cell = h("td", { class: truth === predicted ? "hit" : count ? "miss" : "" }, count);
      cell.style.setProperty("--level", String(count / peak));
      return cell;
    })))));
}

// The page for a model or version that is not there: deleted, or never made in this location.
async function missing(ctx, modelId, versionId, error) {
  if (error.httpStatus !== 404) throw error;
  const model = await getJson(v1(ctx.location, `models/${modelId}`)).catch(() => null);
  const what = model ? `Version ${versionId} of model ${model.displayName} (${modelId})` : `Model ${modelId}`;
  return [h("p", { class: "crumbs" }, h("a", { href: "#/models" }, "Model Registry")),
    h("h1", {}, model ? "Version not found" : "Model not found"),
    h("p", { class: "error", role: "alert" }, `${what} was deleted or never existed in ${ctx.location}.`),
    h("p", {}, h("a", { href: "#/models" }, "See the models there are"))];
}

// The jobs whose AIP_MODEL_DIR is this artifactUri: the runs that produced the version.
export async function producers(ctx, artifactUri) {
  const { jobs = [] } = await getJson(`/console/api/${ctx.location}/jobOutputs`);
  const same = (a, b) => String(a || "").replace(/\/+$/, "") === String(b || "").replace(/\/+$/, "");
  return jobs.filter((job) => same(job.modelDir, artifactUri));
}

function aliasAction({ confirmAction, moveAlias }, version, redraw) {
  const input = h("input", { id: "alias", value: "production", size: 16, pattern: "[a-z][a-zA-Z0-9-]{0,127}" });
  const move = () => {
    const alias = input.value.trim();
    confirmAction({ title: `Move the alias ${alias}`, onDone: redraw,
      changes: [`Point ${version.displayName}@${alias} at version ${version.versionId}; whichever version holds `
        + `${alias} now loses it.`, "Endpoints keep serving what is deployed on them: an alias is a name, not a deployment."],
      run: async () => { await moveAlias(version.name, version.versionId, alias); return `${alias} is on version ${version.versionId}`; } });
  };
  return h("fieldset", {}, h("legend", {}, "Aliases"),
    h("p", { class: "inline" }, h("label", { for: "alias" }, "Alias"), input,
      h("button", { type: "button", onclick: move }, "Move it to this version…")));
}

export async function versionPage(ctx, modelId, versionId) {
  let version;
  try {
    version = await getJson(v1(ctx.location, `models/${modelId}@${versionId}`));
  } catch (error) {
    return missing(ctx, modelId, versionId, error);
  }
  // What only this page needs is fetched with its data, so the registry's first load stays small.
  const [metrics, jobs, actions, { trainingCurves }] = await Promise.all([metricsOf(version),
    producers(ctx, version.artifactUri), import("./actions.js"), import("./curves.js")]);
  const summary = h("div");
  const drawSummary = (fresh) => patch(summary, facts([
    ["Aliases", chips(fresh.versionAliases || [], "alias")],
    ["Accuracy", accuracyText(metrics)],
    ["Per-class accuracy", metrics && metrics.per_class_accuracy ? perClassBars(metrics.per_class_accuracy) : "—"],
    ["Created", time(fresh.versionCreateTime)],
    ["Labels", labels(fresh.labels)],
    ["Artifact", h("code", {}, fresh.artifactUri || "—")],
    ["Serving image", h("code", {}, (fresh.containerSpec || {}).imageUri || "—")],
    ["Trained by", jobs.length ? jobs.map((job) => h("a", { href: `#/jobs/${job.job}`, "data-key": job.job },
      `${job.displayName} (job ${job.job})`)) : "no custom job here wrote this artifact"],
    ["Deployed to", deployedLinks(fresh)],
  ]));
  drawSummary(version);
  const redraw = async () => drawSummary(await getJson(v1(ctx.location, `models/${modelId}@${versionId}`)));
  ctx.every(REFRESH_MS, redraw);
  const parts = [
    h("p", { class: "crumbs" }, h("a", { href: "#/models" }, "Model Registry"), " / ", version.displayName),
    h("h1", {}, `${version.displayName}, version ${version.versionId}`),
    summary,
    h("p", {}, h("a", { href: `#/models/${modelId}/compare?a=${versionId}` }, "Compare with another version")),
    aliasAction(actions, version, redraw),
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
    metrics.confusion_matrix ? confusionMatrix(metrics.confusion_matrix) : h("p", {}, "No confusion matrix.")),
  h("section", { "aria-labelledby": "training" }, h("h2", { id: "training" }, "Training curves"), trainingCurves(metrics)));
  return parts;
}
