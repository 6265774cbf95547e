/**
 * Plain HTTP transports: the echo (`POST /http/echo`), polling and long-polling the tick
 * clock (`/http/tick`), and a room participant that polls (`/http/room/{room}`).
 *
 * HTTP keeps no connection the page can see: every request stands alone and fails alone,
 * so the status here describes the last request ("ready", "busy", "failed"), not a link.
 * Body sizes come from Resource Timing (measured by the browser); response heads are computed
 * from the status line and headers that `fetch()` exposes. Request heads are invisible to
 * pages; their size comes from the server, which reports the head it received in every
 * response (`X-Request-Head-Bytes`). Without that header they are reported as not visible,
 * never estimated.
 */

import { Backoff } from "../backoff.js";
import { http1HeadBytes, utf8Length } from "../framing.js";
import { nextEntry, openedConnection } from "../timing.js";
import { httpUrl, roomPath } from "../urls.js";

let requestCounter = 0;

/** An HTTP response with an error status; `message` is the server's `{"error": ...}` text. */
export class HttpError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(`HTTP ${status}: ${message}`);
    this.status = status;
  }
}

/**
 * A unique URL for one request (`n=` is ignored by the server): it lets the page find the
 * request's own Resource Timing entry and keeps any cache out of the way.
 * @param {string} path
 * @param {Record<string, string | number>} [params]
 */
function uniqueUrl(path, params = {}) {
  requestCounter += 1;
  return httpUrl(path, { ...params, n: requestCounter });
}

/**
 * Fetch `url` and read the whole body, timing it and collecting what the browser measured.
 * Throws `HttpError` for an error status (the body's "error" text as message) and the
 * browser's TypeError when the request fails without a response (server down).
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<{status: number, text: string, startedAt: number, finishedAt: number, headerBytes: number | null, requestHeadBytes: number | null, bodyBytes: number, bodySource: "measured" | "computed", newConnection: boolean, retryAfterS: number | null}>}
 */
export async function request(url, init = {}) {
  const timing = nextEntry(url);
  const startedAt = performance.now();
  let response;
  let text;
  try {
    response = await fetch(url, { cache: "no-store", ...init });
    text = await response.text();
  } catch (error) {
    timing.cancel();
    throw error;
  }
  const entry = await timing.entry;
  const result = {
    status: response.status,
    text,
    // The browser's own timing of the exchange (Resource Timing: fetch start to the last
    // byte), so that page work around it (promise callbacks, rendering) is not counted; the
    // script's clock only when the browser gave no entry.
    startedAt: entry ? entry.startTime : startedAt,
    finishedAt: entry && entry.responseEnd > 0 ? entry.responseEnd : performance.now(),
    // Computed for HTTP/1.1 only: HTTP/2 and 3 compress headers (HPACK/QPACK).
    headerBytes:
      !entry || entry.nextHopProtocol === "http/1.1"
        ? http1HeadBytes(response.status, response.statusText, response.headers)
        : null,
    // The request line + headers + blank line, as the server received them (null from a
    // server that does not report it).
    requestHeadBytes: reportedRequestHead(response.headers),
    // encodedBodySize is what crossed the wire; without an entry, the body we read.
    bodyBytes: entry ? entry.encodedBodySize : utf8Length(text),
    bodySource: entry ? "measured" : "computed",
    newConnection: openedConnection(entry),
    retryAfterS: response.headers.has("Retry-After") ? Number(response.headers.get("Retry-After")) : null,
  };
  if (!response.ok && response.status !== 429) throw new HttpError(response.status, errorText(text));
  return result;
}

/**
 * `X-Request-Head-Bytes` as a number, or null when the server did not send it (or sent
 * something that is not a byte count).
 * @param {Headers} headers
 * @returns {number | null}
 */
