"""Small real networks and genomes for the annotate tests (no training needed here)."""

from __future__ import annotations

import gzip
from pathlib import Path

import torch
from torch import nn

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
