"""What every attention layer needs to know about the batch, computed once per forward."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AttentionContext:
    length: int
    padding_mask: torch.Tensor | None  # (batch, length) bool, True at padding
    global_mask: torch.Tensor | None  # (batch, length) bool, True at global positions
    cos: torch.Tensor  # (length, head_dim) rotary
    sin: torch.Tensor
    # a segment memory (`genolong.models.memory`): its key padding and rotary tables
    memory_padding: torch.Tensor | None = None  # (batch, m) bool
    memory_cos: torch.Tensor | None = None  # (m, head_dim)
    memory_sin: torch.Tensor | None = None
    # reversible training: each LSH layer's `LSHSort` from the forward, by layer, taken back by
    # that layer's recomputation in backward (None: every call hashes)
    kept_sorts: dict | None = None

    @classmethod
    def build(cls, tokens: torch.Tensor, padding_mask: torch.Tensor | None,
              global_positions: tuple[int, ...], global_mask: torch.Tensor | None,
              cos: torch.Tensor, sin: torch.Tensor) -> "AttentionContext":
        batch, length = tokens.shape
        if padding_mask is not None:
            padding_mask = padding_mask.to(device=tokens.device, dtype=torch.bool)
            if not padding_mask.any():
                padding_mask = None
        glob = None
        positions = [p for p in global_positions if p < length]
        if positions:
            glob = torch.zeros(batch, length, dtype=torch.bool, device=tokens.device)
            glob[:, positions] = True
        if global_mask is not None:
            global_mask = global_mask.to(device=tokens.device, dtype=torch.bool)
            glob = global_mask if glob is None else glob | global_mask
        if glob is not None and padding_mask is not None:
            glob = glob & ~padding_mask
        if glob is not None and not glob.any():
            glob = None
        return cls(length, padding_mask, glob, cos, sin)
