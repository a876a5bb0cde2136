"""`lantern word2vec train | similar | analogy | eval | plot`: static word embeddings from scratch."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app

word2vec_app = typer.Typer(help="Train Word2Vec embeddings and explore them: neighbours, analogies, evaluation, "
                                "a 2-D map.", no_args_is_help=True)
app.add_typer(word2vec_app, name="word2vec")

VEC_ARG = typer.Argument(..., help="Vector file in word2vec text or binary format (e.g. from `lantern word2vec "
                                   "train`, or gensim's save_word2vec_format).")
TOP_OPTION = {"min": 1, "max": 10_000}


def _load(path: Path):
    from ..classic.vectors import WordVectors

    return WordVectors.load(path)


def _lower(wv, word: str) -> str:
    """Vectors trained by Lantern are lower-case; accept 'King' for 'king' unless the file has 'King'."""
    return word if word in wv or word.lower() not in wv else word.lower()


@word2vec_app.command("train")
def train_command(
    input: List[Path] = typer.Option(..., "--input", "-i", metavar="FILE", help="Training text, .txt or .gz (repeatable)."),
    out: Path = typer.Option(..., "--out", "-o", help="Vector file to write (binary format if it ends in .bin)."),
    sg: bool = typer.Option(True, "--sg/--cbow", help="Skip-gram (predict each context word from the word) or CBOW (the word from its averaged context)."),
    dim: int = typer.Option(100, "--dim", help="Vector size."),
    window: int = typer.Option(5, "--window", help="Largest distance between a word and its context (shrunk at random, so near words count more)."),
    negative: int = typer.Option(5, "--negative", help="Negative samples per word, drawn from unigram^0.75."),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the corpus."),
    min_count: int = typer.Option(5, "--min-count", min=1, help="Ignore words seen fewer times than this."),
    sample: float = typer.Option(1e-3, "--sample", help="Subsampling threshold for frequent words; 0 = off."),
    alpha: float = typer.Option(0.025, "--alpha", help="Initial learning rate (decays linearly to 0.0001)."),
    workers: int = typer.Option(2, "--workers", help="Training threads (1 or more)."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    binary: Optional[bool] = typer.Option(None, "--binary/--text", help="Output format; default: binary if --out ends in .bin."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train Word2Vec (negative sampling) on text files and write the word vectors."""
    from collections import Counter

    from ..classic.word2vec import Word2VecConfig, encode_corpus, sentences_from_text, train_word2vec
    from ..io import check_writable, read_text
    from ..tokenizers.word import WordTokenizer

    cfg = Word2VecConfig(sg=sg, dim=dim, window=window, negative=negative, sample=sample, alpha=alpha,
                         min_alpha=min(1e-4, alpha), epochs=epochs, workers=workers, seed=seed).validate()
    check_writable(out)
    policy = WordTokenizer([], min_count=min_count)
    sentences = [s for path in input for s in sentences_from_text(read_text(path), policy)]
    tokenizer = policy.with_counts(Counter(w for s in sentences for w in s))
    corpus = encode_corpus(sentences, tokenizer)
    typer.echo(f"corpus: {corpus.raw_words:,} words, {len(sentences):,} sentences; vocabulary "
               f"{tokenizer.vocab_size - 1:,} words seen >= {min_count} times", err=True)
    vectors, stats = train_word2vec(corpus, tokenizer, cfg, progress=not quiet)
    vectors.save(out, binary)
    typer.echo(f"trained {'skip-gram' if sg else 'CBOW'} {dim}-d vectors for {len(vectors):,} words: {epochs} "
               f"epochs in {stats.seconds:.1f} s, {stats.words_per_sec:,.0f} words/s, final loss "
               f"{stats.final_loss:.3f} -> {out}")


@word2vec_app.command("similar")
def similar_command(
    vectors: Path = VEC_ARG,
    word: str = typer.Argument(..., help="The word whose neighbours to list."),
    top: int = typer.Option(10, "--top", "-n", **TOP_OPTION, help="How many neighbours."),
) -> None:
    """Nearest neighbours of a word by cosine similarity."""
    wv = _load(vectors)
    for rank, (other, score) in enumerate(wv.most_similar(_lower(wv, word), top), 1):
        typer.echo(f"{rank:>3}. {other:<20} {score:.4f}")


