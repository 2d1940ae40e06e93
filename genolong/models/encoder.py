"""The encoder: token embedding → a stack of (attention, feed-forward) layers → layer norm
(→ an optional centred mean over `context_pool` tokens)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genolong.errors import GenolongError
from genolong.models.block import Block
from genolong.models.config import EncoderConfig
from genolong.models.context import AttentionContext
from genolong.models.memory import LayerTails, Memory
from genolong.models.reversible import irreversible_forward, reversible_forward
from genolong.models.rotary import RotaryEmbedding


class Encoder(nn.Module):
    """`Encoder(cfg)(tokens (B, L) long, padding_mask=None) -> (B, L, d_model)`.

    padding_mask is bool, True at padding; without one, positions holding `cfg.pad_id` are
    padding. `global_mask` (B, L) adds global positions for sliding-window layers.

    With `cfg.memory` > 0 the encoder also reads a stream segment by segment (Transformer-XL):
    `h, mem = enc(tokens, memory=mem, return_memory=True)`, `mem` a `Memory` (None for the
    first segment); see `genolong.models.memory`.
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
                global_mask: torch.Tensor | None = None, memory: Memory | None = None,
                return_memory: bool = False, pool: bool = True):
        """`pool=False`: the final states before `context_pool` (for a head that needs them local)."""
        if (memory is not None or return_memory) and not self.cfg.memory:
            raise GenolongError("Encoder: memory was passed or asked for, but EncoderConfig.memory is 0")
        if memory is not None and global_mask is not None:
            raise GenolongError("Encoder: global_mask cannot be combined with a segment memory")
        if padding_mask is None:
            padding_mask = tokens == self.cfg.pad_id
        x = self.dropout(self.embed(tokens))  # (batch, L, d_model)
        actx = self._context(tokens, padding_mask, global_mask, memory, x.dtype)
        run = reversible_forward if self.cfg.reversible and torch.is_grad_enabled() \
            else irreversible_forward
        collect = LayerTails(self.cfg.memory) if return_memory else None
        x1, x2 = run(self.layers, x, x, actx, self.cfg.ff_chunks,
                     None if memory is None else memory.states, collect)
        h = self.norm((x1 + x2) * 0.5)  # (batch, L, d_model)
        if pool and self.cfg.context_pool > 1:
            h = context_mean(h, padding_mask, self.cfg.context_pool)
        if not return_memory:
            return h
        return h, Memory.update(memory, collect, padding_mask.to(torch.bool), self.cfg.memory)

    def _context(self, tokens, padding_mask, global_mask, memory, dtype) -> AttentionContext:
        """Rotary tables continue after the memory's positions; memory keys get their own."""
        m = 0 if memory is None else memory.length
        start = 0 if memory is None else memory.position
        cos, sin = self.rotary(m + tokens.shape[1], tokens.device, dtype, offset=start - m)
        actx = AttentionContext.build(tokens, padding_mask, self.cfg.global_tokens, global_mask,
                                      cos[m:], sin[m:])
        if memory is not None:
            actx.memory_padding = memory.padding_mask  # (batch, m)
            actx.memory_cos, actx.memory_sin = cos[:m], sin[:m]  # (m, head_dim)
        return actx


def _window_sums(x: torch.Tensor, width: int) -> torch.Tensor:
    """Sums of x (batch, L, C) over the centred odd `width` window of each position, zeros
    beyond the ends: differences of one cumulative sum, in float64 so that the subtraction loses
    nothing. avg_pool1d does the same in O(L · width): at width 257 it took 42 ms of each 8-window
    forward on one thread, against 1 ms for this."""
    half = width // 2
    c = F.pad(x.double(), (0, 0, half + 1, half)).cumsum(dim=1)  # (batch, L + width, C)
    return c[:, width:] - c[:, :-width]


def context_mean(h: torch.Tensor, padding_mask: torch.Tensor, width: int) -> torch.Tensor:
    """Each position's mean over the real positions of the centred `width` window."""
    real = (~padding_mask).unsqueeze(-1)  # (batch, L, 1)
    total = _window_sums(h.masked_fill(~real, 0.0), width)  # (batch, L, d_model)
    count = _window_sums(real.double(), width)  # (batch, L, 1); >= 1 at every real position
    return (total / count.clamp_min(1.0)).to(h.dtype)
