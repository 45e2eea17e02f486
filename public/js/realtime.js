// Socket.IO (docs/REALTIME.md): one connection to /api/config's realtime_url, websocket
// transport. With an API key in the auth payload the server also sends this account's
// `order` events; a bad key is refused at connect. Every (re)connect subscribes again to
// the current symbol's `trades` and `depth` (the depth ack carries a fresh snapshot) and
// tells the page, which fills the gap from the REST API.

import { io } from "../vendor/socket.io.esm.min.js";

const ACK_TIMEOUT_MS = 5000;

export class Realtime {
  /**
   * handlers: onState({state, reconnects, attempt, detail}), onTrade(trade),
   * onDepth(snapshot), onOrder(order), onConnected({reconnected}).
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.socket = null;
    this.symbol = null;
    this.reconnects = 0;
    this.everConnected = false;
  }

  /** (Re)connect, with `apiKey` for the private orders channel or null for public data. */
  connect(apiKey) {
    this.close();
    this.everConnected = false;
    const options = {
      transports: ["websocket"],
      reconnectionDelay: 500, // then doubling, randomised by half, up to:
      reconnectionDelayMax: 3000,
    };
    if (apiKey) options.auth = { api_key: apiKey };
    const socket = io(this.url, options);
    this.socket = socket;
    this.state("connecting");

    socket.on("connect", () => {
      const reconnected = this.everConnected;
      this.everConnected = true;
      this.state("connected");
      this.subscribeCurrent();
      this.handlers.onConnected({ reconnected });
    });
    socket.on("disconnect", (reason) => {
      // The server or the network dropped us: socket.io reconnects by itself.
      this.state(socket.active ? "reconnecting" : "disconnected", { detail: reason });
    });
    socket.on("connect_error", (error) => {
      if (socket.active) {
        this.state(this.everConnected ? "reconnecting" : "connecting", { detail: error.message });
      } else {
        // Refused by the server (a bad or revoked key): no automatic retry.
        const message = error.data?.message ?? error.message;
        this.state("refused", { detail: message });
      }
    });
    socket.io.on("reconnect_attempt", (attempt) => {
      this.state("reconnecting", { attempt });
    });
    socket.io.on("reconnect", () => {
      this.reconnects += 1;
    });
    socket.on("trade", (trade) => {
      if (trade?.symbol === this.symbol) this.handlers.onTrade(trade);
    });
    socket.on("depth", (depth) => {
      if (depth?.symbol === this.symbol) this.handlers.onDepth(depth);
    });
    socket.on("order", (order) => this.handlers.onOrder(order));
  }

  close() {
    if (this.socket !== null) {
      this.socket.removeAllListeners();
      this.socket.io.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
  }

  /** Watch another symbol: unsubscribe the old one, subscribe the new one. */
  setSymbol(symbol) {
    const previous = this.symbol;
    this.symbol = symbol;
    if (this.socket?.connected) {
      if (previous && previous !== symbol) {
        for (const channel of ["trades", "depth"]) {
          this.socket.emit("unsubscribe", { channel, symbol: previous });
        }
      }
      this.subscribeCurrent();
    }
  }

  subscribeCurrent() {
    const socket = this.socket;
    const symbol = this.symbol;
    if (socket === null || symbol === null) return;
    for (const channel of ["trades", "depth"]) {
      socket
        .timeout(ACK_TIMEOUT_MS)
        .emitWithAck("subscribe", { channel, symbol })
        .then((ack) => {
          if (!ack?.ok) {
            this.state("connected", { detail: `${channel}: ${ack?.error?.message ?? "refused"}` });
          } else if (channel === "depth" && ack.snapshot && symbol === this.symbol) {
            this.handlers.onDepth(ack.snapshot);
          }
        })
        .catch(() => {
          // No ack in time: the connection is going down; the next connect subscribes again.
        });
    }
  }

  state(state, { attempt = 0, detail = "" } = {}) {
    this.handlers.onState({ state, reconnects: this.reconnects, attempt, detail });
  }
}
