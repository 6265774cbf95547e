/**
 * What the browser itself measured about a request, from the Resource Timing API: the body's
 * size on the wire (`encodedBodySize`), the protocol (`nextHopProtocol`) and whether a new
 * TCP connection was opened.
 *
 * Not used: `transferSize`. Browsers report it as `encodedBodySize + 300` (a constant the
 * Fetch standard puts there so header sizes cannot be inferred), so it says nothing about
 * headers. Entries arrive through a PerformanceObserver; the page asks for one before it
 * sends the request, so the entry cannot slip past.
 */

/** @type {Map<string, Array<(entry: PerformanceResourceTiming) => void>>} */
const waiting = new Map();

if (typeof PerformanceObserver !== "undefined") {
  const observer = new PerformanceObserver((list) => {
    for (const entry of /** @type {PerformanceResourceTiming[]} */ (list.getEntries())) {
      const queue = waiting.get(entry.name);
      const resolve = queue?.shift();
      if (queue && queue.length === 0) waiting.delete(entry.name);
      resolve?.(entry);
    }
  });
  observer.observe({ type: "resource" });
  // Observers get every entry anyway; the global buffer only fills up and warns.
  performance.addEventListener?.("resourcetimingbufferfull", () => performance.clearResourceTimings());
}

/**
 * The Resource Timing entry of the next request to `url` that completes.
 * Call before sending the request; call `cancel()` if the request fails, so the waiter does
 * not take the entry of a later request to the same URL. Resolves to null after `timeoutMs`.
 * @param {string} url absolute URL, exactly as fetched
 * @param {number} [timeoutMs]
 * @returns {{entry: Promise<PerformanceResourceTiming | null>, cancel: () => void}}
 */
export function nextEntry(url, timeoutMs = 2000) {
  /** @type {(entry: PerformanceResourceTiming | null) => void} */
  let settle = () => {};
  const entry = new Promise((resolve) => {
    const timer = setTimeout(() => finish(null), timeoutMs);
    settle = (found) => {
      clearTimeout(timer);
      resolve(found);
    };
  });
  const queue = waiting.get(url) ?? [];
  queue.push(settle);
  waiting.set(url, queue);
  function finish(found) {
    const index = queue.indexOf(settle);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0 && waiting.get(url) === queue) waiting.delete(url);
    settle(found);
  }
  return { entry, cancel: () => finish(null) };
}

/**
 * True when the request had to open a new TCP connection instead of reusing a pooled one.
 * A reused connection reports connectStart === connectEnd (W3C Resource Timing); a connect
 * faster than the browser's timer resolution would be missed, so the count is a lower bound.
 * @param {PerformanceResourceTiming | null} entry
 * @returns {boolean}
 */
export function openedConnection(entry) {
  return Boolean(entry && entry.connectEnd > entry.connectStart);
}
