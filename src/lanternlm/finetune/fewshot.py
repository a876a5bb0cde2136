"""Prompt design, no training: classify by asking the model which label word it finds most likely.

The prompt comes from a template (a TOML file a user can edit, `templates/`): an instruction, k solved
examples drawn from the training side ("Review: ... Sentiment: positive"), then the query with its label left
open. Each label's score is the log-likelihood of its word after the prompt,

    score(label) = log p(word | prompt) = Σ_i log p(w_i | prompt, w_1 .. w_{i-1})

and the prediction is the label with the highest score. Comparing likelihoods instead of generating an answer
and parsing it gives a small model a fair score: it need not produce the exact word on its own.

Chain of thought (`cot`): the query ends in a reasoning cue; the model writes one line (greedy, through the one
decoding loop), then the answer cue follows and the label words are scored the same way.

An encoder cannot continue text. Without a masked-LM head (sentence-transformers checkpoints such as MiniLM
keep none) its prompt-design analogue is similarity: each label has a description ("a positive movie
review"); zero-shot picks the label whose description's embedding is closest (cosine) to the text's, and with
k shots a label's vector is the mean of its description's and its shots' embeddings (nearest centroid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.labelled import encode_text
from ..errors import LanternError
from ..generate import Engine
from ..io import read_toml
from ..models.base import LanguageModel
from ..models.encoder import pool

TEMPLATE_FIELDS = ("instruction", "example", "query", "reasoning", "answer")


@dataclass
class Template:
    instruction: str = ""
    example: str = "Text: {text}\nLabel: {label}\n\n"
    query: str = "Text: {text}\nLabel:"
    reasoning: str = "Text: {text}\nReasoning:"
    answer: str = "\nLabel:"
    label_words: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)

    def word(self, label: str) -> str:
        return self.label_words.get(label, f" {label}")

    def description(self, label: str) -> str:
        return self.descriptions.get(label, label)

    def prompt(self, shots: list[tuple[str, Any]], text: str, cot: bool = False) -> str:
        solved = "".join(self.example.format(text=t, label=self.word(str(label)).strip()) for t, label in shots)
        return self.instruction + solved + (self.reasoning if cot else self.query).format(text=text)


def template_names() -> list[str]:
    folder = resources.files("lanternlm") / "finetune" / "templates"
    return sorted(p.name[:-len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_template(name_or_path: str | Path = "default") -> Template:
    """A template file, or one shipped with Lantern by name (default, sentiment)."""
    path = Path(name_or_path)
    if not path.is_file():
        if str(name_or_path) not in template_names():
            raise LanternError(f"template not found: {name_or_path} (a TOML file, or one of "
                               f"{', '.join(template_names())})")
        path = resources.files("lanternlm") / "finetune" / "templates" / f"{name_or_path}.toml"
    values = read_toml(path, "template file")
    unknown = set(values) - set(TEMPLATE_FIELDS) - {"label_words", "descriptions"}
    if unknown:
        raise LanternError(f"{name_or_path}: unknown template field {sorted(unknown)[0]!r}")
    template = Template(**{k: v for k, v in values.items()})
    checks = {"example": ("{text}", "{label}"), "query": ("{text}",), "reasoning": ("{text}",)}
    for name, needed in checks.items():
        value = getattr(template, name)
        if not isinstance(value, str) or any(n not in value for n in needed):
            raise LanternError(f"{name_or_path}: {name} must be a string containing {' and '.join(needed)}")
        try:
            value.format(text="", label="")
        except (KeyError, IndexError, ValueError) as exc:
            raise LanternError(f"{name_or_path}: {name} has a placeholder other than {{text}} and {{label}} "
                               f"({exc!r}); write a literal brace as {{{{ or }}}}") from None
    return template


def draw_shots(pool_examples: list[tuple[str, Any]], k: int, seed: int = 0) -> list[tuple[str, Any]]:
    """k examples of the training side, drawn at random (the same k for every query)."""
    if k > len(pool_examples):
        raise LanternError(f"--shots {k} is more than the {len(pool_examples)} training examples to draw from")
    order = np.random.default_rng(seed).permutation(len(pool_examples))[:k]
    return [pool_examples[i] for i in order]


@torch.no_grad()
def label_scores(model: LanguageModel, prompts: list[list[int]], words: list[list[int]]) -> torch.Tensor:
    """(len(prompts), len(words)) of log p(word | prompt), summed over each word's tokens. A prompt too long for
    the context loses its oldest tokens (the word always stays whole)."""
    block = model.config.block_size
    rows, spans = [], []
    for prompt in prompts:
        for word in words:
            row = (prompt + word)[-block:]
            rows.append(row)
            spans.append(len(word))
    length = max(map(len, rows))
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
    logp = model.eval()(ids.to(model.device)).logits.float().log_softmax(-1).cpu()
    scores = torch.empty(len(rows))
    for i, (row, n) in enumerate(zip(rows, spans)):
        positions = torch.arange(len(row) - n, len(row))  # the word's tokens, each predicted one position earlier
        scores[i] = logp[i, positions - 1, torch.tensor(row)[positions]].sum()
    return scores.view(len(prompts), len(words))


@dataclass
class FewShotResult:
    shots: int
    accuracy: float
    predictions: list[int]  # class index per query
    truncated: int = 0  # prompts that lost their oldest tokens to the context limit
    reasoning: list[str] = field(default_factory=list)  # --cot: the line the model wrote for each query


def classify_by_likelihood(model: LanguageModel, tokenizer, template: Template, classes: list[str],
                           shots: list[tuple[str, Any]], texts: list[str], cot: bool = False,
                           batch: int = 16, reasoning_tokens: int = 32,
                           on_progress: Callable[[int], None] | None = None) -> tuple[list[int], int, list[str]]:
    """A decoder's predictions: per text, the label whose word the model makes most likely after the prompt."""
    words = [tokenizer.encode(template.word(c)) for c in classes]
    if any(not w for w in words):
        raise LanternError("a label word is empty; give every label a word in the template's [label_words]")
    predictions, truncated, lines = [], 0, []
    for start in range(0, len(texts), batch):
        chunk = [template.prompt(shots, text, cot) for text in texts[start:start + batch]]
        if cot:  # let the model reason one line, then ask for the answer
            written = Engine(model, tokenizer).generate_batch(chunk, reasoning_tokens, temperature=0.0, stop=("\n",))
            lines += written
            chunk = [p + w + template.answer for p, w in zip(chunk, written)]
        prompts = [tokenizer.encode(p) for p in chunk]
        truncated += sum(len(p) + max(map(len, words)) > model.config.block_size for p in prompts)
        predictions += label_scores(model, prompts, words).argmax(-1).tolist()
        if on_progress is not None:
            on_progress(len(predictions))
    return predictions, truncated, lines


