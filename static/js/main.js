/**
 * The page: the only module that touches the document. It opens transports through the
 * protocol modules (all of the shape `open({onMessage, onStatus}) -> {send, close}`), turns
 * what they report into logs, state badges and figures, and wires the controls.
 *
 * Sections: server status · tabs · echo panels · compare run · server push · rooms · boot.
 */

import { Backoff } from "./backoff.js";
import { drawCdf, drawHistogram, drawTimeline, formatMs } from "./chart.js";
import { runCompare, toCsv, toJson } from "./compare.js";
import { byId, clockTime, download, el, formatBytes, trimList, truncate } from "./dom.js";
import { hasHiddenParts, knownOverhead } from "./framing.js";
import * as http from "./protocols/http.js";
import * as sse from "./protocols/sse.js";
import * as ws from "./protocols/ws.js";
import { RateWindow, RecentSamples, summarize } from "./stats.js";
import { httpUrl } from "./urls.js";

/** Our WebSocket reconnection policy: first window 0.5 s, doubling, never above 10 s. */
const WS_BACKOFF = { baseMs: 500, capMs: 10_000 };
const LOG_LIMIT = 200;
const PROTOCOL_NAMES = { ws: "WebSocket", sse: "SSE + POST", http: "HTTP" };
const PUSH_LABELS = { ws: "WebSocket push", sse: "SSE stream", http: "HTTP polling", long: "HTTP long-polling" };

/** Server settings from /api/config (null until it answered once). */
let config = /** @type {Record<string, any> | null} */ (null);
/** The latest /api/stats snapshot (null while the server is unreachable). */
let serverStats = /** @type {Record<string, any> | null} */ (null);
/** Things that want to know when the server restarted (its uptime went down). */
const restartListeners = /** @type {Array<() => void>} */ ([]);

/** A stable id for this browser, so reloads reuse the same private rooms. */
const pageId = (() => {
  const key = "protocol-lab-id";
  try {
    const known = localStorage.getItem(key);
    if (known) return known;
    const fresh = Math.random().toString(36).slice(2, 10);
    localStorage.setItem(key, fresh);
    return fresh;
  } catch {
    return Math.random().toString(36).slice(2, 10);
  }
})();
const ECHO_ROOM = `echo-${pageId}`;
const COMPARE_ROOM = `compare-${pageId}`;

// ───────────────────────────── figures and their sources ─────────────────────────────

/**
 * Where a figure comes from; the label is shown next to it.
 * @type {Record<string, {label: string, title: string}>}
 */
const SOURCES = {
  measured: { label: "measured", title: "measured by this browser" },
  computed: { label: "computed", title: "computed exactly from the protocol's framing rules" },
  mixed: {
    label: "computed + measured",
    title: "some parts computed from the framing rules, some measured by the browser (tick “Explain every figure” to see which)",
  },
  stats: { label: "/api/stats", title: "the server's own counters (all clients together)" },
  config: { label: "/api/config", title: "the server's settings" },
  page: { label: "counted", title: "counted by this page" },
  hidden: { label: "not visible", title: "browsers do not expose this to web pages" },
};

/**
 * A metric row: label, value, its source and an optional detail line.
 * @typedef {{label: string, value: string, source: keyof typeof SOURCES, detail?: string}} Metric
 */

/**
 * Render metric rows into a <dl>, reusing its elements so a focused or selected row survives.
 * @param {HTMLElement} list
 * @param {Metric[]} rows
 */
function renderMetrics(list, rows) {
  if (list.childElementCount !== rows.length) {
    list.replaceChildren(
      ...rows.map(() =>
        el("div", { className: "metric" },
          el("dt"),
          el("dd", {}, el("span", { className: "value" }), el("span", { className: "src" }), el("span", { className: "detail" })),
        ),
      ),
    );
  }
  rows.forEach((row, index) => {
    const item = /** @type {HTMLElement} */ (list.children[index]);
    const [term, description] = /** @type {HTMLElement[]} */ ([...item.children]);
    const [value, source, detail] = /** @type {HTMLElement[]} */ ([...description.children]);
    const src = SOURCES[row.source];
    setText(term, row.label);
    setText(value, row.value);
    setText(source, src.label);
    source.className = `src src-${row.source}`;
    source.title = src.title;
    setText(detail, row.detail ?? "");
    detail.hidden = !row.detail;
  });
}

