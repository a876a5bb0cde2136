"""Does it pay to run BERT's MLM head only on the masked positions? One training step both ways, interleaved.

    .venv/bin/python benchmarks/mlm_head.py [--preset bert-tinystories-cpu] [--vocab 14116] [--steps 12]

"masked only" is what `BERT.forward(ids, targets)` does (the head on the ~15 % of positions whose target is not
IGNORE_INDEX); "every position" runs the head on all B·T positions and takes the same cross-entropy (what a
model that returns full logits costs). Same weights, same batch, forward + backward + AdamW step; the median of
`steps` steps after 2 warm-up steps, the two alternating so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lanternlm.config import resolve_config
from lanternlm.models import IGNORE_INDEX, build_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="bert-tinystories-cpu")
    parser.add_argument("--vocab", type=int, default=14116)  # the preset's WordPiece
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = resolve_config(args.preset)
    c, t = config.model, config.train
    c.vocab_size = args.vocab
    torch.manual_seed(0)
    model = build_model(c).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(5, c.vocab_size, (t.batch_size, c.block_size))
    targets = torch.where(torch.rand(ids.shape) < config.data.mask_probability, ids, IGNORE_INDEX)

    def masked_only() -> torch.Tensor:
        return model(ids, targets).loss

    def every_position() -> torch.Tensor:
        logits = model(ids).logits
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)

    times: dict[str, list[float]] = {"masked only": [], "every position": []}
    for step in range(args.steps + 2):
        for name, loss_of in (("masked only", masked_only), ("every position", every_position)):
            start = time.perf_counter()
            loss_of().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= 2:
                times[name].append(time.perf_counter() - start)
    print(f"{args.preset}: batch {t.batch_size} x {c.block_size}, vocab {c.vocab_size}, d {c.n_embd}, "
          f"{c.n_layer} layers, {args.threads} threads, {args.steps} steps each")
    base = statistics.median(times["every position"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:15} {1000 * median:8.0f} ms/step   {base / median:.2f}x")


if __name__ == "__main__":
    main()
