"""Function per gene: a protein view of the gene's translation beside the DNA encoder's states
pooled over the gene's tokens, one prediction (and one loss) per gene.

`GeneFunctionConfig` (plain types; saved beside a checkpoint) -> `ProteinEncoder` (amino-acid
k-mer bag or a DeepGOPlus-style CNN) -> `GeneFunctionNet`:
    net(protein (B, P) long, protein_pad (B, P) bool, states (B, d_dna)) -> logits (B, n_outputs)
The logits are independent term bits (`kind="multilabel"`, GO) or softmax classes
(`kind="single"`, e.g. product classes).

The k-mer bag is the default because it was measured better on the training genomes' held-out
regions (see `genolong fit-function`): with a few thousand labelled proteins, a mean of
amino-acid 1-, 2- and 3-mer embeddings matches orthologs by their shared short words, as the
amino-acid pair regression does, while a CNN's motif filters need more proteins than one clade has.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genolong.models.bundle_file import plain

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
PAD, UNKNOWN_AA = 0, 1  # ids: 0 padding, 1 any other residue (X, B, Z, U, O, *), then the 20 amino acids
N_AA = len(AMINO_ACIDS) + 2
_CODE = np.full(256, UNKNOWN_AA, dtype=np.int64)
for _i, _aa in enumerate(AMINO_ACIDS):
    _CODE[ord(_aa)] = _i + 2
    _CODE[ord(_aa.lower())] = _i + 2


def encode_protein(sequence: str, max_length: int) -> np.ndarray:
    """Residue ids (<= max_length,) of a protein; a longer protein keeps its first `max_length`
    residues (N-terminal domains carry most of what a small model can read)."""
    raw = np.frombuffer(sequence[:max_length].encode("ascii", "replace"), dtype=np.uint8)
    return _CODE[raw]


def pad_proteins(proteins: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P) ids and (B, P) padding mask (True at padding) of encoded proteins; P >= 1."""
    width = max([len(p) for p in proteins] + [1])
    ids = np.zeros((len(proteins), width), dtype=np.int64)
    for row, p in enumerate(proteins):
        ids[row, : len(p)] = p
    ids_t = torch.from_numpy(ids)
    return ids_t, ids_t == PAD


@dataclass
class GeneFunctionConfig:
    n_outputs: int
    kind: str = "multilabel"  # "multilabel" (sigmoid per term) or "single" (softmax over classes)
    d_states: int = 0  # width of the pooled DNA states (0: protein view alone)
    neighbours: int = 0  # genes on each side whose pooled states join the gene's own (3 * d_model wide then)
    protein: str = "kmer_bag"  # "kmer_bag" or "cnn"
    embed: int = 128
    kmer_buckets: int = 8192  # hashed amino-acid 3-mer vocabulary of the k-mer bag
    filters: int = 64  # cnn: filters per kernel size
    kernels: tuple[int, ...] = (5, 11, 21)
    hidden: int = 256
    dropout: float = 0.3
    max_length: int = 1000  # residues read per protein

    def __post_init__(self):
        if self.kind not in ("multilabel", "single"):
            raise ValueError(f"kind must be 'multilabel' or 'single', got {self.kind!r}")
        if self.protein not in ("kmer_bag", "cnn"):
            raise ValueError(f"protein must be 'kmer_bag' or 'cnn', got {self.protein!r}")
        if self.n_outputs < 1:
            raise ValueError(f"n_outputs must be at least 1, got {self.n_outputs}")
        self.kernels = tuple(int(k) for k in self.kernels)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kernels"] = list(self.kernels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GeneFunctionConfig":
        return cls(**{k: (tuple(v) if k == "kernels" else v) for k, v in d.items()})


class KmerBag(nn.Module):
    """Mean of the embeddings of every amino-acid 1-, 2- and 3-mer of a protein: (B, P) -> (B, embed)."""

    def __init__(self, embed: int, buckets: int):
        super().__init__()
        self.buckets = buckets
        self.single = nn.Embedding(N_AA, embed, padding_idx=PAD)
        self.pair = nn.Embedding(N_AA * N_AA, embed)
        self.triple = nn.Embedding(buckets, embed)
        self.out_dim = embed

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        real = (~pad).float()  # (B, P)
        one = (self.single(ids) * real.unsqueeze(-1)).sum(1) / real.sum(1, keepdim=True).clamp_min(1.0)  # (B, E)
        pair_ok = real[:, 1:] * real[:, :-1]  # (B, P-1)
        pairs = self.pair(ids[:, :-1] * N_AA + ids[:, 1:])  # (B, P-1, E)
        two = (pairs * pair_ok.unsqueeze(-1)).sum(1) / pair_ok.sum(1, keepdim=True).clamp_min(1.0)
        tri_ok = pair_ok[:, 1:] * real[:, 2:]  # (B, P-2)
        tri_ids = (ids[:, :-2] * N_AA * N_AA + ids[:, 1:-1] * N_AA + ids[:, 2:]) % self.buckets  # (B, P-2)
        three = (self.triple(tri_ids) * tri_ok.unsqueeze(-1)).sum(1) / tri_ok.sum(1, keepdim=True).clamp_min(1.0)
        return one + two + three  # (B, E)


