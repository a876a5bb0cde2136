"""English -> French side by side: Lantern's encoder-decoder against torch.nn.Transformer and two GRU
encoder-decoders (Bahdanau's additive attention, and the same GRU without attention: one context vector).

On the same prepared pairs (`lantern prepare --pairs`), the same length-bucketed batches in the same order, the
same number of steps, the same AdamW / warm-up + cosine schedule, label smoothing and dropout as the preset,
and a similar parameter count, each peer is trained here and scored like Lantern's run: greedy translations of
the held-out pairs, BLEU and chrF (sacrebleu, one reference per pair).

    .venv/bin/python benchmarks/translate.py --data DATA --run RUN                 # everything
    .venv/bin/python benchmarks/translate.py --data DATA --run RUN --only speed    # one part: speed | peers | beam

* speed: training tokens/s of Lantern's model vs torch.nn.Transformer of the same shape, alternating steps on
  the same batches in one process (machine load hits both alike); ratio printed.
* peers: train and score torch.nn.Transformer, GRU + attention, GRU without attention (wall time, tokens/s,
  BLEU, chrF), beside RUN (trained by `lantern train --preset translate-en-fr-cpu`) scored the same way.
* beam: Lantern's translation speed, 1,000 held-out sentences with beam 4 (and greedy), KV cache on.

Tokens are counted as Lantern counts them: source + decoder-input tokens of each pair (no padding).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import sacrebleu
import torch
import torch.nn as nn
import torch.nn.functional as F

from lanternlm.data.pairs import BucketedPairs, load_pairs
from lanternlm.data.prepare_pairs import read_pairs
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.generate.translate import encode_sources, translate_ids
from lanternlm.models import IGNORE_INDEX, build_model, pad_sequences
from lanternlm.runs import load_run
from lanternlm.train.schedule import learning_rate_at


# ---------------------------------------------------------------------------------------------- the peers
class TorchTransformer(nn.Module):
    """torch.nn.Transformer with what Lantern's model has around it: one token embedding for both sides, tied to
    the output projection, learned positions per side, dropout on the embeddings; pre-norm and GELU as the
    preset (norm_first=True), so the shapes and the parameter count match. Initialisation as the preset's
    `init`: xavier is torch.nn.Transformer's own (Glorot uniform on every matrix of its layers), gpt2 overwrites its
    Linear layers with Lantern's N(0, 0.02) start; the embeddings are N(0, 0.02) either way."""

    def __init__(self, vocab: int, d: int, heads: int, layers: int, d_ff: int, dropout: float, block: int,
                 init: str = "xavier") -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.source_wpe, self.wpe = nn.Embedding(block, d), nn.Embedding(block, d)
        self.drop = nn.Dropout(dropout)
        self.transformer = nn.Transformer(d, heads, layers, layers, d_ff, dropout, activation="gelu",
                                          batch_first=True, norm_first=True)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for module in self.modules():
            if isinstance(module, nn.Embedding) or (init == "gpt2" and isinstance(module, nn.Linear)):
                nn.init.normal_(module.weight, std=0.02)

    def encode(self, source, source_mask):
        x = self.drop(self.wte(source) + self.source_wpe.weight[:source.size(1)])
        return self.transformer.encoder(x, src_key_padding_mask=source_mask == 0)

    def decode(self, memory, source_mask, idx):
        T = idx.size(1)
        x = self.drop(self.wte(idx) + self.wpe.weight[:T])
        causal = nn.Transformer.generate_square_subsequent_mask(T, device=idx.device)
        h = self.transformer.decoder(x, memory, tgt_mask=causal, tgt_is_causal=True,
                                     memory_key_padding_mask=source_mask == 0)
        return self.lm_head(h)

    def forward(self, source, source_mask, idx):
        return self.decode(self.encode(source, source_mask), source_mask, idx)

    @torch.no_grad()
    def greedy(self, source, source_mask, start: int, max_len: int) -> list[list[int]]:
        """Re-runs the decoder over the whole prefix every step (nn.Transformer has no KV cache)."""
        memory = self.encode(source, source_mask)
        idx = torch.full((source.size(0), 1), start, dtype=torch.long)
        for _ in range(max_len):
            idx = torch.cat([idx, self.decode(memory, source_mask, idx)[:, -1].argmax(-1, keepdim=True)], 1)
            if (idx[:, 1:] == start).any(1).all():  # every row has ended
                break
        return [cut(row[1:], start) for row in idx.tolist()]


