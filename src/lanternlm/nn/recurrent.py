"""Recurrent layers: a hidden state carried from one position to the next, h_t = f(x_t, h_{t-1}).

GRU (Cho et al., 2014), per position, gates in PyTorch's order (reset, update, new):
    r  = σ(W_ir x + b_ir + W_hr h + b_hr)              how much of the past the candidate may read
    z  = σ(W_iz x + b_iz + W_hz h + b_hz)              how much of the old state to keep
    n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))     the candidate state
    h' = (1 − z) ⊙ n + z ⊙ h
LSTM (Hochreiter & Schmidhuber, 1997), gates (input, forget, cell, output) and a second state c:
    i, f, o = σ(W_i· x + b_i· + W_h· h + b_h·),  g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')

Two paths compute the same thing: `gru_step` / `lstm_step` spell the formulas out for one position; the fast
path is PyTorch's fused `nn.GRU` / `nn.LSTM` over the whole sequence, with the same weights (tests hold them
equal). Position t can only be computed after t − 1, so training cannot run the positions in parallel as a
transformer does; in exchange the state is all the model remembers of the past. It is therefore also the
model's cache for generation: fixed in size however long the context, O(1) work per new token.
"""

from __future__ import annotations

import torch
import torch.nn as nn

RNN_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def gru_step(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
             b_hh: torch.Tensor) -> torch.Tensor:
    """One GRU position: x (B, d_in), h (B, H); weights stacked [reset; update; new] as in nn.GRU."""
    x_r, x_z, x_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def lstm_step(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
              b_ih: torch.Tensor, b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM position: x (B, d_in), h and c (B, H); weights stacked [input; forget; cell; output]."""
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RecurrentState:
    """A recurrent model's memory of the positions it has read: h (n_layer, B, H), and c for an LSTM.

    It plays the KV cache's part in generation (the decoder calls `reorder` for beam search); unlike a KV
    cache it does not grow with the context: `nbytes()` is the same after 1 token or 10,000."""

    def __init__(self, n_layer: int, batch_size: int, hidden: int, lstm: bool, device: torch.device | str | None,
                 dtype: torch.dtype = torch.float32) -> None:
        shape = (n_layer, batch_size, hidden)
        self.h = torch.zeros(shape, device=device, dtype=dtype)
        self.c = torch.zeros(shape, device=device, dtype=dtype) if lstm else None
        self.length = 0  # positions read so far

    def reset(self) -> None:
        """Forget everything: the state of a sequence that starts at position 0."""
        self.h.zero_()
        if self.c is not None:
            self.c.zero_()
        self.length = 0

    def get(self) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The initial state in the form nn.GRU (h) or nn.LSTM ((h, c)) takes."""
        return self.h if self.c is None else (self.h, self.c)

    def set(self, state: torch.Tensor | tuple[torch.Tensor, torch.Tensor], positions: int) -> None:
        """Store the state after `positions` more positions (what nn.GRU / nn.LSTM returned)."""
        if self.c is None:
            self.h = state
        else:
            self.h, self.c = state
        self.length += positions

    def reorder(self, index: torch.Tensor) -> None:
        """Keep sequences `index` (with repeats), as beam search continues its best beams."""
        self.h = self.h[:, index]
        if self.c is not None:
            self.c = self.c[:, index]

    def nbytes(self) -> int:
        return self.h.nbytes + (self.c.nbytes if self.c is not None else 0)


class RecurrentLayers(nn.Module):
    """`n_layer` stacked GRU or LSTM layers over (B, T, d) inputs, hidden size d, dropout between layers."""

    def __init__(self, cell: str, n_embd: int, n_layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.cell = cell
        self.rnn = RNN_CELLS[cell](n_embd, n_embd, num_layers=n_layer, batch_first=True,
                                   dropout=dropout if n_layer > 1 else 0.0)

    def forward(self, x: torch.Tensor, state: RecurrentState | None = None) -> torch.Tensor:
        """x (B, T, d) -> the last layer's hidden state at every position (B, T, d). With `state`, start from
        it and leave the state after position T − 1 in it; without, start from zeros."""
        out, final = self.rnn(x, state.get() if state is not None else None)
        if state is not None:
            state.set(final, x.size(1))
        return out

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same from zeros, one position and one layer at a time by `gru_step` / `lstm_step` (slow; tests)."""
        for layer in range(self.rnn.num_layers):
            w = [getattr(self.rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h = x.new_zeros(x.size(0), self.rnn.hidden_size)
            c = torch.zeros_like(h)
            outputs = []
            for t in range(x.size(1)):
                if self.cell == "gru":
                    h = gru_step(x[:, t], h, *w)
                else:
                    h, c = lstm_step(x[:, t], h, c, *w)
                outputs.append(h)
            x = torch.stack(outputs, dim=1)
        return x
