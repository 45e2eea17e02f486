// Small DOM helpers. Every text that comes from the server goes through textContent or a
// text node (never innerHTML), so an order id or a message can never become markup.

/**
 * Create an element. props: `class`, `testid` (data-testid), `dataset`, `text`,
 * `on<event>` handlers, anything else as an attribute (true: present, false/null: absent).
 * children: nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

/** The element with this data-testid inside `root` (the document by default). */
export function byTestId(testid, root = document) {
  const found = root.querySelector(`[data-testid="${testid}"]`);
  if (found === null) throw new Error(`no element with data-testid=${testid}`);
  return found;
}

/** Number of decimals a tick size has: 0.01 -> 2, 0.5 -> 1, 1 -> 0. */
export function decimalsOf(tick) {
  const text = String(tick);
  return text.includes(".") ? text.split(".")[1].length : 0;
}

/**
 * A price as the server wrote it (a JSON number, exact: 101.1), padded to the symbol's
 * decimals (101.10) without any floating-point rounding.
 */
export function formatPrice(price, decimals) {
  if (price === null || price === undefined) return "–";
  const text = String(price);
  if (decimals === 0 || text.includes("e")) return text;
  const [whole, fraction = ""] = text.split(".");
  return `${whole}.${fraction.padEnd(decimals, "0")}`;
}

export function formatQuantity(quantity) {
  return quantity === null || quantity === undefined ? "–" : Number(quantity).toLocaleString("en-US");
}

/** "09:30:00.123" (local time) from an ISO timestamp. */
export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso ?? "");
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** "o0000…abcd" for long ids in tables; the full id stays in the title. */
export function shortId(id) {
  const text = String(id);
  return text.length > 14 ? `${text.slice(0, 6)}…${text.slice(-6)}` : text;
}
