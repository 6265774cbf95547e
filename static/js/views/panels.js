/**
 * The echo view: a WebSocket, an SSE stream with POSTs, and plain HTTP requests side by side,
 * each with its log, its state and its figures.
 */

import { Backoff } from "../backoff.js";
import { formatMs } from "../chart.js";
import { byId, formatBytes } from "../dom.js";
import { protocolMetric, websocketProtocolMetric } from "../nexthop.js";
import { WS_BACKOFF, pageId } from "../page.js";
import * as http from "../protocols/http.js";
import * as sse from "../protocols/sse.js";
import * as ws from "../protocols/ws.js";
import { getConfig, getServerStats, onConfig } from "../server-status.js";
import { RateWindow, RecentSamples, summarize } from "../stats.js";
import {
  describeCost, logLine, logStatus, ms, rememberFailure, renderMetrics, setText, showStatus, sizeOf, worthLogging,
} from "../ui.js";

/** The room the SSE panel echoes through: private to this browser. */
const ECHO_ROOM = `echo-${pageId}`;

/** The RTT row shared by the echo panels. */
function rttMetric(samples, label) {
  const { median, p95, n } = summarize(samples.values);
  return {
    label,
    value: n ? `last ${ms(samples.last)} · median ${ms(median)} · p95 ${ms(p95)}` : "—",
    source: "measured",
    detail: n ? `of the last ${n} round trips, network only (see docs/page.md)` : "send something",
  };
}

/** This protocol's counters from the server, as one row. */
function serverMetric(protocol, what) {
  const counters = getServerStats()?.protocols?.[protocol];
  if (!counters) return { label: `Server sees (${protocol})`, value: "—", source: "stats", detail: "/api/stats not reachable" };
  return {
    label: `Server sees (${protocol})`,
    value: `${counters.open} ${what} now · ${counters.total} since start`,
    source: "stats",
    detail: `${protocol}: ${counters.messages_in} messages in (${formatBytes(counters.bytes_in)}), ${counters.messages_out} out (${formatBytes(counters.bytes_out)}) — payload bytes, all clients`,
  };
}

/**
 * One echo panel: its connection, its figures and its controls.
 * @param {"ws" | "sse" | "http"} key
 * @param {(handlers: {onMessage: Function, onStatus: Function}) => {send: Function, close: Function}} open
 * @param {(panel: object) => import("../ui.js").Metric[]} metrics
 */
