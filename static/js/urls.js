/**
 * Every URL the page uses, derived from `location`: the page works behind any host, port or
 * TLS terminator without a setting, and WebSocket URLs follow the page (http: → ws:,
 * https: → wss:) so a secure page never tries an insecure socket.
 */

/**
 * An absolute http(s) URL on the page's own origin.
 * @param {string} path e.g. "/http/echo"
 * @param {Record<string, string | number>} [params] query parameters
 * @returns {string}
 */
export function httpUrl(path, params = {}) {
  const url = new URL(path, location.href);
  for (const [name, value] of Object.entries(params)) {
    url.searchParams.set(name, String(value));
  }
  return url.toString();
}

/**
 * The ws: or wss: URL of `path` on the page's own host.
 * @param {string} path e.g. "/ws/echo"
 * @param {Record<string, string | number>} [params] query parameters
 * @returns {string}
 */
export function wsUrl(path, params = {}) {
  const url = new URL(httpUrl(path, params));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/**
 * The room part of a URL path, percent-encoded (room names are [A-Za-z0-9_-] anyway).
 * @param {string} room
 * @returns {string}
 */
export function roomPath(room) {
  return encodeURIComponent(room);
}
