"""Tile a record's tokens into overlapping windows and stitch the window logits back together.

A record of any length is cut into windows of `window` tokens that overlap by `overlap`
tokens; each window is run through the network on its own, so memory depends on the window and
the batch size, never on the record length. The stitched logits of a token are a weighted mean
over every window that covers it: "average" weighs every position equally, "centre" ramps the
weight linearly down over the overlap so that positions near a window edge, which see less
context, count less than the same token seen near the centre of the neighbouring window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

STITCH_MODES = ("average", "centre")


@dataclass(frozen=True)
class Window:
    start: int  # first token (inclusive)
    end: int  # last token (exclusive)


def plan_windows(n_tokens: int, window: int, overlap: int) -> list[Window]:
    """Windows covering [0, n_tokens): stride `window - overlap`, the last one flush with the end."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, window), got overlap={overlap}, window={window}")
    if n_tokens <= 0:
        return []
    if n_tokens <= window:
        return [Window(0, n_tokens)]
    step = window - overlap
    starts = list(range(0, n_tokens - window, step))
    starts.append(n_tokens - window)
    return [Window(s, s + window) for s in starts]


def window_weights(length: int, overlap: int, mode: str, at_start: bool, at_end: bool) -> np.ndarray:
    """Per-position weights (length,) of one window; positive everywhere."""
    if mode not in STITCH_MODES:
        raise ValueError(f"stitch mode must be one of {STITCH_MODES}, got {mode!r}")
    weights = np.ones(length, dtype=np.float32)
    if mode == "average" or overlap == 0:
        return weights
    pos = np.arange(length, dtype=np.float32)
    ramp_up = (pos + 0.5) / overlap
    ramp_down = (length - pos - 0.5) / overlap
    if not at_start:
        weights = np.minimum(weights, ramp_up)
    if not at_end:
        weights = np.minimum(weights, ramp_down)
    return weights


class Stitcher:
    """Accumulates weighted window logits into one (n_tokens, n_classes) array per record."""

    def __init__(self, n_tokens: int, n_classes: int, overlap: int, mode: str = "centre"):
        if mode not in STITCH_MODES:
            raise ValueError(f"stitch mode must be one of {STITCH_MODES}, got {mode!r}")
        self.n_tokens = n_tokens
        self.overlap = overlap
        self.mode = mode
        self._sum = np.zeros((n_tokens, n_classes), dtype=np.float32)  # (n_tokens, C)
        self._weight = np.zeros(n_tokens, dtype=np.float32)  # (n_tokens,)

    def add(self, window: Window, logits: np.ndarray) -> None:
        """Add one window's logits (window length, C)."""
        length = window.end - window.start
        if logits.shape[0] != length:
            raise ValueError(f"logits cover {logits.shape[0]} tokens, window has {length}")
        w = window_weights(length, self.overlap, self.mode, window.start == 0, window.end == self.n_tokens)
        self._sum[window.start : window.end] += logits.astype(np.float32) * w[:, None]
        self._weight[window.start : window.end] += w

    def logits(self) -> np.ndarray:
        """Stitched logits (n_tokens, C); every token must have been covered."""
        if self.n_tokens and not np.all(self._weight > 0):
            missing = int(np.argmin(self._weight > 0))
            raise ValueError(f"token {missing} was not covered by any window")
        return self._sum / np.maximum(self._weight, 1e-12)[:, None]


class StreamingStitcher:
    """The Stitcher for windows that arrive in order of their start: a token is final once a
    window starting after it arrives, so only one window of rows is ever held and finished rows
    go to `sink(first_token, logits (n, C))`, in token order."""

    def __init__(self, n_tokens: int, n_classes: int, window: int, overlap: int, sink, mode: str = "centre"):
        if mode not in STITCH_MODES:
            raise ValueError(f"stitch mode must be one of {STITCH_MODES}, got {mode!r}")
        self.n_tokens, self.overlap, self.mode, self.sink = n_tokens, overlap, mode, sink
        self._sum = np.zeros((window, n_classes), dtype=np.float32)  # (window, C) rows lo..lo+window
        self._weight = np.zeros(window, dtype=np.float32)  # (window,)
        self._lo = 0  # first token not yet handed to the sink

    def _flush(self, upto: int) -> None:
        n = upto - self._lo
        if n <= 0:
            return
        if not np.all(self._weight[:n] > 0):
            missing = self._lo + int(np.argmin(self._weight[:n] > 0))
            raise ValueError(f"token {missing} was not covered by any window")
        self.sink(self._lo, self._sum[:n] / self._weight[:n, None])
        keep = self._sum.shape[0] - n
        self._sum[:keep] = self._sum[n:].copy()
        self._weight[:keep] = self._weight[n:].copy()
        self._sum[keep:] = 0.0
        self._weight[keep:] = 0.0
        self._lo = upto

    def add(self, window: Window, logits: np.ndarray) -> None:
        length = window.end - window.start
        if logits.shape[0] != length:
            raise ValueError(f"logits cover {logits.shape[0]} tokens, window has {length}")
        if window.start < self._lo:
            raise ValueError(f"window starting at {window.start} arrived after token {self._lo} was finished")
        self._flush(window.start)
        if window.end - self._lo > self._sum.shape[0]:
            raise ValueError(f"window {window.start}-{window.end} is longer than the stitcher's {self._sum.shape[0]}")
        w = window_weights(length, self.overlap, self.mode, window.start == 0, window.end == self.n_tokens)
        a = window.start - self._lo
        self._sum[a : a + length] += logits.astype(np.float32) * w[:, None]
        self._weight[a : a + length] += w

    def finish(self) -> None:
        """Hand every remaining token to the sink; every token must have been covered."""
        self._flush(self.n_tokens)


def batches(windows: list[Window], batch_size: int) -> Iterator[list[Window]]:
    for i in range(0, len(windows), batch_size):
        yield windows[i : i + batch_size]
