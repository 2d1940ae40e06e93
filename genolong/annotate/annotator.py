"""Annotate any genome with a trained network: tokenize, tile, run, stitch, decode, pool.

Memory: a record's tokens (2 bytes per token) and its stitched logits (n_tokens x C float32)
are held whole; the network only ever sees `batch_size` windows of `window` tokens, so
activation memory is bounded by window x batch whatever the record length.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from genolong.annotate.decode import Segment, decode_record
from genolong.annotate.genes import GeneCall, pool_reference_genes, segments_to_genes
from genolong.annotate.probs import TokenProbs, save_probs
from genolong.annotate.tiling import Stitcher, Window, batches, plan_windows
from genolong.annotate.writers import gff3_lines, bed_lines, tsv_lines, write_bed, write_genes_tsv, write_gff3
from genolong.data.store import check_compatible
from genolong.errors import GenolongError


@dataclass
class AnnotationResult:
    lengths: dict[str, int]  # seqid -> bp, in genome order
    probs: dict[str, np.ndarray]  # seqid -> (n_tokens, C) float32 probabilities
    segments: list[Segment]  # decoded predicted genes
    genes: list[GeneCall]  # reference genes pooled when a reference was given, else predictions
    classes: list[str]
    kind: str
    labels: dict  # LabelVocab.to_dict()
    tokenizer: dict  # KmerTokenizer.to_dict()
    seconds: float = 0.0
    predicted: list[GeneCall] = field(default_factory=list)

    @property
    def total_bp(self) -> int:
        return sum(self.lengths.values())

    @property
    def mbp_per_s(self) -> float:
        return self.total_bp / 1e6 / self.seconds if self.seconds > 0 else float("nan")

    def to_gff3(self, path: str | os.PathLike | None = None) -> str | None:
        """GFF3 text, or write it atomically to `path`."""
        if path is not None:
            write_gff3(path, self.segments, self.lengths)
            return None
        return "".join(gff3_lines(self.segments, self.lengths))

    def to_bed(self, path: str | os.PathLike | None = None) -> str | None:
        if path is not None:
            write_bed(path, self.segments, self.classes)
            return None
        return "".join(bed_lines(self.segments, self.classes))

    def to_tsv(self, path: str | os.PathLike | None = None) -> str | None:
        if path is not None:
            write_genes_tsv(path, self.genes, self.classes)
            return None
        return "".join(tsv_lines(self.genes, self.classes))

    def token_probs(self) -> TokenProbs:
        return TokenProbs(list(self.lengths), dict(self.lengths), self.probs, self.labels, self.tokenizer)

    def write(self, prefix: str | os.PathLike) -> dict[str, Path]:
        """PREFIX.gff3, PREFIX.bed, PREFIX.genes.tsv and PREFIX.probs.npz, each atomically."""
        prefix = str(prefix)
        paths = {ext: Path(f"{prefix}.{ext}") for ext in ("gff3", "bed", "genes.tsv", "probs.npz")}
        self.to_gff3(paths["gff3"])
        self.to_bed(paths["bed"])
        self.to_tsv(paths["genes.tsv"])
        save_probs(paths["probs.npz"], self.token_probs())
        return paths


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GenolongError(f"--device {device}: CUDA is not available on this machine")
    if device != "cpu" and not device.startswith("cuda"):
        raise GenolongError(f"--device {device}: expected auto, cpu or cuda")
    return device


DEFAULT_WINDOW = 512


class Annotator:
    """Runs a token-classification network over whole genomes in overlapping windows."""

    def __init__(
        self,
        net,
        tokenizer,
        labels,
        window: int = DEFAULT_WINDOW,
        overlap: int | None = None,
        batch_size: int = 8,
        device: str = "cpu",
        stitch: str = "centre",
        p_switch: float = 0.005,
        min_length: int = 60,
        progress: bool = True,
        rc_average: bool = False,
        stream: bool = False,
    ):
        overlap = window // 4 if overlap is None else overlap
        if window < 1:
            raise GenolongError(f"--window {window}: must be at least 1 token")
        if not 0 <= overlap < window:
            raise GenolongError(f"--overlap {overlap}: must be in [0, window={window})")
        if batch_size < 1:
            raise GenolongError(f"--batch-size {batch_size}: must be at least 1")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.tokenizer = tokenizer
        self.labels = labels
        self.window, self.overlap, self.batch_size = window, overlap, batch_size
        self.stitch, self.p_switch, self.min_length = stitch, p_switch, min_length
        self.progress = progress
        self.rc_tables = None
        if rc_average:
            from genolong.models.strand_average import rc_tables

            self.rc_tables = tuple(None if t is None else t.to(self.device) for t in rc_tables(tokenizer, labels.strand_swap()))
        self._check_head()
        self.streamer = None
        if stream:  # one stream per strand with the segment memory (genolong/annotate/stream.py)
            from genolong.annotate.stream import StreamReader

            self.streamer = StreamReader(self.net, tokenizer, labels, window, batch_size, self.device)

    def _check_head(self) -> None:
        """Refuse a network whose output width is not the label vocabulary's, before any work."""
        import torch

        probe = torch.full((1, 8), self.tokenizer.n_special, dtype=torch.long, device=self.device)  # (1, 8)
        with torch.inference_mode():
            width = self.net(probe, torch.zeros_like(probe, dtype=torch.bool)).shape[-1]
        if width != len(self.labels.classes):
            raise GenolongError(
                f"checkpoint: network outputs {width} classes but its label vocabulary has {len(self.labels.classes)}"
            )

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, expect_tokenizer=None, expect_labels=None, **kwargs) -> "Annotator":
        """Load a checkpoint; refuse it when its tokenizer or labels differ from the expected ones."""
        from genolong.training.checkpoint import load_checkpoint

        loaded = load_checkpoint(path, map_location="cpu")
        if getattr(loaded, "task", "annotate") != "annotate":
            raise GenolongError(f"{path}: a {loaded.task!r} checkpoint has no annotation head; train with task=annotate")
        check_compatible(path, loaded.tokenizer, loaded.labels, expect_tokenizer, expect_labels)
        # read both strands when the checkpoint was validated that way
        kwargs.setdefault("rc_average", bool(loaded.hparams.get("rc_average", False)))
        # tile with the window the model was trained on (checkpoints from before it was saved: 512)
        if kwargs.get("window") is None:
            kwargs["window"] = int(loaded.hparams.get("window") or DEFAULT_WINDOW)
        return cls(loaded.net, loaded.tokenizer, loaded.labels, **kwargs)

    # ---- running the network ------------------------------------------------------------
    def _forward(self, tokens: np.ndarray, windows) -> list[np.ndarray]:
        import torch

        from genolong.models.strand_average import both_strands

        length = max(w.end - w.start for w in windows)
        batch = np.zeros((len(windows), length), dtype=np.int64)  # (B, L), 0 = [PAD]
        pad = np.ones((len(windows), length), dtype=bool)  # (B, L), True at padding
        for row, w in enumerate(windows):
            batch[row, : w.end - w.start] = tokens[w.start : w.end]
            pad[row, : w.end - w.start] = False
        tokens_t, pad_t = torch.from_numpy(batch).to(self.device), torch.from_numpy(pad).to(self.device)
        with torch.inference_mode():
            if self.rc_tables is None:
                logits = self.net(tokens_t, pad_t)  # (B, L, C)
            else:
                logits = both_strands(self.net, tokens_t, pad_t, *self.rc_tables)  # (B, L, C)
        logits = logits.float().cpu().numpy()  # (B, L, C)
        if logits.ndim != 3 or logits.shape[2] != len(self.labels.classes):
            raise GenolongError(
                f"checkpoint: network outputs {logits.shape[-1]} classes but its label vocabulary has "
                f"{len(self.labels.classes)}"
            )
        return [logits[row, : w.end - w.start] for row, w in enumerate(windows)]

    def record_logits(self, tokens: np.ndarray, on_window=None) -> np.ndarray:
        """Stitched logits (n_tokens, C) of one record's tokens."""
        if self.streamer is not None:
            return self.streamer.record_logits(
                tokens, None if on_window is None else lambda a, b: on_window([Window(a, b)]))
        windows = plan_windows(len(tokens), self.window, self.overlap)
        stitcher = Stitcher(len(tokens), len(self.labels.classes), self.overlap, self.stitch)
        for chunk in batches(windows, self.batch_size):
            for w, logits in zip(chunk, self._forward(tokens, chunk)):
                stitcher.add(w, logits)
            if on_window is not None:
                on_window(chunk)
        return stitcher.logits()

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        if self.labels.kind == "multilabel":
            return 1.0 / (1.0 + np.exp(-logits))
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)

    # ---- whole genomes ------------------------------------------------------------------
    def annotate(self, genome, reference=None, seqids: Sequence[str] | None = None) -> AnnotationResult:
        """Annotate a Genome (or a path to one); pool `reference` genes (or a path) when given."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
        from rich.console import Console

        owned = not hasattr(genome, "fetch")
        if owned:
            from genolong.data.genome import open_genome

            genome = open_genome(genome)
        try:
            ids = list(seqids) if seqids is not None else list(genome.ids)
            lengths = {s: int(genome.lengths[s]) for s in ids}
            k, stride = self.tokenizer.k, self.tokenizer.stride
            probs: dict[str, np.ndarray] = {}
            segments: list[Segment] = []
            console = Console(stderr=True)
            t0 = time.perf_counter()
            with Progress(
                TextColumn("annotate {task.description}"), BarColumn(), TransferSpeedColumn(),
                TimeRemainingColumn(), console=console, disable=not self.progress, transient=False,
            ) as bar:
                task = bar.add_task("", total=sum(lengths.values()))
                for seqid in ids:
                    bar.update(task, description=seqid)
                    n = self.tokenizer.n_tokens(lengths[seqid])
                    tokens = np.empty(n, dtype=self.tokenizer.dtype)
                    self.tokenizer.encode_record(lambda a, b, s=seqid: genome.fetch(s, a, b), lengths[seqid], tokens)
                    done = 0

                    def advance(chunk, n_bp=lengths[seqid], n_tok=max(n, 1)):
                        nonlocal done
                        step = sum(w.end - w.start for w in chunk) * n_bp // n_tok
                        bar.advance(task, step)
                        done += step

                    p = self.probabilities(self.record_logits(tokens, advance)).astype(np.float32)
                    bar.advance(task, max(0, lengths[seqid] - done))
                    probs[seqid] = p
                    segments += decode_record(seqid, p, list(self.labels.classes), self.labels.kind, k, stride,
                                              lengths[seqid], self.p_switch, self.min_length)
            seconds = time.perf_counter() - t0
        finally:
            if owned:
                genome.close()
        predicted = segments_to_genes(segments, self.labels.kind)
        genes = predicted
        if reference is not None:
            if isinstance(reference, (str, os.PathLike)):
                from genolong.data.annotation import read_annotation

                reference = read_annotation(reference)
            reference = list(reference)
            known = [g for g in reference if g.seqid in lengths]
            if reference and not known:
                raise GenolongError(
                    f"reference annotation: none of its sequence ids ({', '.join(sorted({g.seqid for g in reference})[:3])}"
                    f", ...) are in the genome ({', '.join(ids[:3])}, ...)"
                )
            genes = pool_reference_genes(known, probs, list(self.labels.classes), self.labels.kind, k, stride)
        return AnnotationResult(lengths, probs, segments, genes, list(self.labels.classes), self.labels.kind,
                                self.labels.to_dict(), self.tokenizer.to_dict(), seconds, predicted)


def throughput_line(result: AnnotationResult) -> str:
    return (
        f"annotated {result.total_bp:,} bp in {len(result.lengths)} record(s) in {result.seconds:.2f} s: "
        f"{result.mbp_per_s:.3f} Mbp/s"
    )


def print_throughput(result: AnnotationResult, stream=None) -> None:
    print(throughput_line(result), file=stream or sys.stderr)

