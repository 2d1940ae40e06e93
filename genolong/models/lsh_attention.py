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
Memory is O(L · bucket_size · n_hashes) up to ~87k tokens (at the default sizes), never O(L²);
above that, `lsh_kernel.lsh_band_attention` needs O(L · d) plus one slab's scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from genolong.models.band_attention import band_attention
from genolong.models.context import AttentionContext
from genolong.models.lsh_kernel import lsh_band_attention
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
# positions hashed per matmul: at 1M tokens all of them at once would take 16 GB of rotations
HASH_SLAB = 65536
# above this size of the whole (heads, rounds, L, 3·bucket) bias, attend with the fused kernel
# (memory O(L·d), ~3x slower at 16k on CPU, measured) instead of holding sorted copies and
# the bias until backward; 1 GiB is ~87k tokens at the default 4 heads, 4 rounds, bucket 64
FUSED_ABOVE_BYTES = 2 ** 30


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
    both = both.to(qk.dtype).reshape(d, -1)
    flat = qk.detach().reshape(-1, d)
    buckets = torch.zeros(flat.shape[0], rounds, dtype=torch.long, device=qk.device)
    # a slab of positions at a time: the rotated values are rounds x factors per position
    for start in range(0, flat.shape[0], HASH_SLAB):
        rows = slice(start, start + HASH_SLAB)
        rotated = (flat[rows] @ both).view(-1, rounds, sum(factors))
        for part, f in zip(rotated.split(factors, dim=-1), factors):
            buckets[rows] = buckets[rows] * f + part.argmax(-1)
    return buckets.view(b, h, lp, rounds).transpose(2, 3), math.prod(factors)


@dataclass
class LSHSort:
    """One layer's hashing: the sort order and chunks of every round, for `lsh_attend`.

    A reversible stack keeps it from the forward for the recomputation in backward, which then
    neither re-hashes nor re-sorts, and attends over exactly the chunks the forward used (a
    rebuilt input differs from the original by rounding, which could move a position across a
    bucket boundary).
    """

    perm: torch.Tensor  # (batch·heads, rounds, Lp) int32: the position at each sorted slot
    chunk_of: torch.Tensor  # (batch·heads, rounds, Lp) int16/int32: each position's chunk
    # the sorted path's duplicate counts, one byte per (query, key) pair: with keep_counts, the
    # first attention over this sort (a reversible forward) leaves them here and the second
    # (its recomputation) takes them instead of counting again
    keep_counts: bool = False
    counts: torch.Tensor | None = None


def lsh_sort(qk: torch.Tensor, rotations: Rotations | Sequence[Rotations],
             padding_mask: torch.Tensor | None, bucket_size: int) -> LSHSort:
    """Hash qk (batch, heads, L, d) (padding_mask, rotations as `lsh_attend` takes them)."""
    b, h, length, d = qk.shape
    sdt = score_dtype(qk.dtype)
    with scores_in_fp32(qk.device):
        qk, pad = _pad_to_chunks(qk.detach().to(sdt), padding_mask, bucket_size)
        perm, chunk_of = hash_chunks(qk, rotations, pad, bucket_size)
    lp = qk.shape[2]
    shape = (b * h, perm.shape[2], lp)
    # small ints keep the duplicate-count passes over the (query, key) grid cheap
    small = torch.int16 if lp // bucket_size < 2 ** 15 else torch.int32
    return LSHSort(perm.to(torch.int32).reshape(shape), chunk_of.to(small).reshape(shape))


def lsh_attend(qk: torch.Tensor, v: torch.Tensor, rotations: Rotations | Sequence[Rotations],
               padding_mask: torch.Tensor | None, bucket_size: int,
               sort: LSHSort | None = None) -> torch.Tensor:
    """LSH attention on qk, v (batch, heads, L, d); padding_mask (batch, L) True at padding;
    rotations shared by all rows or one tuple per row, as `hash_chunks` takes them; `sort`
    an `lsh_sort` of this qk to use instead of hashing it.

    Any L: the sequence is padded internally to a multiple of bucket_size and exactly L
    positions come back, as (batch, heads, L, d) in qk's dtype. Hashing, scores and the merge
    of rounds run in the score dtype (float32 for half inputs) whatever autocast is on: a bucket
    must not depend on bf16 rounding of the rotation.
    """
    if sort is None:
        sort = lsh_sort(qk, rotations, padding_mask, bucket_size)
    sdt = score_dtype(qk.dtype)
    with scores_in_fp32(qk.device):
        out = _lsh_attend(qk.to(sdt), v.to(sdt), sort, padding_mask, bucket_size)
    return out.to(qk.dtype)


