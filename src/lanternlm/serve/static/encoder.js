// Lantern playground: the encoder cards of the Embeddings view (shown when the chosen model is an encoder):
// a sentence-similarity matrix, nearest sentences (in the served index, else among the typed sentences),
// one word in two contexts, and fill in the blank. Talks to /api/encoder/* through app.js's api().
import { api, currentModel, quietly } from "./app.js";

const $ = id => document.getElementById(id);

function typedSentences() {
  return $("enc-sim-texts").value.split("\n").map(s => s.trim()).filter(Boolean);
}

function shade(value) {  // cosine -1..1 -> white .. the accent colour
  const w = Math.max(0, Math.min(1, value));
  return `rgb(${Math.round(255 - 75 * w)}, ${Math.round(255 - 172 * w)}, ${Math.round(255 - 240 * w)})`;
}

async function similarity() {
  const texts = typedSentences();
  const data = await api("/api/encoder/similarity", { texts });
  const head = document.createElement("tr");
  head.append(document.createElement("th"), ...texts.map((_, j) => {
    const th = document.createElement("th");
    th.textContent = j + 1;
    return th;
  }));
  const rows = data.matrix.map((row, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = `${i + 1}. ${texts[i]}`;
    th.scope = "row";
    tr.append(th, ...row.map(value => {
      const td = document.createElement("td");
      td.textContent = value.toFixed(2);
      td.style.background = shade(value);
      td.style.color = value > 0.6 ? "#fff" : "";
      return td;
    }));
    return tr;
  });
  $("enc-sim-matrix").replaceChildren(head, ...rows);
  $("enc-sim-matrix").dataset.size = texts.length;
}

function describeSearch() {
  const m = currentModel();
  $("enc-search-source").textContent = m?.index
    ? `Searching the ${m.index.toLocaleString()} sentences of the index served with this model.`
    : "No index is served with this model (lantern serve RUN --index VECS): searching the sentences typed on the left.";
}

async function search() {
  const m = currentModel();
  const body = { query: $("enc-query").value, top: 5 };
  if (!m?.index) body.texts = typedSentences();
  const data = await api("/api/encoder/search", body);
  $("enc-search-results").replaceChildren(...data.results.map(r => {
    const li = document.createElement("li");
    li.textContent = r.text;
    const score = document.createElement("span");
    score.textContent = `cos ${r.score.toFixed(3)}`;
    li.append(score);
    return li;
  }));
}

async function contextual() {
  const word = $("enc-ctx-word").value;
  const data = await api("/api/encoder/contextual",
    { sentences: [$("enc-ctx-a").value, $("enc-ctx-b").value], word });
  const out = $("enc-ctx-result");
  out.textContent = `"${word}" (${data.pieces.join(" ")}): contextual cosine ${data.contextual[0][1].toFixed(3)} ` +
    `— the last layer saw each whole sentence; static cosine ${data.static[0][1].toFixed(3)} — the input ` +
    "embedding is one vector wherever the word appears.";
  out.dataset.contextual = data.contextual[0][1];
}

async function fill() {
  const data = await api("/api/encoder/fill", { text: $("enc-fill-text").value, top: 5 });
  $("enc-fill-result").textContent = data.filled;
  $("enc-fill-candidates").replaceChildren(...data.masks[0].candidates.map(c => {
    const li = document.createElement("li");
    li.textContent = c.text;
    const score = document.createElement("span");
    score.textContent = `${(100 * c.prob).toFixed(1)}%`;
    li.append(score);
    return li;
  }));
}

for (const [form, run] of [["enc-sim-form", similarity], ["enc-search-form", search], ["enc-ctx-form", contextual],
                           ["enc-fill-form", fill]]) {
  $(form).addEventListener("submit", quietly(async e => { e.preventDefault(); await run(); }));
}

function showCards(model) {
  const encoder = model?.generates === false;
  $("encoder-cards").hidden = !encoder;
  if (!encoder) return;
  describeSearch();
  $("enc-fill-form").hidden = !model.fills_masks;  // a sentence-embedding model has no MLM head
}

document.addEventListener("lantern:model", e => showCards(e.detail));
showCards(currentModel());
