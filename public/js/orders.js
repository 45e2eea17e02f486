// The account's orders: GET /api/orders on sign-in and after every reconnect, kept current
// by the private `order` events (and by the answers of our own place / modify / cancel),
// with modify (PUT) and cancel (DELETE) on every live order.

import { ApiError } from "./api.js";
import { el, formatPrice, formatQuantity, formatTime, shortId } from "./dom.js";

const PAGE = 100;

export class Orders {
  /** app: {api, specOf(symbol)} */
  constructor(root, app) {
    this.app = app;
    this.root = root;
    this.body = root.querySelector("tbody");
    this.empty = root.querySelector("[data-testid=orders-empty]");
    this.more = root.querySelector("[data-testid=orders-more]");
    this.error = root.querySelector("[data-testid=orders-error]");
    this.orders = new Map(); // order_id -> order
    this.rows = new Map(); // order_id -> <tr>
    this.editing = null; // order_id whose modify form is open
    this.cursor = null;
    this.more.addEventListener("click", () => this.loadMore());
  }

  /** Forget everything (signed out or another key). */
  clear() {
    this.orders.clear();
    this.rows.clear();
    this.editing = null;
    this.cursor = null;
    this.body.replaceChildren();
    this.error.textContent = "";
    delete this.root.dataset.loaded;
    this.render();
  }

  /** The newest page again; what events brought in meanwhile is kept where newer. */
  async reload() {
    try {
      const page = await this.app.api.orders({ limit: PAGE });
      for (const order of page.data) this.upsert(order);
      if (this.cursor === null) this.cursor = page.next_cursor;
      this.error.textContent = "";
      this.root.dataset.loaded = "true"; // the first page is in
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.error.textContent = `Orders could not be loaded: ${error.text}`;
    }
    this.render();
  }

  async loadMore() {
    if (this.cursor === null) return;
    try {
      const page = await this.app.api.orders({ limit: PAGE, cursor: this.cursor });
      for (const order of page.data) this.upsert(order);
      this.cursor = page.next_cursor;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.error.textContent = `More orders could not be loaded: ${error.text}`;
    }
    this.render();
  }

  /**
   * Take an order's state if it is not older than the one shown (events and REST answers
   * can arrive in either order; an ended order never comes back to life).
   */
  upsert(order) {
    const known = this.orders.get(order.order_id);
    if (known !== undefined) {
      if (order.updated_at < known.updated_at) return;
      if (order.updated_at === known.updated_at && !known.order_alive && order.order_alive) return;
      if (order.traded_quantity < known.traded_quantity) return;
    }
    this.orders.set(order.order_id, order);
    this.renderRow(order);
    this.render();
  }

  /** Rows in the API's order: newest first (created_at, then order_id). */
  render() {
    const sorted = [...this.orders.values()].sort((a, b) =>
      a.created_at === b.created_at
        ? b.order_id.localeCompare(a.order_id)
        : b.created_at.localeCompare(a.created_at),
    );
    const wanted = [];
    for (const order of sorted) {
      wanted.push(this.rows.get(order.order_id));
      if (this.editing === order.order_id) wanted.push(this.editRow);
    }
    const current = [...this.body.children];
    if (wanted.length !== current.length || wanted.some((row, i) => row !== current[i])) {
      this.body.replaceChildren(...wanted);
    }
    this.empty.hidden = this.orders.size > 0;
    this.more.hidden = this.cursor === null;
  }