/** Set text only when it changed (keeps selections and screen readers calm). */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** "1.2 ms" or "—". */
function ms(value) {
  return value === undefined || value === null || Number.isNaN(value) ? "—" : formatMs(value);
}

/**
 * A wire cost as "5 B payload + 6 B overhead" and a detail line naming every part.
 * @param {import("./framing.js").WireCost | null} cost
 * @returns {{value: string, detail: string, source: keyof typeof SOURCES}}
 */
function describeCost(cost) {
  if (!cost) return { value: "—", detail: "", source: "computed" };
  const hidden = hasHiddenParts(cost);
  const overhead = knownOverhead(cost);
  const value = hidden && overhead === 0
    ? `${formatBytes(cost.payload)} payload + headers (not visible)`
    : `${formatBytes(cost.payload)} payload + ${hidden ? "≥ " : ""}${formatBytes(overhead)} overhead`;
  const detail = cost.parts
    .map((part) => `${part.what}: ${part.bytes === null ? "not visible to the page" : `${part.bytes} B (${part.source})`}`)
    .join(" · ");
  const measured = cost.parts.some((part) => part.source === "measured");
  const computed = cost.parts.some((part) => part.source === "computed");
  let source = /** @type {keyof typeof SOURCES} */ ("hidden");
  if (measured && computed) source = "mixed";
  else if (measured) source = "measured";
  else if (computed) source = "computed";
  return { value, detail, source };
}

/** The RTT row shared by the echo panels. */
function rttMetric(samples, label) {
  const { median, p95, n } = summarize(samples.values);
  return {
    label,
    value: n ? `${ms(samples.last)} · ${ms(median)} · ${ms(p95)}` : "—",
    source: "measured",
    detail: n ? `last · median · p95 of the last ${n} round trips (performance.now)` : "send something",
  };
}

/** This protocol's counters from the server, as one row. */
function serverMetric(protocol, what) {
  const counters = serverStats?.protocols?.[protocol];
  if (!counters) return { label: `Server sees (${protocol})`, value: "—", source: "stats", detail: "/api/stats not reachable" };
  return {
    label: `Server sees (${protocol})`,
    value: `${counters.open} ${what} now · ${counters.total} since start`,
    source: "stats",
    detail: `${protocol}: ${counters.messages_in} messages in (${formatBytes(counters.bytes_in)}), ${counters.messages_out} out (${formatBytes(counters.bytes_out)}) — payload bytes, all clients`,
  };
}

// ───────────────────────────── logs ─────────────────────────────

const ARROWS = { out: "→", in: "←", error: "✕", note: "•" };

/**
 * Append one line to a log: time, direction, text (as text), size.
 * @param {HTMLElement} list
 * @param {{dir: "out" | "in" | "error" | "note", text: string, size?: string, extra?: string, note?: string, kind?: string}} line
 *   `extra` is a short figure (a latency), `note` a sentence shown under the text
 */
function logLine(list, { dir, text, size, extra, note, kind }) {
  const item = el("li", { className: `dir-${dir}${kind ? ` kind-${kind}` : ""}` },
    el("time", { text: clockTime() }),
    el("span", { className: "arrow", text: ARROWS[dir], attrs: { "aria-label": dir === "note" ? "status" : dir } }),
    el("span", { className: "text", text: truncate(text) }, note ? el("span", { className: "note", text: note }) : null),
    el("span", { className: "size", text: size ?? "" }),
    el("span", { className: "extra", text: extra ?? "" }),
  );
  appendFollowing(list, item);
}

