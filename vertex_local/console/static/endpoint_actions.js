// An endpoint's actions: deploy a version with a share of the traffic, change the split, undeploy, roll back.

import { getJson, v1 } from "./api.js";
import { confirmAction, DEFAULT_MACHINE, deployVersion, moveAlias, patchSplit, splitWith, undeploy } from "./actions.js";
import { h, idOf } from "./dom.js";

const PRODUCTION = "production"; // the alias the pipeline serves from (pipeline.toml [deploy])

function named(endpoint, id) {
  const deployed = (endpoint.deployedModels || []).find((d) => d.id === id);
  return deployed ? `deployed model ${id} (${deployed.displayName || idOf(deployed.model)} v${deployed.modelVersionId})`
    : `the new deployed model`;
}

function splitSentence(endpoint, split) {
  return `Traffic: ${Object.entries(split).map(([id, share]) => `${named(endpoint, id)} ${share} %`).join(", ")}.`;
}

async function versionChoices(ctx) {
  const { models = [] } = await getJson(v1(ctx.location, "models"));
  const lists = await Promise.all(models.map((model) => getJson(v1(ctx.location,
    `models/${idOf(model.name)}:listVersions`)).then((answer) => answer.models || [])));
  return lists.flat().sort((a, b) => a.displayName.localeCompare(b.displayName) || Number(b.versionId) - Number(a.versionId));
}

function splitEditor(ctx, current, redraw) {
  const endpoint = current();
  const deployed = endpoint.deployedModels || [];
  if (!deployed.length) return h("p", {}, "Nothing is deployed on this endpoint.");
  const inputs = deployed.map((d) => h("input", { type: "number", min: 0, max: 100, step: 1, "data-deployed-model-id": d.id,
    value: (endpoint.trafficSplit || {})[d.id] || 0, "aria-label": `Traffic for ${named(endpoint, d.id)} (%)` }));
  const change = () => {
    const split = Object.fromEntries(inputs.map((input) => [input.dataset.deployedModelId, Number(input.value)]));
    confirmAction({ title: "Change the traffic split", onDone: redraw,
      changes: [`Set ${endpoint.displayName}'s split. ${splitSentence(endpoint, split)}`,
        "The server refuses a split that does not add up to 100 %."],
      run: async () => { await patchSplit(endpoint.name, split); return `the split is now ${splitSentence(endpoint, split)}`; } });
  };
  const remove = (d) => {
    const rest = Object.fromEntries(Object.entries(endpoint.trafficSplit || {}).filter(([id]) => id !== d.id));
    const split = Object.keys(rest).length ? splitWith(rest, "", 0) : {};
    delete split[""];
    confirmAction({ title: `Undeploy deployed model ${d.id}`, onDone: redraw,
      changes: [`Undeploy ${named(endpoint, d.id)} from ${endpoint.displayName}; its replicas stop.`,
        Object.keys(split).length ? splitSentence(endpoint, split) : "Nothing will serve on this endpoint."],
      run: async (progress) => { await undeploy(endpoint.name, d.id, split, progress); return `deployed model ${d.id} is undeployed`; } });
  };
  return h("fieldset", { class: "split-editor" }, h("legend", {}, "Traffic split (whole percents adding up to 100)"),
    deployed.map((d, index) => h("p", { class: "inline" }, h("label", {}, `${named(endpoint, d.id)} `, inputs[index], " %"),
      " ", h("button", { type: "button", onclick: () => remove(d) }, `Undeploy ${d.id}…`))),
    h("button", { type: "button", onclick: change }, "Change the split…"));
}

function deployForm(ctx, current, versions, redraw) {
  const choice = h("select", { id: "deploy-version" }, versions.map((v) => h("option", { value: `${v.name}@${v.versionId}` },
    `${v.displayName} version ${v.versionId}${(v.versionAliases || []).length ? ` (${v.versionAliases.join(", ")})` : ""}`)));
  const serving = (current().deployedModels || [])[0]; // offer the newest version of the model served here first
  const newest = serving && versions.find((v) => v.name === serving.model);
  if (newest) choice.value = `${newest.name}@${newest.versionId}`;
  const share = h("input", { id: "deploy-share", type: "number", min: 0, max: 100, step: 1, value: 10 });
  const picked = () => versions.find((v) => `${v.name}@${v.versionId}` === choice.value);
  const resources = (endpoint) => (endpoint.deployedModels || [])[0]?.dedicatedResources || DEFAULT_MACHINE;
  const deploy = () => {
    const endpoint = current();
    const version = picked();
    const split = splitWith(endpoint.trafficSplit || {}, "0", Number(share.value));
    const sentence = splitSentence(endpoint, split).replace("deployed model 0", "the new deployed model");
    confirmAction({ title: `Deploy ${version.displayName} version ${version.versionId}`, onDone: redraw,
      changes: [`Deploy ${version.displayName} version ${version.versionId} to ${endpoint.displayName} on `
        + `${resources(endpoint).machineSpec.machineType}.`, sentence],
      run: async (progress) => {
        const made = await deployVersion(endpoint.name, choice.value, split, resources(endpoint), progress);
        return `deployed as deployed model ${made.id} with ${share.value} % of the traffic`;
      } });
  };
  const rollBack = () => {
    const endpoint = current();
    const version = picked();
    const there = (endpoint.deployedModels || []).find((d) => `${d.model}@${d.modelVersionId}` === choice.value);
    const split = Object.fromEntries((endpoint.deployedModels || []).map((d) => [d.id, 0]));
    split[there ? there.id : "0"] = 100;
    const aliasHolder = versions.find((v) => v.name === version.name && (v.versionAliases || []).includes(PRODUCTION));
    confirmAction({ title: `Roll back to ${version.displayName} version ${version.versionId}`, onDone: redraw,
      changes: [there ? `Send 100 % of the traffic to ${named(endpoint, there.id)}, already deployed.`
        : `Deploy version ${version.versionId} to ${endpoint.displayName} and send it 100 % of the traffic.`,
      "The other deployed models stay deployed with 0 %, so rolling forward again is one split change.",
      `Move the alias ${PRODUCTION} to version ${version.versionId}`
        + (aliasHolder ? ` (from version ${aliasHolder.versionId}).` : ".")],
      run: async (progress) => {
        if (there) await patchSplit(endpoint.name, split);
        else await deployVersion(endpoint.name, choice.value, split, resources(endpoint), progress);
        await moveAlias(version.name, version.versionId, PRODUCTION);
        return `version ${version.versionId} serves 100 % and is ${PRODUCTION}`;
      } });
  };
  return h("fieldset", {}, h("legend", {}, "Deploy a version or roll back to one"),
    h("p", { class: "inline" }, h("label", { for: "deploy-version" }, "Version "), choice,
      h("label", { for: "deploy-share" }, " Its traffic (%) "), share),
    h("p", {}, h("button", { type: "button", onclick: deploy }, "Deploy…"), " ",
      h("button", { type: "button", onclick: rollBack }, "Roll back to this version…")));
}

// The section, rebuilt after each action (the refresh keeps the split above it live in between).
export function endpointActions(ctx, current, reload) {
  const section = h("section", { class: "actions", "aria-labelledby": "actions" });
  const redraw = async () => {
    const [versions] = await Promise.all([versionChoices(ctx), reload()]);
    section.replaceChildren(h("h2", { id: "actions" }, "Change this endpoint"),
      splitEditor(ctx, current, () => setTimeout(redraw, 0)), deployForm(ctx, current, versions, () => setTimeout(redraw, 0)));
  };
  redraw().catch(() => null); // a server gone quiet shows its banner; the page above still loads
  return section;
}
