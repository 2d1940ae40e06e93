"""Training the TIS net (`models/start_net.py`) with a Lightning Trainer: listwise over each stop's starts.

The examples are candidate start codons grouped by stop codon: each group is the in-frame starts
of an annotated gene's stop, and the annotated start is the target of a softmax over the group's
logits (the loss: its cross-entropy, averaged over groups). Groups of one start teach nothing and
are left out by whoever assembles them (`genolong fit-starts`, `annotate/start_caller_fit.py`);
this module only sees arrays. The epoch with the lowest validation loss is kept.

Learning rate and window chosen on the demo stores' val regions (GM12, mm5713, B237; 1916 train /
239 val genes, 12 epochs): lr 2e-3 best val loss 0.179 (top-1 0.921), 5e-3 0.146 / 0.176 (0.946 /
0.946, seeds 0 / 1, best at epochs 7 / 5); a 40 + 40 bp window 0.205 (0.925) against 60 + 60.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_lightning import LightningModule
from torch.utils.data import DataLoader, Dataset

from genolong.models.start_net import StartNet, StartNetConfig
from genolong.training.small_fit import fit_best_epoch


@dataclass
class StartExamples:
    """Candidates as arrays, grouped by stop: group g is rows `offsets[g]:offsets[g + 1]`, its target
    row `target[g]` (an index into the arrays)."""

    windows: np.ndarray  # (n, W) uint8 bases 0..4
    features: np.ndarray  # (n, F) float32
    offsets: np.ndarray  # (n_groups + 1,) int64
    target: np.ndarray  # (n_groups,) int64

    def __len__(self) -> int:
        return int(self.offsets.size - 1)


class _GroupDataset(Dataset):
    def __init__(self, ex: StartExamples):
        self.ex = ex

    def __len__(self) -> int:
        return len(self.ex)

    def __getitem__(self, g: int):
        a, b = self.ex.offsets[g], self.ex.offsets[g + 1]
        return self.ex.windows[a:b], self.ex.features[a:b], int(self.ex.target[g] - a)


def _collate(items):
    sizes = [len(w) for w, _, _ in items]
    group = np.repeat(np.arange(len(items)), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    target = first + np.array([t for _, _, t in items])
    return (torch.from_numpy(np.concatenate([w for w, _, _ in items]).astype(np.int64)),
            torch.from_numpy(np.concatenate([f for _, f, _ in items])),
            torch.from_numpy(group), torch.from_numpy(target.astype(np.int64)))


def listwise_loss(logits: torch.Tensor, group: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy of each group's target under the softmax over the group, (G,) bool: the
    target has the group's top logit)."""
    n_groups = int(target.numel())
    top = torch.full((n_groups,), float("-inf"), dtype=logits.dtype).scatter_reduce(0, group, logits, "amax")
    total = torch.zeros(n_groups, dtype=logits.dtype).index_add(0, group, torch.exp(logits - top[group]))
    lse = top + torch.log(total)
    hit = logits[target] >= top
    return (lse - logits[target]).mean(), hit


class StartNetModule(LightningModule):
    def __init__(self, net: StartNet, lr: float = 5e-3, weight_decay: float = 1e-2):
        super().__init__()
        self.net, self.lr, self.weight_decay = net, lr, weight_decay
        self.best_loss, self.best_state = float("inf"), None
        self.history: list[float] = []
        self.accuracy: list[float] = []
        self._val = [0.0, 0.0, 0.0]

    def training_step(self, batch, batch_idx):
        windows, feats, group, target = batch
        loss, _ = listwise_loss(self.net(windows, feats), group, target)
        self.log("start_net/train_loss", loss, prog_bar=True, batch_size=int(target.numel()))
        return loss

    def validation_step(self, batch, batch_idx):
        windows, feats, group, target = batch
        loss, hit = listwise_loss(self.net(windows, feats), group, target)
        self._val[0] += float(loss) * target.numel()
        self._val[1] += float(hit.sum())
        self._val[2] += target.numel()

    def on_validation_epoch_end(self) -> None:
        loss, acc = self._val[0] / max(self._val[2], 1), self._val[1] / max(self._val[2], 1)
        self._val = [0.0, 0.0, 0.0]
        self.log("start_net/val_loss", loss, prog_bar=True)
        if self.trainer.sanity_checking:
            return
        self.history.append(loss)
        self.accuracy.append(acc)
        if loss < self.best_loss:
            self.best_loss, self.best_state = loss, copy.deepcopy(self.net.state_dict())

    def configure_optimizers(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit_start_net(config: StartNetConfig, train: StartExamples, val: StartExamples, epochs: int = 8,
                  batch_groups: int = 64, lr: float = 5e-3, seed: int = 0, progress: bool = False
                  ) -> tuple[StartNet, dict]:
    """Train on `train`, keep the epoch with the lowest listwise loss on `val`: (net in eval mode, summary)."""
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)
    net = StartNet(config)
    module = StartNetModule(net, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(_GroupDataset(train), batch_size=batch_groups, shuffle=True, generator=gen,
                              collate_fn=_collate)
    val_loader = DataLoader(_GroupDataset(val), batch_size=4 * batch_groups, collate_fn=_collate)
    fit_best_epoch(module, net, train_loader, val_loader, epochs, progress)
    best = int(np.argmin(module.history)) if module.history else -1
    return net, {"val_loss": module.best_loss, "epochs": epochs, "history": module.history,
                 "val_top1_by_epoch": module.accuracy, "best_epoch": best + 1,
                 "val_top1": module.accuracy[best] if module.history else 0.0,
                 "n_train_stops": len(train), "n_val_stops": len(val)}
