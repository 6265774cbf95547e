/**
 * Statistics over numbers the page has already measured: no clock, no DOM, no I/O.
 * Percentiles use the same method as the Python client (`client/stats.py`).
 */

/**
 * The p-th percentile of ascending `sorted` values: linear interpolation between closest
 * ranks (Hyndman & Fan type 7, NumPy's default), so p=0 is the minimum and p=100 the maximum.
 * @param {number[]} sorted ascending values
 * @param {number} p 0..100
 * @returns {number} NaN when there are no values
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = ((sorted.length - 1) * p) / 100;
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (rank - low) * (sorted[high] - sorted[low]);
}

/**
 * Summary of latency samples in milliseconds, in any order.
 * @param {number[]} samples
 * @returns {{n: number, min: number, median: number, p95: number, p99: number, max: number, mean: number}}
 */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    n: sorted.length,
    min: sorted.length ? sorted[0] : NaN,
    median: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/**
 * The empirical CDF: one [value, fraction of samples <= value] point per distinct value.
 * @param {number[]} samples
 * @returns {Array<[number, number]>}
 */
export function cdfPoints(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const points = [];
  sorted.forEach((value, index) => {
    if (index + 1 < sorted.length && sorted[index + 1] === value) return;
    points.push([value, (index + 1) / sorted.length]);
  });
  return points;
}

/**
 * Counts of samples in `edges.length - 1` bins; bin i holds edges[i] <= x < edges[i+1]
 * (the last bin also holds its upper edge). Samples outside the edges are clamped in.
 * @param {number[]} samples
 * @param {number[]} edges ascending bin edges
 * @returns {number[]}
 */
export function histogram(samples, edges) {
  const counts = new Array(edges.length - 1).fill(0);
  for (const value of samples) {
    let bin = edges.findIndex((edge, i) => i > 0 && value < edge) - 1;
    if (bin < 0) bin = value < edges[0] ? 0 : counts.length - 1;
    counts[bin] += 1;
  }
  return counts;
}

/** The last `limit` samples, for "median of recent round trips" style figures. */
export class RecentSamples {
  /** @param {number} limit */
  constructor(limit = 500) {
    this.limit = limit;
    /** @type {number[]} */
    this.values = [];
  }

  /** @param {number} value */
  add(value) {
    this.values.push(value);
    if (this.values.length > this.limit) this.values.shift();
  }

  /** @returns {number | undefined} */
  get last() {
    return this.values[this.values.length - 1];
  }

  clear() {
    this.values = [];
  }
}

/** Events per second over a sliding window, e.g. "messages received in the last 5 s / 5". */
export class RateWindow {
  /** @param {number} windowMs */
  constructor(windowMs = 5000) {
    this.windowMs = windowMs;
    /** @type {number[]} */
    this.times = [];
  }

  /** @param {number} [now] a performance.now() time */
  mark(now = performance.now()) {
    this.times.push(now);
    this.prune(now);
  }

  /**
   * @param {number} [now]
   * @returns {number} events per second over the window ending at `now`
   */
  perSecond(now = performance.now()) {
    this.prune(now);
    return this.times.length / (this.windowMs / 1000);
  }

  /** @param {number} now */
  prune(now) {
    while (this.times.length && this.times[0] < now - this.windowMs) this.times.shift();
  }
}
