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


def test_finite_differences_agree_with_backprop_and_catch_a_wrong_one():
    from lanternlm.classic.neuron import finite_difference_gradients

    x, y = dataset()
    for seed in range(3):
        net = TinyNet(seed).to(torch.float64)
        backprop = net.backward(net.forward(x.double()), y)
        nudged = finite_difference_gradients(net, x, y)
        for name in backprop:
            assert torch.allclose(backprop[name], nudged[name], atol=1e-8, rtol=0), name
    fwd = net.forward(x.double())
    dz2 = (fwd.p - torch.nn.functional.one_hot(y, 2).double()) / len(y)
    forgot_sigmoid_slope = fwd.x.T @ (dz2 @ net.W2.T)  # dW1 without the h(1 - h) factor: a classic slip
    assert (forgot_sigmoid_slope - nudged["W1"]).abs().max() > 1e-3


def test_demo_neuron_checks_gradients(capsys):
    assert main(["demo", "neuron", "--steps", "5", "--check-gradients"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("W1[", "b1[", "W2[", "b2["))]
    assert len(rows) == 23  # every weight nudged
    assert all(abs(float(b) - float(f)) < 1e-8 for _, b, f, _ in rows)
    assert "backprop agrees" in out
