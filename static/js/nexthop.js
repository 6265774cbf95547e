/**
 * The protocol each request really used, from Resource Timing's `nextHopProtocol`:
 * "http/1.1", "h2" or "h3" as the browser negotiated it with the next hop (the proxy, when
 * there is one). Entries exist only for requests that have completed, so an event stream
 * shows up when it ends, and a WebSocket never does (its handshake gets no entry).
 */

/** @type {Map<string, string>} path prefix → protocol of the last completed request */
const lastProtocol = new Map();
const PREFIXES = ["/http/echo", "/http/room/", "/sse/", "/healthz"];

if (typeof PerformanceObserver !== "undefined") {
  new PerformanceObserver((list) => {
    for (const entry of /** @type {PerformanceResourceTiming[]} */ (list.getEntries())) {
      const url = new URL(entry.name);
      if (url.origin !== location.origin || !entry.nextHopProtocol) continue;
      const prefix = PREFIXES.find((p) => url.pathname.startsWith(p));
      if (prefix) lastProtocol.set(prefix, entry.nextHopProtocol);
    }
  }).observe({ type: "resource" });
}

/**
 * The protocol of the last completed request whose path starts with one of `prefixes`
 * (the first prefix that has one), or null.
 * @param {string[]} prefixes e.g. ["/http/echo"]
 * @returns {string | null}
 */
export function protocolOf(prefixes) {
  for (const prefix of prefixes) {
    const protocol = lastProtocol.get(prefix);
    if (protocol) return protocol;
  }
  return null;
}

/**
 * A panel's "Protocol" figure for requests under `prefixes`.
 * @param {string[]} prefixes
 * @param {string} what which requests, for the explanation line
 * @returns {import("./ui.js").Metric}
 */
export function protocolMetric(prefixes, what) {
  const protocol = protocolOf(prefixes);
  return {
    label: "Protocol (next hop)",
    value: protocol ?? "—",
    source: "measured",
    detail: `Resource Timing nextHopProtocol of ${what}: http/1.1 direct, h2 through the proxy`,
  };
}

/** The WebSocket panel's "Protocol" figure: a page cannot see it. @returns {import("./ui.js").Metric} */
export function websocketProtocolMetric() {
  return {
    label: "Protocol (next hop)",
    value: "not visible",
    source: "hidden",
    detail:
      "a WebSocket handshake gets no Resource Timing entry; HAProxy carries it inside the page's h2 connection (RFC 8441), nginx 1.22 on a separate HTTP/1.1 connection",
  };
}
