/**
 * The network the page runs over: when the page is opened through `python -m client netem`,
 * the proxy answers `/_netem` itself (GET: the conditions in effect; POST: switch them).
 * Opened straight from the server, `/_netem` is a 404 and the page says so. No DOM here.
 */

import { httpUrl } from "./urls.js";

/**
 * @typedef {object} NetemState
 * @property {{spec: string, description: string, delay_up_ms: number, delay_down_ms: number,
 *   jitter_ms: number, rate_bps: number | null, idle_timeout_s: number | null,
 *   buffer_bytes: number | null, buffer_until_close: boolean, strip_upgrade: boolean}} conditions
 * @property {string | null} preset the preset that matches, if any
 * @property {{name: string, spec: string, label: string}[]} presets
 * @property {string} target the server behind the proxy
 */

/**
 * The conditions in effect, or null when no netem proxy is in the path.
 * @returns {Promise<NetemState | null>}
 */
export async function readConditions() {
  let response;
  try {
    response = await fetch(httpUrl("/_netem"), { cache: "no-store" });
  } catch {
    return null; // the server is down: nothing to say about the network
  }
  // Only the proxy marks its answers; a 404 from the server means there is no proxy.
  if (!response.ok || response.headers.get("X-Netem") !== "control") return null;
  return /** @type {NetemState} */ (await response.json());
}

/**
 * Switch the proxy to a preset (or a spec such as "delay=50ms,rate=1mbit").
 * @param {{preset?: string, spec?: string}} choice
 * @returns {Promise<NetemState>}
 */
export async function switchConditions(choice) {
  const response = await fetch(httpUrl("/_netem"), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(choice),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return /** @type {NetemState} */ (body);
}
