// Lantern playground: seven views over the server's /api and /v1 endpoints (inside.js adds the "look inside"
// panels, encoder.js the encoder cards of the Embeddings view, classify.js the Classify tab). Plain ES modules,
// no build step.
import { barRows, heatmap, lines, scatter, visible } from "./charts.js";

const $ = id => document.getElementById(id);
const keyInput = $("api-key");
const modelSelect = $("model");

// ---- talking to the server ------------------------------------------------------------------------------

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = keyInput.value.trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

/** GET (no body) or POST JSON to `path`; the current model is added to POST bodies. Errors are shown. */
async function api(path, body) {
  const init = body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify({ model: modelSelect.value, ...body }) };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = data.error?.message || `${response.status} ${response.statusText}`;
    showError(message);
    throw new Error(message);
  }
  showError("");
  return data;
}

/** POST to an OpenAI streaming endpoint; yields each server-sent event's JSON until `data: [DONE]`. */
async function* streamEvents(path, body, signal) {
  const response = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body), signal });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new Error(data.error?.message || `${response.status} ${response.statusText}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        if (line.slice(6) === "[DONE]") return;
        yield JSON.parse(line.slice(6));
      }
    }
  }
}

function debounce(fn, ms = 200) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

const quietly = fn => (...args) => fn(...args).catch(() => {});  // api() has already shown the error

// ---- tabs: arrow keys move between them (WAI-ARIA tabs pattern) -------------------------------------------

const tabs = [...document.querySelectorAll("[role=tab]")];
const onShow = {};

function selectTab(tab, focus = true) {
  for (const t of tabs) {
    const selected = t === tab;
    t.setAttribute("aria-selected", selected);
    t.tabIndex = selected ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) tab.focus();
  history.replaceState(null, "", `#${tab.id.slice(4)}`);
  onShow[tab.id]?.();
}

tabs.forEach(tab => {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", e => {
    const shown = tabs.filter(t => !t.hidden);  // an encoder hides the generation tabs
    const at = shown.indexOf(tab);
    const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: shown.length - 1 };
    if (e.key in moves) {
      e.preventDefault();
      selectTab(shown[(moves[e.key] + shown.length) % shown.length]);
    }
  });
});

// ---- Tokenizer ------------------------------------------------------------------------------------------

async function tokenize() {
  const text = $("tok-input").value;
  const out = $("tok-tokens");
  if (!text) {
    out.replaceChildren();
    $("tok-count").textContent = "0 tokens";
    $("tok-count").dataset.count = "0";
    $("tok-ids").textContent = "";
    return;
  }
  const data = await api("/api/tokenize", { text });
  const showIds = $("tok-show-ids").checked;
  out.replaceChildren(...data.tokens.map((t, i) => {
    const span = document.createElement("span");
    span.className = `tok c${i % 6}`;
    span.title = `id ${t.id}: ${JSON.stringify(t.text)}`;
    const ws = /^\s+$/.test(t.text);
    const shown = document.createElement("span");
    if (ws) shown.className = "ws";
    shown.textContent = ws ? visible(t.text) : t.text;
    span.append(shown);
    if (t.text.includes("\n")) span.append("\n");
    if (showIds) {
      const sub = document.createElement("sub");
      sub.textContent = t.id;
      span.append(sub);
    }
    return span;
  }));
  const ratio = data.count ? (data.characters / data.count).toFixed(2) : "0";
  $("tok-count").textContent = `${data.count} tokens · ${data.characters} characters · ${data.bytes} bytes · ` +
    `${ratio} characters per token`;
  $("tok-count").dataset.count = data.count;
  $("tok-ids").textContent = `[${data.tokens.map(t => t.id).join(", ")}]`;
}

$("tok-input").addEventListener("input", debounce(quietly(tokenize), 150));
$("tok-show-ids").addEventListener("change", quietly(tokenize));

// ---- Next token -----------------------------------------------------------------------------------------

