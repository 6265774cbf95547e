/**
 * The push view: the server sends ticks over a WebSocket, an SSE stream, HTTP polling and
 * HTTP long-polling at once; each column logs and measures its own, the timeline shows all four.
 */

import { Backoff } from "../backoff.js";
import { drawTimeline, formatMs } from "../chart.js";
import { byId, el } from "../dom.js";
import { WS_BACKOFF } from "../page.js";
import * as http from "../protocols/http.js";
import * as sse from "../protocols/sse.js";
import * as ws from "../protocols/ws.js";
import { getConfig } from "../server-status.js";
import { RecentSamples, summarize } from "../stats.js";
import {
  chartTheme, describeCost, logLine, logStatus, ms, rememberFailure, renderMetrics, showStatus, sizeOf, worthLogging,
} from "../ui.js";
import { httpUrl } from "../urls.js";

const PUSH_LABELS = { ws: "WebSocket push", sse: "SSE stream", http: "HTTP polling", long: "HTTP long-polling" };

/** Wire the push view: Start/Stop per column and for all, the timeline, the clock check. */
export function setupPush() {
  const form = /** @type {HTMLFormElement} */ (byId("push-form"));
  const canvas = /** @type {HTMLCanvasElement} */ (byId("push-canvas"));
  const value = (id) => Number(/** @type {HTMLInputElement} */ (byId(id)).value);
  const params = () => ({ interval: value("push-interval"), size: value("push-size"), count: value("push-count"), everyMs: value("push-poll") });

  /** @type {Record<string, ReturnType<typeof makeColumn>>} */
  const columns = {
    ws: makeColumn("push-ws", "ws", (h, p) => ws.openStream({ ...p, ...h, backoff: new Backoff(WS_BACKOFF) })),
    sse: makeColumn("push-sse", "sse", (h, p) => sse.openStream({ ...p, ...h, retryMs: getConfig()?.sse_retry ?? null })),
    http: makeColumn("push-poll-panel", "http", (h, p) => http.openPoll({ ...p, ...h })),
    long: makeColumn("push-long", "long", (h, p) => http.openLongPoll({ ...p, ...h, waitS: 25, backoff: new Backoff(WS_BACKOFF) })),
  };

  function makeColumn(id, key, open) {
    const root = byId(id);
    const part = (role) => /** @type {HTMLElement} */ (root.querySelector(`[data-role="${role}"]`));
    const ui = { state: part("state"), detail: part("detail"), metrics: part("metrics"), log: part("log") };
    const column = {
      key,
      conn: /** @type {{close: () => void} | null} */ (null),
      status: /** @type {Record<string, any>} */ ({ state: "closed" }),
      delays: new RecentSamples(1000),
      points: /** @type {Array<[number, number]>} */ ([]),
      ticks: 0,
      empty: 0,
      missed: 0,
      lastSeq: null,
      // Polling reads a clock grid whose ticks are numbered since 1970 (#17960518401); it
      // shows them counted from its first one, like the streams' 1, 2, 3 …
      firstSeq: null,
      lastCost: null,
      lastEventId: "",
      opened: 0,
      params: params(),
    };
    const handlers = {
      onMessage(message) {
        if (message.dir === "error") {
          logLine(ui.log, { dir: "error", text: message.text });
          return;
        }
        column.lastCost = message.cost ?? null;
        if (message.lastEventId) column.lastEventId = message.lastEventId;
        if (message.kind === "empty") {
          column.empty += 1;
          logLine(ui.log, { dir: "in", kind: "empty", text: `${tickName(column, message.tick.seq)} again: nothing new`, size: sizeOf(message.cost) });
          return;
        }
        const delay = message.delayMs ?? Date.now() - message.tick.ts;
        column.ticks += 1;
        column.missed += message.missed ?? 0;
        column.firstSeq ??= message.tick.seq;
        column.lastSeq = message.tick.seq;
        column.delays.add(delay);
        column.points.push([Date.now(), Math.max(delay, 0.5)]);
        if (column.points.length > 2000) column.points.shift();
        if (message.resumed) {
          const gap = message.tick.seq - Number(message.resumed) - 1;
          logLine(ui.log, { dir: "note", text: `resumed after #${message.resumed}: ${gap === 0 ? "no gap, nothing twice" : `${gap} tick(s) skipped`}` });
        }
        logLine(ui.log, {
          dir: "in",
          text: `tick ${tickName(column, message.tick.seq)}${message.missed ? ` (${message.missed} missed)` : ""}`,
          size: sizeOf(message.cost),
          extra: `delay ${formatMs(Math.max(delay, 0))}`,
        });
        // "Ticks" ends every column, polling too: the streams end at the server, the pollers here.
        const wanted = column.params.count;
        if (wanted > 0 && column.ticks + column.missed >= wanted && (key === "http" || key === "long")) {
          logLine(ui.log, { dir: "note", text: `${wanted} ticks: done, like the streams` });
          stop();
        }
      },
      onStatus(status) {
        const previous = column.status;
        rememberFailure(previous, status);
        column.status = status;
        if (status.state === "open" && previous.state !== "open") column.opened += 1;
          // A final close is told by the state line itself.
        if (status.close && status.state !== "closed") {
          const reason = status.close.reason ? ` “${status.close.reason}”` : "";
          logLine(ui.log, { dir: "note", text: `closed ${status.close.meaning}${reason}` });
        }
        if (worthLogging(previous, status)) logStatus(ui.log, status);
        showStatus(ui, status);
      },
    };
    function start() {
      column.conn?.close();
      Object.assign(column, { ticks: 0, empty: 0, missed: 0, opened: 0, lastSeq: null, firstSeq: null, lastEventId: "", points: [], params: params() });
      column.delays.clear();
      ui.log.replaceChildren();
      column.conn = open(handlers, column.params);
    }
    function stop() {
      column.conn?.close();
      column.conn = null;
    }
    part("start").addEventListener("click", () => form.reportValidity() && start());
    part("stop").addEventListener("click", stop);
    return { column, ui, start, stop };
  }

  /** @returns {import("../ui.js").Metric[]} */
  function columnMetrics({ column }) {
    const { median, p95, n } = summarize(column.delays.values);
    const cost = describeCost(column.lastCost);
    const rows = [
      { label: "Last tick", value: column.lastSeq === null ? "—" : tickName(column, column.lastSeq), source: "measured" },
      {
        label: "Delay",
        value: n ? `last ${ms(column.delays.last)} · median ${ms(median)} · p95 ${ms(p95)}` : "—",
        source: "measured",
        detail: "last · median · p95: Date.now() − tick.ts",
      },
      { label: "Ticks", value: `${column.ticks} received · ${column.missed} missed`, source: "page" },
    ];
    if (column.key === "http" || column.key === "long") {
      const requests = column.status.requests ?? 0;
      rows.push({
        label: "Requests",
        value: `${requests} · ${column.empty} empty · ${column.status.failures ?? 0} failed`,
        source: "page",
        detail: column.key === "http" ? "an empty poll found the same tick again" : "an empty long-poll timed out without a new tick",
      });
    } else {
      rows.push({ label: "Connections", value: `${column.opened} opened`, source: "page", detail: "one for the whole stream, more only after drops" });
    }
    rows.push({ label: column.key === "ws" || column.key === "sse" ? "Per tick" : "Per response", ...cost });
    if (column.key === "sse") {
      rows.push({
        label: "readyState · lastEventId",
        value: `${column.status.readyState === undefined ? "—" : sse.READY_STATES[column.status.readyState]} · ${column.lastEventId || "—"}`,
        source: "measured",
      });
    }
    return rows;
  }

  function render() {
    for (const entry of Object.values(columns)) {
      renderMetrics(entry.ui.metrics, columnMetrics(entry));
      if (entry.column.status.retry) showStatus(entry.ui, entry.column.status);
    }
    const { theme, styles } = chartTheme();
    const now = Date.now();
    const series = Object.values(columns).map(({ column }) => ({
      label: PUSH_LABELS[column.key],
      points: column.points,
      ...styles[column.key],
    }));
    drawTimeline(canvas, series, { now, windowMs: timelineWindow(series, now) }, theme);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.values(columns).forEach((entry) => entry.start());
  });
  byId("push-stop-all").addEventListener("click", () => Object.values(columns).forEach((entry) => entry.stop()));
  setInterval(() => !byId("view-push").hidden && render(), 500);
  window.addEventListener("tabshown", (event) => {
    if (/** @type {CustomEvent} */ (event).detail !== "push") return;
    render();
    checkClock();
  });
}

