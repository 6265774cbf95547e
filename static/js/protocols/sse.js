/**
 * Server-Sent Events transports: the tick stream (`/sse/stream`), the echo (POST into a
 * private room, receive it on that room's stream) and a room participant (`/sse/room/{room}`).
 *
 * An event stream only flows from server to browser, so everything the page SENDS goes out as
 * an HTTP POST (`/http/room/{room}?via=sse`). Reconnection is the BROWSER's: EventSource
 * retries by itself after the server's `retry:` delay and sends `Last-Event-ID`; our code only
 * reports what it sees. It gives up for good (readyState CLOSED) when a reconnection is answered
 * with anything but a 200 event stream: a 204 at the end of a finite stream, or an error status.
 */

import { chunkBytes, sseEventBytes, utf8Length } from "../framing.js";
import { describeError, fillRequestHead, postRoom, requestHeadPart } from "./http.js";
import { httpUrl, roomPath } from "../urls.js";
import { describeNotice } from "./notices.js";

export const READY_STATES = Object.freeze(["0 CONNECTING", "1 OPEN", "2 CLOSED"]);

/**
 * @typedef {object} StreamStatus
 * @property {"connecting" | "open" | "reconnecting" | "closed"} state
 * @property {string} detail
 * @property {number} readyState EventSource.readyState
 * @property {string} lastEventId the id of the last event received ("" before any)
 * @property {number} opened responses with an event stream received so far
 */

/**
 * The wire cost of one event as the server writes it: data, event fields, chunk framing.
 * `payload` is the part of the data that the user's text takes (the JSON around it counts as
 * overhead); pass the text, or omit it to count the whole data as payload.
 * @param {MessageEvent} event
 * @param {string} [text]
 * @returns {import("../framing.js").WireCost}
 */
export function eventCost(event, text) {
  const bytes = sseEventBytes({ id: event.lastEventId, event: event.type, data: event.data });
  const payload = text === undefined ? bytes.data : utf8Length(text);
  const parts = [
    { what: "id/event/data field names + CRLFs", bytes: bytes.fields, source: "computed" },
    { what: "chunked-encoding framing", bytes: chunkBytes(bytes.total), source: "computed" },
  ];
  if (text !== undefined) {
    parts.unshift({ what: "JSON envelope of the message", bytes: bytes.data - payload, source: "computed" });
  }
  return { payload, parts };
}

/**
 * Open an EventSource and report its state truthfully from `readyState`.
 * @param {string} url
 * @param {{onStatus: (s: StreamStatus) => void, retryMs: number | null}} options
 */
function watch(url, { onStatus, retryMs }) {
  const source = new EventSource(url);
  let lastEventId = "";
  let opened = 0;
  let stopped = false;
  const report = (state, detail) =>
    onStatus({ state, detail, readyState: source.readyState, lastEventId, opened });

  report("connecting", "request sent, waiting for the event stream");
  source.addEventListener("open", () => {
    opened += 1;
    report("open", opened > 1 ? `reconnected by the browser (stream #${opened})` : "event stream open");
  });
  source.addEventListener("error", () => {
    if (stopped) return;
    if (source.readyState === EventSource.CONNECTING) {
      const every = retryMs === null ? "after the server's retry: delay" : `every ${retryMs} ms (the server's retry: field)`;
      const resume = lastEventId ? `with Last-Event-ID: ${lastEventId}` : "without Last-Event-ID (no event yet)";
      report("reconnecting", `the browser reconnects by itself ${every}, ${resume}`);
    } else {
      report(
        "closed",
        "the server answered the reconnection with no event stream (204 at the end of a " +
          "finite stream, or an error status): EventSource stops for good",
      );
    }
  });
  return {
    source,
    /** @param {MessageEvent} event */
    seen(event) {
      if (event.lastEventId) lastEventId = event.lastEventId;
    },
    get lastEventId() {
      return lastEventId;
    },
    report,
    close() {
      stopped = true;
      source.close();
      report("closed", "closed by the page (EventSource.close(): no more reconnects)");
    },
  };
}

/**
 * Subscribe to `/sse/stream`. Resuming after a drop is automatic (Last-Event-ID); `resumed`
 * on a message is the id the browser resumed after, when the stream was interrupted.
 * @param {{interval: number, size: number, count: number, retryMs: number | null, onMessage: (m: object) => void, onStatus: (s: StreamStatus) => void}} options
 * @returns {{close: () => void}}
 */
export function openStream({ interval, size, count, retryMs, onMessage, onStatus }) {
  let resumeAfter = null;
  const stream = watch(httpUrl("/sse/stream", { interval, size, count }), {
    retryMs,
    onStatus(status) {
      if (status.state === "reconnecting" && status.lastEventId) resumeAfter = status.lastEventId;
      onStatus(status);
    },
  });
  stream.source.addEventListener("tick", (event) => {
    stream.seen(event);
    const tick = JSON.parse(event.data);
    const resumed = resumeAfter;
    resumeAfter = null;
    onMessage({ dir: "in", kind: "tick", text: event.data, tick, cost: eventCost(event), resumed, lastEventId: event.lastEventId });
  });
  return { close: () => stream.close() };
}

/**
 * Join a room over an event stream; `send` POSTs with `?via=sse`. A fresh stream starts with
 * `?after=0`, so the room's history is replayed first; reconnects use Last-Event-ID.
 * @param {{room: string, user: string, retryMs: number | null, onMessage: (m: object) => void, onStatus: (s: StreamStatus) => void}} options
 * @returns {{send: (text: string) => Promise<void>, close: () => void}}
 */
