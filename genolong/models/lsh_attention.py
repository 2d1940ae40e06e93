"""Reformer LSH attention: angular hashing, sort, chunked attention, rounds merged by log-sum-exp.

Semantics, per hashing round r:
- each position is hashed by a random rotation into one of `n_buckets` angular buckets, about
  one per `bucket_size` real tokens of its own row (not of the batch's longest row, so a row's
  result never depends on its batch-mates or on the padding); padding
  goes to an extra bucket after all others, so it never shares a chunk with a real token except
  the last, partly filled one (where it is masked);
- positions are sorted by (bucket, position) and cut into chunks of `bucket_size`; a chunk
  attends to itself and to its neighbours. Neighbours do not wrap around: the first chunk has no
  previous one, so adding padding at the end never changes which keys a real query sees;
- the shared query/key vector is the query; its unit-normalised copy is the key. A token's own
  key gets `SELF_VALUE`, so it is only attended when nothing else is.

Rounds are merged by their log-sum-exp, and a key that a query meets in c rounds has log(c)
subtracted from its score in each. The result is exactly softmax attention over the union of the
keys met in any round, each counted once (the Reformer paper's duplicate correction).
Memory is O(L · bucket_size · n_hashes), never O(L²).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from genolong.models.band_attention import band_attention
from genolong.models.chunk_attention import merge_partials
from genolong.models.context import AttentionContext
from genolong.models.masking import PAD_VALUE, SELF_VALUE, score_dtype, scores_in_fp32
from genolong.models.rotary import apply_rotary


def n_buckets_for(n_real: int, bucket_size: int) -> int:
    """About one bucket per chunk of real tokens; angular hashing needs an even count."""
    n = max(1, math.ceil(n_real / bucket_size))
    return n + n % 2


def bucket_factors(n_buckets: int) -> tuple[int, ...]:
    """Even factors whose product is at least n_buckets: one up to 64 buckets, else two.

    Hashing costs a matmul with as many columns as buckets, which at 16k tokens (256 buckets,
    4 rounds) is more work than the attention itself. Above 64 buckets the bucket is the pair of
    two independent angular hashes (an AND of two LSH functions), ~2·sqrt(n) columns instead.
    """
    if n_buckets <= 64:
        return (n_buckets,)
    first = 2 * math.ceil(math.sqrt(n_buckets) / 2)
    return first, 2 * math.ceil(n_buckets / first / 2)


def lsh_rotations(head_dim: int, n_hashes: int, n_buckets: int, device, dtype,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Random rotations for angular LSH: one (head_dim, n_hashes, factor // 2) per factor."""
    return tuple(torch.randn(head_dim, n_hashes, f // 2, device=device, dtype=dtype,
                             generator=generator) for f in bucket_factors(n_buckets))


Rotations = tuple[torch.Tensor, ...]


