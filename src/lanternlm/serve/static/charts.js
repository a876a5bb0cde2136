// Drawing for the playground: an attention heat-map, a scatter plot and line charts on canvases, probability bars
// in HTML. No libraries.

const FONT = "12px ui-monospace, Menlo, Consolas, monospace";

/** Show whitespace in a token: "·" for a space, "↵" for a newline, "→" for a tab. */
export function visible(text) {
  return text.replace(/ /g, "·").replace(/\n/g, "↵").replace(/\t/g, "→");
}

/** A probability as a percentage, with more digits when it is small. */
export const percent = p => `${(100 * p).toFixed(p < 0.001 ? 3 : 1)}%`;

/** One horizontal bar per item ({text, prob}, text as shown), as long as prob / top: a shared `top` puts
 *  several lists on one scale, top = 1 draws probabilities as they are. Each row (a `tag` element, "button"
 *  when clicking it does something) keeps its prob in data-prob. */
export function barRows(items, top = 1, tag = "div") {
  return items.map(item => {
    const row = document.createElement(tag);
    row.className = "bar-row";
    row.dataset.prob = item.prob;
    row.innerHTML = '<span class="bar-token"></span><span class="bar-track"><span class="bar-fill"></span></span>' +
      '<span class="bar-prob"></span>';
    row.querySelector(".bar-token").textContent = item.text;
    row.querySelector(".bar-fill").style.width = `${(100 * item.prob / top).toFixed(1)}%`;
    row.querySelector(".bar-prob").textContent = percent(item.prob);
    return row;
  });
}

function prepare(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = FONT;
  return ctx;
}

/** weights[i][j]: how much row token i attends to column token j (self-attention: the same tokens on both axes;
 *  cross-attention: target tokens down, source tokens across). White (0) to dark blue (1).
 *  Returns a function mapping a mouse position to {i, j} (or null) for hover read-outs. */
export function heatmap(canvas, tokens, weights, columns = tokens) {
  const rows = tokens.length, cols = columns.length;
  const cell = Math.max(8, Math.min(28, Math.floor(560 / Math.max(rows, cols))));
  const margin = 90;
  const ctx = prepare(canvas, margin + cols * cell + 10, margin + rows * cell + 10);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const w = weights[i][j];
      const light = Math.round(255 - 215 * w);
      ctx.fillStyle = `rgb(${light}, ${Math.round(255 - 160 * w)}, ${Math.round(255 - 80 * w)})`;
      ctx.fillRect(margin + j * cell, margin + i * cell, cell, cell);
    }
  }
  ctx.strokeStyle = "#d9dce1";
  ctx.strokeRect(margin, margin, cols * cell, rows * cell);
  ctx.fillStyle = "#1d1f24";
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  tokens.forEach((t, i) => ctx.fillText(visible(t.text).slice(0, 10), margin - 6, margin + (i + 0.5) * cell));
  ctx.save();
  ctx.textAlign = "left";
  columns.forEach((t, j) => {
    ctx.save();
    ctx.translate(margin + (j + 0.5) * cell, margin - 6);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(visible(t.text).slice(0, 10), 0, 0);
    ctx.restore();
  });
  ctx.restore();
  return (x, y) => {
    const i = Math.floor((y - margin) / cell), j = Math.floor((x - margin) / cell);
    return i >= 0 && j >= 0 && i < rows && j < cols ? { i, j } : null;
  };
}

function extent(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= 1; hi += 1; }
  return [lo, hi];
}

/** Labelled points ({x, y, text}); the labels of the first `labelled` points are drawn. */
export function scatter(canvas, points, labelled = 120) {
  const width = 700, height = 500, pad = 30;
  const ctx = prepare(canvas, width, height);
  const [x0, x1] = extent(points.map(p => p.x)), [y0, y1] = extent(points.map(p => p.y));
  const sx = x => pad + (x - x0) / (x1 - x0) * (width - 2 * pad);
  const sy = y => height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad);
  ctx.fillStyle = "#2f6fb0";
  for (const p of points) {
    ctx.beginPath();
    ctx.arc(sx(p.x), sy(p.y), 3, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = "#1d1f24";
  points.slice(0, labelled).forEach(p => ctx.fillText(visible(p.text).slice(0, 12), sx(p.x) + 5, sy(p.y) - 4));
  ctx.fillStyle = "#5d6470";
  ctx.fillText("PC 1 →", width - pad - 50, height - 8);
  ctx.fillText("↑ PC 2", 4, 14);
}

const COLOURS = ["#2f6fb0", "#b4530f", "#2e8540", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"];

/** series: [{name, points: [[x, y], ...], dashed}], sharing axes; colours by `colour` index. */
export function lines(canvas, series, xLabel = "step", yLabel = "loss") {
  const width = 800, height = 420, left = 56, right = 170, top = 16, bottom = 40;
  const ctx = prepare(canvas, width, height);
  const all = series.flatMap(s => s.points);
  if (!all.length) {
    ctx.fillStyle = "#5d6470";
    ctx.fillText("no metrics to plot", left, height / 2);
    return;
  }
  const [x0, x1] = extent(all.map(p => p[0])), [y0, y1] = extent(all.map(p => p[1]));
  const sx = x => left + (x - x0) / (x1 - x0) * (width - left - right);
  const sy = y => height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom);
  ctx.strokeStyle = "#d9dce1";
  ctx.fillStyle = "#5d6470";
  for (let k = 0; k <= 4; k++) {
    const y = y0 + (y1 - y0) * k / 4, x = x0 + (x1 - x0) * k / 4;
    ctx.beginPath(); ctx.moveTo(left, sy(y)); ctx.lineTo(width - right, sy(y)); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(y.toFixed(2), left - 6, sy(y) + 4);
    ctx.textAlign = "center"; ctx.fillText(Math.round(x).toString(), sx(x), height - bottom + 16);
  }
  ctx.textAlign = "center"; ctx.fillText(xLabel, (left + width - right) / 2, height - 6);
  ctx.save(); ctx.translate(14, (top + height - bottom) / 2); ctx.rotate(-Math.PI / 2);
  ctx.fillText(yLabel, 0, 0); ctx.restore();
  ctx.textAlign = "left";
  series.forEach((s, k) => {
    ctx.strokeStyle = COLOURS[s.colour % COLOURS.length];
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [6, 4] : []);
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(s.name, width - right + 12, top + 14 + 18 * k);
  });
  ctx.setLineDash([]);
}
