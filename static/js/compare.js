/**
 * The compare run: the same N messages of the same payload through each protocol in turn,
 * one message in flight at a time, so every latency is one clean round trip.
 *
 * No DOM here: contenders come in as functions that open a transport of the common shape
 * `{send, close}`, results go out as plain data (and as JSON or CSV text).
 */

import { hasHiddenParts, knownOverhead } from "./framing.js";
import { summarize } from "./stats.js";

/**
 * @typedef {object} Contender
 * @property {string} protocol "ws" | "sse" | "http"
 * @property {string} label human name
 * @property {string} path what the messages go through, e.g. "/ws/echo"
 * @property {(onStatus: (s: {state: string, detail: string}) => void) => {send: (text: string) => Promise<import("./protocols/ws.js").RoundTrip>, close: () => void}} open
 * @property {boolean} [stateless] true when there is no connection to wait for (HTTP)
 */

/**
 * A printable ASCII payload of exactly `size` bytes, the same for every protocol.
 * Pseudo-random letters and digits: a run of one letter would make WebSocket compression
 * (permessage-deflate) look better than it is.
 * @param {number} size
 * @returns {string}
 */
export function makePayload(size) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let state = 12345;
  let text = "";
  for (let i = 0; i < size; i += 1) {
    state = (state * 1103515245 + 12345) % 2147483648; // a fixed LCG: same payload every run
    text += alphabet[state % alphabet.length];
  }
  return text;
}

/**
 * Open a contender's transport and wait until it can carry messages.
 * @param {Contender} contender
 * @param {number} timeoutMs
 */
function openReady(contender, timeoutMs) {
  return new Promise((resolve, reject) => {
    /** @type {ReturnType<Contender["open"]> | undefined} */
    let transport;
    /** @type {Error | null | undefined} undefined = no verdict yet, null = ready */
    let verdict;
    const timer = setTimeout(() => settle(new Error(`not open within ${timeoutMs / 1000} s`)), timeoutMs);
    function settle(outcome) {
      if (verdict !== undefined) return;
      verdict = outcome;
      // A transport may report "ready" from inside open(), before it is returned to us.
      if (transport) finish();
    }
    let finished = false;
    function finish() {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (verdict) {
        transport?.close();
        reject(verdict);
      } else resolve(transport);
    }
    transport = contender.open((status) => {
      if (status.state === "open" || status.state === "ready") settle(null);
      else if (status.state === "closed" || status.state === "reconnecting") {
        settle(new Error(`could not connect: ${status.detail}`));
      }
    });
    if (contender.stateless) settle(null);
    if (verdict !== undefined) finish();
  });
}

/**
 * @typedef {object} ProtocolResult
 * @property {string} protocol
 * @property {string} label
 * @property {string} path
 * @property {number} requested N
 * @property {number[]} samplesMs round-trip latencies, in order
 * @property {ReturnType<typeof summarize> | null} summary
 * @property {number | null} throughput messages per second: messages ÷ timedMs
 * @property {number} timedMs time of the timed loop, without the waits below and without a
 *   server outage: what the throughput divides by
 * @property {number} waitedMs time spent waiting for the server's room rate limit (SSE + POST:
 *   the page paces its POSTs under it); it is in no timed figure, the round trips start
 *   at the POST's send
 * @property {{payload: number, outOverhead: number, inOverhead: number, lowerBound: boolean, outLowerBound: boolean, inLowerBound: boolean} | null} bytes
 *   per message, averaged; `outLowerBound`/`inLowerBound` when some part of that direction
 *   was not visible to the page (request headers, from a server that does not report their
 *   size in `X-Request-Head-Bytes`), `lowerBound` when either is
 * @property {string} connections what the run used
 * @property {string[]} interruptions connections that broke and were replaced, and why
 * @property {string | null} error why the run stopped early, if it did
 */

