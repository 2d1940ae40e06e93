"""Gene or shadow: a protein network that scores every candidate ORF (Balrog's idea, small).

An ORF's stop codon fixes its reading frame; its start codons only choose how far upstream the
protein begins. So the network reads one protein per stop codon, the translation of the longest
ORF that ends there (N- to C-terminus, the stop left out), and gives every residue a feature
vector from a stack of dilated residual 1-D convolutions (a temporal convolutional network).
The ORF that starts at residue s is then scored from the features of residues [s, end): their
max and their mean (suffix max and suffix mean, so every start of a stop costs O(1) once the
stop's protein has been read), with log(residues) beside them, through one linear layer to one
logit: gene (an annotated protein) against shadow (an ORF in another frame or on the other
strand of a gene, in intergenic space, or in a pseudogene).

    net(ids (B, L) long, pad (B, L) bool) -> logits (B, L): logit of the ORF starting at each residue

`OrfEnsemble` holds `members` such nets, trained apart from different seeds, and averages their
logits: one net's verdict on a borderline ORF moves with its seed, and the mean of several is
steadier than any one (`annotate/gene_caller_fit.MEMBERS` says by how much).

`OrfNetConfig` is plain types; `GeneCallerBundle` is what `genolong fit-genes` saves beside a
checkpoint (`gene_caller.pt`: config, state dict and the decoder recipe, all loadable with
`torch.load(weights_only=True)`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genolong.models.bundle_file import NetBundle
from genolong.models.gene_function import N_AA, PAD


@dataclass
class OrfNetConfig:
    embed: int = 16
    channels: int = 32
    kernel: int = 5
    dilations: tuple[int, ...] = (1, 2, 4, 8)  # receptive field 1 + (kernel - 1) * sum = 61 residues
    dropout: float = 0.1
    # residues at each end whose mean features are read apart: a gene's N-terminus (after its start)
    # and C-terminus differ from a protein's middle, which a pseudogene's fragment starts or ends in
    terminal: int = 16
    members: int = 1  # nets of this shape in the ensemble (`OrfEnsemble`), trained from seeds seed, seed + 1, ...

    def __post_init__(self):
        self.dilations = tuple(int(d) for d in self.dilations)
        if self.kernel % 2 == 0 or self.kernel < 1:
            raise ValueError(f"kernel must be odd and positive, got {self.kernel}")
        if self.members < 1:
            raise ValueError(f"members must be at least 1, got {self.members}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "OrfNetConfig":
        return cls(**d)


class ResidualConv(nn.Module):
    """x + conv(GELU(conv_dilated(x))), padding kept at zero: (B, C, L) -> (B, C, L)."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel // 2))
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        h = self.mix(self.drop(F.gelu(self.conv(x))))  # (B, C, L)
        return (x + h) * real  # real: (B, 1, L), 0 at padding


class OrfNet(nn.Module):
    def __init__(self, cfg: OrfNetConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(N_AA, cfg.embed, padding_idx=PAD)
        self.inp = nn.Conv1d(cfg.embed, cfg.channels, 1)
        self.blocks = nn.ModuleList(ResidualConv(cfg.channels, cfg.kernel, d, cfg.dropout) for d in cfg.dilations)
        self.out = nn.Linear(4 * cfg.channels + 1, 1)

    def residue_features(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        real = (~pad).unsqueeze(1).float()  # (B, 1, L)
        x = self.inp(self.embedding(ids).transpose(1, 2)) * real  # (B, C, L)
        for block in self.blocks:
            x = block(x, real)
        return x.transpose(1, 2)  # (B, L, C)

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        h = self.residue_features(ids, pad)  # (B, L, C)
        B, L, C = h.shape
        n = (~pad).sum(dim=1, keepdim=True)  # (B, 1) residues per row
        # suffix statistics: flip so "from residue s to the end" becomes a running prefix
        hf = h.flip(1)  # (B, L, C)
        padf = pad.flip(1).unsqueeze(-1)  # (B, L, 1)
        suffix_max = hf.masked_fill(padf, float("-inf")).cummax(dim=1).values.flip(1)  # (B, L, C)
        count = (~padf).float().cumsum(dim=1).flip(1)  # (B, L, 1) residues from s to the end
        suffix_mean = hf.masked_fill(padf, 0.0).cumsum(dim=1).flip(1) / count.clamp_min(1.0)  # (B, L, C)
        suffix_max = suffix_max.masked_fill(pad.unsqueeze(-1), 0.0)  # -inf at padding would poison the layer
        # N-terminal mean over residues [s, s + terminal) and C-terminal mean over the row's last `terminal`
        prefix = torch.cat([h.new_zeros(B, 1, C), h.cumsum(dim=1)], dim=1)  # (B, L + 1, C); padding is 0
        pos = torch.arange(L, device=h.device).unsqueeze(0)  # (1, L)
        head_end = torch.minimum(pos + self.cfg.terminal, n)  # (B, L)
        gather = lambda idx: prefix.gather(1, idx.unsqueeze(-1).expand(-1, -1, C))  # noqa: E731
        n_term = (gather(head_end) - prefix[:, :L]) / (head_end - pos).clamp_min(1).unsqueeze(-1)  # (B, L, C)
        tail_start = (n - self.cfg.terminal).clamp_min(0)  # (B, 1)
        c_term = (gather(n) - gather(tail_start)) / (n - tail_start).clamp_min(1).unsqueeze(-1)  # (B, 1, C)
        feats = torch.cat([suffix_max, suffix_mean, n_term, c_term.expand(-1, L, -1),
                           torch.log(count.clamp_min(1.0)) / 5.0], dim=-1)  # (B, L, 4C + 1)
        return self.out(feats).squeeze(-1)  # (B, L)


class OrfEnsemble(nn.Module):
    """`cfg.members` OrfNets; the logit is their mean: (B, L) ids and padding -> (B, L) logits."""

    def __init__(self, cfg: OrfNetConfig):
        super().__init__()
        self.cfg = cfg
        self.members = nn.ModuleList(OrfNet(cfg) for _ in range(cfg.members))

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(ids, pad) for net in self.members]).mean(dim=0)  # (B, L)


@dataclass
class GeneCallerBundle(NetBundle):
    """`gene_caller.pt`: the ORF net's config and weights and the decoder recipe chosen on the
    training genomes' validation regions (`weight`, `bias`: each candidate ORF's score gains
    weight * (logit - bias)), plus what was measured there."""

    net_type = OrfEnsemble
    config_type = OrfNetConfig

    def __post_init__(self):
        # a lone OrfNet's weights (bundles written before ensembles) are a one-member ensemble's
        if self.state_dict and not any(k.startswith("members.") for k in self.state_dict):
            self.state_dict = {f"members.0.{k}": v for k, v in self.state_dict.items()}