@word2vec_app.command("analogy")
def analogy_command(
    vectors: Path = VEC_ARG,
    a: str = typer.Argument(..., help="e.g. king"),
    b: str = typer.Argument(..., help="e.g. man"),
    c: str = typer.Argument(..., help="e.g. woman"),
    top: int = typer.Option(5, "--top", "-n", **TOP_OPTION, help="How many answers."),
) -> None:
    """Vector arithmetic A - B + C (king - man + woman ~ queen); the three words themselves are excluded."""
    wv = _load(vectors)
    a, b, c = (_lower(wv, w) for w in (a, b, c))
    answers = wv.analogy(a, b, c, top)
    typer.echo(f"{a} - {b} + {c} ~")
    for rank, (other, score) in enumerate(answers, 1):
        typer.echo(f"{rank:>3}. {other:<20} {score:.4f}")


@word2vec_app.command("eval")
def eval_command(
    vectors: Path = VEC_ARG,
    questions: Optional[Path] = typer.Option(None, "--questions", help="Analogy questions in Google's questions-words.txt format (from the word2vec distribution)."),
    wordsim: Optional[Path] = typer.Option(None, "--wordsim", help="Word pairs with human similarity scores, word1<TAB>word2<TAB>score (e.g. WordSim353)."),
) -> None:
    """Analogy accuracy by section and Spearman correlation on word pairs (give either file or both);
    out-of-vocabulary items are counted."""
    from ..classic.evaluate import analogy_accuracy, word_similarity
    from ..errors import LanternError

    if questions is None and wordsim is None:  # neither ships with Lantern
        raise LanternError("give --questions FILE (Google's questions-words.txt) and/or --wordsim FILE "
                           "(word1<TAB>word2<TAB>score, e.g. WordSim353)")
    wv = _load(vectors)
    if questions is not None:
        _print_analogies(analogy_accuracy(wv, questions))
    if wordsim is not None:
        sim = word_similarity(wv, wordsim)
        rho = "n/a" if sim.pairs < 2 else f"{sim.spearman:.4f}"
        typer.echo(f"\n{wordsim.name}: Spearman {rho} over {sim.pairs} pairs ({sim.skipped} skipped, OOV)")


def _print_analogies(result) -> None:
    typer.echo(f"{'section':<30} {'correct':>8} {'answered':>9} {'accuracy':>9} {'skipped (OOV)':>14}")
    rows = result.sections + [result.summary("semantic", lambda s: s.semantic),
                              result.summary("syntactic", lambda s: not s.semantic), result.overall]
    for i, s in enumerate(rows):
        if i == len(result.sections):
            typer.echo("-" * 74)
        typer.echo(f"{s.name:<30} {s.correct:>8,} {s.total:>9,} {100 * s.accuracy:>8.2f}% {s.skipped:>14,}")


@word2vec_app.command("plot")
def plot_command(
    vectors: Path = VEC_ARG,
    words: List[str] = typer.Argument(..., help="Words to place on the map (at least 2)."),
    out: Path = typer.Option(Path("word2vec_pca.png"), "--out", "-o", help="PNG file to write."),
) -> None:
    """A 2-D map of some words: their vectors projected on the two principal components (PCA)."""
    import torch

    from ..classic.vectors import pca_2d
    from ..errors import LanternError
    from ..io import atomic_path

    wv = _load(vectors)
    chosen = list(dict.fromkeys(_lower(wv, w) for w in words))
    if len(chosen) < 2:
        raise LanternError("plot needs at least 2 different words")
    points, explained = pca_2d(torch.stack([wv[w] for w in chosen]))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(points[:, 0], points[:, 1], s=18)
    for word, (x, y) in zip(chosen, points.tolist()):
        ax.annotate(word, (x, y), xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * explained[1]:.0f}% of variance)")
    ax.set_title(f"{vectors.name}: {len(chosen)} words, PCA to 2-D")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    typer.echo(f"wrote {out}")
