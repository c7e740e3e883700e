// Changing things, as Google's console does, through the same REST API the SDK calls (so the server's guard, token
// and validation all apply): each action first says exactly what will change, then shows its operation's progress
// and the result in the same dialog.

import { getJson, sendJson } from "./api.js";
import { announce, errorBox, h } from "./dom.js";

const POLL_MS = 500;
export const DEFAULT_MACHINE = { machineSpec: { machineType: "n1-standard-2" }, minReplicaCount: 1, maxReplicaCount: 1 };

// A long-running operation (deployModel, undeployModel) polled until done; its response, or its error thrown.
export async function finished(operation, onProgress) {
  let current = operation;
  while (!current.done) {
    onProgress(`Running: operation ${current.name.split("/").pop()}…`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    current = await getJson(`/v1/${current.name}`);
  }
  if (current.error) throw new Error(`${current.error.message} (code ${current.error.code})`);
  return current.response || {};
}

// Ask first: `changes` are the sentences saying what will happen; run(progress) does it and returns the result text.
export function confirmAction({ title, changes, run, onDone = () => {} }) {
  const status = h("div", { class: "progress", role: "status", "aria-live": "polite" });
  const confirm = h("button", { type: "button", class: "primary" }, "Confirm");
  const close = h("button", { type: "button" }, "Cancel");
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
    h("h2", { id: "confirm-title" }, title),
    h("p", {}, "This will:"), h("ul", {}, changes.map((change) => h("li", {}, change))),
    status, h("p", { class: "buttons" }, confirm, close));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    close.disabled = true;
    const progress = (text) => status.replaceChildren(h("p", {}, text));
    progress("Sending…");
    try {
      const result = await run(progress);
      status.replaceChildren(h("p", { class: "done" }, `Done: ${result}`));
      announce(`Done: ${result}`);
      onDone();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    } finally {
      confirm.remove();
      close.disabled = false;
      close.textContent = "Close";
      close.focus();
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

export async function patchSplit(endpointName, split) {
  return sendJson("PATCH", `/v1/${endpointName}?updateMask=trafficSplit`, { trafficSplit: split });
}

export async function deployVersion(endpointName, modelVersionName, split, resources, progress) {
  const operation = await sendJson("POST", `/v1/${endpointName}:deployModel`,
    { deployedModel: { model: modelVersionName, dedicatedResources: resources }, trafficSplit: split });
  return (await finished(operation, progress)).deployedModel;
}

export async function undeploy(endpointName, deployedModelId, split, progress) {
  const body = { deployedModelId, ...(Object.keys(split).length ? { trafficSplit: split } : {}) };
  await finished(await sendJson("POST", `/v1/${endpointName}:undeployModel`, body), progress);
}

export async function moveAlias(modelName, versionId, alias) {
  return sendJson("POST", `/v1/${modelName}@${versionId}:mergeVersionAliases`, { versionAliases: [alias] });
}

// The split with `share` % for `fresh` and the rest shared by the others in their current proportions (whole
// percents summing to exactly 100, as Vertex requires).
export function splitWith(current, fresh, share) {
  const others = Object.entries(current).filter(([id]) => id !== fresh);
  const total = others.reduce((sum, [, value]) => sum + Number(value), 0);
  const rest = 100 - share;
  const split = { [fresh]: share };
  others.forEach(([id, value]) => {
    split[id] = total ? Math.floor((Number(value) * rest) / total) : Math.floor(rest / others.length);
  });
  const missing = 100 - Object.values(split).reduce((sum, value) => sum + value, 0);
  const largest = others.length ? others.reduce((a, b) => (Number(b[1]) > Number(a[1]) ? b : a))[0] : fresh;
  split[largest] += missing;
  return split;
}
