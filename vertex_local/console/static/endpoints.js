// Endpoints: their deployed models and traffic split (live), and an endpoint's serving charts over a window.

import { getJson, v1 } from "./api.js";
import { lineChart, seriesStyle, swatch, units } from "./charts.js";
import { facts, h, idOf, patch, time } from "./dom.js";
import { endpointActions } from "./endpoint_actions.js";

const TRAFFIC_REFRESH_MS = 1000;
// The windows Google's console offers on an endpoint's page (its longest is 30 days), plus 5 minutes for a demo.
const WINDOWS = [["5m", "Last 5 minutes"], ["1h", "Last hour"], ["6h", "Last 6 hours"], ["12h", "Last 12 hours"],
  ["1d", "Last day"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
const CHARTS = [
  ["predictionsPerSecond", "Predictions per second", units("/s")],
  ["requestsPerSecond", "Requests per second", units("/s")],
  ["errorRate", "Prediction error rate", units(" %", 100)],
  ["p50Ms", "Total latency p50 (request to answer)", units(" ms")],
  ["p99Ms", "Total latency p99 (request to answer)", units(" ms")],
  ["modelP50Ms", "Model latency p50 (time inside the model)", units(" ms")],
  ["modelP99Ms", "Model latency p99 (time inside the model)", units(" ms")],
];

// "mnist v2"; a display name that already ends in its version ("mnist-v2") is not given it twice.
export function versionOf(deployed) {
  const name = deployed.displayName || idOf(deployed.model);
  const version = deployed.modelVersionId;
  return new RegExp(`[-_ ]?v(ersion)?[-_ ]?${version}$`, "i").test(name) ? name : `${name} v${version}`;
}

// The split as a bar (one segment per deployed model with traffic) and as text.
export function trafficBar(endpoint) {
  const split = endpoint.trafficSplit || {};
  const deployed = endpoint.deployedModels || [];
  const shares = deployed.map((d, index) => ({ d, index, share: Number(split[d.id] || 0) }));
  const text = shares.map(({ d, share }) => `${d.id} (${versionOf(d)}) ${share} %`).join(", ");
  const bar = h("div", { class: "traffic", role: "img", "aria-label": `Traffic split: ${text || "no deployed model"}` },
    shares.filter(({ share }) => share > 0).map(({ d, index, share }) => {
      const segment = h("span", { class: "segment", "data-deployed-model-id": d.id }, `${share} %`);
      segment.style.flexGrow = String(share);
      segment.style.background = seriesStyle(index).color;
      return segment;
    }));
  const legend = h("ul", { class: "legend traffic-legend", "data-testid": "traffic" },
    shares.map(({ d, index, share }) => h("li", { "data-deployed-model-id": d.id, "data-share": share },
      swatch(index), `${d.id} (${versionOf(d)}): ${share} %`)));
  return h("div", { class: "split" }, bar, legend);
}

function deployedTable(endpoint) {
  const split = endpoint.trafficSplit || {};
  return h("table", {},
    h("caption", {}, "Deployed models"),
    h("thead", {}, h("tr", {}, ["Deployed model", "Model version", "Machine", "Replicas", "Traffic", "Deployed at"]
      .map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, (endpoint.deployedModels || []).map((d) => {
      const resources = d.dedicatedResources || {};
      const machine = (resources.machineSpec || {}).machineType || (d.automaticResources ? "automatic" : "—");
      return h("tr", { "data-deployed-model-id": d.id, "data-key": d.id },
        h("td", {}, d.id),
        h("td", {}, h("a", { href: `#/models/${idOf(d.model)}/versions/${d.modelVersionId}` }, versionOf(d))),
        h("td", {}, machine),
        h("td", {}, `${resources.minReplicaCount ?? "—"} to ${resources.maxReplicaCount ?? resources.minReplicaCount ?? "—"}`),
        h("td", {}, `${split[d.id] || 0} %`),
        h("td", {}, time(d.createTime)));
    })));
}

export async function endpointsPage(ctx) {
  const list = h("div", { class: "cards" });
  const draw = async () => {
    const { endpoints = [] } = await getJson(v1(ctx.location, "endpoints"));
    patch(list, (endpoints.length ? endpoints.map((endpoint) => h("article", { class: "card",
      "data-endpoint": idOf(endpoint.name), "data-key": idOf(endpoint.name) },
    h("h2", {}, h("a", { href: `#/endpoints/${idOf(endpoint.name)}` }, endpoint.displayName),
      " ", h("span", { class: "muted" }, `endpoint ${idOf(endpoint.name)}`)),
    trafficBar(endpoint), facts([["Created", time(endpoint.createTime)]]))) :
      [h("p", {}, `No endpoints in ${ctx.location} yet: \`make demo\` deploys one.`)]));
  };
  await draw();
  ctx.every(TRAFFIC_REFRESH_MS, draw);
  return [h("h1", {}, "Endpoints"), list];
}

function charts(answer) {
  const names = answer.series.map((s) => s.deployedModelId);
  return CHARTS.map(([metric, title, unit]) => lineChart({
    title, metric, times: answer.times, unit,
    series: answer.series.map((s, index) => ({ name: `deployed model ${names[index]}`, values: s[metric] })),
  }));
}

export async function endpointPage(ctx, endpointId) {
  const path = v1(ctx.location, `endpoints/${endpointId}`);
  let endpoint = await getJson(path);
  const split = h("div", {}, trafficBar(endpoint));
  const table = h("div", {}, deployedTable(endpoint));
  const chartBox = h("div", { class: "charts", "aria-live": "off" });
  const picker = h("select", { id: "window" }, WINDOWS.map(([value, text]) => h("option", { value }, text)));
  picker.value = WINDOWS.some(([value]) => value === ctx.query.get("window")) ? ctx.query.get("window") : "5m";
  let step = 5;
  const drawCharts = async () => {
    const answer = await getJson(`/console/api/endpoints/${endpointId}/metrics?window=${picker.value}`);
    step = answer.stepSeconds;
    chartBox.replaceChildren(...charts(answer)); // new listeners: the hover readout reads the new figures
  };
  picker.addEventListener("change", () => {
    ctx.setQuery({ window: picker.value }); // a link or a reload keeps the window
    drawCharts();
  });
  await drawCharts();
  ctx.every(TRAFFIC_REFRESH_MS, async () => {
    endpoint = await getJson(path);
    patch(split, trafficBar(endpoint));
    patch(table, deployedTable(endpoint));
  });
  ctx.every(5000, () => (step <= 60 ? drawCharts() : null)); // slots of an hour change too slowly to poll
  return [
    h("p", { class: "crumbs" }, h("a", { href: "#/endpoints" }, "Endpoints"), " / ", endpoint.displayName),
    h("h1", {}, `${endpoint.displayName} `, h("span", { class: "muted" }, `endpoint ${endpointId}`)),
    h("p", {}, h("a", { href: `#/test?endpoint=${endpointId}` }, "Test a model on this endpoint")),
    h("h2", {}, "Traffic split"), split, table,
    endpointActions(ctx, () => endpoint, async () => { endpoint = await getJson(path); }),
    h("h2", { id: "monitoring" }, "Monitoring"),
    h("label", { class: "inline" }, "Time window ", picker),
    chartBox,
  ];
}