async function nextToken() {
  const text = $("next-input").value;
  const temperature = parseFloat($("next-temp").value);
  $("next-temp-value").textContent = temperature.toFixed(2);
  if (!text) return;
  const data = await api("/api/next-token", { text, temperature, top: parseInt($("next-top").value, 10) || 15 });
  const shownMass = data.tokens.reduce((sum, t) => sum + t.prob, 0);
  $("next-summary").textContent = `temperature ${temperature.toFixed(2)} · entropy ${data.entropy_bits.toFixed(2)} bits ` +
    `· top ${data.tokens.length} of ${data.vocab_size} tokens hold ${(100 * shownMass).toFixed(1)}%`;
  const rows = barRows(data.tokens.map(t => ({ text: visible(t.text), prob: t.prob })), data.tokens[0]?.prob, "button");
  rows.forEach((row, i) => {
    const t = data.tokens[i];
    row.setAttribute("role", "listitem");
    row.title = `append ${JSON.stringify(t.text)} (id ${t.id})`;
    row.addEventListener("click", () => {
      $("next-input").value += t.text;
      quietly(nextToken)().then(() => $("next-bars").querySelector("button")?.focus());
    });
  });
  $("next-bars").replaceChildren(...rows);
}

const refreshNext = debounce(quietly(nextToken), 120);
$("next-input").addEventListener("input", refreshNext);
$("next-temp").addEventListener("input", () => {
  $("next-temp-value").textContent = parseFloat($("next-temp").value).toFixed(2);
  refreshNext();
});
$("next-top").addEventListener("change", refreshNext);

// ---- Generate & chat ------------------------------------------------------------------------------------

let conversation = [];  // {role, content} turns so far
let controller = null;  // aborts the running stream (the server then stops generating)

function samplingOptions() {
  const options = {};
  for (const name of ["temperature", "top_p", "top_k", "max_tokens", "repetition_penalty", "presence_penalty",
                      "frequency_penalty", "seed"]) {
    const raw = $(`s-${name}`).value;
    if (raw === "") continue;
    options[name] = ["top_k", "max_tokens", "seed"].includes(name) ? parseInt(raw, 10) : parseFloat(raw);
  }
  const stop = $("s-stop").value.replace(/\\n/g, "\n");
  if (stop) options.stop = [stop];
  return options;
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role;
  const body = document.createElement("span");
  body.className = "content";
  body.textContent = text;
  div.append(who, body);
  $("chat-log").append(div);
  return body;
}

async function send() {
  const input = $("chat-input").value;
  if (!input || controller) return;
  const chat = document.querySelector("input[name=chat-mode]:checked").value === "chat";
  const body = { model: modelSelect.value, stream: true, stream_options: { include_usage: true }, ...samplingOptions() };
  if (chat) {
    const system = $("chat-system").value.trim();
    conversation.push({ role: "user", content: input });
    body.messages = [...(system ? [{ role: "system", content: system }] : []), ...conversation];
  } else {
    body.prompt = input;
  }
  addMessage("user", input);
  const out = addMessage("assistant", "");
  $("chat-input").value = "";
  controller = new AbortController();
  $("chat-send").disabled = true;
  $("chat-stop").disabled = false;
  const started = performance.now();
  let text = "", usage = null, finish = "";
  try {
    for await (const event of streamEvents(chat ? "/v1/chat/completions" : "/v1/completions", body, controller.signal)) {
      if (event.error) throw new Error(event.error.message);
      if (event.usage) usage = event.usage;
      const choice = event.choices?.[0];
      if (!choice) continue;
      text += (chat ? choice.delta?.content : choice.text) || "";
      finish = choice.finish_reason || finish;
      out.textContent = text;
      $("chat-log").scrollTop = $("chat-log").scrollHeight;
    }
    showError("");
  } catch (err) {
    if (err.name !== "AbortError") showError(err.message);
    finish = err.name === "AbortError" ? "stopped" : "error";
  } finally {
    if (chat) conversation.push({ role: "assistant", content: text });
    const seconds = (performance.now() - started) / 1000;
    $("chat-stats").textContent = usage
      ? `${usage.completion_tokens} tokens in ${seconds.toFixed(2)} s (${(usage.completion_tokens / seconds).toFixed(1)} tokens/s), ` +
        `prompt ${usage.prompt_tokens} tokens, finish: ${finish}`
      : `finish: ${finish}`;
    controller = null;
    $("chat-send").disabled = false;
    $("chat-stop").disabled = true;
    out.closest(".msg").dataset.done = "true";
  }
}

