"""Translation end to end: `prepare --pairs` (group split, filtering, tokenizers), length-bucketed batches, the one
Trainer (a tiny model overfits a handful of pairs to exact translations), save -> load -> same translations,
`translate` (batched, beam, alignment), `eval --pairs` (sacrebleu) and bad input as one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TRANSLATION_OVERRIDES, run_and_kill, run_cli
from lanternlm.cli import main
from lanternlm.config import resolve_config
from lanternlm.data.pairs import BucketedPairs, load_pairs
from lanternlm.data.prepare_pairs import prepare_pairs, read_pairs, split_pairs
from lanternlm.errors import LanternError
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.generate.translate import alignment, translate
from lanternlm.runs import load_run
from lanternlm.train import train
from lanternlm.train.checkpoint import list_checkpoints
from lanternlm.train.metrics import read_metrics

@pytest.fixture(scope="module")
def data(translation_run):
    return translation_run[1]


@pytest.fixture(scope="module")
def overfit_run(translation_run):
    return translation_run[0]


@pytest.fixture(scope="module")
def pairs_file(translation_run):
    return translation_run[2]


def test_prepare_holds_out_whole_sentence_groups_and_reports_drops(tmp_path):
    pairs = [("Hi.", "Salut."), ("Hi.", "Coucou."), ("Run!", "Cours !"), ("Go.", "Va !"), ("Go now.", "Va !"),
             ("Stop.", "Arrête."), ("", "Vide."), ("One two three four.", "Un deux trois quatre.")] * 1
    path = tmp_path / "p.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    header, report = prepare_pairs(path, tmp_path / "out", vocab_size=300, max_words=3, val_fraction=0.3, seed=1)
    assert report.read == 8 and report.dropped == {"with an empty side": 1, "over 3 words": 1}
    assert report.train + report.val == 6 and report.groups == 4  # {Hi x2}, {Go., Go now.}, {Run!}, {Stop.}
    train_pairs = read_pairs(tmp_path / "out" / "train.tsv")
    val_pairs = read_pairs(tmp_path / "out" / "val.tsv")
    for side in (0, 1):  # no sentence on both sides of the split
        assert not {p[side] for p in train_pairs} & {p[side] for p in val_pairs}
    tokenizer, train_split, val_split, _ = load_pairs(tmp_path / "out")
    assert len(train_split) == len(train_pairs) and len(val_split) == len(val_pairs)
    source, target = train_split.pair(0)
    assert tokenizer.decode(source) == train_pairs[0][0] and tokenizer.decode(target) == train_pairs[0][1]


def test_split_is_fixed_by_the_seed():
    pairs = [(f"s{i}", f"t{i}") for i in range(100)]
    assert split_pairs(pairs, 0.2, 0) == split_pairs(pairs, 0.2, 0) != split_pairs(pairs, 0.2, 1)
    assert len(split_pairs(pairs, 0.2, 0)[1]) == 20


def test_separate_vocabularies_and_token_filter(pairs_file, tmp_path):
    header, report = prepare_pairs(pairs_file, tmp_path / "sep", vocab_size=300, separate=True, max_tokens=9,
                                   val_fraction=0.1)
    tokenizer, train_split, _, _ = load_pairs(tmp_path / "sep")
    assert tokenizer.kind == "pair" and tokenizer.source.vocab_size == tokenizer.vocab_size == 300
    assert header["source_vocab_size"] == 300 and train_split.longest() <= 9
    assert any("over 9 tokens" in reason for reason in report.dropped)


def test_bucketed_batches_cover_each_epoch_once_and_pack_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 30, 1000)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    arrays = {"source_ids": np.zeros(offsets[-1], np.int64), "source_offsets": offsets,
              "target_ids": np.zeros(offsets[-1], np.int64), "target_offsets": offsets}
    from lanternlm.data.pairs import PairSplit

    split = PairSplit(arrays, eot=0)
    sampler = BucketedPairs(split, 16, seed=3)
    epoch = sampler.starts(0, sampler.per_epoch)
    assert len(set(epoch.tolist())) == sampler.per_epoch == 992  # each pair at most once; 1000 % 16 wait
    assert torch.equal(sampler.starts(16 * 7, 16), BucketedPairs(split, 16, seed=3).starts(16 * 7, 16))
    assert not torch.equal(sampler.starts(0, 16), sampler.starts(sampler.per_epoch, 16))  # a new order each epoch
    spread = [np.ptp(lengths[b]) for b in epoch.view(-1, 16).numpy()]
    random_spread = [np.ptp(lengths[b]) for b in np.random.default_rng(1).permutation(992).reshape(-1, 16)]
    assert np.mean(spread) < 0.25 * np.mean(random_spread)  # similar lengths: little padding


def test_the_trainer_overfits_a_handful_of_pairs_to_exact_translations(overfit_run, data):
    records = read_metrics(overfit_run / "metrics.jsonl")
    steps = [r for r in records if "loss" in r]
    assert steps[-1]["loss"] < 0.05 < steps[0]["loss"]
    assert {"tokens_per_sec", "epoch"} <= steps[-1].keys()
    assert (overfit_run / "loss.png").is_file()
    run = load_run(overfit_run)
    engine = Engine(run.model, run.tokenizer)
    train_pairs = read_pairs(data / "train.tsv")
    for beam in (1, 3):
        config = GenerationConfig(max_new_tokens=40, temperature=0.0, num_beams=beam)
        results = translate(engine, [s for s, _ in train_pairs], config, batch_size=3)
        assert [r.text for r in results] == [t for _, t in train_pairs]


def test_save_load_same_translations(overfit_run, data, tmp_path):
    """The trained model in memory, reloaded from its run directory and from its checkpoint translate alike."""
    from lanternlm.config import ModelConfig  # noqa: F401  (the run's config is read back from config.toml)
    from lanternlm.models import build_model
    from lanternlm.runs import load_weights

    run = load_run(overfit_run)
    sources = [s for s, _ in read_pairs(data / "val.tsv")] + ["Where are you?", "I am happy."]
    config = GenerationConfig(max_new_tokens=20, temperature=0.0)
    texts = [r.text for r in translate(Engine(run.model, run.tokenizer), sources, config)]
    again = load_run(overfit_run)
    assert [r.text for r in translate(Engine(again.model, again.tokenizer), sources, config)] == texts
    model = build_model(run.config.model).eval()
    load_weights(model, list_checkpoints(overfit_run / "checkpoints")[-1] / "model.safetensors")
    assert [r.text for r in translate(Engine(model, run.tokenizer), sources, config)] == texts


def test_translate_command_batches_beam_and_alignment(overfit_run, data, tmp_path, capsys):
    train_pairs = read_pairs(data / "train.tsv")
    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(s for s, _ in train_pairs) + "\n", encoding="utf-8")
    assert main(["translate", str(overfit_run), "--input", str(lines), "--beam", "4", "--batch-size", "2", "-q"]) == 0
    assert capsys.readouterr().out.splitlines() == [t for _, t in train_pairs]
    png = tmp_path / "align.png"
    assert main(["translate", str(overfit_run), train_pairs[0][0], "--alignment", str(png), "--layer", "1"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = load_run(overfit_run)
    engine = Engine(run.model, run.tokenizer)
    result = translate(engine, [train_pairs[0][0]], GenerationConfig(temperature=0.0))[0]
    weights = alignment(engine, result)
    assert weights.shape == (2, 4, len(result.target_ids) + 1, len(result.source_ids))
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:3]))


def test_eval_pairs_reports_bleu_chrf_and_loss(overfit_run, data, capsys):
    import sacrebleu

    assert main(["eval", str(overfit_run), "--pairs", str(data / "train.tsv"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "BLEU 100.00, chrF 100.00" in out and "nats/target token" in out
    assert main(["eval", str(overfit_run), "-q"]) == 0  # default: the run's own validation pairs
    from lanternlm.eval.translation import score_translations

    run = load_run(overfit_run)
    pairs = read_pairs(data / "val.tsv") + [("Thank you.", "Merci beaucoup.")]
    score = score_translations(Engine(run.model, run.tokenizer), pairs, GenerationConfig(temperature=0.0))
    hypotheses = [t for _, _, t in score.samples]
    assert score.bleu == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [[r for _, r in pairs]]).score)


def test_eval_beam_takes_the_length_penalty(overfit_run, data, capsys, monkeypatch):
    """`lantern eval --beam N --length-penalty L` scores the translations `lantern translate` gives with them."""
    import lanternlm.eval.translation as translation

    configs = []
    real = translation.score_translations
    monkeypatch.setattr(translation, "score_translations", lambda engine, pairs, config, **kw: (
        configs.append(config), real(engine, pairs, config, **kw))[1])
    assert main(["eval", str(overfit_run), "--beam", "3", "--length-penalty", "2.5", "-q"]) == 0
    assert "(beam 3, length penalty 2.5)" in capsys.readouterr().out
    assert [(c.num_beams, c.length_penalty) for c in configs] == [(3, 2.5)]


def one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_is_one_line_and_exit_2(overfit_run, tmp_path, tiny_run, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("Hello\tBonjour\nonly one column\n", encoding="utf-8")
    assert "bad.tsv:2" in one_line_error(["prepare", "--pairs", str(bad), "--out", str(tmp_path / "d")], capsys)
    assert "need 3" in one_line_error(["prepare", "--pairs", str(bad), "--target-column", "2", "--out",
                                        str(tmp_path / "d")], capsys)
    assert "empty" in one_line_error(["translate", str(overfit_run), "  "], capsys)
    empty_line = tmp_path / "lines.txt"
    empty_line.write_text("Hello\n\nThanks\n", encoding="utf-8")
    assert "lines.txt:2" in one_line_error(["translate", str(overfit_run), "--input", str(empty_line)], capsys)
    assert "num_beams" in one_line_error(["translate", str(overfit_run), "Hello", "--beam", "0"], capsys)
    assert "no encoder" in one_line_error(["translate", str(tiny_run), "Hello"], capsys)
    assert "encoder–decoder" in one_line_error(["sample", str(overfit_run), "-n", "5"], capsys)
    assert "encoder–decoder" in one_line_error(["next", str(overfit_run), "Hello"], capsys)
    assert "no encoder" in one_line_error(["eval", str(tiny_run), "--pairs", str(bad)], capsys)
    assert "tokens; this model reads at most" in one_line_error(["translate", str(overfit_run), "word " * 40],
                                                                capsys)
    assert "no Hugging Face equivalent" in one_line_error(["convert", "to-hf", str(overfit_run), "--out",
                                                      str(tmp_path / "hf")], capsys)
    assert "--alignment draws one" in one_line_error(["translate", str(overfit_run), "A", "B", "--alignment",
                                                      str(tmp_path / "a.png")], capsys)


def test_inspect_params_counts_the_encoder_decoder(capsys):
    """The sizing formulas (cross-attention in every decoder block) equal the built model's parameters."""
    from lanternlm.config import load_preset
    from lanternlm.inspect.params import count_parameters
    from lanternlm.models import build_model

    for overrides in ({}, {"share_embeddings": False, "source_vocab_size": 300, "tie_embeddings": False},
                      {"n_encoder_layer": 2, "n_decoder_layer": 1, "position": "rope", "activation": "swiglu"}):
        config = load_preset("translate-en-fr-cpu").model
        config.vocab_size = 500
        for name, value in overrides.items():
            setattr(config, name, value)
        assert count_parameters(config).total == build_model(config).num_parameters()
    assert main(["inspect", "params", "--preset", "translate-en-fr-cpu", "--set", "vocab_size=4000"]) == 0
    assert "encoder + " in capsys.readouterr().out