function setupEchoPanel(key, open, metrics, { onlyWhileShown = false } = {}) {
  const ui = {
    state: byId(`${key}-state`),
    detail: byId(`${key}-state-detail`),
    metrics: byId(`${key}-metrics`),
    log: byId(`${key}-log`),
    form: /** @type {HTMLFormElement} */ (byId(`${key}-form`)),
    input: /** @type {HTMLInputElement} */ (byId(`${key}-input`)),
    auto: /** @type {HTMLInputElement} */ (byId(`${key}-auto`)),
  };
  const panel = {
    key,
    conn: /** @type {ReturnType<typeof open> | null} */ (null),
    status: /** @type {Record<string, any>} */ ({ state: "closed" }),
    rtt: new RecentSamples(500),
    received: new RateWindow(5000),
    lastOut: null,
    lastIn: null,
    lastReply: null,
    lastClose: null,
    lastEventId: "",
    opened: 0,
    pings: 0,
    autoTimer: /** @type {ReturnType<typeof setInterval> | undefined} */ (undefined),
  };

  /**
   * While a round trip is in flight, the page writes no log line and no figure for this
   * panel: the echo would wait behind that work in the browser's task queue and
   * its round trip would time the page, not the network. The lines are written, in order,
   * once it is back.
   * @type {Array<() => void>}
   */
  const deferred = [];
  let inFlight = 0;
  function flush() {
    for (const write of deferred.splice(0)) write();
    schedule();
  }

  const handlers = {
    onMessage(message) {
      if (inFlight > 0) deferred.push(() => show(message));
      else show(message);
    },
    // States are shown at once: they change rarely mid-flight, and a request held back for
    // seconds must say so while it waits.
    onStatus: showState,
  };

  function show(message) {
    if (message.dir === "out") {
      panel.lastOut = message.cost ?? null;
      logLine(ui.log, { dir: "out", kind: message.kind, text: labelled(message), size: sizeOf(message.cost), note: message.note });
    } else if (message.dir === "in") {
      if (message.lastEventId) panel.lastEventId = message.lastEventId;
      panel.received.mark();
      panel.lastIn = message.cost ?? null;
      logLine(ui.log, {
        dir: "in",
        kind: message.kind,
        text: labelled(message),
        size: sizeOf(message.cost),
        extra: message.rttMs !== undefined ? `${formatMs(message.rttMs)}${message.late ? " (late)" : ""}` : undefined,
      });
    } else if (message.dir === "error") {
      logLine(ui.log, { dir: "error", text: message.text });
    } else if (message.kind === "gap") {
      logLine(ui.log, { dir: "note", text: `history lost ${message.lost} message(s)` });
    }
    schedule();
  }

  function showState(status) {
    const previous = panel.status;
    rememberFailure(previous, status);
    panel.status = status;
    // Counted here, not by the transport: Connect after Disconnect opens a new transport.
    if (status.state === "open" && previous.state !== "open") panel.opened += 1;
    if (status.close) panel.lastClose = status.close;
    // A final close is told by the state line itself.
    if (status.close && status.state !== "closed") {
      const reason = status.close.reason ? ` “${status.close.reason}”` : " (no reason)";
      logLine(ui.log, { dir: "note", text: `closed ${status.close.meaning}${reason}, ${status.close.wasClean ? "clean" : "not clean"}` });
    }
    if (worthLogging(previous, status)) logStatus(ui.log, status);
    showStatus(ui, status);
    schedule();
  }

  function connect() {
    if (panel.conn && panel.status.state !== "closed") return;
    panel.conn = open(handlers);
  }

  // A stream holds one of the six HTTP/1.1 connections a browser opens to a host, for as long
  // as it is open, in every tab: six tabs would hold them all and the seventh would wait for
  // ever. So a panel that streams keeps its stream open only while someone can see it: its
  // view is the shown tab, and the browser tab is not hidden. Disconnect by hand stays.
  let shownTab = "echo";
  let closedByHand = false;
  const shown = () => shownTab === "echo" && document.visibilityState !== "hidden";
  function followVisibility() {
    if (!onlyWhileShown || closedByHand) return;
    const streaming = Boolean(panel.conn) && panel.status.state !== "closed";
    if (shown() && !streaming) {
      logLine(ui.log, { dir: "note", text: "view shown again: reopening the stream" });
      connect();
    } else if (!shown() && streaming) {
      logLine(ui.log, {
        dir: "note",
        text: "view not shown: stream closed, so that it does not hold one of the browser's six connections to this server",
      });
      panel.conn?.close();
    }
  }
  if (onlyWhileShown) {
    window.addEventListener("tabshown", (event) => {
      shownTab = /** @type {CustomEvent} */ (event).detail;
      followVisibility();
    });
    document.addEventListener("visibilitychange", followVisibility);
  }

  /** Send and record the round trip; failures are already in the log. */
  async function send(text, kind = "message") {
    // HTTP needs no connection; the others would only fail or time out without one.
    if (!panel.conn || (key !== "http" && panel.status.state === "closed")) {
      logLine(ui.log, { dir: "error", text: "not connected: press Connect first" });
      return;
    }
    // The SSE panel POSTs into a room, whose messages the server bounds (max_text, counted in
    // characters): say so here instead of sending a request bound to fail with 400.
    const length = [...text].length;
    const config = getConfig();
    if (key === "sse" && config?.max_text && length > config.max_text) {
      logLine(ui.log, {
        dir: "error",
        text: `not sent: ${length} characters, a room message takes at most ${config.max_text} (max_text in /api/config)`,
      });
      return;
    }
    inFlight += 1;
    try {
      const trip = await panel.conn.send(text, kind);
      panel.rtt.add(trip.rttMs);
      // The round trip knows the whole cost (for SSE: the POST's response as well).
      deferred.push(() => {
        panel.lastOut = trip.out;
        panel.lastIn = trip.in;
        panel.lastReply = trip.reply ?? null;
      });
    } catch (error) {
      if (key !== "http" && !(error instanceof http.HttpError) && !(error instanceof TypeError)) {
        deferred.push(() => logLine(ui.log, { dir: "error", text: `not echoed: ${error.message}` }));
      }
    } finally {
      inFlight -= 1;
      if (inFlight === 0) flush();
    }
  }

  function ping() {
    panel.pings += 1;
    // An application-level ping: a small message the echo returns. Browsers cannot send
    // protocol-level pings (RFC 6455 §5.5.2 control frames are not exposed to scripts).
    return send(JSON.stringify({ type: "ping", seq: panel.pings }), "ping");
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (ui.input.value) send(ui.input.value);
  });
  byId(`${key}-ping`).addEventListener("click", ping);
  ui.auto.addEventListener("change", () => {
    clearInterval(panel.autoTimer);
    if (ui.auto.checked) {
      panel.autoTimer = setInterval(() => {
        // Pings need a connection; HTTP has none to wait for, so it always tries (and shows failures).
        if (key === "http" || panel.status.state === "open") ping();
      }, 1000);
    }
  });
  document.querySelector(`#${key}-connect`)?.addEventListener("click", () => {
    closedByHand = false;
    connect();
  });
  document.querySelector(`#${key}-disconnect`)?.addEventListener("click", () => {
    closedByHand = true;
    panel.conn?.close();
  });

  let scheduled = false;
  function schedule() {
    if (scheduled || inFlight > 0) return; // flush() schedules once the round trip is back

    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      renderMetrics(ui.metrics, metrics(panel));
      if (panel.status.retry) showStatus(ui, panel.status);
    });
  }
  setInterval(schedule, 500);

  // Opened at once, or (a stream) by the first `tabshown`, once the page knows its tab.
  if (onlyWhileShown) showState({ state: "closed", detail: "opens while this view is shown" });
  else connect();
  return { panel, send, ui };
}

