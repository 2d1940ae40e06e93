"""Small real networks and genomes for the annotate tests (no training needed here)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genolong.annotate import Annotator
from genolong.annotate.spill import SpillArray
from genolong.data.labels import LabelVocab
from genolong.data.tokenizer import KmerTokenizer

BIOTYPE = LabelVocab("biotype", "single", ["intergenic", "protein_coding", "rRNA", "tRNA"])


class LocalNet(nn.Module):
    """Embedding + one convolution: a token's logits depend only on tokens within `radius`."""

    def __init__(self, vocab_size: int, n_classes: int, radius: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab_size, 8)
        self.conv = nn.Conv1d(8, n_classes, 2 * radius + 1, padding=radius)
        self.calls: list[tuple[int, int]] = []

    def forward(self, tokens, padding_mask=None):
        self.calls.append(tuple(tokens.shape))
        h = self.embed(tokens)  # (B, L, 8)
        if padding_mask is not None:
            h = h.masked_fill(padding_mask[..., None], 0.0)
        return self.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, L, C)


def fasta_from(records: dict[str, bytes], path: Path) -> Path:
    with open(path, "wb") as fh:
        for seqid, seq in records.items():
            fh.write(b">" + seqid.encode() + b"\n")
            for i in range(0, len(seq), 70):
                fh.write(seq[i : i + 70] + b"\n")
    return path


def afade_first_contig(data_dir: Path, n_bp: int) -> bytes:
    with gzip.open(data_dir / "mycoides_Afade.fna.gz", "rb") as fh:
        lines = fh.read().split(b"\n")
    seq = b"".join(line for line in lines[1:] if not line.startswith(b">"))
    return seq[:n_bp]


def save_checkpoint(net_cfg: dict, labels: LabelVocab, tokenizer: KmerTokenizer, path: Path,
                    task: str = "annotate", n_outputs: int | None = None) -> Path:
    """A checkpoint in genolong-train's format around an untrained network (for loader tests)."""
    from genolong.models.net import build_net

    n_outputs = labels.n_outputs if n_outputs is None else n_outputs
    net = build_net(net_cfg, task, n_outputs)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    hparams = {"task": task, "encoder_config": net_cfg, "tokenizer": tokenizer.to_dict(),
               "labels": labels.to_dict(), "n_outputs": n_outputs}
    torch.save({"state_dict": state, "hyper_parameters": hparams, "global_step": 0}, path)
    return path


TINY_ENCODER = {"vocab_size": 4101, "d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32,
                "attention": "full", "reversible": False}


STRUCTURE = ["intergenic", "CDS0(+)", "CDS1(+)", "CDS2(+)", "CDS0(-)", "CDS1(-)", "CDS2(-)",
             "tRNA(+)", "tRNA(-)", "rRNA(+)", "rRNA(-)", "ncRNA(+)", "ncRNA(-)"]


def structure_targets(genes, n_tokens: int, k: int, stride: int) -> np.ndarray:
    """(n_tokens,) class index into STRUCTURE, painted per the issue-15 interface from
    (start, end, strand, biotype) genes: a token takes the class of the base at its centre."""
    out = np.zeros(n_tokens, dtype=np.int64)
    centre = np.arange(n_tokens) * stride + k // 2
    for start, end, strand, biotype in genes:
        a, b = np.searchsorted(centre, [start, end])
        c = centre[a:b]
        if biotype == "protein_coding":
            pos = (c - start) % 3 if strand == "+" else (end - 1 - c) % 3
            out[a:b] = STRUCTURE.index(f"CDS0({strand})") + pos
        elif biotype in ("tRNA", "rRNA"):
            out[a:b] = STRUCTURE.index(f"{biotype}({strand})")
        elif biotype in ("ncRNA", "tmRNA", "misc_RNA"):
            out[a:b] = STRUCTURE.index(f"ncRNA({strand})")
    return out


def soft_probs(targets: np.ndarray, n_classes: int, p: float = 0.9) -> np.ndarray:
    """One-hot targets smoothed to probability `p` on the target class."""
    probs = np.full((targets.size, n_classes), (1.0 - p) / (n_classes - 1), dtype=np.float32)
    probs[np.arange(targets.size), targets] = p
    return probs


def decode_planted(seq: str, probs: np.ndarray, k: int, stride: int, **cfg) -> set[tuple[int, int, str]]:
    """(start, end, strand) of the protein-coding calls of the genome-wide decoder (first pass, the
    self-trained models, second pass) on one planted record; `cfg` overrides DecodeConfig."""
    from genolong.annotate.orf_decode import DecodeConfig, decode_genome

    data = seq.encode()
    record = ("chr", lambda a, b: data[a:b], len(seq), probs)
    calls = decode_genome([record], STRUCTURE, k, stride, DecodeConfig(start_min_genes=50, **cfg))["chr"]
    return {(g.start, g.end, g.strand) for g in calls if g.biotype == "protein_coding"}


def two_head_net(n_function: int):
    """An untrained TokenNet with function and structure heads (logits: function columns first)."""
    from genolong.models.net import build_net

    torch.manual_seed(0)
    return build_net(TINY_ENCODER, "annotate", n_function, len(STRUCTURE)).eval()


class OracleAnnotator(Annotator):
    """The real network's function columns, the reference's structure (smoothed) as the structure
    columns: the decoder and the writers then work on real genes without a trained model."""

    def __init__(self, reference, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference = reference

    def _record(self, genome, seqid, length, bar, task, spill_file=None):
        real = super()._record(genome, seqid, length, bar, task, spill_file)
        k, stride = self.tokenizer.k, self.tokenizer.stride
        genes = [(g.start, g.end, g.strand, g.biotype) for g in self.reference if g.seqid == seqid]
        oracle = soft_probs(structure_targets(genes, real.n_rows, k, stride), len(STRUCTURE))
        out = SpillArray(real.n_cols)
        out.append(np.concatenate([real[:, : self.n_function], oracle], axis=1))
        return out
