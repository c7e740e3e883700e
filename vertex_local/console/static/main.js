// The console's router: #/models, #/models/ID/versions/V, #/endpoints, #/endpoints/ID, #/test, #/jobs, #/jobs/ID.
// ?location=projects/P/locations/L picks where to look (the first one holding anything, by default).

import { getJson } from "./api.js";
import { announce, errorBox, h, patch } from "./dom.js";

// Each page's module is fetched when it is first shown (a first load carries only the page it opens), in parallel
// with the page's first request.
const ROUTES = [
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, "./models.js", "versionPage"],
  [/^\/models\/([^/]+)\/compare$/, "./compare.js", "comparePage"],
  [/^\/endpoints\/([^/]+)$/, "./endpoints.js", "endpointPage"],
  [/^\/endpoints$/, "./endpoints.js", "endpointsPage"],
  [/^\/test$/, "./test.js", "testPage"],
  [/^\/jobs\/([^/]+)$/, "./jobs.js", "jobPage"],
  [/^\/jobs$/, "./jobs.js", "jobsPage"],
  [/^(?:\/models)?$/, "./models.js", "registryPage"],
];

// A module that cannot be fetched because the server is gone says so (getJson throws NotAnswering), not "Failed
// to fetch".
async function pageModule(file) {
  try {
    return await import(file);
  } catch (error) {
    await getJson("/healthz");
    throw error;
  }
}

const view = document.getElementById("view");
const picker = document.getElementById("location");
const banner = document.getElementById("offline");
const LOCATIONS_REFRESH_MS = 3000; // new projects show up in the picker without a reload
const PROBE_MS = 2000; // while the server is not answering, how often to knock
let leaving = []; // what stops the current page's timers
let shown = 0; // which render() the view belongs to: a slow page must not replace the one the user moved on to
let refreshes = 0; // refreshes that landed, on the view as data-refreshes: tests wait on it, people never see it

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
          view.dataset.refreshes = String(++refreshes);
        } catch (error) {
          if (!error.notAnswering) console.warn("refresh failed:", error.message);
        } finally {
          busy = false;
        }
      }, ms);
      stops.push(() => clearInterval(timer));
    },
    onLeave(stop) {
      stops.push(stop);
    },
    // The hash's query with `changes` applied, kept in the address bar without reloading the page.
    setQuery(changes) {
      Object.entries(changes).forEach(([key, value]) => query.set(key, value));
      const [path] = location.hash.replace(/^#/, "").split("?");
      history.replaceState(null, "", `${location.pathname}${location.search}#${path}?${query}`);
    },
  };
}

function failure(error) {
  if (error.notAnswering) return [h("h1", {}, "vertex-local is not answering"), errorBox(error)];
  if (error.httpStatus === 404) return [h("h1", {}, "Not found"), errorBox(new Error(error.apiMessage || error.message))];
  return [h("h1", {}, "Something went wrong"), errorBox(error)];
}

function nothingYet() {
  return [h("h1", {}, "Nothing here yet"), h("p", {}, "No project holds a model, an endpoint or a custom job. Run "
    + "`make demo` (or the SDK) against this server; this page shows them as they appear.")];
}

function settle(parts) {
  view.replaceChildren(...[parts].flat(Infinity).filter(Boolean));
  const title = (view.querySelector("h1") || {}).textContent || "";
  document.title = `${title} · vertex-local console`;
  announce(`${title} page loaded`);
}

async function render() {
  leave();
  const mine = ++shown;
  const stops = [];
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  const [pattern, file, name] = ROUTES.find(([regex]) => regex.test(path)) || [/.*/, null, null];
  const loading = file ? pageModule(file) : null;
  loading?.catch(() => null); // awaited below; a failure there is reported once
  document.querySelectorAll("nav a").forEach((link) => {
    const section = link.getAttribute("href").slice(1);
    link.toggleAttribute("aria-current", path.startsWith(section) || (!path && section === "/models"));
  });
  view.setAttribute("aria-busy", "true");
  try {
    if (!loading) throw new Error(`no such page: ${location.hash}`);
    if (!picker.value) await readLocations();
    if (mine !== shown) return;
    if (!picker.value) {
      settle(nothingYet());
      return;
    }
    const page = (await loading)[name];
    const built = await page(context(new URLSearchParams(search), stops), ...pattern.exec(path).slice(1));
    if (mine !== shown) return stops.forEach((stop) => stop());
    leaving = stops;
    settle(built);
    if (!performance.getEntriesByName("console-usable").length) performance.mark("console-usable");
  } catch (error) {
    stops.forEach((stop) => stop());
    if (mine === shown) settle(failure(error));
  } finally {
    if (mine === shown) view.removeAttribute("aria-busy");
  }
}

// The picker's choices, read again and again: a fresh server has none until something is created in it.
async function readLocations() {
  const wanted = new URLSearchParams(location.search).get("location");
  const { locations } = await getJson("/console/api/locations");
  const choices = wanted && !locations.includes(wanted) ? [wanted, ...locations] : locations;
  const before = picker.value;
  patch(picker, choices.map((name) => h("option", { value: name }, name)));
  picker.value = before || wanted || choices[0] || "";
  return !before && picker.value;
}

function watchServer() {
  let probe = null;
  window.addEventListener("vertex-local:down", () => {
    banner.hidden = false;
    document.body.classList.add("stale");
    probe = probe || setInterval(() => getJson("/healthz").catch(() => null), PROBE_MS);
  });
  window.addEventListener("vertex-local:up", () => {
    if (banner.hidden) return;
    banner.hidden = true;
    document.body.classList.remove("stale");
    clearInterval(probe);
    probe = null;
  });
}

async function start() {
  watchServer();
  picker.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("location", picker.value);
    history.replaceState(null, "", url);
    render();
  });
  window.addEventListener("hashchange", render);
  setInterval(async () => {
    const appeared = await readLocations().catch(() => false);
    if (appeared && view.querySelector("h1")?.textContent === "Nothing here yet") render();
  }, LOCATIONS_REFRESH_MS);
  await render();
}

start().catch((error) => settle(failure(error)));
