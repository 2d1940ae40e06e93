"""RNA genes from the RNA-caller network (`rna_caller.pt`, written by `genolong fit-rna`).

`RNACaller.load(path)` -> `.call(genome, seqids, table) -> list[rna_genes.RNAGene]`: every
record in overlapping chunks through `models/rna_net.RNACallerNet` (both strands in one pass),
per-base classes (each smoothed at its kind's scale) -> runs of one RNA kind on one strand (the
argmax; runs of one kind split by a short gap joined, runs longer than a tRNA split, runs shorter
than the kind's minimum, rRNAs under 25% of their full length as barrnap does, and calls whose
mean class probability is under 0.5 dropped; where calls overlap by more than half, the one with
more probability mass stays) -> genes with their product:
a tRNA's amino acid is the codon its anticodon reads, the anticodon being the triplet inside the
call where the network's anticodon bits are highest; the rRNA's subunit is the kind itself.
"""

from __future__ import annotations

import os

import numpy as np

from genolong import __version__
from genolong.annotate.rna_genes import RNAGene
from genolong.data.trna import amino_acid, reverse_complement

CALLER_FILE = "rna_caller.pt"  # beside a checkpoint, `annotate --rna auto/network` uses it
# decoding defaults (a bundle's recipe may override): shortest call kept and longest gap joined, bp
MIN_LENGTH = {"tRNA": 50, "tmRNA": 200, "5S": 60, "16S": 300, "23S": 300}
MAX_GAP = {"tRNA": 3, "tmRNA": 30, "5S": 20, "16S": 60, "23S": 60}
SMOOTH = {"other": 9, "tRNA": 9, "tmRNA": 31, "5S": 31, "16S": 101, "23S": 101}  # box filter per class, bp
MAX_LENGTH = {"tRNA": 110}  # longer runs are tandem genes: split (`split_long`)
FULL_LENGTH = {"5S": 110, "16S": 1500, "23S": 2900}  # under 80% of this: `(partial)`, as barrnap names them
REJECT = 0.25  # rRNA calls under this fraction of FULL_LENGTH are dropped, as barrnap drops its hits
MIN_SCORE = 0.5  # a call's mean class probability: below it the class is not the majority over the call
PRODUCTS = {"tmRNA": "transfer-messenger RNA", "5S": "5S ribosomal RNA", "16S": "16S ribosomal RNA",
            "23S": "23S ribosomal RNA"}


def load_bundle(path: str | os.PathLike):
    """An `RNACallerBundle` from `rna_caller.pt` (weights only: never unpickles objects)."""
    from genolong.models import bundle_file
    from genolong.models.rna_net import RNACallerBundle

    return bundle_file.load(path, RNACallerBundle.from_dict, "RNA-caller")


def save_bundle(path: str | os.PathLike, bundle) -> None:
    from genolong.models import bundle_file

    bundle_file.save(path, bundle)


def beside(checkpoint: str | os.PathLike | None) -> str | None:
    """The `rna_caller.pt` in a checkpoint's folder, if there is one."""
    if checkpoint is None:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), CALLER_FILE)
    return path if os.path.isfile(path) else None


