"""Word2Vec: the negative-sampling maths against a naive loop and autograd, the word2vec recipe's pieces,
training on a corpus whose answer is known, analogies, and evaluation against gensim/scipy."""

import random

import numpy as np
import pytest
import torch

from lanternlm.classic.evaluate import analogy_accuracy, rank, spearman, word_similarity
from lanternlm.classic.vectors import WordVectors
from lanternlm.classic.word2vec import (Word2VecConfig, _Trainer, cbow_gradients, encode_corpus, keep_probabilities,
                                        negative_sampling_loss, repeat_damping, sentences_from_text, sgns_gradients,
                                        train_word2vec, unigram_table)
from lanternlm.errors import LanternError
from lanternlm.tokenizers import WordTokenizer


def naive_sgns(inputs, outputs):
    """Loss and gradients pair by pair, straight from the formulas (no batching, no autograd)."""
    n, c, _ = inputs.shape
    loss, grad_v, grad_u = 0.0, torch.zeros_like(inputs), torch.zeros_like(outputs)
    for i in range(n):
        for j in range(c):
            v = inputs[i, j]
            for k in range(outputs.shape[1]):
                u, label = outputs[i, k], 1.0 if k == 0 else 0.0
                s = float(u @ v)
                sig = 1 / (1 + np.exp(-s))
                loss += -np.log(sig) if label else -np.log(1 - sig)
                grad_v[i, j] += (sig - label) * u  # dL/dv
                grad_u[i, k] += (sig - label) * v  # dL/du
    return loss, grad_v, grad_u


def test_negative_sampling_matches_naive_loop_and_autograd():
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)  # 3 centre words, 4 contexts, 5 dims
    outputs = torch.randn(3, 6, 5, generator=gen, dtype=torch.float64)  # true word + 5 negatives
    loss, grad_v, grad_u = naive_sgns(inputs, outputs)

    scores, step_v, step_u = sgns_gradients(inputs, outputs)
    assert float(negative_sampling_loss(scores)) == pytest.approx(loss, rel=1e-12)
    assert torch.allclose(step_v, -grad_v) and torch.allclose(step_u, -grad_u)  # descent directions
    _, scaled_v, scaled_u = sgns_gradients(inputs, outputs, scale_v=0.1, scale_u=0.2)
    assert torch.allclose(scaled_v, -0.1 * grad_v) and torch.allclose(scaled_u, -0.2 * grad_u)

    v, u = inputs.clone().requires_grad_(True), outputs.clone().requires_grad_(True)
    negative_sampling_loss(torch.bmm(v, u.transpose(1, 2))).backward()
    assert torch.allclose(v.grad, grad_v) and torch.allclose(u.grad, grad_u)

    mask = torch.ones_like(scores)
    mask[0, 1] = 0  # a padded context contributes nothing
    expected = loss - naive_sgns(inputs[:1, 1:2], outputs[:1])[0]
    assert float(negative_sampling_loss(scores, mask)) == pytest.approx(expected, rel=1e-12)


def test_cbow_gradients_match_autograd():
    gen = torch.Generator().manual_seed(1)
    inputs = torch.randn(4, 6, 5, generator=gen, dtype=torch.float64)
    inputs[1, 4:] = 0  # row 1 has only 4 real context words (padding rows are zero vectors)
    counts = torch.tensor([6.0, 4.0, 6.0, 6.0], dtype=torch.float64)
    outputs = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64)
    scores, step_h, step_u = cbow_gradients(inputs, counts, outputs)

    h = (inputs.sum(1) / counts[:, None]).requires_grad_(True)
    u = outputs.clone().requires_grad_(True)
    reference = torch.bmm(u, h[:, :, None])[:, :, 0]
    negative_sampling_loss(reference).backward()
    assert torch.allclose(scores, reference.detach())
    assert torch.allclose(step_h, -h.grad) and torch.allclose(step_u, -u.grad)