def test_a_pairs_directory_trains_only_a_seq2seq_model(data, tmp_path):
    with pytest.raises(LanternError, match="sentence pairs"):
        train(resolve_config(overrides=["n_layer=1", f"data.data_dir={data}"]), tmp_path / "gpt", quiet=True)


@pytest.mark.slow
def test_hard_kill_and_resume_gives_identical_losses(data, tmp_path):
    overrides = TRANSLATION_OVERRIDES + ["max_iters=60", "checkpoint_interval=30", "eval_interval=30", "dropout=0.1",
                        "label_smoothing=0.1", f"data.data_dir={data}"]
    args = ["train", "-q"] + [x for o in overrides for x in ("--set", o)]
    straight = tmp_path / "straight"
    assert run_cli(*args, "--out", str(straight)).returncode == 0

    killed = tmp_path / "killed"
    run_and_kill(args, killed, after_step=40)
    assert [p.name for p in list_checkpoints(killed / "checkpoints")] == ["step-0000030"]
    assert run_cli("train", "--out", str(killed), "--resume", "-q").returncode == 0

    def losses(run):
        return [(r["step"], r["loss"]) for r in read_metrics(run / "metrics.jsonl") if "loss" in r]

    assert len(losses(straight)) == 6  # log_interval 10
    assert losses(killed) == losses(straight)  # bit-for-bit the same trajectory
