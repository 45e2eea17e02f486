// The trade tape and the price chart of the current symbol: GET /api/trades on load, then
// the `trade` events; after a reconnect the gap is filled with
// GET /api/trades?after_sequence=<newest held>. Trades are kept once by unique_id (a
// restarted matcher may send one again) and ordered by sequence.

import uPlot from "../vendor/uPlot.esm.js";
import { el, formatPrice, formatQuantity, formatTime } from "./dom.js";
import { chartWidth, watchWidth } from "./charts.js";

const SHOWN = 50; // rows on the tape
const KEPT = 1000; // trades in the chart

export class Tape {
  constructor(list, chartBox, empty) {
    this.list = list;
    this.empty = empty;
    this.symbol = null;
    this.decimals = 2;
    this.trades = new Map(); // unique_id -> trade
    this.chart = new uPlot(priceChartOptions(chartWidth(chartBox)), [[], []], chartBox);
    watchWidth(chartBox, (width) => this.chart.setSize({ width, height: this.chart.height }));
  }

  setSymbol(spec) {
    this.symbol = spec.symbol;
    this.decimals = spec.decimals;
    this.trades.clear();
    this.render();
  }

  /** The newest sequence held (for the gap fill), or null when there is none. */
  newestSequence() {
    let newest = null;
    for (const trade of this.trades.values()) {
      if (newest === null || trade.sequence > newest) newest = trade.sequence;
    }
    return newest;
  }

  add(trades) {
    let added = false;
    for (const trade of trades) {
      if (trade.symbol !== this.symbol || this.trades.has(trade.unique_id)) continue;
      this.trades.set(trade.unique_id, trade);
      added = true;
    }
    if (!added) return;
    if (this.trades.size > KEPT) {
      const oldest = this.sorted().slice(0, this.trades.size - KEPT);
      for (const trade of oldest) this.trades.delete(trade.unique_id);
    }
    this.render();
  }

  sorted() {
    return [...this.trades.values()].sort((a, b) => a.sequence - b.sequence);
  }

  render() {
    const sorted = this.sorted();
    const newestFirst = sorted.slice(-SHOWN).reverse();
    this.list.replaceChildren(...newestFirst.map((trade) => this.row(trade)));
    this.empty.hidden = sorted.length > 0;
    this.chart.setData([
      sorted.map((trade) => Date.parse(trade.execution_timestamp) / 1000),
      sorted.map((trade) => trade.price),
    ]);
  }

  row(trade) {
    return el(
      "li",
      {
        testid: "tape-row",
        class: `aggressor-${trade.aggressor_side}`,
        dataset: { tradeId: trade.unique_id, price: String(trade.price), qty: String(trade.qty), sequence: String(trade.sequence) },
        title: `bid ${trade.bid_order_id} / ask ${trade.ask_order_id}`,
      },
      el("span", { class: "time" }, formatTime(trade.execution_timestamp)),
      el("span", { class: "num price" }, formatPrice(trade.price, this.decimals)),
      el("span", { class: "num" }, formatQuantity(trade.qty)),
      el("span", { class: "side" }, trade.aggressor_side === "buy" ? "▲ buy" : "▼ sell"),
    );
  }
}

function priceChartOptions(width) {
  return {
    width,
    height: 180,
    legend: { show: false },
    scales: { x: { time: true } },
    axes: [{}, { label: "price", size: 60 }],
    series: [{}, { label: "price", stroke: "#0969da", width: 1.5, points: { show: true, size: 5 } }],
  };
}
