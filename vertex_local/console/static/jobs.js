// Custom jobs: their state and times; a job's command, args, environment and its log, tailed as it streams in.

import { getJson, readTail, v1 } from "./api.js";
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

function poolSection(pool, index) {
  const container = pool.containerSpec || {};
  const env = container.env || [];
  return h("section", { "aria-labelledby": `pool-${index}` }, h("h3", { id: `pool-${index}` }, `Worker pool ${index}`),
    facts([
      ["Machine", (pool.machineSpec || {}).machineType],
      ["Replicas", pool.replicaCount ?? 1],
      ["Image", h("code", {}, container.imageUri || "—")],
      ["Command", h("code", { class: "argv" }, (container.command || []).join(" ") || "—")],
      ["Args", h("code", { class: "argv" }, (container.args || []).join(" ") || "—")],
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
  const pools = (job.jobSpec.workerPoolSpecs || []).map(poolSection);
  return [
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Custom jobs"), " / ", job.displayName),
    h("h1", {}, `${job.displayName} `, h("span", { class: "muted" }, `job ${jobId}`)),
    summary, pools,
    h("h2", {}, "Environment set by the service"),
    h("code", { class: "argv", id: "aip-env" }, Object.entries(environment).map(([k, v]) => `${k}=${v}`).join("\n")),
    h("h2", {}, "Log"), note, log,
  ];
}
