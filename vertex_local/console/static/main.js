// The console's router: #/models, #/models/ID/versions/V, #/endpoints, #/endpoints/ID, #/test, #/jobs, #/jobs/ID.
// ?location=projects/P/locations/L picks where to look (the first one holding anything, by default).

import { getJson } from "./api.js";
import { endpointPage, endpointsPage } from "./endpoints.js";
import { errorBox, h } from "./dom.js";
import { jobPage, jobsPage } from "./jobs.js";
import { registryPage, versionPage } from "./models.js";
import { testPage } from "./test.js";

const ROUTES = [
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, versionPage],
  [/^\/endpoints\/([^/]+)$/, endpointPage],
  [/^\/endpoints$/, endpointsPage],
  [/^\/test$/, testPage],
  [/^\/jobs\/([^/]+)$/, jobPage],
  [/^\/jobs$/, jobsPage],
  [/^(?:\/models)?$/, registryPage],
];

const view = document.getElementById("view");
const picker = document.getElementById("location");
let leaving = []; // what stops the current page's timers
let shown = 0; // which render() the view belongs to: a slow page must not replace the one the user moved on to

function leave() {
  leaving.forEach((stop) => stop());
  leaving = [];
}

// What a page gets: where to look, the hash's ?query, and timers that stop when the user moves on.
function context(query, stops) {
  return {
    location: picker.value,
    query,
    every(ms, refresh) {
      let busy = false;
      const timer = setInterval(async () => {
        if (busy || document.hidden) return;
        busy = true;
        try {
          await refresh();
        } catch (error) {
          console.warn("refresh failed:", error.message);
        } finally {
          busy = false;
        }
      }, ms);
      stops.push(() => clearInterval(timer));
    },
    onLeave(stop) {
      stops.push(stop);
    },
  };
}

async function render() {
  leave();
  const mine = ++shown;
  const stops = [];
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  const [pattern, page] = ROUTES.find(([regex]) => regex.test(path)) || [/.*/, null];
  document.querySelectorAll("nav a").forEach((link) => {
    const section = link.getAttribute("href").slice(1);
    link.toggleAttribute("aria-current", path.startsWith(section) || (!path && section === "/models"));
  });
  view.setAttribute("aria-busy", "true");
  try {
    if (!page) throw new Error(`no such page: ${location.hash}`);
    if (!picker.value) throw new Error("Nothing here yet: no project holds a model, an endpoint or a custom job.");
    const built = await page(context(new URLSearchParams(search), stops), ...pattern.exec(path).slice(1));
    if (mine !== shown) return stops.forEach((stop) => stop());
    leaving = stops;
    view.replaceChildren(...[built].flat(Infinity).filter(Boolean));
    if (!performance.getEntriesByName("console-usable").length) performance.mark("console-usable");
  } catch (error) {
    stops.forEach((stop) => stop());
    if (mine === shown) view.replaceChildren(h("h1", {}, "Something went wrong"), errorBox(error));
  } finally {
    if (mine === shown) view.removeAttribute("aria-busy");
  }
}

async function start() {
  const wanted = new URLSearchParams(location.search).get("location");
  const { locations } = await getJson("/console/api/locations");
  const choices = wanted && !locations.includes(wanted) ? [wanted, ...locations] : locations;
  picker.replaceChildren(...choices.map((name) => h("option", { value: name }, name)));
  picker.value = wanted || choices[0] || "";
  picker.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("location", picker.value);
    history.replaceState(null, "", url);
    render();
  });
  window.addEventListener("hashchange", render);
  await render();
}

start().catch((error) => view.replaceChildren(errorBox(error)));