/**
 * Append to a scrolling list and keep the newest entry in view, unless the reader scrolled up
 * to read older ones. A list on a hidden tab has no geometry to ask, so whether it follows is
 * remembered from the last time it could be seen (`data-follow`), and `followHiddenLists`
 * scrolls it to the end when its tab is shown again.
 * @param {HTMLElement} list
 * @param {HTMLElement} item
 */
function appendFollowing(list, item) {
  if (!list.dataset.follow) {
    list.dataset.follow = "true";
    list.addEventListener("scroll", () => {
      if (list.clientHeight) list.dataset.follow = String(atEnd(list));
    });
  }
  const follow = list.clientHeight ? atEnd(list) : list.dataset.follow === "true";
  list.append(item);
  trimList(list, LOG_LIMIT);
  if (follow) list.scrollTop = list.scrollHeight;
}

/** @param {HTMLElement} list */
function atEnd(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

/** Scroll the following lists of a view that was just shown to their newest entry. */
function followHiddenLists(view) {
  for (const list of view.querySelectorAll('[data-follow="true"]')) {
    list.scrollTop = list.scrollHeight;
  }
}

/** "5 B + 6 B" for a log line; "≥" when part of the overhead is not visible to the page. */
function sizeOf(cost) {
  if (!cost) return "";
  const overhead = knownOverhead(cost);
  const hidden = hasHiddenParts(cost);
  // Like the figures: when headers are all there is, say so rather than "≥ 0 B".
  if (hidden && overhead === 0) return `${formatBytes(cost.payload)} + headers`;
  return `${formatBytes(cost.payload)} + ${hidden ? "≥" : ""}${formatBytes(overhead)}`;
}

/** Show a state badge: its text and its colour (data-state). */
function showState(badge, state, text = state) {
  badge.dataset.state = state;
  setText(badge, text);
}

// ───────────────────────────── server status ─────────────────────────────

/** Poll /api/stats every 2 s: the header's status, the "server sees" rows, restart detection. */
function watchServer() {
  const box = byId("server-status");
  const text = byId("server-status-text");
  let lastUptime = null;
  let downSince = null;

  async function poll() {
    try {
      const response = await fetch(httpUrl("/api/stats"), { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      serverStats = await response.json();
      if (lastUptime !== null && serverStats.uptime_s < lastUptime) {
        restartListeners.forEach((listener) => listener());
      }
      lastUptime = serverStats.uptime_s;
      downSince = null;
      box.dataset.state = "up";
      setText(text, `server up ${formatUptime(serverStats.uptime_s)} · ${serverStats.live_connections} live connections`);
      if (!config) loadConfig();
    } catch {
      serverStats = null;
      downSince ??= new Date();
      box.dataset.state = "down";
      setText(text, `server unreachable since ${clockTime(downSince).slice(0, 8)} — /api/stats failed`);
    }
  }
  poll();
  setInterval(poll, 2000);
}

function formatUptime(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Fetch /api/config once it is reachable; settings shape a few controls. */
async function loadConfig() {
  try {
    const response = await fetch(httpUrl("/api/config"), { cache: "no-store" });
    if (!response.ok) return;
    config = await response.json();
  } catch {
    return;
  }
  http.configureRoomRate(config.room_rate ?? 0, config.room_burst ?? 1);
  const maxText = config.max_text ?? 4096;
  /** @type {HTMLInputElement} */ (byId("compare-size")).max = String(maxText);
  // Room messages (and the SSE panel's, which go through a room) are bounded by the server.
  for (const id of ["sse-input", "room-ws-input", "room-sse-input", "room-http-input"]) {
    /** @type {HTMLInputElement} */ (byId(id)).maxLength = maxText;
  }
  if (config.max_user) /** @type {HTMLInputElement} */ (byId("room-user")).maxLength = config.max_user;
  const oversize = /** @type {HTMLButtonElement} */ (byId("ws-oversize"));
  oversize.disabled = !config.ws_max_size;
  oversize.title = config.ws_max_size
    ? `Sends ${config.ws_max_size + 1} bytes: one more than the server's ws_max_size`
    : "The server has no message size limit (ws_max_size = 0)";
  setText(byId("config-summary"),
    `Server settings (/api/config): ws_max_size ${formatBytes(config.ws_max_size)}, ws_compress ${config.ws_compress}, ` +
    `sse_retry ${config.sse_retry} ms, room_rate ${config.room_rate}/s (burst ${config.room_burst}).`);
}

// ───────────────────────────── tabs ─────────────────────────────

/**
 * ARIA tabs: click or arrow keys; the hash (#compare …) selects a tab and deep-links to it.
 * Returns a function that announces the current tab (`tabshown`); boot calls it once every
 * view listens, so a page opened at #push starts its view like a click on the tab would.
 * @returns {() => void}
 */
function setupTabs() {
  const tabs = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('[role="tab"]')]);
  const byName = (name) => tabs.find((tab) => tab.id === `tab-${name}`);

  const announce = (tab) => window.dispatchEvent(new CustomEvent("tabshown", { detail: tab.id.replace("tab-", "") }));

  function select(tab, focus = false, announced = true) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      const view = byId(/** @type {string} */ (other.getAttribute("aria-controls")));
      view.hidden = !selected;
      if (selected) followHiddenLists(view);
    }
    if (focus) tab.focus();
    // On a narrow screen the tab strip scrolls sideways: keep the selected tab in view.
    tab.scrollIntoView({ block: "nearest", inline: "nearest" });
    const name = tab.id.replace("tab-", "");
    history.replaceState(null, "", name === "echo" ? location.pathname + location.search : `#${name}`);
    if (announced) announce(tab);
  }

  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
    });
  });
  const initial = byName(location.hash.slice(1));
  if (initial) select(initial, false, false);
  return () => announce(tabs.find((tab) => tab.getAttribute("aria-selected") === "true") ?? tabs[0]);
}

