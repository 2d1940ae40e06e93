"""Output heads on top of the encoder's (B, L, d_model) states."""

from __future__ import annotations

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

    def forward(self, h: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.hidden:
            h = self.dropout(F.gelu(self.fc(self.norm(h, padding_mask))))  # (B, L, hidden)
        return self.proj(h)


class MaskedLMHead(nn.Module):
    """BERT-style masked-LM head: dense + GELU + layer norm, then vocabulary logits (B, L, V)."""

    def __init__(self, d_model: int, vocab_size: int):
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.decoder = nn.Linear(d_model, vocab_size)

    def forward(self, h: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.norm(nn.functional.gelu(self.dense(h))))