$("chat-send").addEventListener("click", send);
$("chat-stop").addEventListener("click", () => controller?.abort());
$("chat-clear").addEventListener("click", () => { conversation = []; $("chat-log").replaceChildren(); });
$("chat-input").addEventListener("keydown", e => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
});

// ---- Attention ------------------------------------------------------------------------------------------

let attention = null;  // the last /api/attention answer: every layer and head
let hoverCell = null;

function fillSelect(select, count, extra) {
  const keep = select.value;
  select.replaceChildren(...[...Array(count).keys()].map(i => new Option(`${i}`, `${i}`)),
    ...(extra ? [new Option(extra, "mean")] : []));
  if ([...select.options].some(o => o.value === keep)) select.value = keep;
}

/** The element-wise mean of equally shaped matrices. */
function meanOf(matrices) {
  return matrices[0].map((row, i) => row.map((_, j) => matrices.reduce((s, m) => s + m[i][j], 0) / matrices.length));
}

/** One head of a layer, or the mean of its heads ("mean"), as one matrix. */
function pickHeads(layer, head) {
  return head === "mean" ? meanOf(layer) : layer[parseInt(head, 10) || 0];
}

function drawAttention() {
  if (!attention) return;
  const layer = attention.layers[parseInt($("attn-layer").value, 10) || 0];
  const head = $("attn-head").value;
  const weights = pickHeads(layer, head);
  hoverCell = heatmap($("attn-canvas"), attention.tokens, weights);
  $("attn-canvas").dataset.rendered = attention.tokens.length;
  $("attn-canvas").weights = weights;
}

async function showAttention() {
  const text = $("attn-input").value;
  if (!text) return;
  attention = await api("/api/attention", { text });
  fillSelect($("attn-layer"), attention.n_layer);
  fillSelect($("attn-head"), attention.n_head, "mean of heads");
  const cut = attention.truncated ? ` (the first ${attention.truncated} tokens are left out)` : "";
  $("attn-summary").textContent = `${attention.tokens.length} tokens, ${attention.n_layer} layers × ${attention.n_head} heads${cut}`;
  drawAttention();
}

// A heat-map view PREFIX-*: its button and Enter (not Shift+Enter) run it; hovering a cell describes it.
function heatmapView(prefix, run, redraw, hover, describe) {
  $(`${prefix}-run`).addEventListener("click", quietly(run));
  $(`${prefix}-input`).addEventListener("keydown", e => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); quietly(run)(); }
  });
  $(`${prefix}-layer`).addEventListener("change", redraw);
  $(`${prefix}-head`).addEventListener("change", redraw);
  $(`${prefix}-canvas`).addEventListener("mousemove", e => {
    const rect = e.target.getBoundingClientRect();  // page pixels -> the canvas's own CSS pixels
    const cell = hover()?.((e.clientX - rect.left) * (parseFloat(e.target.style.width) / rect.width),
                           (e.clientY - rect.top) * (parseFloat(e.target.style.height) / rect.height));
    if (cell) $(`${prefix}-hover`).textContent = describe(cell, e.target.weights[cell.i][cell.j].toFixed(3));
  });
}

heatmapView("attn", showAttention, drawAttention, () => hoverCell, (cell, weight) => {
  const t = attention.tokens;
  return `${JSON.stringify(t[cell.i].text)} (position ${cell.i}) → ` +
    `${JSON.stringify(t[cell.j].text)} (position ${cell.j}): ${weight}`;
});

// ---- Translate (encoder–decoder models) -----------------------------------------------------------------