/**
 * How a column names a tick: the streams' own number; polling's grid number counted from the
 * first tick it saw (the grid number in brackets), so the four columns count alike.
 * @param {{key: string, firstSeq: number | null}} column
 * @param {number} seq
 */
function tickName(column, seq) {
  if ((column.key !== "http" && column.key !== "long") || column.firstSeq === null) return `#${seq}`;
  return `#${seq - column.firstSeq + 1} (grid #${seq})`;
}

/**
 * The timeline's width: the time since the oldest point shown, at least 10 s and at most a
 * minute, so the first seconds of a run fill the chart instead of its right edge.
 * @param {Array<{points: Array<[number, number]>}>} series
 * @param {number} now
 */
function timelineWindow(series, now) {
  const oldest = Math.min(now, ...series.map((s) => s.points[0]?.[0] ?? now));
  return Math.min(60_000, Math.max(10_000, Math.ceil((now - oldest + 1000) / 5000) * 5000));
}

/** Checked once per page load (again only if a check failed). */
let clockChecked = false;

/**
 * Estimate how far the server's clock is from ours, NTP-style: the server's `ts` is taken
 * somewhere between sending and receiving, so offset ≈ ts − midpoint, ± half the round trip.
 */
async function checkClock() {
  if (clockChecked) return;
  clockChecked = true;
  let best = null;
  try {
    for (let i = 0; i < 5; i += 1) {
      const sent = Date.now();
      const response = await fetch(httpUrl("/http/echo", { clock: i }), { cache: "no-store" });
      const { ts } = await response.json();
      const received = Date.now();
      const sample = { offset: ts - (sent + received) / 2, error: (received - sent) / 2 };
      if (!best || sample.error < best.error) best = sample;
    }
  } catch {
    clockChecked = false;
    return;
  }
  const sign = best.offset >= 0 ? "+" : "−";
  byId("push-clock").append(
    el("span", {
      className: "clock-check",
      text: ` Clock check: server − browser ≈ ${sign}${Math.abs(best.offset).toFixed(1)} ms (± ${best.error.toFixed(1)} ms, from /http/echo's ts).`,
    }),
  );
}
