/**
 * The compare view: the same n messages over each protocol in turn, then a table, a chart
 * (CDF or histogram) and downloads. The run itself is `../compare.js`; this wires its controls.
 */

import { Backoff } from "../backoff.js";
import { drawCdf, drawHistogram } from "../chart.js";
import { runCompare, toCsv, toJson } from "../compare.js";
import { byId, download, el } from "../dom.js";
import { WS_BACKOFF, pageId } from "../page.js";
import * as http from "../protocols/http.js";
import * as sse from "../protocols/sse.js";
import * as ws from "../protocols/ws.js";
import { getConfig, onConfig } from "../server-status.js";
import { chartTheme, ms, setText } from "../ui.js";

const PROTOCOL_NAMES = { ws: "WebSocket", sse: "SSE + POST", http: "HTTP" };
/** The room the SSE contender echoes through: private to this browser. */
const COMPARE_ROOM = `compare-${pageId}`;

/** Wire the compare view: the run form, Cancel, the chart and the downloads. */
export function setupCompare() {
  const form = /** @type {HTMLFormElement} */ (byId("compare-form"));
  const runButton = /** @type {HTMLButtonElement} */ (byId("compare-run"));
  const cancelButton = /** @type {HTMLButtonElement} */ (byId("compare-cancel"));
  const downloads = ["compare-json", "compare-csv", "compare-csv-samples"].map((id) => /** @type {HTMLButtonElement} */ (byId(id)));
  const status = byId("compare-status");
  const canvas = /** @type {HTMLCanvasElement} */ (byId("compare-canvas"));
  const chartType = /** @type {HTMLSelectElement} */ (byId("compare-chart"));
  let lastRun = /** @type {Awaited<ReturnType<typeof runCompare>> | null} */ (null);
  let controller = /** @type {AbortController | null} */ (null);
  let extensions = "";

  const noop = () => {};
  const contenders = [
    {
      protocol: "ws", label: "WebSocket", path: "/ws/echo",
      open: (onStatus) => ws.openEcho({
        onMessage: noop,
        onStatus(s) {
          if (s.extensions !== undefined) extensions = s.extensions;
          onStatus(s);
        },
        backoff: new Backoff(WS_BACKOFF),
      }),
    },
    {
      protocol: "sse", label: "SSE + POST", path: `/sse/room/${COMPARE_ROOM}`,
      open: (onStatus) => sse.openEcho({ room: COMPARE_ROOM, user: "compare", retryMs: getConfig()?.sse_retry ?? null, onMessage: noop, onStatus }),
    },
    {
      protocol: "http", label: "HTTP", path: "/http/echo", stateless: true,
      open: (onStatus) => http.openEcho({ onMessage: noop, onStatus }),
    },
  ];

  function draw() {
    const { theme, styles } = chartTheme();
    const series = (lastRun?.results ?? []).map((r) => ({ label: r.label, values: r.samplesMs, ...styles[r.protocol] }));
    (chartType.value === "histogram" ? drawHistogram : drawCdf)(canvas, series, theme);
    const summary = (lastRun?.results ?? [])
      .map((r) => `${r.label} median ${ms(r.summary?.median)}, p95 ${ms(r.summary?.p95)}`)
      .join("; ");
    canvas.setAttribute("aria-label", `${chartType.value === "histogram" ? "Histogram" : "CDF"} of round-trip latency. ${summary || "No run yet."}`);
  }

  function renderTable() {
    const body = byId("compare-body");
    if (!lastRun) return;
    body.replaceChildren(...lastRun.results.map((r) => {
      const cells = [
        el("th", { attrs: { scope: "row" } },
          el("span", { className: "swatch", dataset: { protocol: r.protocol }, attrs: { "aria-hidden": "true" } }),
          document.createTextNode(r.label),
          r.error ? el("span", { className: "error-note", text: r.error }) : null,
          r.interruptions.length
            ? el("span", { className: "note", text: `interrupted ${r.interruptions.length}×, resumed on a new connection (${r.interruptions.join("; ")})` })
            : null,
          r.waitedMs > 0 ? el("span", { className: "note rate-limit-wait", text: `waited for the room rate limit: ${seconds(r.waitedMs)} s (in no figure)` }) : null,
        ),
        el("td", { className: "num", text: ms(r.summary?.median) }),
        el("td", { className: "num", text: ms(r.summary?.p95) }),
        el("td", { className: "num", text: r.throughput === null ? "—" : `${Math.round(r.throughput)} msg/s` }),
        el("td", {
          className: "num",
          text: r.bytes ? `${overheadText(r.bytes.outOverhead, r.bytes.outLowerBound)} / ${overheadText(r.bytes.inOverhead, r.bytes.inLowerBound)}` : "—",
          attrs: { title: r.bytes ? `payload ${r.bytes.payload} B each way` : "" },
        }),
        el("td", { text: r.connections }),
      ];
      return el("tr", { dataset: { protocol: r.protocol } }, ...cells);
    }));
  }

  /**
   * "6 B"; "≥ 28 B", or "hidden" when all that is known is that headers exist (request
   * headers from a server that does not report their size).
   * @param {number} bytes
   * @param {boolean} lowerBound some part of this direction is not visible to the page
   */
  function overheadText(bytes, lowerBound) {
    if (lowerBound && bytes === 0) return "hidden";
    return `${lowerBound ? "≥ " : ""}${Math.round(bytes)} B`;
  }

  function setProgress({ protocol, done, n, note }) {
    const bar = /** @type {HTMLProgressElement} */ (byId(`progress-${protocol}`));
    bar.max = n;
    bar.value = done;
    setText(status, `Running: ${PROTOCOL_NAMES[protocol]} ${done} of ${n}${note ? ` — ${note}` : "…"}`);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const n = Number(/** @type {HTMLInputElement} */ (byId("compare-n")).value);
    const size = Number(/** @type {HTMLInputElement} */ (byId("compare-size")).value);
    controller = new AbortController();
    runButton.disabled = true;
    cancelButton.disabled = false;
    downloads.forEach((button) => (button.disabled = true));
    for (const bar of document.querySelectorAll("#compare-progress progress")) /** @type {HTMLProgressElement} */ (bar).value = 0;
    const started = performance.now();
    try {
      lastRun = await runCompare({
        contenders, n, size, signal: controller.signal, onProgress: setProgress, waitForServer: http.waitForServer,
      });
    } finally {
      runButton.disabled = false;
      cancelButton.disabled = true;
    }
    downloads.forEach((button) => (button.disabled = false));
    // The run's total leaves out the rate limiter's waits, as every figure does; they are
    // said apart, so the wall-clock time is still there to add up.
    const waitedMs = lastRun.results.reduce((sum, r) => sum + r.waitedMs, 0);
    const total = seconds(performance.now() - started - waitedMs);
    const waited = waitedMs > 0 ? ` Waited for the room rate limit: ${seconds(waitedMs)} s more (not timed).` : "";
    const failed = lastRun.results.filter((r) => r.error).map((r) => r.label);
    const interrupted = lastRun.results.filter((r) => r.interruptions.length).map((r) => r.label);
    const compression = extensions.includes("permessage-deflate")
      ? " WebSocket negotiated permessage-deflate: its overhead is computed for uncompressed frames."
      : "";
    const cancelled = controller.signal.aborted;
    setText(status, `${cancelled ? "Cancelled after" : "Done in"} ${total} s: ${n} messages of ${size} bytes per protocol.${waited}` +
      (failed.length && !cancelled ? ` Incomplete: ${failed.join(", ")} (see the table).` : "") +
      (interrupted.length ? ` Interrupted and resumed: ${interrupted.join(", ")}.` : "") + compression);
    renderTable();
    draw();
  });
  cancelButton.addEventListener("click", () => controller?.abort());
  chartType.addEventListener("change", draw);
  downloads[0].addEventListener("click", () => lastRun && download("protocol-lab-compare.json",
    toJson(lastRun, { page: location.href, userAgent: navigator.userAgent, server: getConfig() }), "application/json"));
  downloads[1].addEventListener("click", () => lastRun && download("protocol-lab-compare.csv", toCsv(lastRun), "text/csv"));
  downloads[2].addEventListener("click", () => lastRun && download("protocol-lab-samples.csv", toCsv(lastRun, { samples: true }), "text/csv"));
  // Room messages are bounded by the server, and the SSE contender posts into a room.
  onConfig((config) => {
    /** @type {HTMLInputElement} */ (byId("compare-size")).max = String(config.max_text ?? 4096);
  });
  new ResizeObserver(draw).observe(canvas);
  window.addEventListener("tabshown", (event) => /** @type {CustomEvent} */ (event).detail === "compare" && draw());
}

/** Milliseconds as seconds with one decimal, the precision the page shows run times at. */
function seconds(ms) {
  return (ms / 1000).toFixed(1);
}
