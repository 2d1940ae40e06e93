"""Output heads on top of the encoder's (B, L, d_model) states."""

from __future__ import annotations

import torch
from torch import nn


class TokenClassificationHead(nn.Module):
    """Per-token logits (B, L, n_classes): softmax classes or independent multi-label bits,
    as the loss decides."""

    def __init__(self, d_model: int, n_classes: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, n_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(h))


class MaskedLMHead(nn.Module):
    """BERT-style masked-LM head: dense + GELU + layer norm, then vocabulary logits (B, L, V)."""

    def __init__(self, d_model: int, vocab_size: int):
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.decoder = nn.Linear(d_model, vocab_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(nn.functional.gelu(self.dense(h))))
