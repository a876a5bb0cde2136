"""The bad-input corpus of the commands that load a run and generate, serve or encode: every case is exit code 2
and exactly one line on stderr starting with "error:", never a traceback (the training and file-writing commands
have their own corpus in test_bad_input_training.py). Runs are broken every way a user meets: missing,
not a run, a corrupt config, no weights, unreadable or truncated weights, weights full of NaN; encoder runs
too, for `lantern fill`, `lantern embed sentences | search | similarity | contextual` and `serve --index`."""

from __future__ import annotations

import io
import os
import shlex
import shutil
import socket

import pytest
import torch
from safetensors.torch import load_file, save_file

from lanternlm.cli import main

GENERATING = [("sample", ["-n", "3"]), ("next", ["ROMEO:"]), ("chat", []), ("eval", []),
              ("serve", ["--port", "1"]), ("convert", None), ("sample", ["-n", "3", "--num-beams", "2"]),
              ("trace", ["ROMEO:"]), ("quantize", ["--out"]), ("translate", ["Hello"]),
              ("eval", ["--pairs", "pairs.tsv"])]


def expect_one_line_error(capsys, argv, contains: str = "") -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, f"lantern {' '.join(argv)} -> exit {code}: {err}"
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert contains.lower() in err.lower(), err
    return err


def copy_run(source, target):
    target.mkdir()
    for item in ("config.toml", "tokenizer.json", "model.safetensors"):
        (target / item).write_bytes((source / item).read_bytes())
    return target