def _pad_to_chunks(x: torch.Tensor, padding_mask: torch.Tensor | None, bucket_size: int):
    """x (batch, heads, L, d) zero-padded to Lp, a multiple of bucket_size, and the (batch, Lp)
    padding mask (None when there is no padding at all)."""
    b, h, length, d = x.shape
    lp = math.ceil(length / bucket_size) * bucket_size
    if lp == length and padding_mask is None:
        return x, None
    pad = torch.zeros(b, lp, dtype=torch.bool, device=x.device)
    pad[:, length:] = True
    if padding_mask is not None:
        pad[:, :length] = padding_mask
    return nn.functional.pad(x, (0, 0, 0, lp - length)), pad


def _lsh_attend(qk, v, sort, padding_mask, bucket_size):
    b, h, length, d = qk.shape
    qk, pad = _pad_to_chunks(qk, padding_mask, bucket_size)
    v, _ = _pad_to_chunks(v, padding_mask, bucket_size)
    lp = qk.shape[2]
    perm = sort.perm.long()
    bias_bytes = b * h * perm.shape[1] * lp * 3 * bucket_size * qk.element_size()
    if bias_bytes > FUSED_ABOVE_BYTES:
        # in the projections' (batch, L, heads, d) layout, which the kernel reads and writes
        # through strided views: the caller's transpose back to (batch, L, d_model) is a view
        out = lsh_band_attention(qk.transpose(1, 2), v.transpose(1, 2), perm, sort.chunk_of,
                                 pad, bucket_size, d ** -0.5).transpose(1, 2)
    else:
        out = _sorted_attend(qk, v, perm, sort, pad, bucket_size).view(b, h, lp, d)
    # no slice when nothing was padded: its backward would allocate a zero-filled copy
    return out if lp == length else out[:, :, :length]


def _sorted_attend(qk, v, perm_bh, sort, pad, bucket_size):
    """All rounds and heads at once: sorted copies of q, k, v and the whole bias (then the
    probabilities, when a gradient is wanted), in memory until backward. Faster than the fused
    kernel, which rebuilds the bias in backward."""
    b, h, lp, d = qk.shape
    bh, rounds, n_chunks, bs = b * h, perm_bh.shape[1], lp // bucket_size, bucket_size
    slot_of = torch.empty_like(perm_bh).scatter_(
        -1, perm_bh, torch.arange(lp, device=qk.device).expand_as(perm_bh))  # inverse orders
    qk, v = qk.reshape(bh, lp, d), v.reshape(bh, lp, d)
    # keys are the unit-normalised queries; normalised before the sort, once per position
    kn = nn.functional.normalize(qk, dim=-1)
    q_sorted = permute_rows(qk, perm_bh, slot_of, 0).view(bh, rounds * n_chunks, bs, d)
    # keys and values get a zero chunk at each end (masked), the layout band_attention expects
    k_sorted = permute_rows(kn, perm_bh, slot_of, bs).view(bh, rounds * n_chunks + 2, bs, d)
    v_sorted = permute_rows(v, perm_bh, slot_of, bs).view(bh, rounds * n_chunks + 2, bs, d)

    with torch.no_grad():
        counts, sort.counts = sort.counts, None
        keep = sort.keep_counts and counts is None
        bias, counts = _lsh_bias(perm_bh, sort.chunk_of, pad, h, n_chunks, bucket_size, qk.dtype,
                                 counts)
        if keep:
            sort.counts = counts
        del counts
    out, lse = band_attention(q_sorted, k_sorted, v_sorted, bias, d ** -0.5, keep_probs=True)
    del bias

    # back to positions: one order per (block, round), the inverse of its sort
    by_round = (bh * rounds, 1, lp)
    out = permute_rows(out.view(bh * rounds, lp, d), slot_of.view(by_round),
                       perm_bh.view(by_round), 0).view(bh, rounds, lp, d)
    if rounds == 1:
        return out.view(bh, lp, d)
    lse = permute_rows(lse.view(bh * rounds, lp, 1), slot_of.view(by_round),
                       perm_bh.view(by_round), 0).view(bh, rounds, lp)
    # rounds merged by their log-sum-exp: with the duplicate correction, a softmax over the union
    weights = torch.softmax(lse, dim=1).unsqueeze(-1)  # (bh, rounds, Lp, 1)
    return (out * weights).sum(1)  # (bh, Lp, d)


def permute_rows(x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor,
                 margin: int) -> torch.Tensor:
    """x (B, n, d) in R orders each: (B, margin + R·n + margin, d), row margin + r·n + j of
    block b being x[b, index[b, r, j]], and zero rows in the margins.

    index (B, R, n) holds a permutation of range(n) in each (b, r), and inverse its inverse:
    backward is then a gather too (summed over the R orders), where index_select's backward
    would scatter-add.
    """
    return _PermuteRows.apply(x, index, inverse, margin)


