/**
 * What every view shares about this page: its identity in the browser and our WebSocket
 * reconnection policy. No DOM.
 */

/** Our WebSocket reconnection policy: first window 0.5 s, doubling, never above 10 s. */
export const WS_BACKOFF = Object.freeze({ baseMs: 500, capMs: 10_000 });

/** A stable id for this browser, so reloads reuse the same private rooms. */
export const pageId = (() => {
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