def hash_chunks(qk: torch.Tensor, rotations: Rotations | Sequence[Rotations],
                padding_mask: torch.Tensor | None,
                bucket_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort order of each round and each position's chunk index in it.

    qk (batch, heads, Lp, d) with Lp a multiple of bucket_size. `rotations` is one
    `lsh_rotations` tuple shared by every row, or a list with one per row (rows may have
    different bucket counts; rows that share a tuple are hashed together). Returns perm (batch,
    heads, rounds, Lp), the position at each sorted slot, and chunk_of (batch, heads, rounds,
    Lp), the chunk each position lands in.
    """
    b, h, lp, d = qk.shape
    per_row = list(rotations) if isinstance(rotations, list) else [rotations] * b
    groups: dict[int, list[int]] = {}
    for row, rot in enumerate(per_row):
        groups.setdefault(id(rot), []).append(row)
    rounds = per_row[0][0].shape[1]
    keys = torch.empty(b, h, rounds, lp, dtype=torch.long, device=qk.device)
    pos = torch.arange(lp, device=qk.device)
    for rows in groups.values():
        index = torch.tensor(rows, device=qk.device)
        buckets, n_buckets = _buckets(qk.index_select(0, index), per_row[rows[0]])
        if padding_mask is not None:
            # padding goes to a bucket after every real one, so it sorts to the end
            pad = padding_mask.index_select(0, index)[:, None, None, :]
            buckets = buckets.masked_fill(pad, n_buckets)
        keys[index] = buckets * lp + pos  # unique keys: a stable (bucket, position) sort
    perm = keys.argsort(dim=-1)
    slot_of = torch.empty_like(perm).scatter_(-1, perm, pos.expand_as(perm))
    return perm, torch.div(slot_of, bucket_size, rounding_mode="floor")


def _buckets(qk: torch.Tensor, rotations: Rotations) -> tuple[torch.Tensor, int]:
    """Angular buckets (batch, heads, rounds, Lp) of qk (batch, heads, Lp, d), and their count."""
    b, h, lp, d = qk.shape
    rounds = rotations[0].shape[1]
    factors = [2 * r.shape[2] for r in rotations]
    # argmax over [xR, -xR] for every factor in one matmul, by rotating with [R, -R]
    both = torch.cat([torch.cat([r, -r], dim=-1) for r in rotations], dim=-1)
    rotated = qk.detach().reshape(-1, d) @ both.to(qk.dtype).reshape(d, -1)
    rotated = rotated.view(b, h, lp, rounds, sum(factors))
    buckets = torch.zeros(b, h, lp, rounds, dtype=torch.long, device=qk.device)
    for part, f in zip(rotated.split(factors, dim=-1), factors):
        buckets = buckets * f + part.argmax(-1)
    return buckets.transpose(2, 3), math.prod(factors)


def _flat_gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, Lp, d) gathered per row: index (B, R, Lp) → (B, R, Lp, d), via one index_select."""
    b, lp, d = x.shape
    offsets = (torch.arange(b, device=x.device) * lp).view(b, 1, 1)
    return x.reshape(b * lp, d).index_select(0, (index + offsets).reshape(-1)).view(
        *index.shape, d)


def _pad_chunks(x: torch.Tensor) -> torch.Tensor:
    """(B, N, size, d) → (B, N + 2, size, d) with a zero chunk at each end (keys there are
    masked), the layout `band_attention` expects."""
    return nn.functional.pad(x, (0, 0, 0, 0, 1, 1))


def lsh_attend(qk: torch.Tensor, v: torch.Tensor, rotations: Rotations | Sequence[Rotations],
               padding_mask: torch.Tensor | None, bucket_size: int) -> torch.Tensor:
    """LSH attention on qk, v (batch, heads, L, d); padding_mask (batch, L) True at padding;
    rotations shared by all rows or one tuple per row, as `hash_chunks` takes them.

    Any L: the sequence is padded internally to a multiple of bucket_size and exactly L
    positions come back, as (batch, heads, L, d) in qk's dtype. Hashing, scores and the merge
    of rounds run in the score dtype (float32 for half inputs) whatever autocast is on: a bucket
    must not depend on bf16 rounding of the rotation.
    """
    sdt = score_dtype(qk.dtype)
    with scores_in_fp32(qk.device):
        out = _lsh_attend(qk.to(sdt), v.to(sdt), rotations, padding_mask, bucket_size)
    return out.to(qk.dtype)


def _lsh_attend(qk, v, rotations, padding_mask, bucket_size):
    b, h, length, d = qk.shape
    rounds = (rotations[0] if isinstance(rotations, list) else rotations)[0].shape[1]
    lp = math.ceil(length / bucket_size) * bucket_size
    n_chunks = lp // bucket_size
    pad = None
    if lp != length or padding_mask is not None:
        pad = torch.zeros(b, lp, dtype=torch.bool, device=qk.device)
        pad[:, length:] = True
        if padding_mask is not None:
            pad[:, :length] = padding_mask
        qk = nn.functional.pad(qk, (0, 0, 0, lp - length))
        v = nn.functional.pad(v, (0, 0, 0, lp - length))
    perm, chunk_of = hash_chunks(qk, rotations, pad, bucket_size)

    bh = b * h
    perm_bh = perm.reshape(bh, rounds, lp)
    shape = (bh, rounds * n_chunks, bucket_size, d)
    q_sorted = _flat_gather(qk.reshape(bh, lp, d), perm_bh).view(shape)
    v_sorted = _flat_gather(v.reshape(bh, lp, d), perm_bh).view(shape)
    k_sorted = nn.functional.normalize(q_sorted, dim=-1)

    with torch.no_grad():
        bias = _lsh_bias(perm_bh, chunk_of.reshape(bh, rounds, lp), pad, h, n_chunks,
                         bucket_size, score_dtype(qk.dtype))
    out, lse = band_attention(q_sorted, _pad_chunks(k_sorted), _pad_chunks(v_sorted), bias,
                              d ** -0.5)

    # back to positions: slot of each position in each round
    slot_of = torch.empty_like(perm_bh).scatter_(
        -1, perm_bh, torch.arange(lp, device=qk.device).expand_as(perm_bh))
    rows = (torch.arange(bh * rounds, device=qk.device) * lp).view(bh, rounds, 1)
    flat = (slot_of + rows).reshape(-1)
    out = out.reshape(-1, d).index_select(0, flat).view(bh, rounds, lp, d)
    if rounds == 1:
        return out.view(b, h, lp, d)[:, :, :length]
    lse = lse.reshape(-1).index_select(0, flat).view(bh, rounds, lp)
    out, _ = merge_partials(out, lse, dim=1)  # (bh, Lp, d)
    return out.view(b, h, lp, d)[:, :, :length]


def _lsh_bias(perm: torch.Tensor, chunk_of: torch.Tensor, pad: torch.Tensor | None, heads: int,
              n_chunks: int, bucket_size: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive bias (bh, rounds · chunks, bucket, 3·bucket): padding, self, duplicate counts."""
    bh, rounds, lp = perm.shape
    bs = bucket_size
    q_pos = perm.view(bh, rounds, n_chunks, bs)
    # -1 marks the missing neighbours of each round's first and last chunk
    k_pos = nn.functional.pad(q_pos, (0, 0, 1, 1), value=-1)
    k_pos = torch.cat([k_pos[..., :-2, :], k_pos[..., 1:-1, :], k_pos[..., 2:, :]], dim=-1)
    invalid = k_pos < 0  # (bh, rounds, chunks, 3·bucket)
    k_safe = k_pos.clamp(min=0)
    if pad is not None:
        pad_bh = pad.repeat_interleave(heads, dim=0)  # (bh, Lp)
        invalid |= torch.gather(pad_bh, 1, k_safe.view(bh, -1)).view_as(k_safe)
    if rounds == 1:
        bias = torch.zeros(bh, rounds, n_chunks, bs, 3 * bs, dtype=dtype, device=perm.device)
    else:
        # in how many rounds each (query, key) pair shares a chunk neighbourhood; small ints
        # keep these passes over the (query, key) grid cheap
        small_int = torch.int16 if n_chunks < 2 ** 15 else torch.int32
        small = chunk_of.to(small_int)
        count = None
        for r in range(rounds):
            c = small[:, r]  # (bh, Lp)
            cq = torch.gather(c, 1, q_pos.reshape(bh, -1)).view(bh, rounds, n_chunks, bs, 1)
            ck = torch.gather(c, 1, k_safe.reshape(bh, -1)).view(bh, rounds, n_chunks, 1, 3 * bs)
            near = (cq - ck).abs_().le_(1)  # (bh, rounds, chunks, bucket, 3·bucket), 0/1
            count = near if count is None else count.add_(near)
        # a key that is not masked below shares at least its own round with the query: the
        # log of 0 only happens at masked keys, which the padding value overwrites
        bias = count.to(dtype).log_().neg_()
    # a token's own key sits on the diagonal of the middle third of its window
    bias.diagonal(offset=bs, dim1=-2, dim2=-1).fill_(SELF_VALUE)
    bias.masked_fill_(invalid.unsqueeze(-2), PAD_VALUE)
    return bias.view(bh, rounds * n_chunks, bs, 3 * bs)


class LSHAttention(nn.Module):
    """Shared-QK LSH self-attention layer: projections, rotary positions, `lsh_attend`."""

    def __init__(self, d_model: int, n_heads: int, bucket_size: int, n_hashes: int,
                 dropout: float = 0.0, eval_seed: int = 0):
        super().__init__()
        self.n_heads = n_heads
        self.bucket_size = bucket_size
        self.n_hashes = n_hashes
        self.eval_seed = eval_seed
        self.in_proj = nn.Linear(d_model, 2 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        b, length, dm = x.shape
        qk, v = self.in_proj(x).view(b, length, 2, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        qk = apply_rotary(qk, ctx.cos, ctx.sin)  # (batch, heads, L, head_dim)
        pad = ctx.padding_mask
        n_real = [length] * b if pad is None else (~pad).sum(1).tolist()
        rotations = self.row_rotations(n_real, qk.shape[-1], x.device)
        out = lsh_attend(qk, v, rotations, pad, self.bucket_size)
        out = out.transpose(1, 2).reshape(b, length, dm)
        return self.dropout(self.out_proj(out))

    def row_rotations(self, n_real: list[int], head_dim: int,
                      device: torch.device) -> list[Rotations]:
        """One rotation tuple per row, for as many buckets as that row's own real tokens need.

        A row's bucket count comes from its own length, never from the batch's longest row or
        its padding, so a window's output does not depend on its batch-mates. Training draws
        one set per distinct count from the global RNG (replayed by reversible backward); eval
        seeds each from `eval_seed`, so a row's rotations depend on its length alone and
        annotating the same genome twice, in any batching, gives the same result.
        """
        counts = [n_buckets_for(n, self.bucket_size) for n in n_real]
        by_count = {}
        for n in sorted(set(counts)):
            gen = None
            if not self.training:
                gen = torch.Generator(device=device).manual_seed(self.eval_seed)
            by_count[n] = lsh_rotations(head_dim, self.n_hashes, n, device, torch.float32, gen)
        return [by_count[n] for n in counts]
