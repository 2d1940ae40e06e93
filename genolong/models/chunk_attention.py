"""Attention over small blocks that also returns the log-sum-exp of each row.

LSH and sliding attention both split the sequence into blocks of queries, each against a few
blocks of keys, and then merge partial results by their log-sum-exp. `scaled_dot_product_attention`
does not return a differentiable log-sum-exp, so this is a custom autograd function in the
FlashAttention style: backward recomputes the probabilities instead of saving them, which keeps
the memory held between forward and backward to the inputs and the output.
"""

from __future__ import annotations

import torch

from genolong.models.masking import score_dtype


class _ChunkAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, scale):
        probs, lse = _probs(q, k, bias, scale)
        out = torch.matmul(probs.to(v.dtype), v)  # (..., n, d)
        ctx.save_for_backward(q, k, v, bias, out, lse)
        ctx.scale = scale
        return out, lse.squeeze(-1)

    @staticmethod
    def backward(ctx, dout, dlse):
        q, k, v, bias, out, lse = ctx.saved_tensors
        probs, _ = _probs(q, k, bias, ctx.scale, lse)
        sdt = probs.dtype
        dv = torch.matmul(probs.transpose(-1, -2).to(v.dtype), dout)
        dp = torch.matmul(dout, v.transpose(-1, -2)).to(sdt)  # (..., n, m)
        # d(out)/d(scores) gives p * (dp - rowsum(dout*out)); d(lse)/d(scores) gives p * dlse
        row = (dout * out).sum(-1, keepdim=True).to(sdt) - dlse.unsqueeze(-1).to(sdt)
        dp.sub_(row).mul_(probs)
        ds = dp.to(q.dtype)
        dq = torch.matmul(ds, k).mul_(ctx.scale)
        dk = torch.matmul(ds.transpose(-1, -2), q).mul_(ctx.scale)
        return _unbroadcast(dq, q), _unbroadcast(dk, k), _unbroadcast(dv, v), None, None


def _probs(q, k, bias, scale, lse=None):
    scores = torch.matmul(q, k.transpose(-1, -2)).to(score_dtype(q.dtype))  # (..., n, m)
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

    q (..., n, d), k and v (..., m, d), bias broadcastable to (..., n, m) in the score dtype.
    Returns out (..., n, d) and lse (..., n).
    """
    return _ChunkAttention.apply(q, k, v, bias, scale)


def merge_partials(out: torch.Tensor, lse: torch.Tensor, dim: int):
    """Combine attention results over disjoint key sets by their log-sum-exp weights.

    out (..., parts, ..., n, d) and lse (..., parts, ..., n), the parts along `dim` (counted from
    the front, the same in both); returns the merged out (..., n, d) and lse (..., n).
    """
    weights = torch.softmax(lse, dim=dim).unsqueeze(-1).to(out.dtype)
    return (out * weights).sum(dim), torch.logsumexp(lse, dim=dim)
