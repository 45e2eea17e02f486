// The order book of the current symbol: a ladder of 5 levels per side and a depth chart,
// from GET /api/book at first and then the `depth` snapshots (one a second, and one in
// every subscription's ack). A snapshot older than the one shown (by `sequence`) is dropped.

import uPlot from "../vendor/uPlot.esm.js";
import { el, formatPrice, formatQuantity } from "./dom.js";
import { chartWidth, watchWidth } from "./charts.js";

const LEVELS = 5;

export class Book {
  constructor(ladder, chartBox, meta) {
    this.ladder = ladder;
    this.chartBox = chartBox;
    this.meta = meta;
    this.symbol = null;
    this.decimals = 2;
    this.tick = 0.01;
    this.sequence = -1;
    this.chart = new uPlot(depthChartOptions(chartWidth(chartBox)), [[], [], []], chartBox);
    watchWidth(chartBox, (width) => this.chart.setSize({ width, height: this.chart.height }));
    this.show({ bids: [], asks: [], sequence: 0, timestamp: null });
  }

  setSymbol(spec) {
    this.symbol = spec.symbol;
    this.decimals = spec.decimals;
    this.tick = Number(spec.tick_size);
    this.show({ symbol: spec.symbol, bids: [], asks: [], sequence: 0, timestamp: null });
    this.sequence = -1;
  }

  /** A snapshot {symbol, bids, asks, timestamp, sequence}, if it is this symbol's and new. */
  update(snapshot) {
    if (snapshot.symbol !== this.symbol) return;
    if ((snapshot.sequence ?? 0) < this.sequence) return;
    this.show(snapshot);
  }

  show(snapshot) {
    this.sequence = snapshot.sequence ?? 0;
    const asks = (snapshot.asks ?? []).slice(0, LEVELS);
    const bids = (snapshot.bids ?? []).slice(0, LEVELS);
    const rows = [];
    // Asks from the 5th best down to the best, then the spread, then bids best first.
    for (let i = LEVELS - 1; i >= 0; i -= 1) rows.push(this.level("ask", asks[i], i));
    rows.push(this.spreadRow(bids[0], asks[0]));
    for (let i = 0; i < LEVELS; i += 1) rows.push(this.level("bid", bids[i], i));
    this.ladder.replaceChildren(...rows);
    this.ladder.dataset.sequence = String(this.sequence);
    this.meta.textContent = snapshot.timestamp ? `as of sequence ${this.sequence}` : "";
    this.chart.setData(depthSeries(bids, asks, this.tick));
  }

  level(side, level, index) {
    if (level === undefined) {
      return el("tr", { class: `${side} empty` }, el("td", { class: "num" }, ""), el("td", { class: "num" }, ""));
    }
    return el(
      "tr",
      { testid: `book-${side}`, class: side, dataset: { price: String(level.price), quantity: String(level.quantity), level: String(index + 1) } },
      el("td", { class: "num price" }, formatPrice(level.price, this.decimals)),
      el("td", { class: "num" }, formatQuantity(level.quantity)),
    );
  }

  spreadRow(bestBid, bestAsk) {
    let text = "no spread";
    if (bestBid && bestAsk) {
      const spread = (bestAsk.price - bestBid.price).toFixed(this.decimals);
      text = `spread ${spread}`;
    } else if (!bestBid && !bestAsk) {
      text = "empty book";
    }
    return el("tr", { class: "spread", testid: "book-spread" }, el("td", { colspan: 2 }, text));
  }
}

/**
 * The depth chart's data: x every price of both sides ascending, y the quantity available
 * at that price or better (bids: at or above it, asks: at or below it). Each side is
 * extended a little beyond its last level, so that a single level still shows as an area.
 */
export function depthSeries(bids, asks, tick) {
  if (bids.length === 0 && asks.length === 0) return [[], [], []];
  const cumulative = (levels) => {
    let total = 0;
    return levels.map((level) => [level.price, (total += level.quantity)]); // best first
  };
  const bidPoints = cumulative(bids).reverse(); // ascending price
  const askPoints = cumulative(asks);
  const all = [...bidPoints, ...askPoints].map(([price]) => price);
  const pad = Math.max(2 * tick, (Math.max(...all) - Math.min(...all)) * 0.15);
  if (bidPoints.length) bidPoints.unshift([bidPoints[0][0] - pad, bidPoints[0][1]]);
  if (askPoints.length) askPoints.push([askPoints.at(-1)[0] + pad, askPoints.at(-1)[1]]);
  const x = [...bidPoints.map(([p]) => p), ...askPoints.map(([p]) => p)];
  return [
    x,
    [...bidPoints.map(([, q]) => q), ...askPoints.map(() => null)],
    [...bidPoints.map(() => null), ...askPoints.map(([, q]) => q)],
  ];
}

function depthChartOptions(width) {
  return {
    width,
    height: 180,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false } },
    axes: [{ label: "price" }, { label: "cumulative qty", size: 60 }],
    series: [
      {},
      { label: "bids", stroke: "#1a7f37", fill: "rgba(26,127,55,0.18)", paths: uPlot.paths.stepped({ align: -1 }), points: { show: false } },
      { label: "asks", stroke: "#cf222e", fill: "rgba(207,34,46,0.18)", paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
    ],
  };
}
