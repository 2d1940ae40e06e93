"""The encoder: token embedding → a stack of (attention, feed-forward) layers → layer norm
(→ an optional centred mean over `context_pool` tokens)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genolong.models.block import Block
from genolong.models.config import EncoderConfig
from genolong.models.context import AttentionContext
from genolong.models.reversible import irreversible_forward, reversible_forward
from genolong.models.rotary import RotaryEmbedding


class Encoder(nn.Module):
    """`Encoder(cfg)(tokens (B, L) long, padding_mask=None) -> (B, L, d_model)`.

    padding_mask is bool, True at padding; without one, positions holding `cfg.pad_id` are
    padding. `global_mask` (B, L) adds global positions for sliding-window layers.
    """

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.rotary = RotaryEmbedding(cfg.head_dim, cfg.rotary_base)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(cfg, kind, i)
                                    for i, kind in enumerate(cfg.layer_attention))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None,
                global_mask: torch.Tensor | None = None, pool: bool = True) -> torch.Tensor:
        """`pool=False`: the final states before `context_pool` (for a head that needs them local)."""
        if padding_mask is None:
            padding_mask = tokens == self.cfg.pad_id
        x = self.dropout(self.embed(tokens))  # (batch, L, d_model)
        cos, sin = self.rotary(tokens.shape[1], x.device, x.dtype)
        actx = AttentionContext.build(tokens, padding_mask, self.cfg.global_tokens, global_mask,
                                      cos, sin)
        run = reversible_forward if self.cfg.reversible and torch.is_grad_enabled() \
            else irreversible_forward
        x1, x2 = run(self.layers, x, x, actx, self.cfg.ff_chunks)
        h = self.norm((x1 + x2) * 0.5)  # (batch, L, d_model)
        if pool and self.cfg.context_pool > 1:
            h = context_mean(h, padding_mask, self.cfg.context_pool)
        return h


def context_mean(h: torch.Tensor, padding_mask: torch.Tensor, width: int) -> torch.Tensor:
    """Each position's mean over the real positions of the centred `width` window."""
    real = (~padding_mask).to(h.dtype).unsqueeze(1)  # (batch, 1, L)
    # both sums come divided by `width`, which cancels in the ratio
    total = F.avg_pool1d(h.transpose(1, 2) * real, width, 1, width // 2)  # (batch, d_model, L)
    count = F.avg_pool1d(real, width, 1, width // 2)  # (batch, 1, L)
    return (total / count.clamp_min(torch.finfo(h.dtype).tiny)).transpose(1, 2)