// ───────────────────────────── echo panels ─────────────────────────────

/**
 * One echo panel: its connection, its figures and its controls.
 * @param {"ws" | "sse" | "http"} key
 * @param {(handlers: {onMessage: Function, onStatus: Function}) => {send: Function, close: Function}} open
 * @param {(panel: object) => Metric[]} metrics
 */
function setupEchoPanel(key, open, metrics) {
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
    lastClose: null,
    lastEventId: "",
    opened: 0,
    pings: 0,
    autoTimer: /** @type {ReturnType<typeof setInterval> | undefined} */ (undefined),
  };

  const handlers = {
    onMessage(message) {
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
    },
    onStatus(status) {
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
    },
  };

  function connect() {
    if (panel.conn && panel.status.state !== "closed") return;
    panel.conn = open(handlers);
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
    if (key === "sse" && config?.max_text && length > config.max_text) {
      logLine(ui.log, {
        dir: "error",
        text: `not sent: ${length} characters, a room message takes at most ${config.max_text} (max_text in /api/config)`,
      });
      return;
    }
    try {
      const trip = await panel.conn.send(text, kind);
      panel.rtt.add(trip.rttMs);
      // The round trip knows the whole cost (for SSE: the POST's response as well).
      panel.lastOut = trip.out;
      panel.lastIn = trip.in;
    } catch (error) {
      if (key !== "http" && !(error instanceof http.HttpError) && !(error instanceof TypeError)) {
        logLine(ui.log, { dir: "error", text: `not echoed: ${error.message}` });
      }
    }
    schedule();
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
  document.querySelector(`#${key}-connect`)?.addEventListener("click", connect);
  document.querySelector(`#${key}-disconnect`)?.addEventListener("click", () => panel.conn?.close());

  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      renderMetrics(ui.metrics, metrics(panel));
      if (panel.status.retry) showStatus(ui, panel.status);
    });
  }
  setInterval(schedule, 500);

  connect();
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

/** Carry "a request failed" through busy states, so the recovery is logged once. */
function rememberFailure(previous, status) {
  status.failedBefore = status.state === "failed" || (status.state === "busy" && Boolean(previous.failedBefore));
}

