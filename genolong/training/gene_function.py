"""Training the per-gene function head (`models/gene_function.py`) with a Lightning Trainer.

The examples are genes, not tokens: a gene's translation, the DNA encoder's states pooled over
its tokens, and its function target (a multi-hot row over the propagated GO vocabulary, or a
class index). One loss per gene: BCE over the terms, or cross-entropy over the classes. The
epoch with the best validation score (gene-centric Fmax, or macro-F1 for classes) is kept.
What goes in (which genes, which states) is assembled by `genolong fit-function`
(`annotate/function_fit.py`); this module only sees arrays.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from torch.utils.data import DataLoader, Dataset

from genolong.data.fmax import cafa_fmax
from genolong.models.gene_function import GeneFunctionConfig, GeneFunctionNet, encode_protein, pad_proteins
from genolong.training.small_fit import fit_best_epoch


@dataclass
class GeneExamples:
    """Genes as arrays: proteins (residue strings), pooled states (n, d) and targets: (n, T) 0/1
    for multilabel vocabularies, (n,) class indices for single-label ones."""

    proteins: list[str]
    states: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.proteins)


class _GeneDataset(Dataset):
    def __init__(self, examples: GeneExamples, max_length: int):
        self.ids = [encode_protein(p, max_length) for p in examples.proteins]
        self.states = np.asarray(examples.states, dtype=np.float32)
        self.targets = examples.targets

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return self.ids[i], self.states[i], self.targets[i]


def _collate(items):
    ids, states, targets = zip(*items)
    protein, pad = pad_proteins(list(ids))
    return protein, pad, torch.from_numpy(np.stack(states)), torch.from_numpy(np.asarray(targets))


def fmax_score(targets: np.ndarray, probs: np.ndarray) -> float:
    """Gene-centric Fmax (CAFA) over genes with at least one true term: the model-selection score."""
    return float(cafa_fmax(targets, probs)["fmax"] or 0.0)


def macro_f1_score(targets: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    present = np.unique(targets)
    return float(f1_score(targets, probs.argmax(axis=1), labels=present, average="macro", zero_division=0))


class GeneFunctionModule(LightningModule):
    """Loss, validation score and optimiser around a `GeneFunctionNet`."""

    def __init__(self, net: GeneFunctionNet, lr: float = 3e-3, weight_decay: float = 1e-2,
                 pos_weight: torch.Tensor | None = None):
        super().__init__()
        self.net = net
        self.lr, self.weight_decay = lr, weight_decay
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else torch.ones(0), persistent=False)
        self._val_probs: list[np.ndarray] = []
        self._val_targets: list[np.ndarray] = []
        self.best_score, self.best_state = -1.0, None
        self.history: list[float] = []

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.net.cfg.kind == "multilabel":
            weight = self.pos_weight if self.pos_weight.numel() else None
            return F.binary_cross_entropy_with_logits(logits, targets.float(), pos_weight=weight)
        return F.cross_entropy(logits, targets.long())

    def training_step(self, batch, batch_idx):
        protein, pad, states, targets = batch
        loss = self._loss(self.net(protein, pad, states), targets)
        self.log("gene_function/train_loss", loss, prog_bar=True, batch_size=len(protein))
        return loss

    def validation_step(self, batch, batch_idx):
        protein, pad, states, targets = batch
        logits = self.net(protein, pad, states)
        self._val_probs.append(self.net.probabilities(logits).float().cpu().numpy())
        self._val_targets.append(targets.cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        if not self._val_probs:
            return
        probs, targets = np.concatenate(self._val_probs), np.concatenate(self._val_targets)
        self._val_probs, self._val_targets = [], []
        score = fmax_score(targets, probs) if self.net.cfg.kind == "multilabel" else macro_f1_score(targets, probs)
        self.log("gene_function/val_score", score, prog_bar=True)
        if self.trainer.sanity_checking:
            return
        self.history.append(score)
        if score > self.best_score:
            self.best_score, self.best_state = score, copy.deepcopy(self.net.state_dict())

    def configure_optimizers(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit_gene_function(config: GeneFunctionConfig, train: GeneExamples, val: GeneExamples, epochs: int = 40,
                      batch_size: int = 32, lr: float = 3e-3, seed: int = 0, progress: bool = False
                      ) -> tuple[GeneFunctionNet, dict]:
    """Train on `train`, keep the epoch that scores best on `val`; returns (net in eval mode, summary)."""
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)
    net = GeneFunctionNet(config)
    pos_weight = None
    if config.kind == "multilabel":
        # rare terms would otherwise never reach a useful score: weight positives by sqrt(neg/pos), capped
        pos = train.targets.sum(axis=0).astype(np.float64)
        neg = len(train) - pos
        pos_weight = torch.tensor(np.clip(np.sqrt(neg / np.maximum(pos, 1.0)), 1.0, 10.0), dtype=torch.float32)
    module = GeneFunctionModule(net, lr=lr, pos_weight=pos_weight)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(_GeneDataset(train, config.max_length), batch_size=batch_size, shuffle=True,
                              collate_fn=_collate, generator=generator)
    val_loader = DataLoader(_GeneDataset(val, config.max_length), batch_size=128, collate_fn=_collate)
    fit_best_epoch(module, net, train_loader, val_loader, epochs, progress)
    return net, {"val_score": module.best_score, "epochs": epochs,
                 "best_epoch": int(np.argmax(module.history)) + 1 if module.history else 0,
                 "n_train": len(train), "n_val": len(val)}