class GRUSeq2Seq(nn.Module):
    """A bidirectional GRU encoder and a GRU decoder (Bahdanau et al. 2015). With attention, each step t reads
    c_t = Σ_j α_tj h_j, α_t = softmax_j(vᵀ tanh(W s_{t-1} + U h_j)) over the real source positions; without,
    c_t = c, one vector for the whole source (the encoder's last states, Cho et al. 2014): what the seeds call
    the bottleneck that attention removed."""

    def __init__(self, vocab: int, d_emb: int, hidden: int, dropout: float, attention: bool) -> None:
        super().__init__()
        self.attention = attention
        self.wte = nn.Embedding(vocab, d_emb)
        self.encoder = nn.GRU(d_emb, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)  # s_0 = tanh(W [h_fwd_last; h_bwd_first])
        self.decoder = nn.GRU(d_emb + 2 * hidden, hidden, batch_first=True)  # input: [y_{t-1}; c_t]
        if attention:
            self.w_s, self.u_h = nn.Linear(hidden, hidden, bias=False), nn.Linear(2 * hidden, hidden)
            self.v = nn.Linear(hidden, 1, bias=False)
        self.out = nn.Linear(hidden + 2 * hidden + d_emb, d_emb)
        self.drop = nn.Dropout(dropout)
        self.lm_head = nn.Linear(d_emb, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        nn.init.normal_(self.wte.weight, std=d_emb ** -0.5)  # tied: logits start near 0 (N(0, 1) rows would not)

    def encode(self, source, source_mask):
        lengths = source_mask.sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.wte(source)), lengths, batch_first=True,
                                                   enforce_sorted=False)
        outputs, last = self.encoder(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=source.size(1))
        summary = torch.cat([last[0], last[1]], dim=-1)  # (B, 2H): the single context vector
        return h, summary, torch.tanh(self.bridge(summary))

    def step(self, y_prev, s, h, keys, summary, source_mask):
        if self.attention:
            scores = self.v(torch.tanh(self.w_s(s)[:, None] + keys)).squeeze(-1)
            alpha = scores.masked_fill(source_mask == 0, float("-inf")).softmax(-1)
            context = (alpha[:, :, None] * h).sum(1)
        else:
            context = summary
        e = self.drop(self.wte(y_prev))
        s = self.decoder(torch.cat([e, context], -1)[:, None], s[None])[1][0]
        return self.output(s, context, e), s

    def output(self, s, context, e):
        return self.lm_head(self.drop(torch.tanh(self.out(torch.cat([s, context, e], -1)))))

    def forward(self, source, source_mask, idx):
        h, summary, s = self.encode(source, source_mask)
        if not self.attention:  # the context is the same at every step: one pass of the GRU over the target
            e = self.drop(self.wte(idx))
            context = summary[:, None].expand(-1, idx.size(1), -1)
            states = self.decoder(torch.cat([e, context], -1), s[None])[0]
            return self.output(states, context, e)
        keys, logits = self.u_h(h), []
        for t in range(idx.size(1)):  # teacher forcing: the reference token goes in at every step
            out, s = self.step(idx[:, t], s, h, keys, summary, source_mask)
            logits.append(out)
        return torch.stack(logits, 1)

    @torch.no_grad()
    def greedy(self, source, source_mask, start: int, max_len: int) -> list[list[int]]:
        h, summary, s = self.encode(source, source_mask)
        keys = self.u_h(h) if self.attention else None
        y = torch.full((source.size(0),), start, dtype=torch.long)
        rows, ended = [], torch.zeros(source.size(0), dtype=torch.bool)
        for _ in range(max_len):
            out, s = self.step(y, s, h, keys, summary, source_mask)
            y = out.argmax(-1)
            rows.append(y)
            ended |= y == start
            if ended.all():
                break
        return [cut(row, start) for row in torch.stack(rows, 1).tolist()]


