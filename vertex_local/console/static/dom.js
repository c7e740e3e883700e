// Building the page: elements from data, always as text (names and labels come from the API, never run as HTML).

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) if (child) element.append(child instanceof Node ? child : String(child));
  return element;
}

export function time(text) {
  if (!text) return "—";
  const date = new Date(text);
  return h("time", { datetime: text }, date.toLocaleString());
}

export function duration(start, end) {
  if (!start) return "—";
  const seconds = ((end ? new Date(end) : new Date()) - new Date(start)) / 1000;
  return seconds < 120 ? `${seconds.toFixed(1)} s` : `${(seconds / 60).toFixed(1)} min`;
}

export function idOf(name) {
  return String(name).split("/").pop();
}

export function chips(values, className = "chip") {
  return h("ul", { class: "chips" }, values.map((value) => h("li", { class: className }, value)));
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, value]) => value !== undefined).map(([term, value]) => [
    h("dt", {}, term),
    h("dd", {}, value === null || value === "" ? "—" : value),
  ]));
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function percent(value, digits = 1) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(digits)} %`;
}

// Refresh in place: make `target`'s children look like `fresh` while keeping every node that is still there (same
// tag at the same place), so the element holding keyboard focus, a half-done click or a selection survives a refresh.
export function patch(target, fresh) {
  const wanted = [fresh].flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false)
    .map((child) => (child instanceof Node ? child : document.createTextNode(String(child))));
  wanted.forEach((next, index) => {
    const old = target.childNodes[index];
    if (!old) target.append(next);
    else if (old.nodeType !== next.nodeType || old.nodeName !== next.nodeName || old.dataset?.key !== next.dataset?.key) {
      old.replaceWith(next);
    } else if (old.nodeType === Node.TEXT_NODE) {
      if (old.data !== next.data) old.data = next.data;
    } else {
      patchAttributes(old, next);
      patch(old, [...next.childNodes]);
    }
  });
  while (target.childNodes.length > wanted.length) target.lastChild.remove();
}

// `style` goes through the CSSOM: the page's CSP refuses style attributes written as text.
function patchAttributes(old, next) {
  for (const { name } of [...old.attributes]) if (!next.hasAttribute(name)) old.removeAttribute(name);
  for (const { name, value } of [...next.attributes]) {
    if (name === "style") {
      if (old.style.cssText !== next.style.cssText) old.style.cssText = next.style.cssText;
    } else if (old.getAttribute(name) !== value) old.setAttribute(name, value);
  }
}

export function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}