def break_run(kind: str, tiny_run, root):
    """A run directory broken in one way, and a word the error must contain."""
    run = root / kind
    if kind == "missing":
        return run, "not found"
    if kind == "not-a-run":
        run.mkdir()
        return run, "not a Lantern run"
    run = copy_run(tiny_run, run)
    if kind == "corrupt-config":
        (run / "config.toml").write_text("[model\nn_layer = ")
    elif kind == "unknown-config-key":
        (run / "config.toml").write_text((run / "config.toml").read_text() + "\n[extra]\nx = 1\n")
        return run, "unknown section"
    elif kind == "no-weights":
        (run / "model.safetensors").unlink()
        return run, "no trained weights"
    elif kind == "truncated-weights":
        data = (run / "model.safetensors").read_bytes()
        (run / "model.safetensors").write_bytes(data[: len(data) // 2])
        return run, "cannot read weights"
    elif kind == "nan-weights":
        tensors = load_file(run / "model.safetensors")
        name = next(iter(tensors))
        tensors[name] = torch.full_like(tensors[name], float("nan"))
        save_file(tensors, run / "model.safetensors")
        return run, "NaN"
    elif kind == "wrong-shape-weights":
        tensors = load_file(run / "model.safetensors")
        name = next(iter(tensors))
        tensors[name] = torch.zeros(3, 3)
        save_file(tensors, run / "model.safetensors")
        return run, "do not match"
    elif kind == "no-tokenizer":
        (run / "tokenizer.json").unlink()
        return run, "tokenizer"
    elif kind == "corrupt-tokenizer":
        (run / "tokenizer.json").write_text('{"format": "lantern-tokenizer", "version"')
        return run, "tokenizer"
    return run, "not valid TOML"


BROKEN = ["missing", "not-a-run", "corrupt-config", "unknown-config-key", "no-weights", "truncated-weights",
          "nan-weights", "wrong-shape-weights", "no-tokenizer", "corrupt-tokenizer"]


CASES = [(kind, command, extra) for kind in BROKEN for command, extra in GENERATING
         if not (command == "convert" and kind in ("nan-weights", "no-tokenizer"))]  # exported faithfully


@pytest.mark.parametrize("kind, command, extra", CASES)
def test_broken_runs(capsys, monkeypatch, tiny_run, tmp_path, kind, command, extra):
    run, word = break_run(kind, tiny_run, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n"))
    argv = ["convert", "to-hf", str(run), "--out", str(tmp_path / "hf")] if extra is None else [command, str(run), *extra]
    if command == "serve" and kind in ("nan-weights",):
        argv[-1] = str(free_port())
    if command == "quantize":
        argv.append(str(tmp_path / "int8"))
    expect_one_line_error(capsys, argv, word)


SAMPLE_OPTIONS = [
    (["-t", "nan"], "temperature"), (["-t", "inf"], "temperature"), (["-t", "-0.5"], "temperature"),
    (["-t", "x"], "temperature"), (["--top-k", "-1"], "top_k"), (["--top-p", "0"], "top_p"),
    (["--top-p", "1.5"], "top_p"), (["--top-p", "nan"], "top_p"), (["--min-p", "-0.1"], "min_p"),
    (["--min-p", "2"], "min_p"), (["--repetition-penalty", "0"], "repetition_penalty"),
    (["--repetition-penalty", "-1"], "repetition_penalty"), (["--repetition-penalty", "inf"], "repetition_penalty"),
    (["--presence-penalty", "nan"], "presence_penalty"), (["--frequency-penalty", "inf"], "frequency_penalty"),
    (["--frequency-penalty", "-inf"], "frequency_penalty"), (["-n", "0"], "max_new_tokens"),
    (["-n", "-5"], "max_new_tokens"), (["-n", "1e23"], "max-new-tokens"), (["-n", "100000000000"], "max_new_tokens"),
    (["-n", "abc"], "max-new-tokens"), (["--seed", "1e26"], "seed"), (["--seed", "-1"], "seed"),
    (["--seed", str(2**64)], "seed"), (["--num-beams", "0"], "num_beams"), (["--num-beams", "100000"], "num_beams"),
    (["--num-beams", "2", "--length-penalty", "nan"], "length_penalty"), (["--stop", ""], "stop"),
    (["--stop", "x" * 1001], "stop"), (["--prompt", ""], "empty"), (["--prompt", "日本語"], "not in the vocabulary"),
    (["--device", "cuda:7"], "cuda"), (["--device", "quantum"], "unknown device"), (["--bogus"], "no such option"),
    (["--top-k"], "requires an argument"),
]


@pytest.mark.parametrize("options, word", SAMPLE_OPTIONS)
def test_sample_options(capsys, tiny_run, options, word):
    expect_one_line_error(capsys, ["sample", str(tiny_run), *options], word)


NEXT_OPTIONS = [(["ROMEO:", "-t", "0"], "temperature"), (["ROMEO:", "-t", "-1"], "temperature"),
                (["ROMEO:", "-t", "nan"], "temperature"), (["ROMEO:", "-t", "inf"], "temperature"),
                (["ROMEO:", "--top", "0"], "--top"), (["ROMEO:", "--top", "-3"], "--top"), ([""], "empty"),
                (["日本"], "not in the vocabulary"), ([], "missing argument")]


@pytest.mark.parametrize("options, word", NEXT_OPTIONS)
def test_next_options(capsys, tiny_run, options, word):
    expect_one_line_error(capsys, ["next", str(tiny_run), *options], word)


TRACE_OPTIONS = [([""], "the text to trace is empty"), (["ROMEO:", "-t", "0"], "temperature"),
                 (["ROMEO:", "-t", "-1"], "temperature"), (["ROMEO:", "-t", "nan"], "temperature"),
                 (["ROMEO:", "-t", "inf"], "temperature"), (["ROMEO:", "--top", "0"], "top"),
                 (["日本"], "not in the vocabulary"), ([], "missing argument")]


@pytest.mark.parametrize("options, word", TRACE_OPTIONS)
def test_trace_options(capsys, tiny_run, options, word):
    expect_one_line_error(capsys, ["trace", str(tiny_run), *options], word)


CHAT_OPTIONS = [(["-t", "nan"], "temperature"), (["-t", "-1"], "temperature"), (["--top-p", "0"], "top_p"),
                (["-n", "0"], "max_new_tokens"), (["--repetition-penalty", "0"], "repetition_penalty"),
                (["--seed", "-4"], "seed"), (["--system"], "requires an argument")]


@pytest.mark.parametrize("options, word", CHAT_OPTIONS)
def test_chat_options(capsys, monkeypatch, tiny_run, options, word):
    monkeypatch.setattr("sys.stdin", io.StringIO("Hi\n"))
    expect_one_line_error(capsys, ["chat", str(tiny_run), *options], word)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE_OPTIONS = [(["--port", "0"], "--port"), (["--port", "70000"], "--port"), (["--port", "-1"], "--port"),
                 (["--threads", "0"], "--threads"), (["--timeout", "nan"], "request_timeout"),
                 (["--timeout", "-1"], "request_timeout"), (["--timeout", "inf"], "request_timeout"),
                 (["--max-tokens", "0"], "max_new_tokens"), (["--max-body", "0"], "max_body_bytes"),
                 (["--host", "nosuch.invalid"], "unknown host"), (["--host", "10.255.255.1"], "cannot listen"),
                 (["--device", "cuda"], "cuda"), (["--vectors", "no-such.vec"], "vector file not found")]


@pytest.mark.parametrize("options, word", SERVE_OPTIONS)
def test_serve_options(capsys, tiny_run, options, word):
    port = [] if "--port" in options else ["--port", str(free_port())]
    expect_one_line_error(capsys, ["serve", str(tiny_run), *port, *options], word)


def test_serve_port_in_use_and_privileged_port(capsys, tiny_run):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        expect_one_line_error(capsys, ["serve", str(tiny_run), "--port", str(port)], "address already in use")
    if os.geteuid() != 0:  # root may bind port 80
        expect_one_line_error(capsys, ["serve", str(tiny_run), "--port", "80"], "permission denied")


def test_serve_two_runs_with_one_name(capsys, tiny_run, tmp_path):
    twin = copy_run(tiny_run, tmp_path / tiny_run.name)
    expect_one_line_error(capsys, ["serve", str(tiny_run), str(twin), "--port", str(free_port())], "both named")


@pytest.fixture(scope="module")
def int8_run(tiny_run, tmp_path_factory):
    pytest.importorskip("lanternlm.nn.quantized").int8_kernels_available() or pytest.skip("no int8 kernels")
    out = tmp_path_factory.mktemp("quantized") / "int8"
    assert main(["quantize", str(tiny_run), "--out", str(out)]) == 0
    return out


INT8_CASES = [  # (argv with {run} the float run, {int8} its quantized copy, {tmp} a fresh folder; word)
    (["quantize", "{int8}", "--out", "{tmp}/twice"], "already quantized"),
    (["quantize", "{run}", "--out", "{int8}"], "not an empty folder"),
    (["quantize", "{run}", "--out", "{run}/config.toml"], "not an empty folder"),
    (["quantize", "{run}"], "--out"),
    (["sample", "{run}", "--dtype", "int4"], "int8"),
    (["sample", "{run}", "--dtype", "int8", "--device", "cuda"], "cuda"),
    (["eval", "{run}", "--dtype", "fp8"], "int8"),
    (["serve", "{run}", "--dtype", "int16"], "int8"),
    (["train", "--out", "{tmp}/ft", "--init-from", "{int8}", "--set", "max_iters=2"], "int8"),
]


@pytest.mark.parametrize("argv, word", INT8_CASES)
def test_int8_options(capsys, tiny_run, int8_run, tmp_path, argv, word):
    values = {"run": str(tiny_run), "int8": str(int8_run), "tmp": str(tmp_path)}
    expect_one_line_error(capsys, [arg.format(**values) for arg in argv], word)


# ------------------------------------------------------------------ encoder commands: fill, embed, serve --index
ENCODING = [("fill", ["the [MASK] sat"]), ("embed sentences", ["-i", "{texts}", "-o", "{new}"]),
            ("embed search", ["--index", "{index}", "-q", "a horse"]), ("eval", [])]  # similarity, contextual: as fill


@pytest.fixture(scope="module")
def encoder_files(tiny_bert_run, tmp_path_factory) -> dict[str, str]:
    """Inputs for the encoder commands: texts, an index made with the tiny BERT, and broken ones."""
    from lanternlm.config import ModelConfig
    from lanternlm.encode import save_index

    root = tmp_path_factory.mktemp("encoder-bad-input")
    files = {name: root / name for name in ("texts.txt", "records.jsonl", "empty.txt", "empty0.txt", "latin1.txt",
                                            "index", "other-dim", "damaged", "notes")}
    files["texts.txt"].write_text("a horse\nmy kingdom for a horse\n")
    files["records.jsonl"].write_text('{"text": "a horse"}\n')
    files["empty.txt"].write_text("\n  \n")
    files["empty0.txt"].write_bytes(b"")
    files["latin1.txt"].write_bytes("caf\xe9\n".encode("latin-1"))
    assert main(["embed", "sentences", str(tiny_bert_run), "-i", str(files["texts.txt"]), "-o", str(files["index"]),
                 "-q"]) == 0
    save_index(files["other-dim"], ["a", "b"], torch.randn(2, 7), "/elsewhere/run", ModelConfig())
    shutil.copytree(files["index"], files["damaged"])
    vectors = files["damaged"] / "vectors.safetensors"
    vectors.write_bytes(vectors.read_bytes()[:40])
    files["notes"].mkdir()
    (files["notes"] / "thesis.txt").write_text("years of work")
    return {"root": str(root), **{name.split(".")[0].replace("-", "_"): str(path) for name, path in files.items()}}


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("command, extra", ENCODING)
def test_broken_encoder_runs(capsys, tiny_bert_run, encoder_files, tmp_path, kind, command, extra):
    run, word = break_run(kind, tiny_bert_run, tmp_path)
    names = {**encoder_files, "new": str(tmp_path / "vecs")}
    expect_one_line_error(capsys, [*command.split(), str(run), *[a.format(**names) for a in extra]], word)
    assert not (tmp_path / "vecs").exists()


ENCODER_OPTIONS = [  # shell words
    ("fill {bert} 'no mask here'", 'has no [MASK]'),
    ("fill {bert} ''", 'has no [MASK]'),
    ("fill {bert} 'the [mask] sat'", 'has no [MASK]'),
    ("fill {bert} 'the [MASK]' --top 0", '--top'),
    ("fill {bert} {long}", 'the model reads at most 32'),
    ("fill {bert} 'the [MASK]' --top x", '--top'),
    ("fill {bert}", 'missing argument'),
    ("fill {bert} 'the [MASK]' --device quantum", 'unknown device'),
    ("fill {gpt} 'the [MASK] sat'", 'need an encoder'),
    ("embed sentences {gpt} -i {texts} -o {new}", 'need an encoder'),
    ("embed sentences {bert} -i {empty} -o {new}", 'no texts to embed'),
    ("embed sentences {bert} -i {empty0} -o {new}", 'no texts to embed'),
    ("embed sentences {bert} -i {missing} -o {new}", 'not found'),
    ("embed sentences {bert} -i {root} -o {new}", 'is a folder'),
    ("embed sentences {bert} -i {latin1} -o {new}", 'not UTF-8'),
    ("embed sentences {bert} -i {texts} --field text -o {new}", 'not a JSON object'),
    ("embed sentences {bert} -i {records} --field body -o {new}", "no text field 'body'"),
    ("embed sentences {bert} -i {texts} -o {index}", '--force'),
    ("embed sentences {bert} -i {texts} -o {notes}", 'does not hold a sentence index'),
    ("embed sentences {bert} -i {texts} -o {texts}", 'is a file'),
    ("embed sentences {bert} -i {texts} -o {texts}/vecs", 'is a file, not a folder'),
    ("embed sentences {bert} -i {texts} -o {new} --batch-size 0", '--batch-size'),
    ("embed sentences {bert} -i {texts}", 'missing option'),
    ("embed search {bert} --index {missing} -q 'a horse'", 'not a sentence index'),
    ("embed search {bert} --index {notes} -q 'a horse'", 'not a sentence index'),
    ("embed search {bert} --index {other_dim} -q 'a horse'", 'holds 7-dimensional vectors'),
    ("embed search {bert} --index {damaged} -q 'a horse'", 'damaged sentence index'),
    ("embed search {bert} --index {index} -q ' '", '--query is empty'),
    ("embed search {bert} --index {index} -q 'a horse' --top 0", '--top'),
    ("embed search {bert} --index {index}", 'missing option'),
    ("embed search {gpt} --index {index} -q 'a horse'", 'need an encoder'),
    ("embed similarity {bert} 'only one'", 'two or more texts'),
    ("embed similarity {bert} 'a horse' ''", 'text 2 is empty'),
    ("embed similarity {gpt} 'a horse' 'a cow'", 'need an encoder'),
    ("embed contextual {bert} 'a horse' 'my kingdom' --word horse", 'sentence 2 does not contain'),
    ("embed contextual {bert} 'a horse' 'a horse' --word ' '", '--word must be a word'),
    ("embed contextual {bert} 'a horse' --word horse", 'two or more sentences'),
    ("embed contextual {bert} 'a horse' ' ' --word horse", 'sentence 2 is empty'),
    ("embed contextual {bert} 'a horse' 'the horse'", 'missing option'),
    ("eval {bert} --stride 4", '--stride and --tokens are for next-token scoring'),
    ("eval {bert} --tokens", '--stride and --tokens are for next-token scoring'),
    ("sample {bert} -n 3", 'does not generate text'),
    ("next {bert} 'a horse'", 'does not generate'),
    ("serve {bert} --index {missing}", 'not a sentence index'),
    ("serve {bert} --index {damaged}", 'damaged sentence index'),
    ("serve {bert} --index {other_dim}", 'no served encoder made this index'),
    ("serve {gpt} --index {index}", 'no served encoder made this index'),
]


@pytest.mark.parametrize("command, word", ENCODER_OPTIONS, ids=[c[:60] for c, _ in ENCODER_OPTIONS])
def test_encoder_options(capsys, tiny_bert_run, tiny_run, encoder_files, tmp_path, command, word):
    names = {**encoder_files, "bert": str(tiny_bert_run), "gpt": str(tiny_run), "new": str(tmp_path / "vecs"),
             "missing": str(tmp_path / "nope"), "long": "the horse " * 20 + "[MASK]"}
    argv = [a.format(**names) for a in shlex.split(command)]
    port = ["--port", str(free_port())] if argv[0] == "serve" else []
    expect_one_line_error(capsys, argv + port, word)
    assert not (tmp_path / "vecs").exists() and not (tmp_path / "nope").exists()


@pytest.fixture(scope="module")
def seq2seq_run(translation_run, tmp_path_factory):
    """The encoder–decoder run and files to point `translate` and `eval --pairs` at."""
    root = tmp_path_factory.mktemp("seq2seq-bad")
    (root / "lines.txt").write_text("Hello\n\nThanks\n", encoding="utf-8")
    (root / "empty-source.tsv").write_text("Hello\tBonjour\n \tMerci\n", encoding="utf-8")
    (root / "one-column.tsv").write_text("Hello\tBonjour\nonly one column\n", encoding="utf-8")
    (root / "a-file").write_text("not a folder")
    return translation_run[0], root


TRANSLATE_OPTIONS = [
    ([], "give the sentences to translate"), (["  "], "source is empty"), (["Hello", ""], "source 2 is empty"),
    (["word " * 40], "this model reads at most"), (["Hello", "--beam", "0"], "num_beams"),
    (["Hello", "--beam", "-2"], "num_beams"), (["Hello", "--beam", "100000"], "num_beams"),
    (["Hello", "--beam", "2", "--length-penalty", "nan"], "length_penalty"), (["Hello", "-t", "-1"], "temperature"),
    (["Hello", "-t", "nan"], "temperature"), (["Hello", "--top-p", "0"], "top_p"), (["Hello", "--seed", "-1"], "seed"),
    (["Hello", "-n", "-1"], "max_new_tokens"), (["Hello", "--batch-size", "0"], "--batch-size"),
    (["Hello", "--input", "{root}/lines.txt"], "one of them"), (["--input", "{root}/lines.txt"], "lines.txt:2: empty"),
    (["--input", "{root}/nope.txt"], "not found"), (["Hello", "--layer", "0"], "give --alignment"),
    (["A", "B", "--alignment", "{root}/a.png"], "--alignment draws one translation"),
    (["Hello", "--alignment", "{root}/a.png", "--layer", "9"], "--layer must be in 0..1"),
    (["Hello", "--alignment", "{root}/a.png", "--head", "0"], "--head needs --layer"),
    (["Hello", "--alignment", "{root}/a.png", "--layer", "0", "--head", "4"], "--head must be in 0..3"),
    (["Hello", "--alignment", "{root}"], "is a folder"), (["Hello", "--alignment", "{root}/a-file/a.png"], "is a file"),
    (["Hello", "--device", "quantum"], "unknown device"), (["Hello", "--bogus"], "no such option"),
]


@pytest.mark.parametrize("options, word", TRANSLATE_OPTIONS)
def test_translate_options(capsys, seq2seq_run, options, word):
    run, root = seq2seq_run
    expect_one_line_error(capsys, ["translate", str(run), *(o.format(root=root) for o in options)], word)
    assert not (root / "a.png").exists()


ENCODER_DECODER_ELSEWHERE = [
    ("sample {run} -n 3", "encoder–decoder"), ("sample {run} -n 3 --num-beams 2", "encoder–decoder"),
    ("next {run} Hello", "encoder–decoder"), ("chat {run}", "encoder–decoder"),
    ("trace {run} Hello", "encoder–decoder"),
    ("eval {run} --tokens", "a translation run takes --pairs"), ("eval {run} --stride 4", "takes --pairs"),
    ("eval {run} --pairs {root}/empty-source.tsv", "pair 2 has an empty source"),
    ("eval {run} --pairs {root}/one-column.tsv", "one-column.tsv:2"),
    ("eval {run} --pairs {root}/one-column.tsv --target-column 5", "need 6"),
    ("eval {run} --beam 0", "num_beams"), ("eval {run} --limit -1", "--limit"),
    ("eval {run} --beam 2 --length-penalty nan", "length_penalty"),
    ("convert to-hf {run} --out {root}/hf", "no Hugging Face equivalent"),
]


@pytest.mark.parametrize("command, word", ENCODER_DECODER_ELSEWHERE)
def test_an_encoder_decoder_run_where_one_text_is_expected(capsys, monkeypatch, seq2seq_run, command, word):
    """Commands that continue or score one text refuse a translation model in one line (it needs a source)."""
    run, root = seq2seq_run
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n"))
    expect_one_line_error(capsys, [part.format(run=run, root=root) for part in command.split()], word)


def test_a_decoder_only_run_does_not_translate(capsys, tiny_run, seq2seq_run):
    expect_one_line_error(capsys, ["translate", str(tiny_run), "Hello"], "no encoder")
    expect_one_line_error(capsys, ["eval", str(tiny_run), "--pairs", str(seq2seq_run[1] / "one-column.tsv")],
                          "no encoder")