def predict(net, codes: np.ndarray, chunk: int = 1 << 16, batch: int = 8, both_strands: bool = True) -> np.ndarray:
    """(L, n_outputs) float32 of one record: class probabilities (softmax), then the anticodon
    probabilities (sigmoid). Chunks overlap by the net's reach on each side, padded with N. With
    `both_strands`, each chunk is also read reverse-complemented and the two readings (strand
    classes swapped back) averaged: a strand-symmetric call at twice the cost."""
    import torch

    from genolong.models.rna_net import strand_swap

    cfg = net.cfg
    swap = torch.tensor(strand_swap(cfg.kinds))
    s = cfg.stride
    margin = -(-cfg.reach // s) * s
    chunk = max(s, chunk // s * s)
    n, n_classes = len(codes), len(cfg.classes)
    out = np.empty((n, cfg.n_outputs), dtype=np.float32)
    starts = list(range(0, n, chunk))
    padded = np.concatenate([np.full(margin, 4, np.uint8), codes, np.full(chunk + margin, 4, np.uint8)])
    with torch.inference_mode():
        for first in range(0, len(starts), batch):
            group = starts[first : first + batch]
            x = torch.from_numpy(np.stack([padded[a : a + chunk + 2 * margin] for a in group]).astype(np.int64))
            probs = _probabilities(net(x), n_classes)
            if both_strands:
                rc = torch.where(x < 4, 3 - x, x).flip(1)
                probs = 0.5 * (probs + _probabilities(net(rc), n_classes).flip(1)[..., swap])
            probs = probs[:, margin : margin + chunk]  # (B, chunk, n_outputs)
            for a, p in zip(group, probs.numpy()):
                out[a : min(n, a + chunk)] = p[: min(n, a + chunk) - a]
    return out


def box(p: np.ndarray, width: int) -> np.ndarray:
    """Mean of `p` over a centred `width`-bp window (shorter at the ends)."""
    if width <= 1:
        return p
    c = np.concatenate([[0.0], np.cumsum(p, dtype=np.float64)])
    i = np.arange(len(p))
    lo, hi = np.maximum(i - width // 2, 0), np.minimum(i + width // 2 + 1, len(p))
    return ((c[hi] - c[lo]) / (hi - lo)).astype(np.float32)


def _probabilities(logits, n_classes: int):
    import torch

    return torch.cat([torch.softmax(logits[..., :n_classes], -1), torch.sigmoid(logits[..., n_classes:])], -1)


def split_long(a: int, b: int, p: np.ndarray, max_length: int, margin: int) -> list[tuple[int, int]]:
    """A run [a, b) longer than `max_length` (tandem tRNAs called as one) cut where the class
    probability `p` (smoothed over 9 bp) is lowest, at least `margin` bp from either end, until
    every piece fits."""
    if b - a <= max_length or b - a < 2 * margin + 1:
        return [(a, b)]
    smooth = np.convolve(p[a:b], np.ones(9) / 9, mode="same")
    cut = a + margin + int(np.argmin(smooth[margin : b - a - margin]))
    return split_long(a, cut, p, max_length, margin) + split_long(cut, b, p, max_length, margin)


def runs(mask: np.ndarray, max_gap: int, min_length: int) -> list[tuple[int, int]]:
    """Half-open runs of True, runs split by at most `max_gap` False joined, short runs dropped."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    spans: list[list[int]] = []
    for a, b in zip(edges[::2], edges[1::2]):
        if spans and a - spans[-1][1] <= max_gap:
            spans[-1][1] = int(b)
        else:
            spans.append([int(a), int(b)])
    return [(a, b) for a, b in spans if b - a >= min_length]


def exclusive(genes: list[RNAGene], max_overlap: float = 0.5) -> list[RNAGene]:
    """Calls in order of probability mass (mean probability x length), each dropped when more
    than `max_overlap` of it lies in one already kept, on either strand: one base is one RNA gene
    (the 16S called 23S over half its length, the tRNA called on both strands, keep one)."""
    kept: list[RNAGene] = []
    for g in sorted(genes, key=lambda g: -(g.score or 0.0) * (g.end - g.start)):
        if all(min(g.end, k.end) - max(g.start, k.start) <= max_overlap * (g.end - g.start) for k in kept):
            kept.append(g)
    return kept


def trna_product(seq: bytes, anticodon: np.ndarray, start: int, end: int, strand: str, table: int) -> str:
    """`tRNA-Xxx(nnn)` from the triplet of the call [start, end) with the highest anticodon bits
    on its strand (`anticodon`: (L, 2) probabilities, + then -)."""
    col = anticodon[start:end, 0 if strand == "+" else 1]
    if len(col) < 3:
        return "tRNA-Xxx"
    j = start + int(np.argmax(np.convolve(col, np.ones(3), mode="valid")))
    triplet = seq[j : j + 3].decode("ascii", "replace").upper()
    if strand == "-":
        triplet = reverse_complement(triplet)
    return f"tRNA-{amino_acid(triplet, table)}({triplet.lower()})"


class RNACaller:
    def __init__(self, bundle, source: str = ""):
        self.bundle, self.source = bundle, source
        self.net = bundle.build()
        recipe = bundle.recipe
        self.min_length = {**MIN_LENGTH, **recipe.get("min_length", {})}
        self.max_gap = {**MAX_GAP, **recipe.get("max_gap", {})}
        self.smooth = {**SMOOTH, **recipe.get("smooth", {})}
        self.max_length = {**MAX_LENGTH, **recipe.get("max_length", {})}
        self.both_strands = bool(recipe.get("both_strands", True))
        self.min_score = float(recipe.get("min_score", MIN_SCORE))
        self.inference = f"COORDINATES:ab initio prediction:genolong-rna:{__version__}"

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RNACaller":
        return cls(load_bundle(path), str(path))

    def record_genes(self, seqid: str, seq: bytes, table: int) -> list[RNAGene]:
        from genolong.models.rna_net import encode_bases

        cfg = self.net.cfg
        classes = cfg.classes
        probs = predict(self.net, encode_bases(seq), both_strands=self.both_strands)
        n = len(classes)
        # each class smoothed at its own scale, so a long rRNA does not flicker between subunits
        smoothed = np.stack([box(probs[:, c], self.smooth[name if c == 0 else name[:-1]])
                             for c, name in enumerate(classes)], axis=1)
        best = smoothed.argmax(axis=1)
        del smoothed
        genes = []
        for c in range(1, n):
            kind, strand = classes[c][:-1], classes[c][-1]
            found = runs(best == c, self.max_gap[kind], self.min_length[kind])
            if kind in self.max_length:
                found = [(a2, b2) for a, b in found
                         for a2, b2 in split_long(a, b, probs[:, c], self.max_length[kind], self.min_length[kind] // 2)
                         if b2 - a2 >= self.min_length[kind]]
            if kind in FULL_LENGTH:
                found = [(a, b) for a, b in found if b - a >= REJECT * FULL_LENGTH[kind]]
            for a, b in found:
                score = float(probs[a:b, c].mean())
                if score < self.min_score:
                    continue
                if kind == "tRNA":
                    product = trna_product(seq, probs[:, n:], a, b, strand, table)
                else:
                    product = PRODUCTS[kind]
                    if kind in FULL_LENGTH and b - a < 0.8 * FULL_LENGTH[kind]:
                        product += " (partial)"
                biotype = kind if kind in ("tRNA", "tmRNA") else "rRNA"
                genes.append(RNAGene(seqid, a, b, strand, biotype, product, self.inference, score))
        return sorted(exclusive(genes), key=lambda g: (g.start, g.end))

    def call(self, genome, seqids: list[str], table: int) -> list[RNAGene]:
        genes = []
        for seqid in seqids:
            genes += self.record_genes(seqid, genome.fetch(seqid), table)
        return genes
