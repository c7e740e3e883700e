// Test your model: draw a digit or pick a test digit, send the walkthrough's request to :predict, read the answer.
// The endpoint's task (/console/api/endpoints/{id}/task, from tasks/) says the input and the labels: an image
// task gets the drawing pad, any other a list of its test examples to send.

import { getJson, postJson, v1 } from "./api.js";
import { drawingPad, preview, SIDE } from "./digit.js";
import { errorBox, h, idOf, patch } from "./dom.js";

const PICKER_REFRESH_MS = 5000;

// {"instances": [<28 rows of 28 numbers>]}, one row per line; this text is exactly what is sent.
export function requestText(image) {
  const rows = [];
  for (let y = 0; y < SIDE; y += 1) {
    rows.push(`  [${image.slice(y * SIDE, (y + 1) * SIDE).map((v) => +v.toFixed(4)).join(", ")}]`);
  }
  return `{"instances": [[\n${rows.join(",\n")}\n]]}`;
}

function decode(digit) {
  const bytes = Uint8Array.from(atob(digit.pixels), (c) => c.charCodeAt(0));
  return Array.from(bytes, (b) => b / 255);
}

function probabilityBars(probabilities, labels) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  return h("ol", { class: "probabilities", start: 0, "aria-label": "Probability of each class" },
    probabilities.map((p, digit) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      return h("li", { class: digit === best ? "best" : "", "data-digit": digit, "data-probability": p },
        h("span", { class: "digit" }, labels[digit]), h("span", { class: "track" }, bar),
        `${(p * 100).toFixed(1)} %`);
    }));
}

function showAnswer(result, answer, task) {
  const labels = task.output.labels;
  const probabilities = (answer.predictions || [])[0];
  const valid = Array.isArray(probabilities) && probabilities.length === labels.length;
  const best = valid ? probabilities.indexOf(Math.max(...probabilities)) : null;
  result.replaceChildren(
    h("p", { class: "predicted" }, `Predicted ${task.item === "digit" ? "digit" : "class"}: `,
      h("output", { id: "predicted" }, best === null ? "—" : labels[best]),
      ` (deployed model ${answer.deployedModelId}, version ${answer.modelVersionId})`),
    valid ? probabilityBars(probabilities, labels)
      : h("p", {}, `The answer has no ${labels.length} probabilities to draw.`),
    h("h3", {}, "Response"), h("pre", { id: "response", tabindex: 0 }, JSON.stringify(answer, null, 2)));
}

function endpointPicker(endpoints, chosen) {
  const serving = endpoints.filter((e) => Object.values(e.trafficSplit || {}).some((share) => share > 0));
  const select = h("select", { id: "endpoint" }, serving.map((e) => h("option", { value: idOf(e.name) },
    `${e.displayName} (endpoint ${idOf(e.name)})`)));
  if (chosen) select.value = chosen;
  return { select, count: serving.length };
}

// The digits' labels, for an endpoint whose task cannot be read (a model from before tasks, not loaded yet).
const DIGITS = { item: "digit", image: true, input: { shape: [SIDE, SIDE] },
  output: { labels: Array.from({ length: 10 }, (_, i) => String(i)) } };

async function taskOf(endpointId) {
  try {
    return await getJson(`/console/api/endpoints/${endpointId}/task`);
  } catch {
    return DIGITS;
  }
}

// A task that is not an image: its test examples as buttons, each filling the request with that one instance.
function examplesPanel(task, request, send) {
  const shape = `[${task.input.shape.join(", ")}]`;
  const samples = h("ul", { class: "samples", "aria-label": "Test examples" }, task.samples.map((sample) =>
    h("li", {}, h("button", { type: "button", "aria-label": `Test example ${sample.labelName}`,
      "data-label": sample.label, onclick: () => {
        request.value = JSON.stringify({ instances: [sample.instance] });
        send();
      } }, sample.labelName))));
  return [
    h("p", {}, `Task ${task.name}: each instance is ${task.input.name} of shape ${shape}; the model answers one `
      + `probability per class (${task.output.labels.join(", ")}). Pick one of its test examples, or edit the `
      + "request below."),
    samples,
  ];
}

export async function testPage(ctx) {
  const { endpoints = [] } = await getJson(v1(ctx.location, "endpoints"));
  const picker = endpointPicker(endpoints, ctx.query.get("endpoint"));
  const heading = h("h1", {}, "Test your model");
  ctx.every(PICKER_REFRESH_MS, async () => { // endpoints that start or stop serving come and go in the picker
    const fresh = endpointPicker((await getJson(v1(ctx.location, "endpoints"))).endpoints || [], picker.select.value);
    if (!picker.count && fresh.count) window.dispatchEvent(new HashChangeEvent("hashchange")); // draw the tester
    else patch(picker.select, [...fresh.select.childNodes]);
  });
  if (!picker.count) return [heading, h("p", {}, `No endpoint in ${ctx.location} serves a model yet.`)];
  const task = await taskOf(picker.select.value);
  const request = h("textarea", { id: "request", rows: 12, spellcheck: "false" });
  const shown = h("div", { class: "sent" }, preview(null));
  const result = h("div", { class: "result", "aria-live": "polite" });
  const send = async () => {
    const path = v1(ctx.location, `endpoints/${picker.select.value}:predict`);
    result.replaceChildren(h("p", {}, "Predicting…"));
    try {
      showAnswer(result, await postJson(path, request.value), task);
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  };
  const controls = [
    h("label", { for: "request" }, "Request JSON (edit it and press Predict to send it as it is)"), request,
    h("p", {}, h("button", { type: "button", id: "send", onclick: send }, "Predict")),
    result,
  ];
  if (!(task.image && task.input.shape.every((side) => side === SIDE))) { // the pad draws MNIST's images only
    return [heading, h("label", { class: "inline" }, "Endpoint ", picker.select),
      ...examplesPanel(task, request, send), ...controls];
  }
  const use = (image, label) => {
    if (!image) return;
    request.value = requestText(image);
    shown.replaceChildren(preview(image, 3, label));
    send();
  };
  const pad = drawingPad((image) => use(image, "Your drawing as the model sees it (28x28)"));
  const { digits } = await getJson("/console/static/digits.json");
  const samples = h("ul", { class: "samples", "aria-label": "Test digits" }, digits.map((digit) => h("li", {},
    h("button", { type: "button", "aria-label": `Test digit ${digit.label}`, "data-label": digit.label,
      onclick: () => { pad.clear(); use(decode(digit), `Test digit ${digit.label} (28x28)`); } },
    preview(decode(digit), 1.5, `A ${digit.label}`)))));
  return [
    heading,
    h("p", {}, "Draw a digit below, or pick one of the MNIST test digits. The page sends the request the walkthrough "
      + "sends, {\"instances\": [<28x28 numbers in [0, 1]>]}, to the endpoint's :predict."),
    h("label", { class: "inline" }, "Endpoint ", picker.select),
    h("div", { class: "tester" },
      h("div", {}, h("p", { id: "pad-help" }, "Draw here (the drawing is centred and scaled as MNIST's digits were):"),
        pad.canvas,
        h("p", {}, h("button", { type: "button", onclick: () => { pad.clear(); shown.replaceChildren(preview(null)); } },
          "Clear the pad"))),
      h("div", {}, h("p", {}, "Or pick a test digit (MNIST's held-out digits):"), samples, h("p", {}, "Sent:"), shown)),
    ...controls,
  ];
}
