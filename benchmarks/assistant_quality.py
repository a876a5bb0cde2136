"""From base model to assistant, measured: a chat-tuned decoder against its untuned base (few-shot prompted) on
held-out instructions, and DPO against the SFT model on held-out preference pairs.

    python benchmarks/assistant_quality.py --base BASE --sft SFT_RUN --chat chat.jsonl \\
        [--dpo DPO_RUN --pairs pairs.jsonl] [--n 100]

Held out = the validation split a `lantern finetune chat|dpo` run on the same file holds out (the fixed
shuffle of data/labelled.py), so no scored example was trained on. Translation: greedy replies, corpus BLEU
(sacrebleu) against the Tatoeba reference. Sentiment: the reply's first word against the label word. The base
answers the same instructions from a 3-shot plain-text prompt ("Q: ...\\nA: ...\\n\\n"), shots drawn from the
training split. Preferences: the share of pairs whose chosen response is more likely than the rejected one
(log π(y_w) > log π(y_l)) for both models, and for the DPO run its implicit-reward accuracy (vs. the SFT
model as reference) and mean reward margin.
"""

from __future__ import annotations

import argparse
import random

import sacrebleu
import torch

from lanternlm.data.chat import PreferencePairs, read_conversations, read_preferences
from lanternlm.data.labelled import split_examples
from lanternlm.finetune.builders import SENTIMENT, TRANSLATE
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.generate.chat import chat_prompt
from lanternlm.models.preference import sequence_logprobs
from lanternlm.runs import load_run

VAL_FRACTION = 0.1  # DataConfig's default: the share a fine-tuning run holds out
GREEDY = GenerationConfig(max_new_tokens=80, temperature=0)


def chat_reply(engine: Engine, question: str) -> str:
    prompt = chat_prompt([{"role": "user", "content": question}], engine.tokenizer, engine.block_size, 80)
    return "".join(engine.stream_text(prompt.ids, prompt.settings(GREEDY))).strip()


def fewshot_reply(engine: Engine, question: str, shots: list[tuple[str, str]]) -> str:
    text = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in shots) + f"Q: {question}\nA:"
    ids = engine.tokenizer.encode(text)[-(engine.block_size - 40):]
    config = GenerationConfig(max_new_tokens=40, temperature=0, stop=("\n",))
    return "".join(engine.stream_text(ids, config)).strip()


def tasks(conversations: list, prefix: str) -> list[tuple[str, str]]:
    return [(c[0]["content"], c[1]["content"]) for c in conversations if c[0]["content"].startswith(prefix)]


def score(reply, questions: list[tuple[str, str]]) -> tuple[float, float]:
    """(BLEU of the translations, accuracy of the sentiment answers) of `reply(question)`."""
    translations = [(q, a) for q, a in questions if q.startswith(TRANSLATE.format(""))]
    sentiments = [(q, a) for q, a in questions if q.startswith(SENTIMENT.format(""))]
    hypotheses = [reply(q) for q, _ in translations]
    bleu = sacrebleu.corpus_bleu(hypotheses, [[a for _, a in translations]]).score if translations else float("nan")
    correct = sum((reply(q).split() or [""])[0].strip(".,!").lower() == a for q, a in sentiments)
    return bleu, correct / max(len(sentiments), 1)


@torch.no_grad()
def likelihood_accuracy(model, pairs: PreferencePairs) -> float:
    inputs = pairs.inputs_at(torch.arange(len(pairs)))
    chosen = sequence_logprobs(model(inputs["chosen"]).logits, inputs["chosen_targets"])
    rejected = sequence_logprobs(model(inputs["rejected"]).logits, inputs["rejected_targets"])
    return (chosen > rejected).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--sft", required=True)
    parser.add_argument("--chat", required=True)
    parser.add_argument("--dpo")
    parser.add_argument("--pairs")
    parser.add_argument("--n", type=int, default=100, help="held-out instructions scored per task")
    args = parser.parse_args()
    torch.manual_seed(0)
    train, held_out = split_examples(read_conversations(args.chat), VAL_FRACTION)
    questions = []
    for prefix in (TRANSLATE.format(""), SENTIMENT.format("")):
        questions += tasks(held_out, prefix)[:args.n]
    base, sft = load_run(args.base), load_run(args.sft)
    base_engine, sft_engine = Engine(base.model, base.tokenizer), Engine(sft.model, sft.tokenizer)
    rng = random.Random(0)
    shots = {prefix: rng.sample(tasks(train, prefix), 3) for prefix in (TRANSLATE.format(""), SENTIMENT.format(""))}
    counts = {p: sum(q.startswith(p) for q, _ in questions) for p in shots}
    print(f"held out: {counts[TRANSLATE.format('')]} translation, {counts[SENTIMENT.format('')]} sentiment instructions")

    def base_reply(question: str) -> str:
        kind = TRANSLATE.format("") if question.startswith(TRANSLATE.format("")) else SENTIMENT.format("")
        return fewshot_reply(base_engine, question, shots[kind])

    for name, reply in (("base, 3-shot prompt", base_reply), ("chat-tuned (SFT)", lambda q: chat_reply(sft_engine, q))):
        bleu, accuracy = score(reply, questions)
        print(f"{name:<22} BLEU {bleu:5.2f}   sentiment accuracy {accuracy:.3f}")
    example = questions[0]
    print(f"e.g. {example[0]!r} -> SFT {chat_reply(sft_engine, example[0])!r} (reference {example[1]!r})")
    if args.dpo and args.pairs:
        _, held_pairs = split_examples(read_preferences(args.pairs), VAL_FRACTION)
        pairs = PreferencePairs.from_pairs(held_pairs, sft.tokenizer, sft.config.model.block_size)
        dpo = load_run(args.dpo)
        dpo_scores = pairs.scores(dpo.model, torch.device("cpu"))
        print(f"held-out preference pairs: {len(pairs)}")
        print(f"SFT  likelihood accuracy {likelihood_accuracy(sft.model, pairs):.3f}")
        print(f"DPO  likelihood accuracy {dpo_scores['likelihood_accuracy']:.3f}, implicit-reward accuracy "
              f"{dpo_scores['accuracy']:.3f}, mean reward margin {dpo_scores['reward_margin']:.3f}")


if __name__ == "__main__":
    main()
