/**
 * WebSocket transports: the echo (`/ws/echo`), the tick stream (`/ws/stream`) and a room
 * participant (`/ws/room/{room}`). Each `open…` returns `{send, close}` (streams: `{close}`)
 * and reports through `onMessage` and `onStatus`; none of them touches the DOM.
 *
 * Reconnection is OUR code (the browser never reconnects a WebSocket): capped exponential
 * backoff with full jitter, reset once a connection opens. We stop only when the page closes
 * the socket or the server ends it normally (1000), e.g. a finite stream that is complete.
 */

import { Backoff } from "../backoff.js";
import { utf8Length, wsHeaderBytes } from "../framing.js";
import { roomPath, wsUrl } from "../urls.js";
import { describeNotice } from "./notices.js";

/** Close codes a student meets here (RFC 6455 §7.4.1, plus the IANA registry). */
export const CLOSE_CODES = Object.freeze({
  1000: "normal closure",
  1001: "going away (server shutting down or page leaving)",
  1002: "protocol error",
  1003: "unsupported data",
  1005: "no status code in the close frame",
  1006: "abnormal closure: no close frame, the connection just dropped",
  1007: "invalid payload data (e.g. bad UTF-8)",
  1008: "policy violation (e.g. too slow for the room)",
  1009: "message too big",
  1010: "mandatory extension missing",
  1011: "internal server error",
  1012: "service restart",
  1013: "try again later (server full)",
  1015: "TLS handshake failure",
});

/**
 * A close code with its meaning, e.g. "1006 abnormal closure: …".
 * @param {number} code
 * @returns {string}
 */
export function describeClose(code) {
  const meaning = CLOSE_CODES[/** @type {keyof typeof CLOSE_CODES} */ (code)];
  if (meaning) return `${code} ${meaning}`;
  return code >= 4000 ? `${code} (application-defined)` : `${code}`;
}

/**
 * What one message costs on the wire, computed from RFC 6455 framing.
 * @param {string} text
 * @param {boolean} masked true for frames the browser sends
 * @returns {import("../framing.js").WireCost}
 */
export function frameCost(text, masked) {
  const payload = utf8Length(text);
  const what = masked ? "frame header incl. 4-byte mask" : "frame header";
  return { payload, parts: [{ what, bytes: wsHeaderBytes(payload, { masked }), source: "computed" }] };
}

/**
 * @typedef {object} SocketStatus
 * @property {"connecting" | "open" | "reconnecting" | "closed"} state
 * @property {string} detail one human sentence
 * @property {number} opened connections opened so far by this transport
 * @property {{code: number, reason: string, wasClean: boolean, meaning: string}} [close]
 * @property {{delayMs: number, ceilingMs: number, attempt: number, capMs: number}} [retry]
 * @property {string} [extensions] negotiated extensions, e.g. "permessage-deflate"
 */

/**
 * One WebSocket kept open with backoff. `url` is a function so a resume cursor can change.
 * @param {{url: () => string, onText: (text: string, arrivedAt: number) => void, onStatus: (s: SocketStatus) => void, backoff: Backoff}} options
 */
function keepOpen({ url, onText, onStatus, backoff }) {
  /** @type {WebSocket | null} */
  let socket = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let stopped = false;
  let opened = 0;

  function connect(reconnecting) {
    const current = new WebSocket(url());
    socket = current;
    onStatus({
      state: reconnecting ? "reconnecting" : "connecting",
      detail: reconnecting
        ? `attempt ${backoff.attempt}: opening handshake in progress`
        : "opening handshake in progress",
      opened,
    });
    current.addEventListener("open", () => {
      if (stopped) {
        // Closing a socket that is still connecting makes the browser log an error,
        // so a Disconnect during the handshake waits for it to finish.
        current.close(1000, "closed by the page");
        return;
      }
      backoff.reset();
      opened += 1;
      onStatus({ state: "open", detail: `connection #${opened} open`, opened, extensions: current.extensions });
    });
    current.addEventListener("message", (event) => {
      // event.timeStamp: when the message reached the page, before it waited in the task
      // queue behind the page's own work (performance.now() clock).
      if (typeof event.data === "string") onText(event.data, event.timeStamp);
    });
    current.addEventListener("close", (event) => {
      const close = {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        meaning: describeClose(event.code),
      };
      if (stopped || event.code === 1000) {
        const by = stopped ? "closed by the page" : "closed by the server";
        const reason = close.reason ? ` “${close.reason}”` : "";
        onStatus({ state: "closed", detail: `${by}: ${close.meaning}${reason}`, opened, close });
        return;
      }
      const { delayMs, ceilingMs, attempt } = backoff.next();
      const retry = { delayMs, ceilingMs, attempt, capMs: backoff.capMs };
      onStatus({
        state: "reconnecting",
        detail: `attempt ${attempt} in ${(delayMs / 1000).toFixed(2)} s`,
        opened,
        close,
        retry,
      });
      timer = setTimeout(() => connect(true), delayMs);
    });
  }

  connect(false);
  return {
    /** @param {string} text */
    sendText(text) {
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        throw new Error("the WebSocket is not open");
      }
      socket.send(text);
    },
    /** Close for good: no more reconnects. */
    close() {
      stopped = true;
      clearTimeout(timer);
      if (socket?.readyState === WebSocket.OPEN) socket.close(1000, "closed by the page");
      else if (socket?.readyState !== WebSocket.CONNECTING) {
        onStatus({ state: "closed", detail: "closed by the page", opened });
      }
    },
  };
}

