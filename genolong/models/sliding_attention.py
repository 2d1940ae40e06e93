"""Longformer sliding-window attention with optional global positions, in banded chunks.

Query i attends to keys j with |i - j| <= window (a window on each side; HF Longformer's
`attention_window=512` is `window=256` here). The sequence is cut into chunks of `window`
queries, each against its own and both neighbouring chunks of keys, so the work is O(L·window).
Global positions attend to every key and every query attends to them; inside the band a
global key is masked so that it is counted once, through the global part.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genolong.models.band_attention import band_attention
from genolong.models.chunk_attention import chunk_attention, merge_partials
from genolong.models.context import AttentionContext
from genolong.models.full_attention import QKVAttention
from genolong.models.masking import PAD_VALUE, score_dtype, scores_in_fp32, sdpa_pad_value


def sliding_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int,
                   padding_mask: torch.Tensor | None = None,
                   global_mask: torch.Tensor | None = None, memory=None) -> torch.Tensor:
    """q, k, v (batch, heads, L, d); masks (batch, L) bool. Returns (batch, heads, L, d) in q's
    dtype; scores, softmax and merges run in the score dtype whatever autocast is on.

    memory: (k_mem, v_mem, off) for the `window` positions before the segment, k_mem and v_mem
    (batch, heads, window, d), off (batch, window) True where a memory key is absent; it takes
    the place of the masked chunk before the first one (no global positions with it)."""
    if memory is not None and global_mask is not None:
        raise ValueError("sliding attention: a segment memory cannot be combined with global positions")
    sdt = score_dtype(q.dtype)
    if memory is not None:
        memory = (memory[0].to(sdt), memory[1].to(sdt), memory[2])
    with scores_in_fp32(q.device):
        out = _sliding_attend(q.to(sdt), k.to(sdt), v.to(sdt), window, padding_mask, global_mask, memory)
    return out.to(q.dtype)


def _sliding_attend(q, k, v, window, padding_mask, global_mask, memory=None):
    b, h, length, d = q.shape
    lp = math.ceil(length / window) * window
    n_chunks = lp // window
    scale = d ** -0.5
    sdt = score_dtype(q.dtype)
    if lp != length:
        q, k, v = (nn.functional.pad(t, (0, 0, 0, lp - length)) for t in (q, k, v))

    pos = torch.arange(lp, device=q.device)
    q_pos = pos.view(n_chunks, window)
    k_pos = torch.arange(-window, lp + window, device=q.device).unfold(0, 3 * window, window)
    outside = (q_pos.unsqueeze(-1) - k_pos.unsqueeze(-2)).abs() > window
    # keys before the segment exist only in a memory, which masks its own absent keys
    before = (k_pos < 0) if memory is None else torch.zeros_like(k_pos, dtype=torch.bool)
    outside |= (before | (k_pos >= length)).unsqueeze(-2)  # (chunks, window, 3·window)
    bias = torch.zeros(outside.shape, dtype=sdt, device=q.device).masked_fill_(outside, PAD_VALUE)
    k_off = _band_key_mask(_key_mask(padding_mask, global_mask, b, length, lp, q.device),
                           None if memory is None else memory[2], k_pos, b, lp, window)
    if k_off is not None:  # (batch, chunks, 3·window)
        bias = bias.expand(b, *bias.shape).masked_fill(k_off[:, :, None, :], PAD_VALUE)

    bh = b * h
    chunks = (bh, n_chunks, window, d)
    k_mem, v_mem = (None, None) if memory is None else memory[:2]
    out, lse = band_attention(q.reshape(chunks), _key_chunks(k.reshape(chunks), k_mem),
                              _key_chunks(v.reshape(chunks), v_mem),
                              bias.reshape(-1, n_chunks, window, 3 * window), scale)
    out = out.view(b, h, lp, d)
    if global_mask is None:
        return out[:, :, :length]

    lse = lse.view(b, h, lp)
    g_idx, g_valid = _global_index(global_mask)  # (batch, G)
    gather = g_idx[:, None, :, None].expand(b, h, -1, d)
    g_bias = torch.zeros(b, 1, 1, g_idx.shape[1], dtype=sdt, device=q.device)
    g_bias.masked_fill_(~g_valid[:, None, None, :], PAD_VALUE)
    g_out, g_lse = chunk_attention(q, k.gather(2, gather), v.gather(2, gather), g_bias, scale)
    out, _ = merge_partials(torch.stack([out, g_out], 2), torch.stack([lse, g_lse], 2), dim=2)

    # global queries see every real key
    full_bias = torch.zeros(b, 1, 1, lp, dtype=q.dtype, device=q.device)
    pad_full = torch.zeros(b, lp, dtype=torch.bool, device=q.device)
    pad_full[:, length:] = True
    if padding_mask is not None:
        pad_full[:, :length] |= padding_mask
    full_bias.masked_fill_(pad_full[:, None, None, :], sdpa_pad_value(q.dtype))
    g_rows = nn.functional.scaled_dot_product_attention(q.gather(2, gather), k, v,
                                                        attn_mask=full_bias)
    # invalid global slots write into a spare row that is cut off
    target = torch.where(g_valid, g_idx, torch.full_like(g_idx, lp))
    out = nn.functional.pad(out, (0, 0, 0, 1))
    out = out.scatter(2, target[:, None, :, None].expand(b, h, -1, d), g_rows)
    return out[:, :, :length]


def _key_mask(padding_mask, global_mask, b, length, lp, device):
    """(batch, Lp) True where a key is left out of the band: padding, or global (counted once)."""
    if padding_mask is None and global_mask is None:
        return None
    off = torch.zeros(b, lp, dtype=torch.bool, device=device)
    off[:, length:] = True
    if padding_mask is not None:
        off[:, :length] |= padding_mask
    if global_mask is not None:
        off[:, :length] |= global_mask
    return off


def _band_key_mask(key_off, memory_off, k_pos, b, lp, window):
    """(batch, chunks, 3·window) True at the band's masked keys; memory keys at k_pos < 0."""
    if memory_off is None:
        return None if key_off is None else key_off[:, k_pos.clamp(0, lp - 1)]
    if key_off is None:
        key_off = torch.zeros(b, lp, dtype=torch.bool, device=k_pos.device)
    both = torch.cat([memory_off.to(torch.bool), key_off], dim=1)  # (batch, window + Lp)
    return both[:, (k_pos + window).clamp(max=window + lp - 1)]


