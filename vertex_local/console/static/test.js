// Test your model: draw a digit or pick a test digit, send the walkthrough's request to :predict, read the answer.

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

function probabilityBars(probabilities) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  return h("ol", { class: "probabilities", start: 0, "aria-label": "Probability of each digit" },
    probabilities.map((p, digit) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      return h("li", { class: digit === best ? "best" : "", "data-digit": digit, "data-probability": p },
        h("span", { class: "digit" }, digit), h("span", { class: "track" }, bar), `${(p * 100).toFixed(1)} %`);
    }));
}

function showAnswer(result, answer) {
  const probabilities = (answer.predictions || [])[0];
  const valid = Array.isArray(probabilities) && probabilities.length === 10;
  const predicted = valid ? probabilities.indexOf(Math.max(...probabilities)) : null;
  result.replaceChildren(
    h("p", { class: "predicted" }, "Predicted digit: ", h("output", { id: "predicted" }, predicted ?? "—"),
      ` (deployed model ${answer.deployedModelId}, version ${answer.modelVersionId})`),
    valid ? probabilityBars(probabilities) : h("p", {}, "The answer has no 10 probabilities to draw."),
    h("h3", {}, "Response"), h("pre", { id: "response", tabindex: 0 }, JSON.stringify(answer, null, 2)));
}

function endpointPicker(endpoints, chosen) {
  const serving = endpoints.filter((e) => Object.values(e.trafficSplit || {}).some((share) => share > 0));
  const select = h("select", { id: "endpoint" }, serving.map((e) => h("option", { value: idOf(e.name) },
    `${e.displayName} (endpoint ${idOf(e.name)})`)));
  if (chosen) select.value = chosen;
  return { select, count: serving.length };
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
  const request = h("textarea", { id: "request", rows: 12, spellcheck: "false" });
  const shown = h("div", { class: "sent" }, preview(null));
  const result = h("div", { class: "result", "aria-live": "polite" });
  const send = async () => {
    const path = v1(ctx.location, `endpoints/${picker.select.value}:predict`);
    result.replaceChildren(h("p", {}, "Predicting…"));
    try {
      showAnswer(result, await postJson(path, request.value));
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  };
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
    h("label", { for: "request" }, "Request JSON (edit it and press Predict to send it as it is)"), request,
    h("p", {}, h("button", { type: "button", id: "send", onclick: send }, "Predict")),
    result,
  ];
}