/**
 * Run N round trips through one contender. If the connection breaks (the server restarts),
 * wait for the server with `waitForServer` and carry on over a new connection; the
 * interruption is reported and the time without a server counts nowhere.
 * @param {Contender} contender
 * @param {{n: number, payload: string, signal: AbortSignal, onProgress: (p: {protocol: string, done: number, n: number, note?: string}) => void, waitForServer: (signal: AbortSignal) => Promise<boolean>}} options
 * @returns {Promise<ProtocolResult>}
 */
export async function runOne(contender, { n, payload, signal, onProgress, waitForServer }) {
  const samplesMs = [];
  const interruptions = [];
  let waitedMs = 0;
  let busyMs = 0;
  let outOverhead = 0;
  let inOverhead = 0;
  let payloadBytes = 0;
  let outLowerBound = false;
  let inLowerBound = false;
  let newConnections = 0;
  let connections = 0;
  // Cancelled during an earlier protocol: this one opens nothing.
  const skipped = signal.aborted;
  let error = skipped ? "cancelled" : null;
  while (samplesMs.length < n && error === null) {
    let transport;
    // The timed loop runs from after the warm-up to the end of the last message that came
    // back: a broken connection's last, unanswered message and the wait for the server to
    // return count nowhere.
    let started = 0;
    let lastDone = 0;
    try {
      transport = await openReady(contender, 10_000);
      connections += 1;
      // Warm-up, not timed: first-use costs are not latency. Its wait for the rate limit (if
      // any) is still reported with the others.
      waitedMs += (await transport.send(payload)).waitedMs ?? 0;
      started = lastDone = performance.now();
      while (samplesMs.length < n) {
        if (signal.aborted) throw new Cancelled();
        const trip = await transport.send(payload);
        lastDone = performance.now();
        samplesMs.push(trip.rttMs);
        // The rate limiter's wait is the page pacing itself, not the protocol: out of the
        // throughput's time (the round trip already starts at the POST's send).
        waitedMs += trip.waitedMs;
        busyMs -= trip.waitedMs;
        outOverhead += knownOverhead(trip.out);
        // SSE + POST: the POST's response head comes down for every message too.
        inOverhead += knownOverhead(trip.in) + (trip.reply ? knownOverhead(trip.reply) : 0);
        payloadBytes = trip.out.payload;
        outLowerBound ||= hasHiddenParts(trip.out);
        inLowerBound ||= hasHiddenParts(trip.in) || Boolean(trip.reply && hasHiddenParts(trip.reply));
        if (trip.newConnection) newConnections += 1;
        onProgress({ protocol: contender.protocol, done: samplesMs.length, n });
      }
    } catch (caught) {
      busyMs += lastDone - started;
      started = 0;
      const reason = caught instanceof Error ? caught.message : String(caught);
      if (caught instanceof Cancelled || signal.aborted) error = "cancelled";
      else if (interruptions.length >= 3) error = reason;
      else {
        interruptions.push(`after ${samplesMs.length}: ${reason}`);
        onProgress({
          protocol: contender.protocol,
          done: samplesMs.length,
          n,
          note: `interrupted (${reason}); waiting for the server to come back…`,
        });
        if (!(await waitForServer(signal))) error = signal.aborted ? "cancelled" : reason;
      }
    } finally {
      if (started) busyMs += lastDone - started;
      transport?.close();
    }
  }
  const done = samplesMs.length;
  return {
    protocol: contender.protocol,
    label: contender.label,
    path: contender.path,
    requested: n,
    samplesMs,
    summary: done ? summarize(samplesMs) : null,
    throughput: done && busyMs > 0 ? (done / busyMs) * 1000 : null,
    timedMs: busyMs,
    waitedMs,
    bytes: done
      ? {
          payload: payloadBytes,
          outOverhead: outOverhead / done,
          inOverhead: inOverhead / done,
          lowerBound: outLowerBound || inLowerBound,
          outLowerBound,
          inLowerBound,
        }
      : null,
    connections: connections ? describeConnections(contender.protocol, done, connections, newConnections) : "none",
    interruptions,
    error: error && (skipped ? `not run: ${error}` : `stopped after ${done} of ${n}: ${error}`),
  };
}

