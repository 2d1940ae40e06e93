"""Rotary position embeddings: computed for any length on the fly, no max_len x d table."""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        self.head_dim = head_dim
        self.base = base

    def forward(self, length: int, device: torch.device, dtype: torch.dtype, offset: int = 0):
        """cos and sin, each (length, head_dim), for positions offset..offset+length-1 (a
        segment of a stream continues where the previous one stopped)."""
        inv_freq = self.base ** (-torch.arange(0, self.head_dim, 2, device=device,
                                               dtype=torch.float64) / self.head_dim)
        pos = torch.arange(offset, offset + length, device=device, dtype=torch.float64)
        angles = torch.outer(pos, inv_freq)  # (length, head_dim / 2)
        angles = torch.cat([angles, angles], dim=-1)  # (length, head_dim)
        return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., length, head_dim) by position."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin
