// Lantern playground, "look inside" panels: the pipeline trace, temperatures side by side, greedy steps, per-token
// loss, BPE merges one at a time, the cost of a context; and word vectors in the Embeddings tab. Each panel
// draws what one /api call returns (serve/inside_api.py).
import { $, api, onShow, quietly } from "./app.js";
import { barRows, lines, percent, visible } from "./charts.js";

const element = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};
const shape = dims => `(${dims.join(" × ")})`;
const numbers = (values, digits = 3) => values.map(v => v.toFixed(digits)).join(" ");
const mean = values => values.reduce((a, b) => a + b, 0) / values.length;

function tokenChips(tokens, title) {
  return tokens.map((t, i) => {
    const chip = element("span", `tok c${i % 6}`, visible(t.text ?? t));
    if (title) chip.title = title(t, i);
    return chip;
  });
}

// ---- Pipeline -------------------------------------------------------------------------------------------

const STAGE_NOTES = {
  token_embedding: "E[ids]: row id of the embedding matrix, for every token",
  embedding: "added to the token embedding", sum: "what the first block reads", norm: "normalised",
  step: "", logits: "one score per vocabulary token, at every position", probabilities: "of the next token",
};

function stageBox(stage, trace) {
  const box = element("div", "stage");
  box.dataset.kind = stage.kind;
  box.dataset.shape = stage.shape.join(",");
  box.append(element("h3", "", stage.name), element("code", "shape", shape(stage.shape)));
  const note = STAGE_NOTES[stage.kind];
  if (note) box.append(element("p", "muted", note));
  if (stage.kind === "token_embedding") {
    const V = trace.vocab_size, [T, d] = stage.shape;
    box.append(element("p", "onehot", `one_hot(ids) (${T} × ${V}) @ E (${V} × ${d}) == E[ids]: ` +
      `max |difference| ${trace.one_hot_max_difference}`));
  }
  if (stage.kind === "probabilities") {
    box.append(element("p", "", `entropy ${trace.entropy_bits.toFixed(2)} bits; top: ` +
      trace.top.map(t => `${JSON.stringify(t.text)} ${t.prob.toFixed(3)}`).join(", ")));
  } else {
    const more = stage.shape.at(-1) > stage.values.length ? " …" : "";
    box.append(element("p", "values", `last position: ${numbers(stage.values)}${more}`));
  }
  if (stage.norms) box.append(element("p", "", `|x| per token: ${numbers(stage.norms, 2)}`));
  if (stage.attention_entropy_bits) {
    box.append(element("p", "", `attention entropy per head: ${numbers(stage.attention_entropy_bits, 2)} bits ` +
      `(uniform over ${trace.tokens.length} tokens: ${Math.log2(trace.tokens.length).toFixed(2)})`));
  }
  if (stage.active_fraction) {
    box.append(element("p", "", `neurons active (> 0): ${percent(mean(stage.active_fraction))} on average, ` +
      `per token ${stage.active_fraction.map(f => Math.round(100 * f)).join(" ")} %`));
  }
  return box;
}

async function tracePipeline() {
  const text = $("pipe-input").value;
  const temperature = parseFloat($("pipe-temp").value);
  const trace = await api("/api/trace", { text, temperature });
  const boxes = [];
  const tokens = element("div", "stage");
  tokens.dataset.kind = "tokens";
  const cut = trace.truncated ? ` (the first ${trace.truncated} are left out: the context window)` : "";
  tokens.append(element("h3", "", `tokens${cut}`), element("code", "shape", shape([trace.tokens.length])),
    element("div", "tokens", ""), element("p", "values", `ids: [${trace.tokens.map(t => t.id).join(", ")}]`));
  tokens.querySelector(".tokens").append(...tokenChips(trace.tokens, t => `id ${t.id}`));
  boxes.push(tokens, ...trace.stages.map(stage => stageBox(stage, trace)));
  if (trace.chosen) {
    const chosen = element("div", "stage chosen");
    chosen.dataset.kind = "chosen";
    const { text, id, prob } = trace.chosen;
    chosen.append(element("h3", "", "chosen (the most likely)"),
      element("p", "", `${JSON.stringify(text)} (id ${id}), p = ${prob.toFixed(3)}`));
    boxes.push(chosen);
  }
  const out = $("pipe-boxes");
  out.replaceChildren(...boxes.flatMap((box, i) => (i ? [element("div", "arrow", "↓"), box] : [box])));
  out.dataset.family = trace.family;
  out.dataset.stages = trace.stages.length;
}

$("pipe-run").addEventListener("click", quietly(tracePipeline));
onShow["tab-pipeline"] = quietly(tracePipeline);

// ---- Temperature ----------------------------------------------------------------------------------------