def test_subsampling_and_unigram_table():
    counts = np.array([0.0, 100_000, 100, 10])
    keep = keep_probabilities(counts, sample=1e-3)  # threshold t * total = 100.11
    t = 1e-3 * counts.sum()
    assert keep[1] == pytest.approx((np.sqrt(100_000 / t) + 1) * t / 100_000)  # about 0.033: mostly dropped
    assert keep[2] == 1.0 and keep[3] == 1.0  # rarer words are always kept
    assert (keep_probabilities(counts, 0) == 1).all()

    table = unigram_table(np.array([0.0, 16, 1]), size=100_000)
    share = np.bincount(table, minlength=3) / len(table)
    assert share[0] == 0 and share[1] == pytest.approx(8 / 9, abs=1e-4)  # 16^0.75 = 8 vs 1^0.75 = 1


def test_batches_and_repeat_damping():
    trainer = _Trainer(10, Word2VecConfig(batch=120, window=5, seed=0))  # 120 = 2b * (120 // 2b) for all b
    bounds, windows = trainer.plan(50_000)
    assert bounds[0] == 0 and bounds[-1] == 50_000 and len(bounds) == len(windows) + 1
    sizes = np.diff(bounds)
    assert (sizes[:-1] == 120 // (2 * windows[:-1])).all()  # about `batch` context words per step
    assert set(windows.tolist()) == {1, 2, 3, 4, 5}
    share = np.bincount(windows[:-1], weights=sizes[:-1], minlength=6)[1:] / sizes[:-1].sum()
    assert np.allclose(share, 0.2, atol=0.02)  # each centre word's shrunk window is uniform in 1..window

    index = torch.tensor([[1, 1, 1], [2, 1, 3]])  # row 1 occurs 4 times
    assert repeat_damping(index, rows=5, limit=2).tolist() == [[0.5, 0.5, 0.5], [1.0, 0.5, 1.0]]
    assert (repeat_damping(index, rows=5, limit=4) == 1).all()


def cluster_text(seed=0, n_sentences=400):
    """Two topics that never meet: any decent embedding puts each topic's words together."""
    rng = random.Random(seed)
    topics = [["cat", "dog", "horse", "cow", "sheep", "goat"], ["red", "blue", "green", "yellow", "pink", "grey"]]
    return "\n\n".join(" ".join(rng.choice(topics[k % 2]) for _ in range(12)) for k in range(n_sentences))


def train_small(text, **overrides):
    tok = WordTokenizer.train(text, min_count=overrides.pop("min_count", 1))
    corpus = encode_corpus(sentences_from_text(text, tok), tok)
    cfg = Word2VecConfig(**{"dim": 16, "epochs": 3, "batch": 256, "sample": 0, **overrides})
    return train_word2vec(corpus, tok, cfg, progress=False)


@pytest.mark.parametrize("sg", [True, False])
def test_training_separates_topics(sg):
    wv, stats = train_small(cluster_text(), sg=sg, workers=2)
    assert len(wv) == 12 and wv.dim == 16 and stats.words_per_sec > 0
    assert stats.final_loss < 6 * np.log(2)  # below the loss of an untrained model
    for word, topic in (("cat", {"dog", "horse", "cow", "sheep", "goat"}), ("red", {"blue", "green", "yellow",
                                                                                      "pink", "grey"})):
        assert {w for w, _ in wv.most_similar(word, 5)} == topic


def test_training_is_repeatable_with_one_worker():
    a, _ = train_small(cluster_text(), workers=1, seed=3)
    b, _ = train_small(cluster_text(), workers=1, seed=3)
    assert torch.equal(a.vectors, b.vectors)


def test_corpus_errors():
    tok = WordTokenizer.train("alpha beta gamma")
    with pytest.raises(LanternError, match="in-vocabulary"):
        encode_corpus([["delta", "epsilon"]], tok)
    with pytest.raises(LanternError, match="negative"):
        Word2VecConfig(negative=0).validate()


def analogy_vectors():
    words = ["king", "man", "woman", "queen", "apple"]
    vectors = torch.tensor([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.15], [0.9, 0.0, 0.5], [-1.0, 0.0, 0.0]])
    return WordVectors(words, vectors)