  renderRow(order) {
    const decimals = this.app.specOf(order.symbol)?.decimals ?? 2;
    const actions = el("div", { class: "actions" });
    if (order.order_alive) {
      actions.append(
        el("button", { type: "button", testid: "order-modify", onclick: () => this.openModify(order.order_id) }, "Modify"),
        el("button", { type: "button", testid: "order-cancel", class: "danger", onclick: () => this.cancel(order.order_id) }, "Cancel"),
      );
    }
    const row = el(
      "tr",
      {
        testid: "order-row",
        class: `side-${order.side}${order.order_alive ? "" : " ended"}`,
        dataset: { orderId: order.order_id, status: order.status, symbol: order.symbol },
      },
      el("td", { title: order.created_at }, formatTime(order.created_at)),
      el("td", { title: order.order_id, class: "mono" }, shortId(order.order_id)),
      el("td", {}, order.symbol),
      el("td", { class: `side ${order.side}` }, order.side),
      el("td", {}, `${order.type} ${order.time_in_force}`),
      el("td", { class: "num", testid: "order-price" }, order.type === "market" ? "market" : formatPrice(order.order_price, decimals)),
      el("td", { class: "num", testid: "order-quantity" }, formatQuantity(order.order_quantity)),
      el("td", { class: "num", testid: "order-traded" }, formatQuantity(order.traded_quantity)),
      el("td", { class: "num", testid: "order-average" }, formatPrice(order.average_traded_price, decimals)),
      el(
        "td",
        { testid: "order-status", class: `status ${order.status}`, title: order.cancel_reason ?? "" },
        order.status.replace("_", " "),
        order.cancel_reason ? el("small", {}, ` (${order.cancel_reason.replaceAll("_", " ")})`) : null,
      ),
      el("td", {}, actions),
      el("td", { testid: "order-row-error", class: "error" }),
    );
    const old = this.rows.get(order.order_id);
    this.rows.set(order.order_id, row);
    if (old?.parentNode) old.replaceWith(row);
    if (this.editing === order.order_id && !order.order_alive) this.closeModify();
  }

  openModify(orderId) {
    const order = this.orders.get(orderId);
    if (order === undefined) return;
    const price = el("input", { testid: "modify-price", inputmode: "decimal", value: String(order.order_price ?? ""), "aria-label": "new price" });
    const quantity = el("input", { testid: "modify-quantity", inputmode: "numeric", value: String(order.order_quantity), "aria-label": "new total quantity" });
    const errorPrice = el("span", { testid: "modify-error-price", class: "error", hidden: true });
    const errorQuantity = el("span", { testid: "modify-error-quantity", class: "error", hidden: true });
    const errorGeneral = el("span", { testid: "modify-error", class: "error", hidden: true });
    const form = el(
      "form",
      { testid: "modify-form", class: "modify" },
      el("label", {}, "Price ", price, errorPrice),
      el("label", {}, "Total quantity ", quantity, errorQuantity),
      el("button", { type: "submit", testid: "modify-save" }, "Save"),
      el("button", { type: "button", testid: "modify-close", onclick: () => this.closeModify() }, "Close"),
      errorGeneral,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const line of [errorPrice, errorQuantity, errorGeneral]) line.hidden = true;
      const current = this.orders.get(orderId);
      const changes = {};
      if (price.value.trim() !== String(current.order_price)) changes.updated_price = price.value.trim();
      const typed = quantity.value.trim();
      if (typed !== String(current.order_quantity)) {
        changes.updated_quantity = /^[0-9]{1,10}$/.test(typed) ? Number(typed) : typed;
      }
      try {
        const { data } = await this.app.api.modify(orderId, changes);
        if (data.order) this.upsert(data.order);
        this.closeModify();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const line =
          error.field === "updated_price" ? errorPrice : error.field === "updated_quantity" ? errorQuantity : errorGeneral;
        line.textContent = error.text;
        line.hidden = false;
        if (error.order) this.upsert(error.order);
      }
    });
    this.editing = orderId;
    this.editRow = el("tr", { class: "modify-row", dataset: { orderId } }, el("td", { colspan: 12 }, form));
    this.render();
    price.focus();
  }

  closeModify() {
    this.editing = null;
    this.editRow = null;
    this.render();
  }

  async cancel(orderId) {
    const row = this.rows.get(orderId);
    const errorCell = row?.querySelector("[data-testid=order-row-error]");
    try {
      const { data } = await this.app.api.cancel(orderId);
      if (data.order) this.upsert(data.order);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (errorCell) errorCell.textContent = error.text;
      if (error.order) this.upsert(error.order);
    }
  }
}