/**
 * Whether a status change deserves a log line: every change of a connection's state, but for
 * HTTP (busy/ready after every request) only failures and the first success after one.
 */
function worthLogging(previous, status) {
  if (status.retry) return true;
  if (status.state === previous.state) return false;
  if (status.state === "busy") return false;
  if (status.state === "ready" && previous.state === "busy") return Boolean(previous.failedBefore);
  return true;
}

/** A log line for a change of state. */
function logStatus(list, status) {
  logLine(list, { dir: "note", text: `${status.state}: ${status.detail}` });
}

/** The badge and the sentence under it. */
function showStatus(ui, status) {
  showState(ui.state, status.state);
  let detail = status.detail;
  if (status.retry && status.state === "reconnecting") {
    const { delayMs, ceilingMs, attempt, capMs } = status.retry;
    detail = `Our backoff: attempt ${attempt} after ${(delayMs / 1000).toFixed(2)} s, drawn at random from [0, ${(ceilingMs / 1000).toFixed(1)} s] (the window doubles up to ${capMs / 1000} s).`;
  }
  setText(ui.detail, detail);
}

/** @returns {Metric[]} */
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
    serverMetric("ws", "open"),
  ];
}

/** @returns {Metric[]} */
function sseMetrics(panel) {
  const out = describeCost(panel.lastOut);
  const incoming = describeCost(panel.lastIn);
  const retry = config ? `${config.sse_retry} ms` : "the server's retry: time";
  return [
    rttMetric(panel.rtt, "Round trip (POST → event)"),
    { label: "Received", value: `${panel.received.perSecond().toFixed(1)} events/s`, source: "page", detail: "events in the last 5 s ÷ 5" },
    { label: "Last sent (POST)", ...out },
    { label: "Last received", ...incoming },
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
    serverMetric("sse", "open"),
  ];
}

/** @returns {Metric[]} */
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
    serverMetric("http", "in flight"),
  ];
}

/** The three echo panels, connected on load. */
function setupEchoPanels() {
  const wsPanel = setupEchoPanel(
    "ws",
    (handlers) => ws.openEcho({ ...handlers, backoff: new Backoff(WS_BACKOFF) }),
    wsMetrics,
  );
  setText(byId("sse-room"), ECHO_ROOM);
  setupEchoPanel(
    "sse",
    (handlers) => sse.openEcho({ ...handlers, room: ECHO_ROOM, user: "sse-panel", retryMs: config?.sse_retry ?? null }),
    sseMetrics,
  );
  setupEchoPanel("http", (handlers) => http.openEcho(handlers), httpMetrics);

  byId("ws-oversize").addEventListener("click", () => {
    if (!config?.ws_max_size) return;
    // One byte over the limit: the server must close with 1009 (message too big).
    wsPanel.send("x".repeat(config.ws_max_size + 1), "oversize");
  });
  for (const button of document.querySelectorAll("[data-clear]")) {
    button.addEventListener("click", () => byId(/** @type {string} */ (button.getAttribute("data-clear"))).replaceChildren());
  }
}

// ───────────────────────────── compare run ─────────────────────────────

/** Chart colours and dashes from the stylesheet, so the chart matches the page. */
function chartTheme() {
  const css = getComputedStyle(document.documentElement);
  const get = (name) => css.getPropertyValue(name).trim();
  return {
    theme: {
      text: get("--text"),
      muted: get("--muted"),
      grid: get("--grid"),
      background: get("--surface"),
      font: `12px ${get("--font-sans")}`,
    },
    styles: {
      ws: { color: get("--ws"), dash: [], marker: /** @type {const} */ ("circle") },
      sse: { color: get("--sse"), dash: [7, 4], marker: /** @type {const} */ ("square") },
      http: { color: get("--http"), dash: [2, 3], marker: /** @type {const} */ ("triangle") },
      long: { color: get("--long"), dash: [10, 3, 2, 3], marker: /** @type {const} */ ("diamond") },
    },
  };
}