export function openRoom({ room, user, retryMs, onMessage, onStatus }) {
  const stream = watch(httpUrl(`/sse/room/${roomPath(room)}`, { after: 0 }), { retryMs, onStatus });
  listenToRoom(stream, onMessage);
  return {
    async send(text) {
      const body = JSON.stringify({ user, text });
      onMessage({ dir: "out", kind: "room", text, note: "POST ?via=sse" });
      try {
        await postRoom(room, body, "sse");
      } catch (error) {
        onMessage({ dir: "error", kind: "room", text: describeError(error) });
        throw error;
      }
    },
    close: () => stream.close(),
  };
}

/**
 * Room events: `message`, and the notices `gap` (history lost some), `dropped`, `reset` (the
 * room began a new epoch) and `broker` (the shared broker went down or came back).
 * @param {ReturnType<typeof watch>} stream
 * @param {(m: object) => void} onMessage
 * @param {(message: object, event: MessageEvent, at: number) => void} [onRoomMessage]
 */
function listenToRoom(stream, onMessage, onRoomMessage) {
  const { source } = stream;
  source.addEventListener("message", (event) => {
    const at = performance.now();
    stream.seen(event);
    const message = JSON.parse(event.data);
    if (onRoomMessage) onRoomMessage(message, event, at);
    else onMessage({ dir: "in", kind: "room", message, cost: eventCost(event, message.text), lastEventId: event.lastEventId });
  });
  source.addEventListener("gap", (event) => {
    onMessage({ dir: "in", kind: "gap", lost: JSON.parse(event.data).lost });
  });
  source.addEventListener("dropped", (event) => {
    onMessage({ dir: "in", kind: "dropped", text: JSON.parse(event.data).reason });
  });
  for (const kind of ["reset", "broker"]) {
    source.addEventListener(kind, (event) => {
      onMessage({ dir: "in", kind: "notice", text: describeNotice({ [kind]: JSON.parse(event.data) }) });
    });
  }
}

/**
 * The SSE "echo": POST a message into a private room and time it until it arrives on the
 * room's event stream. Matched by message id, which the POST's 201 response carries (the
 * event may arrive before that response does).
 * @param {{room: string, user: string, retryMs: number | null, onMessage: (m: object) => void, onStatus: (s: StreamStatus) => void, timeoutMs?: number}} options
 * @returns {{send: (text: string, kind?: string) => Promise<import("./ws.js").RoundTrip>, close: () => void}}
 */
export function openEcho({ room, user, retryMs, onMessage, onStatus, timeoutMs = 10_000 }) {
  /** @type {Map<number, {at: number, event: MessageEvent, message: object}>} events not yet claimed */
  const arrived = new Map();
  /** @type {Map<number, (arrival: {at: number, event: MessageEvent, message: object}) => void>} */
  const waiting = new Map();
  /** @type {Array<{text: string, kind: string}>} our sends whose event has not arrived yet */
  const outstanding = [];

  const stream = watch(httpUrl(`/sse/room/${roomPath(room)}`), { retryMs, onStatus });
  listenToRoom(stream, onMessage, (message, event, at) => {
    // The event can arrive before the POST's response: recognise our sends by their text.
    const index = message.user === user ? outstanding.findIndex((item) => item.text === message.text) : -1;
    const kind = index >= 0 ? outstanding.splice(index, 1)[0].kind : "other sender";
    onMessage({ dir: "in", kind, text: message.text, cost: eventCost(event, message.text), lastEventId: event.lastEventId });
    const claim = waiting.get(message.id);
    if (claim) {
      waiting.delete(message.id);
      claim({ at, event, message });
    } else {
      arrived.set(message.id, { at, event, message });
      // Bounded: events nobody claims (another tab's) must not pile up.
      if (arrived.size > 200) arrived.delete(arrived.keys().next().value);
    }
  });

  function arrival(id) {
    const early = arrived.get(id);
    if (early) {
      arrived.delete(id);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`message #${id} was stored but did not arrive on the stream within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      waiting.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }

  return {
    async send(text, kind = "message") {
      const body = JSON.stringify({ user, text });
      const head = requestHeadPart();
      const out = {
        payload: utf8Length(text),
        parts: [
          { what: "JSON envelope {user, text}", bytes: utf8Length(body) - utf8Length(text), source: "computed" },
          head,
        ],
      };
      onMessage({ dir: "out", kind, text, cost: out, note: "POST ?via=sse (an event stream cannot carry data to the server)" });
      let posted;
      const item = { text, kind };
      outstanding.push(item);
      if (outstanding.length > 500) outstanding.shift();
      try {
        posted = await postRoom(room, body, "sse");
      } catch (error) {
        const at = outstanding.indexOf(item);
        if (at >= 0) outstanding.splice(at, 1);
        onMessage({ dir: "error", kind, text: describeError(error) });
        throw error;
      }
      fillRequestHead(head, posted);
      const got = await arrival(posted.message.id);
      // What came back is two things, kept apart so that each figure has one definition:
      // the event on the stream (`in`, the same size the log shows), and the POST's response
      // (`reply`): its head is overhead of sending this way; its body is the stored message,
      // this API's answer, not a cost of SSE, so it counts as the reply's payload.
      const cost = eventCost(got.event, text);
      const reply = {
        payload: posted.bodyBytes,
        parts: [{ what: "POST response: status line + headers", bytes: posted.headerBytes, source: posted.headerBytes === null ? "not visible" : "computed" }],
      };
      return { rttMs: got.at - posted.startedAt, text, out, in: cost, reply, waitedMs: posted.waitedMs };
    },
    close: () => stream.close(),
  };
}
