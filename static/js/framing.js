/**
 * Bytes on the wire computed from the framing rules, never guessed. Each function returns
 * what the protocol adds around a payload of a known size; the page labels these figures
 * "computed" to tell them apart from figures the browser measured.
 */

const encoder = new TextEncoder();

/**
 * The UTF-8 length of `text`: what a WebSocket text frame or an HTTP body carries.
 * @param {string} text
 * @returns {number}
 */
export function utf8Length(text) {
  return encoder.encode(text).length;
}

/**
 * The header of one WebSocket frame carrying `payloadLength` bytes (RFC 6455 §5.2):
 * 2 bytes, plus a 2-byte extended length from 126 bytes, or an 8-byte one from 65536 bytes;
 * plus a 4-byte masking key on every frame a client sends (§5.3). Server frames are unmasked.
 * A message is one frame here: browsers and aiohttp do not fragment messages they send.
 * @param {number} payloadLength
 * @param {{masked: boolean}} options masked = sent by the browser
 * @returns {number}
 */
export function wsHeaderBytes(payloadLength, { masked }) {
  let header = 2;
  if (payloadLength >= 65536) header += 8;
  else if (payloadLength >= 126) header += 2;
  return header + (masked ? 4 : 0);
}

/**
 * One Server-Sent Event exactly as this server formats it (aiohttp-sse, CRLF separators):
 * `id: <id>\r\nevent: <event>\r\n` then `data: <line>\r\n` per line of data, then `\r\n`.
 * The browser hands us `data` with its lines joined by "\n", so the split is exact.
 * @param {{id?: string, event?: string, data: string}} event
 * @returns {{data: number, fields: number, total: number}} `data` = UTF-8 bytes of the data
 *   itself, `fields` = everything the event format adds around it
 */
export function sseEventBytes({ id, event, data }) {
  const CRLF = 2;
  let fields = 0;
  if (id) fields += "id: ".length + utf8Length(id) + CRLF;
  if (event) fields += "event: ".length + utf8Length(event) + CRLF;
  const lines = data.split("\n");
  fields += lines.length * ("data: ".length + CRLF) + CRLF;
  // Newlines between data lines are not data on the wire: the CRLFs replace them.
  const dataBytes = utf8Length(data) - (lines.length - 1);
  return { data: dataBytes, fields, total: dataBytes + fields };
}

/**
 * What HTTP/1.1 chunked transfer coding adds around one chunk of `size` bytes:
 * the size in hex, CRLF, the data, CRLF (RFC 9112 §7.1). The server writes every SSE event
 * as one chunk.
 * @param {number} size
 * @returns {number}
 */
export function chunkBytes(size) {
  return size.toString(16).length + 4;
}

/**
 * A named part of what one message costs on the wire. "server" = a size the server reported
 * (the request head, `X-Request-Head-Bytes`); "not visible" = no size (`bytes` is null).
 * @typedef {{what: string, bytes: number | null, source: "computed" | "measured" | "server" | "not visible"}} WirePart
 */

/**
 * The cost of one message in one direction: the payload and the overhead parts around it.
 * @typedef {{payload: number, parts: WirePart[]}} WireCost
 */

/**
 * The known overhead of a cost: the sum of the parts that have a size.
 * @param {WireCost} cost
 * @returns {number}
 */
export function knownOverhead(cost) {
  return cost.parts.reduce((sum, part) => sum + (part.bytes ?? 0), 0);
}

/**
 * True when some part of the cost cannot be seen by the page (so the overhead is a lower bound).
 * @param {WireCost} cost
 * @returns {boolean}
 */
export function hasHiddenParts(cost) {
  return cost.parts.some((part) => part.bytes === null);
}

/**
 * The size of an HTTP/1.1 response head: the status line, one `Name: value` line per header
 * and the blank line (RFC 9112 §4–5). Built from what `fetch()` exposes: header names arrive
 * lower-cased (same length) and a repeated header arrives joined with ", " (this server sends
 * none); only Set-Cookie is hidden from pages, and this server sets no cookies.
 * @param {number} status
 * @param {string} statusText
 * @param {Headers} headers
 * @returns {number}
 */
export function http1HeadBytes(status, statusText, headers) {
  let bytes = utf8Length(`HTTP/1.1 ${status} ${statusText}\r\n`) + 2;
  for (const [name, value] of headers) bytes += utf8Length(name) + 2 + utf8Length(value) + 2;
  return bytes;
}