let translation = null;  // the last /api/translate answer: the translation and every layer's and head's alignment
let hoverAlignment = null;

function drawAlignment() {
  if (!translation) return;
  const perLayer = translation.layers.map(layer => pickHeads(layer, $("tr-head").value));
  const layer = $("tr-layer").value;
  const shown = layer === "mean" ? meanOf(perLayer) : perLayer[parseInt(layer, 10) || 0];
  hoverAlignment = heatmap($("tr-canvas"), translation.target_tokens, shown, translation.source_tokens);
  $("tr-canvas").dataset.rendered = translation.target_tokens.length;
  $("tr-canvas").weights = shown;
}

async function showTranslation() {
  const text = $("tr-input").value;
  if (!text.trim()) return;
  translation = await api("/api/translate", { text, beam: parseInt($("tr-beam").value, 10) || 1 });
  fillSelect($("tr-layer"), translation.n_layer, "mean of layers");
  fillSelect($("tr-head"), translation.n_head, "mean of heads");
  $("tr-output").textContent = translation.translation;
  $("tr-output").dataset.done = "true";
  $("tr-summary").textContent = `beam ${translation.beam}, ${(1000 * translation.seconds).toFixed(0)} ms · ` +
    `${translation.source_tokens.length} source tokens → ${translation.target_tokens.length} target tokens ` +
    `(the last one ends the sentence) · ${translation.n_layer} layers × ${translation.n_head} heads`;
  drawAlignment();
}

heatmapView("tr", showTranslation, drawAlignment, () => hoverAlignment, (cell, weight) =>
  `writing ${JSON.stringify(translation.target_tokens[cell.i].text)} → source ` +
  `${JSON.stringify(translation.source_tokens[cell.j].text)}: ${weight}`);

// ---- Embeddings -----------------------------------------------------------------------------------------

function listResults(ol, items) {
  ol.replaceChildren(...items.map(t => {
    const li = document.createElement("li");
    li.textContent = JSON.stringify(t.text);
    const score = document.createElement("span");
    score.textContent = `cos ${t.similarity.toFixed(3)}`;
    li.append(score);
    return li;
  }));
}

// the model's token embeddings, or the word vectors served with --vectors (the same answers, keyed by word)
const wordVectors = () => $("emb-space").value === "vectors";

$("emb-neighbours-form").addEventListener("submit", quietly(async e => {
  e.preventDefault();
  const token = $("emb-token").value;
  const data = wordVectors() ? await api("/api/vectors/neighbours", { word: token, k: 10 })
    : await api("/api/embeddings/neighbours", { token, k: 10 });
  listResults($("emb-neighbours"), data.neighbours);
}));

$("emb-analogy-form").addEventListener("submit", quietly(async e => {
  e.preventDefault();
  const query = { a: $("emb-a").value, b: $("emb-b").value, c: $("emb-c").value, k: 5 };
  const data = await api(wordVectors() ? "/api/vectors/analogy" : "/api/embeddings/analogy", query);
  listResults($("emb-analogy"), data.answers);
}));

async function project() {
  const data = await api("/api/embeddings/projection", { count: parseInt($("emb-count").value, 10) || 200 });
  const [a, b] = data.explained_variance;
  $("emb-pca-summary").textContent = `${data.points.length} tokens; the two axes explain ` +
    `${(100 * a).toFixed(1)}% and ${(100 * b).toFixed(1)}% of the variance`;
  scatter($("emb-canvas"), data.points);
}

$("emb-project").addEventListener("click", quietly(project));

// ---- Training -------------------------------------------------------------------------------------------

const metricsCache = {};

async function drawLosses() {
  const chosen = [...document.querySelectorAll("#runs-list input:checked")].map(box => box.value);
  const series = [];
  for (const [k, name] of chosen.entries()) {
    metricsCache[name] ??= (await api(`/api/runs/${encodeURIComponent(name)}/metrics`)).records;
    const records = metricsCache[name];
    const train = records.filter(r => r.loss != null).map(r => [r.step, r.loss]);
    const val = records.filter(r => r.val_loss != null).map(r => [r.step, r.val_loss]);
    series.push({ name: `${name} train`, points: train, colour: k });
    if (val.length) series.push({ name: `${name} val`, points: val, colour: k, dashed: true });
  }
  lines($("loss-canvas"), series);
}