def _key_chunks(k: torch.Tensor, k_mem: torch.Tensor | None) -> torch.Tensor:
    """(bh, chunks, window, d) → (bh, chunks + 2, window, d): a chunk before the first (the
    memory, or zeros that the bias masks) and a zero chunk after the last."""
    if k_mem is None:
        return nn.functional.pad(k, (0, 0, 0, 0, 1, 1))
    first = k_mem.reshape(k.shape[0], 1, *k.shape[2:]).to(k.dtype)
    return torch.cat([first, nn.functional.pad(k, (0, 0, 0, 0, 0, 1))], dim=1)


def _global_index(global_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of the global tokens of each row, padded to the longest row."""
    counts = global_mask.sum(1)
    g = max(1, int(counts.max()))
    # stable sort puts the True positions first, in order
    idx = torch.argsort((~global_mask).to(torch.int8), dim=1, stable=True)[:, :g]
    valid = torch.arange(g, device=global_mask.device).unsqueeze(0) < counts.unsqueeze(1)
    return idx, valid


class SlidingAttention(QKVAttention):
    def __init__(self, d_model: int, n_heads: int, window: int, dropout: float = 0.0):
        super().__init__(d_model, n_heads, dropout)
        self.window = window
        self.memory_reach = window

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        return sliding_attend(q, k, v, self.window, ctx.padding_mask, ctx.global_mask)

    def attend_memory(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_mem: torch.Tensor,
                      v_mem: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """The band reaches `window` keys back into the memory (its last `window` positions)."""
        m = k_mem.shape[2]
        off = ctx.memory_padding[:, -m:]  # (batch, m)
        if m < self.window:  # a memory shorter than the window: absent keys in front
            front = self.window - m
            k_mem, v_mem = (nn.functional.pad(t, (0, 0, front, 0)) for t in (k_mem, v_mem))
            off = nn.functional.pad(off, (front, 0), value=True)
        return sliding_attend(q, k, v, self.window, ctx.padding_mask, None, (k_mem, v_mem, off))