class ProteinCNN(nn.Module):
    """DeepGOPlus-style: residue embeddings, parallel 1-D convolutions of several widths, each
    max-pooled over the real positions: (B, P) -> (B, filters * len(kernels))."""

    def __init__(self, embed: int, filters: int, kernels: tuple[int, ...]):
        super().__init__()
        self.embedding = nn.Embedding(N_AA, embed, padding_idx=PAD)
        self.convs = nn.ModuleList(nn.Conv1d(embed, filters, k, padding=k // 2) for k in kernels)
        self.out_dim = filters * len(kernels)

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(1, 2)  # (B, E, P)
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(x))[..., : ids.shape[1]]  # (B, F, P)
            pooled.append(h.masked_fill(pad.unsqueeze(1), 0.0).amax(dim=2))  # (B, F); ReLU >= 0, so 0 fills padding
        return torch.cat(pooled, dim=1)


class GeneFunctionNet(nn.Module):
    """Protein view + pooled DNA states -> per-gene function logits (B, n_outputs)."""

    def __init__(self, cfg: GeneFunctionConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.protein == "kmer_bag":
            self.protein = KmerBag(cfg.embed, cfg.kmer_buckets)
        else:
            self.protein = ProteinCNN(cfg.embed, cfg.filters, cfg.kernels)
        width = self.protein.out_dim
        self.states_norm = nn.LayerNorm(cfg.d_states) if cfg.d_states else None
        self.mlp = nn.Sequential(
            nn.LayerNorm(width + cfg.d_states), nn.Dropout(cfg.dropout), nn.Linear(width + cfg.d_states, cfg.hidden),
            nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.n_outputs),
        )

    def forward(self, protein: torch.Tensor, protein_pad: torch.Tensor, states: torch.Tensor | None = None
                ) -> torch.Tensor:
        h = self.protein(protein, protein_pad)  # (B, W)
        if self.states_norm is not None:
            if states is None:
                raise ValueError("this gene-function net reads pooled DNA states; none were given")
            h = torch.cat([h, self.states_norm(states.float())], dim=1)  # (B, W + d_states)
        return self.mlp(h)  # (B, n_outputs)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.cfg.kind == "multilabel" else torch.softmax(logits, dim=-1)


def predict_gene_function(net: GeneFunctionNet, proteins: list[str], states: np.ndarray | None,
                          batch_size: int = 256, threads: int = 1) -> np.ndarray:
    """Probabilities (n, n_outputs) of genes under `net` (eval mode, no gradients); batches on
    `threads` threads at once (`genolong/parallel.py`: the same numbers at any thread count)."""
    from genolong.parallel import ordered_map

    d = net.cfg.d_states

    def batch(a: int) -> np.ndarray:
        ids = [encode_protein(p, net.cfg.max_length) for p in proteins[a : a + batch_size]]
        protein, pad = pad_proteins(ids)
        s = None if not d else torch.from_numpy(np.asarray(states[a : a + batch_size], dtype=np.float32))
        with torch.inference_mode():  # per thread: a worker thread does not inherit the mode
            return net.probabilities(net(protein, pad, s)).float().numpy()

    out = list(ordered_map(batch, range(0, len(proteins), batch_size), threads))
    return np.concatenate(out) if out else np.zeros((0, net.cfg.n_outputs), dtype=np.float32)


@dataclass
class GeneFunctionBundle:
    """What `genolong fit-function` saves beside a checkpoint (`gene_function.pt`), all plain types:
    the net's config and weights, its output vocabulary, and the recipe chosen on validation
    regions (blend weight, thresholds)."""

    config: GeneFunctionConfig
    state_dict: dict
    outputs: list[str]  # GO ids (multilabel) or class names (single)
    recipe: dict = field(default_factory=dict)

    def build(self) -> GeneFunctionNet:
        net = GeneFunctionNet(self.config)
        net.load_state_dict(self.state_dict)
        return net.eval()

    def to_dict(self) -> dict:
        # the recipe through JSON: plain floats and lists only, so `torch.load(weights_only=True)` reads it
        recipe = json.loads(json.dumps(self.recipe, default=plain))
        return {"format": 1, "config": self.config.to_dict(), "state_dict": self.state_dict,
                "outputs": list(self.outputs), "recipe": recipe}

    @classmethod
    def from_dict(cls, d: dict) -> "GeneFunctionBundle":
        return cls(GeneFunctionConfig.from_dict(d["config"]), d["state_dict"], list(d["outputs"]), dict(d["recipe"]))
