"""Lantern's Word2Vec against gensim's, side by side in one process, on the same sentences.

Skip-gram (or CBOW with --cbow), 100 dims, window 5, negative 5, min_count 5, sample 1e-3, alpha 0.025, the
same epochs and the same number of worker threads for both. Both train on exactly the same sentences
(Lantern's word tokenizer: lower-cased, punctuation dropped, one sentence per paragraph), and both sets of
vectors are scored by the same evaluator (lanternlm.classic.evaluate, which matches gensim's
evaluate_word_analogies / evaluate_word_pairs).
Speed is raw corpus words x epochs / training seconds (vocabulary building excluded on both sides).
The runs alternate (gensim, lantern, gensim, lantern, ...) so that load from other processes on a shared
machine hits both; the best run of each is reported.

    .venv/bin/python benchmarks/word2vec_gensim.py --chars 20000000 --epochs 5 --workers 2 --repeats 2
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lanternlm.classic.evaluate import analogy_accuracy, word_similarity  # noqa: E402
from lanternlm.classic.vectors import WordVectors  # noqa: E402
from lanternlm.classic.word2vec import Word2VecConfig, encode_corpus, sentences_from_text, train_word2vec  # noqa: E402
from lanternlm.tokenizers.word import WordTokenizer  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CORPUS = DATA / "corpora" / "gutenberg_en.txt.gz"
QUESTIONS = DATA / "word_eval" / "questions-words.txt"
WORDSIM = DATA / "word_eval" / "wordsim353.tsv"


def score(wv: WordVectors) -> tuple[float, int, int, float]:
    overall = analogy_accuracy(wv, QUESTIONS).overall
    return overall.accuracy, overall.total, overall.skipped, word_similarity(wv, WORDSIM).spearman


def run_gensim(sentences, raw_words: int, args) -> tuple[float, WordVectors]:
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=args.dim, window=5, negative=5, hs=0, min_count=5, sample=1e-3, sg=int(not args.cbow),
                     workers=args.workers, seed=args.seed)
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=args.epochs)
    seconds = time.perf_counter() - t0
    return raw_words * args.epochs / seconds, WordVectors(model.wv.index_to_key, model.wv.vectors)


def run_lantern(corpus, tokenizer, args) -> tuple[float, WordVectors]:
    cfg = Word2VecConfig(sg=not args.cbow, dim=args.dim, window=5, negative=5, sample=1e-3,
                         epochs=args.epochs, workers=args.workers, seed=args.seed, batch=args.batch)
    wv, stats = train_word2vec(corpus, tokenizer, cfg, progress=False)  # min_count 5 is in the tokenizer
    return stats.words_per_sec, wv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=20_000_000, help="first N characters of the corpus (0 = all)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--batch", type=int, default=Word2VecConfig.batch)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram (both sides)")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"corpus not found: {CORPUS}")

    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        text = fh.read(args.chars) if args.chars else fh.read()
    tokenizer = WordTokenizer.train(text, min_count=5)
    sentences = sentences_from_text(text, tokenizer)
    corpus = encode_corpus(sentences, tokenizer)
    raw = corpus.raw_words
    print(f"corpus: first {len(text):,} chars of {CORPUS.name}: {raw:,} words, {len(sentences):,} sentences, "
          f"vocabulary {tokenizer.vocab_size - 1:,} words (min_count 5)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average at start {os.getloadavg()[0]:.2f}")

    runs: dict[str, list[tuple[float, WordVectors]]] = {"gensim": [], "lantern": []}
    for r in range(args.repeats):
        for name in ("gensim", "lantern"):
            wps, wv = run_gensim(sentences, raw, args) if name == "gensim" else run_lantern(corpus, tokenizer, args)
            runs[name].append((wps, wv))
            print(f"  run {r + 1} {name:8} {wps:>10,.0f} words/s  (load {os.getloadavg()[0]:.2f})", flush=True)

    rows = {}
    for name, results in runs.items():
        best = max(wps for wps, _ in results)
        acc, answered, skipped, rho = score(results[-1][1])
        rows[name] = (best, acc, answered, skipped, rho)
    g, o = rows["gensim"], rows["lantern"]
    print(f"\n| | words/s (best of {args.repeats}) | analogy acc. | answered / skipped | WordSim353 Spearman |")
    print("|---|---:|---:|---:|---:|")
    for name, (wps, acc, answered, skipped, rho) in rows.items():
        print(f"| {name} | {wps:,.0f} | {100 * acc:.2f}% | {answered:,} / {skipped:,} | {rho:.3f} |")
    print(f"\nspeed ratio lantern/gensim: {o[0] / g[0]:.2f}x; analogy difference: {100 * (o[1] - g[1]):+.2f} points; "
          f"Spearman difference: {o[4] - g[4]:+.3f}")


if __name__ == "__main__":
    main()