async function listRuns() {
  const data = await api("/api/runs");
  const box = $("runs-list");
  box.replaceChildren(box.querySelector("legend") || document.createElement("legend"));
  box.querySelector("legend").textContent = "Runs";
  data.runs.forEach(run => {
    const label = document.createElement("label");
    label.className = "inline";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = run.name;
    input.checked = run.served;
    input.addEventListener("change", quietly(drawLosses));
    const loss = run.loss == null ? "" : ` (step ${run.steps}, loss ${run.loss.toFixed(3)})`;
    label.append(input, `${run.name}${loss}`);
    box.append(label);
  });
  await drawLosses();
}

// ---- start-up -------------------------------------------------------------------------------------------

onShow["tab-next"] = quietly(nextToken);
onShow["tab-attention"] = () => attention || quietly(showAttention)();
onShow["tab-translate"] = () => translation || quietly(showTranslation)();
onShow["tab-embeddings"] = () => $("emb-neighbours").children.length || quietly(project)();
onShow["tab-training"] = quietly(listRuns);

function refreshAll() {
  attention = null;
  translation = null;
  const current = tabs.find(t => t.getAttribute("aria-selected") === "true");
  quietly(tokenize)();
  onShow[current.id]?.();
}

async function start() {
  keyInput.value = localStorage.getItem("lantern-api-key") || "";
  $("key-form").addEventListener("submit", e => { e.preventDefault(); keyInput.dispatchEvent(new Event("change")); });
  keyInput.addEventListener("change", () => { localStorage.setItem("lantern-api-key", keyInput.value); loadModels(); });
  modelSelect.addEventListener("change", () => { describeModel(); refreshAll(); });
  const wanted = tabs.find(t => `#${t.id.slice(4)}` === location.hash);
  if (wanted) selectTab(wanted, false);
  await loadModels();
}

let modelInfo = {};
let listing = { models: [], classifiers: [] };  // the last /api/models answer

const currentModel = () => modelInfo[modelSelect.value];

function describeModel() {
  const m = modelInfo[modelSelect.value];
  $("model-info").textContent = m ? `${m.tokenizer} tokenizer, ${m.vocab_size} tokens · ${m.n_layer} layers × ` +
    `${m.n_head} heads, d=${m.n_embd}, context ${m.block_size} · ${m.parameters.toLocaleString()} parameters` : "";
  // an encoder (BERT) does not continue text and a translator continues a source, not a prompt: no tabs that
  // show or use a next-token distribution of one text; only a translator has the Translate tab
  const generating = ["tab-next", "tab-chat", "tab-temperature", "tab-greedy", "tab-loss"];
  for (const id of generating) $(id).hidden = m?.generates === false || m?.translates === true;
  $("tab-translate").hidden = m?.translates !== true;
  const current = tabs.find(t => t.getAttribute("aria-selected") === "true");
  if (current.hidden) selectTab($(m?.translates ? "tab-translate" : "tab-embeddings"), false);
  document.dispatchEvent(new CustomEvent("lantern:model", { detail: m }));
}

async function loadModels() {
  const data = await api("/api/models").catch(() => null);
  if (!data) return;
  listing = data;
  modelInfo = Object.fromEntries(data.models.map(m => [m.id, m]));
  modelSelect.replaceChildren(...data.models.map(m => new Option(m.id, m.id)));
  document.dispatchEvent(new CustomEvent("lantern:models", { detail: data }));  // before a hidden tab is left
  describeModel();
  refreshAll();
  document.body.dataset.ready = "true";
}

start();

export { $, api, currentModel, debounce, listing, onShow, quietly };  // for inside.js, encoder.js and classify.js
