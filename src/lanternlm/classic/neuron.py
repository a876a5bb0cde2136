"""The smallest neural network worth the name: 4 inputs -> 3 hidden neurons -> 2 outputs.

Is it a leaf or a flower? The inputs are a colour (R, G, B, each 0..1) and a volume (0..1). Each hidden neuron
takes a weighted sum of the inputs plus a bias and squashes it with a sigmoid; the two outputs are weighted sums
of the hidden activations, turned into probabilities by a softmax:

    z1 = x W1 + b1,   h = sigmoid(z1),   z2 = h W2 + b2,   p = softmax(z2),   loss = -mean log p[label]

Backpropagation by hand, one line per layer (the chain rule, output to input):

    dz2 = (p - onehot(y)) / n        dW2 = h^T dz2    db2 = sum dz2
    dh  = dz2 W2^T                   dz1 = dh * h * (1 - h)
    dW1 = x^T dz1                    db1 = sum dz1

Training is plain gradient descent: every parameter moves a step of size lr against its gradient.

Checking backprop by hand (`finite_difference_gradients`): nudge one weight by ±h, recompute the loss, and
(L(θ + h) − L(θ − h)) / 2h approximates dL/dθ with an error of order h². Done for every weight, in float64 so the
tiny differences of the loss are not lost to rounding, it must agree with the backward pass to many digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import torch

from ..nn.functional import softmax

FEATURES = ("red", "green", "blue", "volume")
CLASSES = ("leaf", "flower")

# (R, G, B, volume) -> 0 = leaf, 1 = flower. Leaves are mostly green (some autumn-brown) and flat;
# flowers are red, yellow, purple or white and fuller.
EXAMPLES = [
    ((0.20, 0.80, 0.20, 0.10), 0), ((0.30, 0.70, 0.25, 0.15), 0), ((0.10, 0.60, 0.10, 0.05), 0),
    ((0.45, 0.75, 0.30, 0.20), 0), ((0.60, 0.45, 0.20, 0.10), 0), ((0.25, 0.55, 0.20, 0.30), 0),
    ((0.90, 0.10, 0.20, 0.50), 1), ((0.95, 0.85, 0.10, 0.40), 1), ((0.60, 0.20, 0.80, 0.60), 1),
    ((0.95, 0.95, 0.90, 0.35), 1), ((0.85, 0.30, 0.50, 0.70), 1), ((0.70, 0.40, 0.90, 0.45), 1),
]


def dataset() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([features for features, _ in EXAMPLES])
    y = torch.tensor([label for _, label in EXAMPLES])
    return x, y


@dataclass
class Forward:
    """Every intermediate number of a forward pass, kept for printing and for the backward pass."""

    x: torch.Tensor
    z1: torch.Tensor  # hidden weighted sums
    h: torch.Tensor  # hidden activations
    z2: torch.Tensor  # output weighted sums (logits)
    p: torch.Tensor  # probabilities


class TinyNet:
    """4 -> 3 -> 2 with sigmoid hidden units and a softmax output; 23 parameters."""

    def __init__(self, seed: int = 0, n_in: int = 4, n_hidden: int = 3, n_out: int = 2) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.W1 = torch.randn(n_in, n_hidden, generator=gen) * 0.5
        self.b1 = torch.zeros(n_hidden)
        self.W2 = torch.randn(n_hidden, n_out, generator=gen) * 0.5
        self.b2 = torch.zeros(n_out)

    def parameters(self) -> dict[str, torch.Tensor]:
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def to(self, dtype: torch.dtype) -> "TinyNet":
        """A copy with every parameter in `dtype`."""
        copy = TinyNet.__new__(TinyNet)
        for name, param in self.parameters().items():
            setattr(copy, name, param.to(dtype).clone())
        return copy

    def forward(self, x: torch.Tensor) -> Forward:
        z1 = x @ self.W1 + self.b1
        h = torch.sigmoid(z1)
        z2 = h @ self.W2 + self.b2
        return Forward(x, z1, h, z2, softmax(z2))

    @staticmethod
    def loss(fwd: Forward, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy: the mean of -log(probability given to the right class)."""
        return -torch.log(fwd.p[torch.arange(len(y)), y]).mean()

    def backward(self, fwd: Forward, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The gradient of `loss` with respect to every parameter, by the chain rule written out."""
        dz2 = (fwd.p - torch.nn.functional.one_hot(y, fwd.p.shape[1]).to(fwd.p.dtype)) / len(y)
        dh = dz2 @ self.W2.T
        dz1 = dh * fwd.h * (1 - fwd.h)
        return {"W1": fwd.x.T @ dz1, "b1": dz1.sum(0), "W2": fwd.h.T @ dz2, "b2": dz2.sum(0)}

    def step(self, grads: dict[str, torch.Tensor], lr: float) -> None:
        """Gradient descent: theta <- theta - lr * dL/dtheta."""
        for name, param in self.parameters().items():
            param -= lr * grads[name]

    def train(self, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, every: int = 0):
        """Full-batch gradient descent; yields (step, loss) every `every` steps (and at the last step)."""
        for step in range(1, steps + 1):
            fwd = self.forward(x)
            loss = self.loss(fwd, y)
            self.step(self.backward(fwd, y), lr)
            if (every and step % every == 0) or step == steps:
                yield step, float(loss)


def finite_difference_gradients(net: TinyNet, x: torch.Tensor, y: torch.Tensor,
                                h: float = 1e-6) -> dict[str, torch.Tensor]:
    """dL/dθ ≈ (L(θ + h) − L(θ − h)) / 2h for every single weight, nudged one at a time (central differences).
    Use a float64 net (`net.to(torch.float64)`): in float32 the loss changes are below its rounding."""
    x = x.to(net.W1.dtype)
    grads = {}
    for name, param in net.parameters().items():
        grad = torch.zeros_like(param)
        for index in product(*map(range, param.shape)):
            original = param[index].item()
            param[index] = original + h
            up = net.loss(net.forward(x), y)
            param[index] = original - h
            down = net.loss(net.forward(x), y)
            param[index] = original
            grad[index] = (up - down) / (2 * h)
        grads[name] = grad
    return grads
