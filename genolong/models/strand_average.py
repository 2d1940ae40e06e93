"""Logits averaged over both strands: the network reads each window as given and reverse-
complemented, and the second reading is flipped back onto the first's positions.

A gene's function does not depend on which strand the assembly happens to list, yet a network
fitted to a few hundred genes reads the two strands differently; averaging the two readings
(as Basenji and Enformer do at test time) removes that arbitrary half of the variance.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genolong.errors import GenolongError


def flip_index(padding_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) index that reverses each row's real prefix and leaves its padding suffix in place."""
    length = padding_mask.shape[1]
    pos = torch.arange(length, device=padding_mask.device).expand_as(padding_mask)  # (B, L)
    n_real = (~padding_mask).sum(dim=1, keepdim=True)  # (B, 1)
    return torch.where(pos < n_real, n_real - 1 - pos, pos)


def both_strands(net: nn.Module, tokens: torch.Tensor, padding_mask: torch.Tensor, rc_map: torch.Tensor,
                 class_swap: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of `net`'s logits (B, L, C) on the windows and on their reverse complements.

    Padding must be a suffix of each row (as tiled windows have it). `class_swap` maps each
    class to its twin on the other strand (single-label schemes with stranded classes).
    """
    forward = net(tokens, padding_mask)  # (B, L, C)
    index = flip_index(padding_mask)  # (B, L)
    rc_tokens = rc_map.to(tokens.device)[tokens.gather(1, index)]  # (B, L)
    reverse = net(rc_tokens, padding_mask).gather(1, index.unsqueeze(-1).expand_as(forward))  # (B, L, C)
    if class_swap is not None:
        reverse = reverse[..., class_swap.to(reverse.device)]
    return (forward + reverse) * 0.5


def rc_tables(tokenizer, class_swap: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The token RC map of `tokenizer` and the class swap (`LabelVocab.strand_swap()`) as tensors."""
    if tokenizer.stride != tokenizer.k:
        raise GenolongError(f"rc_average needs non-overlapping tokens (stride == k); the tokenizer has "
                            f"k={tokenizer.k}, stride={tokenizer.stride}")
    rc_map = torch.from_numpy(np.asarray(tokenizer.rc_map, dtype=np.int64))
    return rc_map, None if class_swap is None else torch.from_numpy(np.asarray(class_swap, dtype=np.int64))
