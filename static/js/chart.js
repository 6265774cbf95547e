/**
 * Small canvas charts for latencies: an empirical CDF, a histogram and a delay timeline.
 * Our own code on purpose: three chart types do not justify a dependency, and the page must
 * work offline. The caller passes the canvas and the colours; nothing else is read from the page.
 *
 * Latency axes are logarithmic: on one machine a WebSocket echo takes a fraction of a
 * millisecond and a poll can take a second, and both must be readable on the same axis.
 */

import { cdfPoints, histogram } from "./stats.js";

/**
 * @typedef {{label: string, color: string, dash: number[], marker?: "circle" | "square" | "triangle" | "diamond"}} SeriesStyle
 * @typedef {SeriesStyle & {values: number[]}} Series
 * @typedef {SeriesStyle & {points: Array<[number, number]>}} TimeSeries points = [time ms, value ms]
 * @typedef {{text: string, muted: string, grid: string, background: string, font: string}} Theme
 */

const MARGIN = { top: 14, right: 28, bottom: 40, left: 56 };
const STEPS = [1, 2, 5];

/** Size the canvas for the device's pixel ratio and clear it; returns the drawing area. */
function prepare(canvas, theme) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, width, height);
  ctx.font = theme.font;
  const plot = {
    left: MARGIN.left,
    top: MARGIN.top,
    right: width - MARGIN.right,
    bottom: height - MARGIN.bottom,
  };
  return { ctx, width, height, plot };
}

/** The 1-2-5 values from the largest one at or below `lo` to the smallest one at or above `hi`. */
function niceLogTicks(lo, hi) {
  const ticks = [];
  for (let exponent = Math.floor(Math.log10(lo)) - 1; ; exponent += 1) {
    for (const step of STEPS) {
      const value = +(step * 10 ** exponent).toPrecision(6);
      if (value <= lo) {
        ticks.splice(0, ticks.length, value); // only the last value at or below lo stays
        continue;
      }
      ticks.push(value);
      if (value >= hi) return ticks;
    }
  }
}

/**
 * A milliseconds label: "0.2 ms", "15 ms", "1.5 s".
 * @param {number} ms
 * @returns {string}
 */
