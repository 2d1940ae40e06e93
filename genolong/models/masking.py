"""Additive mask values that stay finite in every dtype, so a fully masked row never gives NaN."""

from __future__ import annotations

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
