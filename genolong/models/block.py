"""One encoder layer: pre-norm attention and feed-forward, the F and G of a reversible pair."""

from __future__ import annotations

import torch
from torch import nn

from genolong.models.config import EncoderConfig
from genolong.models.context import AttentionContext
from genolong.models.feed_forward import FeedForward, chunked
from genolong.models.full_attention import FullAttention
from genolong.models.lsh_attention import LSHAttention
from genolong.models.sliding_attention import SlidingAttention


def build_attention(cfg: EncoderConfig, kind: str, layer: int) -> nn.Module:
    if kind == "lsh":
        return LSHAttention(cfg.d_model, cfg.n_heads, cfg.bucket_size, cfg.n_hashes, cfg.dropout,
                            eval_seed=cfg.lsh_eval_seed + layer)
    if kind == "sliding":
        return SlidingAttention(cfg.d_model, cfg.n_heads, cfg.attention_window, cfg.dropout)
    return FullAttention(cfg.d_model, cfg.n_heads, cfg.dropout)


class Block(nn.Module):
    def __init__(self, cfg: EncoderConfig, kind: str, layer: int):
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.d_model)
        self.attn = build_attention(cfg, kind, layer)
        self.ff_norm = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)

    def f(self, x2: torch.Tensor, ctx: AttentionContext,
          memory: torch.Tensor | None = None) -> torch.Tensor:
        """The attention branch: y1 = x1 + f(x2); `memory` (batch, m, d_model) is this layer's
        x2 at the positions before the segment, attended as keys only."""
        if memory is None:
            return self.attn(self.attn_norm(x2), ctx)
        return self.attn(self.attn_norm(x2), ctx, self.attn_norm(memory))

    def g(self, y1: torch.Tensor) -> torch.Tensor:
        """The feed-forward branch, on any slice of positions: y2 = x2 + g(y1)."""
        return self.ff(self.ff_norm(y1))

    def g_chunked(self, y1: torch.Tensor, n_chunks: int) -> torch.Tensor:
        return chunked(self.g, y1, n_chunks)
