// The trading page: wires the modules together. Settings come from GET /api/config
// (symbols with tick sizes, realtime_url); everything else is the REST API and Socket.IO.

import { Api, ApiError } from "./api.js";
import { Book } from "./book.js";
import { byTestId, decimalsOf, el } from "./dom.js";
import { Orders } from "./orders.js";
import { Realtime } from "./realtime.js";
import { demoAccounts, forgetSession, maskKey, showDemoAccounts, storeSession, storedSession } from "./session.js";
import { Tape } from "./tape.js";
import { Ticket } from "./ticket.js";

const SYMBOL_STORAGE = "sbs.symbol";
const STATE_TEXT = {
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  disconnected: "disconnected",
  refused: "refused",
};

const api = new Api();
const page = {
  config: null,
  specs: new Map(), // symbol -> {symbol, tick_size, max_price, decimals}
  symbol: null,
  session: null, // {key, label}
};

async function start() {
  try {
    page.config = await api.config();
  } catch (error) {
    const text = error instanceof ApiError ? error.text : String(error);
    byTestId("fatal").textContent = `The API's settings (GET /api/config) could not be read: ${text}`;
    byTestId("fatal").hidden = false;
    return;
  }
  for (const spec of page.config.symbols) {
    page.specs.set(spec.symbol, { ...spec, decimals: decimalsOf(spec.tick_size) });
  }
  byTestId("realtime-url").textContent = page.config.realtime_url;

  const book = new Book(byTestId("book-ladder"), byTestId("depth-chart"), byTestId("book-meta"));
  const tape = new Tape(byTestId("trade-tape"), byTestId("price-chart"), byTestId("tape-empty"));
  const orders = new Orders(byTestId("orders"), {
    api,
    specOf: (symbol) => page.specs.get(symbol),
  });
  const ticket = new Ticket(byTestId("order-ticket"), {
    api,
    symbol: () => page.symbol,
    spec: () => page.specs.get(page.symbol),
    signedIn: () => page.session !== null,
    onPlaced: (order) => orders.upsert(order),
  });
  const realtime = new Realtime(page.config.realtime_url, {
    onState: showConnection,
    onTrade: (trade) => tape.add([trade]),
    onDepth: (snapshot) => book.update(snapshot),
    onOrder: (order) => orders.upsert(order),
    onConnected: ({ reconnected }) => {
      // Subscribed (again): what came while no subscription was up is fetched once.
      if (tape.newestSequence() !== null) fillTradeGap(tape);
      if (reconnected && page.session) orders.reload();
    },
  });

  // --- symbol ----------------------------------------------------------------------
  const picker = byTestId("symbol-select");
  for (const spec of page.specs.values()) {
    picker.append(el("option", { value: spec.symbol }, spec.symbol));
  }
  const remembered = localStorage.getItem(SYMBOL_STORAGE);
  const first = page.specs.has(remembered) ? remembered : page.config.default_symbol;
  const chooseSymbol = (symbol) => {
    const spec = page.specs.get(symbol);
    page.symbol = symbol;
    picker.value = symbol;
    localStorage.setItem(SYMBOL_STORAGE, symbol);
    byTestId("symbol-tick").textContent = `tick ${spec.tick_size} · max price ${spec.max_price}`;
    byTestId("ticket-symbol").textContent = symbol;
    document.title = `${symbol} · StockBrokerageSystem`;
    book.setSymbol(spec);
    tape.setSymbol(spec);
    ticket.symbolChanged(spec);
    realtime.setSymbol(symbol);
    loadMarket(book, tape, symbol);
  };
  picker.addEventListener("change", () => chooseSymbol(picker.value));

  // --- session ---------------------------------------------------------------------
  const keyForm = byTestId("sign-in-form");
  const keyInput = byTestId("api-key-input");
  const keyError = byTestId("key-error");
  const demo = byTestId("demo-key-select");
  const signIn = async (key, label) => {
    keyError.hidden = true;
    api.setKey(key);
    try {
      await api.orders({ limit: 1 }); // the key works (401 otherwise)
    } catch (error) {
      api.setKey(page.session?.key ?? null);
      keyError.textContent = error instanceof ApiError ? error.text : String(error);
      keyError.hidden = false;
      return;
    }
    storeSession(key, label);
    showSession({ key, label });
  };
  const showSession = (session) => {
    page.session = session;
    api.setKey(session?.key ?? null);
    byTestId("signed-out").hidden = session !== null;
    byTestId("signed-in").hidden = session === null;
    byTestId("account-label").textContent = session?.label ?? "";
    byTestId("orders-signed-out").hidden = session !== null;
    keyInput.value = "";
    demo.value = "";
    orders.clear();
    if (session) orders.reload();
    realtime.connect(session?.key ?? null);
  };
  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (key) signIn(key, maskKey(key));
  });
  demo.addEventListener("change", () => {
    const option = demo.selectedOptions[0];
    if (demo.value) signIn(demo.value, option.dataset.account);
  });
  byTestId("sign-out").addEventListener("click", () => {
    forgetSession();
    showSession(null);
  });
  showDemoAccounts(demo, await demoAccounts());

  chooseSymbol(first);
  showSession(storedSession());
  document.body.dataset.ready = "true";

  async function fillTradeGap(tapeView) {
    const symbol = page.symbol;
    const after = tapeView.newestSequence();
    try {
      const trades = await api.trades(symbol, { limit: 1000, afterSequence: after });
      if (symbol === page.symbol) tapeView.add(trades.data);
    } catch {
      // The next reconnect tries again.
    }
  }
}

/** The book and the recent trades from the REST API, until Socket.IO takes over. */
async function loadMarket(book, tape, symbol) {
  const [depth, trades] = await Promise.allSettled([api.book(symbol), api.trades(symbol)]);
  if (symbol !== page.symbol) return;
  if (depth.status === "fulfilled") book.update(depth.value);
  if (trades.status === "fulfilled") tape.add(trades.value.data);
}

function showConnection({ state, reconnects, attempt, detail }) {
  const box = byTestId("connection");
  box.dataset.state = state;
  let text = STATE_TEXT[state] ?? state;
  if (state === "reconnecting" && attempt > 0) text = `reconnecting… (attempt ${attempt})`;
  byTestId("connection-status").textContent = text;
  byTestId("reconnect-count").textContent = String(reconnects);
  box.title = detail ? `${text}: ${detail}` : text;
}

start();
