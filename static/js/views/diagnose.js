/**
 * The "Network" tab: the conditions in effect (with presets to switch them, when the page runs
 * through the netem proxy) and the Diagnose panel, which tries the transports in the order a
 * real client falls back — WebSocket, then SSE + POST, then long-polling — and shows how long
 * each step took and why one failed.
 */

import { byId, el } from "../dom.js";
import { readConditions, switchConditions } from "../netem.js";
import { showState, setText } from "../ui.js";
import { httpUrl, wsUrl } from "../urls.js";

const STEP_LIMIT_MS = 8000;

/** Wire the Network tab and the header badge. */
export function setupDiagnose() {
  const refresh = () => showConditions().catch(() => undefined);
  window.addEventListener("tabshown", (event) => {
    if (/** @type {CustomEvent} */ (event).detail === "network") refresh();
  });
  byId("diagnose-run").addEventListener("click", () => runDiagnosis());
  refresh();
}

/** Ask the proxy for its conditions; show them, the presets and the header badge. */
async function showConditions() {
  const state = await readConditions();
  const badge = byId("netem-badge");
  const presets = byId("netem-presets");
  presets.replaceChildren();
  if (state === null) {
    badge.hidden = true;
    showState(byId("netem-state"), "closed", "no proxy");
    setText(
      byId("netem-conditions"),
      "Straight to the server: no netem proxy in the path (on loopback every protocol answers in well under a millisecond).",
    );
    return;
  }
  badge.hidden = false;
  setText(badge, `network: ${state.conditions.description}`);
  showState(byId("netem-state"), "open", state.preset ?? "custom");
  setText(byId("netem-conditions"), `${state.conditions.description} (spec: ${state.conditions.spec}), relaying to ${state.target}.`);
  for (const preset of state.presets) {
    const button = el("button", { text: preset.label, attrs: { type: "button", "aria-pressed": String(preset.name === state.preset) }, dataset: { preset: preset.name } });
    button.addEventListener("click", async () => {
      try {
        await switchConditions({ preset: preset.name });
      } finally {
        await showConditions();
      }
    });
    presets.append(button);
  }
}

/**
 * @typedef {{name: string, ok: boolean, ms: number, detail: string}} StepResult
 */

/** Run the fallback chain; every step is shown with its time, the chosen transport last. */
async function runDiagnosis() {
  const button = /** @type {HTMLButtonElement} */ (byId("diagnose-run"));
  const rows = byId("diagnose-steps");
  const verdict = byId("diagnose-verdict");
  button.disabled = true;
  rows.replaceChildren();
  setText(verdict, "");
  showState(byId("diagnose-state"), "busy", "running");
  /** @type {[string, string, () => Promise<string>][]} */
  const chain = [
    ["ws", "WebSocket", probeWebSocket],
    ["sse", "SSE + POST", probeSse],
    ["longpoll", "long-poll", probeLongPoll],
  ];
  let chosen = null;
  const failures = [];
  for (const [key, name, probe] of chain) {
    const result = await timed(name, probe);
    rows.append(stepRow(key, result, chosen !== null));
    if (result.ok && chosen === null) chosen = name;
    if (!result.ok && chosen === null) failures.push(`${name} failed (${result.detail})`);
  }
  const fallback = failures.length ? `${failures.join("; ")}: fell back to ` : "";
  setText(verdict, chosen ? `${fallback}${chosen}.` : `Nothing works on this path: ${failures.join("; ")}.`);
  showState(byId("diagnose-state"), chosen ? "open" : "failed", chosen ?? "none works");
  byId("diagnose-panel").dataset.transport = chosen ?? "";
  button.disabled = false;
}

/**
 * @param {string} key
 * @param {StepResult} result
 * @param {boolean} extra true when an earlier step already works (checked for comparison)
 */
function stepRow(key, result, extra) {
  return el(
    "tr",
    { dataset: { step: key, ok: String(result.ok) } },
    el("th", { text: result.name, attrs: { scope: "row" } }),
    el("td", { text: result.ok ? "works" : "fails" }),
    el("td", { className: "num", text: `${result.ms.toFixed(0)} ms` }),
    el("td", { text: extra ? `${result.detail} (checked anyway)` : result.detail }),
  );
}

/**
 * @param {string} name
 * @param {() => Promise<string>} probe resolves with what it saw, rejects with why it failed
 * @returns {Promise<StepResult>}
 */
async function timed(name, probe) {
  const started = performance.now();
  try {
    const detail = await withLimit(probe(), STEP_LIMIT_MS);
    return { name, ok: true, ms: performance.now() - started, detail };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { name, ok: false, ms: performance.now() - started, detail };
  }
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} limitMs
 * @returns {Promise<T>}
 */
function withLimit(promise, limitMs) {
  let timer = 0;
  const limit = new Promise((_, reject) => {
    timer = window.setTimeout(() => reject(new Error(`nothing within ${limitMs / 1000} s`)), limitMs);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Upgrade, send one message, wait for its echo. */
function probeWebSocket() {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl("/ws/echo"));
    const done = (/** @type {() => void} */ settle) => {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      if (socket.readyState <= WebSocket.OPEN) socket.close(1000);
      settle();
    };
    socket.onopen = () => socket.send("diagnose");
    socket.onmessage = (event) => done(() => resolve(`upgraded and echoed "${event.data}"`));
    // The browser hides why an upgrade failed; the close code says at least that it did.
    socket.onerror = () => done(() => reject(new Error("the upgrade failed (a proxy that strips Upgrade?)")));
    socket.onclose = (event) => done(() => reject(new Error(`closed before the echo (code ${event.code})`)));
  });
}

/** Two events one second apart: delivered as sent, or held by a buffering middlebox. */
function probeSse() {
  return new Promise((resolve, reject) => {
    const source = new EventSource(httpUrl("/sse/stream", { count: 2, interval: 1000 }));
    /** @type {number[]} */
    const arrivals = [];
    source.addEventListener("tick", (event) => {
      arrivals.push(performance.now());
      if (arrivals.length < 2) return;
      source.close();
      const apart = arrivals[1] - arrivals[0];
      if (apart < 500) {
        reject(new Error(`events sent 1000 ms apart arrived ${apart.toFixed(0)} ms apart: a proxy buffers the stream`));
        return;
      }
      postEcho().then(() => resolve(`events arrived ${apart.toFixed(0)} ms apart, as sent; POST works`), reject);
    });
    source.onmessage = source.onerror = null;
    source.addEventListener("error", () => {
      if (arrivals.length < 2) {
        source.close();
        reject(new Error("the event stream failed"));
      }
    });
  });
}

/** The upstream half of SSE + POST. */
async function postEcho() {
  const response = await fetch(httpUrl("/http/echo"), { method: "POST", body: "diagnose" });
  if (!response.ok) throw new Error(`POST answered ${response.status}`);
}

/** Ask for the tick after the current one and wait for it. */
async function probeLongPoll() {
  const current = await (await fetch(httpUrl("/http/tick", { interval: 1000 }), { cache: "no-store" })).json();
  const response = await fetch(httpUrl("/http/tick", { interval: 1000, after: current.seq, wait: 5 }), { cache: "no-store" });
  if (!response.ok) throw new Error(`answered ${response.status}`);
  const tick = await response.json();
  if (tick.seq <= current.seq) throw new Error("came back without the next tick");
  return "held until the next tick, then answered";
}