def cut(row: list[int], stop: int) -> list[int]:
    return row[:row.index(stop)] if stop in row else row


# ---------------------------------------------------------------------------------------------- training
def loss_of(logits, targets, label_smoothing: float) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX,
                           label_smoothing=label_smoothing)


class Training:
    """The preset's optimisation for any model taking (source, source_mask, idx) -> logits."""

    def __init__(self, model: nn.Module, config, train_split) -> None:
        self.model, self.config, self.split = model, config, train_split
        tc = config.train
        decay = [p for p in model.parameters() if p.dim() >= 2]
        rest = [p for p in model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                                            {"params": rest, "weight_decay": 0.0}], lr=tc.learning_rate,
                                           betas=(tc.beta1, tc.beta2), fused=True)
        self.sampler = BucketedPairs(train_split, tc.batch_size, tc.seed)
        self.step_number = 0

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        size = self.config.train.batch_size
        return self.split.inputs_at(self.sampler.starts(step * size, size))

    def step(self, inputs: dict[str, torch.Tensor], forward) -> float:
        tc = self.config.train
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate_at(self.step_number, tc)
        loss = forward(inputs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_number += 1
        return loss.item()


def peer_forward(model, label_smoothing):
    return lambda b: loss_of(model(b["source"], b["source_mask"], b["idx"]), b["targets"], label_smoothing)


def lantern_forward(model):
    return lambda b: model(**b).loss


@torch.no_grad()
def held_out_loss(model: nn.Module, forward, split, batch: int = 64) -> float:
    """Cross-entropy per target token over the whole validation split, eval mode (no dropout, no smoothing)."""
    model.eval()
    total, tokens = 0.0, 0
    for first in range(0, len(split), batch):
        inputs = split.inputs_at(torch.arange(first, min(first + batch, len(split))))
        count = int((inputs["targets"] != IGNORE_INDEX).sum())
        total, tokens = total + forward(inputs).item() * count, tokens + count
    return total / tokens


def batch_tokens(inputs) -> int:
    return int(inputs["source_mask"].sum()) + int((inputs["targets"] != IGNORE_INDEX).sum())


# ---------------------------------------------------------------------------------------------- scoring
def score(pairs: list[tuple[str, str]], translate_sources) -> dict:
    """BLEU / chrF of greedy translations of every distinct source, one reference per pair (as `lantern eval`)."""
    distinct = list(dict.fromkeys(s for s, _ in pairs))
    started = time.perf_counter()
    outputs = dict(zip(distinct, translate_sources(distinct)))
    seconds = time.perf_counter() - started
    hypotheses, references = [outputs[s] for s, _ in pairs], [r for _, r in pairs]
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
            "decode_s": seconds, "samples": [(s, outputs[s]) for s in SAMPLES if s in outputs]}


SAMPLES: list[str] = []


def peer_translator(model, tokenizer, block: int, batch: int = 64):
    eot = tokenizer.eot_id

    def run(texts: list[str]) -> list[str]:
        model.eval()
        out = []
        for first in range(0, len(texts), batch):
            rows = [tokenizer.encode(t) + [eot] for t in texts[first:first + batch]]
            source, mask = pad_sequences(rows)
            out += [tokenizer.decode(ids) for ids in model.greedy(source, mask, eot, block - 1)]
        return out

    return run