/**
 * A round trip: what was sent, how long until it came back, and both wire costs.
 * @typedef {{rttMs: number, text: string, out: import("../framing.js").WireCost, in: import("../framing.js").WireCost, reply?: import("../framing.js").WireCost, waitedMs: number}} RoundTrip
 */

/**
 * Open the echo. `send(text)` resolves with the round trip once the echo is back.
 * The echo server answers messages in order, so echoes are matched first-in first-out.
 * @param {{onMessage: (m: object) => void, onStatus: (s: SocketStatus) => void, backoff?: Backoff, timeoutMs?: number}} options
 * @returns {{send: (text: string, kind?: string) => Promise<RoundTrip>, close: () => void}}
 */
export function openEcho({ onMessage, onStatus, backoff = new Backoff(), timeoutMs = 10_000 }) {
  /** @type {Array<{sentAt: number, kind: string, out: object, settled: boolean, resolve: Function, reject: Function, timer: any}>} */
  let pending = [];

  function failPending(reason) {
    for (const item of pending) settle(item, null, new Error(reason));
    pending = [];
  }

  function settle(item, value, error) {
    if (item.settled) return;
    item.settled = true;
    clearTimeout(item.timer);
    if (error) item.reject(error);
    else item.resolve(value);
  }

  const socket = keepOpen({
    url: () => wsUrl("/ws/echo"),
    backoff,
    onStatus(status) {
      // Echoes of a closed connection never come: fail those sends now, saying why.
      if (status.close) failPending(`connection closed: ${status.close.meaning}`);
      onStatus(status);
    },
    onText(text, arrivedAt) {
      const receivedAt = arrivedAt;
      const item = pending.shift();
      const cost = frameCost(text, false);
      const late = item?.settled ?? false;
      const rttMs = item ? receivedAt - item.sentAt : undefined;
      onMessage({ dir: "in", kind: item?.kind ?? "unexpected", text, cost, rttMs, late });
      if (item) settle(item, { rttMs, text, out: item.out, in: cost, waitedMs: 0 });
    },
  });

  return {
    send(text, kind = "message") {
      return new Promise((resolve, reject) => {
        const out = frameCost(text, true);
        const sentAt = performance.now();
        try {
          socket.sendText(text);
        } catch (error) {
          reject(error);
          return;
        }
        const item = { sentAt, kind, out, settled: false, resolve, reject, timer: undefined };
        // A timed-out item stays queued: its echo may still come and must not be taken
        // for the echo of the next message.
        item.timer = setTimeout(
          () => settle(item, null, new Error(`no echo within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
        pending.push(item);
        onMessage({ dir: "out", kind, text, cost: out });
      });
    },
    close() {
      socket.close();
      failPending("closed by the page");
    },
  };
}

/**
 * Subscribe to `/ws/stream`. After a drop we reconnect with `after=<last seq>`: WebSocket has
 * no Last-Event-ID, so resuming is the client's job. Ends for good on close 1000.
 * @param {{interval: number, size: number, count: number, onMessage: (m: object) => void, onStatus: (s: SocketStatus) => void, backoff?: Backoff}} options
 * @returns {{close: () => void}}
 */
export function openStream({ interval, size, count, onMessage, onStatus, backoff = new Backoff() }) {
  let lastSeq = 0;
  /** @type {number | null} the last seq before a drop, until the first tick after it */
  let resumeAfter = null;
  const socket = keepOpen({
    url: () => wsUrl("/ws/stream", { interval, size, count, after: lastSeq }),
    backoff,
    onStatus(status) {
      if (status.state === "reconnecting" && lastSeq > 0) resumeAfter = lastSeq;
      onStatus(status);
    },
    onText(text) {
      const tick = JSON.parse(text);
      const resumed = resumeAfter;
      resumeAfter = null;
      lastSeq = tick.seq;
      onMessage({ dir: "in", kind: "tick", text, tick, cost: frameCost(text, false), resumed });
    },
  });
  return { close: () => socket.close() };
}

/**
 * Join a room over one WebSocket. Messages we send come back like everyone else's.
 * On reconnect we ask for `after=<last id>` so the gap is replayed from history.
 * @param {{room: string, user: string, onMessage: (m: object) => void, onStatus: (s: SocketStatus) => void, backoff?: Backoff}} options
 * @returns {{send: (text: string) => Promise<void>, close: () => void}}
 */
export function openRoom({ room, user, onMessage, onStatus, backoff = new Backoff() }) {
  let lastId = 0;
  const socket = keepOpen({
    url: () => wsUrl(`/ws/room/${roomPath(room)}`, { after: lastId }),
    backoff,
    onStatus,
    onText(text) {
      const data = JSON.parse(text);
      const cost = frameCost(text, false);
      if (data.error !== undefined) onMessage({ dir: "in", kind: "error", text: data.error, cost });
      else if (data.gap !== undefined) onMessage({ dir: "in", kind: "gap", lost: data.gap.lost, cost });
      else if (data.id === undefined) onMessage({ dir: "in", kind: "notice", text: describeNotice(data), cost });
      else {
        lastId = `${data.epoch}-${data.id}`; // the room cursor: a restart's new epoch is told, not skipped
        onMessage({ dir: "in", kind: "room", message: data, cost });
      }
    },
  });
  return {
    async send(text) {
      const frame = JSON.stringify({ user, text });
      socket.sendText(frame);
      onMessage({ dir: "out", kind: "room", text, cost: frameCost(frame, true) });
    },
    close: () => socket.close(),
  };
}
