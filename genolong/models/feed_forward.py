"""Position-wise feed-forward, runnable over sequence chunks."""

from __future__ import annotations

import torch
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(nn.functional.gelu(self.fc1(x))))


def seq_chunks(length: int, n_chunks: int) -> list[slice]:
    """`n_chunks` near-equal slices of a sequence (fewer when it is short)."""
    size = -(-length // max(1, n_chunks))
    return [slice(s, min(s + size, length)) for s in range(0, length, max(1, size))]


def chunked(fn, x: torch.Tensor, n_chunks: int) -> torch.Tensor:
    """fn applied to x (batch, L, d) chunk by chunk along L, so the hidden (L, d_ff) activation
    never exists at once."""
    if n_chunks <= 1:
        return fn(x)
    return torch.cat([fn(x[:, s]) for s in seq_chunks(x.shape[1], n_chunks)], dim=1)