/** A log text: pings and messages from elsewhere are marked as such. */
function labelled(message) {
  if (message.kind === "ping") return `ping ${message.text}`;
  if (message.kind === "oversize") return `${message.text.length} × "x": one byte more than ws_max_size`;
  if (message.kind === "other sender") return `(another sender) ${message.text}`;
  if (message.kind === "unexpected") return `(unexpected) ${message.text}`;
  return message.text;
}

/** @returns {import("../ui.js").Metric[]} */
function wsMetrics(panel) {
  const out = describeCost(panel.lastOut);
  const incoming = describeCost(panel.lastIn);
  const extensions = panel.status.extensions;
  const close = panel.lastClose;
  return [
    rttMetric(panel.rtt, "Round trip"),
    { label: "Received", value: `${panel.received.perSecond().toFixed(1)} msg/s`, source: "page", detail: "messages in the last 5 s ÷ 5" },
    { label: "Last sent", ...out },
    { label: "Last received", ...incoming },
    {
      label: "Compression",
      value: extensions ? extensions.split(";")[0] : panel.status.state === "open" ? "none" : "—",
      source: "measured",
      detail: extensions
        ? "negotiated: payloads are deflated on the wire, so real frames are smaller than computed here; start the server with --no-ws-compress for exact figures"
        : "WebSocket.extensions",
    },
    {
      label: "Connections",
      value: `${panel.status.state === "open" ? 1 : 0} open · ${panel.opened} opened since load`,
      source: "page",
      detail: "each is one TCP connection kept for every message",
    },
    {
      label: "Last close",
      value: close ? `${close.meaning}` : "none yet",
      source: "measured",
      detail: close ? `reason: ${close.reason ? `“${close.reason}”` : "(none)"} · ${close.wasClean ? "clean close handshake" : "no close handshake"}` : "CloseEvent code and reason",
    },
    websocketProtocolMetric(),
    serverMetric("ws", "open"),
  ];
}

/** The SSE panel's POST response: the stored message it returns, and its head. */
function describeReply(reply) {
  const described = describeCost(reply);
  return { ...described, value: described.value.replace("payload", "body (the stored message)") };
}

