// The REST API the SDK uses, same-origin: JSON bodies go as application/json, errors come back in Google's shape.
// A server started with a token is opened at /console/#token=...: the token moves from the address bar into this
// tab's sessionStorage (never into a URL the server logs) and goes with every request as `Authorization: Bearer`.

const TOKEN_KEY = "vertex-local-token";

function takeTokenFromAddress() {
  const found = /(^#|&)token=([^&]*)/.exec(window.location.hash);
  if (!found) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(found[2]));
  const rest = window.location.hash.replace(found[0], found[1] === "#" ? "#" : "");
  history.replaceState(null, "", window.location.pathname + window.location.search + (rest === "#" ? "" : rest));
}
takeTokenFromAddress();

function withToken(headers = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}

export class ApiError extends Error {
  constructor(httpStatus, message, status) {
    super(status ? `${httpStatus} ${status}: ${message}` : `${httpStatus}: ${message}`);
    this.httpStatus = httpStatus;
    this.apiMessage = message;
  }
}

export class NotAnswering extends Error {
  constructor() {
    super("vertex-local is not answering: is it still running? Start it again (make up), then this page catches up.");
    this.notAnswering = true;
  }
}

// Every request goes through here: a fetch that fails outright (connection refused) means the server is gone, and
// the page says so once (main.js listens) instead of each part failing on its own.
async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    window.dispatchEvent(new CustomEvent("vertex-local:down"));
    throw new NotAnswering();
  }
  window.dispatchEvent(new CustomEvent("vertex-local:up"));
  return response;
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = null;
  }
  if (!response.ok || body === null) {
    const error = body && body.error;
    throw new ApiError(response.status, error ? error.message : text.slice(0, 300), error && error.status);
  }
  return body;
}

export async function getJson(path) {
  return answer(await call(path, { headers: withToken({ Accept: "application/json" }) }));
}

export async function postJson(path, bodyText) {
  const headers = withToken({ "Content-Type": "application/json", Accept: "application/json" });
  return answer(await call(path, { method: "POST", headers, body: bodyText }));
}

export async function sendJson(method, path, body) {
  const headers = withToken({ "Content-Type": "application/json", Accept: "application/json" });
  return answer(await call(path, { method, headers, body: JSON.stringify(body) }));
}

export function v1(location, path) {
  return `/v1/${location}/${path}`;
}

// gs://BUCKET/NAME through the Cloud Storage JSON API; null when there is no such object.
export async function readGcsJson(uri) {
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) return null;
  const path = `/storage/v1/b/${match[1]}/o/${encodeURIComponent(match[2])}?alt=media`;
  const response = await call(path, { headers: withToken() });
  if (response.status === 404) return null;
  return answer(response);
}

// A text body read as it streams in, keeping only its last `maxChars`: a long log never sits whole in memory.
export async function readTail(path, maxChars, signal) {
  const response = await call(path, { signal, headers: withToken() });
  if (!response.ok) return answer(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let kept = "";
  let dropped = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    kept += value;
    if (kept.length > maxChars) {
      kept = kept.slice(kept.length - maxChars);
      dropped = true;
    }
  }
  if (dropped) kept = kept.slice(kept.indexOf("\n") + 1);
  return { text: kept, dropped };
}

// The bytes under gs://BUCKET/PREFIX/ (a model's artifact), through the JSON API's object listing.
export async function gcsSize(uri) {
  const match = /^gs:\/\/([^/]+)\/(.+?)\/*$/.exec(uri || "");
  if (!match) return null;
  let total = 0;
  let token = "";
  do {
    const query = `prefix=${encodeURIComponent(`${match[2]}/`)}${token ? `&pageToken=${encodeURIComponent(token)}` : ""}`;
    const page = await getJson(`/storage/v1/b/${match[1]}/o?${query}`);
    (page.items || []).forEach((item) => { total += Number(item.size || 0); });
    token = page.nextPageToken || "";
  } while (token);
  return total;
}
