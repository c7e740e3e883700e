// Custom jobs: their state and times; a job's command, args, environment and its log, tailed as it streams in.

import { getJson, readGcsJson, readTail, v1 } from "./api.js";
import { trainingCurves } from "./curves.js";
import { duration, errorBox, facts, h, idOf, patch, time } from "./dom.js";

const REFRESH_MS = 2000;
const LOG_LINES = 500; // asked of :logs per replica
const LOG_CHARS = 64 * 1024; // kept on the page, however long the log

function state(job) {
  return h("span", { class: `state ${job.state.replace("JOB_STATE_", "").toLowerCase()}`, "data-state": job.state },
    job.state.replace("JOB_STATE_", ""));
}

export async function jobsPage(ctx) {
  const body = h("tbody");
  const draw = async () => {
    const { customJobs = [] } = await getJson(v1(ctx.location, "customJobs"));
    customJobs.sort((a, b) => Number(idOf(b.name)) - Number(idOf(a.name)));
    patch(body, customJobs.map((job) => h("tr", { "data-job": idOf(job.name), "data-key": idOf(job.name) },
      h("td", {}, h("a", { href: `#/jobs/${idOf(job.name)}` }, job.displayName)), h("td", {}, idOf(job.name)),
      h("td", {}, state(job)), h("td", {}, time(job.createTime)), h("td", {}, duration(job.startTime, job.endTime)))));
  };
  await draw();
  ctx.every(REFRESH_MS, draw);
  return [h("h1", {}, "Custom jobs"), h("table", {}, h("caption", {}, `Custom jobs in ${ctx.location}, newest first`),
    h("thead", {}, h("tr", {}, ["Job", "Id", "State", "Created", "Ran for"].map((t) => h("th", { scope: "col" }, t)))),
    body)];
}

// One argument as a POSIX shell reads it back: bare when it has nothing special, else in single quotes.
export function shellQuote(arg) {
  const text = String(arg);
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'"'"'`)}'`;
}

// The versions registered from what the job wrote (artifactUri = its AIP_MODEL_DIR), and where each is deployed.
async function registeredFrom(ctx, modelDir) {
  const same = (uri) => String(uri || "").replace(/\/+$/, "") === modelDir.replace(/\/+$/, "");
  const { models = [] } = await getJson(v1(ctx.location, "models"));
  const lists = await Promise.all(models.map((model) => getJson(v1(ctx.location,
    `models/${idOf(model.name)}:listVersions`)).then((answer) => answer.models || [])));
  return lists.flat().filter((version) => same(version.artifactUri));
}

async function outputSection(ctx, environment) {
  const modelDir = environment.AIP_MODEL_DIR;
  if (!modelDir) return h("p", {}, "This job has no baseOutputDirectory, so no model to follow.");
  const [metrics, versions] = await Promise.all([
    readGcsJson(`${modelDir.replace(/\/+$/, "")}/metrics.json`).catch((error) => ({ unreadable: error.message })),
    registeredFrom(ctx, modelDir)]);
  const versionLinks = versions.map((v) => h("li", { "data-version": v.versionId },
    h("a", { href: `#/models/${idOf(v.name)}/versions/${v.versionId}` }, `${v.displayName} version ${v.versionId}`),
    (v.deployedModels || []).length ? [", serving on ", (v.deployedModels || []).flatMap((d, i) => [i ? ", " : "",
      h("a", { href: `#/endpoints/${idOf(d.endpoint)}` }, `endpoint ${idOf(d.endpoint)}`)])] : ", not deployed"));
  return h("section", { "aria-labelledby": "output", id: "job-output" }, h("h2", { id: "output" }, "What it produced"),
    h("p", {}, "Registered as: ", versionLinks.length ? h("ul", { class: "plain" }, versionLinks)
      : `no version's artifactUri is ${modelDir}`),
    h("h3", {}, "Training curves"),
    metrics && !metrics.unreadable ? trainingCurves(metrics)
      : h("p", { id: "no-curves" }, metrics ? metrics.unreadable : `No metrics.json in ${modelDir} (yet).`));
}

function poolSection(pool, index) {
  const container = pool.containerSpec || {};
  const env = container.env || [];
  return h("section", { "aria-labelledby": `pool-${index}` }, h("h3", { id: `pool-${index}` }, `Worker pool ${index}`),
    facts([
      ["Machine", (pool.machineSpec || {}).machineType],
      ["Replicas", pool.replicaCount ?? 1],
      ["Image", h("code", {}, container.imageUri || "—")],
      ["Command", h("code", { class: "argv" }, (container.command || []).map(shellQuote).join(" ") || "—")],
      ["Args", h("code", { class: "argv" }, (container.args || []).map(shellQuote).join(" ") || "—")],
      ["Environment (from the spec)", env.length ? h("code", { class: "argv" },
        env.map((e) => `${e.name}=${e.value}`).join("\n")) : "—"],
    ]));
}

export async function jobPage(ctx, jobId) {
  const path = v1(ctx.location, `customJobs/${jobId}`);
  const summary = h("div");
  const log = h("pre", { class: "log", id: "log", tabindex: 0, "aria-label": "Job log" });
  const note = h("p", { class: "muted", id: "log-note" });
  const { environment } = await getJson(`/console/api/${ctx.location}/customJobs/${jobId}/environment`);
  let job = await getJson(path);
  let reading = null;
  const drawSummary = () => patch(summary, [facts([
    ["State", state(job)], ["Created", time(job.createTime)], ["Started", time(job.startTime)],
    ["Ended", time(job.endTime)], ["Ran for", duration(job.startTime, job.endTime)],
  ]), job.error ? errorBox(new Error(job.error.message)) : ""]);
  const readLog = async () => {
    if (reading) return;
    reading = new AbortController();
    try {
      const { text, dropped } = await readTail(`${path}:logs?tail=${LOG_LINES}`, LOG_CHARS, reading.signal);
      log.textContent = text;
      log.scrollTop = log.scrollHeight; // the newest lines in view, as `tail -f` shows them
      note.textContent = dropped ? `The last ${LOG_CHARS / 1024} KB of the log.` : `The last ${LOG_LINES} lines of each replica's log.`;
    } finally {
      reading = null;
    }
  };
  drawSummary();
  await readLog();
  ctx.every(REFRESH_MS, async () => {
    if (job.endTime) return;
    job = await getJson(path);
    drawSummary();
    await readLog();
  });
  ctx.onLeave(() => reading && reading.abort());
  const output = h("div", {}, await outputSection(ctx, environment));
  let outputDone = Boolean(job.endTime);
  ctx.every(REFRESH_MS * 2, async () => { // the curves and versions appear once the run has written them
    if (outputDone) return;
    outputDone = Boolean(job.endTime);
    output.replaceChildren(await outputSection(ctx, environment));
  });
  const pools = (job.jobSpec.workerPoolSpecs || []).map(poolSection);
  return [
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Custom jobs"), " / ", job.displayName),
    h("h1", {}, `${job.displayName} `, h("span", { class: "muted" }, `job ${jobId}`)),
    summary, pools,
    h("h2", {}, "Environment set by the service"),
    h("code", { class: "argv", id: "aip-env" }, Object.entries(environment).map(([k, v]) => `${k}=${v}`).join("\n")),
    output,
    h("h2", {}, "Log"), note, log,
  ];
}
