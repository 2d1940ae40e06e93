"""Attention of query chunks to their previous, own and next key chunk, with the log-sum-exp.

This is the kernel under LSH and sliding-window attention. Key windows are overlapping strided
views of the key chunks, never copies, and backward recomputes the probabilities instead of
saving them (FlashAttention style), so what stays alive between forward and backward is the
inputs and the bias (not the output: the softmax gradient needs only the probabilities). With
`keep_probs` the probabilities are kept instead of the bias: the same size when the bias is per
block (LSH), and backward skips the score matmul and the softmax. Work runs one (batch · head)
block at a time, which bounds the temporaries to one block's scores. The log-sum-exp is
returned with its gradient, because LSH merges hashing rounds, and sliding attention merges its
global part, by it.
"""

from __future__ import annotations

import torch

from genolong.models.masking import fp32_region, score_dtype


def _windows(k: torch.Tensor) -> torch.Tensor:
    """k (N + 2, size, d) contiguous → (N, 3·size, d): chunk n sees chunks n, n+1, n+2."""
    n, size, d = k.shape
    return k.as_strided((n - 2, 3 * size, d), (size * d, d, 1))


def _fold(w: torch.Tensor) -> torch.Tensor:
    """The adjoint of `_windows`: (N, 3·size, d) window gradients summed onto N + 2 chunks."""
    n, three, d = w.shape
    size = three // 3
    out = w.new_zeros(n + 2, size, d)
    out[:n] += w[:, :size]
    out[1:n + 1] += w[:, size:2 * size]
    out[2:] += w[:, 2 * size:]
    return out


def _probs(q, kw, bias, scale):
    """Scores and probabilities of one block; q (N, size, d), kw (N, 3·size, d)."""
    scores = torch.baddbmm(bias, q, kw.transpose(1, 2), alpha=scale)  # (N, size, 3·size)
    return scores, torch.softmax(scores, dim=-1)


def _block_bias(bias: torch.Tensor, i: int, n_blocks: int) -> torch.Tensor:
    """Block i's bias: blocks are (batch · head) in that order, the bias per batch or shared."""
    return bias[i * bias.shape[0] // n_blocks]


class _BandAttention(torch.autograd.Function):
    @staticmethod
    @fp32_region
    def forward(ctx, q, k, v, bias, scale, keep_probs):
        ctx.set_materialize_grads(False)
        keep = keep_probs and any(ctx.needs_input_grad[:3])
        out = torch.empty_like(q)
        lse = q.new_empty(q.shape[:-1])
        kept = []  # each block's probabilities (N, size, 3·size), when kept
        for i in range(q.shape[0]):
            scores, probs = _probs(q[i], _windows(k[i]), _block_bias(bias, i, q.shape[0]), scale)
            # lse from the row maximum: max(s) - log(max(p)), without another exp pass
            lse[i] = scores.amax(-1).sub_(probs.amax(-1).log_())
            del scores
            torch.bmm(probs, _windows(v[i]), out=out[i])
            if keep:
                kept.append(probs)
        ctx.save_for_backward(q, k, v, None if keep else bias, *kept)
        ctx.scale = scale
        return out, lse

    @staticmethod
    @fp32_region
    def backward(ctx, dout, dlse):
        q, k, v, bias, *kept = ctx.saved_tensors
        scale = ctx.scale
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        for i in range(q.shape[0]):
            kw, vw = _windows(k[i]), _windows(v[i])
            if kept:
                probs = kept[i]
            else:
                _, probs = _probs(q[i], kw, _block_bias(bias, i, q.shape[0]), scale)
            if dout is None:
                ds = torch.zeros_like(probs)
                dv[i].zero_()
            else:
                dv[i] = _fold(torch.bmm(probs.transpose(1, 2), dout[i]))
                dp = torch.bmm(dout[i], vw.transpose(1, 2))  # (N, size, 3·size)
                ds = torch._softmax_backward_data(dp, probs, -1, probs.dtype)
                del dp
            if dlse is not None:
                ds.addcmul_(probs, dlse[i].unsqueeze(-1))
            del probs
            torch.mul(torch.bmm(ds, kw), scale, out=dq[i])
            dk[i] = _fold(torch.bmm(ds.transpose(1, 2), q[i]).mul_(scale))
        return dq, dk, dv, None, None, None


def band_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                   scale: float, keep_probs: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked attention over (previous, own, next) key chunks.

    q (B, N, size, d): N query chunks per block. k, v (B, N + 2, size, d): key chunks with
    one extra chunk at each end, so query chunk n sees key chunks n, n+1 and n+2.
    bias (B, or batch, or 1; N or 1, size, 3·size) - per block, per batch (blocks are batch-major,
    heads within) or shared - additive, and the only mask.
    Returns out (B, N, size, d) in q's dtype and lse (B, N, size) in the score dtype: the
    kernel computes in `score_dtype` (float32 for half inputs), with autocast off.
    keep_probs: keep the probabilities for backward instead of the bias (worth it only when the
    bias is per block, so no smaller than the probabilities).
    """
    dtype = q.dtype
    sdt = score_dtype(dtype)
    q, k, v = (t.to(sdt).contiguous() for t in (q, k, v))
    out, lse = _BandAttention.apply(q, k, v, bias.to(sdt), scale, keep_probs)
    return out.to(dtype), lse
