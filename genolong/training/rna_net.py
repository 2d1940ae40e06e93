"""Training the RNA-gene caller (`models/rna_net.py`) on annotated genomes, with a Lightning Trainer.

Every base of every record gets a class (`other`, or an RNA kind on a strand, from the
annotation's tRNA / tmRNA / rRNA features; rRNAs by their product's 5S / 16S / 23S) and, inside
tRNAs, an anticodon bit: the reference's `/anticodon` where it names one, else the triplet in the
anticodon loop that decodes to the product's amino acid (`data/trna.find_anticodon`).

RNA genes cover under 1% of a genome, so training windows are drawn half around an RNA gene
(anywhere in the window) and half anywhere, each reverse-complemented with probability 1/2, and
the cross-entropy weighs each class by the inverse square root of its share of the drawn bases.
The last `val_fraction` of every record (records long enough) is held out: training windows lie
wholly before it, the validation windows tile it (those with RNA bases, and as many without).
The epoch with the lowest validation loss is kept.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from torch.utils.data import DataLoader, Dataset

from genolong.data.annotation import read_annotation
from genolong.data.genome import open_genome
from genolong.data.trna import anticodon_from_qualifier, find_anticodon, product_amino_acid, reverse_complement
from genolong.models.rna_net import KINDS, RNACallerConfig, RNACallerNet, encode_bases, reverse_complement_codes
from genolong.training.small_fit import fit_best_epoch

ANTICODON_WEIGHT = 0.5  # the anticodon bits' BCE beside the class cross-entropy
ANTICODON_POS_WEIGHT = 5.0  # 3 anticodon bases among ~76 of a tRNA


def rna_kind(gene) -> str | None:
    """The `KINDS` entry of an annotated gene, or None (protein-coding, other ncRNAs, an rRNA
    whose product names no subunit)."""
    if gene.biotype in ("tRNA", "tmRNA"):
        return gene.biotype
    if gene.biotype == "rRNA":
        product = " ".join(gene.attributes.get("product", []))
        for kind in ("16S", "23S", "5S"):
            if kind in product:
                return kind
    return None


@dataclass
class LabelledRecord:
    """One record as arrays: codes (L,) uint8, labels (L,) uint8 class index, anticodon (L,)
    uint8 (1/2: anticodon base of a +/- strand tRNA), known (L,) uint8 (1/2: inside a +/- strand
    tRNA whose anticodon is known), and its RNA genes as (start, end)."""

    name: str
    codes: np.ndarray
    labels: np.ndarray
    anticodon: np.ndarray
    known: np.ndarray
    genes: list[tuple[int, int]]


def label_genome(genome_path, annotation_path=None, table: int | None = None,
                 kinds: tuple[str, ...] = KINDS) -> list[LabelledRecord]:
    """Records of an annotated genome (GenBank, or FASTA + GFF3/GTF) labelled for the caller."""
    genes = read_annotation(annotation_path or genome_path)
    index = {kind: i for i, kind in enumerate(kinds)}
    records = []
    with open_genome(genome_path) as genome:
        if table is None:
            tables = [int(t) for g in genes for t in g.attributes.get("transl_table", [])]
            table = max(set(tables), key=tables.count) if tables else 11
        for seqid in genome.ids:
            seq = genome.fetch(seqid)
            n = len(seq)
            labels = np.zeros(n, np.uint8)
            anticodon = np.zeros(n, np.uint8)
            known = np.zeros(n, np.uint8)
            spans = []
            for g in genes:
                kind = rna_kind(g)
                if g.seqid != seqid or kind not in index or g.strand not in "+-" or g.end > n:
                    continue
                plus = g.strand == "+"
                labels[g.start : g.end] = 1 + 2 * index[kind] + (0 if plus else 1)
                spans.append((g.start, g.end))
                if kind != "tRNA":
                    continue
                span = _anticodon_span(g, seq, table)
                if span is not None:
                    known[g.start : g.end] = 1 if plus else 2
                    anticodon[span[0] : span[1]] = 1 if plus else 2
            records.append(LabelledRecord(f"{genome_path}:{seqid}", encode_bases(seq), labels, anticodon, known,
                                          sorted(spans)))
    return records


def _anticodon_span(gene, seq: bytes, table: int) -> tuple[int, int] | None:
    for value in gene.attributes.get("anticodon", []):
        span = anticodon_from_qualifier(value)
        if span is not None and gene.start <= span[0] < span[1] <= gene.end:
            return span
    aa = product_amino_acid(" ".join(gene.attributes.get("product", [])))
    if aa is None:
        return None
    trna = seq[gene.start : gene.end].decode("ascii", "replace")
    if gene.strand == "-":
        trna = reverse_complement(trna)
    offset = find_anticodon(trna, aa, table)
    if offset is None:
        return None
    return ((gene.start + offset, gene.start + offset + 3) if gene.strand == "+"
            else (gene.end - offset - 3, gene.end - offset))


def split_ranges(records: list[LabelledRecord], window: int, val_fraction: float):
    """(train, val) bp ranges per record index: the last `val_fraction` of a record is validation
    when both parts hold at least one window; shorter records train whole."""
    train, val = [], []
    for i, r in enumerate(records):
        n = len(r.codes)
        cut = int(n * (1.0 - val_fraction))
        if cut >= window and n - cut >= window:
            train.append((i, 0, cut))
            val.append((i, cut, n))
        elif n >= window:
            train.append((i, 0, n))
    return train, val


def _sample(record: LabelledRecord, start: int, window: int, flip: bool):
    sl = slice(start, start + window)
    codes, labels = record.codes[sl], record.labels[sl].astype(np.int64)
    ac = np.stack([record.anticodon[sl] == 1, record.anticodon[sl] == 2], axis=1).astype(np.float32)
    known = np.stack([record.known[sl] == 1, record.known[sl] == 2], axis=1).astype(np.float32)
    if flip:
        codes = reverse_complement_codes(codes)
        # X+ (odd class) <-> X- (the even class after it)
        swapped = np.where(labels > 0, labels + np.where(labels % 2 == 1, 1, -1), 0)
        labels = swapped[::-1].copy()
        ac, known = ac[::-1, ::-1].copy(), known[::-1, ::-1].copy()
    return codes.astype(np.int64), labels, ac, known


class WindowSampler(Dataset):
    """`n` random training windows per epoch: half around an RNA gene, half anywhere; each
    reverse-complemented with probability 1/2. Draws from its own generator (one process)."""

    def __init__(self, records, ranges, window: int, n: int, seed: int):
        self.records, self.ranges, self.window, self.n = records, ranges, window, n
        self.rng = np.random.default_rng(seed)
        self.genes = [(i, a, b) for i, lo, hi in ranges for a, b in records[i].genes if lo <= a and b <= hi]
        self.lengths = np.array([hi - lo - window + 1 for _, lo, hi in ranges], dtype=np.float64)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, _):
        rng, w = self.rng, self.window
        if self.genes and rng.random() < 0.5:
            i, a, b = self.genes[rng.integers(len(self.genes))]
            lo, hi = next((lo, hi) for j, lo, hi in self.ranges if j == i and lo <= a and b <= hi)
            # the gene anywhere in the window (a gene longer than the window: any part of it)
            first, last = (b - w, a) if b - a <= w else (a, b - w)
            start = int(np.clip(rng.integers(first, last + 1), lo, hi - w))
        else:
            k = rng.choice(len(self.ranges), p=self.lengths / self.lengths.sum())
            i, lo, hi = self.ranges[k]
            start = int(rng.integers(lo, hi - w + 1))
        return _sample(self.records[i], start, w, bool(rng.random() < 0.5))


def validation_windows(records, ranges, window: int, seed: int) -> list[tuple]:
    """Windows tiling the validation ranges: every one with RNA bases and as many without (fixed)."""
    rng = np.random.default_rng(seed + 1)
    with_rna, without = [], []
    for i, lo, hi in ranges:
        for start in range(lo, hi - window + 1, window):
            (with_rna if records[i].labels[start : start + window].any() else without).append((i, start))
    picked = [without[j] for j in rng.permutation(len(without))[: max(len(with_rna), 1)]] + with_rna
    return [_sample(records[i], s, window, False) for i, s in picked]


def _collate(items):
    codes, labels, ac, known = zip(*items)
    return (torch.from_numpy(np.stack(codes)), torch.from_numpy(np.stack(labels)),
            torch.from_numpy(np.stack(ac)), torch.from_numpy(np.stack(known)))


def class_weights(sampler: WindowSampler, n_classes: int, draws: int = 256) -> torch.Tensor:
    """Inverse square root of each class's share of `draws` sampled windows' bases, `other` = 1,
    capped at 30 (a class never drawn gets the cap)."""
    counts = np.zeros(n_classes, np.float64)
    for _ in range(draws):
        counts += np.bincount(sampler[0][1], minlength=n_classes)
    share = counts / counts.sum()
    weight = np.sqrt(share[0] / np.maximum(share, 1e-12))
    return torch.tensor(np.clip(weight, 1.0, 30.0), dtype=torch.float32)


def rna_loss(net: RNACallerNet, logits: torch.Tensor, labels: torch.Tensor, ac: torch.Tensor, known: torch.Tensor,
             weight: torch.Tensor) -> torch.Tensor:
    n = len(net.cfg.classes)
    ce = F.cross_entropy(logits[..., :n].reshape(-1, n), labels.reshape(-1), weight=weight)
    bce = F.binary_cross_entropy_with_logits(logits[..., n:], ac, reduction="none",
                                             pos_weight=torch.tensor(ANTICODON_POS_WEIGHT))
    bce = (bce * known).sum() / known.sum().clamp_min(1.0)
    return ce + ANTICODON_WEIGHT * bce


class RNACallerModule(LightningModule):
    def __init__(self, net: RNACallerNet, weight: torch.Tensor, lr: float = 2e-3, weight_decay: float = 1e-2):
        super().__init__()
        self.net, self.lr, self.weight_decay = net, lr, weight_decay
        self.register_buffer("weight", weight, persistent=False)
        self._val: list[float] = []
        self.best_loss, self.best_state, self.history = float("inf"), None, []

    def training_step(self, batch, batch_idx):
        codes, labels, ac, known = batch
        loss = rna_loss(self.net, self.net(codes), labels, ac, known, self.weight)
        self.log("rna/train_loss", loss, prog_bar=True, batch_size=len(codes))
        return loss

    def validation_step(self, batch, batch_idx):
        codes, labels, ac, known = batch
        self._val.append(float(rna_loss(self.net, self.net(codes), labels, ac, known, self.weight)))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        loss = float(np.mean(self._val))
        self._val = []
        self.log("rna/val_loss", loss, prog_bar=True)
        self.history.append(loss)
        if loss < self.best_loss:
            self.best_loss, self.best_state = loss, copy.deepcopy(self.net.state_dict())

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.trainer.max_epochs))
        return [opt], [sched]


def fit_rna_caller(config: RNACallerConfig, records: list[LabelledRecord], window: int = 4096, epochs: int = 12,
                   windows_per_epoch: int = 512, batch_size: int = 16, val_fraction: float = 0.15, lr: float = 2e-3,
                   seed: int = 0, progress: bool = False, init: dict | None = None) -> tuple[RNACallerNet, dict]:
    """Train on the records' training ranges, keep the epoch with the lowest validation loss;
    returns (net in eval mode, summary with the validation ranges for decoding checks). `init`:
    a state dict of the same config to start from (more epochs on a caller already trained)."""
    import pytorch_lightning as pl

    if window % config.stride:
        raise ValueError(f"window {window} is not a multiple of the stride {config.stride}")
    pl.seed_everything(seed, workers=True, verbose=False)
    train_ranges, val_ranges = split_ranges(records, window, val_fraction)
    if not train_ranges:
        raise ValueError(f"no record is at least {window} bp long")
    net = RNACallerNet(config)
    if init is not None:
        net.load_state_dict(init)
    sampler = WindowSampler(records, train_ranges, window, windows_per_epoch, seed)
    weight = class_weights(sampler, len(config.classes))
    module = RNACallerModule(net, weight, lr=lr)
    train_loader = DataLoader(sampler, batch_size=batch_size, collate_fn=_collate)
    val_items = validation_windows(records, val_ranges, window, seed) if val_ranges else []
    val_loader = DataLoader(val_items, batch_size=batch_size, collate_fn=_collate) if val_items else None
    fit_best_epoch(module, net, train_loader, val_loader, epochs, progress, deterministic=False)
    summary = {"epochs": epochs, "best_epoch": int(np.argmin(module.history)) + 1 if module.history else epochs,
               "val_loss": module.best_loss if module.history else None, "val_history": module.history,
               "class_weights": weight.tolist(), "n_train_genes": len(sampler.genes),
               "n_val_windows": len(val_items), "window": window, "windows_per_epoch": windows_per_epoch}
    return net, {"summary": summary, "val_ranges": val_ranges}
