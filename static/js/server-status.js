/**
 * What the page knows about the server: its settings (/api/config), its counters (/api/stats,
 * polled every 2 s) and whether it restarted. Views read the latest values through the getters
 * and subscribe with `onConfig` / `onRestart`; only the header's status line and the footer's
 * settings summary are written here.
 */

import { byId, clockTime, formatBytes } from "./dom.js";
import * as http from "./protocols/http.js";
import { setText } from "./ui.js";
import { httpUrl } from "./urls.js";

/** One place for what the server told us; read through the getters below. */
const server = {
  /** Server settings from /api/config (null until it answered once). */
  config: /** @type {Record<string, any> | null} */ (null),
  /** The latest /api/stats snapshot (null while the server is unreachable). */
  stats: /** @type {Record<string, any> | null} */ (null),
  /** Things that want to know when the server restarted (its uptime went down). */
  restartListeners: /** @type {Array<() => void>} */ ([]),
  /** Things that shape controls from the settings, called on every successful load. */
  configListeners: /** @type {Array<(config: Record<string, any>) => void>} */ ([]),
};

/**
 * The server's settings, or null until /api/config answered once.
 * @returns {Record<string, any> | null}
 */
export function getConfig() {
  return server.config;
}

/**
 * The latest /api/stats snapshot, or null while the server is unreachable.
 * @returns {Record<string, any> | null}
 */
export function getServerStats() {
  return server.stats;
}

/**
 * Call `listener` when the server restarted (its uptime went down between two polls).
 * @param {() => void} listener
 */
export function onRestart(listener) {
  server.restartListeners.push(listener);
}

/**
 * Call `listener` with the settings now if they are known, and whenever they are loaded, so a
 * view can bound its own controls (max lengths, limits) whenever the server answers.
 * @param {(config: Record<string, any>) => void} listener
 */
export function onConfig(listener) {
  server.configListeners.push(listener);
  if (server.config) listener(server.config);
}

/**
 * Poll /api/stats every 2 s: the header's status, the "server sees" rows, restart detection.
 * Loads /api/config too if it was not reachable at boot.
 */
export function watchServer() {
  const box = byId("server-status");
  const text = byId("server-status-text");
  // Per worker: with --workers N each poll may reach another process, whose uptime differs.
  const lastUptime = new Map();
  let downSince = null;

  async function poll() {
    try {
      const response = await fetch(httpUrl("/api/stats"), { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const stats = await response.json();
      server.stats = stats;
      const worker = stats.process?.worker ?? 1;
      const before = lastUptime.get(worker);
      if (before !== undefined && stats.uptime_s < before) {
        server.restartListeners.forEach((listener) => listener());
      }
      lastUptime.set(worker, stats.uptime_s);
      downSince = null;
      box.dataset.state = "up";
      setText(text, `server up ${formatUptime(stats.uptime_s)} · ${stats.live_connections} live connections · ${whoAnswered(stats)}`);
      if (!server.config) loadConfig();
    } catch {
      server.stats = null;
      downSince ??= new Date();
      box.dataset.state = "down";
      setText(text, `server unreachable since ${clockTime(downSince).slice(0, 8)} — /api/stats failed`);
    }
  }
  poll();
  setInterval(poll, 2000);
}

/** Which process answered, and where its rooms live (/api/stats `process` and `broker`). */
function whoAnswered(stats) {
  const process = stats.process;
  const broker = stats.broker;
  const who = !process ? "" : process.workers > 1 ? `worker ${process.worker}/${process.workers} (pid ${process.pid})` : `pid ${process.pid}`;
  const rooms = !broker ? "" : broker.kind === "memory" ? "rooms in memory" : `rooms in ${broker.kind} (${broker.state})`;
  return [who, rooms].filter(Boolean).join(" · ");
}

function formatUptime(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * Fetch /api/config; on success apply the rate limit to HTTP room posts, summarise the
 * settings in the footer and tell every `onConfig` listener. Failures are silent: the stats
 * poll tries again once the server is reachable.
 * @returns {Promise<void>}
 */
export async function loadConfig() {
  let config;
  try {
    const response = await fetch(httpUrl("/api/config"), { cache: "no-store" });
    if (!response.ok) return;
    config = await response.json();
  } catch {
    return;
  }
  server.config = config;
  http.configureRoomRate(config.room_rate ?? 0, config.room_burst ?? 1);
  setText(byId("config-summary"),
    `Server settings (/api/config): ws_max_size ${formatBytes(config.ws_max_size)}, ws_compress ${config.ws_compress}, ` +
    `sse_retry ${config.sse_retry} ms, room_rate ${config.room_rate}/s (burst ${config.room_burst}).`);
  server.configListeners.forEach((listener) => listener(config));
}
