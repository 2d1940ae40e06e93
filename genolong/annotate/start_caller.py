"""The TIS net (`models/start_net.py`) as the decoder's start score.

`start_windows` and `start_features` read, with numpy, what the net sees for every candidate ORF
of a set (the decoder's candidates, `orfs.find_orfs` with its minimum length): the strand-oriented
window of bases around each start codon and the per-candidate features, each computed among the
starts sharing its stop codon. `StartCaller(bases, orfs, table)` gives the decoder `weight * log-softmax` of the net's
logits over each stop's starts (`orf_decode.orf_candidates`' `start_score` hook): it only moves
the choice among a stop's starts, never an ORF's acceptance. The weight is the one `genolong
fit-starts` chose on the training genomes' validation regions. The decoder asks for the same
chunk's candidates once per pass, so the last chunks' scores are kept (keyed by the bases' digest).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import numpy as np

from genolong.annotate.orfs import COMMON_STARTS, Orfs, _code_of

START_CALLER_FILE = "start_caller.pt"
BATCH = 8192  # candidates per forward pass


def start_windows(bases: np.ndarray, five_prime: np.ndarray, strand: np.ndarray, upstream: int,
                  downstream: int) -> np.ndarray:
    """(n, upstream + downstream) uint8 bases read 5'->3' on each start's strand, column `upstream`
    the start codon's first base; 4 outside the sequence or for a non-ACGT base."""
    plus = (np.asarray(strand) > 0)[:, None]
    steps = np.arange(-upstream, downstream)
    pos = np.asarray(five_prime, dtype=np.int64)[:, None] + np.where(plus, steps, -steps)
    inside = (pos >= 0) & (pos < bases.size)
    ctx = np.where(inside, bases[np.clip(pos, 0, max(bases.size - 1, 0))], 4).astype(np.uint8)
    return np.where(plus | (ctx > 3), ctx, 3 - ctx).astype(np.uint8)  # complement on the minus strand


def start_features(bases: np.ndarray, orfs: Orfs) -> np.ndarray:
    """(n, 8) float32 per candidate: its start codon (ATG, GTG, TTG one-hot), codons upstream of it
    to its stop's most upstream start, its rank from that start and from the stop's most downstream
    one, its stop's number of starts (each log1p, scaled to about 0..1) and its ORF's log length."""
    n = len(orfs)
    out = np.zeros((n, 8), dtype=np.float32)
    if n == 0:
        return out
    win = start_windows(bases, orfs.five_prime, orfs.strand, 0, 3).astype(np.int64)
    code = np.where((win > 3).any(axis=1), 64, 16 * win[:, 0] + 4 * win[:, 1] + win[:, 2])
    for j, codon in enumerate(COMMON_STARTS):
        out[:, j] = code == _code_of(codon)
    length = orfs.length
    _, stop, count = np.unique(orfs.stop_id, return_inverse=True, return_counts=True)
    longest = np.zeros(count.size, dtype=np.int64)
    np.maximum.at(longest, stop, length)
    order = np.lexsort((-length, stop))  # per stop, longest (most upstream) first
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first[stop[order]]
    out[:, 3] = np.log1p((longest[stop] - length) / 3) / 6
    out[:, 4] = np.log1p(rank) / 3
    out[:, 5] = np.log1p(count[stop] - 1 - rank) / 3
    out[:, 6] = np.log1p(count[stop] - 1) / 3
    out[:, 7] = np.log(np.maximum(length, 3)) / 8
    return out


def log_softmax_by_stop(logits: np.ndarray, stop_id: np.ndarray) -> np.ndarray:
    """(n,) each logit minus the log-sum-exp of the logits sharing its stop."""
    _, stop = np.unique(stop_id, return_inverse=True)
    top = np.full(stop.max() + 1 if stop.size else 0, -np.inf)
    np.maximum.at(top, stop, logits)
    total = np.zeros(top.size)
    np.add.at(total, stop, np.exp(logits - top[stop]))
    return logits - top[stop] - np.log(total[stop])


def start_logits(net, bases: np.ndarray, orfs: Orfs) -> np.ndarray:
    """(n,) float64 logit of every candidate start under `net` (eval mode, no gradients)."""
    import torch

    cfg = net.cfg
    windows = start_windows(bases, orfs.five_prime, orfs.strand, cfg.upstream, cfg.downstream)
    feats = start_features(bases, orfs)
    out = np.zeros(len(orfs), dtype=np.float64)
    with torch.inference_mode():
        for a in range(0, len(orfs), BATCH):
            out[a : a + BATCH] = net(torch.from_numpy(windows[a : a + BATCH].astype(np.int64)),
                                     torch.from_numpy(feats[a : a + BATCH])).double().numpy()
    return out


class StartCaller:
    """The decoder's hook: `caller(bases, orfs, table)` -> (n_orfs,) weight * log-softmax per stop."""

    def __init__(self, bundle, weight: float | None = None, cache: int = 32):
        self.bundle = bundle
        self.net = bundle.build()
        self.weight = float(bundle.recipe.get("weight", 0.0) if weight is None else weight)
        self._cache: OrderedDict = OrderedDict()
        self._size = cache

    def log_probs(self, bases: np.ndarray, orfs: Orfs) -> np.ndarray:
        key = (hashlib.sha1(np.ascontiguousarray(bases).tobytes()).digest(), len(orfs),
               hashlib.sha1(np.ascontiguousarray(orfs.start).tobytes()).digest())
        if key not in self._cache:
            self._cache[key] = log_softmax_by_stop(start_logits(self.net, bases, orfs), orfs.stop_id) \
                if len(orfs) else np.zeros(0)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return self._cache[key]

    def __call__(self, bases: np.ndarray, orfs: Orfs, table: int) -> np.ndarray:
        return self.weight * self.log_probs(bases, orfs)

    def with_weight(self, weight: float) -> "StartCaller":
        """The same net (and its scores cache) under another weight."""
        other = object.__new__(StartCaller)
        other.__dict__.update(self.__dict__)
        other.weight = float(weight)
        return other

    def describe(self) -> str:
        return f"start caller: TIS net from {self.bundle.recipe.get('source', START_CALLER_FILE)}, " \
               f"weight {self.weight:g}"

    @classmethod
    def beside(cls, checkpoint: str | os.PathLike) -> "StartCaller | None":
        """The start caller saved beside `checkpoint` by `genolong fit-starts`, or None."""
        from genolong.models import bundle_file

        bundle = bundle_file.beside(checkpoint, START_CALLER_FILE, load_start_caller)
        return None if bundle is None else cls(bundle)


def load_start_caller(path: str | os.PathLike):
    """A `StartCallerBundle` from `start_caller.pt` (weights only: never unpickles objects)."""
    from genolong.models import bundle_file
    from genolong.models.start_net import StartCallerBundle

    return bundle_file.load(path, StartCallerBundle.from_dict, "start-caller")


def save_start_caller(path: str | os.PathLike, bundle) -> None:
    from genolong.models import bundle_file

    bundle_file.save(path, bundle)