/** @returns {import("../ui.js").Metric[]} */
function sseMetrics(panel) {
  const out = describeCost(panel.lastOut);
  const incoming = describeCost(panel.lastIn);
  const config = getConfig();
  const retry = config ? `${config.sse_retry} ms` : "the server's retry: time";
  return [
    rttMetric(panel.rtt, "Round trip (POST → event)"),
    { label: "Received", value: `${panel.received.perSecond().toFixed(1)} events/s`, source: "page", detail: "events in the last 5 s ÷ 5" },
    { label: "Last sent (POST)", ...out },
    { label: "Last received (event)", ...incoming },
    { label: "POST response", ...describeReply(panel.lastReply) },
    {
      label: "readyState",
      value: panel.status.readyState === undefined ? "—" : sse.READY_STATES[panel.status.readyState],
      source: "measured",
      detail: "EventSource.readyState",
    },
    {
      label: "lastEventId",
      value: panel.lastEventId || panel.status.lastEventId || "(none yet)",
      source: "measured",
      detail: "sent back as Last-Event-ID when the browser reconnects",
    },
    { label: "Reconnection", value: `by the browser, after ${retry}`, source: "config", detail: "sse_retry, sent as the stream's first retry: field" },
    {
      label: "Connections",
      value: `${panel.status.state === "open" ? 1 : 0} stream open · ${panel.opened} opened`,
      source: "page",
      detail: "plus one HTTP POST per message sent, over the browser's pooled connections",
    },
    protocolMetric(["/sse/", "/http/room/"], "its last POST (the stream gets an entry only when it ends)"),
    serverMetric("sse", "open"),
  ];
}

/** @returns {import("../ui.js").Metric[]} */
function httpMetrics(panel) {
  const out = describeCost(panel.lastOut);
  const incoming = describeCost(panel.lastIn);
  const status = panel.status;
  return [
    rttMetric(panel.rtt, "Round trip"),
    { label: "Received", value: `${panel.received.perSecond().toFixed(1)} responses/s`, source: "page", detail: "responses in the last 5 s ÷ 5" },
    { label: "Last sent", ...out },
    { label: "Last received", ...incoming },
    {
      label: "Requests",
      value: `${status.requests ?? 0} sent · ${status.failures ?? 0} failed`,
      source: "page",
      detail: "each request is independent: a failure affects only itself",
    },
    {
      label: "New TCP connections",
      value: `${status.newConnections ?? 0}`,
      source: "measured",
      detail: "requests whose Resource Timing shows a connect (connectEnd > connectStart); the rest reused a pooled connection",
    },
    protocolMetric(["/http/echo"], "the last request"),
    serverMetric("http", "in flight"),
  ];
}

/**
 * The echo view: three panels, one per protocol, connected at once; the controls that the
 * server's settings bound follow /api/config.
 */
export function setupEchoPanels() {
  const wsPanel = setupEchoPanel(
    "ws",
    (handlers) => ws.openEcho({ ...handlers, backoff: new Backoff(WS_BACKOFF) }),
    wsMetrics,
  );
  setText(byId("sse-room"), ECHO_ROOM);
  setupEchoPanel(
    "sse",
    (handlers) => sse.openEcho({ ...handlers, room: ECHO_ROOM, user: "sse-panel", retryMs: getConfig()?.sse_retry ?? null }),
    sseMetrics,
    { onlyWhileShown: true },
  );
  setupEchoPanel("http", (handlers) => http.openEcho(handlers), httpMetrics);

  byId("ws-oversize").addEventListener("click", () => {
    const config = getConfig();
    if (!config?.ws_max_size) return;
    // One byte over the limit: the server must close with 1009 (message too big).
    wsPanel.send("x".repeat(config.ws_max_size + 1), "oversize");
  });
  onConfig((config) => {
    // The SSE panel's messages go through a room, and the server bounds room messages.
    /** @type {HTMLInputElement} */ (byId("sse-input")).maxLength = config.max_text ?? 4096;
    const oversize = /** @type {HTMLButtonElement} */ (byId("ws-oversize"));
    oversize.disabled = !config.ws_max_size;
    oversize.title = config.ws_max_size
      ? `Sends ${config.ws_max_size + 1} bytes: one more than the server's ws_max_size`
      : "The server has no message size limit (ws_max_size = 0)";
  });
  for (const button of document.querySelectorAll("[data-clear]")) {
    button.addEventListener("click", () => byId(/** @type {string} */ (button.getAttribute("data-clear"))).replaceChildren());
  }
}
