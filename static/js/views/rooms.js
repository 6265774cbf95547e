/**
 * The rooms view: one participant per protocol in the same chat room, each showing every
 * message it received with the protocol that published it.
 */

import { Backoff } from "../backoff.js";
import { byId, clockTime, el } from "../dom.js";
import { WS_BACKOFF, pageId } from "../page.js";
import * as http from "../protocols/http.js";
import * as sse from "../protocols/sse.js";
import * as ws from "../protocols/ws.js";
import { getConfig, onConfig, onRestart } from "../server-status.js";
import { appendFollowing, setText, showStatus } from "../ui.js";
import { httpUrl } from "../urls.js";

/** Wire the rooms view: join/leave per participant and for all, sending, the room's figures. */
export function setupRooms() {
  const form = /** @type {HTMLFormElement} */ (byId("room-form"));
  const roomInput = /** @type {HTMLInputElement} */ (byId("room-name"));
  const userInput = /** @type {HTMLInputElement} */ (byId("room-user"));
  const mode = /** @type {HTMLSelectElement} */ (byId("room-http-mode"));
  const link = /** @type {HTMLAnchorElement} */ (byId("room-link"));
  const info = byId("room-info");

  const query = new URLSearchParams(location.search);
  if (query.get("room")) roomInput.value = query.get("room") ?? "lobby";
  userInput.value = query.get("user") ?? `student-${pageId.slice(0, 4)}`;
  const updateLink = () => {
    link.href = `?room=${encodeURIComponent(roomInput.value)}#rooms`;
  };
  roomInput.addEventListener("input", updateLink);
  updateLink();

  const participants = {
    ws: makeParticipant("room-ws", (h, room, user) => ws.openRoom({ ...h, room, user, backoff: new Backoff(WS_BACKOFF) })),
    sse: makeParticipant("room-sse", (h, room, user) => sse.openRoom({ ...h, room, user, retryMs: getConfig()?.sse_retry ?? null })),
    http: makeParticipant("room-http", (h, room, user) =>
      http.openRoom({ ...h, room, user, longPoll: mode.value === "long", everyMs: 1000 })),
  };

  function makeParticipant(id, open) {
    const root = byId(id);
    const part = (role) => /** @type {HTMLElement} */ (root.querySelector(`[data-role="${role}"]`));
    const ui = { state: part("state"), detail: part("detail"), list: part("messages"), form: /** @type {HTMLFormElement} */ (part("form")) };
    const input = /** @type {HTMLInputElement} */ (ui.form.querySelector("input"));
    let conn = /** @type {{send: (text: string) => Promise<void>, close: () => void, resetCursor?: () => void} | null} */ (null);
    let state = "closed";

    const handlers = {
      onMessage(message) {
        if (message.kind === "room" && message.dir === "in") addMessage(ui.list, message.message);
        else if (message.dir === "error") addNotice(ui.list, message.text, "error");
        else if (message.kind === "gap") addNotice(ui.list, `${message.lost} older message(s) are no longer in the room's history`);
        else if (message.kind === "dropped") addNotice(ui.list, `the server dropped this subscriber: ${message.text}`, "error");
        else if (message.kind === "notice") addNotice(ui.list, message.text);
      },
      onStatus(status) {
          // A final close is told by the state line itself.
        if (status.close && status.state !== "closed") {
          const reason = status.close.reason ? ` “${status.close.reason}”` : "";
          addNotice(ui.list, `closed ${status.close.meaning}${reason}`);
        }
        state = status.state;
        showStatus(ui, status);
      },
    };
    function join() {
      if (!form.reportValidity()) return;
      conn?.close();
      ui.list.replaceChildren();
      conn = open(handlers, roomInput.value, userInput.value);
    }
    function leave() {
      conn?.close();
      conn = null;
    }
    part("join").addEventListener("click", join);
    part("leave").addEventListener("click", leave);
    ui.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!conn || state === "closed") {
        addNotice(ui.list, "join the room first", "error");
        return;
      }
      try {
        await conn.send(input.value);
        // reset(), not value = "": it also forgets that the field was edited, so the empty
        // required field is not painted invalid (:user-invalid) after a successful send.
        ui.form.reset();
      } catch (error) {
        // Failed POSTs are reported by the transport itself; anything else (a socket that
        // is not open) is said here.
        if (!(error instanceof http.HttpError) && !(error instanceof TypeError)) {
          addNotice(ui.list, `not sent: ${error.message}`, "error");
        }
      }
    });
    onRestart(() => {
      if (!conn) return;
      conn.resetCursor?.();
      addNotice(ui.list, "the server restarted: room ids start over from 1");
    });
    return { join, leave, joined: () => conn !== null };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.values(participants).forEach((p) => p.join());
  });
  // Switching between polling and long-polling takes effect at once for a joined participant.
  mode.addEventListener("change", () => participants.http.joined() && participants.http.join());
  byId("room-leave-all").addEventListener("click", () => Object.values(participants).forEach((p) => p.leave()));

  async function showRoomInfo() {
    if (byId("view-rooms").hidden) return;
    try {
      const response = await fetch(httpUrl("/api/rooms"), { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { rooms } = await response.json();
      const room = rooms.find((r) => r.name === roomInput.value);
      setText(info, room
        ? `Room “${room.name}” (/api/rooms): last id ${room.last_id}, ${room.history_size} in history · subscribers: ` +
          `WebSocket ${room.subscribers.ws ?? 0}, SSE ${room.subscribers.sse ?? 0}, HTTP long-polls waiting ${room.subscribers.http ?? room.waiters ?? 0}`
        : `Room “${roomInput.value}” does not exist yet: it is created by the first message or subscriber.`);
    } catch (error) {
      setText(info, `/api/rooms is not answering (${error.message}).`);
    }
  }
  // The server bounds room messages and user names; say so in the fields rather than with a 400.
  onConfig((config) => {
    for (const id of ["room-ws-input", "room-sse-input", "room-http-input"]) {
      /** @type {HTMLInputElement} */ (byId(id)).maxLength = config.max_text ?? 4096;
    }
    if (config.max_user) userInput.maxLength = config.max_user;
  });
  setInterval(showRoomInfo, 2000);
  window.addEventListener("tabshown", (event) => /** @type {CustomEvent} */ (event).detail === "rooms" && showRoomInfo());
}

/**
 * One room message, every field inserted as text.
 * @param {HTMLElement} list
 * @param {{id: number, user: string, text: string, ts: number, via: string}} message
 */
function addMessage(list, message) {
  appendFollowing(list,
    el("li", { className: "message" },
      el("div", { className: "meta" },
        el("span", { className: "via", dataset: { via: message.via }, text: `via ${message.via}` }),
        el("strong", { className: "user", text: message.user }),
        el("span", { className: "id", text: `#${message.id}` }),
        el("time", { text: clockTime(new Date(message.ts)), attrs: { datetime: new Date(message.ts).toISOString() } }),
      ),
      el("span", { className: "text", text: message.text }),
    ),
  );
}

/** A notice line in a message list (joins, errors, gaps). */
function addNotice(list, text, kind = "note") {
  appendFollowing(list, el("li", { className: `notice ${kind}`, text: `${clockTime().slice(0, 8)} ${text}` }));
}
