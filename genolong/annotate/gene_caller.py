"""The ORF net (`models/orf_net.py`) as the decoder's per-candidate score.

`orf_rows` translates, with numpy, one protein per stop codon of a set of candidate ORFs (the
longest ORF ending there) and says at which residue each candidate starts; `GeneCaller` runs the
net over those proteins in length-sorted batches (inference mode) and gives the decoder
`weight * (logit - bias)` per candidate (`orf_decode.orf_candidates`' `orf_score` hook), with the
weight and bias that `genolong fit-genes` chose on the training genomes' validation regions. The
score decides which candidates are called, judged at the start it scores highest, never where
they start (a stop's start is the start models' and the TIS net's choice); bundles whose recipe
says `starts: true` (written before) load the same way, acceptance only.
The decoder asks for the same chunk's candidates once per pass, so the last chunks' scores are
kept (keyed by the bases' digest).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from genolong.annotate.orfs import Orfs, codon_codes, reverse_complement_bases

GENE_CALLER_FILE = "gene_caller.pt"
BATCH_RESIDUES = 1 << 15  # residues (rows x longest row) per forward pass


@lru_cache(maxsize=None)
def amino_table(table: int) -> np.ndarray:
    """(65,) uint8: codon code -> residue id of `models.gene_function` (stops and codons with a
    non-ACGT base: the unknown residue)."""
    from Bio.Data import CodonTable

    from genolong.annotate.orfs import _code_of
    from genolong.models.gene_function import AMINO_ACIDS, UNKNOWN_AA

    out = np.full(65, UNKNOWN_AA, dtype=np.uint8)
    for codon, aa in CodonTable.unambiguous_dna_by_id[table].forward_table.items():
        out[_code_of(codon)] = AMINO_ACIDS.index(aa) + 2
    return out


@dataclass
class OrfRows:
    """One protein per stop codon, flat: residues `ids[offsets[r]:offsets[r + 1]]` of row r (N- to
    C-terminus, stop left out); candidate i starts at residue `start[i]` of row `row[i]`."""

    ids: np.ndarray  # (total residues,) uint8
    offsets: np.ndarray  # (n_rows + 1,) int64
    row: np.ndarray  # (n_orfs,) int64
    start: np.ndarray  # (n_orfs,) int64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def protein(self, r: int) -> np.ndarray:
        return self.ids[self.offsets[r] : self.offsets[r + 1]]


def orf_rows(bases: np.ndarray, orfs: Orfs, table: int) -> OrfRows:
    """The proteins the ORF net reads for `orfs` on `bases` (`encode_bases` output)."""
    n = int(bases.size)
    aa = amino_table(table)
    fwd, rev = aa[np.clip(codon_codes(bases), 0, 64)], aa[np.clip(codon_codes(reverse_complement_bases(bases)), 0, 64)]
    plus = orfs.strand > 0
    s0 = np.where(plus, orfs.start, n - orfs.end)  # start codon, in its strand's own left-to-right coordinates
    e0 = np.where(plus, orfs.end, n - orfs.start)  # just past the stop codon
    _, row = np.unique(orfs.stop_id, return_inverse=True)
    n_rows = int(row.max()) + 1 if row.size else 0
    row_s0 = np.full(n_rows, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(row_s0, row, s0)
    row_e0 = np.zeros(n_rows, dtype=np.int64)
    row_e0[row] = e0
    row_plus = np.zeros(n_rows, dtype=bool)
    row_plus[row] = plus
    m = np.maximum((row_e0 - row_s0) // 3 - 1, 0)  # residues, stop left out
    offsets = np.concatenate([[0], np.cumsum(m)]).astype(np.int64)
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], m)
    pos = np.repeat(row_s0, m) + 3 * within
    ids = np.where(np.repeat(row_plus, m), fwd[np.minimum(pos, fwd.size - 1)], rev[np.minimum(pos, rev.size - 1)])
    return OrfRows(ids.astype(np.uint8), offsets, row.astype(np.int64), (s0 - row_s0[row]) // 3)


def batched_rows(lengths: np.ndarray, budget: int = BATCH_RESIDUES):
    """Row indices in batches of similar length, each at most `budget` padded residues (or one row)."""
    order = np.argsort(lengths, kind="stable")[::-1]
    batch, longest = [], 0
    for r in order.tolist():
        longest = max(longest, int(lengths[r])) if batch else int(lengths[r])
        if batch and longest * (len(batch) + 1) > budget:
            yield np.array(batch)
            batch, longest = [], int(lengths[r])
        batch.append(r)
    if batch:
        yield np.array(batch)


def pad_rows(rows: OrfRows, index: np.ndarray):
    """(B, L) long ids and (B, L) bool padding mask (True at padding) of rows `index`."""
    import torch

    lengths = rows.lengths[index]
    width = max(int(lengths.max()) if lengths.size else 1, 1)
    ids = np.zeros((index.size, width), dtype=np.int64)
    for i, r in enumerate(index.tolist()):
        ids[i, : lengths[i]] = rows.protein(r)
    ids_t = torch.from_numpy(ids)
    return ids_t, ids_t == 0


def orf_logits(net, rows: OrfRows) -> np.ndarray:
    """(n_orfs,) float64 logit of every candidate of `rows` under `net` (eval mode, no gradients)."""
    import torch

    out = np.zeros(rows.row.size, dtype=np.float64)
    by_row = np.argsort(rows.row, kind="stable")
    bounds = np.searchsorted(rows.row[by_row], np.arange(rows.lengths.size + 1))
    with torch.inference_mode():
        for index in batched_rows(rows.lengths):
            ids, pad = pad_rows(rows, index)
            logits = net(ids, pad).float().numpy()  # (B, L)
            for i, r in enumerate(index.tolist()):
                cand = by_row[bounds[r] : bounds[r + 1]]
                out[cand] = logits[i, np.minimum(rows.start[cand], max(rows.lengths[r] - 1, 0))]
    return out


class GeneCaller:
    """The decoder's hook: `caller(bases, orfs, table)` -> (n_orfs,) weight * (logit - bias)."""

    def __init__(self, bundle, weight: float | None = None, bias: float | None = None, cache: int = 32):
        self.bundle = bundle
        self.net = bundle.build()
        self.weight = float(bundle.recipe.get("weight", 0.0) if weight is None else weight)
        self.bias = float(bundle.recipe.get("bias", 0.0) if bias is None else bias)
        self._cache: OrderedDict = OrderedDict()
        self._size = cache

    def logits(self, bases: np.ndarray, orfs: Orfs, table: int) -> np.ndarray:
        key = (hashlib.sha1(np.ascontiguousarray(bases).tobytes()).digest(), len(orfs), int(table))
        if key not in self._cache:
            self._cache[key] = orf_logits(self.net, orf_rows(bases, orfs, table)) if len(orfs) else np.zeros(0)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return self._cache[key]

    def __call__(self, bases: np.ndarray, orfs: Orfs, table: int) -> np.ndarray:
        return self.weight * (self.logits(bases, orfs, table) - self.bias)

    def with_recipe(self, weight: float, bias: float) -> "GeneCaller":
        """The same net (and its scores cache) under another weight and bias."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.weight, other.bias = float(weight), float(bias)
        return other

    def describe(self) -> str:
        nets = "ORF net" if self.bundle.config.members == 1 else f"{self.bundle.config.members} ORF nets (mean logit)"
        return f"gene caller: {nets} from {self.bundle.recipe.get('source', GENE_CALLER_FILE)}, " \
               f"weight {self.weight:g}, bias {self.bias:g} (acceptance only: starts are the start models')"

    @classmethod
    def beside(cls, checkpoint: str | os.PathLike) -> "GeneCaller | None":
        """The gene caller saved beside `checkpoint` by `genolong fit-genes`, or None."""
        from genolong.models import bundle_file

        bundle = bundle_file.beside(checkpoint, GENE_CALLER_FILE, load_gene_caller)
        return None if bundle is None else cls(bundle)


def load_gene_caller(path: str | os.PathLike):
    """A `GeneCallerBundle` from `gene_caller.pt` (weights only: never unpickles objects)."""
    from genolong.models import bundle_file
    from genolong.models.orf_net import GeneCallerBundle

    return bundle_file.load(path, GeneCallerBundle.from_dict, "gene-caller")


def save_gene_caller(path: str | os.PathLike, bundle) -> None:
    from genolong.models import bundle_file

    bundle_file.save(path, bundle)

