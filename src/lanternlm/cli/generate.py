"""`lantern sample`, `lantern next` and `lantern chat`: generate from a trained run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .options import DEVICE, WEIGHTS

MAX_NEW_TOKENS = typer.Option(500, "--max-new-tokens", "-n", help="Number of tokens to generate.")
TEMPERATURE = typer.Option(0.8, "--temperature", "-t", help="Softmax temperature; 0 = greedy.")
TOP_K = typer.Option(0, "--top-k", "-k", help="Sample only from the k most likely tokens; 0 = all.")
TOP_P = typer.Option(1.0, "--top-p", help="Nucleus sampling: the smallest set of tokens with this much probability; 1 = all.")
MIN_P = typer.Option(0.0, "--min-p", help="Drop tokens less likely than min_p x the top token's probability; 0 = off.")
REPETITION = typer.Option(1.0, "--repetition-penalty", help="θ > 1 makes tokens already seen less likely (HF convention); 1 = off.")
PRESENCE = typer.Option(0.0, "--presence-penalty", help="Subtract this from the logits of tokens already generated.")
FREQUENCY = typer.Option(0.0, "--frequency-penalty", help="Subtract this times the count of each generated token.")
SEED = typer.Option(None, help="Random seed, for a repeatable sample.")


def load_engine(run: Path, device: Optional[str], dtype: Optional[str] = None):
    from ..device import resolve_device
    from ..generate import Engine
    from ..runs import load_run

    loaded = load_run(run, resolve_device(device or ("cpu" if dtype == "int8" else "auto")), quantize=dtype)
    return Engine(loaded.model, loaded.tokenizer)


def stream_to_terminal(engine, prompt: str, config) -> None:
    """Print the prompt, then the continuation as it is generated, then the statistics (config validated)."""
    pieces = engine.stream_text(engine.encode_prompt(prompt), config)
    sys.stdout.write(prompt)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    print(f"[{pieces.stats.summary()}]", file=sys.stderr)


@app.command("sample")
def sample_command(
    run: Path = typer.Argument(..., help="Run directory."),
    prompt: str = typer.Option("\n", "--prompt", "-p", help="Text to continue; longer than the context, only its last block_size tokens are used."),
    max_new_tokens: int = MAX_NEW_TOKENS,
    temperature: float = TEMPERATURE,
    top_k: int = TOP_K,
    top_p: float = TOP_P,
    min_p: float = MIN_P,
    repetition_penalty: float = REPETITION,
    presence_penalty: float = PRESENCE,
    frequency_penalty: float = FREQUENCY,
    num_beams: int = typer.Option(1, "--num-beams", help="Beam search with this many beams (deterministic; ignores sampling options); 1 = off."),
    length_penalty: float = typer.Option(1.0, "--length-penalty", help="Beam score = log p / length^this; > 0 favours longer outputs."),
    stop: list[str] = typer.Option([], "--stop", help="Stop before this text (repeatable)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute the whole context every step (the slow reference path)."),
    seed: Optional[int] = SEED,
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = WEIGHTS,
) -> None:
    """Generate text from a trained model, streaming it to the terminal."""
    from ..generate import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                              min_p=min_p, repetition_penalty=repetition_penalty, presence_penalty=presence_penalty,
                              frequency_penalty=frequency_penalty, num_beams=num_beams, length_penalty=length_penalty,
                              stop=tuple(stop), seed=seed, use_cache=not no_cache).validate()
    stream_to_terminal(load_engine(run, device, dtype), prompt, config)


@app.command("next")
def next_command(
    run: Path = typer.Argument(..., help="Run directory."),
    prompt: str = typer.Argument(..., help="Text whose next token to show, e.g. \"The capital of France is\"."),
    top: int = typer.Option(10, "--top", help="How many of the most likely tokens to list."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="p = softmax(logits / T): T < 1 sharpens, T > 1 flattens."),
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = WEIGHTS,
) -> None:
    """Show the next-token probability distribution as a table with bars."""
    from ..errors import LanternError

    if top <= 0:
        raise LanternError(f"--top must be positive, got {top}")
    engine = load_engine(run, device, dtype)
    probs = engine.next_token_distribution(prompt, temperature)
    values, ids = probs.topk(min(top, probs.numel()))
    typer.echo(f"next token after {prompt!r} (temperature {temperature:g}, vocabulary {probs.numel():,})")
    typer.echo(f"{'rank':>4}  {'token':<16} {'id':>6}  {'prob':>7}  {'cum':>7}")
    cumulative = 0.0
    for rank, (p, token_id) in enumerate(zip(values.tolist(), ids.tolist()), 1):
        cumulative += p
        token = repr(engine.tokenizer.token_text(token_id))
        bar = "█" * round(40 * p)
        typer.echo(f"{rank:>4}  {token:<16} {token_id:>6}  {100 * p:6.2f}%  {100 * cumulative:6.2f}%  {bar}")


def read_lines(prompt: bool):
    """Lines of stdin (without the newline) until end of input, showing "you> " before each when asked."""
    while True:
        if prompt:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        yield line.rstrip("\n")


CHAT_HELP = "commands: /reset (forget the conversation), /system TEXT (new system prompt), /quit"


@app.command("chat")
def chat_command(
    run: Path = typer.Argument(..., help="Run directory."),
    system: str = typer.Option("", "--system", help="System prompt that opens the conversation."),
    max_new_tokens: int = typer.Option(200, "--max-new-tokens", "-n", help="Longest reply, in tokens."),
    temperature: float = TEMPERATURE,
    top_p: float = TOP_P,
    repetition_penalty: float = REPETITION,
    seed: Optional[int] = SEED,
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = WEIGHTS,
) -> None:
    """Chat with a model: one line per user turn on stdin, replies streamed (history kept within the context)."""
    from dataclasses import replace

    from ..errors import LanternError
    from ..generate import GenerationConfig
    from ..generate.chat import chat_prompt

    config = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                              repetition_penalty=repetition_penalty, seed=seed).validate()
    engine = load_engine(run, device, dtype)
    engine.check_continues_text()
    interactive = sys.stdin.isatty()  # piped input: no "you>" prompts in the output
    history: list[dict[str, str]] = []
    print(f"chatting with {run} ({CHAT_HELP})", file=sys.stderr)
    for turn, line in enumerate(read_lines(interactive)):
        if line.strip() in ("/quit", "/exit"):
            break
        if line.strip() == "/reset":
            history = []
            print("(conversation reset)", file=sys.stderr)
            continue
        if line.startswith("/system"):
            system = line[len("/system"):].strip()
            print(f"(system prompt: {system!r})", file=sys.stderr)
            continue
        if not line.strip():
            continue
        messages = ([{"role": "system", "content": system}] if system else []) + history
        messages.append({"role": "user", "content": line})
        try:
            prompt = chat_prompt(messages, engine.tokenizer, engine.block_size, max_new_tokens)
            turn_config = prompt.settings(replace(config, seed=None if seed is None else seed + turn))
            pieces = engine.stream_text(prompt.ids, turn_config)
            sys.stdout.write("assistant> ")
            reply = ""
            for piece in pieces:
                reply += piece
                sys.stdout.write(piece)
                sys.stdout.flush()
        except LanternError as exc:  # a bad line should not end the conversation
            print(f"\nerror: {exc}", file=sys.stderr)
            continue
        sys.stdout.write("\n")
        print(f"[{pieces.stats.summary()}]", file=sys.stderr)
        history += [messages[-1], {"role": "assistant", "content": reply}]
