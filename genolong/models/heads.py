"""Output heads on top of the encoder's (B, L, d_model) states, and a head + loss that never
holds all the logits at once.

Each head is `features` (position-wise, width ~d_model) followed by one `output` linear layer,
the part that is wide (4101 k-mers for mlm) and whose logits at a million tokens would take
16.8 GB in float32, and as much again for their gradient. `chunked_linear_loss` runs the
output layer and the loss over a few thousand positions at a time instead.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class MaskedBatchNorm(nn.BatchNorm1d):
    """Batch norm over the real positions of (B, L, d) states: padding neither enters the batch
    statistics nor receives a value (its output is 0)."""

    def forward(self, h: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        real = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device) if padding_mask is None \
            else ~padding_mask  # (B, L)
        x = h[real]  # (N, d)
        if self.training and x.shape[0] < 2:
            # one position has no spread to standardise by: use the running statistics
            y = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        else:
            y = super().forward(x)
        return h.new_zeros(h.shape).index_put((real,), y)


class TokenClassificationHead(nn.Module):
    """Per-token logits (B, L, n_classes): softmax classes or independent multi-label bits,
    as the loss decides. `hidden` > 0 puts a standardised GELU MLP (dropout on its hidden units)
    before the output layer; 0 is a single linear layer."""

    def __init__(self, d_model: int, n_classes: int, dropout: float = 0.0, hidden: int = 0):
        super().__init__()
        self.hidden = int(hidden)
        if self.hidden:
            self.norm = MaskedBatchNorm(d_model)
            self.fc = nn.Linear(d_model, self.hidden)
            self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(self.hidden or d_model, n_classes)

    @property
    def output(self) -> nn.Linear:
        return self.proj

    def features(self, h: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The input of the output layer: h itself, or the MLP's (B, L, hidden)."""
        if self.hidden:
            h = self.dropout(F.gelu(self.fc(self.norm(h, padding_mask))))  # (B, L, hidden)
        return h

    def forward(self, h: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(self.features(h, padding_mask))


class MaskedLMHead(nn.Module):
    """BERT-style masked-LM head: dense + GELU + layer norm, then vocabulary logits (B, L, V)."""

    def __init__(self, d_model: int, vocab_size: int):
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.decoder = nn.Linear(d_model, vocab_size)

    @property
    def output(self) -> nn.Linear:
        return self.decoder

    def features(self, h: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.norm(nn.functional.gelu(self.dense(h)))  # (B, L, d_model)

    def forward(self, h: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.features(h))


LossSum = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def chunked_linear_loss(x: torch.Tensor, linear: nn.Linear, targets: torch.Tensor,
                        loss_sum: LossSum, chunk_size: int = 4096) -> torch.Tensor:
    """sum over chunks of `loss_sum(linear(x[s]), targets[s])`, with at most chunk_size × out
    logits alive at a time, forward and backward.

    x (N, in) and targets (N, ...) are rows (positions); loss_sum(logits (n, out), targets (n,
    ...)) returns a scalar sum over its rows (not a mean: the caller divides). Gradients of x
    and of the layer are taken chunk by chunk during the forward, while each chunk's logits
    exist anyway, and only scaled in backward: no logits are kept and none are recomputed.
    """
    return _ChunkedLinearLoss.apply(x, linear.weight, linear.bias, targets, loss_sum,
                                    int(chunk_size))


class _ChunkedLinearLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, targets, loss_sum, chunk_size):
        inputs = (x, weight, bias)
        wanted = [i for i, t in enumerate(inputs) if t is not None and ctx.needs_input_grad[i]]
        grads = [torch.zeros_like(t) if i in wanted else None for i, t in enumerate(inputs)]
        total = torch.zeros((), dtype=torch.promote_types(x.dtype, torch.float32), device=x.device)
        for start in range(0, x.shape[0], chunk_size):
            rows = slice(start, start + chunk_size)
            with torch.enable_grad():
                leaves = [None if t is None else t.detach().requires_grad_(i in wanted)
                          for i, t in enumerate(inputs)]
                leaves[0] = leaves[0][rows]
                loss = loss_sum(F.linear(*leaves), targets[rows])  # scalar
            if wanted:
                for i, g in zip(wanted, torch.autograd.grad(loss, [leaves[i] for i in wanted])):
                    if i == 0:
                        grads[0][rows] = g
                    else:
                        grads[i] += g
            total += loss.detach()
        ctx.save_for_backward(*grads)
        return total

    @staticmethod
    def backward(ctx, dtotal):
        scaled = [None if g is None else g * dtotal.to(g.dtype) for g in ctx.saved_tensors]
        return (*scaled, None, None, None)