async function compareTemperatures() {
  const temperatures = [...document.querySelectorAll(".temps-t")].map(input => parseFloat(input.value));
  const data = await api("/api/temperatures", { text: $("temps-input").value, temperatures, top: 10 });
  // bars on one scale across the columns: the flattening shows
  const top = Math.max(...data.distributions.map(d => d.tokens[0]?.prob || 0)) || 1;
  $("temps-columns").replaceChildren(...data.distributions.map(d => {
    const card = element("div", "card temp-card");
    card.dataset.temperature = d.temperature;
    card.dataset.entropy = d.entropy_bits;
    card.append(element("h2", "", `T = ${d.temperature}`),
      element("p", "summary", `entropy ${d.entropy_bits.toFixed(2)} bits (uniform: ${data.uniform_bits.toFixed(2)})`),
      element("div", "bars", ""));
    card.querySelector(".bars").append(...barRows(d.tokens.map(t => ({ text: visible(t.text), prob: t.prob })), top));
    return card;
  }));
}

$("temps-run").addEventListener("click", quietly(compareTemperatures));
onShow["tab-temperature"] = quietly(compareTemperatures);

// ---- Greedy steps ---------------------------------------------------------------------------------------

let greedyRows = 0;

async function greedy(steps) {
  const data = await api("/api/greedy", { text: $("greedy-input").value, steps, top: 5 });
  greedyRows = data.rows.length;
  $("greedy-table").tBodies[0].replaceChildren(...data.rows.map(row => {
    const tr = element("tr");
    tr.dataset.chosen = row.chosen.text;
    tr.dataset.first = row.candidates[0].text;
    const candidates = element("td", "candidates");
    candidates.append(...row.candidates.map(c => element("span", c.id === row.chosen.id ? "cand picked" : "cand",
      `${visible(c.text)} ${percent(c.prob)}`)));
    tr.append(element("td", "", row.step), element("td", "mono", visible(row.context)), candidates,
      element("td", "mono", visible(row.chosen.text)));
    return tr;
  }));
  $("greedy-text").textContent = `${data.prompt}⟨${visible(data.text)}⟩`;
  $("greedy-text").dataset.generated = data.text;
}

$("greedy-step").addEventListener("click", quietly(() => greedy(greedyRows + 1)));
$("greedy-run").addEventListener("click", quietly(() => greedy(8)));
$("greedy-reset").addEventListener("click", () => {
  greedyRows = 0;
  $("greedy-table").tBodies[0].replaceChildren();
  $("greedy-text").textContent = "";
});
$("greedy-input").addEventListener("input", () => $("greedy-reset").click());

// ---- Token loss -----------------------------------------------------------------------------------------

function surpriseColour(p) {  // green for expected tokens, red for surprising ones
  const hue = Math.round(120 * Math.min(1, Math.max(0, 1 + Math.log10(Math.max(p, 1e-6)) / 3)));
  return `hsl(${hue}, 70%, 82%)`;
}

async function scoreText() {
  const data = await api("/api/token-losses", { text: $("loss-input").value });
  const first = element("span", "tok first", visible(data.first.text));
  first.title = "context only: nothing predicts the first token";
  const chips = data.tokens.map(t => {
    const chip = element("span", "tok", visible(t.text));
    chip.style.background = surpriseColour(t.prob);
    chip.title = `p = ${t.prob.toFixed(4)}, −log p = ${t.nll.toFixed(3)}`;
    return chip;
  });
  $("loss-text").replaceChildren(first, ...chips);
  $("loss-table").tBodies[0].replaceChildren(...data.tokens.map((t, i) => {
    const tr = element("tr");
    tr.append(...[i + 1, visible(t.text), t.prob.toFixed(4), t.nll.toFixed(4), t.running_mean.toFixed(4)]
      .map(v => element("td", "mono", v)));
    return tr;
  }));
  $("loss-summary").textContent = `${data.tokens.length} tokens scored: loss (mean −log p) ${data.loss.toFixed(4)} ` +
    `nats/token · perplexity ${data.perplexity.toFixed(2)} · ${data.bits_per_byte.toFixed(3)} bits/byte`;
  $("loss-summary").dataset.loss = data.loss;
}

$("loss-run").addEventListener("click", quietly(scoreText));
onShow["tab-loss"] = quietly(scoreText);

// ---- BPE merges -----------------------------------------------------------------------------------------

let bpe = null;  // the last /api/bpe answer: every step's merge, pair counts and tokens