def test_analogy_excludes_the_query_words():
    wv = analogy_vectors()
    target = wv.analogy_query(["king", "woman"], ["man"])
    assert wv.nearest(target, 1)[0][0] == "king"  # without the exclusion the answer would be a query word
    answers = [w for w, _ in wv.analogy("king", "man", "woman", topn=5)]
    assert answers == ["queen", "apple"]  # only the two words that are not in the question


def test_unknown_word_is_a_clear_error_with_suggestions():
    wv = analogy_vectors()
    with pytest.raises(LanternError, match=r"'kingg' is not in the vocabulary .*did you mean king"):
        wv.most_similar("kingg")
    with pytest.raises(LanternError, match="not in the vocabulary"):
        wv.analogy("king", "zzz", "woman")


QUESTIONS = """: capital-common-countries
athens greece paris france
paris france athens greece
athens greece berlin germany
berlin germany paris france
athens greece oslo norway
: gram1-adjective-to-adverb
quick quickly calm calmly
calm calmly quick quickly
quick quickly rare rarely
"""


def structured_vectors(seed=0):
    """Countries = capital + a shared offset + noise, so some analogies come out right and some do not."""
    gen = torch.Generator().manual_seed(seed)
    words = ["athens", "greece", "paris", "france", "berlin", "germany", "quick", "quickly", "calm", "calmly",
             "rare", "table", "chair"]
    vec = {w: torch.randn(8, generator=gen) for w in words}
    offset, adverb = torch.randn(8, generator=gen), torch.randn(8, generator=gen)
    for capital, country in (("athens", "greece"), ("paris", "france"), ("berlin", "germany")):
        vec[country] = vec[capital] + offset + 0.6 * torch.randn(8, generator=gen)
    for adj in ("quick", "calm"):
        vec[adj + "ly"] = vec[adj] + adverb + 0.6 * torch.randn(8, generator=gen)
    return WordVectors(words, torch.stack([vec[w] for w in words]))


def test_analogy_accuracy_and_spearman_match_gensim_and_scipy(tmp_path):
    gensim = pytest.importorskip("gensim")
    stats = pytest.importorskip("scipy.stats")
    questions = tmp_path / "questions.txt"
    questions.write_text(QUESTIONS)
    pairs = tmp_path / "sim.tsv"
    pairs.write_text("# word1\tword2\tscore\nathens\tparis\t7.5\ngreece\tfrance\t7.5\nquick\tcalm\t2.0\n"
                     "table\tchair\t6.0\nathens\ttable\t0.5\nquick\tzebra\t1.0\n")

    for seed in range(4):
        wv = structured_vectors(seed)
        vec_file = tmp_path / "v.txt"
        wv.save(vec_file)
        kv = gensim.models.KeyedVectors.load_word2vec_format(str(vec_file))
        ours = analogy_accuracy(wv, questions)
        theirs, sections = kv.evaluate_word_analogies(str(questions))
        assert ours.overall.accuracy == pytest.approx(theirs)
        assert [s.correct for s in ours.sections] == [len(s["correct"]) for s in sections[:-1]]
        assert ours.sections[0].skipped == 1 and ours.sections[1].skipped == 1  # oslo/norway, rarely are OOV
        sim = word_similarity(wv, pairs)
        assert (sim.pairs, sim.skipped) == (5, 1)
        assert sim.spearman == pytest.approx(kv.evaluate_word_pairs(str(pairs))[1].statistic, abs=1e-9)

    x, y = torch.tensor([3.0, 1.0, 3.0, 2.0, 5.0]), torch.tensor([1.0, 2.0, 2.0, 0.5, 9.0])
    assert rank(x).tolist() == [3.5, 1.0, 3.5, 2.0, 5.0]  # ties share their mean rank
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x.numpy(), y.numpy()).statistic, abs=1e-12)
