"""Additive mask values that stay finite in every dtype, so a fully masked row never gives NaN,
and the precision rule for attention scores.

Mixed precision: under `torch.autocast` (bf16 or fp16) the projections and feed-forward run in
half precision, but every attention kernel computes its scores, softmax and log-sum-exp merges
in float32. The kernels upcast their inputs to `score_dtype` and run inside `scores_in_fp32`,
which switches autocast off so that it cannot cast the score matmuls back down.
"""

from __future__ import annotations

import functools

import torch

# Scores are computed in at least float32 (see `score_dtype`), so these are always representable.
PAD_VALUE = -1e9
# A token's own key: far below any real score, far above padding, so it wins only when alone.
SELF_VALUE = -5e4


def score_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs get float32 scores; float64 stays float64 for exact tests."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def sdpa_pad_value(dtype: torch.dtype) -> float:
    """A padding bias for `scaled_dot_product_attention`, which adds the mask in the input dtype."""
    return max(PAD_VALUE, torch.finfo(dtype).min / 2)


def scores_in_fp32(device: torch.device) -> torch.autocast:
    """A context with autocast off on `device`: score matmuls keep their (float32) input dtype."""
    return torch.autocast(device.type, enabled=False)


def fp32_region(fn):
    """Run an autograd Function's forward or backward (ctx, *args) with autocast off: its
    backward runs under whatever autocast the caller of `.backward()` had on."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        # backward may get no gradient tensor at all; its saved inputs still name the device
        tensors = [a for a in args if isinstance(a, torch.Tensor)] or ctx.saved_tensors
        device = tensors[0].device
        with scores_in_fp32(device):
            return fn(ctx, *args)

    return wrapper
