// What the two uPlot charts share: their width follows their box.

export function chartWidth(box) {
  return Math.max(240, Math.floor(box.clientWidth || box.parentElement?.clientWidth || 480));
}

/** Call `resize(width)` whenever the box's width changes. */
export function watchWidth(box, resize) {
  let last = chartWidth(box);
  new ResizeObserver(() => {
    const width = chartWidth(box);
    if (width !== last) {
      last = width;
      resize(width);
    }
  }).observe(box);
}
