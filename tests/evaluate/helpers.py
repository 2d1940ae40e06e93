"""A small real network whose per-token output is local (no training needed to exercise evaluate)."""

from __future__ import annotations

import torch
from torch import nn


class LocalNet(nn.Module):
    """Embedding + one convolution: logits (B, L, C) depend only on tokens within `radius`."""

    def __init__(self, vocab_size: int, n_classes: int, radius: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab_size, 8)
        self.conv = nn.Conv1d(8, n_classes, 2 * radius + 1, padding=radius)

    def forward(self, tokens, padding_mask=None):
        h = self.embed(tokens)  # (B, L, 8)
        if padding_mask is not None:
            h = h.masked_fill(padding_mask[..., None], 0.0)
        return self.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, L, C)