class _PermuteRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, index, inverse, margin):
        b, n, d = x.shape
        rounds = index.shape[1]
        out = x.new_empty(b, rounds * n + 2 * margin, d)
        out[:, :margin] = 0
        out[:, margin + rounds * n:] = 0
        for i in range(b):
            torch.index_select(x[i], 0, index[i].reshape(-1), out=out[i, margin:margin + rounds * n])
        ctx.save_for_backward(inverse)
        ctx.margin = margin
        return out

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        b, rounds, n = inverse.shape
        m, d = ctx.margin, grad.shape[-1]
        grad = grad.contiguous()
        dx = grad.new_empty(b, n, d)
        # rows of order r start at r·n in each block's unpadded part
        offsets = (torch.arange(rounds, device=grad.device) * n).view(rounds, 1)
        for i in range(b):
            g = grad[i, m:m + rounds * n]  # (R·n, d)
            if rounds == 1:
                torch.index_select(g, 0, inverse[i, 0], out=dx[i])
            else:
                rows = g.index_select(0, (inverse[i] + offsets).reshape(-1))
                torch.sum(rows.view(rounds, n, d), 0, out=dx[i])
        return dx, None, None, None


def _lsh_bias(perm: torch.Tensor, chunk_of: torch.Tensor, pad: torch.Tensor | None, heads: int,
              n_chunks: int, bucket_size: int, dtype: torch.dtype,
              counts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Additive bias (bh, rounds · chunks, bucket, 3·bucket): padding, self, duplicate counts;
    and the counts (`duplicate_counts`; None for one round), taken from `counts` when given."""
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
        if counts is None:
            counts = duplicate_counts(chunk_of, q_pos, k_safe)
        # -log(count): three passes over the grid, 2.4x faster than picking the few values it
        # takes from a table by comparisons (0.10 vs 0.24 CPU s per layer at 16k, measured). A
        # key that is not masked below shares at least its own round with the query: count 0
        # (log: -inf) only happens at masked keys, which the padding value overwrites
        bias = counts.to(dtype).log_().neg_()
    # a token's own key sits on the diagonal of the middle third of its window
    bias.diagonal(offset=bs, dim1=-2, dim2=-1).fill_(SELF_VALUE)
    if pad is None:
        # only each round's first and last chunk miss a neighbour: mask just those
        ends = [0, n_chunks - 1]
        bias[:, :, ends] = bias[:, :, ends].masked_fill_(invalid[:, :, ends].unsqueeze(-2),
                                                         PAD_VALUE)
    else:
        bias.masked_fill_(invalid.unsqueeze(-2), PAD_VALUE)
    return bias.view(bh, rounds * n_chunks, bs, 3 * bs), counts


def duplicate_counts(chunk_of: torch.Tensor, q_pos: torch.Tensor,
                     k_safe: torch.Tensor) -> torch.Tensor:
    """In how many rounds each (query, key) pair of the windows shares a chunk neighbourhood:
    uint8 (bh, rounds, chunks, bucket, 3·bucket), one byte a pair for keeping; q_pos (bh, rounds, chunks, bucket) and k_safe
    (bh, rounds, chunks, 3·bucket) the positions of the windows' queries and keys."""
    bh, rounds, n_chunks, bs = q_pos.shape
    count = None
    for r in range(rounds):
        c = chunk_of[:, r]  # (bh, Lp), a small int type: cheap passes over the grid
        cq = torch.gather(c, 1, q_pos.reshape(bh, -1)).view(bh, rounds, n_chunks, bs, 1)
        ck = torch.gather(c, 1, k_safe.reshape(bh, -1)).view(bh, rounds, n_chunks, 1, 3 * bs)
        # in place in chunk_of's int type: 1.9x faster than a bool result added to uint8
        near = (cq - ck).abs_().le_(1)  # (bh, rounds, chunks, bucket, 3·bucket), 0/1
        count = near if count is None else count.add_(near)
    return count.to(torch.uint8)


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
        # two products, not one: the unrotated qk is then freed after the rotation, while v
        # stays until backward
        w_qk, w_v = self.in_proj.weight.chunk(2)
        qk = nn.functional.linear(x, w_qk).view(b, length, self.n_heads, -1).transpose(1, 2)
        v = nn.functional.linear(x, w_v).view(b, length, self.n_heads, -1).transpose(1, 2)
        qk = apply_rotary(qk, ctx.cos, ctx.sin)  # (batch, heads, L, head_dim)
        pad = ctx.padding_mask
        n_real = [length] * b if pad is None else (~pad).sum(1).tolist()
        # drawn on every call, a recomputation too: dropout below must see the same RNG stream
        rotations = self.row_rotations(n_real, qk.shape[-1], x.device)
        kept = ctx.kept_sorts
        sort = None if kept is None else kept.pop(self, None)
        if sort is None:
            sort = lsh_sort(qk, rotations, pad, self.bucket_size)
            if kept is not None:
                sort.keep_counts = True
                kept[self] = sort
        out = lsh_attend(qk, v, rotations, pad, self.bucket_size, sort)
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
