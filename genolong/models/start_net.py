"""The translation-initiation-site (TIS) net: which of a stop codon's in-frame start codons is the gene's.

Balrog and Prodigal score a start from the bases around it (the ribosome-binding site upstream,
the start codon, the first codons) and from where it sits among its stop's starts; GeneMarkS-2
adds the upstream signal's spacing. The net reads the same: the strand-oriented bases of a window
around the start codon (one-hot, `upstream` bases before its first base and `downstream` from it)
through two convolution-and-pool layers whose output keeps its position (a Shine-Dalgarno motif
counts only at its spacer), joined by a few per-candidate features (`annotate/start_caller.py`:
the start codon, the distance to the stop's most upstream start, the candidate's rank and the
ORF's length), to one logit per candidate. The logits of a stop's candidates are read as a softmax
over them (trained listwise, `training/start_net.py`).

`start_caller.pt` (config, weights, the decoder weight chosen on the training genomes' validation
regions; plain types only) sits beside the checkpoint, written by `genolong fit-starts`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from genolong.models.bundle_file import NetBundle

N_BASES = 5  # A, C, G, T and "not a base" (N, outside the record): the last is all zeros


@dataclass
class StartNetConfig:
    upstream: int = 60  # bases read before the start codon's first base
    downstream: int = 60  # bases read from it on (the start codon and the first codons)
    n_features: int = 8  # per-candidate features (`annotate/start_caller.start_features`)
    channels: int = 32
    kernel: int = 7
    hidden: int = 64
    dropout: float = 0.2

    @property
    def width(self) -> int:
        return self.upstream + self.downstream

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StartNetConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown start-net config fields {sorted(unknown)}")
        return cls(**d)


class StartNet(nn.Module):
    """(windows (B, W) long in 0..4, features (B, F) float) -> (B,) logits."""

    def __init__(self, cfg: StartNetConfig):
        super().__init__()
        self.cfg = cfg
        c, k = cfg.channels, cfg.kernel
        self.conv = nn.Sequential(
            nn.Conv1d(4, c, k, padding=k // 2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(c, c, k, padding=k // 2), nn.ReLU(), nn.MaxPool1d(2),
        )
        pooled = cfg.width // 2 // 2
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout), nn.Linear(c * pooled + cfg.n_features, cfg.hidden), nn.ReLU(),
            nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 1),
        )

    def forward(self, windows: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(windows, N_BASES)[..., :4].float().transpose(1, 2)  # (B, 4, W)
        h = self.conv(onehot).flatten(1)
        return self.head(torch.cat([h, features], dim=1)).squeeze(-1)


@dataclass
class StartCallerBundle(NetBundle):
    """`start_caller.pt`: the TIS net's config and weights and the decoder recipe (`weight`: each
    candidate start's choice gains weight * its log-softmax among its stop's starts)."""

    net_type = StartNet
    config_type = StartNetConfig