export function formatMs(ms) {
  if (ms >= 1000) return `${+(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  if (ms >= 1) return `${+ms.toFixed(1)} ms`;
  return `${+ms.toPrecision(2)} ms`;
}

/** A logarithmic scale from [lo, hi] to [from, to] pixels. */
function logScale(lo, hi, from, to) {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return (value) => from + ((Math.log10(Math.max(value, lo)) - a) / (b - a)) * (to - from);
}

function linearScale(lo, hi, from, to) {
  return (value) => from + ((value - lo) / (hi - lo || 1)) * (to - from);
}

/** The latency domain over all series, widened to whole 1-2-5 ticks. */
function latencyTicks(allValues, floor = 0.05) {
  const positive = allValues.filter((v) => Number.isFinite(v));
  const lo = Math.max(floor, Math.min(...positive));
  const hi = Math.max(lo * 2, Math.max(...positive));
  return niceLogTicks(lo, hi);
}

function drawEmpty(ctx, width, height, theme, text) {
  ctx.fillStyle = theme.muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, width / 2, height / 2);
}

/** Grid and labels of a log x axis of latencies. */
function drawLatencyAxis(ctx, plot, ticks, x, theme, title) {
  ctx.strokeStyle = theme.grid;
  ctx.lineWidth = 1;
  ctx.fillStyle = theme.muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const tick of ticks) {
    const px = Math.round(x(tick)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(px, plot.top);
    ctx.lineTo(px, plot.bottom);
    ctx.stroke();
    ctx.fillText(formatMs(tick), px, plot.bottom + 6);
  }
  ctx.fillStyle = theme.text;
  ctx.fillText(title, (plot.left + plot.right) / 2, plot.bottom + 22);
}

/** Grid and labels of a linear y axis; `format` turns a value into its label. */
function drawYAxis(ctx, plot, ticks, y, theme, format) {
  ctx.strokeStyle = theme.grid;
  ctx.fillStyle = theme.muted;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const tick of ticks) {
    const py = Math.round(y(tick)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.left, py);
    ctx.lineTo(plot.right, py);
    ctx.stroke();
    ctx.fillText(format(tick), plot.left - 6, py);
  }
}

/** A legend in the top-left corner of the plot: a line sample per series and its label. */
function drawLegend(ctx, plot, items, theme) {
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  const rowHeight = 18;
  const width = Math.max(...items.map((item) => ctx.measureText(item.label).width)) + 44;
  ctx.fillStyle = theme.background;
  ctx.globalAlpha = 0.88;
  ctx.fillRect(plot.left + 8, plot.top + 6, width, items.length * rowHeight + 8);
  ctx.globalAlpha = 1;
  items.forEach((item, index) => {
    const yMid = plot.top + 14 + index * rowHeight + 4;
    ctx.strokeStyle = item.color;
    ctx.lineWidth = 2.5;
    ctx.setLineDash(item.dash);
    ctx.beginPath();
    ctx.moveTo(plot.left + 14, yMid);
    ctx.lineTo(plot.left + 38, yMid);
    ctx.stroke();
    ctx.setLineDash([]);
    if (item.marker) drawMarker(ctx, item.marker, plot.left + 26, yMid, item.color);
    ctx.fillStyle = theme.text;
    ctx.fillText(item.label, plot.left + 44, yMid);
  });
}

function drawMarker(ctx, marker, x, y, color) {
  const r = 3.5;
  ctx.fillStyle = color;
  ctx.beginPath();
  if (marker === "square") ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else if (marker === "triangle") {
    ctx.moveTo(x, y - r - 1);
    ctx.lineTo(x + r + 1, y + r);
    ctx.lineTo(x - r - 1, y + r);
    ctx.closePath();
  } else if (marker === "diamond") {
    ctx.moveTo(x, y - r - 1);
    ctx.lineTo(x + r + 1, y);
    ctx.lineTo(x, y + r + 1);
    ctx.lineTo(x - r - 1, y);
    ctx.closePath();
  } else ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fill();
}

/**
 * Draw one empirical CDF per series: for each latency x, the fraction of messages that took
 * at most x. Curves further left are faster; a long flat tail is a slow p95/p99.
 * @param {HTMLCanvasElement} canvas
 * @param {Series[]} series
 * @param {Theme} theme
 */
export function drawCdf(canvas, series, theme) {
  const { ctx, width, height, plot } = prepare(canvas, theme);
  const filled = series.filter((s) => s.values.length);
  if (!filled.length) {
    drawEmpty(ctx, width, height, theme, "Run a comparison to see the latency distributions");
    return;
  }
  const ticks = latencyTicks(filled.flatMap((s) => s.values));
  const x = logScale(ticks[0], ticks[ticks.length - 1], plot.left, plot.right);
  const y = linearScale(0, 1, plot.bottom, plot.top);
  drawLatencyAxis(ctx, plot, ticks, x, theme, "round-trip latency (log scale)");
  drawYAxis(ctx, plot, [0, 0.25, 0.5, 0.75, 1], y, theme, (v) => `${Math.round(v * 100)}%`);
  // Where each curve crosses this line is that protocol's p95.
  ctx.strokeStyle = theme.muted;
  ctx.setLineDash([3, 3]);
  ctx.beginPath();
  ctx.moveTo(plot.left, Math.round(y(0.95)) + 0.5);
  ctx.lineTo(plot.right, Math.round(y(0.95)) + 0.5);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = theme.muted;
  ctx.textAlign = "right";
  ctx.textBaseline = "bottom";
  ctx.fillText("p95", plot.right - 2, y(0.95) - 2);
  for (const s of filled) {
    const points = cdfPoints(s.values);
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2.5;
    ctx.setLineDash(s.dash);
    ctx.beginPath();
    ctx.moveTo(x(points[0][0]), y(0));
    let previous = 0;
    for (const [value, fraction] of points) {
      ctx.lineTo(x(value), y(previous));
      ctx.lineTo(x(value), y(fraction));
      previous = fraction;
    }
    ctx.lineTo(plot.right, y(1));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  drawLegend(ctx, plot, filled, theme);
}

/**
 * Draw one histogram outline per series over shared log-spaced bins; heights are the share of
 * that protocol's messages, so runs of different sizes compare.
 * @param {HTMLCanvasElement} canvas
 * @param {Series[]} series
 * @param {Theme} theme
 * @param {number} [bins]
 */
export function drawHistogram(canvas, series, theme, bins = 30) {
  const { ctx, width, height, plot } = prepare(canvas, theme);
  const filled = series.filter((s) => s.values.length);
  if (!filled.length) {
    drawEmpty(ctx, width, height, theme, "Run a comparison to see the latency distributions");
    return;
  }
  const ticks = latencyTicks(filled.flatMap((s) => s.values));
  const lo = Math.log10(ticks[0]);
  const hi = Math.log10(ticks[ticks.length - 1]);
  const edges = Array.from({ length: bins + 1 }, (_, i) => 10 ** (lo + ((hi - lo) * i) / bins));
  const shares = filled.map((s) => histogram(s.values, edges).map((count) => count / s.values.length));
  const top = Math.max(...shares.flat());
  const yTicks = niceLinearTicks(top);
  const x = logScale(edges[0], edges[bins], plot.left, plot.right);
  const y = linearScale(0, yTicks[yTicks.length - 1], plot.bottom, plot.top);
  drawLatencyAxis(ctx, plot, ticks, x, theme, "round-trip latency (log scale)");
  drawYAxis(ctx, plot, yTicks, y, theme, (v) => `${Math.round(v * 100)}%`);
  filled.forEach((s, index) => {
    ctx.beginPath();
    ctx.moveTo(x(edges[0]), y(0));
    shares[index].forEach((share, bin) => {
      ctx.lineTo(x(edges[bin]), y(share));
      ctx.lineTo(x(edges[bin + 1]), y(share));
    });
    ctx.lineTo(x(edges[bins]), y(0));
    ctx.globalAlpha = 0.14;
    ctx.fillStyle = s.color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dash);
    ctx.stroke();
    ctx.setLineDash([]);
  });
  drawLegend(ctx, plot, filled, theme);
}

/** 0 and a few round steps up to at least `max` (for shares 0..1). */
function niceLinearTicks(max) {
  const step = [0.05, 0.1, 0.2, 0.25, 0.5].find((s) => max / s <= 5) ?? 0.5;
  const ticks = [];
  for (let v = 0; v < max + step - 1e-9; v += step) ticks.push(+v.toFixed(2));
  return ticks.length > 1 ? ticks : [0, step];
}

/**
 * Draw delivery delays over the last `windowMs`: one marker per tick that arrived, per series.
 * @param {HTMLCanvasElement} canvas
 * @param {TimeSeries[]} series
 * @param {{now: number, windowMs: number}} range times in Date.now() milliseconds
 * @param {Theme} theme
 */
export function drawTimeline(canvas, series, { now, windowMs }, theme) {
  const { ctx, width, height, plot } = prepare(canvas, theme);
  const visible = series.map((s) => ({ ...s, points: s.points.filter(([t]) => t >= now - windowMs) }));
  const values = visible.flatMap((s) => s.points.map(([, v]) => v));
  if (!values.length) {
    drawEmpty(ctx, width, height, theme, "Start a subscription to see each tick's delivery delay");
    return;
  }
  const yTicks = niceLogTicks(Math.max(0.5, Math.min(...values, 1)), Math.max(...values, 100));
  const y = logScale(yTicks[0], yTicks[yTicks.length - 1], plot.bottom, plot.top);
  const x = linearScale(now - windowMs, now, plot.left, plot.right);
  drawYAxis(ctx, plot, yTicks, y, theme, formatMs);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  // About six labels, whatever the window: 2 s steps for a young run, 10 s for a minute.
  const step = [1, 2, 5, 10, 20, 30].find((seconds) => windowMs / 1000 / seconds <= 6) ?? 60;
  for (let s = 0; s <= windowMs / 1000; s += step) {
    const px = x(now - s * 1000);
    ctx.fillText(s === 0 ? "now" : `−${s} s`, px, plot.bottom + 6);
  }
  // Each axis says what it is: time along the bottom, the delay on the y axis (top right,
  // clear of the legend in the top left).
  ctx.fillStyle = theme.text;
  ctx.fillText("arrival time of each tick", (plot.left + plot.right) / 2, plot.bottom + 22);
  ctx.textAlign = "right";
  ctx.fillText("↑ delay, log scale", plot.right - 4, plot.top + 4);
  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.left, plot.top, plot.right - plot.left, plot.bottom - plot.top);
  ctx.clip();
  for (const s of visible) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(s.dash);
    ctx.beginPath();
    s.points.forEach(([t, v], index) => (index ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const [t, v] of s.points) drawMarker(ctx, s.marker ?? "circle", x(t), y(v), s.color);
  }
  ctx.restore();
  drawLegend(ctx, plot, visible.filter((s) => s.points.length), theme);
}
