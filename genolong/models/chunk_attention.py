"""Attention over small blocks that also returns the log-sum-exp of each row.

LSH and sliding attention both split the sequence into blocks of queries, each against a few
blocks of keys, and then merge partial results by their log-sum-exp. `scaled_dot_product_attention`
does not return a differentiable log-sum-exp, so this is a custom autograd function in the
FlashAttention style: backward recomputes the probabilities instead of saving them, which keeps
the memory held between forward and backward to the inputs and the output.
"""

from __future__ import annotations

import torch

from genolong.models.masking import fp32_region, score_dtype, scores_in_fp32


class _ChunkAttention(torch.autograd.Function):
    @staticmethod
    @fp32_region
    def forward(ctx, q, k, v, bias, scale):
        probs, lse = _probs(q, k, bias, scale)
        out = torch.matmul(probs, v)  # (..., n, d)
        ctx.save_for_backward(q, k, v, bias, out, lse)
        ctx.scale = scale
        return out, lse.squeeze(-1)

    @staticmethod
    @fp32_region
    def backward(ctx, dout, dlse):
        q, k, v, bias, out, lse = ctx.saved_tensors
        probs, _ = _probs(q, k, bias, ctx.scale, lse)
        dv = torch.matmul(probs.transpose(-1, -2), dout)
        dp = torch.matmul(dout, v.transpose(-1, -2))  # (..., n, m)
        # d(out)/d(scores) gives p * (dp - rowsum(dout*out)); d(lse)/d(scores) gives p * dlse
        row = (dout * out).sum(-1, keepdim=True) - dlse.unsqueeze(-1)
        ds = dp.sub_(row).mul_(probs)
        dq = torch.matmul(ds, k).mul_(ctx.scale)
        dk = torch.matmul(ds.transpose(-1, -2), q).mul_(ctx.scale)
        return _unbroadcast(dq, q), _unbroadcast(dk, k), _unbroadcast(dv, v), None, None


def _probs(q, k, bias, scale, lse=None):
    scores = torch.matmul(q, k.transpose(-1, -2))  # (..., n, m), in the score dtype
    scores.mul_(scale).add_(bias)
    if lse is None:
        lse = torch.logsumexp(scores, dim=-1, keepdim=True)  # (..., n, 1)
    return scores.sub_(lse).exp_(), lse


def _unbroadcast(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    while grad.dim() > like.dim():
        grad = grad.sum(0)
    for i, n in enumerate(like.shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(i, keepdim=True)
    return grad


def chunk_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                    scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ·scale + bias) v and the row log-sum-exp.

    q (..., n, d), k and v (..., m, d), bias broadcastable to (..., n, m).
    Returns out (..., n, d) in q's dtype and lse (..., n) in the score dtype: the kernel
    computes in `score_dtype` (float32 for half inputs), with autocast off.
    """
    dtype = q.dtype
    sdt = score_dtype(dtype)
    out, lse = _ChunkAttention.apply(q.to(sdt), k.to(sdt), v.to(sdt), bias.to(sdt), scale)
    return out.to(dtype), lse


def merge_partials(out: torch.Tensor, lse: torch.Tensor, dim: int):
    """Combine attention results over disjoint key sets by their log-sum-exp weights.

    out (..., parts, ..., n, d) and lse (..., parts, ..., n), the parts along `dim` (counted from
    the front, the same in both); returns the merged out (..., n, d) and lse (..., n). The merge
    runs in the score dtype whatever autocast is on.
    """
    sdt = score_dtype(out.dtype)
    with scores_in_fp32(out.device):
        lse = lse.to(sdt)
        weights = torch.softmax(lse, dim=dim).unsqueeze(-1)
        merged = (out.to(sdt) * weights).sum(dim)
        return merged.to(out.dtype), torch.logsumexp(lse, dim=dim)
