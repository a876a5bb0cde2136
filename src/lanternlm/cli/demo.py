"""`lantern demo neuron`: the smallest neural network, every number printed."""

from __future__ import annotations

from itertools import product

import torch
import typer

from .app import app

demo_app = typer.Typer(help="Small teaching examples that print what happens inside.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
MAX_LR = 100.0  # past 10 the steps already overshoot (the loss climbs); far beyond, the numbers overflow to NaN


def _row(values) -> str:
    return "  ".join(f"{v:+.3f}" for v in values)


def _weighted_sum(weights, inputs, bias: float) -> str:
    """"w1*x1 + w2*x2 - ... + b" with the signs written as operators."""
    text = ""
    for w, x in [(float(w), float(x)) for w, x in zip(weights, inputs)] + [(bias, None)]:
        term = f"{abs(w):.2f}" + (f"*{x:.3f}" if x is not None else "")
        text += (f" {'-' if w < 0 else '+'} " if text else ("-" if w < 0 else "")) + term
    return text


@demo_app.command("neuron")
def neuron_command(
    steps: int = typer.Option(500, "--steps", min=1, max=1_000_000, help="Gradient-descent steps (full batch)."),
    lr: float = typer.Option(1.0, "--lr", help="Learning rate: the size of each step against the gradient (> 0)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Seed for the random initial weights."),
    check_gradients: bool = typer.Option(False, "--check-gradients", help="Compare backprop with finite differences (each weight nudged by ±h) before training."),
) -> None:
    """A 4 -> 3 -> 2 network (R, G, B, volume -> leaf or flower): one forward pass in numbers, then training."""
    from ..classic.neuron import CLASSES, FEATURES, TinyNet, dataset
    from ..errors import LanternError

    if not 0 < lr <= MAX_LR:  # false for NaN too
        raise LanternError(f"--lr must be in (0, {MAX_LR}], got {lr}")
    x, y = dataset()
    net = TinyNet(seed)
    n_params = sum(p.numel() for p in net.parameters().values())
    typer.echo(f"network: {len(FEATURES)} inputs -> 3 hidden (sigmoid) -> {len(CLASSES)} outputs (softmax), "
               f"{n_params} parameters\n")

    fwd = net.forward(x[:1])
    typer.echo(f"forward pass for example 1 (a {CLASSES[int(y[0])]}), before training:")
    typer.echo(f"  inputs x ({', '.join(FEATURES)}):   {_row(fwd.x[0])}")
    for j in range(net.W1.shape[1]):
        terms = _weighted_sum(net.W1[:, j], fwd.x[0], float(net.b1[j]))
        typer.echo(f"  hidden {j + 1}: z = {terms} = {float(fwd.z1[0, j]):+.3f} -> sigmoid(z) = {float(fwd.h[0, j]):.3f}")
    for k, name in enumerate(CLASSES):
        terms = _weighted_sum(net.W2[:, k], fwd.h[0], float(net.b2[k]))
        typer.echo(f"  output {name:<6}: z = {terms} = {float(fwd.z2[0, k]):+.3f}")
    typer.echo("  softmax -> probabilities: " + ", ".join(f"{c} {float(p):.3f}" for c, p in zip(CLASSES, fwd.p[0])))
    typer.echo(f"  loss = -log p({CLASSES[int(y[0])]}) = {float(net.loss(fwd, y[:1])):.4f}\n")
    if check_gradients:
        print_gradient_check(net, x, y)

    typer.echo(f"training: plain gradient descent on all {len(y)} examples, lr {lr}")
    for step, loss in net.train(x, y, steps, lr, every=max(1, steps // 10)):
        typer.echo(f"  step {step:>5}: loss {loss:.4f}")

    fwd = net.forward(x)
    correct = int((fwd.p.argmax(1) == y).sum())
    typer.echo(f"\nafter training: {correct}/{len(y)} examples right")
    for features, label, probs in zip(x.tolist(), y.tolist(), fwd.p.tolist()):
        guess = CLASSES[max(range(len(CLASSES)), key=lambda k: probs[k])]
        typer.echo(f"  {_row(features)}  is a {CLASSES[label]:<6} predicted {guess:<6} "
                   f"(p flower {probs[1]:.3f})")


def print_gradient_check(net, x, y) -> None:
    """Backprop's gradient beside the finite-difference estimate, for every weight, at the current weights."""
    from ..classic.neuron import finite_difference_gradients

    exact = net.to(torch.float64)
    backprop = exact.backward(exact.forward(x.double()), y)
    h = 1e-6
    nudged = finite_difference_gradients(exact, x, y, h)
    typer.echo(f"gradient check on all {len(y)} examples: backprop vs (L(w + h) - L(w - h)) / 2h, h = {h:g}, float64")
    typer.echo(f"  {'weight':<10}{'backprop':>14}{'finite diff.':>14}{'|difference|':>14}")
    worst = 0.0
    for name, grad in backprop.items():
        for index in product(*map(range, grad.shape)):
            a, b = float(grad[index]), float(nudged[name][index])
            worst = max(worst, abs(a - b))
            label = f"{name}[{','.join(map(str, index))}]"
            typer.echo(f"  {label:<10}{a:>+14.8f}{b:>+14.8f}{abs(a - b):>14.2e}")
    typer.echo(f"  largest difference {worst:.2e}: {'backprop agrees' if worst < 1e-6 else 'BACKPROP DISAGREES'}\n")
