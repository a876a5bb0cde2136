"""One road through generation, seen from its entrances: the CLI REPL and /v1/chat/completions build the same
chat prompt and stops (char, byte-level BPE and ChatML tokenizers), and generation settings are validated
exactly once at each entry (Python call, CLI command, HTTP request) and trusted inside."""

from __future__ import annotations

import io

import pytest
import torch

from lanternlm.cli import main
from lanternlm.config import ModelConfig, RunConfig
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.generate.chat import IM_END, IM_START
from lanternlm.io import write_text_atomic
from lanternlm.models import build_model
from lanternlm.runs import RunPaths, save_weights
from lanternlm.tokenizers import BPETokenizer, CharTokenizer

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from lanternlm.serve import create_app, load_models  # noqa: E402

TOKENIZERS = {
    "char": lambda: CharTokenizer(sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:!? \n"))),
    "bpe": lambda: BPETokenizer([(104, 105)], special_tokens={"<|endoftext|>": 257}),
    "chatml": lambda: BPETokenizer([], special_tokens={"<|endoftext|>": 256, IM_START: 257, IM_END: 258}),
}


def make_run(root, tokenizer) -> str:
    """A loadable run with random weights and a 48-token context (so long histories get trimmed)."""
    torch.manual_seed(0)
    config = RunConfig(model=ModelConfig(vocab_size=tokenizer.vocab_size, block_size=48, n_layer=1, n_head=2,
                                         n_embd=16))
    paths = RunPaths(root)
    paths.root.mkdir(parents=True)
    write_text_atomic(paths.config, config.to_toml())
    tokenizer.save(paths.tokenizer)
    save_weights(build_model(config.model), paths.weights)
    return str(root)


@pytest.fixture
def record_rows(monkeypatch):
    """Record what reaches the decoding loop's text form (rows and settings), then run it for real."""
    calls = []
    original = Engine.stream_rows

    def recording(self, rows, config, session=None):
        calls.append(([list(r) for r in rows], config))
        return original(self, rows, config, session)

    monkeypatch.setattr(Engine, "stream_rows", recording)
    return calls


@pytest.fixture
def count_validations(monkeypatch):
    calls = []
    original = GenerationConfig.validate
    monkeypatch.setattr(GenerationConfig, "validate", lambda self: calls.append(1) or original(self))
    return calls


HISTORY = ["Hello there", "How are you today?", "Tell me a story about a cat."]  # grows past the 48 tokens


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_cli_chat_and_the_server_build_the_same_prompt_and_stops(tmp_path, monkeypatch, capsys, record_rows, kind):
    run = make_run(tmp_path / kind, TOKENIZERS[kind]())
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(HISTORY) + "\n"))
    assert main(["chat", run, "-n", "8", "--seed", "3", "--system", "Be brief."]) == 0
    replies = [line[len("assistant> "):] for line in capsys.readouterr().out.splitlines() if line.startswith("assistant")]
    cli_calls = list(record_rows)
    assert len(cli_calls) == len(HISTORY)
    record_rows.clear()

    messages = [{"role": "system", "content": "Be brief."}]
    with TestClient(create_app(load_models([run], torch.device("cpu")))) as client:
        for turn, line in enumerate(HISTORY):
            messages.append({"role": "user", "content": line})
            response = client.post("/v1/chat/completions", json={"model": kind, "messages": messages,
                                                                   "max_tokens": 8, "seed": 3 + turn})
            assert response.status_code == 200, response.text
            messages.append({"role": "assistant", "content": replies[turn]})
    assert len(record_rows) == len(HISTORY)
    for (cli_rows, cli_config), (api_rows, api_config) in zip(cli_calls, record_rows):
        assert cli_rows == api_rows
        assert (cli_config.stop, cli_config.stop_tokens) == (api_config.stop, api_config.stop_tokens)
    assert len(cli_calls[-1][0][0]) < len(cli_calls[0][0][0]) + 60  # the history was trimmed to the budget
    stops = cli_calls[0][1]
    if kind == "chatml":
        assert stops.stop == () and stops.stop_tokens == (258, 256)  # <|im_end|>, then end-of-text
    elif kind == "bpe":
        assert stops.stop == ("\n\n",) and stops.stop_tokens == (257,)
    else:
        assert stops.stop == ("\n\n",) and stops.stop_tokens == ()


def test_settings_are_validated_once_per_cli_command_and_http_request(tmp_path, monkeypatch, capsys,
                                                                     count_validations):
    run = make_run(tmp_path / "run", TOKENIZERS["char"]())
    assert main(["sample", run, "-p", "Hi", "-n", "5", "--seed", "1"]) == 0
    assert len(count_validations) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\nAgain\n"))
    assert main(["chat", run, "-n", "5"]) == 0
    assert len(count_validations) == 2  # once for the session, not once per turn
    with TestClient(create_app(load_models([run], torch.device("cpu")))) as client:
        count_validations.clear()
        assert client.post("/v1/completions", json={"model": "run", "prompt": "Hi", "max_tokens": 4}).status_code == 200
        assert len(count_validations) == 1
        body = {"model": "run", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": True}
        assert "[DONE]" in client.post("/v1/chat/completions", json=body).text
        assert len(count_validations) == 2