function setupCompare() {
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
      open: (onStatus) => sse.openEcho({ room: COMPARE_ROOM, user: "compare", retryMs: config?.sse_retry ?? null, onMessage: noop, onStatus }),
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
          r.waitedMs > 0 ? el("span", { className: "note", text: `waited ${(r.waitedMs / 1000).toFixed(1)} s for the server's room rate limit (not counted)` }) : null,
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
   * "6 B", "≥ 28 B", or "hidden" when all that is known is that headers exist.
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
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const failed = lastRun.results.filter((r) => r.error).map((r) => r.label);
    const interrupted = lastRun.results.filter((r) => r.interruptions.length).map((r) => r.label);
    const compression = extensions.includes("permessage-deflate")
      ? " WebSocket negotiated permessage-deflate: its overhead is computed for uncompressed frames."
      : "";
    const cancelled = controller.signal.aborted;
    setText(status, `${cancelled ? "Cancelled after" : "Done in"} ${seconds} s: ${n} messages of ${size} bytes per protocol.` +
      (failed.length && !cancelled ? ` Incomplete: ${failed.join(", ")} (see the table).` : "") +
      (interrupted.length ? ` Interrupted and resumed: ${interrupted.join(", ")}.` : "") + compression);
    renderTable();
    draw();
  });
  cancelButton.addEventListener("click", () => controller?.abort());
  chartType.addEventListener("change", draw);
  downloads[0].addEventListener("click", () => lastRun && download("protocol-lab-compare.json",
    toJson(lastRun, { page: location.href, userAgent: navigator.userAgent, server: config }), "application/json"));
  downloads[1].addEventListener("click", () => lastRun && download("protocol-lab-compare.csv", toCsv(lastRun), "text/csv"));
  downloads[2].addEventListener("click", () => lastRun && download("protocol-lab-samples.csv", toCsv(lastRun, { samples: true }), "text/csv"));
  new ResizeObserver(draw).observe(canvas);
  window.addEventListener("tabshown", (event) => /** @type {CustomEvent} */ (event).detail === "compare" && draw());
}

// ───────────────────────────── server push ─────────────────────────────

