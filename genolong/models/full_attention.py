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
    attention share it, and so share parameter names."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        b, length, dm = x.shape
        q, k, v = self.in_proj(x).view(b, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, ctx.cos, ctx.sin), apply_rotary(k, ctx.cos, ctx.sin)
        out = self.attend(q, k, v, ctx)  # (batch, heads, L, head_dim)
        return self.dropout(self.out_proj(out.transpose(1, 2).reshape(b, length, dm)))


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
