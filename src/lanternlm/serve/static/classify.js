// Lantern playground: the Classify tab, shown when the server has classifier adapters (`lantern serve BASE
// --adapter NAME=CLASSIFIER_RUN/adapter.safetensors`, listed under "classifiers" by /api/models). Each typed
// text gets its predicted label and one bar per label with its probability, from Lantern's own /v1/classify.
import { $, api, listing, onShow, quietly } from "./app.js";
import { barRows, percent } from "./charts.js";

let classified = false;  // the tab classifies its sample texts the first time it is shown
let asked = 0;  // requests made: only the latest one's answer is shown

function showClassifiers(classifiers) {
  $("tab-classify").hidden = !classifiers.length;
  const select = $("cls-model"), keep = select.value;
  select.replaceChildren(...classifiers.map(c => new Option(`${c.id} (${c.labels.join(", ")})`, c.id)));
  if (classifiers.some(c => c.id === keep)) select.value = keep;
  $("cls-pick").hidden = classifiers.length < 2;  // one classifier: nothing to pick
}

function resultCard(text, row) {
  const card = document.createElement("div");
  card.className = "card cls-card";
  card.dataset.label = row.label;
  const title = document.createElement("h2");
  title.textContent = text;
  const verdict = document.createElement("p");
  verdict.className = "summary";
  verdict.textContent = `→ ${row.label} (${percent(row.scores[row.label])})`;
  const bars = document.createElement("div");
  bars.className = "bars";
  bars.append(...barRows(Object.entries(row.scores).map(([label, prob]) => ({ text: label, prob }))));
  card.append(title, verdict, bars);
  return card;
}

async function classify() {
  const texts = $("cls-input").value.split("\n").filter(line => line.trim());
  if (!texts.length) return;
  classified = true;
  const request = ++asked, results = $("cls-results");
  results.replaceChildren();  // no stale bars beside an error
  delete results.dataset.model;
  const data = await api("/v1/classify", { model: $("cls-model").value, input: texts });
  if (request !== asked) return;
  results.replaceChildren(...data.data.map(row => resultCard(texts[row.index], row)));
  results.dataset.model = data.model;
}

$("cls-form").addEventListener("submit", quietly(async e => { e.preventDefault(); await classify(); }));
$("cls-model").addEventListener("change", quietly(classify));
onShow["tab-classify"] = () => classified || quietly(classify)();
document.addEventListener("lantern:models", e => showClassifiers(e.detail.classifiers));
showClassifiers(listing.classifiers);  // the listing may have come before this module ran