def lantern_translator(model, tokenizer, beam: int = 1):
    engine = Engine(model.eval(), tokenizer)
    config = GenerationConfig(max_new_tokens=10**6, temperature=0.0, num_beams=beam)

    def run(texts: list[str]) -> list[str]:
        return [tokenizer.decode(ids) for ids in translate_ids(engine, encode_sources(engine, texts), config)]

    return run


# ---------------------------------------------------------------------------------------------- the parts
def machine() -> str:
    name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                "unknown CPU")
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_twin(c, vocab: int) -> TorchTransformer:
    return TorchTransformer(vocab, c.n_embd, c.n_head, c.encoder_layers, c.ff_dim, c.dropout, c.block_size, c.init)


def speed(config, split, steps: int) -> None:
    """Alternate training steps of the two models of the same shape on the same batches; median tokens/s."""
    torch.manual_seed(0)
    ours = build_model(config.model).train()
    theirs = torch_twin(config.model, config.model.vocab_size).train()
    print(f"speed: Lantern {n_params(ours):,} vs torch.nn.Transformer {n_params(theirs):,} parameters; {load()}")
    runs = {"lantern": (Training(ours, config, split), lantern_forward(ours)),
            "torch": (Training(theirs, config, split), peer_forward(theirs, config.model.label_smoothing))}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for step in range(steps):
        for name, (training, forward) in (runs.items() if step % 2 else reversed(runs.items())):
            inputs = training.batch(step)
            started = time.perf_counter()
            training.step(inputs, forward)
            if step >= 5:  # warm-up steps allocate and pick kernels
                rates[name].append(batch_tokens(inputs) / (time.perf_counter() - started))
    ours_rate, theirs_rate = statistics.median(rates["lantern"]), statistics.median(rates["torch"])
    print(f"speed: training tokens/s (median of {steps - 5} steps each, alternating): Lantern {ours_rate:,.0f}, "
          f"torch.nn.Transformer {theirs_rate:,.0f}, ratio {ours_rate / theirs_rate:.2f}x; {load()}", flush=True)


