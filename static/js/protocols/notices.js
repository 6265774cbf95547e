/**
 * Room notices other than `gap` and `error`, as the server defines them in
 * server/core/notices.py: `reset` (the room began a new epoch; history follows from its start)
 * and `broker` (the shared room broker went down or came back).
 */

/**
 * One line for people, from a notice as a WebSocket frame carries it: `{"reset": {...}}`.
 * @param {Record<string, any>} data
 * @returns {string}
 */
export function describeNotice(data) {
  if (data.reset) return `the room's history restarted (new epoch ${data.reset.epoch}): ${data.reset.reason}`;
  if (data.broker) return `room broker ${data.broker.state}: ${data.broker.detail}`;
  return JSON.stringify(data);
}