function showMerge() {
  if (!bpe) return;
  const k = parseInt($("bpe-step").value, 10);
  const step = bpe.steps[k];
  const merge = $("bpe-merge");
  if (k === 0) {
    merge.textContent = `start: ${step.tokens.length} byte tokens (${bpe.chunks} pre-tokenized chunks)`;
    delete merge.dataset.pair;
  } else {
    merge.textContent = `merge ${k} of ${bpe.steps.length - 1}: ${JSON.stringify(step.pair[0])} + ` +
      `${JSON.stringify(step.pair[1])} → ${JSON.stringify(step.token)} (seen ${step.count} times); ` +
      `the text is now ${step.tokens.length} tokens`;
    merge.dataset.pair = JSON.stringify(step.pair);
    merge.dataset.count = step.count;
  }
  const counted = k === 0 ? bpe.steps[1] : step;  // the counts that chose this merge (at the start: the first)
  const counts = counted?.top_pairs || [];
  const chosen = counted ? JSON.stringify(counted.pair) : "";
  $("bpe-pairs").replaceChildren(...counts.map(p => {
    const li = element("li", JSON.stringify(p.pair) === chosen ? "picked" : "",
      `${visible(p.pair[0])} + ${visible(p.pair[1])}`);
    li.append(element("span", "", `${p.count}×`));
    return li;
  }));
  $("bpe-tokens").replaceChildren(...tokenChips(step.tokens));
  $("bpe-tokens").dataset.count = step.tokens.length;
}

async function trainBpe() {
  bpe = await api("/api/bpe", { text: $("bpe-input").value, merges: parseInt($("bpe-merges").value, 10) || 10 });
  $("bpe-step").max = bpe.steps.length - 1;
  $("bpe-step").value = 0;
  showMerge();
}

function moveMerge(by) {
  const slider = $("bpe-step");
  slider.value = Math.min(Math.max(parseInt(slider.value, 10) + by, 0), parseInt(slider.max, 10));
  showMerge();
}

$("bpe-train").addEventListener("click", quietly(trainBpe));
$("bpe-step").addEventListener("input", showMerge);
$("bpe-prev").addEventListener("click", () => moveMerge(-1));
$("bpe-next").addEventListener("click", () => moveMerge(1));
onShow["tab-bpe"] = () => bpe || quietly(trainBpe)();

// ---- Context cost ---------------------------------------------------------------------------------------

let costs = null;

function si(n, unit) {
  for (const [factor, prefix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (Math.abs(n) >= factor) return `${(n / factor).toFixed(2)} ${prefix}${unit}`;
  }
  return `${n} ${unit}`;
}

function drawCosts() {
  const chosen = [...document.querySelectorAll("#cost-models input:checked")].map(box => box.value);
  const all = { ...costs.model, ...costs.presets };
  const rows = [], bytes = [], flops = [];
  chosen.forEach((name, k) => {
    const cost = all[name], full = cost.points.at(-1), one = cost.points[0];
    const tr = element("tr");
    tr.dataset.model = name;
    tr.dataset.perToken = one.cache_bytes;
    const perToken = { mlp: "none", rnn: `${si(one.cache_bytes, "B")} in all (fixed)` }[cost.family]
      ?? si(one.cache_bytes, "B");
    tr.append(...[name, cost.block_size, perToken,
      si(full.cache_bytes, "B"), si(full.attention_flops, "FLOP"), percent(full.attention_flops / full.flops)]
      .map(v => element("td", "mono", v)));
    rows.push(tr);
    const logLog = value => cost.points.map(p => [Math.log2(p.context), Math.log10(Math.max(p[value], 1))]);
    bytes.push({ name, colour: k, points: logLog("cache_bytes") });
    flops.push({ name, colour: k, points: logLog("attention_flops") });
  });
  $("cost-table").tBodies[0].replaceChildren(...rows);
  const x = "log₂ context length (tokens)";  // both axes logarithmic: growing like T is a slope of log₁₀ 2
  lines($("cost-canvas"), bytes, x, "log₁₀ cache bytes");
  lines($("cost-flops-canvas"), flops, x, "log₁₀ attention FLOPs per token");
  $("cost-canvas").dataset.rendered = chosen.length;
}

async function loadCosts() {
  costs = await api("/api/context-cost", { dtype: $("cost-dtype").value });
  const box = $("cost-models");
  const checked = new Set([...box.querySelectorAll("input:checked")].map(i => i.value));
  const served = Object.keys(costs.model)[0];
  box.replaceChildren(element("legend", "", "Models"), ...[served, ...Object.keys(costs.presets)].map(name => {
    const label = element("label", "inline");
    const input = element("input");
    input.type = "checkbox";
    input.value = name;
    input.checked = checked.size ? checked.has(name) : name === served || name === "gpt2";
    input.addEventListener("change", drawCosts);
    label.append(input, name === served ? `${name} (served)` : name);
    return label;
  }));
  drawCosts();
}

$("cost-dtype").addEventListener("change", quietly(loadCosts));
onShow["tab-cost"] = quietly(loadCosts);

// ---- Word vectors in the Embeddings tab -----------------------------------------------------------------

quietly(async () => {
  const info = await api("/api/vectors");
  if (!info.words) return;
  $("emb-space").append(new Option(`word vectors (${info.words.toLocaleString()} words, ${info.dim} dims)`, "vectors"));
  $("emb-space").dataset.vectors = info.words;
})();
