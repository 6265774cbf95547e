/**
 * Shared DOM helpers for the views: figures with their sources, logs that follow new lines,
 * state badges. Everything is inserted as text (`textContent`), never as HTML.
 */

import { formatMs } from "./chart.js";
import { clockTime, el, formatBytes, trimList, truncate } from "./dom.js";
import { hasHiddenParts, knownOverhead } from "./framing.js";

const LOG_LIMIT = 200;

// ───────────────────────────── figures and their sources ─────────────────────────────

/**
 * Where a figure comes from; the label is shown next to it.
 * @type {Record<string, {label: string, title: string}>}
 */
export const SOURCES = {
  measured: { label: "measured", title: "measured by this browser" },
  computed: { label: "computed", title: "computed exactly from the protocol's framing rules" },
  mixed: {
    label: "computed + measured",
    title: "some parts computed from the framing rules, some measured by the browser (tick “Explain every figure” to see which)",
  },
  stats: { label: "/api/stats", title: "the server's own counters (all clients together)" },
  config: { label: "/api/config", title: "the server's settings" },
  page: { label: "counted", title: "counted by this page" },
  server: {
    label: "reported by server",
    title: "the server reports the size of the request head it received (X-Request-Head-Bytes)",
  },
  "computed-server": {
    label: "computed + reported by server",
    title: "some parts computed from the framing rules, the request head reported by the server (X-Request-Head-Bytes); tick “Explain every figure” to see which",
  },
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
export function renderMetrics(list, rows) {
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

/**
 * Set text only when it changed (keeps selections and screen readers calm).
 * @param {Node} node
 * @param {string} text
 */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/**
 * "1.2 ms" or "—".
 * @param {number | null | undefined} value milliseconds
 * @returns {string}
 */
export function ms(value) {
  return value === undefined || value === null || Number.isNaN(value) ? "—" : formatMs(value);
}

/**
 * A wire cost as "5 B payload + 6 B overhead" and a detail line naming every part.
 * @param {import("./framing.js").WireCost | null} cost
 * @returns {{value: string, detail: string, source: keyof typeof SOURCES}}
 */
export function describeCost(cost) {
  if (!cost) return { value: "—", detail: "", source: "computed" };
  const hidden = hasHiddenParts(cost);
  const overhead = knownOverhead(cost);
  const value = hidden && overhead === 0
    ? `${formatBytes(cost.payload)} payload + headers (not visible)`
    : `${formatBytes(cost.payload)} payload + ${hidden ? "≥ " : ""}${formatBytes(overhead)} overhead`;
  const detail = cost.parts
    .map((part) => `${part.what}: ${part.bytes === null ? "not visible to the page" : `${part.bytes} B (${SOURCES[part.source]?.label ?? part.source})`}`)
    .join(" · ");
  return { value, detail, source: costSource(cost) };
}

/**
 * The source label of a whole cost, from the sources of its parts that have a size.
 * @param {import("./framing.js").WireCost} cost
 * @returns {keyof typeof SOURCES}
 */
function costSource(cost) {
  const sources = new Set(cost.parts.filter((part) => part.bytes !== null).map((part) => part.source));
  if (sources.size === 0) return "hidden";
  if (sources.size === 1) return /** @type {keyof typeof SOURCES} */ ([...sources][0]);
  if (sources.has("server")) {
    // Only the request head comes from the server; today it is only ever paired with
    // computed parts (the SSE POST's JSON envelope).
    return sources.size === 2 && sources.has("computed") ? "computed-server" : "mixed";
  }
  return "mixed";
}

// ───────────────────────────── logs ─────────────────────────────

const ARROWS = { out: "→", in: "←", error: "✕", note: "•" };

/**
 * Append one line to a log: time, direction, text (as text), size.
 * @param {HTMLElement} list
 * @param {{dir: "out" | "in" | "error" | "note", text: string, size?: string, extra?: string, note?: string, kind?: string}} line
 *   `extra` is a short figure (a latency), `note` a sentence shown under the text
 */
export function logLine(list, { dir, text, size, extra, note, kind }) {
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
export function appendFollowing(list, item) {
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

/**
 * Scroll the following lists of a view that was just shown to their newest entry.
 * @param {HTMLElement} view
 */
export function followHiddenLists(view) {
  for (const list of view.querySelectorAll('[data-follow="true"]')) {
    list.scrollTop = list.scrollHeight;
  }
}

/**
 * "5 B + 6 B" for a log line; "≥" when part of the overhead is not visible to the page.
 * @param {import("./framing.js").WireCost | null | undefined} cost
 * @returns {string}
 */
export function sizeOf(cost) {
  if (!cost) return "";
  const overhead = knownOverhead(cost);
  const hidden = hasHiddenParts(cost);
  // Like the figures: when headers are all there is, say so rather than "≥ 0 B".
  if (hidden && overhead === 0) return `${formatBytes(cost.payload)} + headers`;
  return `${formatBytes(cost.payload)} + ${hidden ? "≥" : ""}${formatBytes(overhead)}`;
}

/**
 * Show a state badge: its text and its colour (data-state).
 * @param {HTMLElement} badge
 * @param {string} state
 * @param {string} [text]
 */
export function showState(badge, state, text = state) {
  badge.dataset.state = state;
  setText(badge, text);
}


// ───────────────────────────── connection states ─────────────────────────────

/**
 * Carry "a request failed" through busy states, so the recovery is logged once.
 * @param {Record<string, any>} previous the status reported before
 * @param {Record<string, any>} status the new status (gets `failedBefore`)
 */
export function rememberFailure(previous, status) {
  status.failedBefore = status.state === "failed" || (status.state === "busy" && Boolean(previous.failedBefore));
}

/**
 * Whether a status change deserves a log line: every change of a connection's state, but for
 * HTTP (busy/ready after every request) only failures and the first success after one.
 * @param {Record<string, any>} previous
 * @param {Record<string, any>} status
 * @returns {boolean}
 */
export function worthLogging(previous, status) {
  if (status.retry) return true;
  if (status.state === previous.state) return false;
  if (status.state === "busy") return false;
  if (status.state === "ready" && previous.state === "busy") return Boolean(previous.failedBefore);
  return true;
}

/**
 * A log line for a change of state.
 * @param {HTMLElement} list
 * @param {{state: string, detail: string}} status
 */
export function logStatus(list, status) {
  logLine(list, { dir: "note", text: `${status.state}: ${status.detail}` });
}

/**
 * The badge and the sentence under it; a reconnecting WebSocket explains its backoff.
 * @param {{state: HTMLElement, detail: HTMLElement}} ui
 * @param {Record<string, any>} status
 */
export function showStatus(ui, status) {
  showState(ui.state, status.state);
  let detail = status.detail;
  if (status.retry && status.state === "reconnecting") {
    const { delayMs, ceilingMs, attempt, capMs } = status.retry;
    detail = `Our backoff: attempt ${attempt} after ${(delayMs / 1000).toFixed(2)} s, drawn at random from [0, ${(ceilingMs / 1000).toFixed(1)} s] (the window doubles up to ${capMs / 1000} s).`;
  }
  setText(ui.detail, detail);
}


// ───────────────────────────── charts ─────────────────────────────

/** Chart colours and dashes from the stylesheet, so the chart matches the page. */
export function chartTheme() {
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