function reportedRequestHead(headers) {
  const value = headers.get("X-Request-Head-Bytes");
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/** @param {string} body */
function errorText(body) {
  try {
    return JSON.parse(body).error ?? body;
  } catch {
    return body;
  }
}

/**
 * The response side of a request's wire cost.
 * @param {{headerBytes: number | null}} result
 * @param {number} payload
 * @param {Array<import("../framing.js").WirePart>} [extra]
 * @returns {import("../framing.js").WireCost}
 */
function responseCost(result, payload, extra = []) {
  return {
    payload,
    parts: [
      {
        what: "status line + response headers",
        bytes: result.headerBytes,
        source: result.headerBytes === null ? "not visible" : "computed",
      },
      ...extra,
    ],
  };
}

/**
 * The request head as a wire part: "not visible" until a response reports its size.
 * @returns {import("../framing.js").WirePart}
 */
export function requestHeadPart() {
  return { what: "request line + headers", bytes: null, source: "not visible" };
}

/**
 * Fill a request-head part from a response's `X-Request-Head-Bytes`, in place (the cost may
 * already be logged; the figures and the compare run read it afterwards). Left "not visible"
 * when the server did not report it.
 * @param {import("../framing.js").WirePart} part
 * @param {{requestHeadBytes: number | null}} result
 */
export function fillRequestHead(part, result) {
  if (result.requestHeadBytes === null) return;
  part.bytes = result.requestHeadBytes;
  part.source = "server";
}

/**
 * Room POSTs are rate limited per client address (server settings `room_rate`/`room_burst`).
 * The page keeps the same token bucket so it waits instead of provoking 429s; a 429 that
 * happens anyway (another tab, another client) is honoured through its Retry-After.
 *
 * Our bucket holds one token less than the server's. The server refills by the time each
 * request reaches it, we by the time we send it, and the two differ by a delay that varies
 * from request to request: a bucket paced to the exact limit then gets a 429 whenever a
 * request travels faster than the one before it. The spare token (1/rate seconds) absorbs that.
 */
const roomBucket = { rate: 0, burst: 1, tokens: 1, updated: 0 };

/**
 * Use the server's room rate limit for pacing (from `/api/config`); rate 0 = unlimited.
 * @param {number} rate messages per second
 * @param {number} burst
 */
export function configureRoomRate(rate, burst) {
  const ours = Math.max(1, burst - 1);
  Object.assign(roomBucket, { rate, burst: ours, tokens: ours, updated: performance.now() });
}

/** Wait for a token; resolves with the milliseconds waited. */
async function takeRoomToken() {
  if (!roomBucket.rate) return 0;
  const now = performance.now();
  roomBucket.tokens = Math.min(
    roomBucket.burst,
    roomBucket.tokens + ((now - roomBucket.updated) / 1000) * roomBucket.rate,
  );
  roomBucket.updated = now;
  roomBucket.tokens -= 1;
  if (roomBucket.tokens >= 0) return 0;
  // Rounded up, plus a millisecond: setTimeout truncates its delay to whole milliseconds, so
  // an exact wait could fire a hair before the server's bucket holds a token again (429).
  const waitMs = Math.ceil((-roomBucket.tokens / roomBucket.rate) * 1000) + 1;
  await sleep(waitMs);
  return waitMs;
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Publish `{user, text}` to a room with `POST /http/room/{room}?via=…`.
 * Resolves with the stored message, the request's timing and sizes, and how long the page
 * waited for the rate limit. Throws `HttpError` or the browser's TypeError.
 * @param {string} room
 * @param {string} body the JSON text {"user", "text"}
 * @param {"http" | "sse"} via
 */
export async function postRoom(room, body, via) {
  let waitedMs = await takeRoomToken();
  let rateLimited = 0;
  for (;;) {
    const url = httpUrl(`/http/room/${roomPath(room)}`, { via });
    const result = await request(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    if (result.status !== 429 || rateLimited >= 5) {
      if (result.status === 429) throw new HttpError(429, errorText(result.text));
      return { ...result, message: JSON.parse(result.text), waitedMs, rateLimited };
    }
    rateLimited += 1;
    const waitMs = (result.retryAfterS ?? 1) * 1000;
    await sleep(waitMs);
    waitedMs += waitMs;
  }
}

/**
 * @typedef {object} HttpStatus
 * @property {"ready" | "busy" | "failed" | "closed"} state "closed" once the page stopped it
 * @property {string} detail
 * @property {number} requests requests sent so far
 * @property {number} failures requests that failed (no response or an error status)
 * @property {number} newConnections requests that opened a TCP connection (Resource Timing)
 */

const STALLED_AFTER_MS = 3000;
const STALLED =
  "waiting for 3 s or more: the browser is probably holding the request back. Over HTTP/1.1 it " +
  "opens at most six connections to a host, and streams in other tabs of this page can hold " +
  "them all; close some tabs (lab 06, step 4)";

/** Bookkeeping shared by the HTTP transports: counts and the status they report. */
function requestLog(onStatus) {
  const counts = { requests: 0, failures: 0, newConnections: 0, inFlight: 0 };
  let closed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let slow;
  // After close(), a request still finishing must not turn the badge back to "ready".
  const report = (state, detail) => closed || onStatus({ state, detail, ...counts });
  const settled = () => {
    counts.inFlight -= 1;
    if (counts.inFlight === 0) clearTimeout(slow);
  };
  return {
    counts,
    report,
    /** @param {string} detail */
    close(detail) {
      report("closed", detail);
      closed = true;
    },
    started() {
      counts.requests += 1;
      counts.inFlight += 1;
      report("busy", `${counts.inFlight} request(s) in flight`);
      // The echo answers in milliseconds; seconds of silence are almost always the browser
      // holding the request back, not the server being slow.
      clearTimeout(slow);
      slow = setTimeout(() => report("busy", STALLED), STALLED_AFTER_MS);
    },
    /** @param {{status: number, newConnection: boolean, finishedAt: number, startedAt: number}} result */
    succeeded(result) {
      settled();
      if (result.newConnection) counts.newConnections += 1;
      const ms = (result.finishedAt - result.startedAt).toFixed(1);
      report(counts.inFlight ? "busy" : "ready", `last request: ${result.status} in ${ms} ms`);
    },
    /** @param {unknown} error */
    failed(error) {
      settled();
      counts.failures += 1;
      report("failed", `last request failed: ${describeError(error)}`);
    },
  };
}

/**
 * A short description of a failed request.
 * @param {unknown} error
 * @returns {string}
 */
export function describeError(error) {
  if (error instanceof HttpError) return error.message;
  if (error instanceof TypeError) return `no response (${error.message}): is the server running?`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Wait until `GET /healthz` answers 200, asking every half second.
 * @param {AbortSignal} signal gives up when aborted
 * @param {number} [timeoutMs]
 * @returns {Promise<boolean>} true once the server answers, false on timeout or abort
 */
export async function waitForServer(signal, timeoutMs = 30_000) {
  const deadline = performance.now() + timeoutMs;
  while (!signal.aborted && performance.now() < deadline) {
    try {
      const response = await fetch(httpUrl("/healthz"), { cache: "no-store", signal });
      if (response.ok) return true;
    } catch {
      // Not back yet (or aborted): ask again.
    }
    await sleep(500);
  }
  return false;
}

/**
 * The HTTP echo: every `send` is one `POST /http/echo` whose body comes back verbatim.
 * @param {{onMessage: (m: object) => void, onStatus: (s: HttpStatus) => void}} options
 * @returns {{send: (text: string, kind?: string) => Promise<import("./ws.js").RoundTrip>, close: () => void}}
 */
export function openEcho({ onMessage, onStatus }) {
  const log = requestLog(onStatus);
  const controller = new AbortController();
  log.report("ready", "no connection to open: each request stands alone");

  return {
    async send(text, kind = "message") {
      const head = requestHeadPart();
      const out = { payload: utf8Length(text), parts: [head] };
      onMessage({ dir: "out", kind, text, cost: out, note: "POST /http/echo" });
      log.started();
      let result;
      try {
        result = await request(uniqueUrl("/http/echo"), {
          method: "POST",
          headers: { "Content-Type": "text/plain;charset=utf-8" },
          body: text,
          signal: controller.signal,
        });
      } catch (error) {
        log.failed(error);
        onMessage({ dir: "error", kind, text: describeError(error) });
        throw error;
      }
      log.succeeded(result);
      fillRequestHead(head, result);
      const rttMs = result.finishedAt - result.startedAt;
      const cost = responseCost(result, result.bodyBytes);
      onMessage({ dir: "in", kind, text: result.text, cost, rttMs, status: result.status });
      return { rttMs, text: result.text, out, in: cost, waitedMs: 0, newConnection: result.newConnection };
    },
    close() {
      controller.abort();
    },
  };
}

/**
 * Poll `/http/tick` every `everyMs` ms (fixed rate). A response with the same tick as the
 * last one carried no news: that request is the price of polling.
 * @param {{interval: number, size: number, everyMs: number, onMessage: (m: object) => void, onStatus: (s: HttpStatus) => void}} options
 * @returns {{close: () => void}}
 */
export function openPoll({ interval, size, everyMs, onMessage, onStatus }) {
  const log = requestLog(onStatus);
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let lastSeq = null;
  const startedAt = performance.now();
  let polls = 0;

  async function poll() {
    polls += 1;
    log.started();
    try {
      const result = await request(uniqueUrl("/http/tick", { interval, size }));
      log.succeeded(result);
      if (!stopped) report(result);
    } catch (error) {
      log.failed(error);
      if (!stopped) onMessage({ dir: "error", kind: "poll", text: describeError(error) });
    }
    // Fixed rate from the start: a slow response does not push later polls back.
    if (!stopped) timer = setTimeout(poll, Math.max(0, startedAt + polls * everyMs - performance.now()));
  }

  function report(result) {
    const tick = JSON.parse(result.text);
    const receivedAt = Date.now();
    const cost = responseCost(result, result.bodyBytes);
    if (tick.seq === lastSeq) {
      onMessage({ dir: "in", kind: "empty", tick, cost });
      return;
    }
    const missed = lastSeq === null ? 0 : Math.max(0, tick.seq - lastSeq - 1);
    lastSeq = tick.seq;
    onMessage({ dir: "in", kind: "tick", tick, delayMs: receivedAt - tick.ts, missed, cost });
  }

  poll();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      log.close("stopped by the page");
    },
  };
}

/**
 * Long-poll `/http/tick`: ask for the tick after the last one seen and let the server hold
 * the request until it happens (or `waitS` passes). Failed requests are retried with backoff.
 * @param {{interval: number, size: number, waitS: number, onMessage: (m: object) => void, onStatus: (s: HttpStatus) => void, backoff?: Backoff}} options
 * @returns {{close: () => void}}
 */
export function openLongPoll({ interval, size, waitS, onMessage, onStatus, backoff = new Backoff() }) {
  const log = requestLog(onStatus);
  const controller = new AbortController();
  let stopped = false;
  let lastSeq = null;

  async function loop() {
    while (!stopped) {
      const params = lastSeq === null ? { interval, size } : { interval, size, after: lastSeq, wait: waitS };
      log.started();
      try {
        const result = await request(uniqueUrl("/http/tick", params), { signal: controller.signal });
        log.succeeded(result);
        backoff.reset();
        const tick = JSON.parse(result.text);
        const cost = responseCost(result, result.bodyBytes);
        if (tick.seq === lastSeq) onMessage({ dir: "in", kind: "empty", tick, cost });
        else {
          const missed = lastSeq === null ? 0 : Math.max(0, tick.seq - lastSeq - 1);
          lastSeq = tick.seq;
          onMessage({ dir: "in", kind: "tick", tick, delayMs: Date.now() - tick.ts, missed, cost });
        }
      } catch (error) {
        if (stopped) return;
        log.failed(error);
        const { delayMs } = backoff.next();
        onMessage({ dir: "error", kind: "poll", text: `${describeError(error)}; retry in ${(delayMs / 1000).toFixed(1)} s` });
        await sleep(delayMs);
      }
    }
  }

  loop();
  return {
    close() {
      stopped = true;
      controller.abort();
      log.close("stopped by the page");
    },
  };
}

/**
 * Join a room as an HTTP participant: read with `GET /http/room/{room}?since=` (polling every
 * `everyMs`, or long-polling with `wait` when `longPoll`), write with `POST ?via=http`.
 * `resetCursor()` starts reading from id 0 again (after a server restart ids start over).
 * @param {{room: string, user: string, longPoll: boolean, everyMs: number, onMessage: (m: object) => void, onStatus: (s: HttpStatus) => void}} options
 * @returns {{send: (text: string) => Promise<void>, close: () => void, resetCursor: () => void}}
 */
export function openRoom({ room, user, longPoll, everyMs, onMessage, onStatus }) {
  const log = requestLog(onStatus);
  const controller = new AbortController();
  const backoff = new Backoff();
  let stopped = false;
  let since = 0;

  async function loop() {
    while (!stopped) {
      const params = longPoll ? { since, wait: 25 } : { since };
      log.started();
      try {
        const result = await request(uniqueUrl(`/http/room/${roomPath(room)}`, params), {
          signal: controller.signal,
        });
        log.succeeded(result);
        backoff.reset();
        for (const message of JSON.parse(result.text)) {
          since = message.epoch ? `${message.epoch}-${message.id}` : message.id; // the room cursor
          onMessage({ dir: "in", kind: "room", message });
        }
        if (!longPoll) await sleep(everyMs);
      } catch (error) {
        if (stopped) return;
        log.failed(error);
        onMessage({ dir: "error", kind: "poll", text: describeError(error) });
        await sleep(longPoll ? backoff.next().delayMs : everyMs);
      }
    }
  }

  loop();
  return {
    async send(text) {
      const body = JSON.stringify({ user, text });
      onMessage({ dir: "out", kind: "room", text, note: "POST ?via=http" });
      try {
        await postRoom(room, body, "http");
      } catch (error) {
        onMessage({ dir: "error", kind: "room", text: describeError(error) });
        throw error;
      }
    },
    close() {
      stopped = true;
      controller.abort();
      log.close("left the room");
    },
    resetCursor() {
      since = 0;
    },
  };
}
