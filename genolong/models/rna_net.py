"""RNA-gene caller network: a dilated 1-D CNN over one-hot bases, one pass per record for both strands.

    net(codes (B, L) long, 0-3 = ACGT, 4 = any other base) -> logits (B, L, n_classes + 2)

The first `n_classes` columns are softmax classes per base: `other`, then every RNA kind of
`KINDS` on each strand (`tRNA+`, `tRNA-`, ..., `23S-`); the last two are independent bits per
base: "this base is in the anticodon of a tRNA on the + (-) strand", which `annotate/rna_caller.py`
reads to name the tRNA's amino acid. The 5S, 16S and 23S ribosomal RNAs are classes of their own,
so the product comes with the call and the 16S and 23S of one operon stay apart.

A stride-`stride` stem takes the sequence to `stride`-bp steps, where the dilated residual
blocks run (a 64-channel block at 4-bp steps costs a quarter of one at base resolution; the
receptive field of the default, +-(1 + 2 * sum(dilations)) steps, is about 1 kbp, enough to
recognise any stretch of a 3 kbp 23S); the head predicts all `stride` bases of each step
(sub-pixel output), so calls keep base resolution.

`RNACallerConfig` has plain types only; `RNACallerBundle` is what `genolong fit-rna` writes
(`rna_caller.pt`): config, weights and the decoding recipe, readable with `weights_only=True`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genolong.models.bundle_file import plain

KINDS = ("tRNA", "tmRNA", "5S", "16S", "23S")  # the three rRNAs as kinds of their own
N_ANTICODON = 2  # anticodon bits, + and - strand
BASES = 4  # one-hot width; code 4 (N and any other letter) is all zeros
_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
    _CODE[_b + 32] = _i  # lower case


def class_names(kinds: tuple[str, ...] = KINDS) -> list[str]:
    return ["other"] + [f"{k}{s}" for k in kinds for s in "+-"]


def encode_bases(seq: bytes) -> np.ndarray:
    """(L,) uint8 codes of a sequence: 0-3 for ACGT (either case), 4 for anything else."""
    return _CODE[np.frombuffer(seq, dtype=np.uint8)]


def decode_bases(codes: np.ndarray) -> bytes:
    """The sequence of codes (4 -> N)."""
    return np.frombuffer(b"ACGTN", dtype=np.uint8)[codes].tobytes()


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Codes of the reverse complement (A<->T, C<->G, 4 stays 4), last axis reversed."""
    out = np.where(codes < 4, 3 - codes, codes).astype(codes.dtype)
    return out[..., ::-1].copy()


def strand_swap(kinds: tuple[str, ...] = KINDS) -> list[int]:
    """Column permutation of the logits for the reverse complement: each `X+` <-> `X-`, and the
    two anticodon bits."""
    n = 1 + 2 * len(kinds)
    perm = [0]
    for i in range(len(kinds)):
        perm += [2 + 2 * i, 1 + 2 * i]
    return perm + [n + 1, n]


@dataclass
class RNACallerConfig:
    kinds: tuple[str, ...] = KINDS
    channels: int = 64
    stride: int = 8  # bp per step of the convolutional trunk (even)
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 1)
    dropout: float = 0.1

    def __post_init__(self):
        self.kinds = tuple(str(k) for k in self.kinds)
        self.dilations = tuple(int(d) for d in self.dilations)
        if self.stride < 2 or self.stride % 2:
            raise ValueError(f"stride must be an even number >= 2, got {self.stride}")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {self.kernel}")

    @property
    def classes(self) -> list[str]:
        return class_names(self.kinds)

    @property
    def n_outputs(self) -> int:
        return len(self.classes) + N_ANTICODON

    @property
    def reach(self) -> int:
        """bp of context on each side that a base's output depends on (the receptive half-width)."""
        return self.stride * (2 + sum(d * (self.kernel - 1) // 2 for d in self.dilations))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kinds"], d["dilations"] = list(self.kinds), list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RNACallerConfig":
        return cls(**d)


class _Block(nn.Module):
    """Pre-norm residual block: BN -> GELU -> dilated conv -> GELU -> 1x1 conv."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.mix(F.gelu(self.conv(F.gelu(self.norm(x))))))


class RNACallerNet(nn.Module):
    def __init__(self, cfg: RNACallerConfig):
        super().__init__()
        self.cfg = cfg
        s, c = cfg.stride, cfg.channels
        self.stem = nn.Conv1d(BASES, c, kernel_size=2 * s, stride=s, padding=s // 2)
        self.blocks = nn.ModuleList(_Block(c, cfg.kernel, d, cfg.dropout) for d in cfg.dilations)
        self.norm = nn.BatchNorm1d(c)
        self.head = nn.Conv1d(c, s * cfg.n_outputs, 1)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, L) long with L a multiple of `stride` -> logits (B, L, n_outputs)."""
        b, length = codes.shape
        s, n = self.cfg.stride, self.cfg.n_outputs
        if length % s:
            raise ValueError(f"length {length} is not a multiple of the stride {s}")
        x = F.one_hot(codes.long(), BASES + 1)[..., :BASES].transpose(1, 2).float()  # (B, 4, L)
        h = self.stem(x)  # (B, C, L / s)
        for block in self.blocks:
            h = block(h)
        out = self.head(F.gelu(self.norm(h)))  # (B, s * n, T); channel j * n + o = base offset j, output o
        t = out.shape[-1]
        return out.view(b, s, n, t).permute(0, 3, 1, 2).reshape(b, t * s, n)


@dataclass
class RNACallerBundle:
    """What `genolong fit-rna` saves (`rna_caller.pt`): config, weights and the decoding recipe
    (thresholds, chosen on the training genomes' validation regions), all plain types."""

    config: RNACallerConfig
    state_dict: dict
    recipe: dict = field(default_factory=dict)

    def build(self) -> RNACallerNet:
        net = RNACallerNet(self.config)
        net.load_state_dict(self.state_dict)
        return net.eval()

    def to_dict(self) -> dict:
        recipe = json.loads(json.dumps(self.recipe, default=plain))  # JSON-clean: weights_only=True reads it
        return {"format": 1, "kind": "rna_caller", "config": self.config.to_dict(), "state_dict": self.state_dict,
                "recipe": recipe}

    @classmethod
    def from_dict(cls, d: dict) -> "RNACallerBundle":
        if d.get("kind") != "rna_caller":
            raise ValueError("not an RNA-caller file")
        return cls(RNACallerConfig.from_dict(d["config"]), d["state_dict"], dict(d["recipe"]))
