"""Instruction data from plain data sets: conversations for chat fine-tuning, preference pairs for DPO.

Three tasks, each one user instruction and the assistant's answer:

    translation (Tatoeba TSV, english<TAB>french)  "Translate to French: Go."                   -> "Va !"
    sentiment (JSONL text + 0/1 label)              "Is this review positive or negative? ..."  -> "positive"
    stories (text, stories split by <|endoftext|>)  "Continue the story: Once upon a time, ..."  -> the next sentences

Preference pairs keep the prompt and prefer the right answer to a wrong one: the reference translation to one
whose words are shuffled (fluency) or that translates another sentence (adequacy), the correct sentiment word
to the other one, a story's own continuation to another story's. Examples are drawn with a seeded generator,
so a builder run is reproducible; `lantern data chat` and `lantern data preferences` write the JSONL.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from ..errors import LanternError
from ..io import iter_lines, read_text

TRANSLATE = "Translate to French: {}"
SENTIMENT = "Is this review positive or negative? {}"
CONTINUE = "Continue the story: {}"
SENTIMENT_WORDS = ("negative", "positive")  # label 0, label 1


def translation_pairs(path: str | Path, max_words: int = 8) -> list[tuple[str, str]]:
    """(english, french) rows of a TSV file whose English side has at most max_words words."""
    pairs = []
    for number, line in enumerate(iter_lines(path, "translation file"), 1):
        columns = line.rstrip("\r\n").split("\t")
        if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
            raise LanternError(f"{path}, line {number}: expected english<TAB>french")
        if len(columns[0].split()) <= max_words:
            pairs.append((columns[0].strip(), columns[1].strip()))
    return pairs


def sentiment_examples(path: str | Path) -> list[tuple[str, int]]:
    """(text, label 0/1) of a sentiment JSONL file."""
    examples = []
    for number, line in enumerate(iter_lines(path, "sentiment file"), 1):
        try:
            record = json.loads(line)
            text, label = record["text"], record["label"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise LanternError(f"{path}, line {number}: expected {{\"text\": ..., \"label\": 0 or 1}}") from None
        if label not in (0, 1) or not isinstance(text, str):
            raise LanternError(f"{path}, line {number}: expected a text and a label 0 or 1, got {label!r}")
        examples.append((text.strip(), label))
    return examples


def story_openings(path: str | Path, opening_sentences: int = 2, continuation_words: int = 30) -> list[tuple[str, str]]:
    """(first sentences, the words that follow) of every story in a text whose stories end with <|endoftext|>."""
    found = []
    for story in read_text(path).split("<|endoftext|>"):
        sentences = re.split(r"(?<=[.!?])\s+", " ".join(story.split()))
        if len(sentences) <= opening_sentences:
            continue
        rest = " ".join(sentences[opening_sentences:]).split()[:continuation_words]
        found.append((" ".join(sentences[:opening_sentences]), " ".join(rest)))
    return found


def _chat(prompt: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def _sample(items: list, n: int, rng: random.Random) -> list:
    return rng.sample(items, min(n, len(items)))


def _sources(translation, sentiment, stories, per_task: int, seed: int):
    if not (translation or sentiment or stories):
        raise LanternError("give at least one source: --translation, --sentiment or --stories")
    if per_task <= 0:
        raise LanternError(f"--per-task must be positive, got {per_task}")
    rng = random.Random(seed)
    return (rng, _sample(translation_pairs(translation), per_task, rng) if translation else [],
            _sample(sentiment_examples(sentiment), per_task, rng) if sentiment else [],
            _sample(story_openings(stories), per_task, rng) if stories else [])


def build_conversations(translation: str | Path | None = None, sentiment: str | Path | None = None,
                        stories: str | Path | None = None, per_task: int = 1000, seed: int = 0) -> list[dict]:
    """Up to per_task conversations of each given task, shuffled together."""
    rng, pairs, reviews, openings = _sources(translation, sentiment, stories, per_task, seed)
    conversations = ([_chat(TRANSLATE.format(en), fr) for en, fr in pairs]
                     + [_chat(SENTIMENT.format(text), SENTIMENT_WORDS[label]) for text, label in reviews]
                     + [_chat(CONTINUE.format(opening), rest) for opening, rest in openings])
    rng.shuffle(conversations)
    return conversations


def _shuffled_words(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(10):
        rng.shuffle(words)
        if " ".join(words) != text:
            break
    return " ".join(words)


def build_preferences(translation: str | Path | None = None, sentiment: str | Path | None = None,
                      stories: str | Path | None = None, per_task: int = 1000, seed: int = 0) -> list[dict]:
    """Up to per_task {"prompt", "chosen", "rejected"} pairs of each given task, shuffled together."""
    rng, pairs, reviews, openings = _sources(translation, sentiment, stories, per_task, seed)
    found = []
    for i, (en, fr) in enumerate(pairs):
        other = pairs[(i + 1 + rng.randrange(len(pairs) - 1)) % len(pairs)][1] if len(pairs) > 1 else ""
        wrong = _shuffled_words(fr, rng) if rng.random() < 0.5 or not other else other
        if wrong != fr:
            found.append({"prompt": TRANSLATE.format(en), "chosen": fr, "rejected": wrong})
    found += [{"prompt": SENTIMENT.format(text), "chosen": SENTIMENT_WORDS[label],
               "rejected": SENTIMENT_WORDS[1 - label]} for text, label in reviews]
    for i, (opening, rest) in enumerate(openings):
        other = openings[(i + 1) % len(openings)][1]
        if other != rest:
            found.append({"prompt": CONTINUE.format(opening), "chosen": rest, "rejected": other})
    rng.shuffle(found)
    return found