/** The user pressed Cancel. */
class Cancelled extends Error {
  constructor() {
    super("cancelled");
  }
}

/**
 * @param {string} protocol
 * @param {number} done messages timed
 * @param {number} connections transports opened (more than 1 after an interruption)
 * @param {number} newConnections requests that opened a TCP connection (HTTP)
 */
function describeConnections(protocol, done, connections, newConnections) {
  const trips = done + connections; // + one warm-up per connection
  if (protocol === "ws") return `${connections} WebSocket${connections === 1 ? "" : "s"}`;
  if (protocol === "sse") return `${connections} stream${connections === 1 ? "" : "s"} + ${trips} POST${trips === 1 ? "" : "s"}`;
  return `${trips} request${trips === 1 ? "" : "s"} (${newConnections} new TCP)`;
}

/**
 * Run every contender in turn (never at the same time: they would share the CPU and skew
 * each other's latencies).
 * @param {{contenders: Contender[], n: number, size: number, signal: AbortSignal, onProgress: (p: object) => void, waitForServer: (signal: AbortSignal) => Promise<boolean>}} options
 */
export async function runCompare({ contenders, n, size, signal, onProgress, waitForServer }) {
  const payload = makePayload(size);
  const startedAt = new Date().toISOString();
  const results = [];
  for (const contender of contenders) {
    onProgress({ protocol: contender.protocol, done: 0, n });
    results.push(await runOne(contender, { n, payload, signal, onProgress, waitForServer }));
  }
  return { startedAt, n, size, results };
}

/**
 * The run as pretty JSON, with where it ran.
 * @param {Awaited<ReturnType<typeof runCompare>>} run
 * @param {{page: string, userAgent: string, server: object | null}} context
 * @returns {string}
 */
export function toJson(run, context) {
  return JSON.stringify({ ...context, ...run }, null, 2);
}

/**
 * One CSV row per protocol (the summary table), or per message with `samples`.
 * @param {Awaited<ReturnType<typeof runCompare>>} run
 * @param {{samples?: boolean}} [options]
 * @returns {string}
 */
export function toCsv(run, { samples = false } = {}) {
  const rows = [];
  if (samples) {
    rows.push(["protocol", "message", "latency_ms"]);
    for (const result of run.results) {
      result.samplesMs.forEach((ms, index) => rows.push([result.protocol, index + 1, ms.toFixed(3)]));
    }
  } else {
    rows.push([
      "protocol", "messages", "payload_bytes", "median_ms", "p95_ms", "mean_ms", "max_ms",
      "throughput_msg_per_s", "timed_s", "rate_limit_wait_s", "overhead_out_bytes", "overhead_in_bytes", "overhead_is_lower_bound",
      "connections", "interruptions", "error",
    ]);
    for (const r of run.results) {
      rows.push([
        r.protocol, r.samplesMs.length, r.bytes?.payload ?? "",
        fixed(r.summary?.median), fixed(r.summary?.p95), fixed(r.summary?.mean), fixed(r.summary?.max),
        fixed(r.throughput, 1), fixed(r.timedMs / 1000), fixed(r.waitedMs / 1000), fixed(r.bytes?.outOverhead, 1), fixed(r.bytes?.inOverhead, 1),
        r.bytes ? String(r.bytes.lowerBound) : "", r.connections, r.interruptions.join("; "), r.error ?? "",
      ]);
    }
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** @param {number | null | undefined} value */
function fixed(value, digits = 3) {
  return value === null || value === undefined || Number.isNaN(value) ? "" : value.toFixed(digits);
}

/** RFC 4180: quote fields that contain a comma, a quote or a line break. */
function csvField(value) {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
