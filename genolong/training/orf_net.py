"""Training the ORF net (`models/orf_net.py`) with a Lightning Trainer: gene against shadow ORF.

The examples are stop codons: the protein of the longest ORF ending at each (residue ids, as
`annotate/gene_caller.orf_rows` makes them) and the candidate starts labelled on it, each with a
label (1 gene, 0 shadow) and a weight. A loss is the weighted binary cross-entropy of the
labelled starts' logits. What goes in (which genes, which shadows, which split) is assembled by
`genolong fit-genes` (`annotate/gene_caller_fit.py`); this module only sees arrays. The epoch
with the lowest validation loss is kept.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from torch.utils.data import DataLoader, Dataset, Sampler

from genolong.models.orf_net import OrfNet, OrfNetConfig
from genolong.training.small_fit import fit_best_epoch


@dataclass
class OrfExamples:
    """Stops as arrays: row r's residues `ids[offsets[r]:offsets[r + 1]]`; labelled start j sits at
    residue `start[j]` of row `row[j]`, with `label[j]` (1 gene, 0 shadow) and `weight[j]`."""

    ids: np.ndarray  # (total residues,) uint8
    offsets: np.ndarray  # (n_rows + 1,) int64
    row: np.ndarray  # (n,) int64
    start: np.ndarray  # (n,) int64
    label: np.ndarray  # (n,) float32
    weight: np.ndarray  # (n,) float32

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


class _StopDataset(Dataset):
    def __init__(self, ex: OrfExamples):
        self.ex = ex
        order = np.argsort(ex.row, kind="stable")
        self.by_row = order
        self.bounds = np.searchsorted(ex.row[order], np.arange(len(ex) + 1))

    def __len__(self) -> int:
        return len(self.ex)

    def __getitem__(self, r: int):
        ex, j = self.ex, self.by_row[self.bounds[r] : self.bounds[r + 1]]
        return ex.ids[ex.offsets[r] : ex.offsets[r + 1]], ex.start[j], ex.label[j], ex.weight[j]


def _collate(items):
    width = max([len(p) for p, *_ in items] + [1])
    ids = np.zeros((len(items), width), dtype=np.int64)
    rows, starts, labels, weights = [], [], [], []
    for i, (p, s, y, w) in enumerate(items):
        ids[i, : len(p)] = p
        rows.append(np.full(len(s), i))
        starts.append(np.minimum(s, max(len(p) - 1, 0)))
        labels.append(y)
        weights.append(w)
    ids_t = torch.from_numpy(ids)
    cat = lambda parts, dtype: torch.from_numpy(np.concatenate(parts).astype(dtype))  # noqa: E731
    return ids_t, ids_t == 0, cat(rows, np.int64), cat(starts, np.int64), cat(labels, np.float32), \
        cat(weights, np.float32)


class LengthBatches(Sampler):
    """Batches of rows of similar length (little padding), at most `budget` padded residues each,
    in a new random order every epoch (and a random tie order among equal lengths)."""

    def __init__(self, lengths: np.ndarray, budget: int, seed: int = 0, shuffle: bool = True):
        self.lengths, self.budget, self.shuffle = np.asarray(lengths), budget, shuffle
        self.rng = np.random.default_rng(seed)
        self._batches = self._make()

    def _make(self) -> list[list[int]]:
        noise = self.rng.random(self.lengths.size) if self.shuffle else np.zeros(self.lengths.size)
        order = np.lexsort((noise, self.lengths))
        batches, batch, longest = [], [], 0
        for r in order.tolist():
            longest = max(longest, int(self.lengths[r]))
            if batch and longest * (len(batch) + 1) > self.budget:
                batches.append(batch)
                batch, longest = [], int(self.lengths[r])
            batch.append(r)
        if batch:
            batches.append(batch)
        if self.shuffle:
            self.rng.shuffle(batches)
        return batches

    def __iter__(self):
        batches, self._batches = self._batches, self._make()
        return iter(batches)

    def __len__(self) -> int:
        return len(self._batches)


def weighted_loss(logits: torch.Tensor, rows, starts, labels, weights) -> torch.Tensor:
    chosen = logits[rows, starts]  # (n,)
    loss = F.binary_cross_entropy_with_logits(chosen, labels, reduction="none")
    return (loss * weights).sum() / weights.sum().clamp_min(1e-9)


class OrfNetModule(LightningModule):
    def __init__(self, net: OrfNet, lr: float = 3e-3, weight_decay: float = 1e-2):
        super().__init__()
        self.net, self.lr, self.weight_decay = net, lr, weight_decay
        self.best_loss, self.best_state = float("inf"), None
        self.history: list[float] = []
        self._val = [0.0, 0.0]

    def training_step(self, batch, batch_idx):
        ids, pad, rows, starts, labels, weights = batch
        loss = weighted_loss(self.net(ids, pad), rows, starts, labels, weights)
        self.log("orf_net/train_loss", loss, prog_bar=True, batch_size=ids.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        ids, pad, rows, starts, labels, weights = batch
        loss = weighted_loss(self.net(ids, pad), rows, starts, labels, weights)
        self._val[0] += float(loss) * float(weights.sum())
        self._val[1] += float(weights.sum())

    def on_validation_epoch_end(self) -> None:
        loss = self._val[0] / max(self._val[1], 1e-9)
        self._val = [0.0, 0.0]
        self.log("orf_net/val_loss", loss, prog_bar=True)
        if self.trainer.sanity_checking:
            return
        self.history.append(loss)
        if loss < self.best_loss:
            self.best_loss, self.best_state = loss, copy.deepcopy(self.net.state_dict())

    def configure_optimizers(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit_orf_net(config: OrfNetConfig, train: OrfExamples, val: OrfExamples, epochs: int = 8,
                budget: int = 1 << 14, lr: float = 3e-3, seed: int = 0, progress: bool = False
                ) -> tuple[OrfNet, dict]:
    """Train on `train`, keep the epoch with the lowest weighted loss on `val`: (net in eval mode, summary)."""
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)
    net = OrfNet(config)
    module = OrfNetModule(net, lr=lr)
    train_loader = DataLoader(_StopDataset(train), batch_sampler=LengthBatches(train.lengths, budget, seed),
                              collate_fn=_collate)
    val_loader = DataLoader(_StopDataset(val), batch_sampler=LengthBatches(val.lengths, 4 * budget, seed, False),
                            collate_fn=_collate)
    fit_best_epoch(module, net, train_loader, val_loader, epochs, progress)
    return net, {"val_loss": module.best_loss, "epochs": epochs, "history": module.history,
                 "best_epoch": int(np.argmin(module.history)) + 1 if module.history else 0,
                 "n_train_stops": len(train), "n_val_stops": len(val)}