@torch.no_grad()
def embed_texts(model: LanguageModel, tokenizer, texts: list[str], max_length: int = 128,
                batch: int = 64) -> torch.Tensor:
    """(N, d) unit vectors: each text's hidden states pooled as the model's config says."""
    vectors = []
    for start in range(0, len(texts), batch):
        rows = [encode_text(tokenizer, t, max_length) for t in texts[start:start + batch]]
        length = max(map(len, rows))
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
        hidden = model.eval().hidden_states(ids.to(model.device), mask.to(model.device))
        vectors.append(pool(hidden, mask.to(model.device), model.config.pooling, normalize=True).float().cpu())
    return torch.cat(vectors)


def classify_by_similarity(model: LanguageModel, tokenizer, template: Template, classes: list[str],
                           shots: list[tuple[str, Any]], texts: list[str]) -> list[int]:
    """An encoder's predictions: the label whose vector (description + its shots, averaged) is closest."""
    described = embed_texts(model, tokenizer, [template.description(c) for c in classes])
    centroids = []
    for i, label in enumerate(classes):
        own = [text for text, lab in shots if str(lab) == label]
        members = torch.cat([described[i:i + 1], embed_texts(model, tokenizer, own)]) if own else described[i:i + 1]
        centroids.append(F.normalize(members.mean(0), dim=-1))
    return (embed_texts(model, tokenizer, texts) @ torch.stack(centroids).t()).argmax(-1).tolist()


def evaluate_fewshot(model: LanguageModel, tokenizer, classes: list[str], train: list[tuple[str, Any]],
                     test: list[tuple[str, Any]], shots: list[int], template: Template, cot: bool = False,
                     seed: int = 0, on_progress: Callable[[int], None] | None = None) -> list[FewShotResult]:
    """Accuracy on `test` for each number of shots (drawn from `train`)."""
    if cot and not model.can_generate:
        raise LanternError(f"chain of thought needs a model that writes text; a {model.config.family} model "
                           "does not")
    for k in shots:
        draw_shots(train, k, seed)  # every count checked before the long work
    index = {c: i for i, c in enumerate(classes)}
    truth = [index[str(label)] for _, label in test]
    texts = [text for text, _ in test]
    results = []
    for k in shots:
        chosen = draw_shots(train, k, seed)
        truncated, lines = 0, []
        if model.can_generate:
            predictions, truncated, lines = classify_by_likelihood(model, tokenizer, template, classes, chosen, texts,
                                                                   cot, on_progress=on_progress)
        else:
            predictions = classify_by_similarity(model, tokenizer, template, classes, chosen, texts)
        accuracy = sum(p == t for p, t in zip(predictions, truth)) / len(truth)
        results.append(FewShotResult(k, accuracy, predictions, truncated, lines))
    return results