def train_peer(name: str, model: nn.Module, config, split, steps: int) -> tuple[float, float]:
    training = Training(model.train(), config, split)
    forward = peer_forward(model, config.model.label_smoothing)
    tokens, started = 0, time.perf_counter()
    for step in range(steps):
        inputs = training.batch(step)
        loss = training.step(inputs, forward)
        tokens += batch_tokens(inputs)
        if (step + 1) % max(1, steps // 10) == 0:
            print(f"  {name} step {step + 1}: loss {loss:.3f}, {tokens / (time.perf_counter() - started):,.0f} "
                  f"tokens/s", flush=True)
    wall = time.perf_counter() - started
    return wall, tokens / wall


def peers(config, tokenizer, split, val_split, val_pairs, steps: int, which: list[str]) -> None:
    c = config.model
    vocab, block = c.vocab_size, c.block_size
    ours_params = n_params(build_model(c))
    hidden = gru_hidden(vocab, c.n_embd, ours_params)
    builders = {
        "torch.nn.Transformer": lambda: torch_twin(c, vocab),
        "GRU + attention": lambda: GRUSeq2Seq(vocab, c.n_embd, hidden, c.dropout, attention=True),
        "GRU, no attention": lambda: GRUSeq2Seq(vocab, c.n_embd, hidden, c.dropout, attention=False),
    }
    for name in which:
        torch.manual_seed(config.train.seed)
        model = builders[name]()
        print(f"{name}: {n_params(model):,} parameters (Lantern {ours_params:,}); training {steps} steps; {load()}",
              flush=True)
        wall, rate = train_peer(name, model, config, split, steps)
        loss = held_out_loss(model, peer_forward(model, 0.0), val_split)
        result = score(val_pairs, peer_translator(model, tokenizer, block))
        print(f"RESULT {name}: BLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}, held-out loss {loss:.4f}, "
              f"wall {wall / 60:.1f} min, {rate:,.0f} tokens/s; {load()}", flush=True)
        for source, text in result["samples"]:
            print(f"    {source} -> {text}")


def gru_hidden(vocab: int, d_emb: int, target: int) -> int:
    """The GRU hidden size (a multiple of 32) whose attention model has the parameter count nearest `target`."""
    return min(range(64, 1025, 32), key=lambda h: abs(n_params(GRUSeq2Seq(vocab, d_emb, h, 0.0, True)) - target))


def ours(run: Path, val_split, val_pairs) -> None:
    loaded = load_run(run)
    loss = held_out_loss(loaded.model, lantern_forward(loaded.model), val_split)
    print(f"RESULT Lantern ({run}): held-out loss {loss:.4f} per target token", flush=True)
    for beam in (1, 4):
        result = score(val_pairs, lantern_translator(loaded.model, loaded.tokenizer, beam))
        print(f"RESULT Lantern ({run}, beam {beam}): BLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}; "
              f"{load()}", flush=True)
        for source, text in result["samples"]:
            print(f"    {source} -> {text}")


def beam_speed(run: Path, val_pairs, count: int) -> None:
    loaded = load_run(run)
    texts = list(dict.fromkeys(s for s, _ in val_pairs))[:count]
    for beam in (4, 1):
        translator = lantern_translator(loaded.model, loaded.tokenizer, beam)
        started = time.perf_counter()
        translator(texts)
        seconds = time.perf_counter() - started
        print(f"translation speed: {len(texts):,} sentences, beam {beam}: {seconds:.1f} s, "
              f"{len(texts) / seconds:.1f} sentences/s; {load()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="A `lantern prepare --pairs` directory.")
    parser.add_argument("--run", help="The preset's run (trained by `lantern train --preset translate-en-fr-cpu`).")
    parser.add_argument("--preset", default="translate-en-fr-cpu")
    parser.add_argument("--steps", type=int, default=0, help="Training steps of each peer; 0 = the preset's.")
    parser.add_argument("--speed-steps", type=int, default=45)
    parser.add_argument("--val-limit", type=int, default=0, help="Score the first N held-out pairs; 0 = all.")
    parser.add_argument("--only", nargs="*", default=["speed", "peers", "ours", "beam"])
    parser.add_argument("--peers", nargs="*", default=["torch.nn.Transformer", "GRU + attention", "GRU, no attention"])
    parser.add_argument("--seed", type=int, help="train.seed for the peers (initialisation and batch order); "
                                                 "train RUN with the same --set train.seed=N to compare")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override the preset for the peers, as `lantern train --set` did for RUN "
                             "(e.g. train.max_iters=5000: steps and schedule)")
    args = parser.parse_args()
    from lanternlm.config import resolve_config

    tokenizer, split, val_split, header = load_pairs(args.data)
    seed = [f"train.seed={args.seed}"] if args.seed is not None else []
    config = resolve_config(args.preset, overrides=[f"data.data_dir={args.data}", *seed, *args.overrides])
    config.model.vocab_size = tokenizer.vocab_size
    val_pairs = read_pairs(Path(args.data) / "val.tsv")
    val_pairs = val_pairs[:args.val_limit] if args.val_limit else val_pairs
    SAMPLES.extend(list(dict.fromkeys(s for s, _ in val_pairs))[:: max(1, len(val_pairs) // 8)][:6])
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M')}; {load()}")
    print(f"data: {args.data}: {len(split):,} training pairs, {len(val_pairs):,} held-out pairs", flush=True)
    steps = args.steps or config.train.max_iters
    if "speed" in args.only:
        speed(config, split, args.speed_steps)
    if "peers" in args.only:
        peers(config, tokenizer, split, val_split, val_pairs, steps, args.peers)
    if "ours" in args.only and args.run:
        ours(Path(args.run), val_split, val_pairs)
    if "beam" in args.only and args.run:
        beam_speed(Path(args.run), val_pairs, 1000)


if __name__ == "__main__":
    main()
