// The REST API (docs/API.md): one fetch wrapper that turns every refusal into an ApiError
// carrying the API's {code, message, field}.

export class ApiError extends Error {
  constructor(status, error, order = null) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? `http_${status}`;
    this.field = error?.field ?? null;
    this.order = order;
  }

  /** "price is not a multiple of the tick size 0.01 (price_off_tick)" */
  get text() {
    return `${this.message} (${this.code})`;
  }
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.key = null;
  }

  setKey(key) {
    this.key = key;
  }

  async request(method, path, { body, auth = true, headers = {} } = {}) {
    const sent = { Accept: "application/json", ...headers };
    if (auth && this.key) sent.Authorization = `Bearer ${this.key}`;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { code: "network_error", message: "the API cannot be reached" });
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok || data === null || data.success === false) {
      const error = data?.error ?? { message: `${response.status} ${response.statusText}`.trim() };
      throw new ApiError(response.status, error, data?.order ?? null);
    }
    return { status: response.status, data };
  }

  async config() {
    return (await this.request("GET", "/api/config", { auth: false })).data;
  }

  /** One page of the account's orders, newest first: {data, next_cursor}. */
  async orders({ limit = 100, cursor = null } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return (await this.request("GET", `/api/orders?${query}`)).data;
  }

  /** {status: 201|202, data: {order_id, order?|status}} */
  async place(order) {
    return this.request("POST", "/api/orders", {
      body: order,
      headers: { "Idempotency-Key": crypto.randomUUID() },
    });
  }

  async modify(orderId, changes) {
    return this.request("PUT", `/api/orders/${encodeURIComponent(orderId)}`, { body: changes });
  }

  async cancel(orderId) {
    return this.request("DELETE", `/api/orders/${encodeURIComponent(orderId)}`);
  }

  /** Trades of a symbol, newest first (after_sequence: only those after it). */
  async trades(symbol, { limit = 200, afterSequence = null } = {}) {
    const query = new URLSearchParams({ symbol, limit: String(limit) });
    if (afterSequence !== null) query.set("after_sequence", String(afterSequence));
    return (await this.request("GET", `/api/trades?${query}`, { auth: false })).data;
  }

  async book(symbol, levels = 5) {
    const query = new URLSearchParams({ symbol, levels: String(levels) });
    return (await this.request("GET", `/api/book?${query}`, { auth: false })).data;
  }
}
