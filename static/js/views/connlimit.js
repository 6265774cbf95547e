/**
 * The connection-limit experiment: open N event streams, then one fetch, to this page's
 * origin, and show how many streams opened and whether the fetch got through.
 *
 * Over HTTP/1.1 a browser keeps at most 6 connections per origin, and an open event stream
 * holds one for as long as it lives: the 7th stream waits, and so does every request behind
 * it. Over HTTP/2 every stream and request shares one connection, up to the server's limit
 * of concurrent streams (nginx 128, HAProxy 100). Run it on the app directly (HTTP/1.1) and
 * through `make proxy` (HTTP/2) side by side.
 */

import { byId } from "../dom.js";
import { pageId } from "../page.js";
import { nextEntry } from "../timing.js";
import { renderMetrics, setText, showState } from "../ui.js";
import { httpUrl } from "../urls.js";

/** How long streams get to open, and then the fetch to complete: the experiment's bound. */
export const WAIT_MS = 3000;
/** Chromium's and Firefox's limit of HTTP/1.1 connections per origin. */
const HTTP1_CONNECTIONS = 6;

/**
 * @typedef {{count: number, opened: number, fetch: "completed" | "blocked" | "failed", fetchMs: number | null, protocol: string | null}} Outcome
 */

/** Wire the view: the count input, Run, and the figures. */
export function setupConnLimit() {
  const panel = byId("connlimit-panel");
  const input = /** @type {HTMLInputElement} */ (byId("connlimit-count"));
  const button = /** @type {HTMLButtonElement} */ (byId("connlimit-run"));
  const badge = byId("connlimit-state");
  const metrics = byId("connlimit-metrics");
  const verdict = byId("connlimit-verdict");

  button.addEventListener("click", async () => {
    const count = Math.max(1, Math.min(Number(input.value) || 1, Number(input.max) || 300));
    button.disabled = true;
    panel.dataset.state = "running";
    showState(badge, "connecting", `opening ${count} streams…`);
    setText(verdict, "");
    const outcome = await runExperiment(count, (opened) => {
      renderMetrics(metrics, figures({ count, opened, fetch: "blocked", fetchMs: null, protocol: null }, true));
    });
    renderMetrics(metrics, figures(outcome, false));
    setText(verdict, explain(outcome));
    Object.assign(panel.dataset, {
      state: "done",
      opened: String(outcome.opened),
      fetch: outcome.fetch,
      protocol: outcome.protocol ?? "",
    });
    showState(badge, outcome.fetch === "completed" ? "open" : "error", outcome.fetch === "completed" ? "fetch got through" : "fetch waited");
    button.disabled = false;
  });
}

/**
 * Open `count` EventSources, wait until all are open (or WAIT_MS), then fetch /healthz
 * (WAIT_MS at most); close everything and say what happened.
 * @param {number} count
 * @param {(opened: number) => void} onProgress
 * @returns {Promise<Outcome>}
 */
export async function runExperiment(count, onProgress) {
  const room = `connlimit-${pageId}`;
  /** @type {EventSource[]} */
  const sources = [];
  let opened = 0;
  let allOpen = () => {};
  const everyOneOpen = new Promise((resolve) => {
    allOpen = resolve;
  });
  for (let i = 0; i < count; i += 1) {
    const source = new EventSource(httpUrl(`/sse/room/${room}`, { stream: i }));
    source.addEventListener("open", () => {
      opened += 1;
      onProgress(opened);
      if (opened === count) allOpen(null);
    }, { once: true });
    sources.push(source);
  }
  try {
    await Promise.race([everyOneOpen, delay(WAIT_MS)]);
    return { count, opened, ...(await fetchBehind()) };
  } finally {
    for (const source of sources) source.close();
  }
}

/**
 * One fetch to the same origin, behind the streams: does it complete within WAIT_MS?
 * @returns {Promise<{fetch: Outcome["fetch"], fetchMs: number | null, protocol: string | null}>}
 */
async function fetchBehind() {
  const url = httpUrl("/healthz", { connlimit: Date.now() });
  const timing = nextEntry(url, WAIT_MS);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), WAIT_MS);
  const started = performance.now();
  try {
    const response = await fetch(url, { cache: "no-store", signal: controller.signal });
    await response.text();
    const fetchMs = performance.now() - started;
    const entry = await timing.entry;
    return { fetch: "completed", fetchMs, protocol: entry?.nextHopProtocol || null };
  } catch (error) {
    timing.cancel();
    return { fetch: controller.signal.aborted ? "blocked" : "failed", fetchMs: null, protocol: null };
  } finally {
    clearTimeout(timer);
  }
}

/** @param {number} ms */
function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * @param {Outcome} outcome
 * @param {boolean} running
 * @returns {import("../ui.js").Metric[]}
 */
function figures(outcome, running) {
  const fetchValue = running
    ? "not sent yet"
    : outcome.fetch === "completed"
      ? `completed in ${Math.round(outcome.fetchMs ?? 0)} ms`
      : outcome.fetch === "blocked"
        ? `did not complete within ${WAIT_MS / 1000} s`
        : "failed (server unreachable?)";
  return [
    {
      label: "Event streams open",
      value: `${outcome.opened} of ${outcome.count}`,
      source: "measured",
      detail: `EventSource open events within ${WAIT_MS / 1000} s`,
    },
    { label: "Fetch behind them", value: fetchValue, source: "measured", detail: "GET /healthz, timed by the page" },
    {
      label: "Protocol (next hop)",
      value: outcome.protocol ?? "—",
      source: "measured",
      detail: "Resource Timing nextHopProtocol of that fetch",
    },
    {
      label: "Page's own stream",
      value: ownStreamOpen() ? "1 more (the SSE panel)" : "none",
      source: "page",
      detail: "the first tab's SSE panel holds a connection too; Disconnect it there to see all 6",
    },
  ];
}

/** True while the SSE panel on the first tab holds a stream of its own. */
function ownStreamOpen() {
  return document.getElementById("sse-state")?.dataset.state === "open";
}

/** @param {Outcome} outcome */
function explain(outcome) {
  if (outcome.fetch === "completed" && outcome.opened === outcome.count) {
    return outcome.protocol === "h2"
      ? "Every stream opened and the fetch got through: HTTP/2 carries them all on one connection."
      : "Every stream opened and the fetch got through: fewer streams than the browser's connection limit.";
  }
  if (outcome.opened <= HTTP1_CONNECTIONS && outcome.fetch !== "completed") {
    return `Only ${outcome.opened} streams opened and the fetch waited behind them: over HTTP/1.1 each stream holds one of the browser's ${HTTP1_CONNECTIONS} connections to this origin.`;
  }
  const fetch = outcome.fetch === "completed" ? "" : " The fetch needs a stream too, and waited.";
  return `${outcome.opened} of ${outcome.count} streams opened: one HTTP/2 connection carries only as many streams at once as the server allows (nginx 128, HAProxy 100).${fetch}`;
}
