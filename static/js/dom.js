/**
 * Tiny helpers for building elements. Text always goes in through `textContent`: nothing the
 * server or a user sends is ever parsed as HTML.
 */

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing element #${id}`);
  return element;
}

/**
 * Create an element with a class, text and attributes, and append children.
 * @param {string} tag
 * @param {{className?: string, text?: string, attrs?: Record<string, string>, dataset?: Record<string, string>}} [props]
 * @param {...(Node | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function el(tag, { className, text, attrs, dataset } = {}, ...children) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  for (const [name, value] of Object.entries(attrs ?? {})) element.setAttribute(name, value);
  Object.assign(element.dataset, dataset ?? {});
  for (const child of children) if (child) element.append(child);
  return element;
}

/**
 * Bytes in a short form: "5 B", "1.5 KiB", "4.0 MiB".
 * @param {number} bytes
 * @returns {string}
 */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Wall-clock time with milliseconds, for log lines: "14:03:07.123".
 * @param {Date} [date]
 * @returns {string}
 */
export function clockTime(date = new Date()) {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/**
 * At most `max` characters, with an ellipsis and the full length when cut.
 * @param {string} text
 * @param {number} [max]
 * @returns {string}
 */
export function truncate(text, max = 160) {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/**
 * Keep at most `max` children in `list`, dropping the oldest (the first ones).
 * @param {HTMLElement} list
 * @param {number} max
 */
export function trimList(list, max) {
  while (list.childElementCount > max) list.firstElementChild?.remove();
}

/**
 * Offer `text` as a file download.
 * @param {string} filename
 * @param {string} text
 * @param {string} type MIME type
 */
export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { attrs: { href: url, download: filename } });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