function setupPush() {
  const form = /** @type {HTMLFormElement} */ (byId("push-form"));
  const canvas = /** @type {HTMLCanvasElement} */ (byId("push-canvas"));
  const value = (id) => Number(/** @type {HTMLInputElement} */ (byId(id)).value);
  const params = () => ({ interval: value("push-interval"), size: value("push-size"), count: value("push-count"), everyMs: value("push-poll") });

  /** @type {Record<string, ReturnType<typeof makeColumn>>} */
  const columns = {
    ws: makeColumn("push-ws", "ws", (h, p) => ws.openStream({ ...p, ...h, backoff: new Backoff(WS_BACKOFF) })),
    sse: makeColumn("push-sse", "sse", (h, p) => sse.openStream({ ...p, ...h, retryMs: config?.sse_retry ?? null })),
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
          logLine(ui.log, { dir: "in", kind: "empty", text: `#${message.tick.seq} again: nothing new`, size: sizeOf(message.cost) });
          return;
        }
        const delay = message.delayMs ?? Date.now() - message.tick.ts;
        column.ticks += 1;
        column.missed += message.missed ?? 0;
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
          text: `tick #${message.tick.seq}${message.missed ? ` (${message.missed} missed)` : ""}`,
          size: sizeOf(message.cost),
          extra: `delay ${formatMs(Math.max(delay, 0))}`,
        });
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
      Object.assign(column, { ticks: 0, empty: 0, missed: 0, opened: 0, lastSeq: null, lastEventId: "", points: [], params: params() });
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

  /** @returns {Metric[]} */
  function columnMetrics({ column }) {
    const { median, p95, n } = summarize(column.delays.values);
    const cost = describeCost(column.lastCost);
    const rows = [
      { label: "Last tick", value: column.lastSeq === null ? "—" : `#${column.lastSeq}`, source: "measured" },
      {
        label: "Delay",
        value: n ? `${ms(column.delays.last)} · ${ms(median)} · ${ms(p95)}` : "—",
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
    const series = Object.values(columns).map(({ column }) => ({
      label: PUSH_LABELS[column.key],
      points: column.points,
      ...styles[column.key],
    }));
    drawTimeline(canvas, series, { now: Date.now(), windowMs: 60_000 }, theme);
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
 * Estimate how far the server's clock is from ours, NTP-style: the server's `ts` is taken
 * somewhere between sending and receiving, so offset ≈ ts − midpoint, ± half the round trip.
 */
let clockChecked = false;
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

// ───────────────────────────── rooms ─────────────────────────────

function setupRooms() {
  const form = /** @type {HTMLFormElement} */ (byId("room-form"));
  const roomInput = /** @type {HTMLInputElement} */ (byId("room-name"));
  const userInput = /** @type {HTMLInputElement} */ (byId("room-user"));
  const mode = /** @type {HTMLSelectElement} */ (byId("room-http-mode"));
  const link = /** @type {HTMLAnchorElement} */ (byId("room-link"));
  const info = byId("room-info");

  const query = new URLSearchParams(location.search);
  if (query.get("room")) roomInput.value = query.get("room") ?? "lobby";
  userInput.value = query.get("user") ?? `student-${pageId.slice(0, 4)}`;
  const updateLink = () => {
    link.href = `?room=${encodeURIComponent(roomInput.value)}#rooms`;
  };
  roomInput.addEventListener("input", updateLink);
  updateLink();

  const participants = {
    ws: makeParticipant("room-ws", (h, room, user) => ws.openRoom({ ...h, room, user, backoff: new Backoff(WS_BACKOFF) })),
    sse: makeParticipant("room-sse", (h, room, user) => sse.openRoom({ ...h, room, user, retryMs: config?.sse_retry ?? null })),
    http: makeParticipant("room-http", (h, room, user) =>
      http.openRoom({ ...h, room, user, longPoll: mode.value === "long", everyMs: 1000 })),
  };

  function makeParticipant(id, open) {
    const root = byId(id);
    const part = (role) => /** @type {HTMLElement} */ (root.querySelector(`[data-role="${role}"]`));
    const ui = { state: part("state"), detail: part("detail"), list: part("messages"), form: /** @type {HTMLFormElement} */ (part("form")) };
    const input = /** @type {HTMLInputElement} */ (ui.form.querySelector("input"));
    let conn = /** @type {{send: (text: string) => Promise<void>, close: () => void, resetCursor?: () => void} | null} */ (null);
    let state = "closed";

    const handlers = {
      onMessage(message) {
        if (message.kind === "room" && message.dir === "in") addMessage(ui.list, message.message);
        else if (message.dir === "error") addNotice(ui.list, message.text, "error");
        else if (message.kind === "gap") addNotice(ui.list, `${message.lost} older message(s) are no longer in the room's history`);
        else if (message.kind === "dropped") addNotice(ui.list, `the server dropped this subscriber: ${message.text}`, "error");
      },
      onStatus(status) {
          // A final close is told by the state line itself.
        if (status.close && status.state !== "closed") {
          const reason = status.close.reason ? ` “${status.close.reason}”` : "";
          addNotice(ui.list, `closed ${status.close.meaning}${reason}`);
        }
        state = status.state;
        showStatus(ui, status);
      },
    };
    function join() {
      if (!form.reportValidity()) return;
      conn?.close();
      ui.list.replaceChildren();
      conn = open(handlers, roomInput.value, userInput.value);
    }
    function leave() {
      conn?.close();
      conn = null;
    }
    part("join").addEventListener("click", join);
    part("leave").addEventListener("click", leave);
    ui.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!conn || state === "closed") {
        addNotice(ui.list, "join the room first", "error");
        return;
      }
      try {
        await conn.send(input.value);
        // reset(), not value = "": it also forgets that the field was edited, so the empty
        // required field is not painted invalid (:user-invalid) after a successful send.
        ui.form.reset();
      } catch (error) {
        // Failed POSTs are reported by the transport itself; anything else (a socket that
        // is not open) is said here.
        if (!(error instanceof http.HttpError) && !(error instanceof TypeError)) {
          addNotice(ui.list, `not sent: ${error.message}`, "error");
        }
      }
    });
    restartListeners.push(() => {
      if (!conn) return;
      conn.resetCursor?.();
      addNotice(ui.list, "the server restarted: room ids start over from 1");
    });
    return { join, leave, joined: () => conn !== null };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.values(participants).forEach((p) => p.join());
  });
  // Switching between polling and long-polling takes effect at once for a joined participant.
  mode.addEventListener("change", () => participants.http.joined() && participants.http.join());
  byId("room-leave-all").addEventListener("click", () => Object.values(participants).forEach((p) => p.leave()));

  async function showRoomInfo() {
    if (byId("view-rooms").hidden) return;
    try {
      const response = await fetch(httpUrl("/api/rooms"), { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { rooms } = await response.json();
      const room = rooms.find((r) => r.name === roomInput.value);
      setText(info, room
        ? `Room “${room.name}” (/api/rooms): last id ${room.last_id}, ${room.history_size} in history · subscribers: ` +
          `WebSocket ${room.subscribers.ws ?? 0}, SSE ${room.subscribers.sse ?? 0}, HTTP long-polls waiting ${room.subscribers.http ?? room.waiters ?? 0}`
        : `Room “${roomInput.value}” does not exist yet: it is created by the first message or subscriber.`);
    } catch (error) {
      setText(info, `/api/rooms is not answering (${error.message}).`);
    }
  }
  setInterval(showRoomInfo, 2000);
  window.addEventListener("tabshown", (event) => /** @type {CustomEvent} */ (event).detail === "rooms" && showRoomInfo());
}

/**
 * One room message, every field inserted as text.
 * @param {HTMLElement} list
 * @param {{id: number, user: string, text: string, ts: number, via: string}} message
 */
function addMessage(list, message) {
  appendFollowing(list,
    el("li", { className: "message" },
      el("div", { className: "meta" },
        el("span", { className: "via", dataset: { via: message.via }, text: `via ${message.via}` }),
        el("strong", { className: "user", text: message.user }),
        el("span", { className: "id", text: `#${message.id}` }),
        el("time", { text: clockTime(new Date(message.ts)), attrs: { datetime: new Date(message.ts).toISOString() } }),
      ),
      el("span", { className: "text", text: message.text }),
    ),
  );
}

/** A notice line in a message list (joins, errors, gaps). */
function addNotice(list, text, kind = "note") {
  appendFollowing(list, el("li", { className: `notice ${kind}`, text: `${clockTime().slice(0, 8)} ${text}` }));
}

// ───────────────────────────── boot ─────────────────────────────

/** "Explain every figure": show the line under each figure that says how it is obtained. */
function setupExplainToggle() {
  const toggle = /** @type {HTMLInputElement} */ (byId("explain-figures"));
  const key = "protocol-lab-explain";
  try {
    toggle.checked = localStorage.getItem(key) === "1";
  } catch {
    // Storage may be disabled; the toggle still works for this visit.
  }
  const apply = () => {
    document.body.classList.toggle("explain-figures", toggle.checked);
    try {
      localStorage.setItem(key, toggle.checked ? "1" : "0");
    } catch {
      // as above
    }
  };
  toggle.addEventListener("change", apply);
  apply();
}

async function boot() {
  const announceTab = setupTabs();
  setupExplainToggle();
  await loadConfig(); // settings shape the echo panels (sse_retry, ws_max_size, rate limits)
  watchServer();
  setupEchoPanels();
  setupCompare();
  setupPush();
  setupRooms();
  announceTab();
  document.documentElement.dataset.ready = "true";
}

boot();
