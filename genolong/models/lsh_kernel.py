"""Fused LSH band attention: sort, attend to the neighbouring chunks, unsort and merge the
hashing rounds in one autograd function, one (batch · head) block and one slab of chunks at a
time.

Nothing of size (L · rounds · 3·bucket) ever exists: the additive bias (padding, self, the
duplicate counts) is rebuilt for each slab of a few thousand queries, in forward and again in
backward, and the sorted copies of q, k and v are one block and one round at a time. What is
kept for backward is the inputs, the sort order, the merged output and its log-sum-exp: O(L·d).
Inputs, output and gradients are in the (batch, L, heads, d) layout of the projections around
it, read and written a (batch, head) block at a time through strided views: no transposed copy
of q, k, v or the output exists.

Rounds are merged online by their log-sum-exp. Backward uses that the merged result is a
softmax over the union of every round's keys, so with L the merged log-sum-exp of a query each
round's probabilities are exp(score - L), and ds = p · (dO·vᵀ - rowsum(dO ∘ O)), as in
FlashAttention, without per-round outputs.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from genolong.models.masking import PAD_VALUE, SELF_VALUE, fp32_region

# queries per slab: the (queries, 3·bucket) score grid and its few temporaries stay ~10 MB each
SLAB_QUERIES = 16384


def lsh_band_attention(qk: torch.Tensor, v: torch.Tensor, perm: torch.Tensor,
                       chunk_of: torch.Tensor, pad: torch.Tensor | None,
                       bucket: int, scale: float) -> torch.Tensor:
    """qk, v (B, Lp, H, d) in the score dtype, any strides; perm (B·H, rounds, Lp) the position
    at each sorted slot; chunk_of (B·H, rounds, Lp) each position's chunk (a small int type),
    blocks batch-major (block i is batch row i // H, head i % H); pad (B, Lp) True at padding.
    Returns (B, Lp, H, d), contiguous."""
    return _LSHBand.apply(qk, v, perm, chunk_of, pad, bucket, scale)


def _blocks(x: torch.Tensor):
    """(block index, (Lp, d) view) of x (B, Lp, H, d), batch-major."""
    b, _, h, _ = x.shape
    return ((i, x[i // h, :, i % h]) for i in range(b * h))


class _Round:
    """One block's sorted view for one round: q, key and value windows, positions."""

    def __init__(self, qk, kn, v, perm_r, bucket):
        lp, d = qk.shape
        n = lp // bucket
        self.n, self.bucket, self.perm = n, bucket, perm_r
        self.q = qk.index_select(0, perm_r).view(n, bucket, d)
        self.k = _windows(kn.index_select(0, perm_r).view(n, bucket, d))
        self.v = _windows(v.index_select(0, perm_r).view(n, bucket, d))
        self.q_pos = perm_r.view(n, bucket)
        # -1 marks the missing neighbours of the first and last chunk: no wrap-around
        k_pos = F.pad(self.q_pos, (0, 0, 1, 1), value=-1)
        self.k_pos = k_pos.as_strided((n, 3 * bucket), (bucket, 1))

    def slabs(self):
        step = max(1, SLAB_QUERIES // self.bucket)
        return [slice(c, min(c + step, self.n)) for c in range(0, self.n, step)]


def _windows(x: torch.Tensor) -> torch.Tensor:
    """(N, size, d) → (N, 3·size, d) views: chunk n with its previous and next (zeros at the
    ends, masked by the bias)."""
    n, size, d = x.shape
    padded = F.pad(x, (0, 0, 0, 0, 1, 1))
    return padded.as_strided((n, 3 * size, d), (size * d, d, 1))


def _fold_into(acc: torch.Tensor, w: torch.Tensor, rows: slice) -> None:
    """Add window gradients w (n, 3·size, d) of chunks `rows` onto acc (N + 2, size, d), the
    padded chunk layout the windows view."""
    size = w.shape[1] // 3
    c0, c1 = rows.start, rows.stop
    acc[c0:c1] += w[:, :size]
    acc[c0 + 1:c1 + 1] += w[:, size:2 * size]
    acc[c0 + 2:c1 + 2] += w[:, 2 * size:]


def _bias(q_pos, k_pos, chunk_of, pad, dtype):
    """(n, bucket, 3·bucket): -log(rounds in which the pair meets), SELF_VALUE on a token's own
    key, PAD_VALUE on padding and missing neighbours."""
    k_safe = k_pos.clamp(min=0)
    invalid = k_pos < 0  # (n, 3·bucket)
    if pad is not None:
        invalid |= pad[k_safe]
    n, bucket = q_pos.shape
    if chunk_of.shape[0] == 1:
        bias = torch.zeros(n, bucket, k_pos.shape[1], dtype=dtype, device=q_pos.device)
    else:
        count = None
        for c in chunk_of:  # each round's chunk of every position
            near = (c[q_pos].unsqueeze(-1) - c[k_safe].unsqueeze(-2)).abs_().le_(1)
            count = near if count is None else count.add_(near)
        # a valid key meets its query at least in this round; log(0) only at masked keys
        bias = count.to(dtype).log_().neg_()
    bias.masked_fill_(q_pos.unsqueeze(-1) == k_pos.unsqueeze(-2), SELF_VALUE)
    return bias.masked_fill_(invalid.unsqueeze(-2), PAD_VALUE)


def _block_forward(qk, v, perm, chunk_of, pad, bucket, scale):
    """One block: merged output (Lp, d) and log-sum-exp (Lp,)."""
    kn = F.normalize(qk, dim=-1)
    out = lse = None
    for perm_r in perm:
        rnd = _Round(qk, kn, v, perm_r, bucket)
        o_sorted = torch.empty_like(rnd.q)
        l_sorted = qk.new_empty(rnd.n, bucket)
        for s in rnd.slabs():
            scores = torch.baddbmm(_bias(rnd.q_pos[s], rnd.k_pos[s], chunk_of, pad, qk.dtype),
                                   rnd.q[s], rnd.k[s].transpose(1, 2), alpha=scale)
            probs = torch.softmax(scores, dim=-1)  # (n, bucket, 3·bucket)
            # lse from the row maximum: max(s) - log(max(p)), without another exp pass
            l_sorted[s] = scores.amax(-1).sub_(probs.amax(-1).log_())
            del scores
            torch.bmm(probs, rnd.v[s], out=o_sorted[s])
        o_r = torch.empty_like(qk).index_copy_(0, perm_r, o_sorted.view(-1, qk.shape[1]))
        l_r = torch.empty_like(qk[:, 0]).index_copy_(0, perm_r, l_sorted.view(-1))
        if out is None:
            out, lse = o_r, l_r
        else:
            merged = torch.logaddexp(lse, l_r)
            out.mul_((lse - merged).exp_().unsqueeze(-1))
            out.add_(o_r.mul_((l_r - merged).exp_().unsqueeze(-1)))
            lse = merged
    return out, lse


def _block_backward(qk, v, perm, chunk_of, pad, out, lse, dout, bucket, scale, dq, dv):
    """Gradients of one block, probabilities recomputed slab by slab, written into dq and dv
    (Lp, d) views."""
    with torch.enable_grad():
        qk_leaf = qk.detach().requires_grad_(True)
        kn = F.normalize(qk_leaf, dim=-1)
    row = (dout * out).sum(-1)  # (Lp,) rowsum(dO ∘ O)
    dq.zero_()
    dv.zero_()
    dkn = torch.zeros_like(kn)
    d = qk.shape[1]
    for perm_r in perm:
        rnd = _Round(qk, kn.detach(), v, perm_r, bucket)
        do = dout.index_select(0, perm_r).view(rnd.n, bucket, d)
        l_s = lse.index_select(0, perm_r).view(rnd.n, bucket, 1)
        row_s = row.index_select(0, perm_r).view(rnd.n, bucket, 1)
        dq_s = torch.empty_like(rnd.q)
        dk_s = qk.new_zeros(rnd.n + 2, bucket, d)
        dv_s = qk.new_zeros(rnd.n + 2, bucket, d)
        for s in rnd.slabs():
            scores = torch.baddbmm(_bias(rnd.q_pos[s], rnd.k_pos[s], chunk_of, pad, qk.dtype),
                                   rnd.q[s], rnd.k[s].transpose(1, 2), alpha=scale)
            probs = scores.sub_(l_s[s]).exp_()  # (n, bucket, 3·bucket): of the merged softmax
            _fold_into(dv_s, torch.bmm(probs.transpose(1, 2), do[s]), s)
            ds = torch.bmm(do[s], rnd.v[s].transpose(1, 2)).sub_(row_s[s]).mul_(probs)
            del probs
            torch.mul(torch.bmm(ds, rnd.k[s]), scale, out=dq_s[s])
            _fold_into(dk_s, torch.bmm(ds.transpose(1, 2), rnd.q[s]).mul_(scale), s)
        dq.index_add_(0, perm_r, dq_s.view(-1, d))
        dkn.index_add_(0, perm_r, dk_s[1:-1].reshape(-1, d))
        dv.index_add_(0, perm_r, dv_s[1:-1].reshape(-1, d))
    # keys are the unit-normalised queries: back through the normalisation
    (dk,) = torch.autograd.grad(kn, qk_leaf, dkn)
    dq.add_(dk)


class _LSHBand(torch.autograd.Function):
    @staticmethod
    @fp32_region
    def forward(ctx, qk, v, perm, chunk_of, pad, bucket, scale):
        b, lp, h, d = qk.shape
        out = qk.new_empty(b, lp, h, d)
        lse = qk.new_empty(b * h, lp)
        for (i, q_i), (_, v_i), (_, o_i) in zip(_blocks(qk), _blocks(v), _blocks(out)):
            row_pad = None if pad is None else pad[i // h]
            o, lse[i] = _block_forward(q_i, v_i, perm[i], chunk_of[i], row_pad, bucket, scale)
            o_i.copy_(o)
            del o
        ctx.save_for_backward(qk, v, perm, chunk_of, pad, out, lse)
        ctx.bucket, ctx.scale = bucket, scale
        return out

    @staticmethod
    @fp32_region
    def backward(ctx, dout):
        qk, v, perm, chunk_of, pad, out, lse = ctx.saved_tensors
        h = qk.shape[2]
        dqk, dv = qk.new_empty(qk.shape), v.new_empty(v.shape)
        for (i, q_i), (_, v_i), (_, o_i), (_, do_i), (_, dq_i), (_, dv_i) in zip(
                _blocks(qk), _blocks(v), _blocks(out), _blocks(dout), _blocks(dqk), _blocks(dv)):
            row_pad = None if pad is None else pad[i // h]
            _block_backward(q_i, v_i, perm[i], chunk_of[i], row_pad, o_i, lse[i], do_i,
                            ctx.bucket, ctx.scale, dq_i, dv_i)
        return dqk, dv, None, None, None, None, None
