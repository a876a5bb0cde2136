"""The 4 -> 3 -> 2 network: the hand-written backward pass equals autograd, and gradient descent learns."""

import torch

from lanternlm.classic.neuron import TinyNet, dataset
from lanternlm.cli import main


def test_hand_written_backward_equals_autograd():
    x, y = dataset()
    for seed in range(3):
        net = TinyNet(seed)
        grads = net.backward(net.forward(x), y)

        params = {name: p.clone().requires_grad_(True) for name, p in net.parameters().items()}
        h = torch.sigmoid(x @ params["W1"] + params["b1"])
        loss = torch.nn.functional.cross_entropy(h @ params["W2"] + params["b2"], y)  # independent reference
        loss.backward()
        assert torch.allclose(net.loss(net.forward(x), y), loss.detach())
        for name, p in params.items():
            assert torch.allclose(grads[name], p.grad, atol=1e-7), name


def test_gradient_descent_learns_leaf_vs_flower():
    x, y = dataset()
    net = TinyNet(0)
    losses = [loss for _, loss in net.train(x, y, steps=300, lr=1.0, every=100)]
    assert losses[0] > losses[-1] and losses[-1] < 0.05
    assert bool((net.forward(x).p.argmax(1) == y).all())


def test_demo_neuron_prints_the_forward_pass(capsys):
    assert main(["demo", "neuron", "--steps", "50"]) == 0
    out = capsys.readouterr().out
    for text in ("23 parameters", "hidden 1: z =", "sigmoid(z)", "softmax -> probabilities", "step    50: loss"):
        assert text in out
