"""Full softmax attention through `scaled_dot_product_attention`: the O(L²) baseline."""

from __future__ import annotations

import torch
from torch import nn

from genolong.models.context import AttentionContext
from genolong.models.masking import score_dtype, scores_in_fp32, sdpa_pad_value
from genolong.models.rotary import apply_rotary


class QKVAttention(nn.Module):
    """Fused q/k/v projection with rotary positions and the output projection around a
    subclass's `attend(q, k, v, ctx)`, each (batch, heads, L, head_dim). Full and sliding
    attention share it, and so share parameter names. With a segment memory the subclass's
    `attend_memory` also gets the memory's keys and values."""

    # how many memory positions back a query can reach (None: all of them)
    memory_reach: int | None = None

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, ctx: AttentionContext,
                memory: torch.Tensor | None = None) -> torch.Tensor:
        b, length, dm = x.shape
        q, k, v = self.in_proj(x).view(b, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, ctx.cos, ctx.sin), apply_rotary(k, ctx.cos, ctx.sin)
        if memory is None:
            out = self.attend(q, k, v, ctx)  # (batch, heads, L, head_dim)
        else:
            # memory keys further back than this layer can see are not even projected
            reach = memory.shape[1] if self.memory_reach is None else self.memory_reach
            k_mem, v_mem = self.memory_kv(memory[:, -reach:], ctx.memory_cos[-reach:],
                                          ctx.memory_sin[-reach:])
            out = self.attend_memory(q, k, v, k_mem, v_mem, ctx)
        return self.dropout(self.out_proj(out.transpose(1, 2).reshape(b, length, dm)))

    def memory_kv(self, memory: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Keys and values (batch, heads, m, head_dim) of the (normalised) memory states: the
        same projections as the segment's, rotated to the memory's positions."""
        b, m, _ = memory.shape
        weight = self.in_proj.weight.view(3, -1, memory.shape[-1])[1:].flatten(0, 1)
        k, v = (memory @ weight.t()).view(b, m, 2, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        return apply_rotary(k, cos, sin), v


class FullAttention(QKVAttention):
    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        # scores and softmax in float32 under any autocast (sdpa's math path would use bf16)
        sdt = score_dtype(q.dtype)
        with scores_in_fp32(q.device):
            return self._attend(q.to(sdt), k.to(sdt), v.to(sdt), ctx).to(q.dtype)

    def _attend(self, q, k, v, ctx):
        mask = None
        if ctx.padding_mask is not None:
            # an additive finite mask: a row of padding never turns into NaN
            b, _, length, _ = q.shape
            mask = torch.zeros(b, 1, 1, length, dtype=q.dtype, device=q.device)
            mask.masked_fill_(ctx.padding_mask[:, None, None, :], sdpa_pad_value(q.dtype))
        return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    def attend_memory(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_mem: torch.Tensor,
                      v_mem: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """The segment's queries against the keys of `[memory ; segment]`, scored like `attend`."""
        sdt = score_dtype(q.dtype)
        k = torch.cat([k_mem.to(sdt), k.to(sdt)], dim=2)  # (batch, heads, m + L, d)
        v = torch.cat([v_mem.to(sdt), v.to(sdt)], dim=2)
        off = torch.cat([ctx.memory_padding[:, -k_mem.shape[2]:], segment_padding(q, ctx)],
                        dim=1)  # (batch, m + L)
        mask = torch.zeros(off.shape[0], 1, 1, off.shape[1], dtype=sdt, device=q.device)
        mask.masked_fill_(off[:, None, None, :], sdpa_pad_value(sdt))
        with scores_in_fp32(q.device):
            out = nn.functional.scaled_dot_product_attention(q.to(sdt), k, v, attn_mask=mask)
        return out.to(q.dtype)


def segment_padding(q: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
    """(batch, L) bool padding of the segment, all False when the context holds none."""
    if ctx.padding_mask is not None:
        return ctx.padding_mask
    return torch.zeros(q.shape[0], q.shape[2], dtype=torch.bool, device=q.device)
