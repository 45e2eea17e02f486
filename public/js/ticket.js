// The order ticket. The API validates (docs/API.md): the page sends what was typed - the
// price as the decimal string it reads, never a float - and shows the API's refusal next
// to the field it names (`error.field`), or above the button when it names none.

import { ApiError } from "./api.js";
import { byTestId, formatPrice } from "./dom.js";

// API field -> the ticket's field (its input and its error line share the suffix).
const FIELDS = {
  side: "side",
  type: "type",
  time_in_force: "tif",
  price: "price",
  quantity: "quantity",
  post_only: "post-only",
};

export class Ticket {
  /** app: {api, symbol(), spec(), signedIn(), onPlaced(order)} */
  constructor(form, app) {
    this.form = form;
    this.app = app;
    this.inputs = {
      side: byTestId("ticket-side", form),
      type: byTestId("ticket-type", form),
      tif: byTestId("ticket-tif", form),
      price: byTestId("ticket-price", form),
      quantity: byTestId("ticket-quantity", form),
      "post-only": byTestId("ticket-post-only", form),
    };
    this.submit = byTestId("ticket-submit", form);
    this.general = byTestId("ticket-error", form);
    this.result = byTestId("ticket-result", form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.place();
    });
    for (const [name, input] of Object.entries(this.inputs)) {
      input.addEventListener("input", () => this.clearError(name));
    }
    this.inputs.type.addEventListener("change", () => this.typeChanged());
    this.typeChanged();
  }

  /** A market order has no price and never rests (so no post-only). */
  typeChanged() {
    const market = this.inputs.type.value === "market";
    this.inputs.price.disabled = market;
    this.inputs["post-only"].disabled = market;
    if (market) this.inputs["post-only"].checked = false;
  }

  /** The symbol changed: its tick size is the price step. */
  symbolChanged(spec) {
    this.inputs.price.step = String(spec.tick_size);
    this.inputs.price.placeholder = `tick ${spec.tick_size}`;
    this.clearErrors();
    this.result.textContent = "";
  }

  body() {
    const body = {
      symbol: this.app.symbol(),
      side: this.inputs.side.value,
      type: this.inputs.type.value,
      time_in_force: this.inputs.tif.value,
    };
    const quantity = this.inputs.quantity.value.trim();
    // Whole numbers as JSON integers; anything else as typed, for the API to refuse.
    if (quantity !== "") body.quantity = /^[0-9]{1,10}$/.test(quantity) ? Number(quantity) : quantity;
    const price = this.inputs.price.value.trim();
    if (body.type === "limit" && price !== "") body.price = price;
    if (this.inputs["post-only"].checked) body.post_only = true;
    return body;
  }

  async place() {
    this.clearErrors();
    this.result.textContent = "";
    if (!this.app.signedIn()) {
      this.showError(null, "Sign in with an API key first.");
      return;
    }
    this.submit.disabled = true;
    try {
      const { status, data } = await this.app.api.place(this.body());
      if (status === 202) {
        this.result.textContent = `Order ${data.order_id} queued (pending): the matcher has not answered yet.`;
      } else {
        this.result.textContent = describe(data.order, this.app.spec());
        this.app.onPlaced(data.order);
      }
      this.result.dataset.orderId = data.order_id;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.showError(error.field, error.text);
      if (error.order) this.app.onPlaced(error.order);
    } finally {
      this.submit.disabled = false;
    }
  }

  showError(field, text) {
    const name = FIELDS[field] ?? null;
    const line = name ? byTestId(`ticket-error-${name}`, this.form) : this.general;
    line.textContent = text;
    line.hidden = false;
    if (name) {
      this.inputs[name].setAttribute("aria-invalid", "true");
      this.inputs[name].focus();
    }
  }

  clearError(name) {
    const line = byTestId(`ticket-error-${name}`, this.form);
    line.textContent = "";
    line.hidden = true;
    this.inputs[name].removeAttribute("aria-invalid");
  }

  clearErrors() {
    for (const name of Object.keys(this.inputs)) this.clearError(name);
    this.general.textContent = "";
    this.general.hidden = true;
  }
}

/** "Buy 10 @ 100.00: filled (10 traded, avg 100.00)" */
export function describe(order, spec) {
  const decimals = spec?.decimals ?? 2;
  const price = order.order_price === null ? "market" : formatPrice(order.order_price, decimals);
  const side = order.side === "buy" ? "Buy" : "Sell";
  let text = `${side} ${order.order_quantity} ${order.symbol} @ ${price}: ${order.status.replace("_", " ")}`;
  if (order.traded_quantity > 0) {
    text += ` (${order.traded_quantity} traded, avg ${formatPrice(order.average_traded_price, decimals)})`;
  }
  if (order.cancel_reason) text += ` - ${order.cancel_reason.replaceAll("_", " ")}`;
  return text;
}
